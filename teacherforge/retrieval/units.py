"""Index rows smaller than chunks: sentence-window retrieval (``retrieval.unit: sentence``).

Small units match a query more sharply than a whole chunk, but a single sentence is too little
to answer from. Each sentence of a chunk becomes one row that is *matched* on the sentence alone
(``metadata["match"]``) and *returns* its window (``text``): itself and ``window`` sentences each
side, within the chunk, as the chunk's text spells them. A row keeps its chunk's id, so gold
matching, paraphrase mapping and the one-hit-per-chunk rule work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from teacherforge.sentences import sentences
from teacherforge.types import Chunk

MATCH_KEY = "match"


def sentence_windows(chunk: Chunk, window: int) -> list[Chunk]:
    """One row per sentence of ``chunk``: matched on the sentence, returning its window.

    >>> rows = sentence_windows(Chunk("d-1", "d", "d.md", "A pump failed. The crew saw it. Power fell."), 1)
    >>> [(r.metadata["match"], r.text) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
    [('A pump failed.', 'A pump failed. The crew saw it.'),
     ('The crew saw it.', 'A pump failed. The crew saw it. Power fell.'),
     ('Power fell.', 'The crew saw it. Power fell.')]
    """
    spans = [(start, start + len(sentence), sentence) for start, sentence in sentences(chunk.text)]
    if not spans:
        return [chunk]
    rows = []
    for i, (_, _, sentence) in enumerate(spans):
        first, last = spans[max(0, i - window)], spans[min(len(spans) - 1, i + window)]
        rows.append(
            Chunk(
                chunk_id=chunk.chunk_id,
                doc_id=chunk.doc_id,
                source=chunk.source,
                text=chunk.text[first[0] : last[1]],
                start_char=chunk.start_char + first[0],
                end_char=chunk.start_char + last[1],
                metadata={**chunk.metadata, MATCH_KEY: sentence},
            )
        )
    return rows


def index_rows(chunks: Sequence[Chunk], unit: str, window: int) -> list[Chunk]:
    """The rows an index holds for ``chunks``: the chunks themselves, or their sentence windows."""
    if unit == "chunk":
        return list(chunks)
    return [row for chunk in chunks for row in sentence_windows(chunk, window)]


def match_text(row: Chunk) -> str:
    """The text a row is matched on (embedded and BM25-indexed): its sentence, or its whole text."""
    return row.metadata.get(MATCH_KEY, row.text)
