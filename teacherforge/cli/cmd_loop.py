"""CLI: ``teacherforge loop --config configs/loop_*.yaml [--set key=value ...] [--run-dir D]``."""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from teacherforge.cli.feedback import run_loop

    print(run_loop(config_from_args(args)))
    return 0
