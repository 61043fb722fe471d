"""Every ``benchmarks/bench_*.py`` runs at ``--smoke`` size in a subprocess, from another working
directory, exits 0, prints a table and writes nothing into the results the README comes from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))
sys.path.insert(0, str(BENCHMARKS))
import update_readme  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_benchmark_smoke_run_prints_a_table(script: Path, tmp_path: Path) -> None:
    latest = BENCHMARKS / "results" / "latest.json"
    before = latest.stat().st_mtime_ns if latest.exists() else None
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env["TEACHERFORGE_BENCH_JSON"] = str(tmp_path / "must-not-exist.json")  # a smoke run never saves
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        cwd=tmp_path,  # no reliance on the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith(("### ", "|")) for line in lines), (
        f"{script.name} printed no table:\n{output[-2000:]}"
    )
    assert not (tmp_path / "must-not-exist.json").exists()
    assert (latest.stat().st_mtime_ns if latest.exists() else None) == before


def test_readme_table_is_regenerated_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{update_readme.START}\nold figures\n{update_readme.END}\noutro\n", encoding="utf-8"
    )
    table = {"title": "t", "markdown": "### t", "headline": [["env step vs raw", "0.96×"]]}
    results = {
        "generated": "2025-01-01T00:00:00+00:00",
        "machine": {
            "platform": "Linux",
            "cpu": "x86_64",
            "cores": 2,
            "python": "3.11",
            "versions": {"faiss-cpu": "1"},
        },
        "benchmarks": {
            "bench_env": {"exit": 0, "seconds": 1.0, "tables": [table], "skipped": []},
            "bench_ray": {
                "exit": 0,
                "seconds": 1.0,
                "tables": [],
                "skipped": [{"title": "Ray", "reason": "ray missing"}],
            },
            "bench_x": {"exit": 1, "seconds": 1.0, "output": "Traceback"},
        },
    }
    update_readme.update_readme(json.loads(json.dumps(results)), readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old figures" not in text
    assert "| env step vs raw | 0.96× |" in text and "| Ray | skipped: ray missing |" in text
    assert "| `bench_x` | failed (exit 1) in the last run |" in text and "2 cores" in text
    assert "Traceback" in update_readme.render_markdown(results)
