"""CLI: ``teacherforge run --config NAME_OR_PATH [--set key=value ...] [--run-dir D]``."""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from teacherforge.cli.pipeline import run_pipeline

    run_pipeline(config_from_args(args))
    return 0
