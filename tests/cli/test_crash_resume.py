"""SIGKILL each stage mid-way (in a subprocess, ``tests/cli/_crash.py``), rerun it: it completes
and its outputs equal those of an uninterrupted run; a killed training run continues from its
checkpoint instead of starting over.

The kill lands right after a known call returns: for the data stages, after the first output
file is in place (the record still says ``running``, so the rerun must not take the output as
done); for training, after the first checkpoint; for evaluation, after the first model is scored.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from teacherforge.cli.pipeline import run_pipeline
from teacherforge.config import load_config
from teacherforge.workspace import read_json, read_jsonl
from tests.cli._tinyrun import tiny_overrides, use_toy_embedder

REPO = Path(__file__).resolve().parents[2]
DATA_STAGES = ["datagen", "teacher", "quality", "dataset"]
WRITE = "teacherforge.datagen.{}:atomic_write_jsonl"
#: stage -> (function, the call whose return kills the process, outputs compared with an uninterrupted run)
KILLS = {
    "datagen": (
        WRITE.format("pipeline"),
        1,  # chunks.jsonl written, the index and questions not
        ["chunks.jsonl", "questions.json", "index/ids.json", "index/chunks.jsonl"],
    ),
    "teacher": (WRITE.format("teacher"), 1, ["teacher.jsonl"]),
    # call 1 saves teacher_raw.jsonl; call 2 rewrites teacher.jsonl in place, review.jsonl not yet
    "quality": (WRITE.format("quality"), 2, ["teacher.jsonl", "teacher_raw.jsonl", "review.jsonl"]),
    "dataset": (
        WRITE.format("dataset"),
        1,
        ["dataset/train.jsonl", "dataset/validation.jsonl", "dataset/dataset_info.json"],
    ),
}
STEP_OF = {"datagen": "chunk"}  # the step a stage is killed in, when it has several
TRAINING = [
    "grpo.warm_start=false",
    "grpo.max_steps=2",
    "sft.max_steps=2",
    "eval.models=[teacher,base]",
    "eval.modes=[fixed]",
]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """The run dir as an uninterrupted run leaves it after each data stage, plus a tiny model."""
    from teacherforge.models import save_random_model

    root = tmp_path_factory.mktemp("crash")
    model = save_random_model(root / "model")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_toy_embedder(monkeypatch)
        for stage in DATA_STAGES:
            config = load_config(None, [*tiny_overrides(root, model), f"stages=[{stage}]"])
            run_pipeline(config, echo=lambda _: None)
            shutil.copytree(root / "run", root / f"after_{stage}")
    return root, model


def _cli(
    root: Path, model: Path, run: Path, stage: str, kill: str, calls: int
) -> subprocess.CompletedProcess:
    sets = [*tiny_overrides(root, model, run), f"stages=[{stage}]", *TRAINING]
    command = ["run", "--config", os.devnull, *(arg for item in sets for arg in ("--set", item))]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.cli._crash", kill, str(calls), "--", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _killed(snapshots, tmp_path, stage: str, before: str | None, kill: str, calls: int = 1) -> Path:
    """The run dir as it was before ``stage``, after ``stage`` was SIGKILLed at ``kill``."""
    root, model = snapshots
    run = tmp_path / "run"
    if before:
        shutil.copytree(root / f"after_{before}", run)
    killed = _cli(root, model, run, stage, kill, calls)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    statuses = {s["name"]: s["status"] for s in read_json(run / "manifest.json")["steps"]}
    assert statuses[STEP_OF.get(stage, stage)] == "running", "killed mid-step: its record says so"
    return run


def _rerun(snapshots, run: Path, stage: str) -> None:
    """Run ``stage`` again, without a kill: it completes and every step is done."""
    rerun = _cli(*snapshots, run, stage, "-", 0)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert {s["status"] for s in read_json(run / "manifest.json")["steps"]} == {"done"}


def _without_times(value):
    """JSON data without its timestamps (records carry when they were written)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("created_at", "timestamp")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _content(path: Path):
    return _without_times(read_jsonl(path) if path.suffix == ".jsonl" else read_json(path))


@pytest.mark.parametrize("stage", DATA_STAGES)
def test_a_killed_data_stage_reruns_to_the_uninterrupted_outputs(snapshots, tmp_path, stage):
    kill, calls, compared = KILLS[stage]
    before = DATA_STAGES[DATA_STAGES.index(stage) - 1] if stage != "datagen" else None
    run = _killed(snapshots, tmp_path, stage, before, kill, calls)
    _rerun(snapshots, run, stage)
    reference = snapshots[0] / f"after_{stage}"
    for name in compared:
        assert _content(run / name) == _content(reference / name), name


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_a_killed_training_stage_continues_from_its_checkpoint(snapshots, tmp_path, stage):
    before = "dataset" if stage == "sft" else "datagen"
    run = _killed(snapshots, tmp_path, stage, before, "transformers.trainer:Trainer._save_checkpoint")
    checkpoint = run / stage / "checkpoint-1" / "trainer_state.json"
    saved = checkpoint.stat().st_mtime_ns
    _rerun(snapshots, run, stage)
    assert checkpoint.stat().st_mtime_ns == saved, (
        "continued from checkpoint-1, not trained again from step 0"
    )
    assert (run / stage / "checkpoint-2").is_dir() and (
        run / stage / "adapter" / "adapter_config.json"
    ).is_file()
    log = read_jsonl(run / stage / f"{stage}_log.jsonl")
    steps = [r["step"] for r in log if "step" in r and (stage == "grpo" or "loss" in r)]
    assert steps == [1, 2], "one log entry per step, none repeated"


def test_a_killed_evaluation_reruns_to_a_complete_report(snapshots, tmp_path):
    run = _killed(snapshots, tmp_path, "eval", "datagen", "teacherforge.trainers.evaluate:score")
    _rerun(snapshots, run, "eval")
    rows = read_jsonl(run / "report" / "results.jsonl")
    assert len(rows) == 2 * 2, "two models (the oracle teacher and the base model), two test questions"
    assert len(read_json(run / "report" / "metrics.json")["metrics"]["fixed"]) == 2
