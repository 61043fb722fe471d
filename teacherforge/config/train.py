"""Training settings: LoRA, GRPO, SFT."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import List, Optional

from ._validate import ConfigError, check_choice, check_range

#: What ``report_to`` may name, joined by commas (``wandb,mlflow``); or ``auto`` or ``none``.
TRACKERS = ("wandb", "mlflow")
REPORT_TO_HELP = (
    "auto (every installed tracker the environment asks for: W&B when WANDB_MODE is set, MLflow when "
    "MLFLOW_TRACKING_URI is set), none, or wandb, mlflow, wandb,mlflow (W&B offline unless WANDB_MODE says "
    "otherwise; MLflow in MLFLOW_TRACKING_URI, else sqlite:///<run_dir>/mlflow.db)"
)


def check_report_to(key: str, value: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is ``auto``, ``none`` or :data:`TRACKERS` joined
    by commas, and the packages of a named MLflow are installed."""
    if value in ("auto", "none"):
        return
    names = [n.strip() for n in value.split(",")]
    if not all(n in TRACKERS for n in names):
        raise ConfigError(
            f"{key}: {value!r} is not allowed; choose auto, none, or trackers from {list(TRACKERS)} "
            "joined by commas (e.g. wandb,mlflow)"
        )
    if "mlflow" in names and not all(importlib.util.find_spec(p) for p in ("mlflow", "sqlalchemy")):
        raise ConfigError(
            f"{key}: mlflow needs the mlflow extra: pip install 'teacherforge[mlflow]' (or set {key}=none)"
        )


@dataclass
class LoraAdapterConfig:
    """PEFT LoRA adapter settings."""

    r: int = field(default=16, metadata={"help": "rank"})
    alpha: int = field(default=32, metadata={"help": "scaling"})
    dropout: float = field(default=0.0, metadata={"help": "dropout"})
    target_modules: List[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "module names to adapt"},
    )


@dataclass
class GRPOStageConfig:
    """GRPO on the search environment (see :mod:`teacherforge.trainers.grpo`)."""

    model: str = field(default="smollm2-135m", metadata={"help": "policy: embedded name, HF id or path"})
    lora: LoraAdapterConfig = field(default_factory=LoraAdapterConfig)
    num_generations: int = field(default=4, metadata={"help": "group size"})
    batch_size: int = field(default=4, metadata={"help": "completions per step (multiple of group size)"})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate"})
    beta: float = field(default=0.0, metadata={"help": "KL coefficient"})
    temperature: float = field(default=1.0, metadata={"help": "rollout temperature"})
    max_steps: int = field(default=4, metadata={"help": "optimizer steps"})
    save_steps: int = field(default=2, metadata={"help": "checkpoint every N steps"})
    feedback_oversample: float = field(
        default=1.0,
        metadata={
            "help": "a question the feedback loop derived from a failure is drawn round(this x its weight) "
            "times (weight 1 + (1 - the student's F1), so 1 to 2; other questions once)"
        },
    )
    init_adapter: str = field(
        default="",
        metadata={
            "help": "a LoRA adapter directory to continue training (the feedback loop's loop.init: continue; replaces the warm start); "
            "empty: a fresh LoRA on the base model"
        },
    )
    warm_start: bool = field(default=True, metadata={"help": "SFT on synthetic search trajectories first"})
    warm_start_steps: int = field(default=8, metadata={"help": "SFT steps of the warm start"})
    warm_start_examples: int = field(
        default=48, metadata={"help": "synthetic search trajectories for the warm start"}
    )
    warm_start_batch_size: int = field(default=4, metadata={"help": "warm-start SFT batch size"})
    warm_start_max_length: int = field(
        default=0,
        metadata={
            "help": "warm-start tokens per example; longer examples are dropped and counted (0 = the longest)"
        },
    )
    warm_start_learning_rate: float = field(default=2e-4, metadata={"help": "warm-start learning rate"})
    warm_start_eval_questions: int = field(
        default=8,
        metadata={
            "help": "held-out questions for the well-formed share before/after the warm start (0 = skip)"
        },
    )
    use_vllm: bool = field(default=False, metadata={"help": "vLLM colocate rollouts (gpu extra)"})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={"help": "GPU share vLLM may take"})
    use_unsloth: bool = field(
        default=False, metadata={"help": "load the policy with Unsloth (unsloth extra)"}
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "micro-batches per step (batch_size is split into this many)"}
    )
    output_dir: Optional[str] = field(default=None, metadata={"help": "default: <run_dir>/grpo"})
    trajectories_per_step: int = field(default=4, metadata={"help": "sampled trajectories logged per step"})
    report_to: str = field(default="auto", metadata={"help": REPORT_TO_HELP})
    merge: bool = field(default=False, metadata={"help": "also save the merged model (adapter folded in)"})
    select_checkpoint: str = field(
        default="last",
        metadata={
            "help": "last, or best: score every checkpoint on validation questions (F1, agentic mode) and keep the best"
        },
    )
    select_questions: int = field(
        default=32, metadata={"help": "validation questions that score checkpoints (0 = all)"}
    )
    smoke: bool = field(
        default=False,
        metadata={"help": "a run too short to measure learning; reports label the GRPO student a smoke run"},
    )

    def __post_init__(self) -> None:
        check_range("grpo.num_generations", self.num_generations, 2)
        if self.batch_size % self.num_generations:
            raise ConfigError(
                f"grpo.batch_size: {self.batch_size} must be a multiple of "
                f"grpo.num_generations ({self.num_generations})"
            )
        check_range("grpo.max_steps", self.max_steps, 1)
        check_range("grpo.save_steps", self.save_steps, 1)
        check_range("grpo.feedback_oversample", self.feedback_oversample, 0.0)
        check_range("grpo.gradient_accumulation_steps", self.gradient_accumulation_steps, 1)
        if self.batch_size % (self.gradient_accumulation_steps * self.num_generations):
            raise ConfigError(
                f"grpo.batch_size: {self.batch_size} must be a multiple of "
                f"grpo.gradient_accumulation_steps × grpo.num_generations "
                f"({self.gradient_accumulation_steps} × {self.num_generations})"
            )
        check_report_to("grpo.report_to", self.report_to)
        check_range("grpo.trajectories_per_step", self.trajectories_per_step, 0)
        check_choice("grpo.select_checkpoint", self.select_checkpoint, ("last", "best"))
        check_range("grpo.select_questions", self.select_questions, 0)


@dataclass
class SFTStageConfig:
    """Supervised fine-tuning of the student on the teacher dataset."""

    model: str = field(default="smollm2-135m", metadata={"help": "student: embedded name, HF id or path"})
    lora: LoraAdapterConfig = field(default_factory=LoraAdapterConfig)
    qlora: bool = field(default=False, metadata={"help": "4-bit base (bitsandbytes + GPU)"})
    batch_size: int = field(default=4, metadata={"help": "per-device batch size"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "accumulation"})
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate"})
    max_steps: int = field(default=20, metadata={"help": "optimizer steps (-1 = epochs)"})
    num_epochs: float = field(default=1.0, metadata={"help": "epochs when max_steps is -1"})
    max_length: int = field(default=512, metadata={"help": "tokens per example"})
    save_steps: int = field(default=10, metadata={"help": "checkpoint every N steps"})
    feedback_oversample: float = field(
        default=1.0,
        metadata={
            "help": "a question the feedback loop derived from a failure is trained on round(this x its weight) "
            "times (weight 1 + (1 - the student's F1), so 1 to 2; other questions once)"
        },
    )
    init_adapter: str = field(
        default="",
        metadata={
            "help": "a LoRA adapter directory to continue training (the feedback loop's loop.init: continue); "
            "empty: a fresh LoRA on the base model"
        },
    )
    merge: bool = field(default=False, metadata={"help": "also save the merged model"})
    output_dir: Optional[str] = field(default=None, metadata={"help": "default: <run_dir>/sft"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory (GPU)"})
    report_to: str = field(default="auto", metadata={"help": REPORT_TO_HELP})
    eval: bool = field(default=True, metadata={"help": "evaluate on the validation split every save_steps"})
    select_checkpoint: str = field(
        default="last",
        metadata={
            "help": "last, or best: score every checkpoint on validation questions (F1, fixed mode) and keep the best"
        },
    )
    select_questions: int = field(
        default=32, metadata={"help": "validation questions that score checkpoints (0 = all)"}
    )

    def __post_init__(self) -> None:
        check_range("sft.batch_size", self.batch_size, 1)
        check_range("sft.max_length", self.max_length, 16)
        check_range("sft.save_steps", self.save_steps, 1)
        check_range("sft.gradient_accumulation_steps", self.gradient_accumulation_steps, 1)
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(
                f"sft.max_steps: {self.max_steps} must be >= 1, or -1 to train sft.num_epochs epochs"
            )
        check_report_to("sft.report_to", self.report_to)
        check_choice("sft.select_checkpoint", self.select_checkpoint, ("last", "best"))
        check_range("sft.feedback_oversample", self.feedback_oversample, 0.0)
        check_range("sft.select_questions", self.select_questions, 0)
