"""Tracking: the ``report_to`` policy, and real SFT/GRPO/eval runs read back from the MLflow store."""

from __future__ import annotations

import doctest
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("mlflow")
pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import ConfigError, load_config
from teacherforge.run import RunLayout
from teacherforge.trainers import tracking
from teacherforge.workspace import RunDir, atomic_write_jsonl
from tests.trainers._sft_tiny import chat_rows

SHORT_PROMPT = "env.system_prompt='Search: <{search}>q</{search}>. Answer: <{answer}>a</{answer}>.'"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> tuple[Path, Path]:
    """A real run dir (chunks, BM25 index, questions, an SFT dataset) and a tiny random SmolLM2."""
    root = tmp_path_factory.mktemp("tracking")
    run = kit.make_run_dir(root / "run")
    atomic_write_jsonl(RunLayout(run).dataset_split("train"), chat_rows(8))
    return run, kit.make_tiny_model(root / "model")


def _client(run: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{RunLayout(run).mlflow_store}")


def _run(client, name: str):
    (experiment,) = [e for e in client.search_experiments() if e.name == "track"]
    (found,) = client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = '{name}'")
    return found


def test_report_to_policy_and_config(monkeypatch, tmp_path):
    assert doctest.testmod(tracking).failed == 0
    assert tracking.trackers("auto") == () and tracking.trackers("none") == ()
    assert tracking.trackers("wandb,mlflow") == ("wandb", "mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")
    assert tracking.trackers("auto") == ("mlflow",)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.trackers("auto") == ("mlflow",)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert tracking.trackers("auto") == ("wandb", "mlflow")
    assert tracking.report_targets("mlflow") == []  # MLflow is our callback, never HF's
    monkeypatch.delenv("WANDB_MODE")
    assert tracking.report_targets("wandb,mlflow", tmp_path / "out") == ["wandb"]
    assert (tmp_path / "out").is_dir()  # W&B files land in the stage's output dir, offline
    assert os.environ["WANDB_MODE"] == "offline" and os.environ["WANDB_DIR"] == str(tmp_path / "out")
    assert (
        load_config(None, ["grpo.report_to=wandb,mlflow", "sft.report_to=mlflow"]).sft.report_to == "mlflow"
    )
    with pytest.raises(
        ConfigError, match=r"sft\.report_to: 'mlflow,tensorboard' is not allowed.*wandb,mlflow"
    ):
        load_config(None, ["sft.report_to=mlflow,tensorboard"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name))
    with pytest.raises(ConfigError, match=r"grpo\.report_to: mlflow needs the mlflow extra: pip install"):
        load_config(None, ["grpo.report_to=wandb,mlflow"])


def test_sft_stage_logs_loss_by_step_to_the_run_dir_store(assets):
    from teacherforge.trainers.sft import run_sft

    run, model = assets
    config = load_config(
        None,
        [
            "name=track",
            f"run_dir={run}",
            f"sft.model={model}",
            "sft.lora.r=4",
            "sft.lora.alpha=8",
            "sft.batch_size=4",
            "sft.max_length=128",
            "sft.max_steps=2",
            "sft.save_steps=2",
            "sft.eval=false",
            "sft.report_to=mlflow",
        ],
    )
    summary = run_sft(config)
    client = _client(run)
    found = _run(client, "track-sft")
    losses = client.get_metric_history(found.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2] and found.info.status == "FINISHED"
    assert losses[-1].value == pytest.approx(summary["final_loss"])
    assert found.data.params["sft.max_steps"] == "2" and found.data.params["sft.lora.r"] == "4"


def test_grpo_stage_logs_reward_components_and_hit_rate(assets, tmp_path):
    from teacherforge.trainers.grpo import run_grpo

    run, model = assets
    extra = {"grpo.batch_size": 4, "grpo.max_steps": 1, "grpo.save_steps": 1, "grpo.report_to": "mlflow"}
    config = load_config(
        None, ["name=track", *kit.grpo_overrides(run, model, tmp_path / "out", **extra), SHORT_PROMPT]
    )
    run_grpo(config, backend_factory=kit.scripted_factory())
    client = _client(run)
    metrics = _run(client, "track-grpo").data.metrics
    logged = kit.read_log(tmp_path / "out")[0]
    for name in kit.REWARDS:
        assert metrics[f"rewards/{name}/mean"] == pytest.approx(logged[f"rewards/{name}"])
    assert metrics["reward"] == pytest.approx(logged["reward"])
    assert metrics["env/retrieval_hit_rate"] == pytest.approx(logged["retrieval_hit_rate"])


def test_grpo_warm_start_logs_its_loss_as_its_own_run(assets, tmp_path):
    from teacherforge.trainers import grpo, warm_start

    run, model = assets
    extra = {
        "grpo.warm_start": True,
        "grpo.warm_start_steps": 2,
        "grpo.warm_start_examples": 4,
        "grpo.warm_start_batch_size": 2,
        "grpo.warm_start_eval_questions": 0,
        "grpo.report_to": "mlflow",
        "env.max_new_tokens": 32,
    }
    config = load_config(None, ["name=track", *kit.grpo_overrides(run, model, tmp_path / "out", **extra)])
    summary = warm_start.run_warm_start(config, grpo.check_grpo_config(config))
    client = _client(run)
    losses = client.get_metric_history(_run(client, "track-grpo_warm_start").info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2]
    assert losses[-1].value == pytest.approx(summary["loss_last"], abs=1e-4)


@pytest.mark.parametrize(("error", "status"), [(RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_a_run_that_raises_ends_failed_or_killed_not_running(assets, error, status):
    from types import SimpleNamespace

    from teacherforge.trainers.tracking_callback import MLflowLogger

    run, _ = assets
    config = load_config(None, ["name=track", f"run_dir={run}", "sft.report_to=mlflow"])
    logger = MLflowLogger(tracking.open_store(config, "sft.report_to"), f"track-{status}", {})
    logger.on_train_begin(None, SimpleNamespace(is_world_process_zero=True), None)
    with pytest.raises(error), tracking.ending_runs(logger):
        raise error("training broke")
    client = _client(run)
    assert _run(client, f"track-{status}").info.status == status


def test_evaluation_summary_is_logged_with_intervals(assets):
    from teacherforge.trainers.evaluate import aggregate

    run, _ = assets
    rows = [
        {
            "mode": "fixed",
            "model": model,
            "question_id": f"q{i}",
            "exact_match": float(i % 2 == 0 or model == "teacher"),
            "f1": 1.0 if model == "teacher" else i / 4,
            "gold_hit": True,
            "searches": 1,
            "well_formed": True,
            "grounded": 0.5,
            "refusal": 0.0,
            "similarity": 0.5,
            "difficulty": "easy",
        }
        for model in ("teacher", "sft")
        for i in range(4)
    ]
    result = {"split": "test", "metrics": aggregate(rows, "teacher", samples=50, seed=0)}
    config = load_config(None, ["name=track", f"run_dir={run}", "grpo.report_to=mlflow"])
    store = tracking.eval_store(config)
    tracking.log_evaluation(store, config.name, result)
    metrics = _run(_client(run), "track-eval").data.metrics
    f1 = result["metrics"]["fixed"]["sft"]["f1"]
    assert metrics["fixed/sft/f1"] == pytest.approx(f1["mean"]) == pytest.approx(0.375)
    assert metrics["fixed/sft/f1_low"] == pytest.approx(f1["low"])
    assert metrics["fixed/sft/f1_high"] == pytest.approx(f1["high"]) and f1["low"] < f1["high"]
    assert metrics["fixed/teacher/exact_match"] == 1.0 and metrics["fixed/sft/grounded"] == 0.5
    assert tracking.eval_store(load_config(None, [f"run_dir={run}", "sft.report_to=none"])) is None


def test_an_unusable_store_is_one_line_before_training(tmp_path, monkeypatch, capsys):
    from teacherforge.cli import main

    fresh = tmp_path / "run"
    atomic_write_jsonl(RunLayout(fresh).dataset_split("train"), chat_rows(4))
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}")
    argv = [
        "train",
        "sft",
        "--run-dir",
        str(fresh),
        "--set",
        "sft.report_to=mlflow",
    ]
    assert main(argv) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "sft.report_to: the MLflow store sqlite:///" in err[0], err
    assert "File exists" in err[0] and "set MLFLOW_TRACKING_URI to a writable store" in err[0]
    assert not (fresh / "sft").exists()
    assert not any(s["name"] == "sft" for s in RunDir.load_manifest(fresh).get("steps", []))
    # the default store in the run dir, when it is not a database: named, and left as it was
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    RunLayout(fresh).mlflow_store.write_text("not a database")
    with pytest.raises(ValueError, match=r"sft\.report_to: the MLflow store .*mlflow\.db cannot be opened"):
        tracking.mlflow_logger(load_config(None, [f"run_dir={fresh}", "sft.report_to=mlflow"]), "sft")
    assert RunLayout(fresh).mlflow_store.read_text() == "not a database"
