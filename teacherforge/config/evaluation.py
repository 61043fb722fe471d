"""Evaluation, feedback-loop and server settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ._validate import check_choice, check_range


@dataclass
class EvalConfig:
    """Student vs teacher inside the same RAG loop."""

    split: str = field(default="test", metadata={"help": "held-out split"})
    modes: List[str] = field(
        default_factory=lambda: ["fixed", "agentic"],
        metadata={"help": "fixed (top-k context given) and/or agentic (SearchEnv)"},
    )
    models: List[str] = field(
        default_factory=list, metadata={"help": "models to compare: teacher, base, sft, grpo, or paths/ids"}
    )
    max_questions: int = field(default=0, metadata={"help": "0 = all"})
    top_k: Optional[int] = field(
        default=None,
        metadata={
            "help": "hits per search in both modes when evaluation is to differ from training "
            "(None = retrieval.top_k)"
        },
    )
    native_modes_only: bool = field(
        default=False,
        metadata={
            "help": "students only in the mode they were trained for (sft: fixed, grpo: agentic); "
            "base and teacher in every mode"
        },
    )
    bootstrap_samples: int = field(default=1000, metadata={"help": "for confidence intervals"})
    allow_train_split: bool = field(
        default=False, metadata={"help": "permit evaluating on training questions"}
    )

    def __post_init__(self) -> None:
        check_choice("eval.split", self.split, ("train", "validation", "test"))
        for mode in self.modes:
            check_choice("eval.modes", mode, ("fixed", "agentic"))
        if self.top_k is not None:
            check_range("eval.top_k", self.top_k, 1)


@dataclass
class LoopConfig:
    """Feedback rounds: evaluate → failures → new data → retrain → evaluate."""

    rounds: int = field(default=1, metadata={"help": "max rounds"})
    stop_without_gain: bool = field(
        default=True,
        metadata={
            "help": "stop after a round whose held-out F1 gain over the previous round has a paired 95% "
            "bootstrap interval that does not exclude 0 from below (false: run all loop.rounds)"
        },
    )
    retrain: List[str] = field(
        default_factory=lambda: ["sft"],
        metadata={
            "help": "stages retrained each round: sft and/or grpo (empty: only build the new dataset version)"
        },
    )
    init: str = field(
        default="continue",
        metadata={
            "help": "continue: each round trains on from the previous round's adapter (sft.init_adapter, "
            "grpo.init_adapter); base: each round trains a fresh LoRA from the base model"
        },
    )
    student: str = field(
        default="auto",
        metadata={
            "help": "model whose failures are mined: auto (newest of sft/grpo/base) or any eval model name"
        },
    )
    f1_threshold: float = field(default=0.5, metadata={"help": "an answer below this F1 is wrong"})
    max_new_questions_per_failure: int = field(default=3, metadata={"help": "new questions per failed chunk"})

    def __post_init__(self) -> None:
        check_range("loop.rounds", self.rounds, 1)
        for stage in self.retrain:
            check_choice("loop.retrain", stage, ("sft", "grpo"))
        check_choice("loop.init", self.init, ("continue", "base"))


@dataclass
class ServeConfig:
    """``teacherforge serve retriever`` and ``serve rag``: where they listen, what one request may hold,
    and how the RAG server answers."""

    host: str = field(default="127.0.0.1", metadata={"help": "bind address (127.0.0.1: this machine only)"})
    port: int = field(default=8765, metadata={"help": "port"})
    max_batch: int = field(default=256, metadata={"help": "max queries per request"})
    max_query_chars: int = field(
        default=2048, metadata={"help": "max characters per query (serve rag: per question)"}
    )
    rag_mode: str = field(
        default="native",
        metadata={
            "help": "how `serve rag` answers, as evaluation does: fixed (top-k context in the prompt), "
            "agentic (the model searches), native (sft: fixed, grpo: agentic, any other model: fixed)"
        },
    )

    def __post_init__(self) -> None:
        check_choice("serve.rag_mode", self.rag_mode, ("native", "fixed", "agentic"))
        check_range("serve.port", self.port, 0, 65535)
        check_range("serve.max_batch", self.max_batch, 1)
        check_range("serve.max_query_chars", self.max_query_chars, 1)
