"""Run the ``teacherforge`` command and SIGKILL it at a chosen point: a real crash, at a known place.

``python -m tests.cli._crash MODULE:ATTR[.ATTR] N -- teacherforge-args...`` patches that function
so the process kills itself (``SIGKILL``: no cleanup, no ``finally``, no atexit) right after the
function's N-th call returns, then runs the command. ``- 0`` runs it without a kill. The toy
embedder of the datagen tests stands in for the embedding model (no model to load).
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Sequence


def kill_after(target: str, calls: int) -> None:
    """Make ``target`` (``module:attr.attr``) SIGKILL this process when its ``calls``-th call returns."""
    module_name, path = target.split(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    seen = [0]

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        seen[0] += 1
        if seen[0] == calls:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapped)


def main(argv: Sequence[str]) -> int:
    target, calls, separator, *command = argv
    assert separator == "--", "usage: _crash MODULE:ATTR N -- teacherforge-args..."
    import teacherforge.retrieval
    import teacherforge.retrieval.retriever
    from tests.datagen._datagen_fakes import HashEmbedder

    teacherforge.retrieval.Embedder = HashEmbedder
    teacherforge.retrieval.retriever.Embedder = HashEmbedder
    if int(calls):
        kill_after(target, int(calls))
    from teacherforge.cli import main as cli

    return cli(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
