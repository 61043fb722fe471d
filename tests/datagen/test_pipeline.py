"""The datagen stage end to end on a toy corpus with the scripted backend and a toy embedder (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teacherforge.cli import main as cli_main
from teacherforge.config import load_config
from teacherforge.datagen import pipeline
from teacherforge.datagen.splits import assign_splits
from teacherforge.records import load_questions
from teacherforge.workspace import read_json, read_jsonl
from tests.datagen._datagen_fakes import OVERRIDES, HashEmbedder, make_corpus

OUTPUTS = (
    "chunks.jsonl",
    "index",
    "questions.json",
    "paraphrases.jsonl",
    "index_paraphrased",
    "manifest.json",
    "cache.sqlite",
)


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """A toy corpus and a config factory; the embedding model is replaced by a hashed bag of words."""
    monkeypatch.setattr("teacherforge.retrieval.Embedder", HashEmbedder)
    corpus = tmp_path / "corpus"
    make_corpus(corpus)

    def config(*extra: str, run: str = "run"):
        return load_config(
            None,
            [
                *OVERRIDES,
                "datagen.llm.model=tests.datagen._datagen_fakes:scripted_backend",
                "retrieval.bm25_stemmer=none",
                f"datagen.corpus={corpus}",
                f"run_dir={tmp_path / run}",
                *extra,
            ],
        )

    return config


def _run(config):
    return pipeline.run_datagen(config, progress=False, print_summary=False)


def test_llm_run_writes_every_output_with_counts(toy, capsys):
    config = toy()
    summary = pipeline.run_datagen(config, progress=False)
    run = Path(summary["run_dir"])
    for name in OUTPUTS:
        assert (run / name).exists(), name
    assert "teacherforge datagen:" in capsys.readouterr().out  # the one-screen summary
    chunks = read_jsonl(run / "chunks.jsonl")
    assert len(chunks) == 12
    questions = load_questions(run / "questions.json", {c["chunk_id"] for c in chunks})
    malformed = next(c["chunk_id"] for c in chunks if "MALFORMED" in c["text"])
    assert malformed not in {q.chunk_id for q in questions}
    assert len(questions) == 2 * 11
    steps = {s["name"]: s for s in read_json(run / "manifest.json")["steps"]}
    assert steps["questions"]["drops"] == {"malformed": 2}  # first attempt + 1 retry
    assert steps["questions"]["counts"]["tasks_short"] == 1
    assert (
        steps["questions"]["tokens"]["completion_tokens"] > 0 and "estimated_cost_usd" in steps["questions"]
    )
    assert all(s["fingerprint"] and s["status"] == "done" and s["seconds"] >= 0 for s in steps.values())
    paraphrases = read_jsonl(run / "paraphrases.jsonl")
    refused = next(c["chunk_id"] for c in chunks if "REFUSE" in c["text"])
    assert {r["chunk_id"] for r in paraphrases if r["fallback"]} == {refused}
    assert steps["paraphrases"]["drops"] == {"refusal": 2}
    assert steps["paraphrases"]["counts"]["coverage"] == round(11 / 12, 4)
    ids = read_json(run / "index_paraphrased" / "ids.json")
    assert sorted(ids) == sorted(c["chunk_id"] for c in chunks)
    assert summary["llm_calls"] > 0 and summary["tokens"]["prompt_tokens"] > 0
    assert read_json(run / "manifest.json")["datagen"]["llm_calls"] == summary["llm_calls"]


def test_no_chunk_in_two_splits_and_split_matches_assignment(toy):
    summary = _run(toy())
    run = Path(summary["run_dir"])
    questions = load_questions(run / "questions.json")
    chunk_ids = [c["chunk_id"] for c in read_jsonl(run / "chunks.jsonl")]
    assignment = assign_splits(chunk_ids, [0.8, 0.1, 0.1], seed=0)
    seen: dict[str, str] = {}
    for q in questions:
        assert q.split == assignment[q.chunk_id]
        assert seen.setdefault(q.chunk_id, q.split) == q.split
    assert set(assignment.values()) == {"train", "validation", "test"}  # 12 chunks: every split has one
    assert len({q.split for q in questions}) >= 2


def test_rerun_skips_every_step_and_makes_no_llm_call(toy):
    config = toy()
    _run(config)
    before = {
        n: (Path(config.run_path) / n).read_bytes()
        for n in ("chunks.jsonl", "questions.json", "paraphrases.jsonl")
    }
    again = _run(config)
    assert {s["status"] for s in again["steps"].values()} == {"skipped"}
    assert again["llm_calls"] == 0 and again["cache_hits"] == 0
    assert before == {n: (Path(config.run_path) / n).read_bytes() for n in before}


def test_changed_question_setting_reruns_only_questions(toy):
    _run(toy())
    second = _run(toy("datagen.questions_per_chunk=1"))
    status = {name: s["status"] for name, s in second["steps"].items()}
    assert status == {
        "chunk": "skipped",
        "index": "skipped",
        "questions": "done",
        "paraphrases": "skipped",
        "index_paraphrased": "skipped",
    }
    assert second["steps"]["questions"]["llm_calls"] > 0  # the prompt asks for 1 question now: new calls
    assert len(load_questions(Path(second["run_dir"]) / "questions.json")) == 11


def test_multi_hop_questions_stay_within_one_split(toy):
    summary = _run(toy("datagen.multi_hop=true"))
    questions = load_questions(Path(summary["run_dir"]) / "questions.json")
    multi = [q for q in questions if len(q.source_chunk_ids) > 1]
    assert multi and all(q.difficulty == "hard" and q.id.endswith(":mh0") for q in multi)
    chunk_split = {q.chunk_id: q.split for q in questions if len(q.source_chunk_ids) == 1}
    for q in multi:
        assert {chunk_split.get(c, q.split) for c in q.source_chunk_ids} == {q.split}


def test_cloze_without_paraphrases_never_builds_an_llm(toy):
    config = toy(
        "datagen.generator=cloze", "datagen.paraphrase.enabled=false", "datagen.llm.model=nope:missing"
    )
    summary = _run(config)
    assert set(summary["steps"]) == {"chunk", "index", "questions"}
    questions = json.loads((Path(summary["run_dir"]) / "questions.json").read_text())
    chunks = {c["chunk_id"]: c["text"] for c in read_jsonl(Path(summary["run_dir"]) / "chunks.jsonl")}
    assert questions and all(q["answer"] in chunks[q["chunk_id"]] for q in questions)
    assert summary["llm_calls"] == 0 and not (Path(summary["run_dir"]) / "cache.sqlite").exists()


def test_cli_reports_a_missing_corpus_in_one_line(tmp_path, capsys):
    code = cli_main(
        [
            "datagen",
            "--config",
            "/dev/null",
            "--corpus",
            str(tmp_path / "nope"),
            "--run-dir",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "datagen.corpus" in err and "nope" in err and len(err.strip().splitlines()) == 1


def test_load_questions_names_file_record_and_field(tmp_path):
    path = tmp_path / "questions.json"
    path.write_text(
        json.dumps(
            [
                {"id": "a", "chunk_id": "c-0", "question": "Q?", "answer": "A"},
                {"id": "b", "chunk_id": "c-0", "question": "Q?", "answer": "A", "difficulty": "trivial"},
            ]
        )
    )
    with pytest.raises(ValueError, match=r"questions.json: record 1: field 'difficulty'"):
        load_questions(path)
    path.write_text(json.dumps([{"id": "a", "chunk_id": "c-9", "question": "Q?", "answer": "A"}]))
    with pytest.raises(ValueError, match=r"record 0: chunk id 'c-9' is not in chunks.jsonl"):
        load_questions(path, {"c-0"})


def test_auto_retrieval_measures_on_validation_and_every_stage_searches_with_the_choice(toy):
    from teacherforge.datagen.retrieval_choice import CANDIDATES
    from teacherforge.retrieval.retriever import META_FILE
    from teacherforge.run import RunLayout

    config = toy("retrieval.kind=auto", "datagen.split_ratios=[0.5,0.25,0.25]")
    summary = _run(config)
    run = Path(summary["run_dir"])
    choice = summary["steps"]["index"]["retrieval_choice"]
    validation = [q for q in load_questions(run / "questions.json") if q.split == "validation"]
    assert choice["questions"] == len(validation) > 0
    assert len(choice["table"]) == len(CANDIDATES) and choice["chosen"] in {
        r["setting"] for r in choice["table"]
    }
    best = max(choice["table"], key=lambda r: (r["answer@5"], r["answer@1"]))
    chosen = next(r for r in choice["table"] if r["setting"] == choice["chosen"])
    assert (chosen["answer@5"], chosen["answer@1"]) == (best["answer@5"], best["answer@1"])
    built = {name: read_json(run / name / META_FILE)["config"] for name in ("index", "index_paraphrased")}
    assert built["index"]["kind"] == built["index_paraphrased"]["kind"] == choice["chosen"].split()[0]
    retriever = RunLayout(run).retriever("original", config.retrieval)  # kind: auto loads the choice
    assert (
        retriever.kind == built["index"]["kind"] and retriever.search(["Oxygen subsystem"], 2, kind="bm25")[0]
    )
    assert "retrieval: auto chose" in pipeline.format_summary(summary)


def test_eval_retrieval_reports_every_setting_on_the_test_split_and_an_imported_set(
    toy, capsys, tmp_path, monkeypatch
):
    from teacherforge.datagen.retrieval_choice import CANDIDATES
    from tests.datagen._datagen_fakes import cli_with_toy_embedder

    monkeypatch.setattr(
        "teacherforge.retrieval.retriever.Embedder", HashEmbedder
    )  # what a loaded index embeds with

    config = toy("retrieval.kind=hybrid", "datagen.split_ratios=[0.5,0.25,0.25]")
    run = Path(_run(config)["run_dir"])
    capsys.readouterr()
    assert cli_with_toy_embedder(["eval-retrieval", "--run-dir", str(run), "--ks", "1,5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == read_json(run / "report" / "retrieval.json")
    test = [q for q in load_questions(run / "questions.json") if q.split == "test"]
    assert report["n"] == len(test) > 0 and report["split"] == "test"
    assert len(report["rows"]) == len(CANDIDATES) and [r["built"] for r in report["rows"]].count(True) == 1
    built = next(r for r in report["rows"] if r["built"])
    # answer@1 of the built setting, counted here from the index's own top hit
    from teacherforge.run import RunLayout

    tops = RunLayout(run).retriever().search([q.question for q in test], 1)
    expected = sum(q.answer.lower() in hits[0].text.lower() for q, hits in zip(test, tops)) / len(test)
    assert built["answer@1"] == pytest.approx(expected) and built["recall@5"] is not None

    imported = tmp_path / "mine.jsonl"
    imported.write_text(json.dumps({"question": test[0].question, "answer": test[0].answer}) + "\n")
    assert cli_with_toy_embedder(["eval-retrieval", "--run-dir", str(run), "--questions", str(imported)]) == 0
    table = capsys.readouterr().out
    assert "1 questions from" in table and "* hybrid minmax w=0.4" in table
    imported.write_text('{"question": "Q?"}\n')
    assert cli_with_toy_embedder(["eval-retrieval", "--run-dir", str(run), "--questions", str(imported)]) != 0
    assert "mine.jsonl:1: field 'answer' must be a non-empty string" in capsys.readouterr().err


def test_embedder_finetune_with_too_few_train_questions_stops_before_writing_it(toy):
    config = toy("datagen.embedder_finetune.enabled=true", "datagen.paraphrase.enabled=false")
    with pytest.raises(
        ValueError, match=r"train questions, fewer than datagen.embedder_finetune.min_questions=32"
    ):
        _run(config)
    assert not (config.run_path / "embedder").exists() and not (config.run_path / "index").exists()
