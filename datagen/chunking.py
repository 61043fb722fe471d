"""Split documents into chunks by characters or tokens, with overlap, at natural boundaries.

With ``respect_boundaries`` a chunk ends at the last paragraph break inside the second half
of its window, else the last sentence end, else a line break, else a space, else a hard
cut (rule-based regexes; no NLTK/spaCy). Without it, chunks are hard cuts of exactly
``size`` units (AutoDidact's setting: 1,000 characters, no overlap). Chunk ids are
``<doc_id>-<content id>``, the content id a hash of the chunk's text (:func:`chunk_id`), so
the id of unchanged text stays the same across reruns, also when other text of the document
or other documents were added, edited or removed; ``start_char``/``end_char`` index into the
document text.

>>> from types import SimpleNamespace
>>> from teacherforge.config import ChunkingConfig
>>> doc = SimpleNamespace(doc_id="d", source="d.txt", text="abcdefghij" * 25, metadata={})
>>> cfg = ChunkingConfig(size=100, overlap=0, min_chars=1, respect_boundaries=False)
>>> [(c.chunk_id == chunk_id("d", c.text), len(c.text)) for c in chunk_document(doc, cfg)]
[(True, 100), (True, 100), (True, 50)]
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from teacherforge.config import ChunkingConfig
from teacherforge.types import Chunk
from teacherforge.workspace import stable_hash

# Boundary kinds in order of preference: the position *after* the match is the cut.
PARAGRAPH = re.compile(r"\n[ \t]*\n\s*|\n(?=#{1,6} )")
SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
LINE = re.compile(r"\n\s*")
SPACE = re.compile(r"\s+")
BOUNDARIES = (PARAGRAPH, SENTENCE, LINE, SPACE)


class DocumentLike(Protocol):
    """What the chunker needs from a document (``teacherforge.datagen.loaders.Document``)."""

    doc_id: str
    source: str
    text: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class ChunkingResult:
    """The kept chunks of a corpus, the number dropped per reason (``too_short``, ``duplicate``) and
    the documents that kept no chunk at all (``emptied``: doc id → one-line reason)."""

    chunks: list[Chunk]
    dropped: dict[str, int] = field(default_factory=dict)
    emptied: dict[str, str] = field(default_factory=dict)


def chunk_id(doc_id: str, text: str) -> str:
    """The id of a chunk of ``doc_id`` holding ``text``: the document id and a hash of the text.

    >>> chunk_id("guide.md", "Pump the fuel.")
    'guide.md-5ea5b5276c'
    """
    return f"{doc_id}-{stable_hash(text, 10)}"


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str) -> Any:
    """The Hugging Face tokenizer of an embedder (``minilm``, a model id or a local path)."""
    from transformers import AutoTokenizer

    from teacherforge.models import embedder_path

    return AutoTokenizer.from_pretrained(embedder_path(name))


class _Units:
    """Measures windows in characters or tokens over one text."""

    def __init__(self, text: str, cfg: ChunkingConfig, tokenizer: Any = None) -> None:
        self.size, self.overlap = cfg.size, cfg.overlap
        self.n = len(text)
        self.starts: list[int] | None = None
        if cfg.unit == "tokens":
            tokenizer = tokenizer or load_tokenizer(cfg.tokenizer)
            encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
            offsets = [tuple(o) for o in encoded["offset_mapping"] if o[1] > o[0]]
            self.starts = [o[0] for o in offsets]
            self.ends = [o[1] for o in offsets]

    def limit(self, start: int) -> int:
        """The furthest end (exclusive char offset) of a chunk starting at ``start``."""
        if self.starts is None:
            return min(self.n, start + self.size)
        first = bisect.bisect_left(self.starts, start)
        last = first + self.size - 1
        return self.n if last >= len(self.ends) else self.ends[last]

    def back(self, cut: int) -> int:
        """Where the next chunk starts: ``overlap`` units before ``cut``."""
        if self.starts is None:
            return cut - self.overlap
        index = bisect.bisect_left(self.starts, cut) - self.overlap
        return self.starts[max(index, 0)] if self.starts else cut


def _best_cut(text: str, low: int, high: int) -> int:
    """The end of the last preferred boundary match ending in ``(low, high]``, else ``high``."""
    window = text[low:high]
    for pattern in BOUNDARIES:
        ends = [m.end() for m in pattern.finditer(window) if m.start() > 0]
        if ends:
            return low + ends[-1]
    return high


def _spans(text: str, cfg: ChunkingConfig, tokenizer: Any = None) -> list[tuple[int, int]]:
    """(start, end) char spans of the chunks of ``text``, before any dropping."""
    units = _Units(text, cfg, tokenizer)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        if cfg.respect_boundaries:
            start += len(text[start:]) - len(text[start:].lstrip())  # never start on whitespace
            if start >= len(text):
                break
        limit = units.limit(start)
        if limit >= len(text) or not cfg.respect_boundaries:
            cut = limit
        else:
            cut = _best_cut(text, start + (limit - start) // 2, limit)
            if 0 < len(text[cut:].strip()) < cfg.min_chars:
                cut = len(text)  # fold a tiny tail into this chunk rather than drop it
        spans.append((start, cut))
        if cut >= len(text):
            break
        nxt = units.back(cut) if cfg.overlap else cut
        if cfg.respect_boundaries and cfg.overlap:
            space = SPACE.search(text, nxt, cut)  # begin the overlap at a word start
            nxt = space.end() if space and space.end() < cut else nxt
        start = nxt if nxt > start else cut
    return spans


def _candidates(doc: DocumentLike, cfg: ChunkingConfig, tokenizer: Any = None) -> list[Chunk]:
    chunks = []
    for start, end in _spans(doc.text, cfg, tokenizer):
        piece = doc.text[start:end]
        if cfg.respect_boundaries:  # trim whitespace, keep offsets exact
            lead = len(piece) - len(piece.lstrip())
            piece = piece.strip()
            start, end = start + lead, start + lead + len(piece)
        chunks.append(
            Chunk(
                chunk_id=chunk_id(doc.doc_id, piece),
                doc_id=doc.doc_id,
                source=doc.source,
                text=piece,
                start_char=start,
                end_char=end,
                metadata=dict(doc.metadata or {}),
            )
        )
    return chunks


def chunk_document(doc: DocumentLike, cfg: ChunkingConfig, tokenizer: Any = None) -> list[Chunk]:
    """Chunks of one document, chunks shorter than ``cfg.min_chars`` left out.

    ``tokenizer`` (unit ``tokens``) defaults to the tokenizer of ``cfg.tokenizer``.
    """
    return [c for c in _candidates(doc, cfg, tokenizer) if len(c.text) >= cfg.min_chars]


def chunk_documents(
    docs: Iterable[DocumentLike],
    cfg: ChunkingConfig,
    tokenizer: Any = None,
    progress: Callable[[Sequence[Any]], Iterable[Any]] | None = None,
) -> ChunkingResult:
    """Chunk every document; drop tiny chunks and exact duplicates (first kept), with counts.

    >>> from types import SimpleNamespace
    >>> from teacherforge.config import ChunkingConfig
    >>> docs = [SimpleNamespace(doc_id=i, source=i, text="Same text here. " * 5, metadata={}) for i in "ab"]
    >>> result = chunk_documents(docs, ChunkingConfig(size=200, min_chars=10))
    >>> [c.doc_id for c in result.chunks], result.dropped
    (['a'], {'too_short': 0, 'duplicate': 1})
    >>> result.emptied
    {'b': 'every chunk duplicates text of a'}
    """
    docs = list(docs)
    dropped = {"too_short": 0, "duplicate": 0}
    owner: dict[str, str] = {}  # chunk text → the document that kept it
    kept: list[Chunk] = []
    emptied: dict[str, str] = {}
    for doc in progress(docs) if progress else docs:
        before, short, copied = len(kept), 0, []
        for chunk in _candidates(doc, cfg, tokenizer):
            if len(chunk.text) < cfg.min_chars:
                dropped["too_short"] += 1
                short += 1
            elif chunk.text in owner:
                dropped["duplicate"] += 1
                copied.append(owner[chunk.text])
            else:
                owner[chunk.text] = str(doc.doc_id)
                kept.append(chunk)
        if len(kept) == before:
            emptied[str(doc.doc_id)] = _emptied_reason(len(doc.text.strip()), short, copied, cfg.min_chars)
    return ChunkingResult(chunks=kept, dropped=dropped, emptied=emptied)


def _emptied_reason(chars: int, short: int, copied: list[str], min_chars: int) -> str:
    """Why a document kept no chunk, in one line."""
    owners = ", ".join(dict.fromkeys(copied))
    if copied and not short:
        return f"every chunk duplicates text of {owners}"
    if short and not copied:
        return f"too short: {chars} characters, under datagen.chunking.min_chars={min_chars}"
    if copied:
        return f"every chunk too short (datagen.chunking.min_chars={min_chars}) or a duplicate of {owners}"
    return "no text to chunk"
