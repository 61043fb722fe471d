"""Groundedness: which sentences of an answer are supported by the retrieved chunks.

A sentence is *supported* when enough of its content words occur in the retrieved text
(lexical overlap, :func:`teacherforge.datagen.validation.words`) **or** its embedding is close
to one of the retrieved sentences (cosine ≥ ``embedding_threshold``, MiniLM by default) — the
second check accepts faithful rewordings the word overlap misses. Citation markers (``[1]``)
are ignored (:func:`teacherforge.rewards.answer.strip_citations`). The answer's groundedness
is the share of supported sentences; unsupported sentences are returned so reviewers see
exactly what was flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from teacherforge.datagen.validation import content_words, normalize, words
from teacherforge.rewards.answer import strip_citations

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
DEFAULT_EMBEDDING_THRESHOLD = 0.75


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (citations removed, empty pieces dropped).

    >>> split_sentences("Pump 2 failed [1]. The plant kept running [2, 3]! Ok")
    ['Pump 2 failed.', 'The plant kept running!', 'Ok']
    """
    cleaned = strip_citations(text)
    return [s.strip() for s in _SENTENCE_END.split(cleaned) if s.strip()]


def lexical_support(sentence: str, context_words: set[str], context_text: str = "") -> float:
    """Share of the sentence's content words (all words if it has none) found in the context;
    1.0 when the whole sentence occurs verbatim (normalised) in ``context_text``.

    >>> lexical_support("The water pump failed.", {"water", "pump", "failed"})
    1.0
    >>> lexical_support("The river crossing succeeded.", {"water", "pump", "failed"})
    0.0
    >>> lexical_support("7", set(), "figure 7.1-1 depicts the battery energy")
    1.0
    >>> lexical_support("7", set(), "figure 17 depicts the battery energy")
    0.0
    """
    bare = normalize(sentence).strip(" .,;:!?\"'")
    if bare and context_text and re.search(rf"(?<!\w){re.escape(bare)}(?!\w)", context_text):
        return 1.0
    needed = content_words(sentence) or words(sentence)
    if not needed:
        return 1.0
    return sum(w in context_words for w in needed) / len(needed)


@dataclass(frozen=True)
class Grounding:
    """Per-answer result: the score (share of supported sentences) and the unsupported ones."""

    score: float
    sentences: int
    unsupported: tuple[str, ...]
    lexical: tuple[float, ...]
    embedding: tuple[float, ...] | None


def check_groundedness(
    answers: Sequence[str],
    contexts: Sequence[Sequence[str]],
    *,
    lexical_threshold: float = 0.5,
    embedder: Any = None,
    embedding_threshold: float = DEFAULT_EMBEDDING_THRESHOLD,
) -> list[Grounding]:
    """Ground every answer in its context passages (one embed call for all sentences when ``embedder``).

    >>> [g.unsupported for g in check_groundedness(
    ...     ["Pump 2 failed [1]. Aliens caused it."], [["Water pump 2 failed at 14:05."]])]
    [('Aliens caused it.',)]
    """
    if len(answers) != len(contexts):
        raise ValueError(f"check_groundedness: {len(answers)} answers vs {len(contexts)} contexts")
    per_answer = [split_sentences(a) for a in answers]
    cosines: list[list[float]] | None = None
    if embedder is not None:
        cosines = _embedding_support(per_answer, contexts, embedder)
    out = []
    for i, (sentences, passages) in enumerate(zip(per_answer, contexts)):
        joined = normalize(" ".join(passages))
        vocab = set(words(joined))
        lexical = [lexical_support(s, vocab, joined) for s in sentences]
        emb = cosines[i] if cosines is not None else None
        supported = [
            lex >= lexical_threshold or (emb is not None and emb[j] >= embedding_threshold)
            for j, lex in enumerate(lexical)
        ]
        unsupported = tuple(s for s, ok in zip(sentences, supported) if not ok)
        score = sum(supported) / len(supported) if supported else 0.0
        out.append(
            Grounding(
                score=score,
                sentences=len(sentences),
                unsupported=unsupported,
                lexical=tuple(lexical),
                embedding=tuple(emb) if emb is not None else None,
            )
        )
    return out


def _embedding_support(
    per_answer: list[list[str]], contexts: Sequence[Sequence[str]], embedder: Any
) -> list[list[float]]:
    """Max cosine of every answer sentence to any sentence of its own context."""
    import numpy as np

    context_sents = [[s for p in passages for s in split_sentences(p)] for passages in contexts]
    flat = [s for group in per_answer for s in group] + [s for group in context_sents for s in group]
    if not flat:
        return [[] for _ in per_answer]
    vectors = embedder.encode(flat)
    offset = sum(len(g) for g in per_answer)
    a_pos, c_pos, out = 0, offset, []
    for sentences, ctx in zip(per_answer, context_sents):
        a = vectors[a_pos : a_pos + len(sentences)]
        c = vectors[c_pos : c_pos + len(ctx)]
        a_pos += len(sentences)
        c_pos += len(ctx)
        if len(ctx) == 0 or len(sentences) == 0:
            out.append([0.0] * len(sentences))
        else:
            out.append(np.max(a @ c.T, axis=1).astype(float).tolist())
    return out
