"""``teacherforge quality``: post-process teacher records (grounding, grading, tags, dedup, redaction, review export)."""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    add_config_arguments(parser, default_config="sft_only")


def run(args: argparse.Namespace) -> int:
    """Run the quality stage; 0 on success."""
    from teacherforge.datagen.quality import run_quality

    run_quality(config_from_args(args))
    return 0
