"""The cloze generator: every answer is an exact span of its chunk, and reruns are identical."""

from __future__ import annotations

import doctest

from teacherforge import records
from teacherforge.datagen import questions_cloze, splits, validation
from teacherforge.datagen.questions_cloze import cloze_questions, generate_cloze
from teacherforge.types import Chunk


def _apollo_chunks(text: str, n: int = 40, size: int = 1000) -> list[Chunk]:
    return [
        Chunk(f"apollo-{i}", "apollo", "mission_report.md", text[i * size : (i + 1) * size])
        for i in range(10, 10 + n)
    ]


def test_every_answer_is_a_span_of_its_chunk(apollo_text):
    chunks = _apollo_chunks(apollo_text)
    questions, drops = generate_cloze(chunks, per_chunk=3)
    by_id = {c.chunk_id: c for c in chunks}
    assert len(questions) >= len(chunks)  # most chunks give several questions
    for q in questions:
        text = by_id[q.chunk_id].text
        assert text[q.answer_start : q.answer_start + len(q.answer)] == q.answer
        assert q.answer not in q.question.split('"', 1)[1]  # the blank hides the answer
        assert questions_cloze.BLANK in q.question
        assert q.difficulty in records.DIFFICULTIES
    assert sum(drops.values()) + len({q.chunk_id for q in questions}) == len(chunks)


def test_deterministic_and_per_chunk_limit(apollo_text):
    chunks = _apollo_chunks(apollo_text, n=15)
    first, _ = generate_cloze(chunks, per_chunk=2)
    second, _ = generate_cloze(list(chunks), per_chunk=2)
    assert first == second
    for chunk in chunks:
        found = cloze_questions(chunk, 2)
        assert len(found) <= 2
        assert len({q.answer.lower() for q in found}) == len(found)


def test_difficulty_heuristic_spreads_and_kinds_are_known(apollo_text):
    questions, _ = generate_cloze(_apollo_chunks(apollo_text, n=60), per_chunk=3)
    assert {q.difficulty for q in questions} >= {"easy", "medium"}
    assert {q.answer_type for q in questions} <= {kind for kind, _, _ in questions_cloze.PATTERNS}


def test_chunk_without_facts_gives_nothing():
    chunk = Chunk("c-0", "c", "c.md", "<table><tr><td>1</td></tr></table>\n| a | b |")
    assert cloze_questions(chunk, 3) == []


def test_doctests_of_question_modules():
    for module in (questions_cloze, records, splits, validation):
        assert doctest.testmod(module).failed == 0


def test_questions_come_only_from_prose_and_once_per_passage(tmp_path):
    """A chunk of CSS, a list, a directive line and a heading number give no question; a passage
    repeated in two documents is asked about once (the rest counted as duplicate_passage)."""
    from teacherforge.cli import main
    from teacherforge.workspace import read_json

    corpus = tmp_path / "docs"
    corpus.mkdir()
    prose = "The harbour office of Lindqvist opened in 1921 under Captain Mara Holt and kept every ledger. "
    noise = (
        ".popup { color: rgba(0, 0, 0, 0.5); width: 100%; }\n\n3. Repeat the whole step for 4 more times now\n\n"
        ".. automethod:: Client.fetch_all_items_from_the_server\n\n# 14.2 Failure of the Interval Timer Set Knob\n\n"
    )
    (corpus / "a.md").write_text(noise + prose * 3)
    (corpus / "b.md").write_text(
        "Another page entirely about other things, long enough to chunk.\n\n" + prose
    )
    run = tmp_path / "run"
    args = ["--set", "datagen.paraphrase.enabled=false", "--set", "retrieval.kind=bm25", "--no-progress"]
    assert main(["datagen", "--corpus", str(corpus), "--run-dir", str(run), *args]) == 0
    questions = read_json(run / "questions.json")
    assert questions
    for q in questions:  # never the CSS, the list number, the directive or the heading number
        assert q["answer"] not in ("0", "0.5", "3", "14.2", "100%"), q
        assert not any(mark in q["question"] for mark in ("rgba", "automethod", "Interval Timer")), q
    texts = [q["question"] for q in questions]
    assert len(texts) == len(set(texts))
    manifest = read_json(run / "manifest.json")
    step = next(s for s in manifest["steps"] if s["name"] == "questions")
    assert step["drops"].get("duplicate_passage", 0) >= 1
