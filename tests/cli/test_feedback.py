"""One feedback round end to end on a tiny run dir with scripted models (oracle teacher, wrong student)."""

from __future__ import annotations

import pytest

from teacherforge.cli.feedback import Failure, collect_failures, find_challenges, run_loop
from teacherforge.cli.pipeline import stage_function
from teacherforge.config import load_config
from teacherforge.run import RunLayout
from teacherforge.workspace import read_json, read_jsonl
from tests.envs._envkit import CHUNK_TEXTS, QUESTIONS, write_run_dir

WRONG = "custom:tests.trainers.eval_fakes:wrong"
RIGHT = "custom:tests.trainers.eval_fakes:right"


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
    # the teacher's cap is below the 8 train/validation questions: the derived ones come last in the file
    return _parent_run(tmp_path, f"loop.student={WRONG}", "teacher.max_questions=3")


def test_one_round_builds_a_new_dataset_version_with_lineage_to_the_failures(config):
    parent = config.run_path
    parent_version = read_json(parent / "manifest.json")["dataset"]["version"]
    summary = run_loop(config)
    assert summary["rounds"] == 1 and summary["stopped"] == ""
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

    answered = [r["trace"]["question_id"] for r in read_jsonl(round_dir / "teacher.jsonl")]
    assert answered == ["q0", "q1", "q2", *derived], (
        "the cap takes old questions; every derived one is answered"
    )
    rows = read_jsonl(round_dir / "dataset" / "train.jsonl")
    from_failures = [r for r in rows if r["metadata"]["question_id"] in derived]
    assert {r["metadata"]["question_id"] for r in from_failures} == set(derived), (
        "the new dataset version contains the answers of every question derived from the failures"
    )
    # lineage resolves: example → question → failure → the parent's question
    parent_questions = {q["id"] for q in read_json(parent / "questions.json")}
    for row in from_failures:
        feedback = questions[row["metadata"]["question_id"]]["metadata"]["feedback"]
        assert feedback["derived_from"] in parent_questions
    result = read_json(parent / "report" / "rounds.json")[0]
    assert result["failures"] == len(train_ids)
    assert result["challenged"] is None, "the oracle teacher has nothing to challenge"
    assert result["added"]["by_reason"] == {"student_wrong": len(derived)}
    assert result["added"]["answered"] == result["added"]["kept"] == len(derived)
    assert "n/a (oracle teacher)" in (parent / "report" / "rounds.md").read_text()
    assert (round_dir / "report" / "metrics.json").exists()

    assert run_loop(config)["rounds"] == 1, "a finished round is not redone"


def test_a_round_without_a_significant_gain_stops_the_loop(tmp_path, capsys):
    """The parent's evaluation and the round's score the same (wrong) student: the gain's interval
    is [0, 0], so two requested rounds stop after the first, and rounds.md shows the interval."""
    config = _parent_run(tmp_path, f"loop.student={WRONG}", "loop.rounds=2", f"eval.models=[teacher,{WRONG}]")
    stage_function("eval")(config)
    summary = run_loop(config)
    assert summary["rounds"] == 1 and summary["stopped"] == ""
    result = read_json(RunLayout(config.run_path).report.rounds)[0]
    assert result["f1_gain"]["n"] > 0 and result["f1_gain"]["low"] == result["f1_gain"]["high"] == 0.0
    assert result["change"] == "no significant change"
    assert "stopping: round 1 did not improve held-out F1" in capsys.readouterr().out
    table = RunLayout(config.run_path).report.rounds_table.read_text()
    assert "+0.000 [+0.000, +0.000] no significant change" in table


def _stopped_round(config, capsys) -> tuple[dict, str]:
    """Run the loop (retraining SFT) and check the round stopped before training: its summary and line."""
    summary = run_loop(config)
    lines = capsys.readouterr().out.splitlines()
    stop_lines = [line for line in lines if line.startswith("round 1: stopped without retraining — ")]
    assert len(stop_lines) == 1 and summary["stopped"] in stop_lines[0]
    round_dir = RunLayout(config.run_path).round_dir(1)
    assert not RunLayout(round_dir).training_dir("sft").path.exists(), (
        "no SFT run for a round with no new data"
    )
    assert read_json(RunLayout(config.run_path).report.rounds)[0]["stopped"] == summary["stopped"]
    assert run_loop(config)["stopped"] == summary["stopped"], "a rerun stops at once"
    return summary, round_dir


def test_a_round_without_failures_stops_without_retraining(tmp_path, capsys):
    config = _parent_run(tmp_path, f"loop.student={RIGHT}", "loop.retrain=[sft]")
    summary, _ = _stopped_round(config, capsys)
    assert summary["stopped"].startswith("no failures:") and summary["rounds"] == 1


def test_a_round_whose_new_questions_are_all_filtered_stops_without_retraining(tmp_path, capsys):
    # the teacher answers only validation questions: the derived (training) questions never reach the dataset
    config = _parent_run(
        tmp_path, f"loop.student={WRONG}", "loop.retrain=[sft]", "teacher.splits=[validation]"
    )
    parent_version = read_json(RunLayout(config.run_path).manifest)["dataset"]["version"]
    summary, round_dir = _stopped_round(config, capsys)
    assert summary["stopped"].startswith("all filtered:")
    dataset = read_json(RunLayout(round_dir).manifest)["dataset"]
    assert dataset == {**dataset, "version": parent_version, "parent": parent_version}


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


def test_bad_loop_inputs_fail_in_one_line_before_anything_runs(tmp_path, capsys):
    from teacherforge.cli import main

    config = _parent_run(tmp_path)
    run = str(config.run_path)
    common = ["loop", "--config", "quickstart", "--run-dir", run]
    cases = {
        "loop.student=auto": "has no trained student (no sft or grpo adapter); run `teacherforge train sft`",
        "loop.student=sft": "loop.student: 'sft' has no adapter at",
        "loop.student=no-such-model": "loop.student: 'no-such-model' is no model; use auto, base, sft, grpo",
    }
    capsys.readouterr()
    for setting, message in cases.items():
        assert main([*common, "--set", setting]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (config.run_path / "rounds").exists(), "nothing written"


def test_a_round_left_half_written_resumes_to_the_same_dataset(config):
    """A round killed after its directory was prepared (an index copy half done, no dataset, no
    evaluation) finishes on the next run, with the same dataset version as an uninterrupted round."""
    import shutil

    run_loop(config)
    round_dir = RunLayout(config.run_path).round_dir(1)
    layout = RunLayout(round_dir)
    version = read_json(layout.manifest)["dataset"]["version"]
    index = layout.index_dir("original")
    shutil.move(index, index.with_name(index.name + ".partial"))
    (index.with_name(index.name + ".partial") / "half-copied").write_text("x")
    for path in (layout.round_result, layout.report.path, layout.dataset_dir):
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    assert run_loop(config)["stopped"] == ""
    assert read_json(layout.manifest)["dataset"]["version"] == version
    assert not index.with_name(index.name + ".partial").exists() and not (index / "half-copied").exists()
    assert layout.round_result.exists() and layout.report.metrics.exists()


def test_hard_negatives_come_from_the_failed_search_and_never_hold_the_answer():
    from teacherforge.datagen.dataset import hard_negative_examples
    from teacherforge.rag import NOT_IN_CONTEXT, rag_messages

    example = {
        "id": "r1",
        "messages": rag_messages("Who landed?", ["Ada landed the craft."], "Ada"),
        "split": "train",
        "metadata": {
            "tags": [],
            "source_chunk_ids": ["gold"],
            "context_chunk_ids": ["gold"],
            "feedback": {"weight": 2.0, "hard_negative_chunk_ids": ["confusing", "also-ada", "test-chunk"]},
        },
    }
    text = {
        "gold": "Ada landed the craft.",
        "confusing": "Bo steered the craft.",
        "also-ada": "Later, ada waved.",
        "test-chunk": "Cy watched.",
    }
    [negative] = hard_negative_examples([example], ["gold", "confusing", "also-ada"], text)
    assert negative["metadata"]["context_chunk_ids"] == ["confusing"], (
        "answer-holding and other-split chunks left out"
    )
    assert (
        negative["messages"][-1]["content"] == NOT_IN_CONTEXT
        and "Bo steered" in negative["messages"][0]["content"]
    )
    assert "hard_negative" in negative["metadata"]["tags"] and "feedback" not in negative["metadata"]
    assert (
        hard_negative_examples(
            [{**example, "metadata": {**example["metadata"], "feedback": {}}}], list(text), text
        )
        == []
    )


def test_a_round_continues_from_the_parents_adapter_or_from_the_base(tmp_path):
    from teacherforge.cli.feedback import continued

    config = _parent_run(tmp_path, "loop.retrain=[sft,grpo]")
    adapter = RunLayout(config.run_path).training_dir("sft").adapter
    adapter.mkdir(parents=True)
    round_cfg = continued(config, config.run_path)
    assert round_cfg.sft.init_adapter == str(adapter.resolve())
    assert round_cfg.grpo.init_adapter == "", "the parent has no GRPO adapter: GRPO starts from the base"
    base = load_config(None, [f"run_dir={config.run_path}", "loop.init=base", "loop.retrain=[sft]"])
    assert continued(base, config.run_path).sft.init_adapter == ""


def test_an_llm_teacher_that_the_gold_chunk_contradicts_is_flagged_for_review(tmp_path, capsys):
    """A scripted LLM teacher answers wrongly, the student answers what the gold chunk says: the
    teacher's records are flagged (pending, student_challenge) and the round reports how many."""
    config = _parent_run(
        tmp_path,
        f"loop.student={RIGHT}",
        "teacher.kind=llm",
        "teacher.llm.backend=custom",
        "teacher.llm.model=tests.trainers.eval_fakes:wrong",
    )
    run_loop(config)
    result = read_json(RunLayout(config.run_path).report.rounds)[0]
    train = {qid for qid, _, _, _, split in QUESTIONS if split == "train"}
    assert result["challenged"] == len(train)
    records = read_jsonl(RunLayout(RunLayout(config.run_path).round_dir(1)).teacher)
    flagged = [r for r in records if "student_challenge" in r["metadata"]["tags"]]
    assert {r["trace"]["question_id"] for r in flagged} == train
    assert all(r["metadata"]["review_status"] == "pending" for r in flagged)
    assert f"| {len(train)} |" in RunLayout(config.run_path).report.rounds_table.read_text()
