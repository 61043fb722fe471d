"""Config and input errors of the GRPO stage fail with clear messages before any model loads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import ConfigError, load_config
from teacherforge.trainers import grpo


@pytest.fixture()
def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import teacherforge.models

    def boom(*args, **kwargs):
        raise AssertionError("a model was loaded before the config was checked")

    monkeypatch.setattr(teacherforge.models, "load_causal_lm", boom)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.make_run_dir(tmp_path_factory.mktemp("grpo_cfg") / "run")


def _overrides(run_dir: Path, tmp_path: Path, **extra) -> list[str]:
    return kit.grpo_overrides(run_dir, tmp_path / "model", tmp_path / "out", **extra)


def test_unknown_reward_name(run_dir: Path, tmp_path: Path, no_model_loads) -> None:
    config = load_config(None, [*_overrides(run_dir, tmp_path), "rewards.weights.no_such_reward=1.0"])
    with pytest.raises(ConfigError, match="no_such_reward") as err:
        grpo.run_grpo(config)
    assert "exact_match" in str(err.value)  # lists the known rewards


def test_missing_run_dir(tmp_path: Path, no_model_loads) -> None:
    config = load_config(None, _overrides(tmp_path / "nope", tmp_path))
    with pytest.raises(FileNotFoundError, match=r"run dir .*nope does not exist"):
        grpo.run_grpo(config)


def test_missing_paraphrased_index(run_dir: Path, tmp_path: Path, no_model_loads) -> None:
    config = load_config(None, [*_overrides(run_dir, tmp_path), "retrieval.index=paraphrased"])
    with pytest.raises(FileNotFoundError, match="index_paraphrased"):
        grpo.run_grpo(config)


def test_resume_without_checkpoint(run_dir: Path, tmp_path: Path, no_model_loads) -> None:
    config = load_config(None, _overrides(run_dir, tmp_path))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        grpo.run_grpo(config, resume=True)


def test_too_few_questions_for_a_batch(run_dir: Path, tmp_path: Path, no_model_loads) -> None:
    config = load_config(
        None, _overrides(run_dir, tmp_path, **{"grpo.batch_size": 40, "grpo.num_generations": 2})
    )
    with pytest.raises(ConfigError, match="distinct questions"):
        grpo.run_grpo(config)


def test_cli_reports_config_error(run_dir: Path, tmp_path: Path, capsys, no_model_loads) -> None:
    from teacherforge.cli import main

    args = ["train", "grpo", "--config", "grpo_smollm2_cpu", "--run-dir", str(tmp_path / "missing")]
    assert main(args) == 1
    assert "does not exist" in capsys.readouterr().err
