"""The optional cross-encoder stage, with a tiny random-weight CrossEncoder built here (none ships)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from teacherforge.config import RetrievalConfig
from teacherforge.retrieval import Retriever
from teacherforge.types import Chunk
from tests.core.test_retrieval import HashEmbedder

TEXTS = [f"Report {i}: the pump in bay {i} was checked, and valve {i} held its pressure." for i in range(12)]


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT sequence classifier (1 label, random weights) with MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from teacherforge.models import embedder_path

    out = tmp_path_factory.mktemp("cross_encoder")
    tokenizer = AutoTokenizer.from_pretrained(embedder_path("minilm"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_reranker_reorders_the_first_stage_candidates_by_its_own_scores(cross_encoder: Path) -> None:
    from sentence_transformers import CrossEncoder

    chunks = [Chunk(chunk_id=f"c{i}", doc_id="d", source="d", text=t) for i, t in enumerate(TEXTS)]
    plain = Retriever.build(chunks, RetrievalConfig(kind="bm25"), embedder=HashEmbedder())
    query = "pump in bay 7 pressure"
    candidates = plain.search([query], 8)[0]
    reranked = dataclasses.replace(plain.config, reranker=str(cross_encoder), rerank_candidates=8)
    plain.config = reranked
    hits = plain.search([query], 3)[0]
    expected = CrossEncoder(str(cross_encoder)).predict([(query, h.text) for h in candidates])
    by_score = sorted(range(len(candidates)), key=lambda i: (-float(expected[i]), i))[:3]
    assert [h.chunk_id for h in hits] == [candidates[i].chunk_id for i in by_score]
    assert [h.rank for h in hits] == [1, 2, 3]
    assert [h.score for h in hits] == pytest.approx([float(expected[i]) for i in by_score], abs=1e-5)
    assert all(0.0 <= h.score <= 1.0 for h in hits)  # a one-label model's sigmoid


def test_a_reranker_that_cannot_load_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    chunks = [Chunk(chunk_id="c0", doc_id="d", source="d", text=TEXTS[0])]
    config = RetrievalConfig(kind="bm25", reranker=str(tmp_path / "missing"))
    retriever = Retriever.build(chunks, config, embedder=HashEmbedder())
    with pytest.raises(ValueError, match=r"^retrieval\.reranker: cannot load cross-encoder") as info:
        retriever.search(["pump"], 1)
    assert "\n" not in str(info.value)
