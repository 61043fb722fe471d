"""LLM question generation: sliding-window prompts, strict parsing, validation, bounded retries.

Each chunk is shown with its neighbouring chunks as background (``window`` on each side, as
AutoDidact does) and the model is asked for several question/answer pairs about that chunk,
each with a difficulty, as JSON (a tagged ``<question>…</question><answer>…</answer>`` reply
is accepted too). Prompts of every pending chunk go to the backend together, ``batch_size``
per ``generate`` call. Each pair is validated (:func:`check_pair`, then one embedding check
per batch); a chunk that still lacks pairs is re-prompted up to ``max_retries`` times with a
different sampling seed, so the call cache cannot hand back the same bad answer. Every
rejected response or pair is counted under a reason from
:data:`teacherforge.datagen.validation.DROP_REASONS`.

Multi-hop questions use the same loop with a two-passage prompt over a pair of related
chunks (the caller picks pairs within one split, see :func:`related_pairs`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from teacherforge.datagen.retry import count_usage, retry_batches
from teacherforge.datagen.validation import (
    MAX_ANSWER_WORDS,
    cosine_similarities,
    gives_answer_away,
    is_copy,
    lexically_supported,
    normalize,
    words,
)
from teacherforge.llm.base import LLMBackend
from teacherforge.rag import is_refusal
from teacherforge.records import DIFFICULTIES
from teacherforge.types import Chunk, Completion, GenerationParams, Message, Prompt

SYSTEM = (
    "You write quiz questions that test whether a reader can find facts in a document. Reply with JSON only."
)
SINGLE_TEMPLATE = """Background (neighbouring passages, do not ask about them):
<background>
{background}
</background>

Target passage:
<passage>
{passage}
</passage>

Write {n} different questions about the TARGET passage. Rules:
- each question is answerable from the target passage alone and makes sense without it (never say "the passage" or "the text");
- each answer is a short phrase (at most 10 words) copied from the target passage;
- difficulty is "easy" (a fact stated directly), "medium" (needs two sentences) or "hard" (needs careful reading).

Reply with a JSON list only, like:
[{{"question": "...", "answer": "...", "difficulty": "easy"}}]"""
MULTI_HOP_TEMPLATE = """Passage A:
<passage>
{a}
</passage>

Passage B:
<passage>
{b}
</passage>

Write 1 question whose answer needs facts from BOTH passages. It must make sense without the
passages (never say "passage A"). The answer is a short phrase copied from passage A or B.

Reply with a JSON list only, like:
[{{"question": "...", "answer": "...", "difficulty": "hard"}}]"""

_TAGGED = re.compile(
    r"<question>(?P<q>.*?)</question>\s*<answer>(?P<a>.*?)</answer>(?:\s*<difficulty>(?P<d>.*?)</difficulty>)?",
    re.DOTALL | re.IGNORECASE,
)


@dataclass(frozen=True)
class Task:
    """One prompt's job: ``wanted`` pairs grounded in ``source_chunk_ids`` (texts in ``grounding``)."""

    key: str
    source_chunk_ids: tuple[str, ...]
    grounding: str
    prompt: Prompt
    wanted: int


@dataclass(frozen=True)
class GeneratedPair:
    """One accepted question/answer pair with where it came from."""

    task_key: str
    source_chunk_ids: tuple[str, ...]
    question: str
    answer: str
    difficulty: str
    attempt: int
    similarity: float | None


@dataclass
class GenerationResult:
    """Accepted pairs, drops by reason, token usage and call counts of one generation run."""

    pairs: list[GeneratedPair] = field(default_factory=list)
    drops: Counter = field(default_factory=Counter)
    usage: Counter = field(default_factory=Counter)
    prompts_sent: int = 0
    generate_calls: int = 0
    short_tasks: int = 0


def window_prompt(chunks: Sequence[Chunk], index: int, window: int, n: int) -> tuple[Message, ...]:
    """The sliding-window prompt for ``chunks[index]``: neighbours of the same document as background.

    >>> cs = [Chunk(f"d-{i}", "d", "d", f"text {i}") for i in range(3)]
    >>> "text 0" in window_prompt(cs, 1, 1, 2)[1].content and "Write 2 different" in window_prompt(cs, 1, 1, 2)[1].content
    True
    """
    target = chunks[index]
    lo, hi = max(0, index - window), min(len(chunks), index + window + 1)
    neighbours = [c.text for j, c in enumerate(chunks[lo:hi], lo) if j != index and c.doc_id == target.doc_id]
    background = "\n...\n".join(neighbours) or "(none)"
    user = SINGLE_TEMPLATE.format(background=background, passage=target.text, n=n)
    return (Message("system", SYSTEM), Message("user", user))


def multi_hop_prompt(a: Chunk, b: Chunk) -> tuple[Message, ...]:
    """The two-passage prompt of a multi-hop question over chunks ``a`` and ``b``."""
    return (Message("system", SYSTEM), Message("user", MULTI_HOP_TEMPLATE.format(a=a.text, b=b.text)))


def parse_pairs(text: str) -> list[Any] | None:
    """Parse a reply into a list of items (JSON list/object, or tagged); ``None`` when malformed.

    >>> parse_pairs('```json\\n[{"question": "Q?", "answer": "A", "difficulty": "easy"}]\\n```')
    [{'question': 'Q?', 'answer': 'A', 'difficulty': 'easy'}]
    >>> parse_pairs("<question>Q?</question><answer>A</answer>")
    [{'question': 'Q?', 'answer': 'A', 'difficulty': None}]
    >>> parse_pairs('[{"question": "Q?", "answer": ') is None
    True
    """
    stripped = re.sub(r"```(?:json)?", "", text).strip()
    for open_, close in (("[", "]"), ("{", "}")):
        start, end = stripped.find(open_), stripped.rfind(close)
        if start < 0 or end <= start:
            continue
        try:
            data = json.loads(stripped[start : end + 1])
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = data.get("questions", [data])
        if isinstance(data, list):
            return data
    tagged = [{"question": m["q"], "answer": m["a"], "difficulty": m["d"]} for m in _TAGGED.finditer(text)]
    return tagged or None


def check_pair(item: Any, grounding: str, kept: set[str]) -> tuple[str | None, tuple[str, str, str]]:
    """Validate one parsed item against the chunk text; return ``(drop reason or None, (q, a, difficulty))``.

    >>> check_pair({"question": "When did the pump fail?", "answer": "14:05"}, "The pump failed at 14:05.", set())
    (None, ('When did the pump fail?', '14:05', 'medium'))
    >>> check_pair({"question": "Who built it?", "answer": "Ada Byron"}, "The pump failed at 14:05.", set())[0]
    'answer_not_in_chunk'
    """
    if (
        not isinstance(item, Mapping)
        or not isinstance(item.get("question"), str)
        or not isinstance(item.get("answer"), (str, int, float))
    ):
        return "malformed", ("", "", "")
    question, answer = item["question"].strip(), str(item["answer"]).strip()
    difficulty = str(item.get("difficulty") or "medium").strip().lower()
    difficulty = difficulty if difficulty in DIFFICULTIES else "medium"
    pair = (question, answer, difficulty)
    if not words(question) or not words(answer):
        return "empty", pair
    if is_refusal(question) or is_refusal(answer):
        return "refusal", pair
    if is_copy(question, grounding):
        return "copy", pair
    if len(words(answer)) > MAX_ANSWER_WORDS:
        return "answer_too_long", pair
    if not lexically_supported(answer, grounding):
        return "answer_not_in_chunk", pair
    if gives_answer_away(question, answer):
        return "answer_in_question", pair
    if normalize(question) in kept:
        return "duplicate", pair
    return None, pair


def _response_drop(completion: Completion) -> str:
    if is_refusal(completion.text):
        return "refusal"
    if completion.finish_reason == "length":
        return "truncated"
    return "malformed"


def related_pairs(
    chunks: Sequence[Chunk], splits: Mapping[str, str], vectors: np.ndarray
) -> list[tuple[int, int]]:
    """For each chunk, its most similar other chunk of the same split; unordered pairs, deduplicated.

    ``vectors`` are the chunks' L2-normalised embeddings, row ``i`` for ``chunks[i]``.

    >>> cs = [Chunk(f"d-{i}", "d", "d", "t") for i in range(3)]
    >>> v = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32)
    >>> related_pairs(cs, {"d-0": "train", "d-1": "train", "d-2": "test"}, v)
    [(0, 1)]
    """
    labels = np.array([splits[c.chunk_id] for c in chunks])
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(chunks), 512):  # blocks of rows keep memory at 512 x n
        rows = np.arange(start, min(start + 512, len(chunks)))
        block = (vectors[rows] @ vectors.T).astype(np.float64)
        block[np.arange(len(rows)), rows] = -np.inf
        block[labels[rows][:, None] != labels[None, :]] = -np.inf
        best = block.argmax(axis=1)
        for i, j in zip(rows.tolist(), best.tolist()):
            if np.isfinite(block[i - start, j]):
                pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def generate_questions(
    tasks: Sequence[Task],
    backend: LLMBackend,
    params: GenerationParams,
    *,
    max_retries: int,
    batch_size: int,
    embedder: Any = None,
    min_similarity: float = 0.0,
    progress: bool = True,
) -> GenerationResult:
    """Run ``tasks`` through ``backend`` with validation and bounded retries (see the module docstring).

    Attempt ``r`` samples with seed ``params.seed + r``; only tasks still short of their
    ``wanted`` pairs are re-prompted. With an ``embedder`` and ``min_similarity > 0``, a pair
    whose "question answer" text has cosine below ``min_similarity`` to the grounding text
    is dropped as ``low_similarity``.
    """
    result = GenerationResult()
    accepted: dict[str, list[GeneratedPair]] = {t.key: [] for t in tasks}
    kept_norm: dict[str, set[str]] = {t.key: set() for t in tasks}
    batches = retry_batches(
        tasks,
        params,
        max_retries=max_retries,
        batch_size=batch_size,
        still_pending=lambda task: len(accepted[task.key]) < task.wanted,
        desc="questions",
        progress=progress,
    )
    for attempt, attempt_params, batch in batches:
        completions = backend.generate([t.prompt for t in batch], attempt_params)
        result.generate_calls += 1
        result.prompts_sent += len(batch)
        candidates: list[tuple[Task, tuple[str, str, str]]] = []
        for task, completion in zip(batch, completions):
            count_usage(result.usage, completion)
            items = parse_pairs(completion.text)
            if items is None:
                result.drops[_response_drop(completion)] += 1
                continue
            if not items:
                result.drops["empty"] += 1
            for item in items:
                reason, pair = check_pair(item, task.grounding, kept_norm[task.key])
                if reason is not None:
                    result.drops[reason] += 1
                    continue
                kept_norm[task.key].add(normalize(pair[0]))
                candidates.append((task, pair))
        _accept(candidates, accepted, result, attempt, embedder, min_similarity)
    result.short_tasks = sum(len(accepted[t.key]) < t.wanted for t in tasks)
    for task in tasks:
        result.pairs.extend(accepted[task.key][: task.wanted])
    return result


def _accept(
    candidates: list[tuple[Task, tuple[str, str, str]]],
    accepted: dict[str, list[GeneratedPair]],
    result: GenerationResult,
    attempt: int,
    embedder: Any,
    min_similarity: float,
) -> None:
    sims: list[float | None] = [None] * len(candidates)
    if embedder is not None and min_similarity > 0 and candidates:
        values = cosine_similarities(
            embedder, [f"{q} {a}" for _, (q, a, _) in candidates], [task.grounding for task, _ in candidates]
        )
        sims = [float(v) for v in values]
    for (task, (question, answer, difficulty)), sim in zip(candidates, sims):
        if sim is not None and sim < min_similarity:
            result.drops["low_similarity"] += 1
            continue
        if len(accepted[task.key]) >= task.wanted:
            continue  # enough already: surplus pairs are neither kept nor drops
        accepted[task.key].append(
            GeneratedPair(
                task.key,
                task.source_chunk_ids,
                question,
                answer,
                difficulty,
                attempt,
                None if sim is None else round(sim, 4),
            )
        )
