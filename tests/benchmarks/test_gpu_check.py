"""``benchmarks/gpu_check.py``: its CPU dry run (real subprocess) and its report helpers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402


def test_hashing_embedder_gives_unit_rows_through_the_library_embedder() -> None:
    embedder = gpu_check.HashingEmbedder(dim=32)
    vectors = embedder.encode(["oxygen tank failed", "oxygen tank failed", "recovery ship"])
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.array_equal(vectors[0], vectors[1]) and not np.array_equal(vectors[0], vectors[2])
    assert embedder.model_calls == 1 and embedder.cache_hits == 1  # the Embedder cache is in play
    assert embedder.identity == {"name": "hashing-32", "dim": 32, "normalize": True, "weights_sha256": None}


def test_table_ratio_and_markdown() -> None:
    def run(scale: float) -> dict:
        out = {key: {"value": scale * (i + 1)} for i, (key, _, _) in enumerate(gpu_check.MEASUREMENTS)}
        out["plan"] = {"shape": "tiny"}
        out["memorisation"]["curve"] = [{"step": 0, "exact_match": 0.0, "f1": 0.0}]
        return out

    table = gpu_check.combine(run(1.0), run(8.0))
    assert all(row["ratio"] == pytest.approx(8.0) for row in table.values())
    cpu_only = gpu_check.combine(run(1.0), None)
    assert all(row["gpu"] is None and row["ratio"] is None for row in cpu_only.values())
    text = gpu_check.markdown({"table": table, "cpu": run(1.0), "gpu": run(8.0), "machine": {"report": "m"}})
    assert "| GRPO optimiser steps/s | 2 | 16 | 8 |" in text
    assert "memorisation curve on gpu (tiny; step: EM/F1): 0: 0.00/0.00" in text
    assert "| SFT optimiser steps/s | 1 | — | — |" in gpu_check.markdown(
        {"table": cpu_only, "cpu": run(1.0), "gpu": None, "machine": {"report": "m"}}
    )


@pytest.mark.slow
def test_cpu_dry_run_measures_every_path(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    report = (tmp_path / "gpu_check.md").read_text(encoding="utf-8")
    assert "| measurement | CPU | GPU | GPU / CPU |" in report and "memorisation curve on cpu" in report

    table = result["table"]
    assert set(table) == {key for key, _, _ in gpu_check.MEASUREMENTS}
    for key, row in table.items():
        assert math.isfinite(row["cpu"]) and row["cpu"] > 0, key
        assert row["gpu"] is None and row["ratio"] is None, key
    cpu = result["cpu"]
    plan = gpu_check.PLANS["tiny"]
    assert cpu["device"] == "cpu" and cpu["plan"]["shape"] == "tiny"
    assert cpu["sft"]["steps"] == plan.sft_steps and cpu["grpo"]["steps"] == plan.grpo_steps
    assert cpu["generation"]["tokens"] > 0
    rollouts = cpu["rollouts"]
    assert rollouts["episodes"] == plan.rollout_questions * plan.group
    assert plan.rollout_questions * plan.group <= rollouts["turns"] <= rollouts["episodes"] * plan.env_turns
    assert rollouts["model_tokens"] > 0

    curve = cpu["memorisation"]["curve"]
    assert [p["step"] for p in curve] == list(range(0, plan.memo_steps + 1, plan.memo_every))
    assert all(0.0 <= p["exact_match"] <= 1.0 and 0.0 <= p["f1"] <= 1.0 for p in curve)
    losses = [p["loss"] for p in curve[1:]]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]  # it is learning
