"""``teacherforge run``: execute every stage a config enables, in pipeline order.

Each stage is one function ``fn(config) -> dict`` living in its own package; this module
only orders them, times them and prints where the outputs are. A stage that fails stops
the run (later stages read its outputs), and rerunning resumes. Every stage follows the run
dir's one rule for finished work (:meth:`teacherforge.workspace.RunDir.done`): it declares
the config keys and files it reads, and is skipped while those and its outputs are
unchanged, so rerunning a finished run does nothing; changing a key reruns the stages that
read it and those downstream of an output that then changes. An interrupted training stage
continues from its last checkpoint. Each summary says ``status``: ``done`` or ``skipped``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from teacherforge.config import STAGES, Config

# stage name -> "module:function"; the order of STAGES is the pipeline order
STAGE_FUNCTIONS: dict[str, str] = {
    "datagen": "teacherforge.datagen.pipeline:run_datagen",
    "grpo": "teacherforge.trainers.grpo:run_grpo",
    "teacher": "teacherforge.datagen.teacher:run_teacher",
    "quality": "teacherforge.datagen.quality:run_quality",
    "dataset": "teacherforge.datagen.dataset:run_dataset",
    "sft": "teacherforge.trainers.sft:run_sft",
    "eval": "teacherforge.trainers.evaluate:run_eval",
}


def stage_function(name: str) -> Callable[[Config], dict[str, Any]]:
    """Import the entry point of a stage."""
    module_name, func_name = STAGE_FUNCTIONS[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def run_pipeline(config: Config, echo: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run the enabled stages of ``config`` in pipeline order; return each stage's summary."""
    ordered = [s for s in STAGES if s in config.stages]
    echo(f"teacherforge run: {config.name} → {config.run_path}  stages: {' → '.join(ordered)}")
    results: dict[str, dict[str, Any]] = {}
    for name in ordered:
        echo(f"\n== stage {name} ==")
        start = time.perf_counter()
        summary = dict(stage_function(name)(config) or {})
        summary["seconds"] = round(time.perf_counter() - start, 1)
        results[name] = summary
    echo("\n== done ==")
    for name, summary in results.items():
        status = summary.get("status", "done")
        echo(f"  {name:<8} {status:<8} {summary['seconds']:>7.1f} s  " + _short(summary))
    echo(f"outputs: {config.run_path}")
    if "summary" in results.get("eval", {}):
        echo(f"evaluation summary: {results['eval']['summary']}")
    return results


def _short(summary: dict[str, Any]) -> str:
    items = [
        f"{k}={v}"
        for k, v in summary.items()
        if k not in ("seconds", "status") and isinstance(v, (int, float, str))
    ]
    return ", ".join(items[:6])
