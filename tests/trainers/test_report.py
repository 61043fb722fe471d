"""The evaluation report reads the training logs where the trainers write them."""

from __future__ import annotations

from pathlib import Path

from teacherforge.run import RunLayout
from teacherforge.trainers.report import training_curves, write_report
from teacherforge.workspace import atomic_write_jsonl


def test_training_curves_come_from_the_sft_and_grpo_logs(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    sft, grpo = layout.training_dir("sft"), layout.training_dir("grpo", tmp_path / "moved")
    atomic_write_jsonl(
        sft.sft_log, [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}, {"train_runtime": 3.0}]
    )
    atomic_write_jsonl(grpo.grpo_log, [{"step": 1, "reward": 0.1}, {"step": 2, "reward": 0.3}])
    curves = training_curves(sft, grpo)
    assert curves == {"GRPO reward": ([1, 2], [0.1, 0.3]), "SFT loss": ([1, 2], [2.0, 1.5])}
    assert training_curves(layout.training_dir("sft", tmp_path / "none"), layout.training_dir("grpo")) == {}


def test_write_report_names_its_files_through_the_layout(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    atomic_write_jsonl(layout.training_dir("sft").sft_log, [{"step": 1, "loss": 1.0}])
    result = {"split": "test", "metrics": {}, "leak_check": {"checked": False, "reason": "none"}}
    paths = write_report(layout.report, [], result, layout.training_dir("sft"), layout.training_dir("grpo"))
    assert paths["metrics"] == layout.report.metrics and paths["training_plot"] == layout.report.training_plot
    assert all(p.is_file() for p in paths.values())
    assert "`training.png`" in layout.report.summary.read_text(encoding="utf-8")
