"""``teacherforge dataset``: build the chat-format dataset (JSONL, HF DatasetDict, axolotl segments) in ``dataset/``."""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    add_config_arguments(parser, default_config="sft_only")


def run(args: argparse.Namespace) -> int:
    """Run the dataset stage; 0 on success."""
    from teacherforge.datagen.dataset import run_dataset

    run_dataset(config_from_args(args))
    return 0
