"""What a command shows on the terminal, and the log file that keeps the rest.

Without ``-v`` the terminal shows ``teacherforge.*`` log lines at INFO and up, ERROR lines of
any library, progress bars and the stages' printed summaries. Third-party warnings
(``warnings.warn``: FutureWarning, UserWarning, ...) and library log lines below ERROR (``DEBUG
bm25s``, transformers' advice) are hidden, ``datasets`` shows no progress bars (per-shard
"Saving the dataset" bars) and W&B prints no banners (``WANDB_SILENT=true`` unless set). With
``-v`` every record shows, as logged.

Levels: without ``-v`` our loggers log at INFO and the others at WARNING unless a library sets
its own (bm25s logs at DEBUG); with ``-v`` every logger logs at DEBUG. Warnings are logged too
(``py.warnings``): our own messages are log lines, never ``warnings.warn``.
Either way every record logged, warnings included, is appended to the command's log in its run
dir (:meth:`~teacherforge.run_paths.RunPaths.log`, mode 0600). The file is opened when
the first record arrives once the run dir exists: no command creates a run dir for its log, and
records logged before wait in memory (the newest :data:`PENDING_LIMIT`). Records only: nothing
here writes the environment or the command line.

Hugging Face libraries (transformers, datasets, huggingface_hub) attach a stderr handler of
their own. A finder on ``sys.meta_path`` runs :func:`adopt_library_logger` right after such a
library's ``utils.logging`` module has loaded (at once when it already has), so that its records
reach the handlers here instead. MLflow is told not to configure logging of its own
(``MLFLOW_CONFIGURE_LOGGING=false`` unless set), so its records arrive here too.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, TextIO

from teacherforge.run_paths import RunPaths
from teacherforge.workspace import utc_now

SCREEN_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Records kept in memory while the run dir does not exist yet.
PENDING_LIMIT = 10_000
#: The modules that attach a library's own stderr handler (see :func:`adopt_library_logger`).
LIBRARY_LOGGING = ("transformers.utils.logging", "datasets.utils.logging", "huggingface_hub.utils.logging")

Hook = Callable[[ModuleType], None]


class ScreenFilter(logging.Filter):
    """The terminal without ``-v``: our records at INFO and up, anyone's at ERROR and up."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        ours = record.name == "teacherforge" or record.name.startswith("teacherforge.")
        return ours and record.levelno >= logging.INFO


class RunLogHandler(logging.Handler):
    """Appends every record to ``paths.log(command)``, opened once the run dir ``paths.root`` exists.

    Until then formatted records wait in memory (at most :data:`PENDING_LIMIT`, the oldest are
    dropped); they are written by the first record or :meth:`close` that finds the run dir, and
    dropped when it never appears (a command that failed before creating it).
    """

    def __init__(self, paths: RunPaths, command: str) -> None:
        super().__init__(logging.DEBUG)
        self.run_dir = paths.root
        self.path = paths.log(command)
        self.command = command
        self.setFormatter(logging.Formatter(FILE_FORMAT))
        self._pending: deque[str] = deque(maxlen=PENDING_LIMIT)
        self._file: TextIO | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record))
            self.flush()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Write the waiting records if the run dir exists (opening the file on first use)."""
        if self._file is None:
            if not self._pending or not self.run_dir.is_dir():
                return
            self.path.parent.mkdir(exist_ok=True)
            # library debug lines may quote URLs or payloads: readable by the owner only
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = open(fd, "a", encoding="utf-8")  # noqa: SIM115 (open until close())
            self._file.write(f"==== teacherforge {self.command}  {utc_now()}  pid {os.getpid()}\n")
        while self._pending:
            self._file.write(self._pending.popleft() + "\n")
        self._file.flush()

    def close(self) -> None:
        self.acquire()
        try:
            self.flush()
            if self._file is not None:
                self._file.close()
                self._file = None
        finally:
            self.release()
            super().close()


def adopt_library_logger(module: ModuleType) -> None:
    """Send the records of the library whose ``utils.logging`` is ``module`` to the root handlers.

    ``enable_propagation()`` makes transformers attach its handler now if it has not yet (it
    does so on first use); datasets and huggingface_hub attached theirs on import. Then the
    library's handlers are removed: its records reach the terminal only through
    :class:`ScreenFilter`.
    """
    module.enable_propagation()
    library = logging.getLogger(module.__name__.partition(".")[0])
    for handler in list(library.handlers):
        library.removeHandler(handler)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hooks[name](module)`` right after module ``name`` is executed on its first import."""

    def __init__(self, hooks: dict[str, Hook]) -> None:
        self.hooks = hooks

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        hook = self.hooks.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _HookedLoader(spec.loader, hook)
            return spec
        return None


class _HookedLoader(importlib.abc.Loader):
    """A module's own loader, then its hook; the module keeps its own loader afterwards."""

    def __init__(self, loader: Any, hook: Hook) -> None:
        self.loader = loader
        self.hook = hook

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.hook(module)


def _hide_dataset_bars(undo: contextlib.ExitStack) -> Hook:
    """A hook for ``datasets.utils.tqdm`` that turns its bars off until ``undo`` closes."""

    def hide(module: ModuleType) -> None:
        if not module.are_progress_bars_disabled():
            module.disable_progress_bars()
            undo.callback(module.enable_progress_bars)

    return hide


@contextlib.contextmanager
def screen(verbose: bool, log: RunLogHandler | None = None) -> Iterator[None]:
    """Route logging and warnings as the module docstring says while the block runs; restore after.

    ``log`` (optional) receives every record; without ``-v`` (``verbose=False``) the terminal
    gets what :class:`ScreenFilter` passes, library progress bars of ``datasets`` are off and
    ``WANDB_SILENT`` defaults to ``true``. Library loggers stay adopted after the block.
    """
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter(SCREEN_FORMAT))
    if not verbose:
        console.addFilter(ScreenFilter())
    handlers: list[logging.Handler] = [console, *([log] if log is not None else [])]
    hooks: dict[str, Hook] = dict.fromkeys(LIBRARY_LOGGING, adopt_library_logger)
    with contextlib.ExitStack() as undo:
        if "MLFLOW_CONFIGURE_LOGGING" not in os.environ:  # MLflow's records come here, not to its handler
            os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
            undo.callback(os.environ.pop, "MLFLOW_CONFIGURE_LOGGING", None)
        if not verbose:
            hooks["datasets.utils.tqdm"] = _hide_dataset_bars(undo)
            if "WANDB_SILENT" not in os.environ:
                os.environ["WANDB_SILENT"] = "true"
                undo.callback(os.environ.pop, "WANDB_SILENT", None)
        finder = _AfterImport(hooks)
        sys.meta_path.insert(0, finder)
        undo.callback(sys.meta_path.remove, finder)
        for name, hook in hooks.items():
            if name in sys.modules:
                hook(sys.modules[name])
        for logger, level in (
            (root, logging.DEBUG if verbose else logging.WARNING),
            (logging.getLogger("teacherforge"), logging.NOTSET if verbose else logging.INFO),
        ):
            undo.callback(logger.setLevel, logger.level)
            logger.setLevel(level)
        for handler in handlers:
            root.addHandler(handler)
            undo.callback(handler.close)
            undo.callback(root.removeHandler, handler)
        logging.captureWarnings(True)
        undo.callback(logging.captureWarnings, False)
        yield
