"""Workspace: atomic writes survive crashes, the manifest records steps, the lock excludes."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from teacherforge.workspace import (
    RunDir,
    RunDirLocked,
    Step,
    atomic_path,
    atomic_write_json,
    atomic_write_jsonl,
    read_jsonl,
    stable_hash,
)


def test_crash_between_write_and_rename_keeps_previous_file(tmp_path):
    target = tmp_path / "questions.json"
    atomic_write_json(target, [{"id": 1}])
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("crash before rename")
    assert json.loads(target.read_text()) == [{"id": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["questions.json"], "no temp file left behind"


def test_jsonl_round_trip_and_bad_line(tmp_path):
    path = tmp_path / "x.jsonl"
    assert atomic_write_jsonl(path, [{"a": 1}, {"b": "é"}]) == 2
    assert read_jsonl(path) == [{"a": 1}, {"b": "é"}]
    path.write_text('{"a": 1}\n{broken\n')
    with pytest.raises(ValueError, match=r"x.jsonl:2"):
        read_jsonl(path)


def test_manifest_records_each_steps_config(tmp_path):
    with RunDir(tmp_path / "run") as run:
        with run.step(Step("chunk", {"datagen.chunking.size": 10})) as step:
            step.outputs["chunks"] = "chunks.jsonl"
            step.counts["chunks"] = 3
        with run.step(Step("chunk", {"datagen.chunking.size": 20})) as step:
            step.counts["chunks"] = 5
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert "config" not in manifest and "config_hash" not in manifest
    assert "torch" in manifest["versions"] or "teacherforge" in manifest["versions"]
    assert [s["name"] for s in manifest["steps"]] == ["chunk"], "a rerun replaces the step record"
    assert manifest["steps"][0]["counts"] == {"chunks": 5}
    assert manifest["steps"][0]["config"] == {"datagen.chunking.size": 20}
    assert manifest["steps"][0]["finished_at"] and manifest["steps"][0]["status"] == "done"
    assert manifest["steps"][0]["fingerprint"] == stable_hash(
        {"config": {"datagen.chunking.size": 20}, "inputs": {}}
    )


def _try_lock(path, queue):
    try:
        with RunDir(path):
            queue.put("acquired")
    except RunDirLocked as exc:
        queue.put(str(exc))


def test_second_process_cannot_open_a_locked_run(tmp_path):
    run_path = tmp_path / "run"
    with RunDir(run_path):
        queue: mp.Queue = mp.get_context("spawn").Queue()
        proc = mp.get_context("spawn").Process(target=_try_lock, args=(run_path, queue))
        proc.start()
        proc.join(60)
        message = queue.get(timeout=5)
    assert "in use by another teacherforge process" in message
    with RunDir(run_path):  # released afterwards
        pass


def test_stable_hash_is_order_independent():
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path):
    """mkstemp makes 0600 files; chunks.jsonl, manifest.json, questions.json were written so."""
    import os

    from teacherforge.workspace import atomic_write_json, atomic_write_jsonl

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_json(tmp_path / "a.json", {"a": 1})
    atomic_write_jsonl(tmp_path / "b.jsonl", [{"b": 2}])
    expected = plain.stat().st_mode & 0o777
    assert expected != 0o600
    for name in ("a.json", "b.jsonl"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name
    assert os.access(tmp_path / "a.json", os.R_OK)
