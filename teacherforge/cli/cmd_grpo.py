"""CLI: ``teacherforge train grpo --config configs/grpo_*.yaml [--set k=v] [--resume] [--run-dir D]``.

Runs the GRPO stage (:func:`teacherforge.trainers.grpo.run_grpo`): optional SFT warm start,
then GRPO on the run dir's search environment. Exit status 0 when training finished, 130 when
a SIGINT/SIGTERM stopped it after saving a checkpoint (continue with ``--resume``).
"""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, add_resume_argument, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_config_arguments(parser)
    add_resume_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Load the config, run the stage, return the exit status."""
    from teacherforge.trainers.grpo import run_grpo

    summary = run_grpo(config_from_args(args), resume=args.resume)
    return 130 if summary.get("interrupted") else 0
