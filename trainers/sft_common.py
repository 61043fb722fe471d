"""Shared SFT machinery: the ChatML training template, tokenizer preparation, LoRA and ``train_sft``.

Both the teacher → student SFT stage (:mod:`teacherforge.trainers.sft`) and the GRPO warm start
train a LoRA adapter with TRL's ``SFTTrainer`` on chat ``messages`` rows with *assistant-only
loss*. TRL computes that mask from ``{% generation %}`` markers in the chat template; the
embedded SmolLM2's shipped template has none (and TRL ships training templates only for other
families), so :func:`prepare_tokenizer` installs :func:`teacherforge.chat_template.training_chat_template` — a ChatML
template that renders exactly like SmolLM2's but marks assistant content plus its ``<|im_end|>``
as trainable. Models whose family TRL knows (Qwen2.5, Llama 3, …) get TRL's own training
template instead.

Tracking: ``report_to`` follows :func:`teacherforge.trainers.tracking.report_targets` (W&B through
the HF trainer); MLflow comes in as a callback (:func:`teacherforge.trainers.tracking.mlflow_logger`,
passed in ``callbacks``). Tests pass ``report_to="none"``.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teacherforge.chat_template import CHATML_TOKENS, training_chat_template
from teacherforge.config import LoraAdapterConfig
from teacherforge.run import TrainingDir

if TYPE_CHECKING:
    import peft
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)


def has_generation_markers(template: str | dict | None) -> bool:
    """Whether a chat template defines ``{% generation %}`` markers (TRL's check)."""
    if not template:
        return False
    from trl.chat_template_utils import has_generation_markers as _trl_check

    return _trl_check(template)


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Make ``tokenizer`` ready for assistant-only SFT and return it (modified in place).

    Keeps a template that already has generation markers; otherwise uses TRL's training variant
    of the model's template when TRL knows the family, else installs :func:`training_chat_template`
    (which needs the ChatML special tokens in the vocabulary). Sets ``pad_token`` to the EOS token
    when missing. Raises ``ValueError`` for a tokenizer that fits none of these.
    """
    template = tokenizer.chat_template
    if not has_generation_markers(template):
        replacement = None
        if template:
            from trl.chat_template_utils import get_training_chat_template

            try:
                replacement = get_training_chat_template(tokenizer)
            except ValueError:
                replacement = None
        if replacement is None:
            vocab = tokenizer.get_vocab()
            missing = [t for t in CHATML_TOKENS if t not in vocab]
            if missing:
                raise ValueError(
                    f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r}: its chat template has no "
                    f"{{% generation %}} markers and it lacks the ChatML tokens {missing}; give the model a "
                    "training chat template with generation markers (see TRL's chat_templates/)"
                )
            replacement = training_chat_template()
        tokenizer.chat_template = replacement
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def peft_lora_config(cfg: LoraAdapterConfig) -> peft.LoraConfig:
    """A PEFT ``LoraConfig`` for a causal LM from our config section."""
    import peft

    return peft.LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


@dataclass(frozen=True)
class SFTResult:
    """What :func:`train_sft` produced: where, the trainer's log history and throughput."""

    output_dir: Path
    adapter_dir: Path
    log_history: list[dict]
    train_runtime_s: float
    tokens_per_s: float


def saved_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, directory)`` of every ``checkpoint-N`` directory under ``output_dir``, by step."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    return sorted(
        (int(p.name.split("-")[-1]), p)
        for p in root.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit()
    )


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest ``checkpoint-N`` directory under ``output_dir`` (``None`` if there is none)."""
    saved = saved_checkpoints(output_dir)
    return saved[-1][1] if saved else None


def start_point(output_dir: str | Path, resume: bool) -> Path | None:
    """The checkpoint a training run continues from: the newest one when ``resume``; otherwise
    ``None``, after removing every checkpoint an earlier run left (a fresh run must not mix
    its checkpoints with theirs, e.g. when ``select_checkpoint: best`` scores them all)."""
    if resume:
        return last_checkpoint(output_dir)
    for _, path in saved_checkpoints(output_dir):
        shutil.rmtree(path)
    return None


def _mixed_precision() -> dict[str, bool]:
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16}
    return {"bf16": False, "fp16": False}


def build_sft_trainer(
    model: str | PreTrainedModel,
    rows: list[dict],
    output_dir: str | Path,
    *,
    lora: LoraAdapterConfig,
    learning_rate: float,
    batch_size: int,
    max_steps: int,
    max_length: int,
    save_steps: int,
    seed: int = 0,
    grad_accum: int = 1,
    eval_rows: list[dict] | None = None,
    tokenizer: Any = None,
    report_to: str | list[str] = "auto",
    num_epochs: float = 1.0,
    gradient_checkpointing: bool = False,
    model_kwargs: dict | None = None,
    peft_config: Any = None,
    callbacks: list[Any] | None = None,
) -> Any:
    """A configured TRL ``SFTTrainer`` (not yet trained); :func:`train_sft` runs it.

    Exposed so tests and callers can inspect the real data collator and processed dataset.
    ``model`` is an embedded name / HF id / path (loaded with :func:`teacherforge.models.load_causal_lm`)
    or a live model (then ``tokenizer`` is required). ``max_steps=-1`` trains ``num_epochs`` epochs.
    ``callbacks`` are extra trainer callbacks (e.g. the MLflow logger).
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from teacherforge.trainers.tracking import report_targets

    tokenized = check_rows(rows)
    if isinstance(model, str):
        from teacherforge.models import load_causal_lm

        model, loaded_tokenizer = load_causal_lm(model, **(model_kwargs or {}))
        tokenizer = tokenizer or loaded_tokenizer
    if tokenizer is None:
        raise ValueError("train_sft: pass tokenizer= together with a live model")
    prepare_tokenizer(tokenizer)
    train_dataset = Dataset.from_list([_clean_row(r) for r in rows])
    eval_dataset = Dataset.from_list([_clean_row(r) for r in eval_rows]) if eval_rows else None
    output_dir = Path(output_dir)
    args = SFTConfig(
        output_dir=str(output_dir),
        assistant_only_loss=not tokenized,  # token rows carry their own assistant_masks
        completion_only_loss=None,
        max_length=max_length,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=learning_rate,
        max_steps=max_steps,
        num_train_epochs=num_epochs,
        save_steps=save_steps,
        save_strategy="steps",
        eval_strategy="steps" if eval_dataset is not None else "no",
        eval_steps=save_steps if eval_dataset is not None else None,
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        report_to=report_targets(report_to, output_dir),
        activation_checkpointing=gradient_checkpointing,
        dataloader_num_workers=0,
        dataset_num_proc=None,
        **_mixed_precision(),
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        # a PeftModel (sft.init_adapter) trains its own adapter: no second LoRA on top
        peft_config=peft_config
        if peft_config is not None or hasattr(model, "peft_config")
        else peft_lora_config(lora),
    )


def train_sft(
    model: str | PreTrainedModel,
    rows: list[dict],
    output_dir: str | Path,
    *,
    lora: LoraAdapterConfig,
    learning_rate: float,
    batch_size: int,
    max_steps: int,
    max_length: int,
    save_steps: int,
    seed: int = 0,
    grad_accum: int = 1,
    resume: bool = False,
    eval_rows: list[dict] | None = None,
    tokenizer: Any = None,
    report_to: str | list[str] = "auto",
    num_epochs: float = 1.0,
    gradient_checkpointing: bool = False,
    model_kwargs: dict | None = None,
    peft_config: Any = None,
    callbacks: list[Any] | None = None,
) -> SFTResult:
    """Fine-tune a LoRA adapter on chat ``rows`` with assistant-only loss; return an :class:`SFTResult`.

    ``rows`` are ``{"messages": [{"role", "content"}, ...]}``; only assistant tokens (content and the
    closing ``<|im_end|>``) carry loss. Checkpoints go to ``output_dir/checkpoint-N`` every
    ``save_steps``; ``resume=True`` continues from the newest one (same step, optimizer and RNG
    state). The final adapter (and tokenizer with its training template) is saved in
    ``output_dir/adapter``; the per-step log is written to ``output_dir/sft_log.jsonl``.
    ``peft_config`` overrides ``lora`` (e.g. for QLoRA-prepared models); ``callbacks`` are extra
    trainer callbacks (e.g. the MLflow logger).
    """
    from teacherforge.workspace import atomic_write_jsonl

    trainer = build_sft_trainer(
        model,
        rows,
        output_dir,
        lora=lora,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_steps=max_steps,
        max_length=max_length,
        save_steps=save_steps,
        seed=seed,
        grad_accum=grad_accum,
        eval_rows=eval_rows,
        tokenizer=tokenizer,
        report_to=report_to,
        num_epochs=num_epochs,
        gradient_checkpointing=gradient_checkpointing,
        model_kwargs=model_kwargs,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    checkpoint = last_checkpoint(output_dir) if resume else None
    if resume and checkpoint is None:
        log.warning("resume requested but %s has no checkpoint-*; starting from scratch", output_dir)
    started = time.perf_counter()
    tokens_before = _tokens_seen(trainer)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.perf_counter() - started
    runtime = float(output.metrics.get("train_runtime", wall))
    history = [dict(entry) for entry in trainer.state.log_history]
    tokens = _tokens_seen(trainer) - tokens_before
    out = TrainingDir(Path(output_dir))
    if trainer.is_world_process_zero():
        trainer.save_model(str(out.adapter))
        atomic_write_jsonl(out.sft_log, history)
    return SFTResult(
        output_dir=out.path,
        adapter_dir=out.adapter,
        log_history=history,
        train_runtime_s=runtime,
        tokens_per_s=tokens / runtime if runtime > 0 else 0.0,
    )


def _tokens_seen(trainer: Any) -> int:
    """Input tokens (non-padding) the trainer has consumed so far, across processes."""
    return int(getattr(trainer, "_total_train_tokens", 0) or 0)


def check_rows(rows: list[dict]) -> bool:
    """Validate SFT rows; return whether they are token rows (else chat rows).

    Chat rows are ``{"messages": [...]}`` with at least one assistant message (the loss covers
    assistant tokens through the training template). Token rows are ``{"input_ids",
    "assistant_masks"}`` of equal length with at least one 1 (the loss covers exactly the
    tokens marked 1), for data whose trainable spans a chat template cannot express, such as
    search episodes with environment text inside the assistant turn.
    """
    if not rows:
        raise ValueError("train_sft: no training rows; build the dataset first (teacherforge dataset)")
    tokenized = "input_ids" in rows[0]
    for i, row in enumerate(rows):
        if tokenized:
            ids, mask = row.get("input_ids"), row.get("assistant_masks")
            if not ids or mask is None or len(ids) != len(mask) or 1 not in mask:
                raise ValueError(
                    f"train_sft: token row {i} needs 'input_ids' and an equally long 'assistant_masks' "
                    "with at least one trainable (1) token"
                )
        elif not row.get("messages") or not any(m.get("role") == "assistant" for m in row["messages"]):
            raise ValueError(f"train_sft: row {i} has no assistant message; rows need 'messages' with one")
    return tokenized


def _clean_row(row: dict) -> dict[str, Any]:
    """The columns the trainer needs; other keys would confuse Arrow and the template."""
    if "input_ids" in row:
        return {"input_ids": list(row["input_ids"]), "assistant_masks": list(row["assistant_masks"])}
    return {"messages": [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"]]}
