"""``make bench``: run every ``benchmarks/bench_*.py`` in its own process and collect the figures.

A full run writes ``benchmarks/results/latest.json`` (every table, the machine, versions, exit
codes) and ``benchmarks/results/latest.md``, then regenerates the README's performance table
from them (:mod:`update_readme`). Naming benchmarks reruns only those and updates their entries.
``--smoke`` runs each at its tiny size and writes nothing.

    python benchmarks/run_all.py [--smoke] [bench_env bench_server ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchkit import RESULTS_ENV, machine_info
from update_readme import LATEST_JSON, LATEST_MD, render_markdown, update_readme

HERE = Path(__file__).resolve().parent
OUTPUT_TAIL_LINES = 40


def scripts(names: list[str]) -> list[Path]:
    """The ``bench_*.py`` scripts, all or those named (with or without ``.py``)."""
    found = sorted(HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n.removesuffix(".py") for n in names}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; known: {[p.stem for p in found]}")
    return [p for p in found if p.stem in wanted]


def run_one(script: Path, smoke: bool, json_path: Path | None) -> dict[str, Any]:
    """Run one benchmark, echoing its output; return its exit code, seconds and recorded tables."""
    env = dict(os.environ)
    env.pop(RESULTS_ENV, None)
    if json_path is not None:
        env[RESULTS_ENV] = str(json_path)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), *(["--smoke"] if smoke else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    code = proc.wait()
    entry: dict[str, Any] = {"exit": code, "seconds": round(time.perf_counter() - start, 1)}
    if json_path is not None and json_path.is_file():
        recorded = json.loads(json_path.read_text(encoding="utf-8"))
        entry.update(tables=recorded["tables"], skipped=recorded["skipped"], argv=recorded["argv"])
    else:  # a script that does not use benchkit.Report: keep what it printed
        entry["output"] = "\n".join(lines[-OUTPUT_TAIL_LINES:])
    return entry


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; on a full run, write the results files and the README table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; writes no results")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all bench_*.py)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for script in scripts(args.names):
            print(f"\n=== {script.name} ===", flush=True)
            json_path = None if args.smoke else Path(tmp) / f"{script.stem}.json"
            results[script.stem] = run_one(script, args.smoke, json_path)
            print(
                f"=== {script.name}: exit {results[script.stem]['exit']}, "
                f"{results[script.stem]['seconds']:.0f} s ===",
                flush=True,
            )
    failed = [name for name, r in results.items() if r["exit"]]
    if not args.smoke:
        previous = json.loads(LATEST_JSON.read_text(encoding="utf-8")) if LATEST_JSON.is_file() else {}
        merged = {
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "benchmarks": {**previous.get("benchmarks", {}), **results},
        }
        LATEST_JSON.parent.mkdir(parents=True, exist_ok=True)
        LATEST_JSON.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
        LATEST_MD.write_text(render_markdown(merged), encoding="utf-8")
        update_readme(merged)
        print(
            f"\nwrote {LATEST_JSON.relative_to(HERE.parent)}, {LATEST_MD.relative_to(HERE.parent)}, README table"
        )
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
