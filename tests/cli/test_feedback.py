"""One feedback round end to end on a tiny run dir with scripted models (oracle teacher, wrong student)."""

from __future__ import annotations

import pytest

from teacherforge.cli.feedback import Failure, collect_failures, find_challenges, run_loop
from teacherforge.cli.pipeline import stage_function
from teacherforge.config import load_config
from teacherforge.workspace import read_json, read_jsonl
from tests.envs._envkit import CHUNK_TEXTS, QUESTIONS, write_run_dir

WRONG = "custom:tests.trainers.eval_fakes:wrong"


def _parent_run(tmp_path, *overrides: str):
    """A tiny real run dir whose teacher, quality and dataset stages have run; the loop config for it."""
    run = write_run_dir(tmp_path / "run")
    cfg = load_config(
        None,
        [
            f"run_dir={run}",
            "teacher.kind=oracle",
            "retrieval.kind=bm25",
            "retrieval.min_score=0.0",
            "quality.redact=false",
            "loop.retrain=[]",
            "loop.rounds=1",
            "eval.modes=[fixed]",
            "eval.bootstrap_samples=50",
            *overrides,
        ],
    )
    for stage in ("teacher", "quality", "dataset"):
        stage_function(stage)(cfg)
    return cfg


@pytest.fixture
def config(tmp_path):
    return _parent_run(tmp_path, f"loop.student={WRONG}")


def test_one_round_builds_a_new_dataset_version_with_lineage_to_the_failures(config):
    parent = config.run_path
    parent_version = read_json(parent / "manifest.json")["dataset"]["version"]
    summary = run_loop(config)
    assert summary["rounds"] == 1
    round_dir = parent / "rounds" / "round_01"

    lineage = read_json(round_dir / "lineage.json")
    assert lineage["parent_run_dir"] == str(parent)
    assert lineage["parent_dataset_version"] == parent_version
    dataset = read_json(round_dir / "manifest.json")["dataset"]
    assert dataset["parent"] == parent_version and dataset["version"] != parent_version

    failures = {f["question_id"]: f for f in read_jsonl(round_dir / "failures.jsonl")}
    train_ids = {qid for qid, _, _, _, split in QUESTIONS if split == "train"}
    assert set(failures) == train_ids, "the wrong student fails every training question"
    assert all("student_wrong" in f["reasons"] for f in failures.values())

    questions = {q["id"]: q for q in read_json(round_dir / "questions.json")}
    derived = {qid: q for qid, q in questions.items() if "feedback" in q["metadata"]}
    assert derived, "new questions were generated on the failed chunks"
    for q in derived.values():
        origin = failures[q["metadata"]["feedback"]["derived_from"]]
        assert q["chunk_id"] in origin["chunk_ids"] and q["split"] == "train"

    rows = read_jsonl(round_dir / "dataset" / "train.jsonl")
    from_failures = [r for r in rows if r["metadata"]["question_id"] in derived]
    assert from_failures, "the new dataset version contains examples derived from the failures"
    # lineage resolves: example → question → failure → the parent's question
    parent_questions = {q["id"] for q in read_json(parent / "questions.json")}
    for row in from_failures:
        feedback = questions[row["metadata"]["question_id"]]["metadata"]["feedback"]
        assert feedback["derived_from"] in parent_questions
    assert read_json(parent / "report" / "rounds.json")[0]["failures"] == len(train_ids)
    assert (round_dir / "report" / "metrics.json").exists()

    assert run_loop(config)["rounds"] == 1, "a finished round is not redone"


def test_failure_reasons_and_student_challenges():
    rows = [
        {
            "model": "s",
            "mode": "fixed",
            "question_id": "a",
            "f1": 0.0,
            "gold_hit": True,
            "refusal": 0.0,
            "answer": "Tomas Reyl",
            "retrieved_ids": ["c0"],
        },
        {
            "model": "t",
            "mode": "fixed",
            "question_id": "a",
            "f1": 1.0,
            "gold_hit": True,
            "refusal": 0.0,
            "answer": "Ada Brenn",
            "retrieved_ids": ["c0"],
        },
        {
            "model": "s",
            "mode": "fixed",
            "question_id": "b",
            "f1": 1.0,
            "gold_hit": False,
            "refusal": 1.0,
            "answer": None,
            "retrieved_ids": ["c9"],
        },
        {
            "model": "t",
            "mode": "fixed",
            "question_id": "b",
            "f1": 1.0,
            "gold_hit": True,
            "refusal": 0.0,
            "answer": "x",
            "retrieved_ids": ["c1"],
        },
    ]
    questions = [{"id": "a", "chunk_id": "c0"}, {"id": "b", "chunk_id": "c1"}]
    failures = {f.question_id: f for f in collect_failures(rows, "t", "s", questions)}
    assert failures["a"].reasons == ("student_wrong",)
    assert failures["b"].reasons == ("retrieval_miss", "low_confidence")
    assert isinstance(failures["a"], Failure)
    text = {"c0": CHUNK_TEXTS["velmora-0"], "c1": "unrelated"}
    assert find_challenges(rows, "t", "s", questions, text) == ["a"], "the gold chunk backs the student"


@pytest.mark.slow
def test_one_real_round_with_the_embedded_student(tmp_path):
    """The base SmolLM2 as the student (fixed mode, a few questions): failures are mined, a new version is built."""
    cfg = _parent_run(tmp_path, "loop.student=base", "eval.max_questions=3", "env.max_new_tokens=24")
    run = cfg.run_path
    run_loop(cfg)
    round_dir = run / "rounds" / "round_01"
    failures = read_jsonl(round_dir / "failures.jsonl")
    assert failures, "the 135M base model misses training questions"
    derived = [q for q in read_json(round_dir / "questions.json") if "feedback" in q["metadata"]]
    assert {q["metadata"]["feedback"]["derived_from"] for q in derived} <= {
        f["question_id"] for f in failures
    }
    metrics = read_json(round_dir / "report" / "metrics.json")["metrics"]["fixed"]
    assert "base (smollm2-135m)" in metrics and metrics["teacher (oracle)"]["f1"]["mean"] == 1.0
