"""``teacherforge rewards replay``: rescore saved trajectories under another rubric."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable


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
        required=True,
        metavar="PRESET_OR_YAML",
        help="rubric: a packaged preset name (autodidact, rezero) or a YAML file such as configs/rewards/X.yaml",
    )
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="override (or add) one component weight, e.g. --weight f1=0.5; repeatable",
    )
    parser.add_argument(
        "--judge-model",
        metavar="MODEL",
        help="LLM for the 'judge' component (needed only when the rubric weights 'judge'): an embedded name, "
        "HF id or path, a served model name, or pkg.module:factory for --judge-backend fake",
    )
    parser.add_argument(
        "--judge-backend",
        default="transformers",
        choices=("transformers", "openai", "vllm", "fake"),
        help="backend of --judge-model (default: transformers)",
    )
    parser.add_argument("--judge-base-url", metavar="URL", help="server URL for --judge-backend openai")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE (atomically)")


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
    """Load the trajectories and the rubric, replay, print the report."""
    from teacherforge.rewards.presets import read_preset, rubric_from_dict
    from teacherforge.rewards.replay import format_report, load_trajectories, replay

    parsed, source = read_preset(args.rewards)
    overrides = parse_weight_overrides(args.weight)
    trajs = load_trajectories(args.trajectories)  # before any judge model is loaded
    names = set(parsed["weights"]) if isinstance(parsed.get("weights"), dict) else set()
    injected = {"judge": build_judge_reward(args, source)} if "judge" in names | set(overrides) else None
    rubric = rubric_from_dict(parsed, source, overrides=overrides, rewards=injected)
    report = replay(trajs, rubric)
    if args.out:
        from teacherforge.workspace import atomic_write_json

        atomic_write_json(args.out, report.to_json())
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report, source=args.trajectories))
    return 0


def build_judge_reward(args: argparse.Namespace, source: str) -> Callable[..., float]:
    """The ``judge`` reward from ``--judge-model``/``--judge-backend`` (an LLM backend is built here)."""
    if not args.judge_model:
        raise ValueError(
            f"{source} uses the 'judge' reward: give --judge-model (and --judge-backend) to build the LLM judge"
        )
    from teacherforge.config import LLMConfig
    from teacherforge.llm import build_backend
    from teacherforge.rewards.answer import make_judge_reward
    from teacherforge.rewards.judge import make_llm_judge

    config = LLMConfig(backend=args.judge_backend, model=args.judge_model, base_url=args.judge_base_url)
    return make_judge_reward(make_llm_judge(build_backend(config)))
