"""``benchmarks/answer_at_k.py``: the committed question sets hold, dev and test never mix, the choice is made on dev."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import answer_at_k  # noqa: E402


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_held_out_questions_are_sound_and_in_their_own_words() -> None:
    report = answer_at_k.CORPUS.read_text(encoding="utf-8")
    report_words = _words(report)
    report_runs = {tuple(report_words[i : i + 8]) for i in range(len(report_words) - 7)}
    questions = answer_at_k.load_questions(answer_at_k.HELD_OUT)
    assert len(questions) >= 100 and len({q["id"] for q in questions}) == len(questions)
    handwritten = {q["question"].lower() for q in answer_at_k.load_questions(answer_at_k.QUESTIONS)}
    for q in questions:
        assert q["answer"].lower() in q["support"].lower(), q["id"]
        assert q["support"] in report, q["id"]  # a verbatim passage of the report
        words = _words(q["question"])
        assert not {tuple(words[i : i + 8]) for i in range(len(words) - 7)} & report_runs, q["id"]
        assert q["question"].lower() not in handwritten
    assert len({q["style"] for q in questions}) == 7


def test_dev_and_test_halves_are_fixed_by_id_and_roughly_even() -> None:
    ids = [f"q-{i}" for i in range(400)]
    halves = [answer_at_k.dev_or_test(i) for i in ids]
    assert halves == [answer_at_k.dev_or_test(i) for i in ids]
    assert 150 < halves.count("dev") < 250
    assert halves != [answer_at_k.dev_or_test(i, seed=1) for i in ids]


def test_the_choice_is_made_on_dev_and_reported_on_test() -> None:
    half = {"a": "dev", "b": "dev", "c": "test", "d": "test"}

    def found(*ranks: int | None) -> list[dict]:
        return [
            {"id": i, "answer_rank": r, "gold_rank": None, "has_gold": False, "coverage": None, "chars": [1]}
            for i, r in zip("abcd", ranks)
        ]

    per_setting = {
        "default": found(1, None, 1, 1),
        "good on dev": found(1, 2, None, None),  # best on dev, worst on test
        "good on test": found(None, None, 1, 1),
    }
    best, report = answer_at_k.choose_on_dev(per_setting, half, "default")
    assert best == "good on dev"
    assert report["chosen"]["answer@5"] == 0.0 and report["default"]["answer@5"] == 1.0
    assert report["difference"]["mean"] == -1.0
