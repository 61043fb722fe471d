"""Checkpoint choice on validation scores, and the paired comparison against the base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teacherforge.run import TrainingDir
from teacherforge.trainers.evaluate import compare_to_base
from teacherforge.trainers.selection import candidates, select_checkpoint


def _adapter(path: Path, tag: str) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}", encoding="utf-8")
    (path / "adapter_model.safetensors").write_text(tag, encoding="utf-8")
    return path


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    for step in (10, 20, 30):
        _adapter(tmp_path / f"checkpoint-{step}", f"weights@{step}")
    _adapter(tmp_path / "adapter", "weights@30")
    (tmp_path / "checkpoint-x").mkdir()  # not a step: ignored
    return tmp_path


def test_candidates_are_checkpoints_by_step_then_the_final_adapter(trained: Path) -> None:
    found = candidates(trained, final_step=30)
    assert [(c.step, c.path.name) for c in found] == [
        (10, "checkpoint-10"),
        (20, "checkpoint-20"),
        (30, "adapter"),
    ]


def test_best_checkpoint_replaces_the_adapter_and_is_recorded(trained: Path) -> None:
    scores = {"weights@10": 0.2, "weights@20": 0.6, "weights@30": 0.4}
    result = select_checkpoint(trained, 30, lambda p: scores[(p / "adapter_model.safetensors").read_text()])
    assert result["chosen_step"] == 20 and result["split"] == "validation"
    assert (trained / "adapter" / "adapter_model.safetensors").read_text() == "weights@20"
    assert json.loads(TrainingDir(trained).selection.read_text())["chosen_step"] == 20


def test_ties_keep_the_later_step_and_leave_the_final_adapter(trained: Path) -> None:
    assert select_checkpoint(trained, 30, lambda p: 0.5)["chosen_step"] == 30
    assert (trained / "adapter" / "adapter_model.safetensors").read_text() == "weights@30"


def test_nothing_to_choose_from_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no adapter or checkpoint"):
        select_checkpoint(tmp_path, 5, lambda p: 0.0)


def _rows(model: str, f1s: list[float], mode: str = "fixed") -> list[dict]:
    return [{"mode": mode, "model": model, "question_id": f"q{i}", "f1": v} for i, v in enumerate(f1s)]


def test_compare_to_base_calls_a_change_only_when_the_interval_excludes_zero() -> None:
    rows = _rows("base", [0.0] * 20) + _rows("sft", [1.0] * 15 + [0.0] * 5)
    rows += _rows("teacher", [1.0] * 20)
    base_noisy = _rows("base", [0.0, 1.0] * 10, mode="agentic") + _rows("grpo", [1.0, 0.0] * 10, "agentic")
    out = compare_to_base(rows + base_noisy, "base", samples=500, seed=0, skip=["teacher"])
    assert out["fixed"]["sft"]["change"] == "improved" and out["fixed"]["sft"]["f1_difference"]["low"] > 0
    assert "teacher" not in out["fixed"]
    assert out["agentic"]["grpo"]["change"] == "no significant change"  # same mean, pairs disagree
