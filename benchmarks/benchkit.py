"""The one helper module of the benchmarks: machine line, ``--smoke`` flag, tables, results.

Every ``benchmarks/bench_*.py`` is a script run as ``python benchmarks/bench_x.py``, so this
directory is first on ``sys.path`` and ``import benchkit`` works from any working directory;
nothing here (or in a benchmark) imports from ``tests/``.

A benchmark builds :class:`Table` objects and hands them to a :class:`Report`, which prints
each one at once and, at the end, writes them as JSON to the file named by the
``TEACHERFORGE_BENCH_JSON`` environment variable (set by ``run_all.py`` for a full run). A
``--smoke`` run never writes that file, so smoke figures never reach
``benchmarks/results/latest.json`` or the README.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teacherforge.workspace import package_versions

REPO = Path(__file__).resolve().parents[1]
APOLLO_REPORT = REPO / "examples" / "apollo13" / "mission_report.md"
RESULTS_ENV = "TEACHERFORGE_BENCH_JSON"
#: Every rendered table starts with this marker; the smoke test looks for it.
TABLE_MARK = "### "


def machine_info() -> dict[str, Any]:
    """The CPU/OS, core count, Python and the versions of the packages the figures depend on."""
    return {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": dict(package_versions()),
    }


def machine_report() -> str:
    """One line about the CPU/OS and one about the package versions."""
    info = machine_info()
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return (
        f"machine: {info['platform']}, {info['cpu']}, {info['cores']} cores, Python {info['python']}\n"
        f"versions: {versions}"
    )


@dataclass(frozen=True)
class Table:
    """One printed table of a benchmark.

    ``setup`` says what was measured and which sizes/data chose any default; ``headline`` is
    the ``(what, result)`` pairs the README's performance table shows for this table.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    setup: str = ""
    notes: tuple[str, ...] = ()
    headline: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        """The table as Markdown (title line, setup line, pipe table, notes)."""
        cells = [[_cell(v) for v in row] for row in self.rows]
        lines = [f"{TABLE_MARK}{self.title}"]
        if self.setup:
            lines.append(self.setup)
        lines += ["", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON record of the table (``render`` output included)."""
        return {
            "title": self.title,
            "setup": self.setup,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "notes": list(self.notes),
            "headline": [list(h) for h in self.headline],
            "markdown": self.render(),
        }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@dataclass
class Report:
    """The tables (and skipped tables) of one benchmark run; prints as it goes, saves at the end."""

    name: str
    smoke: bool
    tables: list[Table] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        print(machine_report(), flush=True)
        if self.smoke:
            print("smoke run: tiny sizes, figures mean nothing, nothing is saved", flush=True)

    def add(self, table: Table) -> None:
        """Print ``table`` now and keep it for :meth:`save`."""
        self.tables.append(table)
        print("\n" + table.render(), flush=True)

    def skip(self, title: str, reason: str) -> None:
        """Record and print, on one line, that table ``title`` was not measured and why."""
        self.skipped.append({"title": title, "reason": reason})
        print(f"\n{TABLE_MARK}{title}\nskipped: {reason}", flush=True)

    def save(self) -> Path | None:
        """Write the run as JSON to ``$TEACHERFORGE_BENCH_JSON``; never for a smoke run."""
        target = os.environ.get(RESULTS_ENV)
        if self.smoke or not target:
            return None
        record = {
            "benchmark": self.name,
            "machine": machine_info(),
            "argv": sys.argv[1:],
            "tables": [t.to_json() for t in self.tables],
            "skipped": self.skipped,
        }
        path = Path(target)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser for a benchmark, with the common ``--smoke`` flag."""
    out = argparse.ArgumentParser(
        description=(doc or "").strip().splitlines()[0] if doc else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out.add_argument(
        "--smoke", action="store_true", help="tiny sizes that finish in seconds (tests); saves nothing"
    )
    return out


def missing_extra(modules: Sequence[str], extra: str) -> str | None:
    """``None`` when every module imports, else a one-line reason naming the extra to install."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"{', '.join(absent)} not installed (pip install -e '.[{extra}]')"


def apollo_slices(size: int, limit: int | None = None) -> list[Any]:
    """Fixed ``size``-character slices of the bundled Apollo 13 report as ``Chunk`` records."""
    from teacherforge.types import Chunk

    text = APOLLO_REPORT.read_text(encoding="utf-8")
    chunks = [
        Chunk(f"r-{i}", "r", "report", text[s : s + size]) for i, s in enumerate(range(0, len(text), size))
    ]
    return chunks[:limit] if limit is not None else chunks


def tiny_causal_lm(path: Path) -> Path:
    """A random-initialised 2-layer, hidden-64 model of SmolLM2-135M's configuration with the real
    tokenizer, saved at ``path``: the smoke runs' stand-in for the embedded model (seconds, not minutes)."""
    from teacherforge.models import save_random_model

    return save_random_model(path)


def apollo_run_dir(path: Path, n_chunks: int = 40, kind: str = "bm25") -> Path:
    """A real data-generation-style run dir at ``path`` over the first ``n_chunks`` 600-char slices
    of the Apollo 13 report: ``chunks.jsonl``, a ``kind`` retriever in ``index/`` and
    ``questions.json`` with the hand-written questions whose answer is in one of those chunks
    (split ``train``), each pointing at that chunk."""
    from answer_at_k import load_questions

    from teacherforge.config import RetrievalConfig
    from teacherforge.records import as_questions
    from teacherforge.retrieval import Retriever
    from teacherforge.run import RunLayout
    from teacherforge.workspace import atomic_write_jsonl

    chunks = apollo_slices(600, n_chunks)
    records = []
    for q in load_questions():
        home = next((c for c in chunks if q["answer"].lower() in c.text.lower()), None)
        if home is not None:
            records.append(
                {
                    "id": q["id"],
                    "chunk_id": home.chunk_id,
                    "question": q["question"],
                    "answer": q["answer"],
                    "difficulty": "easy",
                    "split": "train",
                    "source_chunk_ids": [home.chunk_id],
                    "metadata": {},
                }
            )
    if not records:
        raise ValueError(f"no hand-written question is answered in the first {n_chunks} chunks; use more")
    layout = RunLayout(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(layout.chunks, [c.to_json() for c in chunks])
    Retriever.build(chunks, RetrievalConfig(kind=kind)).save(layout.index_dir("original"))
    layout.save_questions(as_questions(records, "hand-written questions"))
    return path
