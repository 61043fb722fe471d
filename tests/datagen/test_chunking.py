"""Chunking: sizes, overlap, boundaries, stable ids, offsets, drops, the AutoDidact setting."""

from __future__ import annotations

import doctest
import itertools

import pytest

import teacherforge.datagen.chunking as chunking
from teacherforge.config import ChunkingConfig
from teacherforge.datagen.chunking import chunk_document, chunk_documents, chunk_id
from teacherforge.datagen.loaders import Document


def doc(text: str, doc_id: str = "report.md") -> Document:
    return Document(doc_id=doc_id, source=f"/corpus/{doc_id}", text=text, metadata={"topic": "apollo"})


PARAGRAPHS = (
    "The oxygen tank failed at about 56 hours. The crew heard a loud bang. Pressure dropped fast.\n\n"
    "The lunar module served as a lifeboat for the return. Power was kept very low. It was cold.\n\n"
    "Carbon dioxide scrubbers from the command module were adapted. The crew built the adapter.\n\n"
    "Entry was normal and the capsule landed near the recovery ship. The crew was safe."
)


def test_doctests() -> None:
    assert doctest.testmod(chunking).failed == 0


def test_autodidact_setting_gives_exact_1000_char_chunks(apollo_text: str) -> None:
    cfg = ChunkingConfig(size=1000, overlap=0, respect_boundaries=False, min_chars=1)
    chunks = chunk_document(doc(apollo_text), cfg)
    assert [len(c.text) for c in chunks[:-1]] == [1000] * (len(chunks) - 1)
    assert 0 < len(chunks[-1].text) <= 1000
    assert "".join(c.text for c in chunks) == apollo_text  # hard cuts, nothing lost or repeated
    assert [c.start_char for c in chunks] == list(range(0, len(apollo_text), 1000))


def test_offsets_point_into_the_document_and_metadata_is_kept(apollo_text: str) -> None:
    for cfg in (ChunkingConfig(size=600, overlap=100), ChunkingConfig(size=400, overlap=0)):
        chunks = chunk_document(doc(apollo_text), cfg)
        assert chunks
        for c in chunks:
            assert apollo_text[c.start_char : c.end_char] == c.text
            assert (
                c.doc_id == "report.md"
                and c.source == "/corpus/report.md"
                and c.metadata == {"topic": "apollo"}
            )
            assert len(c.text) <= cfg.size + cfg.min_chars  # a tiny tail may be folded in


def test_boundaries_prefer_paragraphs_then_sentences() -> None:
    chunks = chunk_document(doc(PARAGRAPHS), ChunkingConfig(size=200, overlap=0, min_chars=10))
    assert len(chunks) >= 2
    for c in chunks:  # every chunk ends at a paragraph or sentence end
        assert c.text.endswith("."), c.text
        assert c.text[0].isupper()
    # paragraph break wins over a later sentence end inside the window
    first = chunk_document(doc(PARAGRAPHS), ChunkingConfig(size=150, overlap=0, min_chars=10))[0]
    assert first.text == PARAGRAPHS.split("\n\n")[0]


def test_sentence_boundary_when_no_paragraph_fits() -> None:
    text = " ".join(f"Sentence number {i} talks about the spacecraft systems." for i in range(20))
    chunks = chunk_document(doc(text), ChunkingConfig(size=180, overlap=0, min_chars=10))
    assert all(c.text.endswith("systems.") for c in chunks)
    assert all(c.text.startswith("Sentence number") for c in chunks)


def test_overlap_repeats_text_between_neighbours(apollo_text: str) -> None:
    cfg = ChunkingConfig(size=600, overlap=100)
    chunks = chunk_document(doc(apollo_text[:20_000]), cfg)
    overlaps = [a.end_char - b.start_char for a, b in itertools.pairwise(chunks)]
    assert all(0 <= o <= 100 for o in overlaps)
    assert sum(o > 50 for o in overlaps) > len(overlaps) // 2  # most neighbours really overlap
    hard = chunk_document(
        doc(apollo_text[:5_000]), ChunkingConfig(size=500, overlap=100, respect_boundaries=False)
    )
    assert [c.start_char for c in hard[:4]] == [0, 400, 800, 1200]
    assert all(len(c.text) == 500 for c in hard[:-1])


def test_no_overlap_covers_text_without_gaps(apollo_text: str) -> None:
    chunks = chunk_document(doc(apollo_text[:30_000]), ChunkingConfig(size=500, overlap=0, min_chars=1))
    for a, b in itertools.pairwise(chunks):
        assert a.end_char <= b.start_char
        assert apollo_text[a.end_char : b.start_char].strip() == ""  # only whitespace between chunks


def test_ids_are_content_ids_stable_when_text_around_them_changes(apollo_text: str) -> None:
    cfg = ChunkingConfig(size=500, overlap=0)
    first = chunk_document(doc(apollo_text[:10_000]), cfg)
    assert first == chunk_document(doc(apollo_text[:10_000]), cfg)
    assert [c.chunk_id for c in first] == [chunk_id("report.md", c.text) for c in first]
    assert len({c.chunk_id for c in first}) == len(first)
    # a paragraph put in front of the document: every chunk after the re-synchronised cut keeps its id
    edited = chunk_document(doc("A new opening paragraph, added later.\n\n" + apollo_text[:10_000]), cfg)
    kept = {c.chunk_id for c in first} & {c.chunk_id for c in edited}
    assert len(kept) >= len(first) - 2


def test_tiny_and_duplicate_chunks_dropped_with_counts() -> None:
    same = "A paragraph that is long enough to be kept as a chunk of its own."
    docs = [doc(same, "a.md"), doc(same, "b.md"), doc("tiny", "c.md"), doc("", "d.md")]
    result = chunk_documents(docs, ChunkingConfig(size=200, min_chars=20))
    assert [c.chunk_id for c in result.chunks] == [chunk_id("a.md", same)]
    assert result.dropped == {"too_short": 1, "duplicate": 1}
    assert chunk_document(doc("tiny"), ChunkingConfig(min_chars=20)) == []


def test_tiny_tail_is_folded_into_the_last_chunk() -> None:
    text = "First sentence is here and it is long. " * 5 + "\n\nEnd."
    chunks = chunk_document(doc(text), ChunkingConfig(size=200, overlap=0, min_chars=20))
    assert chunks[-1].text.endswith("End.")
    assert chunks[-1].end_char == len(text)


def test_token_units_use_the_embedder_tokenizer(apollo_text: str) -> None:
    tokenizer = chunking.load_tokenizer("minilm")
    cfg = ChunkingConfig(unit="tokens", size=64, overlap=8)
    chunks = chunk_document(doc(apollo_text[:6_000]), cfg, tokenizer=tokenizer)
    assert len(chunks) > 5
    for c in chunks:
        assert apollo_text[c.start_char : c.end_char] == c.text
        assert len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= 64 + 2
    assert any(a.end_char > b.start_char for a, b in itertools.pairwise(chunks))


@pytest.mark.parametrize("size,overlap", [(1, 0), (10, 9), (50, 0)])
def test_small_sizes_terminate(size: int, overlap: int) -> None:
    text = "word " * 40
    cfg = ChunkingConfig(size=size, overlap=overlap, min_chars=1)
    chunks = chunk_document(doc(text), cfg)
    assert chunks and all(text[c.start_char : c.end_char] == c.text for c in chunks)
