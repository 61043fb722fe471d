"""CLI: ``teacherforge eval --config configs/eval_*.yaml [--set key=value ...] [--allow-train-split]``."""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument(
        "--allow-train-split",
        action="store_true",
        help="permit evaluating on training questions (measures memorisation)",
    )


def run(args: argparse.Namespace) -> int:
    from teacherforge.trainers.evaluate import run_eval

    run_eval(config_from_args(args, ["eval.allow_train_split=true"] if args.allow_train_split else []))
    return 0
