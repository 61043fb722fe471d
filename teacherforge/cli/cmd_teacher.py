"""``teacherforge teacher``: the RAG teacher answers the run dir's questions (``teacher.jsonl``)."""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    add_config_arguments(parser, default_config="sft_only")


def run(args: argparse.Namespace) -> int:
    """Run the teacher stage; 0 on success."""
    from teacherforge.datagen.teacher import run_teacher

    run_teacher(config_from_args(args))
    return 0
