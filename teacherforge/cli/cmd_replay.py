"""``teacherforge rewards replay``: rescore saved trajectories under another rubric.

The rubric is the config's (``rewards.preset``, ``rewards.weights``, ``rewards.on_error``, and
``rewards.judge`` for a weighted ``judge`` component), composed as training composes it
(:func:`teacherforge.envs.task.rubric_of`). ``--rewards``, ``--judge-*`` and ``--weight`` are
aliases of ``--set rewards.…`` for the common cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from teacherforge.cli.args import add_config_arguments, alias_overrides, config_from_args

ALIASES = {
    "rewards": "rewards.preset",
    "judge_model": "rewards.judge.model",
    "judge_backend": "rewards.judge.backend",
    "judge_base_url": "rewards.judge.base_url",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge rewards replay``."""
    parser.add_argument(
        "--trajectories",
        required=True,
        metavar="FILE",
        help="JSONL of Trajectory.to_json() records (metadata.reward_total = original total, optional)",
    )
    parser.add_argument(
        "--rewards",
        metavar="PRESET_OR_YAML",
        help="alias of --set rewards.preset=…: a packaged preset name (autodidact, rezero) or a YAML file "
        "such as configs/rewards/X.yaml",
    )
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="override (or add) one component weight of rewards.weights, e.g. --weight f1=0.5 (also for "
        "dotted reward names such as mypkg.rewards:fn=1); repeatable",
    )
    parser.add_argument(
        "--judge-model",
        metavar="MODEL",
        help="alias of --set rewards.judge.model=…: the LLM of the 'judge' component (used only when the "
        "rubric weights 'judge'): an embedded name, HF id or path, a served model name, or "
        "pkg.module:factory for the custom backend",
    )
    parser.add_argument(
        "--judge-backend",
        choices=("transformers", "openai", "vllm", "custom"),
        help="alias of --set rewards.judge.backend=…",
    )
    parser.add_argument("--judge-base-url", metavar="URL", help="alias of --set rewards.judge.base_url=…")
    parser.add_argument(
        "--compare-presets",
        action="store_true",
        help="score the trajectories under every packaged preset instead: each one's mean and spread, their "
        "rank agreement and the trajectories they disagree on most",
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE (atomically)")
    add_config_arguments(parser, config_required=False, run_dir=False)


def parse_weight_overrides(items: list[str]) -> dict[str, float]:
    """``["f1=0.5", ...]`` → ``{"f1": 0.5}``; a bad item raises ``ValueError`` naming it."""
    overrides: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            overrides[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--weight {item!r}: expected NAME=NUMBER, e.g. --weight f1=0.5") from None
    return overrides


def run(args: argparse.Namespace) -> int:
    """Load the trajectories and the configured rubric, replay, print the report."""
    from teacherforge.envs.task import rubric_of
    from teacherforge.rewards import list_presets, load_rubric
    from teacherforge.rewards.replay import (
        compare_presets,
        format_comparison,
        format_report,
        load_trajectories,
        replay,
    )

    config = config_from_args(args, alias_overrides(args, ALIASES))
    # reward names may hold dots (pkg.module:fn), which a KEY=VALUE override cannot spell
    weights = {**config.rewards.weights, **parse_weight_overrides(args.weight)}
    config = dataclasses.replace(config, rewards=dataclasses.replace(config.rewards, weights=weights))
    trajs = load_trajectories(args.trajectories)  # before any judge model is loaded
    if args.compare_presets:
        report = compare_presets(trajs, {name: load_rubric(name) for name in list_presets()})
        text = format_comparison(report, source=args.trajectories)
    else:
        report = replay(trajs, rubric_of(config))
        text = format_report(report, source=args.trajectories)
    if args.out:
        from teacherforge.workspace import atomic_write_json

        atomic_write_json(args.out, report.to_json())
    print(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if args.json else text)
    return 0
