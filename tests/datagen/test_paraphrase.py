"""Paraphrase filter with a scripted paraphraser: refusals, copies and off-topic rewrites rejected; the
paraphrased index maps rows back to the original chunk ids."""

from __future__ import annotations

import doctest
from collections import Counter

from teacherforge.config import RetrievalConfig
from teacherforge.datagen import paraphrase
from teacherforge.datagen.paraphrase import clean_paraphrase, index_rows, paraphrase_chunks
from teacherforge.llm import FakeBackend, prompt_text
from teacherforge.retrieval import Retriever
from teacherforge.types import Chunk, GenerationParams
from tests.datagen._datagen_fakes import HashEmbedder

CHUNKS = [
    Chunk(
        "r-0",
        "r",
        "r.md",
        "The oxygen tank two pressure fell to zero at fifty five hours after the loud bang.",
    ),
    Chunk(
        "r-1",
        "r",
        "r.md",
        "The lunar module batteries powered the spacecraft during the long return to earth.",
    ),
    Chunk(
        "r-2",
        "r",
        "r.md",
        "Recovery forces aboard the ship Iwo Jima picked up the crew in the Pacific ocean.",
    ),
    Chunk(
        "r-3", "r", "r.md", "The carbon dioxide filters were adapted with tape and plastic bags by the crew."
    ),
]
SCRIPT = {
    "oxygen": "I'm sorry, but as an AI language model I cannot rewrite this passage.",
    "lunar": CHUNKS[1].text,  # a copy
    "Recovery": "Bananas are a popular fruit rich in potassium and eaten around the world.",  # off-topic
    "carbon": "Sure! Here is the rewritten passage:\nUsing tape and plastic bags, the crew adapted the carbon "
    "dioxide filters improvised by hand.",
}


def _respond(prompt, sample_index):
    passage = prompt_text(prompt).split("Passage:\n", 1)[1]
    return next(text for key, text in SCRIPT.items() if key in passage)


def _run(max_retries=1, **kw):
    backend = FakeBackend(_respond)
    result = paraphrase_chunks(
        CHUNKS,
        backend,
        HashEmbedder(),
        styles=["plain"],
        params=GenerationParams(max_new_tokens=128, temperature=0.7, seed=0),
        min_similarity=0.5,
        max_retries=max_retries,
        batch_size=8,
        progress=False,
        **kw,
    )
    return backend, result


def test_refusal_copy_and_off_topic_rejected_with_reasons_and_retried():
    backend, result = _run(max_retries=1)
    assert result.drops == Counter({"refusal": 2, "copy": 2, "low_similarity": 2})
    assert backend.generate_calls == 2 and len(backend.calls) == 4 + 3  # only rejected ones are retried
    accepted = [r for r in result.rows if r["accepted"]]
    assert [(r["chunk_id"], r["style"]) for r in accepted] == [("r-3", "plain")]
    assert accepted[0]["text"].startswith("Using tape")  # the chatty preamble is stripped
    assert accepted[0]["similarity"] >= 0.5
    fallback = {r["chunk_id"] for r in result.rows if r["fallback"]}
    assert fallback == {"r-0", "r-1", "r-2"}
    counts = result.counts(len(CHUNKS))
    assert counts["coverage"] == 0.25 and counts["fallback_chunks"] == 3
    assert counts["accepted_refusal_share"] == 0.0


def test_paraphrased_index_returns_the_original_chunk_id(tmp_path):
    _, result = _run()
    rows = index_rows(result.rows, CHUNKS)
    assert sorted(c.chunk_id for c in rows) == ["r-0", "r-1", "r-2", "r-3"]  # every chunk still answerable
    embedder = HashEmbedder()
    Retriever.build(rows, RetrievalConfig(kind="bm25", bm25_stemmer="none"), embedder=embedder).save(
        tmp_path / "ix"
    )
    retriever = Retriever.load(tmp_path / "ix", embedder=embedder)
    hit = retriever.search(["improvised by hand"], k=1)[0][0]  # words only the paraphrase has
    assert hit.chunk_id == "r-3" and "improvised" in hit.text
    fallback_hit = retriever.search(["Iwo Jima recovery ship"], k=1)[0][0]
    assert fallback_hit.chunk_id == "r-2" and fallback_hit.text == CHUNKS[2].text


def test_max_chunks_paraphrases_only_the_first_chunks():
    backend, result = _run(max_retries=0, max_chunks=2)
    assert len(backend.calls) == 2
    reasons = {r["chunk_id"]: r["reason"] for r in result.rows if r["fallback"]}
    assert reasons == {
        "r-0": "no_accepted_paraphrase",
        "r-1": "no_accepted_paraphrase",
        "r-2": "not_paraphrased",
        "r-3": "not_paraphrased",
    }


def test_clean_paraphrase_and_doctests():
    assert clean_paraphrase("```\nRewritten text: The tank broke.\n```") == "The tank broke."
    assert doctest.testmod(paraphrase).failed == 0
