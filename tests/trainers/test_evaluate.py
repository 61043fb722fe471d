"""Evaluation with scripted models: the numbers come out as they must, in both modes."""

from __future__ import annotations

import json
import math

import pytest

from teacherforge.config import load_config
from teacherforge.trainers.evaluate import leak_check, load_eval_questions, run_eval
from teacherforge.trainers.metrics import bootstrap_ci, exact_match_score, f1_score, ratio, similarity_stats
from teacherforge.workspace import atomic_write_jsonl, read_jsonl
from tests.envs._envkit import question_records, write_run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    # three training questions; the other seven are held out (split "test") so all seven are evaluated
    records = [
        {
            **r,
            "difficulty": "easy" if i % 2 else "hard",
            "split": "train" if r["split"] == "train" and i >= 3 else "test",
        }
        for i, r in enumerate(question_records())
    ]
    return write_run_dir(tmp_path_factory.mktemp("evalrun"), records)


def _config(run_dir, *extra):
    return load_config(
        None,
        [
            f"run_dir={run_dir}",
            "teacher.kind=oracle",
            "retrieval.kind=bm25",
            "retrieval.min_score=0.0",
            "eval.models=[teacher,custom:tests.trainers.eval_fakes:right,"
            "custom:tests.trainers.eval_fakes:wrong,custom:tests.trainers.eval_fakes:nosearch]",
            "eval.bootstrap_samples=200",
            *extra,
        ],
    )


def test_scripted_models_score_as_they_must_in_both_modes(run_dir):
    run_eval(_config(run_dir))
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["oracle_teacher"] is True
    right, wrong, nosearch = (f"custom:tests.trainers.eval_fakes:{n}" for n in ("right", "wrong", "nosearch"))
    for mode in ("fixed", "agentic"):
        table = metrics["metrics"][mode]
        n = table["teacher (oracle)"]["n"]
        assert n == 7
        assert table[right]["exact_match"]["mean"] == 1.0
        assert table[right]["f1"]["mean"] == 1.0
        assert table[wrong]["exact_match"]["mean"] == 0.0
        assert table[wrong]["f1"]["mean"] == 0.0
        assert table[right]["ratio_to_teacher"]["f1"] == pytest.approx(1.0)
        assert table[wrong]["ratio_to_teacher"]["f1"] == 0.0
    agentic = metrics["metrics"]["agentic"]
    assert agentic[right]["mean_searches"] == 1.0
    assert agentic[right]["retrieval_hit_rate"] == 1.0, "BM25 finds each question's chunk for its own text"
    assert agentic[nosearch]["mean_searches"] == 0.0
    assert agentic[nosearch]["retrieval_hit_rate"] == 0.0
    assert agentic[nosearch]["exact_match"]["mean"] == 1.0
    assert agentic[wrong]["similarity"]["mean"] < agentic[right]["similarity"]["mean"]
    # groundedness: the answer in the text retrieved (fixed: the cited context hit), not only equal to the reference
    for mode in ("fixed", "agentic"):
        assert metrics["metrics"][mode][right]["grounded"] == 1.0
        assert metrics["metrics"][mode][wrong]["grounded"] == 0.0
    assert agentic[nosearch]["grounded"] == 0.0, "right without retrieving anything is not grounded"
    assert set(agentic[right]["by_difficulty"]) == {"easy", "hard"}
    rows = read_jsonl(run_dir / "report" / "results.jsonl")
    assert len(rows) == 2 * 4 * 7
    summary = (run_dir / "report" / "summary.md").read_text()
    assert "oracle" in summary and "| teacher (oracle) |" in summary and "| grounded |" in summary
    assert (run_dir / "report" / "metrics.png").stat().st_size > 1000


def test_fixed_and_agentic_modes_search_with_one_k(run_dir):
    """``retrieval.top_k`` is every mode's k; ``eval.top_k`` sets both modes apart, together."""
    right = "eval.models=[teacher,custom:tests.trainers.eval_fakes:right]"
    for extra, k in ((["retrieval.top_k=2"], 2), (["retrieval.top_k=2", "eval.top_k=1"], 1)):
        run_eval(_config(run_dir, right, *extra))
        rows = read_jsonl(run_dir / "report" / "results.jsonl")
        assert {row["mode"] for row in rows} == {"fixed", "agentic"}
        assert {len(row["retrieved_ids"]) for row in rows} == {k}, extra  # one search each, k hits


def test_training_split_is_refused_unless_allowed(run_dir):
    with pytest.raises(ValueError, match="allow_train_split"):
        load_eval_questions(_config(run_dir, "eval.split=train"))
    assert len(load_eval_questions(_config(run_dir, "eval.split=train", "eval.allow_train_split=true"))) == 3


def test_leak_check_catches_a_planted_leak(run_dir, tmp_path):
    config = _config(run_dir)
    questions = load_eval_questions(config)
    dataset = run_dir / "dataset"
    atomic_write_jsonl(
        dataset / "train.jsonl",
        [
            {
                "messages": [],
                "metadata": {"source_chunk_ids": ["velmora-3"], "context_chunk_ids": ["velmora-9"]},
            }
        ],
    )
    clean = leak_check(config, questions)
    assert clean["leak"] is False and clean["context_only_chunks"] == ["velmora-9"]
    atomic_write_jsonl(
        dataset / "train.jsonl", [{"messages": [], "metadata": {"source_chunk_ids": ["velmora-8"]}}]
    )
    report = leak_check(config, questions)
    assert report["leak"] is True and report["leaked_chunks"] == ["velmora-8"]
    (dataset / "train.jsonl").unlink()


def test_metric_values():
    assert exact_match_score("Keeper's Stout [1].", "keepers stout") == 1.0
    assert exact_match_score(None, "x") == 0.0
    assert f1_score("the dark ale Keeper's Stout", "Keeper's Stout") == pytest.approx(2 * 0.5 * 1 / 1.5)
    ci = bootstrap_ci([1.0] * 30 + [0.0] * 10, samples=500)
    assert ci.low <= ci.mean == 0.75 <= ci.high and ci.high - ci.low < 0.4
    assert ratio(0.45, 0.5) == pytest.approx(0.9) and math.isnan(ratio(0.3, 0.0))
    stats = similarity_stats([0.2, 0.4, 0.6])
    assert stats["mean"] == pytest.approx(0.4) and stats["std"] == pytest.approx(math.sqrt(0.08 / 3))


def test_ask_prints_the_trace_and_reward_breakdown(run_dir, capsys):
    from teacherforge.cli import main

    code = main(
        [
            "ask",
            "--model",
            "custom:tests.trainers.eval_fakes:right",
            "--run-dir",
            str(run_dir),
            "--set",
            "retrieval.kind=bm25",
            "What is the name of the dark ale brewed in Velmora?",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "search: What is the name of the dark ale brewed in Velmora?" in out
    assert "velmora-8  score" in out
    assert "answer: Keeper's Stout" in out
    assert "retrieval_match: 1.000" in out
    code = main(
        [
            "ask",
            "--model",
            "custom:tests.trainers.eval_fakes:wrong",
            "--run-dir",
            str(run_dir),
            "--set",
            "retrieval.kind=bm25",
            "Unknown?",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "answer: banana" in out and "reward:" not in out
