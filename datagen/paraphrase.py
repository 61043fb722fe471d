"""Paraphrasing: every chunk rewritten per style by the LLM, filtered, and indexed under its original id.

A paraphrase is accepted only when it is not empty, not a refusal (the strict detector of
:mod:`teacherforge.datagen.validation`), not a copy of the chunk, and its embedding cosine to
the original is at least ``min_similarity`` (else ``low_similarity``: off-topic or drifted).
A rejected (chunk, style) is re-sampled up to ``max_retries`` times with a new seed. The
paraphrased index holds every accepted paraphrase with the original ``chunk_id``; a chunk
with none keeps its original text there, flagged ``"fallback": true`` in
``paraphrases.jsonl``, so every question stays answerable on either index.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from teacherforge.datagen.retry import count_usage, retry_batches
from teacherforge.datagen.validation import cosine_similarities, is_copy, words
from teacherforge.llm.base import LLMBackend
from teacherforge.rag import is_refusal
from teacherforge.types import Chunk, GenerationParams, Message

SYSTEM = "You rewrite passages of technical documents without changing their facts."
#: Instructions of the built-in styles; any other style name is used as "in a <style> style".
STYLES = {
    "plain": "Rewrite the passage in plain, simple words.",
    "concise": "Rewrite the passage more concisely.",
    "formal": "Rewrite the passage in a formal, technical register.",
    "questions": "Rewrite the passage as a list of the facts it states.",
}
TEMPLATE = """{instruction} Keep every fact, number and name. Reply with the rewritten passage only.

Passage:
{text}"""
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|okay|ok)[!,.]?\s*)?(?:here(?:'s| is| are)[^\n:]*:|(?:rewritten|paraphrased)"
    r"(?: passage| text| version)?:)\s*",
    re.IGNORECASE,
)


def paraphrase_prompt(chunk: Chunk, style: str) -> tuple[Message, ...]:
    """The chat prompt asking for ``chunk`` rewritten in ``style``.

    >>> paraphrase_prompt(Chunk("d-0", "d", "d", "Text."), "plain")[1].content.splitlines()[0]
    'Rewrite the passage in plain, simple words. Keep every fact, number and name. Reply with the rewritten passage only.'
    """
    instruction = STYLES.get(style, f"Rewrite the passage in a {style} style.")
    return (
        Message("system", SYSTEM),
        Message("user", TEMPLATE.format(instruction=instruction, text=chunk.text)),
    )


def clean_paraphrase(text: str) -> str:
    """Strip a chatty preamble ("Sure! Here is the rewritten passage:"), code fences and quotes.

    >>> clean_paraphrase('Sure! Here is the rewritten passage:\\n"The pump broke."')
    'The pump broke.'
    """
    text = re.sub(r"```\w*", "", text).strip()
    text = _PREAMBLE.sub("", text, count=1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def check_paraphrase(text: str, original: str) -> str | None:
    """The lexical drop reason of a cleaned paraphrase, or ``None`` (the similarity check comes later).

    >>> check_paraphrase("I'm sorry, I cannot rewrite this.", "The pump broke at 14:05 in the test.")
    'refusal'
    >>> check_paraphrase("The pump broke at 14:05 in the test.", "The pump broke at 14:05 in the test.")
    'copy'
    >>> check_paraphrase("At 14:05 during the test, the pump ruptured.", "The pump broke at 14:05 in the test.")
    """
    if not words(text):
        return "empty"
    if is_refusal(text):
        return "refusal"
    if is_copy(text, original):
        return "copy"
    return None


@dataclass
class ParaphraseResult:
    """``paraphrases.jsonl`` rows plus drops by reason, token usage and coverage."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    drops: Counter = field(default_factory=Counter)
    usage: Counter = field(default_factory=Counter)
    generate_calls: int = 0
    prompts_sent: int = 0

    @property
    def accepted(self) -> int:
        """Number of accepted paraphrases."""
        return sum(1 for r in self.rows if r["accepted"])

    def counts(self, n_chunks: int) -> dict[str, Any]:
        """Counts for the manifest: accepted, fallback chunks, coverage, refusal share of accepted."""
        covered = {r["chunk_id"] for r in self.rows if r["accepted"]}
        refusals = sum(1 for r in self.rows if r["accepted"] and is_refusal(r["text"]))
        return {
            "chunks": n_chunks,
            "paraphrases_accepted": self.accepted,
            "paraphrases_rejected": sum(1 for r in self.rows if not r["accepted"] and not r["fallback"]),
            "fallback_chunks": sum(1 for r in self.rows if r["fallback"]),
            "coverage": round(len(covered) / n_chunks, 4) if n_chunks else 0.0,
            "accepted_refusal_share": round(refusals / self.accepted, 4) if self.accepted else 0.0,
        }


def paraphrase_chunks(
    chunks: Sequence[Chunk],
    backend: LLMBackend,
    embedder: Any,
    *,
    styles: Sequence[str],
    params: GenerationParams,
    min_similarity: float,
    max_retries: int,
    batch_size: int,
    max_chunks: int = 0,
    progress: bool = True,
) -> ParaphraseResult:
    """Paraphrase ``chunks`` (the first ``max_chunks`` when > 0) in every style; see the module docstring.

    Attempt ``r`` samples with seed ``params.seed + r``; prompts go to the backend
    ``batch_size`` per ``generate`` call and the similarities of a batch in one embedding call.
    """
    result = ParaphraseResult()
    todo = list(chunks[:max_chunks] if max_chunks else chunks)
    final: dict[tuple[str, str], dict[str, Any]] = {}
    pending = [(chunk, style) for chunk in todo for style in styles]
    batches = retry_batches(
        pending,
        params,
        max_retries=max_retries,
        batch_size=batch_size,
        still_pending=lambda item: not final[(item[0].chunk_id, item[1])]["accepted"],
        desc="paraphrases",
        progress=progress,
    )
    for attempt, attempt_params, batch in batches:
        completions = backend.generate([paraphrase_prompt(c, s) for c, s in batch], attempt_params)
        result.generate_calls += 1
        result.prompts_sent += len(batch)
        texts = [clean_paraphrase(c.text) for c in completions]
        reasons = [check_paraphrase(t, c.text) for t, (c, _) in zip(texts, batch)]
        to_embed = [i for i, r in enumerate(reasons) if r is None]
        sims = cosine_similarities(
            embedder, [texts[i] for i in to_embed], [batch[i][0].text for i in to_embed]
        )
        similarity: dict[int, float] = {i: round(float(s), 4) for i, s in zip(to_embed, sims)}
        for i, ((chunk, style), completion) in enumerate(zip(batch, completions)):
            count_usage(result.usage, completion)
            reason = reasons[i]
            if reason is None and similarity[i] < min_similarity:
                reason = "low_similarity"
            if reason is not None:
                result.drops[reason] += 1
            final[(chunk.chunk_id, style)] = {
                "chunk_id": chunk.chunk_id,
                "paraphrase_id": f"{chunk.chunk_id}#{style}",
                "style": style,
                "text": texts[i],
                "similarity": similarity.get(i),
                "accepted": reason is None,
                "fallback": False,
                "reason": reason,
                "attempt": attempt,
            }
    for chunk in chunks:
        rows = [final[(chunk.chunk_id, s)] for s in styles if (chunk.chunk_id, s) in final]
        result.rows.extend(rows)
        if not any(r["accepted"] for r in rows):
            result.rows.append(
                {
                    "chunk_id": chunk.chunk_id,
                    "paraphrase_id": f"{chunk.chunk_id}#original",
                    "style": "original",
                    "text": chunk.text,
                    "similarity": 1.0,
                    "accepted": False,
                    "fallback": True,
                    "reason": "no_accepted_paraphrase" if rows else "not_paraphrased",
                    "attempt": None,
                }
            )
    return result


def index_rows(rows: Sequence[Mapping[str, Any]], chunks: Sequence[Chunk]) -> list[Chunk]:
    """Chunks for ``index_paraphrased/``: accepted and fallback rows, each under its original ``chunk_id``.

    >>> c = Chunk("d-0", "d", "d.md", "Original.")
    >>> rows = [{"chunk_id": "d-0", "paraphrase_id": "d-0#plain", "style": "plain", "text": "Rewritten.",
    ...          "accepted": True, "fallback": False}]
    >>> [(x.chunk_id, x.text) for x in index_rows(rows, [c])]
    [('d-0', 'Rewritten.')]
    """
    by_id = {c.chunk_id: c for c in chunks}
    out = []
    for row in rows:
        if not (row["accepted"] or row["fallback"]):
            continue
        original = by_id[row["chunk_id"]]
        out.append(
            dataclasses.replace(
                original,
                text=row["text"],
                metadata={
                    **original.metadata,
                    "paraphrase_id": row["paraphrase_id"],
                    "style": row["style"],
                    "fallback": bool(row["fallback"]),
                },
            )
        )
    return out
