"""Which LLM a stage uses and how to reach it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ._validate import check_choice, check_range

#: ``custom``: your own :class:`~teacherforge.llm.LLMBackend`, ``model`` names its factory (``pkg.module:make``).
BACKENDS = ("transformers", "openai", "vllm", "custom")
#: Fields that change how a model is reached or priced, not what it answers.
TRANSPORT_FIELDS = (
    "concurrency",
    "timeout_s",
    "max_retries",
    "batch_size",
    "use_cache",
    "price_per_million_prompt_tokens",
    "price_per_million_completion_tokens",
)


@dataclass
class LLMConfig:
    """An LLM backend and model (see :mod:`teacherforge.llm`)."""

    backend: str = field(default="transformers", metadata={"help": f"one of {BACKENDS}"})
    model: str = field(
        default="smollm2-135m",
        metadata={
            "help": "embedded name (smollm2-135m), HF model id, local path, the served model name, "
            "or pkg.module:factory (backend custom)"
        },
    )
    adapter: Optional[str] = field(default=None, metadata={"help": "path to a PEFT LoRA adapter"})
    base_url: Optional[str] = field(
        default=None, metadata={"help": "OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1"}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "environment variable holding the API key (the key itself is never stored)"},
    )
    concurrency: int = field(default=8, metadata={"help": "max concurrent HTTP requests (openai)"})
    timeout_s: float = field(default=120.0, metadata={"help": "per-request timeout (openai)"})
    max_retries: int = field(default=3, metadata={"help": "retries with backoff on 5xx/timeouts (openai)"})
    batch_size: int = field(default=8, metadata={"help": "prompts per forward batch (transformers)"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16, float16"})
    use_cache: bool = field(default=True, metadata={"help": "cache calls in the run dir's cache.sqlite"})
    price_per_million_prompt_tokens: float = field(default=0.0, metadata={"help": "for cost estimates"})
    price_per_million_completion_tokens: float = field(default=0.0, metadata={"help": "for cost estimates"})

    def __post_init__(self) -> None:
        check_choice("llm.backend", self.backend, BACKENDS)
        check_range("llm.concurrency", self.concurrency, 1)
        check_range("llm.batch_size", self.batch_size, 1)
        check_range("llm.max_retries", self.max_retries, 0)
        check_range("llm.timeout_s", self.timeout_s, 0.001)
        check_choice("llm.dtype", self.dtype, ("auto", "float32", "bfloat16", "float16"))

    def answer_settings(self) -> dict[str, Any]:
        """The fields that change what the model answers (what a stage's fingerprint reads).

        >>> sorted(LLMConfig().answer_settings())
        ['adapter', 'api_key_env', 'backend', 'base_url', 'device', 'dtype', 'model']
        """
        return {k: v for k, v in asdict(self).items() if k not in TRANSPORT_FIELDS}


@dataclass
class ExecutorConfig:
    """Where data-generation work runs: this process, or a Ray cluster (``ray`` extra)."""

    kind: str = field(default="local", metadata={"help": "local or ray"})
    address: Optional[str] = field(
        default=None, metadata={"help": "Ray address (ray://host:10001); None starts a local cluster"}
    )
    workers: int = field(default=2, metadata={"help": "Ray workers (actors/tasks in flight)"})

    def __post_init__(self) -> None:
        check_choice("executor.kind", self.kind, ("local", "ray"))
        check_range("executor.workers", self.workers, 1)
