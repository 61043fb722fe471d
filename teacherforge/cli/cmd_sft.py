"""``teacherforge train sft --config configs/sft_*.yaml [--resume]``: LoRA SFT of the student on ``dataset/``.

Multi-process: ``accelerate launch --num_processes 2 --cpu -m teacherforge.cli train sft --config ...``.
"""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, add_resume_argument, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    add_config_arguments(parser, default_config="sft_smollm2_cpu")
    add_resume_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Run the SFT stage; 0 on success."""
    from teacherforge.trainers.sft import run_sft

    run_sft(config_from_args(args), resume=args.resume)
    return 0
