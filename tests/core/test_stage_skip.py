"""The one rule for "already done": a step is skipped when its record has the fingerprint of the
config keys it reads and of its inputs' contents, says ``done``, and its outputs exist."""

from __future__ import annotations

import json
import os

import pytest

from teacherforge import workspace
from teacherforge.workspace import RunDir, Step, atomic_write_text, config_slice


def _step(size=10, **extra) -> Step:
    return Step("chunk", {"datagen.chunking.size": size}, ["corpus.txt"], ["chunks.jsonl"], **extra)


def _run_step(run: RunDir, step: Step, output: str = "chunks") -> dict:
    with run.step(step) as record:
        atomic_write_text(run.file("chunks.jsonl"), output)
        record.counts["chunks"] = 1
    return run.record(step.name)


@pytest.fixture
def run_path(tmp_path):
    path = tmp_path / "run"
    path.mkdir()
    (path / "corpus.txt").write_text("alpha beta")
    return path


def test_done_needs_the_same_keys_the_same_input_contents_and_every_output(run_path):
    with RunDir(run_path) as run:
        assert run.done(_step()) is None, "never ran"
        record = _run_step(run, _step())
        assert record["status"] == "done" and record["config"] == {"datagen.chunking.size": 10}
        assert set(record["inputs"]) == {"corpus.txt"}, "inputs inside the run dir are named relative to it"
        assert run.done(_step()) == record
        assert run.done(_step(size=20)) is None, "a key it reads changed"
        (run_path / "corpus.txt").write_text("alpha gamma")
        assert run.done(_step()) is None, "an input's content changed"
        (run_path / "corpus.txt").write_text("alpha beta")
        assert run.done(_step()) == record, "same content again: done again"
        (run_path / "chunks.jsonl").unlink()
        assert run.done(_step()) is None, "an output is missing"


def test_a_rerun_replaces_the_record_and_the_manifest_keeps_each_steps_own_config(run_path):
    with RunDir(run_path) as run:
        _run_step(run, _step())
        _run_step(run, _step(size=20))
        other = Step("index", {"retrieval.kind": "bm25"}, ["chunks.jsonl"], ["chunks.jsonl"])
        _run_step(run, other)
    manifest = json.loads((run_path / "manifest.json").read_text())
    assert [s["name"] for s in manifest["steps"]] == ["chunk", "index"]
    assert manifest["steps"][0]["config"] == {"datagen.chunking.size": 20}
    assert manifest["steps"][1]["config"] == {"retrieval.kind": "bm25"}
    assert "config" not in manifest, "no top-level config overwritten by every stage"


def test_a_missing_input_is_one_line_naming_it_and_nothing_is_written(run_path):
    missing = Step("teacher", {}, ["questions.json"], ["teacher.jsonl"])
    with RunDir(run_path) as run:
        before = (run_path / "manifest.json").read_text()
        with pytest.raises(FileNotFoundError) as err:
            run.done(missing)
        with pytest.raises(FileNotFoundError), run.step(missing):
            pytest.fail("the body must not run")
    message = str(err.value)
    assert "\n" not in message and "questions.json" in message and "'teacher'" in message
    assert (run_path / "manifest.json").read_text() == before
    assert not (run_path / "teacher.jsonl").exists()


def test_a_step_that_rewrites_its_input_is_done_afterwards(run_path):
    in_place = Step("quality", {"quality.redact": True}, ["corpus.txt"], ["corpus.txt"])
    with RunDir(run_path) as run:
        with run.step(in_place):
            (run_path / "corpus.txt").write_text("ALPHA BETA, cleaned")
        assert run.done(in_place) is not None, "the fingerprint is taken when the step finishes"


def test_failed_or_killed_steps_are_unfinished_only_under_the_same_fingerprint(run_path):
    with RunDir(run_path) as run:
        with pytest.raises(RuntimeError), run.step(_step()):
            raise RuntimeError("out of memory")
        record = run.record("chunk")
        assert record["status"] == "failed" and "out of memory" in record["error"]
        assert run.unfinished(_step()) and run.done(_step()) is None
        assert not run.unfinished(_step(size=20)), "other settings: start afresh"
        _run_step(run, _step())
        assert not run.unfinished(_step())
    # a SIGKILL leaves the record the step wrote when it started
    manifest = json.loads((run_path / "manifest.json").read_text())
    manifest["steps"][0]["status"] = "running"
    (run_path / "manifest.json").write_text(json.dumps(manifest))
    with RunDir(run_path) as run:
        assert run.unfinished(_step()) and run.done(_step()) is None


def test_an_opaque_step_always_runs(run_path):
    with RunDir(run_path) as run:
        _run_step(run, _step(opaque=True))
        assert run.record("chunk")["fingerprint"] is None
        assert run.done(_step(opaque=True)) is None and run.done(_step()) is None


def test_directory_inputs_hash_their_files_but_not_hidden_ones(run_path):
    index = run_path / "index"
    index.mkdir()
    (index / "ids.json").write_text("[1, 2]")
    step = Step("teacher", {}, ["index"], [])
    with RunDir(run_path) as run:
        first = run.fingerprint(step)[0]
        (index / ".ids.json.123.tmp").write_text("half-written")
        assert run.fingerprint(step)[0] == first
        (index / "ids.json").write_text("[1, 3]")
        assert run.fingerprint(step)[0] != first
        (index / "ids.json").write_text("[1, 2]")
        (index / "extra.bin").write_bytes(b"\0")
        assert run.fingerprint(step)[0] != first


def test_unchanged_files_are_not_read_again(run_path, monkeypatch):
    corpus = run_path / "corpus.txt"
    old = corpus.stat().st_mtime_ns - 10_000_000_000
    os.utime(corpus, ns=(old, old))
    reads = []
    real = workspace.file_hash
    monkeypatch.setattr(workspace, "file_hash", lambda path: reads.append(path) or real(path))
    with RunDir(run_path) as run:
        first = run.fingerprint(_step())[0]
    with RunDir(run_path) as run:  # a new process: the cache lives in the run dir
        assert run.fingerprint(_step())[0] == first
    assert len(reads) == 1
    corpus.write_text("alpha gamma")  # same size, new content, just written: read again
    with RunDir(run_path) as run:
        assert run.fingerprint(_step())[0] != first
    assert len(reads) == 2


def test_config_slice_reads_dotted_keys_and_names_a_missing_one():
    from teacherforge.config import load_config

    config = load_config(None, ["sft.learning_rate=0.5"])
    assert config_slice(config, "seed", "sft.learning_rate") == {"seed": 0, "sft.learning_rate": 0.5}
    with pytest.raises(KeyError, match=r"sft\.nope"):
        config_slice(config, "sft.nope")
