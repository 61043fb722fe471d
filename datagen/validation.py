"""Checks shared by the generation steps: refusals, copies, and answers grounded in a chunk.

Every generated text (a question/answer pair, a paraphrase) passes through these before it is
kept, and every rejection gets one reason from :data:`DROP_REASONS`, so the manifest can say
what was dropped and why. The refusal detector (:func:`teacherforge.rag.is_refusal`) is shared
with evaluation and lives in core.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from teacherforge.retrieval import Embedder

#: Every reason a generated item can be dropped for (the manifest counts them by these names).
DROP_REASONS = (
    "malformed",  # the output could not be parsed (not JSON, not tagged)
    "empty",  # a question, answer or paraphrase is empty
    "refusal",  # matches the refusal detector
    "copy",  # a copy of the chunk instead of a question or a rewrite
    "answer_not_in_chunk",  # the answer is not supported by the chunk's words
    "answer_in_question",  # the question gives its own answer away
    "answer_too_long",  # the answer is longer than MAX_ANSWER_WORDS
    "low_similarity",  # embedding cosine below the threshold (off-topic)
    "duplicate",  # the same question was already kept for this chunk
    "truncated",  # generation hit max_new_tokens before the text ended
)

#: Answers longer than this many words are dropped (``answer_too_long``).
MAX_ANSWER_WORDS = 30
#: Share of a candidate's word trigrams found in the source at which it counts as a copy.
COPY_THRESHOLD = 0.9
#: Share of an answer's content words that must occur in the chunk (lexical support).
LEXICAL_SUPPORT = 0.75

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "into",
        "than",
        "then",
        "there",
        "their",
        "they",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "why",
        "how",
        "did",
        "do",
        "does",
        "has",
        "have",
        "had",
        "not",
        "no",
        "yes",
    ]
)
_WORD_RE = re.compile(r"[^\W_]+(?:[.,:/-][^\W_]+)*")


def normalize(text: str) -> str:
    """Lower-case, NFKC-normalised text with runs of whitespace collapsed.

    >>> normalize("  Water\\n PUMP  2 ")
    'water pump 2'
    """
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def words(text: str) -> list[str]:
    """The word tokens of ``text`` (lower case; numbers like ``14:05`` or ``2.5`` stay whole).

    >>> words("At 14:05, pump pressure fell to 0.5 bar.")
    ['at', '14:05', 'pump', 'pressure', 'fell', 'to', '0.5', 'bar']
    """
    return _WORD_RE.findall(normalize(text))


def content_words(text: str) -> list[str]:
    """:func:`words` without stop words.

    >>> content_words("What was the pressure of the pump?")
    ['pressure', 'pump']
    """
    return [w for w in words(text) if w not in _STOPWORDS]


def copy_ratio(candidate: str, source: str) -> float:
    """Share of ``candidate``'s word trigrams that also occur in ``source`` (0..1).

    Candidates of fewer than three words score 1.0 when they equal ``source`` word for word.

    >>> copy_ratio("the pump failed at 14:05", "Then the pump failed at 14:05 exactly.")
    1.0
    >>> copy_ratio("Which pump failed?", "Then the pump failed at 14:05 exactly.")
    0.0
    """
    cand, src = words(candidate), words(source)
    if len(cand) < 3:
        return 1.0 if cand and cand == src else 0.0
    grams = [tuple(cand[i : i + 3]) for i in range(len(cand) - 2)]
    source_grams = {tuple(src[i : i + 3]) for i in range(len(src) - 2)}
    return sum(g in source_grams for g in grams) / len(grams)


def is_copy(candidate: str, source: str, threshold: float = COPY_THRESHOLD) -> bool:
    """True when ``candidate`` is (almost) a verbatim copy of part of ``source``.

    >>> is_copy("The water pump failed at 14:05.", "At first the water pump failed at 14:05.")
    True
    >>> is_copy("When did the water pump fail?", "At first the water pump failed at 14:05.")
    False
    """
    return copy_ratio(candidate, source) >= threshold


def lexically_supported(answer: str, chunk: str, min_share: float = LEXICAL_SUPPORT) -> bool:
    """True when ``answer`` occurs in ``chunk`` (normalised) or ``min_share`` of its content words do.

    >>> lexically_supported("55 hours", "The pump failed at about 55 hours into the test.")
    True
    >>> lexically_supported("the river crossing", "The pump failed at about 55 hours into the test.")
    False
    """
    answer_norm = normalize(answer).strip(" .,;:!?\"'")
    if not answer_norm:
        return False
    if answer_norm in normalize(chunk):
        return True
    needed = content_words(answer) or words(answer)
    if not needed:
        return False
    present = set(words(chunk))
    return sum(w in present for w in needed) / len(needed) >= min_share


def gives_answer_away(question: str, answer: str) -> bool:
    """True when the question contains its own (non-trivial) answer verbatim.

    >>> gives_answer_away("Was water pump 2 the pump that failed?", "water pump 2")
    True
    >>> gives_answer_away("Which pump failed?", "water pump 2")
    False
    """
    answer_words = words(answer)
    if not content_words(answer):
        return False
    return f" {' '.join(answer_words)} " in f" {' '.join(words(question))} "


def cosine_similarities(embedder: Embedder, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
    """Row-wise cosine similarity of two equally long text lists, one ``encode`` call each.

    The embedder returns L2-normalised vectors, so the cosine is a dot product.
    """
    if len(texts_a) != len(texts_b):
        raise ValueError(f"cosine_similarities: {len(texts_a)} texts vs {len(texts_b)} texts")
    if not texts_a:
        return np.zeros(0, dtype=np.float32)
    a = embedder.encode(list(texts_a))
    b = embedder.encode(list(texts_b))
    return np.sum(a * b, axis=1).astype(np.float32)
