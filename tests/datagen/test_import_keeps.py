"""Imports keep what users bring: repeated source ids are metadata (not a dedup key), true
duplicates are named, re-imports add nothing, and a question whose support spans chunks keeps
them all in one split. A made-up ten-chunk corpus (``tests/envs/_envkit.py``)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from teacherforge.datagen.chunk_matching import ChunkMatcher
from teacherforge.datagen.importers import format_import_summary, import_questions
from teacherforge.datagen.splits import assign_splits
from teacherforge.records import load_questions
from teacherforge.types import Chunk
from teacherforge.workspace import atomic_write_json, atomic_write_jsonl
from tests.envs._envkit import CHUNK_TEXTS, chunks, question_records

RATIOS, SEED = [0.5, 0.25, 0.25], 0

# (chunk, question, answer): twenty different questions, two per chunk
TWENTY = [
    ("velmora-0", "Which engineer designed the Velmora beacon?", "Tomas Reyl"),
    ("velmora-0", "What fuel did the old lamp burn?", "whale oil"),
    ("velmora-1", "When do traders gather at the fish market?", "four in the morning"),
    ("velmora-1", "Where are fish auctioned in Velmora?", "the old stone arcade"),
    ("velmora-2", "How large is the town council?", "nine members"),
    ("velmora-2", "Who leads the council?", "Ada Brenn"),
    ("velmora-3", "Which island does the ferry serve?", "Skarn"),
    ("velmora-3", "How long is the calm-weather crossing?", "ninety minutes"),
    ("velmora-4", "When is the Salt Festival?", "the second week of August"),
    ("velmora-4", "What does the Salt Festival celebrate?", "salt works"),
    ("velmora-5", "How many cadets train each year?", "sixty cadets"),
    ("velmora-5", "Name one subject of the navigation school.", "chart reading"),
    ("velmora-6", "In what year did the great storm strike?", "1953"),
    ("velmora-6", "How long was the lower town flooded?", "three days"),
    ("velmora-7", "When did the railway arrive?", "1889"),
    ("velmora-7", "Which inland city is linked by rail?", "Dornhal"),
    ("velmora-8", "What is the dark ale called?", "Keeper's Stout"),
    ("velmora-8", "Whom is the ale named after?", "the lighthouse keepers"),
    ("velmora-9", "What does the museum display?", "the original brass lens"),
    ("velmora-9", "In which year was the lens removed?", "1960"),
]


def _run_dir(path: Path, questions: list[dict] | None) -> Path:
    """``chunks.jsonl`` of the ten chunks and (unless ``None``) a ``questions.json``."""
    atomic_write_jsonl(path / "chunks.jsonl", [c.to_json() for c in chunks()])
    if questions is not None:
        atomic_write_json(path / "questions.json", questions)
    return path


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _spanning(a: str, b: str) -> str:
    """A supporting text running from the last sentence of chunk ``a`` into chunk ``b``."""
    return f"{CHUNK_TEXTS[a].split('. ')[-1]} {' '.join(CHUNK_TEXTS[b].split()[:5])}"


@pytest.fixture()
def twenty(tmp_path: Path) -> Path:
    """Twenty different questions sharing five source ids."""
    records = [{"id": f"src-{i % 5}", "question": q, "answer": a} for i, (_, q, a) in enumerate(TWENTY)]
    return _write_jsonl(tmp_path / "twenty.jsonl", records)


def test_repeated_source_ids_are_metadata_not_duplicates(tmp_path: Path, twenty: Path) -> None:
    run = _run_dir(tmp_path / "run", question_records())
    result = import_questions(twenty, run, "jsonl", split_ratios=RATIOS, seed=SEED)

    assert result.dropped == [] and len(result.imported) == 20
    assert len({q.id for q in result.imported}) == 20
    assert [q.chunk_id for q in result.imported] == [c for c, _, _ in TWENTY]
    assert [q.metadata["imported"]["source_id"] for q in result.imported] == [
        f"src-{i % 5}" for i in range(20)
    ]
    assert result.imported[7].metadata["imported"]["ref"] == f"{twenty}:8"
    saved = load_questions(run / "questions.json")
    assert [q.id for q in saved[:10]] == [f"q{i}" for i in range(10)]  # existing ids unchanged
    assert len(saved) == 30


def test_true_duplicates_are_dropped_naming_the_first(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "run", None)
    path = _write_jsonl(
        tmp_path / "dups.jsonl",
        [
            {"id": "a", "question": "Who leads the council?", "answer": "Ada Brenn"},
            {"id": "b", "question": "Who leads the council?", "answer": "the mayor"},
            {"id": "c", "question": "  who LEADS the council? ", "answer": "ada brenn"},
            {"id": "a", "question": "Who leads the council?", "answer": "Ada Brenn"},
        ],
    )
    result = import_questions(path, run, "jsonl", split_ratios=RATIOS, seed=SEED)

    # same question and chunk with another answer is another question; case and spaces are not
    assert [q.metadata["imported"]["source_id"] for q in result.imported] == ["a", "b"]
    assert [(d.ref, d.reason) for d in result.dropped] == [
        (f"{path}:3", "duplicate"),
        (f"{path}:4", "duplicate"),
    ]
    assert all(f"as {path}:1" in d.detail and "velmora-2" in d.detail for d in result.dropped)
    assert result.counts()["read"] == 4


def test_reimport_adds_nothing_and_keeps_ids(tmp_path: Path, twenty: Path) -> None:
    run = _run_dir(tmp_path / "run", question_records())
    first = import_questions(twenty, run, "jsonl", split_ratios=RATIOS, seed=SEED)
    before = [(q.id, q.split) for q in load_questions(run / "questions.json")]

    again = import_questions(twenty, run, "jsonl", split_ratios=RATIOS, seed=SEED)

    assert again.imported == [] and len(again.dropped) == 20
    assert {d.reason for d in again.dropped} == {"duplicate"}
    assert f"already in questions.json as {first.imported[0].id!r}" in again.dropped[0].detail
    assert [(q.id, q.split) for q in load_questions(run / "questions.json")] == before
    assert "dropped 20 (duplicate 20)" in format_import_summary(again)


def test_support_across_two_chunks_keeps_both_in_one_split(tmp_path: Path) -> None:
    order = list(CHUNK_TEXTS)
    run_split = assign_splits(order, RATIOS, SEED)
    a, b = next((x, y) for x, y in pairwise(order) if run_split[x] != run_split[y])
    run = _run_dir(tmp_path / "run", None)
    a_answer = next(ans for c, _, ans in TWENTY if c == a)
    b_question, b_answer = next((q, ans) for c, q, ans in TWENTY if c == b)
    path = _write_jsonl(
        tmp_path / "span.jsonl",
        [
            {
                "question": "What is told across the two passages?",
                "answer": b_answer,
                "supporting_text": _spanning(a, b),
            },
            {
                "question": "What do the two passages say?",
                "answer": a_answer,
                "supporting_paragraphs": [CHUNK_TEXTS[a], CHUNK_TEXTS[b]],
            },
            {"question": b_question, "answer": b_answer},  # only chunk b
        ],
    )
    result = import_questions(path, run, "jsonl", split_ratios=RATIOS, seed=SEED)

    assert result.dropped == []
    spanning, paragraphs, single = result.imported
    assert spanning.source_chunk_ids == (a, b) and spanning.metadata["match"]["method"] == "support_span"
    assert spanning.chunk_id == b and paragraphs.chunk_id == a  # the chunk holding the answer
    assert paragraphs.source_chunk_ids == (a, b)
    assert single.source_chunk_ids == (b,)
    # the group's split is the run split of its first chunk; chunk b's own question follows it
    assert {q.split for q in result.imported} == {run_split[a]}

    # a later import onto chunk b keeps the split its questions now have
    later = _write_jsonl(tmp_path / "later.jsonl", [{"question": "Alone on b?", "answer": b_answer}])
    assert [q.split for q in import_questions(later, run, "jsonl").imported] == [run_split[a]]


def test_support_across_chunks_already_in_two_splits_is_dropped_with_the_fix(tmp_path: Path) -> None:
    records = question_records()
    held = {r["chunk_id"]: r["split"] for r in records}
    order = list(CHUNK_TEXTS)
    a, b = next((x, y) for x, y in pairwise(order) if held[x] != held[y])
    run = _run_dir(tmp_path / "run", records)
    b_answer = next(ans for c, _, ans in TWENTY if c == b)
    path = _write_jsonl(
        tmp_path / "conflict.jsonl",
        [
            {
                "id": "s",
                "question": "What spans the two?",
                "answer": b_answer,
                "supporting_text": _spanning(a, b),
            },
            {"id": "t", "question": "Who leads the council?", "answer": "Ada Brenn"},
        ],
    )
    result = import_questions(path, run, "jsonl", split_ratios=RATIOS, seed=SEED)

    assert [q.metadata["imported"]["source_id"] for q in result.imported] == ["t"]
    (drop,) = result.dropped
    assert (drop.ref, drop.reason) == (f"{path}:1", "sources_span_splits")
    assert f"{a} {held[a]}" in drop.detail and f"{b} {held[b]}" in drop.detail
    assert "--replace" in drop.detail
    assert "sources_span_splits 1" in format_import_summary(result)

    # the fix: re-split from scratch
    fresh = import_questions(path, run, "jsonl", split_ratios=RATIOS, seed=SEED, replace=True)
    assert fresh.dropped == [] and fresh.imported[0].source_chunk_ids == (a, b)
    assert fresh.imported[0].split == assign_splits(order, RATIOS, SEED)[a]


def test_matcher_joins_overlapping_chunks_without_repeating_the_overlap() -> None:
    text = CHUNK_TEXTS["velmora-3"] + " " + CHUNK_TEXTS["velmora-4"]
    cut = len(CHUNK_TEXTS["velmora-3"])
    pieces = [
        Chunk("d-0", "d", "d", text[: cut + 12], 0, cut + 12),  # 12 characters of overlap
        Chunk("d-1", "d", "d", text[cut + 1 :], cut + 1, len(text)),
        Chunk("e-0", "e", "e", "An unrelated page.", 0, 18),
    ]
    matcher = ChunkMatcher(pieces)
    assert matcher.spanning("in calm weather. The annual Salt Festival in Velmora") == (0, 1)
    assert matcher.spanning("unrelated page. The annual") is None  # not across documents
    found = matcher.match("When?", ("August",), ["calm weather. The annual Salt Festival"])
    assert found.source_chunk_ids == ("d-0", "d-1") and found.chunk_id == "d-1"
