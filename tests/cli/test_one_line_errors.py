"""Every command, given a bad value, fails with one line on stderr and a non-zero status (in-process)."""

from __future__ import annotations

import pytest

from teacherforge.cli import COMMANDS, main
from tests.cli._parser import command_options


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_an_unknown_config_key_is_one_line_naming_the_set(words, tmp_path, capsys):
    options = command_options(words)
    if "--set" not in options:
        pytest.skip("takes no config")
    argv = [*words, "--config", "quickstart", "--set", "nosuch.key=1"]
    if "--run-dir" in options:
        argv += ["--run-dir", str(tmp_path / "run")]
    required = {
        ("search",): ["--index", str(tmp_path), "words"],
        ("ask",): ["a question?"],
        ("index",): ["--corpus", str(tmp_path), "--out", str(tmp_path / "index")],
        ("rewards", "replay"): ["--trajectories", str(tmp_path / "t.jsonl")],
    }
    argv += required.get(words, [])
    assert main(argv) == 1
    line = _one_error_line(capsys)
    assert "--set nosuch.key=1: nosuch: Key 'nosuch' not in 'Config'" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["datagen", "--corpus", "{tmp}/docs", "--set", "datagen.include=[*.pdf,*.docx]"],
            "quote each pattern",
        ),
        (
            ["datagen", "--config", "quickstart", "--set", "datagen.batch_size=abc"],
            "--set datagen.batch_size=abc",
        ),
        (["datagen", "--corpus", "{tmp}/none"], "does not exist"),
        (["search", "--index", "{tmp}", "   "], "the query is empty"),
        (["search", "--index", "{tmp}/none", "words"], "none"),
        (["train", "sft", "--config", "quickstart", "--run-dir", "{tmp}/run"], "teacherforge dataset"),
        (["eval", "--config", "quickstart", "--run-dir", "{tmp}/run"], "{tmp}/run"),
        (["loop", "--config", "quickstart", "--run-dir", "{tmp}/run"], "no trained student"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_values_fail_in_one_line(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    assert message.replace("{tmp}", str(tmp_path)) in _one_error_line(capsys)


def test_a_locked_run_dir_is_one_line(tmp_path, capsys):
    from teacherforge.workspace import RunDir

    run = tmp_path / "run"
    run.mkdir()
    (run / "questions.json").write_text("[]")
    with RunDir(run):
        assert main(["dataset", "--config", "sft_only", "--run-dir", str(run)]) == 1
    line = _one_error_line(capsys)
    assert "locked" in line and str(run) in line
