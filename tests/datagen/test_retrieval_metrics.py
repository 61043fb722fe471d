"""answer@k, gold recall@k, MRR and support@k on a real retriever over hand-made chunks (toy embedder)."""

from __future__ import annotations

import json

import pytest

from teacherforge.config import ConfigError, RetrievalConfig, load_config
from teacherforge.datagen.retrieval_choice import choose_retrieval
from teacherforge.datagen.retrieval_metrics import RetrievalQuery, measure, read_queries
from teacherforge.retrieval import Retriever
from teacherforge.types import Chunk
from tests.datagen._datagen_fakes import HashEmbedder

CHUNKS = [
    Chunk("a-1", "a", "a.md", "The north quay opened at dawn after the storm had passed over the harbour."),
    Chunk("a-2", "a", "a.md", "The south gate closed at dusk and the guards walked the outer wall."),
    Chunk("b-1", "b", "b.md", "Ferries left the north quay every hour; the last one sailed at midnight."),
]


@pytest.fixture()
def retriever() -> Retriever:
    config = RetrievalConfig(kind="bm25", bm25_stemmer="none")
    return Retriever.build(CHUNKS, config, embedder=HashEmbedder())


def test_figures_follow_the_ranks_the_retriever_returns(retriever: Retriever) -> None:
    queries = [
        RetrievalQuery("q1", "When did the north quay open after the storm?", "dawn", ("a-1",)),
        # the answer is in b-1, the gold is a-1: answered at 1, gold only lower or not at all
        RetrievalQuery("q2", "When did the last ferry sail from the north quay?", "midnight", ("a-1",)),
        RetrievalQuery(
            "q3",
            "Who walked the outer wall?",
            "the archers",
            ("a-2",),
            support="the guards walked the outer wall",
        ),
    ]
    hits = retriever.search([q.question for q in queries], 3)
    report = measure(retriever, queries, ks=(1, 3))
    gold_ranks = [
        next((h.rank for h in hs if h.chunk_id in q.gold_chunk_ids), None) for q, hs in zip(queries, hits)
    ]
    assert hits[0][0].chunk_id == "a-1" and hits[1][0].chunk_id == "b-1" and hits[2][0].chunk_id == "a-2"
    assert report["n"] == 3
    assert report["answer@1"] == pytest.approx(2 / 3) and report["answer@3"] == pytest.approx(2 / 3)
    assert report["misses"] == ["q3"]  # "the archers" is in no chunk
    assert report["recall@1"] == pytest.approx(2 / 3)  # q2's gold a-1 is not first
    assert report["recall@3"] == pytest.approx(sum(r is not None for r in gold_ranks) / 3)
    assert report["mrr"] == pytest.approx(sum(1 / r for r in gold_ranks if r) / 3)
    assert report["support@1"] == 1.0  # only q3 carries a passage, and its first hit holds it
    texts = [len(h.text) for hs in hits for h in hs]
    assert report["chars_per_hit"] == pytest.approx(sum(texts) / len(texts))


def test_a_set_without_gold_chunks_reports_none_for_gold_figures(retriever: Retriever) -> None:
    report = measure(retriever, [RetrievalQuery("q", "north quay dawn", "dawn")], ks=(1,))
    assert report["answer@1"] == 1.0
    assert report["recall@1"] is None and report["mrr"] is None and report["support@1"] is None


def test_question_files_name_the_line_and_field(tmp_path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        json.dumps({"question": "Who?", "answer": "Ada", "chunk_id": "d-1"})
        + "\n\n"
        + json.dumps({"question": "Q?"})
        + "\n"
    )
    with pytest.raises(ValueError, match=r"set.jsonl:3: field 'answer' must be a non-empty string"):
        read_queries(path)
    path.write_text(
        json.dumps([{"id": "x", "question": "Who?", "answer": "Ada", "gold_chunk_ids": ["d-1", "d-2"]}])
    )
    assert read_queries(path) == [RetrievalQuery("x", "Who?", "Ada", ("d-1", "d-2"))]


def test_auto_without_validation_questions_is_refused_by_name(retriever: Retriever) -> None:
    with pytest.raises(ConfigError, match=r"retrieval.kind: auto .* datagen.split_ratios"):
        load_config(None, ["retrieval.kind=auto", "datagen.split_ratios=[0.9,0.0,0.1]"])
    with pytest.raises(ValueError, match=r"retrieval.kind: auto found no validation questions"):
        choose_retrieval(retriever, [], RetrievalConfig())
