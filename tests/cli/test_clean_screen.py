"""A clean screen: without ``-v`` the terminal keeps our messages, progress bars and summaries;
library warnings and debug lines go to ``<run dir>/logs/<command>.log``. ``-v`` anywhere on the
line shows everything (and still logs it).

The real CLI runs in a subprocess on a small run dir (:mod:`tests.datagen._sft_rundir`, answered
by the oracle teacher). :data:`NOISY` wraps the ``dataset`` command so that, inside it, each kind
of noise is made once: a transformers logger warning (transformers imported under the CLI's
set-up, as a stage imports it, or before it), a FutureWarning, a bm25s DEBUG line and one INFO
line of ours; the stage itself saves a ``datasets.DatasetDict`` (per-shard progress bars).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from teacherforge.cli import COMMANDS, build_parser, main
from teacherforge.config import load_config
from teacherforge.run_paths import RunPaths
from tests.cli._parser import command_options
from tests.datagen._sft_rundir import build_run_dir

REPO = Path(__file__).resolve().parents[2]
SETS = ["retrieval.kind=bm25", "quality.embedding_check=false", "quality.redact=false", "teacher.kind=oracle"]
NOISY = """
import logging, sys, warnings
import teacherforge.cli.cmd_dataset as command

real_run = command.run

def run(args):
    import transformers

    transformers.logging.get_logger("transformers.demo").warning("advice from transformers")
    warnings.warn("a library's future change", FutureWarning)
    logging.getLogger("bm25s").debug("bm25s detail")
    logging.getLogger("teacherforge.demo").info("our progress note")
    return real_run(args)

command.run = run
if sys.argv.pop(1) == "early":
    import transformers
logging.getLogger("bm25s").setLevel(logging.DEBUG)  # as bm25s sets itself on import
from teacherforge.cli import main
sys.exit(main(sys.argv[1:]))
"""
NOISE = ("advice from transformers", "FutureWarning: a library's future change", "bm25s detail")
SECRET = "sk-probe-not-for-logs"


@pytest.fixture(scope="module")
def answered(tmp_path_factory) -> Path:
    """A run dir with teacher records, ready for the dataset stage."""
    from teacherforge.datagen.quality import run_quality
    from teacherforge.datagen.teacher import run_teacher

    run = build_run_dir(tmp_path_factory.mktemp("screen") / "run")
    config = load_config(None, [f"run_dir={run}", *SETS])
    run_teacher(config)
    run_quality(config)
    return run


@pytest.fixture
def run_dir(answered, tmp_path) -> Path:
    return Path(shutil.copytree(answered, tmp_path / "run"))


def _noisy(argv: list[str], imported: str = "late") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PROBE_TOKEN": SECRET,
    }
    env.pop("WANDB_SILENT", None)
    return subprocess.run(
        [sys.executable, "-c", NOISY, imported, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _dataset_argv(run: Path) -> list[str]:
    return ["dataset", "--run-dir", str(run), *(arg for item in SETS for arg in ("--set", item))]


@pytest.mark.parametrize("imported", ["late", "early"])
def test_library_noise_goes_to_the_log_not_the_screen(run_dir, imported):
    done = _noisy(_dataset_argv(run_dir), imported)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["INFO teacherforge.demo: our progress note"]  # no bars, no noise
    assert "teacherforge dataset:" in done.stdout  # the summary stays
    log = RunPaths(run_dir).log("dataset")
    text = log.read_text()
    for line in (*NOISE, "our progress note", "teacherforge dataset"):
        assert line in text
    assert SECRET not in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_verbose_after_the_options_shows_everything(run_dir):
    done = _noisy([*_dataset_argv(run_dir), "-v"])
    assert done.returncode == 0, done.stderr
    for line in (*NOISE, "DEBUG bm25s", "Saving the dataset", "our progress note"):
        assert line in done.stderr
    text = RunPaths(run_dir).log("dataset").read_text()
    assert all(line in text for line in NOISE)


def test_a_real_index_build_keeps_bm25s_lines_off_screen(tmp_path):
    from tests.cli._tinyrun import tiny_overrides

    every = tiny_overrides(tmp_path, tmp_path / "unused")
    sets = [s for s in every if s.startswith(("run_dir=", "datagen.", "retrieval."))]  # cloze, BM25 index
    boot = "import sys; from tests.datagen._datagen_fakes import cli_with_toy_embedder as m; sys.exit(m(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    argv = ["datagen", "--config", os.devnull, *(arg for item in sets for arg in ("--set", item))]
    done = subprocess.run(
        [sys.executable, "-c", boot, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "bm25s" not in done.stderr and "chunking" in done.stderr  # progress bars stay
    assert "teacherforge datagen:" in done.stdout
    assert "DEBUG bm25s: " in RunPaths(tmp_path / "run").log("datagen").read_text()


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_every_command_takes_verbose(words):
    assert {"-v", "--verbose"} <= command_options(words)


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["dataset"], False),
        (["-v", "dataset"], True),
        (["dataset", "-v"], True),
        (["dataset", "--run-dir", "r", "--verbose", "--set", "seed=1"], True),
        (["train", "-v", "sft"], True),
        (["train", "sft", "--set", "seed=1", "-v"], True),
        (["search", "--index", "i", "words", "-v"], True),
        (["search", "--index", "i", "--", "-v"], False),  # a query that is "-v"
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_verbose_anywhere_on_the_line(argv, verbose):
    assert build_parser().parse_args(argv).verbose is verbose


def test_a_failing_command_writes_no_log_and_restores_logging(tmp_path, monkeypatch, capsys):
    import logging
    import warnings

    import teacherforge.cli.cmd_dataset as command

    real_run = command.run

    def run(args):
        logging.getLogger("bm25s").warning("noise before the failure")
        return real_run(args)

    monkeypatch.setattr(command, "run", run)
    root = logging.getLogger()
    before = (root.level, list(root.handlers), list(sys.meta_path), warnings.showwarning)
    missing = tmp_path / "missing"
    assert main(["dataset", "--run-dir", str(missing)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"teacherforge dataset: error: {missing}: teacher.jsonl, chunks.jsonl, questions.json not found; "
        "run `teacherforge teacher` first"
    ]
    assert not missing.exists()  # the log never creates a run dir
    assert (root.level, list(root.handlers), list(sys.meta_path), warnings.showwarning) == before


def test_a_command_without_run_dir_writes_no_log(answered, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a default run dir (runs/<name>) would appear here
    assert main(["search", "--index", str(answered / "index"), "helium leak"]) == 0
    assert "orion-" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.log")) and not (answered / "logs").exists()
