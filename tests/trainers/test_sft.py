"""The SFT stage: run_sft on a run dir, resume, merge, config errors, accelerate launch, SFT-only end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from teacherforge.config import ConfigError, load_config
from teacherforge.trainers.sft import run_sft
from teacherforge.workspace import atomic_write_jsonl, read_json, read_jsonl
from tests.trainers._sft_tiny import chat_rows, smollm2_tokenizer, tiny_model

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "sft.lora.r=4",
    "sft.lora.alpha=8",
    "sft.batch_size=4",
    "sft.max_length=128",
    "sft.learning_rate=5e-3",
    "sft.report_to=none",
]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run_dir(path: Path, n_train: int = 12, n_val: int = 4) -> Path:
    rows = chat_rows(n_train + n_val)
    atomic_write_jsonl(path / "dataset" / "train.jsonl", rows[:n_train])
    atomic_write_jsonl(path / "dataset" / "validation.jsonl", rows[n_train:])
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny random model saved as an HF directory (so configs can name it)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny-smollm2"
    tokenizer = smollm2_tokenizer()
    tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_run_sft_records_the_step_and_resumes(tmp_path, tiny_dir):
    run = _run_dir(tmp_path / "run")
    config = load_config(
        None, [f"run_dir={run}", f"sft.model={tiny_dir}", "sft.max_steps=2", "sft.save_steps=2", *TINY]
    )
    summary = run_sft(config)
    assert summary["steps"] == 2 and summary["eval_examples"] == 4 and summary["final_eval_loss"] is not None
    assert (run / "sft" / "adapter" / "adapter_config.json").is_file()
    assert (run / "sft" / "checkpoint-2").is_dir()
    manifest = read_json(run / "manifest.json")
    step = next(s for s in manifest["steps"] if s["name"] == "sft")
    assert step["counts"]["steps"] == 2 and step["tokens_per_s"] > 0
    assert manifest["student"]["adapter"] == summary["adapter"]
    log = read_jsonl(run / "sft" / "sft_log.jsonl")
    assert [h["step"] for h in log if "loss" in h] == [1, 2]

    more = load_config(
        None, [f"run_dir={run}", f"sft.model={tiny_dir}", "sft.max_steps=4", "sft.save_steps=2", *TINY]
    )
    resumed = run_sft(more, resume=True)
    assert resumed["resumed"] and resumed["steps"] == 4
    log = read_jsonl(run / "sft" / "sft_log.jsonl")
    assert [h["step"] for h in log if "loss" in h] == [
        1,
        2,
        3,
        4,
    ]  # the history continues, steps 1-2 not rerun


def test_merged_export_matches_the_adapter(tmp_path, tiny_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = _run_dir(tmp_path / "run")
    config = load_config(
        None,
        [
            f"run_dir={run}",
            f"sft.model={tiny_dir}",
            "sft.max_steps=2",
            "sft.merge=true",
            "sft.eval=false",
            *TINY,
        ],
    )
    summary = run_sft(config)
    merged = AutoModelForCausalLM.from_pretrained(summary["merged"]).eval()
    adapted = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_dir), summary["adapter"]
    ).eval()
    ids = torch.tensor([[1, 520, 3312, 28, 2]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, rtol=1e-4, atol=1e-4)
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_config_errors_before_any_model_loads(tmp_path):
    run = _run_dir(tmp_path / "run")
    if not torch.cuda.is_available():
        config = load_config(None, [f"run_dir={run}", "sft.qlora=true", "sft.model=/does/not/exist"])
        with pytest.raises(ConfigError, match="bitsandbytes and a CUDA GPU"):
            run_sft(config)
    empty = load_config(None, [f"run_dir={tmp_path / 'nothing'}", "sft.model=/does/not/exist"])
    with pytest.raises(FileNotFoundError, match="teacherforge dataset"):
        run_sft(empty)
    with pytest.raises(ConfigError, match=r"sft\.max_steps"):
        load_config(None, ["sft.max_steps=0"])


def _cli_config(path: Path, run: Path, tiny_dir: Path, *extra: str) -> Path:
    lines = [
        "name: tiny",
        f"run_dir: {run}",
        "stages: [sft]",
        "sft:",
        f"  model: {tiny_dir}",
        "  lora: {r: 4, alpha: 8}",
        "  batch_size: 2",
        "  max_length: 128",
        "  max_steps: 2",
        "  save_steps: 2",
        "  learning_rate: 5.0e-3",
        "  report_to: none",
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tmp_path, tiny_dir):
    run = _run_dir(tmp_path / "run", n_train=8, n_val=2)
    config = _cli_config(tmp_path / "sft.yaml", run, tiny_dir, "  eval: false")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "PYTHONPATH": str(REPO),
    }
    accelerate = Path(sys.executable).with_name("accelerate")
    launch = lambda: subprocess.run(  # noqa: E731
        [
            str(accelerate),
            "launch",
            "--num_processes",
            "2",
            "--cpu",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "teacherforge.cli",
            "train",
            "sft",
            "--config",
            str(config),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    proc = launch()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run / "sft" / "adapter" / "adapter_model.safetensors").is_file()
    step = next(s for s in read_json(run / "manifest.json")["steps"] if s["name"] == "sft")
    assert step["counts"]["steps"] == 2
    assert proc.stdout.count("teacherforge train sft:") == 1  # one summary: only the main process reports
    again = launch()  # every process learns from the main one that the work is done
    assert again.returncode == 0 and "teacherforge sft: up to date" in again.stdout, again.stderr[-3000:]


@pytest.mark.slow
def test_sft_only_end_to_end_on_apollo(tmp_path):
    """datagen → oracle teacher → quality → dataset → SFT of the embedded SmolLM2 on ~10 Apollo chunks."""
    from teacherforge.cli.pipeline import run_pipeline

    config = load_config(
        "sft_only",
        [
            f"run_dir={tmp_path / 'run'}",
            f"datagen.corpus={REPO / 'examples' / 'apollo13'}",
            "datagen.max_chunks=10",
            "sft.max_steps=2",
            "sft.save_steps=2",
            "sft.batch_size=2",
            "sft.max_length=384",
            "sft.eval=false",
            "sft.report_to=none",
        ],
    )
    results = run_pipeline(config, echo=lambda _: None)
    assert list(results) == ["datagen", "teacher", "quality", "dataset", "sft"]
    run = tmp_path / "run"
    teacher = read_jsonl(run / "teacher.jsonl")
    assert teacher and all(r["metadata"]["generation_method"] == "oracle" for r in teacher)
    train = read_jsonl(run / "dataset" / "train.jsonl")
    assert train and results["dataset"]["counts"]["train"] == len(train)
    assert (run / "sft" / "adapter" / "adapter_config.json").is_file()
    assert results["sft"]["steps"] == 2 and results["sft"]["final_loss"] is not None
    names = [s["name"] for s in read_json(run / "manifest.json")["steps"]]
    assert {"teacher", "quality", "dataset", "sft"} <= set(names)


def test_training_continues_from_an_init_adapter(tmp_path, tiny_dir):
    """sft.init_adapter (the feedback loop's loop.init: continue) starts from that adapter's weights.

    A fresh LoRA starts as the base model exactly (its B matrices are zero), so the continued run's
    first loss, on the same first batch, is below the first run's first loss only if the adapter loaded.
    """
    first_dir = _run_dir(tmp_path / "first")
    settings = [
        f"sft.model={tiny_dir}",
        "sft.save_steps=8",
        "sft.eval=false",
        *TINY,
        "sft.learning_rate=5e-2",
    ]
    first = run_sft(load_config(None, [f"run_dir={first_dir}", "sft.max_steps=8", *settings]))
    assert first["final_loss"] < first["first_loss"] - 0.1, "the first run learns"

    adapter = first_dir / "sft" / "adapter"
    second_dir = _run_dir(tmp_path / "second")
    continued = run_sft(
        load_config(
            None, [f"run_dir={second_dir}", "sft.max_steps=1", f"sft.init_adapter={adapter}", *settings]
        )
    )
    assert continued["first_loss"] < first["first_loss"] - 0.1
    assert (second_dir / "sft" / "adapter" / "adapter_config.json").is_file()

    missing = load_config(
        None, [f"run_dir={tmp_path / 'third'}", f"sft.init_adapter={tmp_path}", "sft.max_steps=1", *settings]
    )
    _run_dir(tmp_path / "third")
    with pytest.raises(FileNotFoundError, match=r"sft\.init_adapter: .* holds no adapter_config\.json"):
        run_sft(missing)


def test_examples_derived_from_failures_are_oversampled_by_their_weight(tmp_path, tiny_dir):
    run = _run_dir(tmp_path / "run", n_train=8, n_val=0)
    rows = read_jsonl(run / "dataset" / "train.jsonl")
    rows[0]["metadata"] = {"feedback": {"weight": 2.0}}  # the student got it wholly wrong
    rows[1]["metadata"] = {"feedback": {"weight": 1.4}}
    atomic_write_jsonl(run / "dataset" / "train.jsonl", rows)
    config = load_config(
        None,
        [
            f"run_dir={run}",
            f"sft.model={tiny_dir}",
            "sft.max_steps=1",
            "sft.eval=false",
            "sft.feedback_oversample=1.5",
            *TINY,
        ],
    )
    assert run_sft(config)["train_examples"] == 8 + (3 - 1) + (2 - 1)
