"""Find the chunk an imported question is about, by its supporting text or its answer.

Imported question sets (AutoDidact, ReZero, Search-R1, plain JSONL) do not carry our chunk
ids, so each question is mapped lexically onto the run dir's ``chunks.jsonl``:

1. each supporting text: the chunk that contains it verbatim (after whitespace/case
   normalisation), else the two consecutive chunks of one document it runs across verbatim
   (both are kept), else the chunk with the highest idf-weighted word coverage
   (``support_exact`` / ``support_span`` / ``support_overlap``);
2. otherwise each answer: the chunks containing it as a whole-word span; several candidates
   are ranked by how much of the question they cover (``answer_exact``); if none contains
   it, the chunk covering most of the answer's words (``answer_overlap``).

A match below ``min_score`` is no match; the caller reports the question as dropped.

>>> from teacherforge.types import Chunk
>>> m = ChunkMatcher([Chunk("a-0", "a", "a", "The boiler held 300 psi."), Chunk("a-1", "a", "a", "Opening was at 13:13.")])
>>> found = m.match("When was the opening?", ("13:13",))
>>> found.chunk_id, found.method, found.score
('a-1', 'answer_exact', 1.0)
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from teacherforge.datagen.validation import content_words, normalize, words
from teacherforge.types import Chunk


@dataclass(frozen=True)
class Match:
    """Where a question landed: the answer chunk, every supporting chunk, how and how well."""

    chunk_id: str
    source_chunk_ids: tuple[str, ...]
    method: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``metadata.match`` record of an imported question."""
        return {"method": self.method, "score": round(self.score, 4), **self.details}


class NoMatch(ValueError):
    """No chunk matched well enough; the message is the drop reason's detail."""


class ChunkMatcher:
    """Lexical lookup of texts in a fixed list of chunks (exact spans and idf-weighted overlap)."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = list(chunks)
        self._texts = [normalize(c.text) for c in self.chunks]
        self._starts: list[int] = []
        pos = 0
        for text in self._texts:
            self._starts.append(pos)
            pos += len(text) + 1
        self._haystack = "\x00".join(self._texts)
        self._postings: dict[str, set[int]] = defaultdict(set)
        self._sizes: list[int] = []
        for i, text in enumerate(self._texts):
            toks = set(words(text))
            self._sizes.append(len(toks))
            for tok in toks:
                self._postings[tok].add(i)
        self._pairs: tuple[list[int], list[int], str] | None = None  # built on first use
        n = max(len(self.chunks), 1)
        self._idf = {tok: math.log(1 + n / len(ids)) for tok, ids in self._postings.items()}
        self._default_idf = math.log(1 + n)

    # --- primitives -------------------------------------------------------------------

    def containing(self, text: str) -> list[int]:
        """Indices of chunks holding ``text`` as a whole-word span (case/space-insensitive)."""
        return _find(normalize(text), self._haystack, self._starts)

    def spanning(self, text: str) -> tuple[int, int] | None:
        """The first pair of consecutive chunks of one document that ``text`` runs across
        verbatim (whole words, case/space-insensitive), as indices; ``None`` if there is none.

        Chunks that overlap (``start_char``/``end_char``) are joined without repeating the overlap.
        """
        if self._pairs is None:
            self._pairs = self._pair_haystack()
        firsts, starts, haystack = self._pairs
        found = _find(normalize(text), haystack, starts)
        return (firsts[found[0]], firsts[found[0]] + 1) if found else None

    def _pair_haystack(self) -> tuple[list[int], list[int], str]:
        """Each consecutive same-document pair's joined text: (first index, start) per pair, text."""
        firsts: list[int] = []
        starts: list[int] = []
        parts: list[str] = []
        pos = 0
        for i, (cur, nxt) in enumerate(pairwise(self.chunks)):
            if cur.doc_id != nxt.doc_id:
                continue
            ordered = cur.start_char < nxt.start_char and cur.end_char < nxt.end_char
            overlap = max(0, cur.end_char - nxt.start_char) if ordered else 0
            tail = normalize(nxt.text[overlap:])
            if not tail:
                continue
            firsts.append(i)
            starts.append(pos)
            parts.append(f"{self._texts[i]} {tail}")
            pos += len(parts[-1]) + 1
        return firsts, starts, "\x00".join(parts)

    def coverage(
        self, text: str, candidates: Sequence[int] | None = None, content_only: bool = True
    ) -> list[tuple[float, int]]:
        """``(score, index)`` per chunk: the idf-weighted share of ``text``'s words in the chunk.

        Sorted best first (ties: earlier chunk first). ``candidates`` limits the chunks scored.
        """
        toks = set(content_words(text) if content_only else words(text)) or set(words(text))
        if not toks:
            return []
        weights = {t: self._idf.get(t, self._default_idf) for t in toks}
        total = sum(weights.values())
        scores: Counter[int] = Counter()
        allowed = None if candidates is None else set(candidates)
        for tok, weight in weights.items():
            for i in self._postings.get(tok, ()):
                if allowed is None or i in allowed:
                    scores[i] += weight
        ranked = [(s / total, i) for i, s in scores.items()]
        if allowed is not None:
            ranked += [(0.0, i) for i in allowed if i not in scores]
        return sorted(ranked, key=lambda si: (-si[0], si[1]))

    # --- the matching policy ----------------------------------------------------------

    def match(
        self, question: str, answers: Sequence[str], supports: Sequence[str] = (), min_score: float = 0.6
    ) -> Match:
        """Map one question onto chunks (see the module docstring); raises :class:`NoMatch`."""
        best_support = 0.0
        support_hits: list[tuple[int, str, float]] = []
        for text in supports:
            for hit in self._support(text, question):
                best_support = max(best_support, hit[2])
                if hit[2] >= min_score and all(hit[0] != h[0] for h in support_hits):
                    support_hits.append(hit)
        if support_hits:
            answer_chunks = {i for a in answers for i in self.containing(a)}
            primary = next((h for h in support_hits if h[0] in answer_chunks), support_hits[0])
            return Match(
                self.chunks[primary[0]].chunk_id,
                tuple(self.chunks[h[0]].chunk_id for h in support_hits),
                primary[1],
                primary[2],
                {"answer_in_chunk": primary[0] in answer_chunks, "supports": len(supports)},
            )
        best_answer = 0.0
        for exact_only in (True, False):  # any answer found verbatim beats a partial overlap of another
            for answer in answers:
                found = self._answer(question, answer, exact_only)
                if found is not None and found[2] >= min_score:
                    index, method, score, details = found
                    details["answer"] = answer
                    if supports:
                        details["support_unmatched"] = round(best_support, 4)
                    return Match(
                        self.chunks[index].chunk_id, (self.chunks[index].chunk_id,), method, score, details
                    )
                best_answer = max(best_answer, found[2] if found else 0.0)
        what = "supporting text or answer" if supports else "answer"
        raise NoMatch(
            f"no chunk contains the {what} (best overlap {max(best_support, best_answer):.2f} "
            f"< min_score {min_score})"
        )

    def _support(self, text: str, question: str) -> list[tuple[int, str, float]]:
        """``(index, method, score)`` of the chunk(s) a supporting text is in: one, or two it spans."""
        exact = self.containing(text)
        if exact:
            return [(self._prefer(exact, question), "support_exact", 1.0)]
        pair = self.spanning(text)
        if pair is not None:
            return [(i, "support_span", 1.0) for i in pair]
        ranked = self.coverage(text, content_only=False)
        if not ranked:
            return []
        n_words = len(set(words(text)))
        score, index = ranked[0]
        if n_words > self._sizes[index]:  # support longer than a chunk: how much of the chunk it covers
            ranked = sorted(
                ((self._chunk_in(i, text), i) for _, i in ranked[:20]), key=lambda si: (-si[0], si[1])
            )
            score, index = ranked[0]
        return [(index, "support_overlap", score)]

    def _chunk_in(self, index: int, text: str) -> float:
        """Share of a chunk's words that occur in ``text``."""
        toks = set(words(self._texts[index]))
        return len(toks & set(words(text))) / max(len(toks), 1)

    def _answer(
        self, question: str, answer: str, exact_only: bool
    ) -> tuple[int, str, float, dict[str, Any]] | None:
        exact = self.containing(answer)
        if exact:
            return self._prefer(exact, question), "answer_exact", 1.0, {"candidates": len(exact)}
        if exact_only:
            return None
        ranked = self.coverage(answer, content_only=False)
        if not ranked:
            return None
        top = ranked[0][0]
        tied = [i for s, i in ranked if s >= top - 1e-9]
        return self._prefer(tied, question), "answer_overlap", top, {"candidates": len(tied)}

    def _prefer(self, indices: Sequence[int], question: str) -> int:
        """Among candidate chunks, the one covering most of the question (first on ties)."""
        if len(indices) == 1:
            return indices[0]
        ranked = self.coverage(question, candidates=indices)
        return ranked[0][1] if ranked else indices[0]


def _find(needle: str, haystack: str, starts: Sequence[int]) -> list[int]:
    """Indices of the ``\\x00``-joined parts of ``haystack`` (beginning at ``starts``) that hold
    the normalised ``needle`` as a whole-word span, each once, in order."""
    if not needle:
        return []
    found: list[int] = []
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        before = haystack[start - 1] if start else " "
        after = haystack[end] if end < len(haystack) else " "
        if not (before.isalnum() and needle[0].isalnum()) and not (after.isalnum() and needle[-1].isalnum()):
            index = bisect.bisect_right(starts, start) - 1
            if not found or found[-1] != index:
                found.append(index)
        start = haystack.find(needle, start + 1)
    return found
