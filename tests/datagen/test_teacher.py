"""The RAG teacher: schema-valid records, retrieval cut-off and limit, retries, oracle, cache."""

from __future__ import annotations

import math

import pytest

from teacherforge import rag
from teacherforge.config import ConfigError, load_config
from teacherforge.datagen.teacher import run_teacher
from teacherforge.llm import FakeBackend
from teacherforge.records import read_teacher_records, validate_record
from teacherforge.workspace import read_json
from tests.datagen._sft_rundir import build_run_dir, fake_teacher, teacher_responder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run_dir(tmp_path_factory.mktemp("teacher") / "run")


def _config(run_dir, *overrides):
    return load_config(
        None, [f"run_dir={run_dir}", "retrieval.kind=bm25", "teacher.llm.batch_size=4", *overrides]
    )


def test_records_match_schema_and_respect_cutoff_and_limit(run_dir):
    backend = FakeBackend(teacher_responder)
    summary = run_teacher(_config(run_dir, "retrieval.min_score=0.5", "retrieval.top_k=2"), backend=backend)
    records = read_teacher_records(run_dir / "teacher.jsonl")  # validates every line against the schema
    questions = [q for q in read_json(run_dir / "questions.json") if q["split"] in ("train", "validation")]
    assert len(records) == len(questions) == summary["records"]
    assert backend.generate_calls == math.ceil(len(questions) / 4)  # batched, batch_size 4
    assert summary["hits_below_cutoff"] > 0
    for record in records:
        assert 1 <= len(record["retrieved"]) <= 2 or record["response"].startswith("The provided sources")
        assert [r["rank"] for r in record["retrieved"]] == list(range(1, len(record["retrieved"]) + 1))
        assert all(r["score"] >= 0.5 for r in record["retrieved"])
        assert record["metadata"]["generation_method"] == "rag_teacher"
        assert record["metadata"]["model"] == "fake"
        assert record["metadata"]["prompt_template"] == rag.template_id()
        assert record["trace"]["processing_steps"][0]["name"] == "teacher"
    # the prompt numbers exactly the retrieved sources, in rank order
    first_prompt = backend.calls[0]
    first = records[0]
    system = first_prompt[0].content
    assert first_prompt[1].content == first["input"]
    for ref in first["retrieved"]:
        assert f"[{ref['rank']}] " in system
    assert f"[{len(first['retrieved']) + 1}] " not in system
    step = next(s for s in read_json(run_dir / "manifest.json")["steps"] if s["name"] == "teacher")
    assert step["counts"]["records"] == len(records) and step["config"]["retrieval.min_score"] == 0.5


def test_default_cutoff_is_calibrated_per_kind(run_dir):
    summary = run_teacher(_config(run_dir), backend=FakeBackend(teacher_responder))
    assert summary["cutoff"] == rag.CALIBRATED_MIN_SCORE["bm25"]
    records = read_teacher_records(run_dir / "teacher.jsonl")
    assert all(r["score"] >= rag.CALIBRATED_MIN_SCORE["bm25"] for rec in records for r in rec["retrieved"])
    assert all(len(rec["retrieved"]) <= 3 for rec in records)


def test_empty_answers_are_retried_then_dropped(run_dir):
    seen: dict[str, int] = {}

    def flaky(prompt, i):
        question = prompt[1].content
        seen[question] = seen.get(question, 0) + 1
        if "Who" in question:
            return ""  # never answers "who" questions
        if "How" in question and seen[question] == 1:
            return "   "  # empty on the first try only
        return teacher_responder(prompt, i)

    every_split = "teacher.splits=[train,validation,test]"  # wherever the "who" questions landed
    summary = run_teacher(_config(run_dir, "teacher.max_retries=2", every_split), backend=FakeBackend(flaky))
    questions = read_json(run_dir / "questions.json")
    who = sum("Who" in q["question"] for q in questions)
    assert who > 0 and summary["drops"]["empty"] == who
    assert summary["records"] == len(questions) - who
    assert all(n == 3 for q, n in seen.items() if "Who" in q)  # first try + 2 retries


def test_oracle_teacher_writes_gold_answers(run_dir):
    summary = run_teacher(_config(run_dir, "teacher.kind=oracle", "teacher.splits=[train]"))
    records = read_teacher_records(run_dir / "teacher.jsonl")
    gold = {q["id"]: q for q in read_json(run_dir / "questions.json")}
    assert summary["generation_method"] == "oracle" and summary["generate_calls"] == 0
    for record in records:
        question = gold[record["trace"]["question_id"]]
        assert question["split"] == "train"
        assert record["metadata"]["generation_method"] == "oracle"
        assert record["response"].startswith(question["answer"])
        cited = [r["rank"] for r in record["retrieved"] if r["chunk_id"] == question["chunk_id"]]
        assert (
            record["response"].endswith(f"[{cited[0]}]")
            if cited
            else record["response"] == question["answer"]
        )


def test_configured_backend_goes_through_the_cache(run_dir):
    overrides = ("teacher.llm.backend=custom", "teacher.llm.model=tests.datagen._sft_rundir:fake_teacher")
    run_teacher(_config(run_dir, *overrides))
    first = read_teacher_records(run_dir / "teacher.jsonl")
    assert run_teacher(_config(run_dir, *overrides))["status"] == "skipped", "already done"
    (run_dir / "teacher.jsonl").unlink()  # an output missing: the stage runs again, from the cache
    summary = run_teacher(_config(run_dir, *overrides))
    assert summary["tokens"]["cached_completions"] == summary["records"] > 0
    assert [r["response"] for r in read_teacher_records(run_dir / "teacher.jsonl")] == [
        r["response"] for r in first
    ]
    assert (run_dir / "cache.sqlite").exists()
    assert fake_teacher().identity == "fake-teacher"


def test_schema_rejects_bad_records(run_dir):
    run_teacher(_config(run_dir, "teacher.kind=oracle"))
    good = read_teacher_records(run_dir / "teacher.jsonl")[0]
    bad = {**good, "retrieved": [{"chunk_id": "x", "score": 1.0, "rank": 0}]}
    with pytest.raises(ValueError, match=r"retrieved\.0\.rank"):
        validate_record(bad)
    bad = {**good, "metadata": {**good["metadata"], "generation_method": "magic"}}
    with pytest.raises(ValueError, match="generation_method"):
        validate_record(bad)
    with pytest.raises(ValueError, match=r"teacher\.kind"):
        _config(run_dir, "teacher.kind=gpt")


def test_teacher_searches_the_configured_index_under_the_config_settings(tmp_path):
    """``retrieval.index`` picks the index the teacher searches; an index built otherwise than the
    config says is refused before anything is written."""
    run_dir = build_run_dir(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="index_paraphrased"):
        run_teacher(_config(run_dir, "retrieval.index=paraphrased", "teacher.kind=oracle"))
    with pytest.raises(
        ConfigError, match=r"retrieval\.kind: the index was built with 'bm25' but the config says 'dense'"
    ):
        run_teacher(_config(run_dir, "retrieval.kind=dense", "teacher.kind=oracle"))
    assert not (run_dir / "teacher.jsonl").exists()
