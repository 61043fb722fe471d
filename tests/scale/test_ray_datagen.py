"""Datagen on a local Ray cluster (2 CPUs): same outputs as the local executor, and a killed run resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from teacherforge.config import load_config
from teacherforge.datagen.pipeline import run_datagen
from teacherforge.workspace import read_json
from tests.datagen._datagen_fakes import OVERRIDES, HashEmbedder, make_corpus

REPO = Path(__file__).resolve().parents[2]
COMPARED = (
    "chunks.jsonl",
    "questions.json",
    "paraphrases.jsonl",
    "index/ids.json",
    "index_paraphrased/ids.json",
)


@pytest.fixture(scope="module")
def ray_env():
    """PYTHONPATH for the Ray workers (they import the fake backend factory by dotted path)."""
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _config(corpus: Path, run: Path, *extra: str):
    return load_config(
        None,
        [
            *OVERRIDES,
            "datagen.llm.model=tests.datagen._datagen_fakes:scripted_backend",
            "retrieval.bm25_stemmer=none",
            f"datagen.corpus={corpus}",
            f"run_dir={run}",
            *extra,
        ],
    )


@pytest.mark.slow
def test_ray_executor_gives_the_local_outputs(tmp_path, monkeypatch, ray_env):
    monkeypatch.setattr("teacherforge.retrieval.Embedder", HashEmbedder)
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    run_datagen(_config(corpus, tmp_path / "local"), progress=False, print_summary=False)
    summary = run_datagen(
        _config(corpus, tmp_path / "ray", "executor.kind=ray", "executor.workers=2"),
        progress=False,
        print_summary=False,
    )
    for name in COMPARED:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    import ray

    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2
    manifest = read_json(tmp_path / "ray" / "manifest.json")
    assert manifest["datagen"]["executor"] == "ray"
    assert summary


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.slow
def test_interrupted_ray_run_resumes_without_repeating_finished_calls(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "DATAGEN_FAKE_LOG": str(log),
        "DATAGEN_FAKE_DELAY": "0.5",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    sets = [*OVERRIDES, "datagen.llm.model=tests.datagen._datagen_fakes:slow_backend", "executor.workers=2"]
    boot = "import sys; from tests.datagen._datagen_fakes import cli_with_toy_embedder as m; sys.exit(m(sys.argv[1:]))"
    cmd = [
        sys.executable,
        "-c",
        boot,
        "datagen",
        "--config",
        os.devnull,
        "--corpus",
        str(corpus),
        "--run-dir",
        str(tmp_path / "run"),
        "--no-progress",
        "--executor",
        "ray",
        *[a for item in sets for a in ("--set", item)],
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        # a shell's background job ignores SIGINT and children inherit that: give Ctrl-C back its default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while sum(line.startswith("done ") for line in _lines(log)) < 8:
        assert proc.poll() is None, f"finished before the interruption:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C mid-run: the driver stops, finished calls are in the cache
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert not (tmp_path / "run" / "index_paraphrased").exists()
    done_before = Counter(line.split()[1] for line in _lines(log) if line.startswith("done "))
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert final.returncode == 0, final.stdout + final.stderr
    done = Counter(line.split()[1] for line in _lines(log) if line.startswith("done "))
    # Results reach the cache when the driver receives them: only the generate call in flight at the
    # interruption (at most datagen.batch_size = 4 prompts) can be made again, never a cached one.
    repeated = sum(n - 1 for n in done.values())
    assert repeated <= 4, f"{repeated} finished calls were made again"
    assert set(done_before) < set(done)
    reference = tmp_path / "reference"
    env_ref = {**env, "DATAGEN_FAKE_LOG": str(tmp_path / "ref.log"), "DATAGEN_FAKE_DELAY": "0"}
    ref_cmd = [a if a != str(tmp_path / "run") else str(reference) for a in cmd]
    ref_cmd[ref_cmd.index("ray")] = "local"
    assert subprocess.run(ref_cmd, env=env_ref, capture_output=True, timeout=300, cwd=REPO).returncode == 0
    for name in COMPARED:
        assert (tmp_path / "run" / name).read_bytes() == (reference / name).read_bytes(), name
