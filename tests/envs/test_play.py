"""``teacherforge env play`` with piped stdin, through the real CLI entry point."""

from __future__ import annotations

import io

import pytest

from teacherforge.cli import main

pytestmark = pytest.mark.slow  # real MiniLM index


def play(monkeypatch, capsys, run, stdin, *args):
    """``env play`` on ``run`` (its indexes are dense: the config says so, as a run's config would)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["env", "play", "--run-dir", str(run), "--set", "retrieval.kind=dense", *args])
    return code, capsys.readouterr()


def test_play_a_full_episode(monkeypatch, capsys, tiny_run):
    stdin = (
        "<think>who?</think>\\\n<search>who built the lighthouse of Velmora</search>\n/answer Tomas Reyl\n"
    )
    code, out = play(monkeypatch, capsys, tiny_run, stdin, "--question-id", "q0", "--top-k", "2")
    assert code == 0, out.err
    text = out.out
    assert "Who built the lighthouse of Velmora?" in text  # the prompt
    assert "[turn 1/4: search]" in text and "[retrieved: velmora-0 (" in text
    assert "<information>\n[1] The lighthouse of Velmora was built in 1847" in text
    assert "[turn 2/4: answer]" in text and "episode over after 2 turn(s): reward 2.0000" in text
    for line in ("retrieval_match          1.000   0.300     0.300", "exact_match              1.000"):
        assert line in text
    assert "gold chunk retrieved: turn 1, rank 1" in text
    assert "gold chunk velmora-0: The lighthouse of Velmora" in text


def test_play_malformed_and_truncated(monkeypatch, capsys, tiny_run):
    stdin = "hello\n<search></search>\n/search ferry to Skarn\n"
    code, out = play(
        monkeypatch,
        capsys,
        tiny_run,
        stdin,
        "--question-id",
        "q3",
        "--max-turns",
        "3",
        "--index",
        "paraphrased",
        "--rewards",
        "rezero",
    )
    assert code == 0, out.err
    assert "[turn 1/3: malformed: no_tag]" in out.out and "Invalid turn: no action found" in out.out
    assert "[turn 2/3: malformed: empty_query]" in out.out
    assert "[out of turns: truncated]" in out.out
    assert "search_diversity" in out.out  # the rezero rubric was used
    assert "final answer: None" in out.out


def test_play_input_ends_early_and_bad_run_dir(monkeypatch, capsys, tiny_run, tmp_path):
    code, out = play(
        monkeypatch, capsys, tiny_run, "/search salt festival\n", "--split", "train", "--seed", "3"
    )
    assert code == 0 and "input ended before the episode did (turn 1/4)" in out.out
    code, out = play(monkeypatch, capsys, tmp_path, "")
    assert code == 1
    assert "index: no retriever index there" in out.err and len(out.err.strip().splitlines()) == 1


def test_play_takes_the_config_and_refuses_an_index_built_differently(
    monkeypatch, capsys, tiny_run, tmp_path
):
    config = tmp_path / "play.yaml"
    config.write_text("retrieval:\n  kind: dense\n  top_k: 1\nenv:\n  max_turns: 2\n", encoding="utf-8")
    stdin = "/search who built the lighthouse of Velmora\n"
    code, out = play(monkeypatch, capsys, tiny_run, stdin, "--config", str(config), "--question-id", "q0")
    assert code == 0, out.err
    assert "[turn 1/2: search]" in out.out and "[retrieved: velmora-0 (" in out.out
    assert "[2]" not in out.out.split("[turn 1/2: search]")[1]  # top_k 1: one passage
    code, out = play(monkeypatch, capsys, tiny_run, "", "--set", "retrieval.kind=bm25")
    assert code == 1 and len(out.err.strip().splitlines()) == 1
    assert "retrieval.kind: the index was built with 'dense' but the config says 'bm25'" in out.err
