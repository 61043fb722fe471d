"""The SFT stage: fine-tune the student (LoRA, or QLoRA on a GPU) on ``dataset/`` with assistant-only loss.

``run_sft(config, resume=False)`` reads ``<run_dir>/dataset/train.jsonl`` (and
``validation.jsonl`` for evaluation every ``sft.save_steps``), trains with
:func:`teacherforge.trainers.sft_common.train_sft` (TRL ``SFTTrainer`` + PEFT, the ChatML
training template, checkpoints every ``sft.save_steps``), saves the adapter in
``<output_dir>/adapter`` and, with ``sft.merge``, a plain HF model in ``<output_dir>/merged``.
``resume=True`` continues from the newest checkpoint with its optimizer, scheduler and RNG state.

QLoRA (``sft.qlora``) needs bitsandbytes and a CUDA GPU; the base model is loaded in 4-bit NF4
with double quantisation and prepared with PEFT's ``prepare_model_for_kbit_training``.

Several processes (data parallel, CPU or GPU) go through accelerate; only the main process
writes the manifest, the adapter and the merged model::

    accelerate launch --num_processes 2 --cpu -m teacherforge.cli train sft --config configs/sft_smollm2_cpu.yaml
    accelerate launch --num_processes 4 -m teacherforge.cli train sft --config sft_qwen_gpu   # 4 GPUs

``sft.report_to`` says where metrics go (W&B, MLflow; :mod:`teacherforge.trainers.tracking`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from teacherforge.config import Config, ConfigError, SFTStageConfig
from teacherforge.records import feedback_copies
from teacherforge.run import RunLayout, TrainingDir
from teacherforge.workspace import RunDir, Step, config_slice, read_jsonl, skipped_summary


def outputs(config: Config) -> TrainingDir:
    """Where the SFT stage writes checkpoints, the adapter and the merged model: ``sft.output_dir``
    or ``<run_dir>/sft``."""
    return RunLayout(config.run_path).training_dir("sft", config.sft.output_dir)


def check_qlora_available() -> None:
    """Raise ``ConfigError`` unless bitsandbytes and a CUDA GPU are present."""
    import torch

    if importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available():
        raise ConfigError(
            "sft.qlora: needs bitsandbytes and a CUDA GPU (pip install bitsandbytes on a GPU "
            "machine); set sft.qlora=false to train plain LoRA"
        )


def load_qlora_model(name: str) -> tuple[Any, Any]:
    """The student in 4-bit NF4 (double quantisation, bf16 compute), prepared for k-bit training."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from teacherforge.models import llm_path, load_tokenizer

    check_qlora_available()
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    model = AutoModelForCausalLM.from_pretrained(
        llm_path(name),
        quantization_config=quant,
        dtype=torch.bfloat16,
        device_map={"": torch.cuda.current_device()},
    )
    return prepare_model_for_kbit_training(model), load_tokenizer(name)


def merge_adapter(base: str, adapter_dir: Path, out_dir: Path) -> Path:
    """Merge a LoRA adapter into its base model and save a plain HF model (+ tokenizer) in ``out_dir``."""
    import os
    import shutil
    import tempfile

    from teacherforge.models import load_causal_lm

    model, tokenizer = load_causal_lm(base, adapter=str(adapter_dir), device="cpu", dtype="float32")
    merged = model.merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def training_settings(config: Config) -> dict[str, Any]:
    """The keyword arguments of :func:`~teacherforge.trainers.sft_common.train_sft` that ``sft.*`` sets."""
    sc = config.sft
    return {
        "lora": sc.lora,
        "learning_rate": sc.learning_rate,
        "batch_size": sc.batch_size,
        "max_steps": sc.max_steps,
        "max_length": sc.max_length,
        "save_steps": sc.save_steps,
        "seed": config.seed,
        "grad_accum": sc.gradient_accumulation_steps,
        "report_to": sc.report_to,
        "num_epochs": sc.num_epochs,
        "gradient_checkpointing": sc.gradient_checkpointing,
    }


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _rows(path: Path, required: bool) -> list[dict]:
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path} not found; run `teacherforge dataset` first")
        return []
    return read_jsonl(path)


def oversampled(rows: list[dict], oversample: float) -> list[dict]:
    """The training rows with each example derived from a failure repeated (see ``sft.feedback_oversample``)."""
    return [row for row in rows for _ in range(feedback_copies(row.get("metadata") or {}, oversample))]


def continued_adapter(sc: SFTStageConfig, model: Any, tokenizer: Any) -> tuple[Any, Any]:
    """The student with ``sft.init_adapter`` loaded trainable (training continues it, its LoRA settings apply)."""
    from peft import PeftModel

    adapter = Path(sc.init_adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"sft.init_adapter: {adapter} holds no adapter_config.json; point it at a trained adapter "
            "directory (e.g. <run_dir>/sft/adapter) or leave it empty"
        )
    if model is None:
        from teacherforge.models import load_causal_lm

        model, tokenizer = load_causal_lm(sc.model)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True), tokenizer


def sft_step(config: Config, opaque: bool = False) -> Step:
    """What the SFT stage reads and writes: the config keys and files of its fingerprint.

    Every ``sft`` key but where outputs go and where metrics are reported, and the seed; the
    training (and, with ``sft.eval``, validation) split. Choosing the best checkpoint also
    reads the validation questions through the retriever (search-time keys, ``eval.top_k``,
    ``env.max_new_tokens``). Outputs: the adapter (and the merged model with ``sft.merge``).
    """
    from teacherforge.config.retrieval import SEARCH_KEYS

    sc, layout, files = (
        config.sft,
        RunLayout(config.run_path.resolve()),
        TrainingDir(outputs(config).path.resolve()),
    )
    keys = ["seed"] + [
        f"sft.{f.name}" for f in dataclasses.fields(sc) if f.name not in ("output_dir", "report_to")
    ]
    inputs = [layout.dataset_split("train")]
    if sc.init_adapter:
        inputs.append(Path(sc.init_adapter).resolve())
    if sc.eval and layout.dataset_split("validation").is_file():
        inputs.append(layout.dataset_split("validation"))
    if sc.select_checkpoint == "best":
        keys += [f"retrieval.{k}" for k in SEARCH_KEYS] + ["eval.top_k", "env.max_new_tokens"]
        inputs += [layout.questions_file, layout.index_dir(config.retrieval.index)]
    produced = [files.adapter] + ([files.merged] if sc.merge else [])
    return Step("sft", config_slice(config, *keys), inputs, produced, opaque=opaque)


def run_sft(config: Config, resume: bool = False, model: Any = None, tokenizer: Any = None) -> dict[str, Any]:
    """The SFT stage (see the module docstring); returns and prints a summary on the main process.

    Skipped when already done (:func:`sft_step`). A run that stopped with the same fingerprint
    (killed, failed) continues from its last checkpoint; ``resume`` continues from it whatever
    changed (e.g. a larger ``sft.max_steps``); otherwise training starts afresh, without the
    checkpoints of earlier runs. ``model``/``tokenizer`` override ``sft.model`` with a live model
    (tests pass a tiny one; such a run always runs).
    """
    from teacherforge.trainers.sft_common import start_point, train_sft
    from teacherforge.trainers.tracking import ending_runs, mlflow_logger

    sc: SFTStageConfig = config.sft
    layout = RunLayout(config.run_path)
    train_path = layout.dataset_split("train")
    train_rows = oversampled(_rows(train_path, required=True), sc.feedback_oversample)
    eval_rows = _rows(layout.dataset_split("validation"), required=False) if sc.eval else []
    if not train_rows:
        raise ValueError(f"{train_path} is empty; check the teacher/quality counts in {layout.manifest}")
    files = outputs(config)
    out = files.path
    declared = sft_step(config, opaque=model is not None)
    main = _is_main_process()
    lock = RunDir(config.run_path) if main else contextlib.nullcontext()
    started = time.perf_counter()
    with lock as run:
        done, resume = _main_decides(
            lambda: (run.done(declared), resume or run.unfinished(declared)) if main else None
        )
        if done is not None:
            return skipped_summary(done)
        tracker = mlflow_logger(config, "sft")  # an unusable store fails here, before anything changes
        if main:
            resume = start_point(out, resume) is not None
        live = model is not None
        if sc.qlora and model is None:
            model, tokenizer = load_qlora_model(sc.model)
        if sc.init_adapter:
            model, tokenizer = continued_adapter(sc, model, tokenizer)
        step_cm = run.step(declared) if main else contextlib.nullcontext()
        with step_cm as step:
            with ending_runs(tracker):
                result = train_sft(
                    model if model is not None else sc.model,
                    train_rows,
                    out,
                    **training_settings(config),
                    resume=resume,
                    eval_rows=eval_rows or None,
                    tokenizer=tokenizer,
                    callbacks=[tracker] if tracker else None,
                )
            selection = None
            if sc.select_checkpoint == "best" and main:
                selection = choose_checkpoint(config, out, result)
            merged = None
            if sc.merge and main:
                if live:
                    raise ValueError("sft.merge needs sft.model to name the base model (not a live model)")
                merged = merge_adapter(sc.model, result.adapter_dir, files.merged)
            losses = [h["loss"] for h in result.log_history if "loss" in h]
            evals = [h["eval_loss"] for h in result.log_history if "eval_loss" in h]
            summary = {
                "run_dir": str(config.run_path),
                "output_dir": str(out),
                "adapter": str(result.adapter_dir),
                "merged": str(merged) if merged else None,
                "train_examples": len(train_rows),
                "eval_examples": len(eval_rows),
                "steps": max((h.get("step", 0) for h in result.log_history), default=0),
                "first_loss": losses[0] if losses else None,
                "final_loss": losses[-1] if losses else None,
                "final_eval_loss": evals[-1] if evals else None,
                "train_runtime_s": round(result.train_runtime_s, 3),
                "tokens_per_s": round(result.tokens_per_s, 1),
                "resumed": resume,
                "selection": selection,
                "status": "done",
                "seconds": round(time.perf_counter() - started, 3),
            }
            if main:
                step.extra["summary"] = summary
                step.outputs.update({"adapter": str(result.adapter_dir), "log": str(files.sft_log)})
                if merged:
                    step.outputs["merged"] = str(merged)
                step.counts.update({k: summary[k] for k in ("train_examples", "eval_examples", "steps")})
                step.extra.update(
                    {
                        k: summary[k]
                        for k in (
                            "first_loss",
                            "final_loss",
                            "final_eval_loss",
                            "train_runtime_s",
                            "tokens_per_s",
                        )
                    }
                )
        if main:
            run.set(
                "student", {"adapter": str(result.adapter_dir), "merged": summary["merged"], "base": sc.model}
            )
    if main:
        print(format_summary(summary))
    return summary


def _main_decides(decide: Callable[[], Any]) -> Any:
    """``decide()`` as the main process computes it, on every process (data parallel runs must
    agree on skipping and resuming; only the main process reads the run dir)."""
    from accelerate import PartialState

    if PartialState().num_processes == 1:
        return decide()
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([decide()])[0]


def choose_checkpoint(config: Config, out: Path, result: Any) -> dict[str, Any]:
    """Keep the checkpoint with the best validation F1 (fixed mode) as the adapter."""
    from teacherforge.trainers.evaluate import adapter_scorer
    from teacherforge.trainers.selection import select_checkpoint

    steps = max((h.get("step", 0) for h in result.log_history), default=0)
    score = adapter_scorer(config, config.sft.model, "fixed", "validation", config.sft.select_questions)
    return select_checkpoint(out, steps, score)


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen summary of an SFT run."""
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    return "\n".join(
        [
            f"teacherforge train sft: {summary['output_dir']}  ({summary['seconds']:.1f} s"
            f"{', resumed' if summary['resumed'] else ''})",
            f"  examples train {summary['train_examples']} / validation {summary['eval_examples']}; steps "
            f"{summary['steps']}; loss {fmt(summary['first_loss'])} → {fmt(summary['final_loss'])}; eval loss "
            f"{fmt(summary['final_eval_loss'])}",
            f"  {summary['tokens_per_s']:.0f} tokens/s over {summary['train_runtime_s']:.1f} s of training",
            *(
                [
                    f"  checkpoint chosen on validation F1: step {summary['selection']['chosen_step']} "
                    f"of {summary['selection']['scores']}"
                ]
                if summary.get("selection")
                else []
            ),
            f"  adapter: {summary['adapter']}"
            + (f"\n  merged model: {summary['merged']}" if summary["merged"] else ""),
        ]
    )
