"""``teacherforge import``: bring an existing question set into a run dir's ``questions.json``.

Each question is mapped to the run's chunks by its supporting text or its answer (see
:mod:`teacherforge.datagen.importers`); unmatched ones are listed and dropped. Exit status 0,
3 when some questions were dropped, 1 when none could be imported.
"""

from __future__ import annotations

import argparse
import sys

PARTIAL_EXIT = 3
# kept here (light) so `teacherforge --help` imports nothing heavy; a test checks they match importers
FORMATS = ("autodidact", "rezero", "searchr1", "jsonl")
DEFAULT_MIN_SCORE = 0.6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge import``."""
    parser.add_argument("--format", required=True, choices=FORMATS, help="input format")
    parser.add_argument(
        "--input", required=True, help="question file (JSON list, JSONL, or Parquet for searchr1)"
    )
    parser.add_argument("--run-dir", required=True, help="run directory with chunks.jsonl")
    parser.add_argument(
        "--min-score",
        type=float,
        default=DEFAULT_MIN_SCORE,
        help="lowest lexical match score accepted (0..1; exact spans score 1)",
    )
    parser.add_argument(
        "--split-ratios",
        type=float,
        nargs=3,
        default=None,
        metavar=("TRAIN", "VAL", "TEST"),
        help="split shares for chunks with no split yet (default: the run's datagen.split_ratios)",
    )
    parser.add_argument(
        "--replace", action="store_true", help="replace questions.json instead of adding to it"
    )


def run(args: argparse.Namespace) -> int:
    """Import, print the summary, return 0 / 3 (some dropped)."""
    from teacherforge.cli import CommandError
    from teacherforge.datagen.importers import format_import_summary, import_questions

    if not 0.0 <= args.min_score <= 1.0:
        raise ValueError(f"--min-score {args.min_score}: must be between 0 and 1")
    result = import_questions(
        args.input,
        args.run_dir,
        args.format,
        min_score=args.min_score,
        split_ratios=args.split_ratios,
        replace=args.replace,
    )
    print(format_import_summary(result), file=sys.stderr)
    if not result.imported and result.dropped:
        raise CommandError(
            f"--input {args.input}: no question could be matched to a chunk of {args.run_dir}; "
            "check --format, or lower --min-score"
        )
    return PARTIAL_EXIT if result.dropped else 0
