"""`teacherforge index` and `teacherforge search` end to end, in subprocesses, plus bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from teacherforge.datagen.chunking import chunk_id

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # WANDB_MODE=offline makes transformers print to stdout on import: --json must stay clean anyway
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline"}
    # the console script's entry point (not `-m teacherforge.cli`, which would load cli.py twice)
    code = "import sys; from teacherforge.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result
    assert sum("error" in line for line in lines) == 1, result.stderr
    return lines[-1]


@pytest.fixture()
def corpus(tmp_path: Path, apollo_text: str) -> Path:
    """A directory with a few paragraphs of the Apollo 13 report (summary and introduction)."""
    start = apollo_text.index("# 1.0 SUMMARY")
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "apollo.md").write_text(apollo_text[start : start + 6000], encoding="utf-8")
    return folder


@pytest.mark.slow
def test_index_then_search_end_to_end(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    built = cli(
        "index",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--set",
        "datagen.chunking.size=500",
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    assert "indexed" in built.stderr
    assert {"retriever.json", "ids.json", "chunks.jsonl", "index.faiss"} <= {p.name for p in out.iterdir()}
    ids = json.loads((out / "ids.json").read_text())
    chunks = [json.loads(line) for line in (out / "chunks.jsonl").read_text().splitlines()]
    assert ids == [chunk_id("apollo.md", c["text"]) for c in chunks] and len(ids) > 5  # content ids

    found = cli(
        "search",
        "--index",
        str(out),
        "--k",
        "3",
        "--json",
        "Which disease was the backup command module pilot substituted because of?",
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert set(hits[0]) == {"chunk_id", "score", "rank", "text"}
    assert "rubella" in hits[0]["text"]
    assert hits[0]["chunk_id"] in ids

    text = cli("search", "--index", str(out), "--k", "1", "Iwo Jima recovery ship", cwd=tmp_path)
    assert text.returncode == 0 and text.stdout.startswith("1. apollo.md-")


def test_missing_corpus_fails_cleanly(tmp_path: Path) -> None:
    result = cli("index", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode != 0
    line = error_line(result)
    assert line.startswith("teacherforge index: error:") and str(tmp_path / "nope") in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [None, "", "   \n\n"])
def test_empty_corpus_fails_cleanly(tmp_path: Path, content: str | None) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    if content is not None:
        (folder / "blank.md").write_text(content)
    result = cli("index", "--corpus", str(folder), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode != 0
    assert "teacherforge index: error:" in error_line(result) and str(folder) in error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # nothing written, no temp dirs


def test_out_that_is_not_an_index_is_refused(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    result = cli("index", "--corpus", str(corpus), "--out", str(tmp_path / "busy"), cwd=tmp_path)
    assert result.returncode != 0 and "not a retriever index" in error_line(result)
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]


def test_bad_override_names_the_key(corpus: Path, tmp_path: Path) -> None:
    result = cli(
        "index",
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "o"),
        "--set",
        "retrieval.kind=magic",
        cwd=tmp_path,
    )
    assert result.returncode != 0 and "retrieval.kind" in error_line(result)
    assert not (tmp_path / "o").exists()


def test_search_on_missing_index_fails_cleanly(tmp_path: Path) -> None:
    result = cli("search", "--index", str(tmp_path / "none"), "oxygen", cwd=tmp_path)
    assert result.returncode != 0
    line = error_line(result)
    assert str(tmp_path / "none") in line and "teacherforge index" in line
