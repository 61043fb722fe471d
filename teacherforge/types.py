"""Small frozen records that cross module boundaries.

Every stage reads and writes these (or their JSON form) instead of ad-hoc dicts, so a
field means the same thing everywhere: a chunk in ``chunks.jsonl``, a hit returned by a
retriever, a completion returned by an LLM backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chunk:
    """One passage of a source document, the unit of retrieval and of question generation.

    ``chunk_id`` is a content id (``<doc_id>-<hash of the text>``), stable across reruns and edits
    elsewhere in the corpus; ``start_char``/``end_char`` locate the text in the document's extracted text.
    """

    chunk_id: str
    doc_id: str
    source: str
    text: str
    start_char: int = 0
    end_char: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``chunks.jsonl`` record of this chunk."""
        return {**dataclasses.asdict(self), "metadata": dict(self.metadata)}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Chunk:
        """Build a chunk from a ``chunks.jsonl`` record; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(record) - known
        if unknown:
            raise ValueError(f"unknown chunk field(s) {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**{**record, "metadata": dict(record.get("metadata") or {})})


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk: its id, fused score, 1-based rank and text."""

    chunk_id: str
    score: float
    rank: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Message:
    """One chat message (``role`` is ``system``, ``user``, ``assistant`` or ``tool``)."""

    role: str
    content: str


# A prompt is either raw text (sent as is) or a chat conversation (rendered with the
# model's chat template, generation prompt appended).
Prompt = str | Sequence[Message]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings shared by every LLM backend.

    ``n`` completions are returned per prompt (sample ``i`` of prompt ``p`` is at index
    ``p * n + i``). ``temperature == 0`` means greedy decoding.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "stop": list(self.stop)}


@dataclass(frozen=True)
class Completion:
    """One generated continuation with everything a trainer or the cache needs.

    ``logprobs`` has one entry per completion token where the backend provides them,
    else ``None``. ``finish_reason`` is ``"stop"`` (EOS or stop string) or ``"length"``.
    """

    text: str
    prompt_token_ids: tuple[int, ...] = ()
    completion_token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["prompt_token_ids"] = list(self.prompt_token_ids)
        data["completion_token_ids"] = list(self.completion_token_ids)
        data["logprobs"] = None if self.logprobs is None else list(self.logprobs)
        data.pop("cached")
        return data

    @classmethod
    def from_json(cls, record: Mapping[str, Any], cached: bool = False) -> Completion:
        return cls(
            text=record["text"],
            prompt_token_ids=tuple(record.get("prompt_token_ids") or ()),
            completion_token_ids=tuple(record.get("completion_token_ids") or ()),
            logprobs=None if record.get("logprobs") is None else tuple(record["logprobs"]),
            prompt_tokens=int(record.get("prompt_tokens", 0)),
            completion_tokens=int(record.get("completion_tokens", 0)),
            finish_reason=record.get("finish_reason", "stop"),
            cached=cached,
        )


def prompt_to_json(prompt: Prompt) -> str | list[dict[str, str]]:
    """JSON form of a prompt (for cache keys and artifacts)."""
    if isinstance(prompt, str):
        return prompt
    return [{"role": m.role, "content": m.content} for m in prompt]


def messages(*pairs: tuple[str, str]) -> tuple[Message, ...]:
    """Shorthand: ``messages(("system", s), ("user", u))``."""
    return tuple(Message(role, content) for role, content in pairs)
