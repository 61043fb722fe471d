"""A corpus that changes (a rerun after documents were added, edited and removed redoes only the new text),
and the embedder fine-tune step that the indexes then use.

Real MiniLM embeddings (the reuse under test is the embedding store's), the scripted LLM at the
backend boundary, the toy corpus of :func:`make_corpus`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from teacherforge.config import load_config
from teacherforge.datagen import pipeline
from teacherforge.records import load_questions
from teacherforge.retrieval import Embedder
from teacherforge.run import RunLayout
from teacherforge.workspace import read_json, read_jsonl
from tests.datagen._datagen_fakes import OVERRIDES, make_corpus


def _run(corpus: Path, run: Path, *extra: str) -> dict:
    config = load_config(
        None,
        [
            *OVERRIDES,
            "datagen.llm.model=tests.datagen._datagen_fakes:scripted_backend",
            "datagen.window=0",  # a question prompt is its chunk alone, so it changes only with it
            "retrieval.bm25_stemmer=none",
            f"datagen.corpus={corpus}",
            f"run_dir={run}",
            *extra,
        ],
    )
    return pipeline.run_datagen(config, progress=False, print_summary=False)


def _chunks(run: Path) -> dict[str, dict]:
    return {c["chunk_id"]: c for c in read_jsonl(run / "chunks.jsonl")}


def test_rerun_after_add_edit_remove_keeps_unchanged_work(tmp_path: Path) -> None:
    corpus, run = tmp_path / "corpus", tmp_path / "run"
    make_corpus(corpus)
    first = _run(corpus, run)
    before = _chunks(run)
    questions_before = {q.id: q for q in load_questions(run / "questions.json")}
    paraphrases_before = {
        (p["chunk_id"], p["style"]): p["text"] for p in read_jsonl(run / "paraphrases.jsonl")
    }

    doc0 = corpus / "doc0.md"
    doc0.write_text(doc0.read_text(encoding="utf-8") + " The valve was replaced in May.", encoding="utf-8")
    os.remove(corpus / "doc2.md")
    (corpus / "doc3.md").write_text(
        "The Docking subsystem report describes a latch test near Houston in 1971. "
        "Engineers measured 301 units during the final docking test of the year.",
        encoding="utf-8",
    )
    second = _run(corpus, run)
    after = _chunks(run)

    kept = before.keys() & after.keys()
    new = after.keys() - before.keys()
    changes = second["steps"]["chunk"]["changes"]
    assert changes == {
        "documents_added": 1,
        "documents_edited": 1,
        "documents_removed": 1,
        "documents_unchanged": 1,
        "chunks_new": len(new),
        "chunks_removed": len(before.keys() - after.keys()),
        "chunks_kept": len(kept),
    }
    assert {before[c]["doc_id"] for c in kept} == {"doc0.md", "doc1.md"}  # unchanged text keeps its id
    assert all(after[c]["doc_id"] != "doc2.md" for c in after)
    assert {after[c]["doc_id"] for c in new} == {"doc0.md", "doc3.md"}
    assert "changes since the last build: documents 1 added, 1 edited, 1 removed" in pipeline.format_summary(
        second
    )

    # every kept chunk: the same questions (ids, text, answers) in the same split
    questions_after = {q.id: q for q in load_questions(run / "questions.json")}
    for qid, q in questions_before.items():
        if q.chunk_id in kept:
            assert questions_after[qid] == q
    # embeddings and paraphrases of kept chunks are reused; only new text is embedded or paraphrased
    index = second["steps"]["index"]["counts"]
    assert index["embeddings_reused"] == len(kept) and index["rows"] == len(after)
    assert second["steps"]["paraphrases"]["cache_hits"] >= len(kept)
    paraphrases_after = {
        (p["chunk_id"], p["style"]): p["text"] for p in read_jsonl(run / "paraphrases.jsonl")
    }
    assert all(paraphrases_after[key] == text for key, text in paraphrases_before.items() if key[0] in kept)
    assert second["llm_completions"] < first["llm_completions"]


@pytest.mark.slow
def test_embedder_finetune_step_trains_on_train_questions_only_and_the_run_searches_with_it(
    tmp_path: Path,
) -> None:
    corpus, run = tmp_path / "corpus", tmp_path / "run"
    make_corpus(corpus)
    extra = [
        "datagen.embedder_finetune.enabled=true",
        "datagen.embedder_finetune.epochs=1",
        "datagen.embedder_finetune.min_questions=2",
        "datagen.paraphrase.enabled=false",
    ]
    summary = _run(corpus, run, *extra)
    assert summary["steps"]["embedder"]["counts"]["pairs"] > 0
    layout = RunLayout(run)
    used = set(read_json(layout.tuned_embedder / "finetune.json")["question_ids"])
    splits = {q.id: q.split for q in load_questions(run / "questions.json")}
    assert used and {splits[q] for q in used} == {"train"}
    assert used == {q for q, s in splits.items() if s == "train"}
    config = load_config(None, [f"run_dir={run}", "retrieval.bm25_stemmer=none"])
    retriever = layout.retriever("original", config.retrieval)
    tuned = Embedder(str(layout.tuned_embedder))
    assert retriever.embedder.identity == tuned.identity != Embedder("minilm").identity
    assert retriever.search(["Oxygen subsystem report"], 1)[0]
    assert _run(corpus, run, *extra)["status"] == "skipped"  # a rerun trains nothing
