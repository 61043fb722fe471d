"""``teacherforge datagen``: documents → chunks → index → questions → paraphrases.

Exit status: 0 when the run finished, 3 when it finished but some corpus files failed to
load (the manifest lists them), 1 on bad input. Rerunning a finished or killed run resumes it.
"""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args

PARTIAL_EXIT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    add_config_arguments(parser, default_config="quickstart")
    parser.add_argument("--corpus", help="file or directory of documents (overrides datagen.corpus)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="where LLM generation runs: this process or Ray workers (ray extra); overrides executor.kind",
    )


def run(args: argparse.Namespace) -> int:
    """Load the config, run the datagen stage, return the exit status."""
    from teacherforge.datagen.pipeline import run_datagen

    extra = [f"datagen.corpus={args.corpus}"] if args.corpus else []
    if args.executor:
        extra.append(f"executor.kind={args.executor}")
    config = config_from_args(args, extra)
    summary = run_datagen(config, progress=not args.no_progress)
    return PARTIAL_EXIT if summary["partial"] else 0
