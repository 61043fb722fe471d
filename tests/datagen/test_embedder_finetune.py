"""Embedder fine-tuning: train-only triples with answer-free hard negatives, a real MiniLM fine-tune
that memorises its training queries, and a saved model the retriever's :class:`Embedder` loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from teacherforge.datagen.embedder_finetune import (
    FINETUNE_FILE,
    TrainingTriple,
    finetune_embedder,
    training_triples,
)
from teacherforge.records import Question
from teacherforge.types import Chunk

# Invented towns and customs. Each query names its fact by a made-up code phrase whose words sit in
# a *different* chunk, so the base model (and BM25) rank that distractor first: (text, code, answer).
FACTS = (
    ("The ferry of Ostrel leaves the north quay at dawn and carries salt, wool and letters to Brenmark.", "blue lantern", "north quay"),
    ("Herons nest on the roofs of Ostrel every spring; children count them by lantern light from the bell tower.", None, None),
    ("The weavers of Tamsk dye their cloth with crushed walnut shells, which gives it a deep brown.", "silent kettle", "walnut shells"),
    ("A silver kettle stands in the Tamsk guildhall; it is polished each year before the winter fair.", None, None),
    ("Brenmark's orchard keepers graft pear branches onto quince roots so the trees stay small.", "paper fox", "quince roots"),
    ("The fox hunts of Brenmark were banned by the town council after a fire in the paper mill.", None, None),
    ("In Haldor the night watch changes at the eleventh bell, and the captain signs a ledger in green ink.", "glass bottle", "eleventh bell"),
    ("Glassblowers in Haldor sell green bottles at the orchard market on market days.", None, None),
    ("The mountain road to Quellin closes when snow covers the third milestone; carts then wait at Dunmere.", "tin whistle", "third milestone"),
    ("Dunmere is famous for its tin whistles, carved flutes and a yearly music contest.", None, None),
    ("Quellin's cheesemakers age their wheels in limestone caves for exactly nineteen months.", "river clock", "nineteen months"),
    ("The river at Quellin runs past the old clock tower, whose hands stopped in a flood.", None, None),
    ("The library of Sorvane lends books for one moon-cycle and fines borrowers in dried figs.", "iron sparrow", "dried figs"),
    ("Iron railings around Sorvane's square are painted with sparrows by local schoolchildren.", None, None),
    ("Tolvik's granary opens on the ninth day after the first frost, when the miller rings a copper gong.", "amber staircase", "ninth day"),
    ("The amber stairs of Tolvik's chapel were carried up the hill one stone at a time.", None, None),
)  # fmt: skip
CHUNKS = [Chunk(f"town-{i}", "towns", "towns.md", text) for i, (text, _, _) in enumerate(FACTS)]
QUESTIONS = [
    Question(f"q{i}", f"town-{i}", f"What does the {code} refer to?", answer)
    for i, (_, code, answer) in enumerate(FACTS)
    if code
]


def _chunk(cid: str, text: str) -> Chunk:
    return Chunk(cid, "d", "d.md", text)


# ---------------------------------------------------------------------------- training_triples
def test_triples_refuse_a_question_outside_the_train_split():
    held_out = Question(
        "val-7", "town-0", "Where does the ferry leave from?", "north quay", split="validation"
    )
    with pytest.raises(ValueError, match=r"'val-7'.*'validation'"):
        training_triples([QUESTIONS[0], held_out], CHUNKS, 5)
    test_q = Question("test-2", "town-0", "Where does the ferry leave from?", "north quay", split="test")
    with pytest.raises(ValueError, match="'test-2'"):
        training_triples([test_q], CHUNKS, 0)


def test_triples_refuse_a_question_whose_chunk_is_missing():
    with pytest.raises(ValueError, match=r"'q-x'.*'nowhere-1'"):
        training_triples([Question("q-x", "nowhere-1", "Which pump?", "pump 2")], CHUNKS, 5)


def test_hard_negative_is_the_best_bm25_hit_without_the_answer_or_a_gold_chunk():
    chunks = [
        _chunk("g", "The boiler valve of the north mill was replaced in spring."),
        _chunk("copy", "Boiler valve notes: the boiler valve of the north mill, as above."),  # a gold copy
        _chunk("ans", "Boiler valve boiler valve north mill: the SPRING overhaul."),  # holds the answer
        _chunk("neg", "Boiler valve sizes for the north mill differ by season."),
        _chunk("far", "Orchards bloom late in the valley."),
    ]
    q = Question(
        "q1",
        "g",
        "When was the boiler valve of the north mill replaced?",
        "spring",
        metadata={"passage_copies": ["copy"]},
    )
    (triple,) = training_triples([q], chunks, 10)
    assert triple == TrainingTriple("q1", q.question, chunks[0].text, chunks[3].text)
    # the answer filter is case-insensitive and the gold copies are skipped, whatever BM25 ranks first
    assert "spring" not in triple.negative.lower()
    assert training_triples([q], chunks, 0)[0].negative is None  # 0: no hard negatives


def test_no_hard_negative_when_no_scanned_hit_qualifies():
    chunks = [
        _chunk("g", "Kiln seven fires at noon."),
        _chunk("a", "Kiln seven: NOON firing."),
        _chunk("b", "Rain."),
    ]
    q = Question("q1", "g", "When does kiln seven fire?", "noon")
    assert training_triples([q], chunks, 10)[0].negative is None  # "b" shares no word: never a hit


def test_every_synthetic_question_gets_its_distractor_as_hard_negative():
    triples = training_triples(QUESTIONS, CHUNKS, 5)
    assert [t.question_id for t in triples] == [q.id for q in QUESTIONS]
    by_text = {c.text: c.chunk_id for c in CHUNKS}
    # each code phrase's words live in the chunk right after the gold one
    assert [by_text[t.negative] for t in triples] == [f"town-{int(q.chunk_id[5:]) + 1}" for q in QUESTIONS]


def test_finetune_refuses_bad_settings_before_loading_anything(tmp_path: Path):
    triple = [TrainingTriple("q", "a?", "b")]
    with pytest.raises(ValueError, match="no training triples"):
        finetune_embedder("minilm", [], tmp_path / "m")
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        finetune_embedder("minilm", triple, tmp_path / "m", batch_size=1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        finetune_embedder("minilm", triple, tmp_path / "m", epochs=0)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------- real fine-tuning
def _recall_at_1(embedder, questions: list[Question]) -> float:
    docs = embedder.encode([c.text for c in CHUNKS])
    queries = embedder.encode([q.question for q in questions])
    top = (queries @ docs.T).argmax(axis=1)
    return float(np.mean([CHUNKS[j].chunk_id == q.chunk_id for j, q in zip(top, questions)]))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """MiniLM fine-tuned on the 8 synthetic (query → gold chunk, distractor) triples."""
    root = tmp_path_factory.mktemp("tuned")
    triples = training_triples(QUESTIONS, CHUNKS, 5)
    summary = finetune_embedder(
        "minilm", triples, root / "embedder", epochs=4, batch_size=8, learning_rate=2e-4, seed=0
    )
    return root / "embedder", summary


@pytest.mark.slow
def test_finetuning_memorises_the_training_queries(tuned: tuple[Path, dict]):
    from teacherforge.retrieval import Embedder

    out, summary = tuned
    before = _recall_at_1(Embedder("minilm", cache=False), QUESTIONS)
    after = _recall_at_1(Embedder(str(out), cache=False), QUESTIONS)
    assert before <= 0.25, f"the synthetic queries should mislead the base model (recall@1 {before})"
    assert after >= before + 0.5 and after >= 0.75, f"recall@1 {before:.2f} -> {after:.2f}"
    assert summary["epoch_losses"][-1] < summary["epoch_losses"][0]
    assert summary["pairs"] == summary["hard_negatives"] == len(QUESTIONS)


@pytest.mark.slow
def test_saved_model_loads_as_an_embedder_and_records_only_train_questions(tuned: tuple[Path, dict]):
    from teacherforge.retrieval import Embedder

    out, summary = tuned
    embedder = Embedder(str(out))
    assert embedder.identity["weights_sha256"] == summary["weights_sha256"] is not None
    assert embedder.dim == 384 and embedder.model.max_seq_length == 256  # the base's encoding limit
    record = json.loads((out / FINETUNE_FILE).read_text(encoding="utf-8"))
    assert record["question_ids"] == [q.id for q in QUESTIONS] and all(q.split == "train" for q in QUESTIONS)
    assert record["weights_sha256"] == summary["weights_sha256"]
    assert {"sentence-transformers", "torch"} <= set(record["versions"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["embedder"]  # no scratch or checkpoint left
    assert not list(out.rglob("checkpoint-*"))


@pytest.mark.slow
def test_same_seed_gives_the_same_weights_and_a_rerun_replaces_the_model(tmp_path: Path):
    pairs = training_triples(QUESTIONS[:2], CHUNKS, 0)  # no hard negatives: the pairs-only path
    first = finetune_embedder("minilm", pairs, tmp_path / "m", epochs=1, batch_size=2, seed=3)
    (tmp_path / "m" / "stale.txt").write_text("from an earlier model", encoding="utf-8")
    second = finetune_embedder("minilm", pairs, tmp_path / "m", epochs=1, batch_size=2, seed=3)
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["hard_negatives"] == 0 and first["steps"] == 1
    assert not (tmp_path / "m" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
