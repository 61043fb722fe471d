"""``teacherforge export autodidact``: write a run dir in AutoDidact's layout.

Needs the ``autodidact`` extra (``pip install langchain-community langchain-core``). Writes
``saved_data/chunks.pkl``, ``saved_data/questions.json`` and ``faiss_index/`` under ``--out``
(run AutoDidact's scripts from there), plus ``teacherforge_export.json``.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge export autodidact``."""
    parser.add_argument("--run-dir", required=True, help="run directory with chunks.jsonl and questions.json")
    parser.add_argument("--out", required=True, help="export directory (created; files in it are replaced)")
    parser.add_argument(
        "--embedder",
        default=None,
        help="embedding model for faiss_index/ (default: the one the run's index/ was built with)",
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        default=None,
        choices=("train", "validation", "test"),
        help="export only these splits' questions (default: all)",
    )


def run(args: argparse.Namespace) -> int:
    """Export and print a one-line summary."""
    from teacherforge.cli import CommandError

    try:
        import langchain_community  # noqa: F401
        import langchain_core  # noqa: F401
    except ImportError as exc:
        raise CommandError(
            "the AutoDidact export needs the `autodidact` extra: "
            "pip install 'teacherforge[autodidact]' (langchain-community, langchain-core)"
        ) from exc
    from teacherforge.datagen.autodidact import export_autodidact, run_embedder_name
    from teacherforge.retrieval import Embedder

    started = time.perf_counter()
    embedder = Embedder(args.embedder or run_embedder_name(args.run_dir))
    summary = export_autodidact(args.run_dir, args.out, embedder=embedder, splits=args.splits)
    print(
        f"exported {summary.chunks} chunks and {summary.questions} questions"
        f"{f' ({summary.skipped_questions} outside --splits)' if summary.skipped_questions else ''} "
        f"with embedder {summary.embedder.get('name')!r} in {time.perf_counter() - started:.1f}s -> {summary.out} "
        "(saved_data/chunks.pkl, saved_data/questions.json, faiss_index/)",
        file=sys.stderr,
    )
    return 0
