"""The ``teacherforge`` command: one subcommand per pipeline stage.

This package is the command layer, the one place that imports every other layer. Each
subcommand lives in its own module (``teacherforge/cli/cmd_<name>.py``) exposing
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import heavy libraries
only inside ``run``, so ``teacherforge --help`` stays fast and a stage's dependencies are
loaded only when that stage runs. A subcommand whose module does not exist yet says so and
exits with status 2: nothing pretends to work. ``-v`` (anywhere on the line) and where library
warnings and debug lines go: :mod:`teacherforge.cli.screen`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from teacherforge.cli.args import config_from_args
from teacherforge.cli.screen import RunLogHandler, screen
from teacherforge.errors import CommandError
from teacherforge.run_paths import RunPaths

__all__ = ["COMMANDS", "CommandError", "build_parser", "main"]

# command words -> (module, help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("index",): ("teacherforge.cli.cmd_index", "chunk a corpus and build a retriever index"),
    ("search",): ("teacherforge.cli.cmd_search", "query a retriever index"),
    ("run",): ("teacherforge.cli.cmd_run", "run every stage a config enables"),
    ("datagen",): (
        "teacherforge.cli.cmd_datagen",
        "documents → chunks → index → questions → paraphrases",
    ),
    ("import",): ("teacherforge.cli.cmd_import", "import an existing question set into a run dir"),
    ("export", "autodidact"): ("teacherforge.cli.cmd_export", "export a run dir in AutoDidact's layout"),
    ("export", "model"): (
        "teacherforge.cli.cmd_export_model",
        "a trained student merged into one HF model dir, with its model card",
    ),
    ("teacher",): ("teacherforge.cli.cmd_teacher", "RAG teacher answers the questions"),
    ("quality",): ("teacherforge.cli.cmd_quality", "post-process teacher answers"),
    ("dataset",): ("teacherforge.cli.cmd_dataset", "build the chat-format dataset"),
    ("review",): ("teacherforge.cli.cmd_review", "web page to review flagged teacher records"),
    ("env", "play"): ("teacherforge.cli.cmd_play", "play the search environment by hand"),
    ("rewards", "replay"): ("teacherforge.cli.cmd_replay", "rescore saved trajectories under a rubric"),
    ("train", "grpo"): ("teacherforge.cli.cmd_grpo", "GRPO on the search environment"),
    ("train", "sft"): ("teacherforge.cli.cmd_sft", "SFT of the student on the teacher dataset"),
    ("eval",): ("teacherforge.cli.cmd_eval", "evaluate models inside the RAG loop"),
    ("eval-retrieval",): (
        "teacherforge.cli.cmd_eval_retrieval",
        "answer@k, gold recall@k, MRR and support@k of a run's index",
    ),
    ("ask",): ("teacherforge.cli.cmd_ask", "run one agentic episode and print its trace"),
    ("loop",): ("teacherforge.cli.cmd_loop", "feedback rounds: eval → new data → retrain"),
    ("serve", "retriever"): ("teacherforge.cli.cmd_serve", "serve a retriever over HTTP"),
    ("serve", "rag"): (
        "teacherforge.cli.cmd_serve_rag",
        "serve a model with the run's retrieval as an OpenAI-compatible chat API",
    ),
}


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


def _add_verbose(parser: argparse.ArgumentParser, default: object) -> None:
    """``-v/--verbose`` on ``parser``; sub-parsers get ``default=argparse.SUPPRESS`` so that a flag
    given before the command word is kept, and the flag works before or after any word."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="also show library warnings and debug lines (always kept in <run dir>/logs/<command>.log)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (imports only the light command modules)."""
    parser = argparse.ArgumentParser(prog="teacherforge", description=__doc__.splitlines()[0])
    _add_verbose(parser, False)
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, (module_name, help_text) in COMMANDS.items():
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text)
        else:
            if words[0] not in groups:
                group_parser = top.add_parser(words[0], help=f"{words[0]} commands")
                _add_verbose(group_parser, argparse.SUPPRESS)
                groups[words[0]] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
            sub = groups[words[0]].add_parser(words[1], help=help_text)
        _add_verbose(sub, argparse.SUPPRESS)
        module = _load(module_name)
        if module is not None:
            module.add_arguments(sub)
        sub.set_defaults(_module=module_name, _words=words, _implemented=module is not None)
    return parser


#: Errors that are the user's (a bad value, a missing file): one line, no traceback (``-v`` for one).
_USER_ERRORS = (
    CommandError,
    FileNotFoundError,
    ValueError,
    PermissionError,
    ConnectionError,
    TimeoutError,
    ImportError,
)


def _run_log(args: argparse.Namespace) -> RunLogHandler | None:
    """The log of this command in the run dir its options name (``--run-dir``, else the config's).

    ``None`` for a command without a run dir (``search``, ``index``) or with a config that does
    not load: the command itself then reports that in one line.
    """
    if not hasattr(args, "run_dir"):
        return None
    run_dir = args.run_dir
    if hasattr(args, "overrides"):
        try:
            run_dir = config_from_args(args).run_path
        except _USER_ERRORS:
            return None
    return RunLogHandler(RunPaths(run_dir), "-".join(args._words)) if run_dir else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``teacherforge`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    name = " ".join(args._words)
    if not args._implemented:
        print(f"teacherforge {name}: not implemented yet", file=sys.stderr)
        return 2
    with screen(args.verbose, _run_log(args)):
        module = importlib.import_module(args._module)
        try:
            return int(module.run(args) or 0)
        except KeyboardInterrupt:
            print(f"teacherforge {name}: interrupted", file=sys.stderr)
            return 130
        except _USER_ERRORS as exc:
            if args.verbose:
                raise
            print(f"teacherforge {name}: error: {exc}", file=sys.stderr)
            return 1
