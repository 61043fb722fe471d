"""Every corpus file accounted for: ``load_report.jsonl`` rows and the lines the datagen summary shows.

A file is ``loaded`` (with how many chunks it kept), ``emptied`` (loaded, but no chunk survived:
too short, or every chunk a duplicate of another file's), ``failed`` (could not be read) or
``skipped`` (unsupported type, a question set). Files left out by ``include``/``exclude`` are
only counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .chunking import ChunkingResult
from .loaders import LoadResult

PROBLEMS = ("failed", "emptied")


def load_report_rows(loaded: LoadResult, chunked: ChunkingResult | None) -> list[dict[str, Any]]:
    """One row per document, failure and skipped file, in that order.

    >>> from teacherforge.datagen.loaders import Document, LoadFailure
    >>> loaded = LoadResult([Document("a.md", "/c/a.md", "x")], [LoadFailure("/c/b.pdf", "damaged")])
    >>> chunked = ChunkingResult([], emptied={"a.md": "too short"})
    >>> [(r["path"], r["status"], r["reason"]) for r in load_report_rows(loaded, chunked)]
    [('a.md', 'emptied', 'too short'), ('/c/b.pdf', 'failed', 'damaged')]
    """
    chunks = Counter(c.doc_id for c in chunked.chunks) if chunked else Counter()
    emptied = chunked.emptied if chunked else {}
    rows: list[dict[str, Any]] = []
    for doc in loaded.documents:
        if doc.doc_id in emptied:
            rows.append({"path": doc.doc_id, "status": "emptied", "reason": emptied[doc.doc_id], "chunks": 0})
        else:
            rows.append(
                {
                    "path": doc.doc_id,
                    "status": "loaded",
                    "reason": "",
                    "chunks": chunks[doc.doc_id],
                    "language": doc.metadata.get("language"),
                }
            )
    rows += [{"path": f.path, "status": "failed", "reason": f.reason, "chunks": 0} for f in loaded.failures]
    rows += [{"path": f.path, "status": "skipped", "reason": f.reason, "chunks": 0} for f in loaded.skipped]
    return rows


def file_counts(rows: list[dict[str, Any]], excluded: int) -> dict[str, int]:
    """``{"loaded", "emptied", "failed", "skipped", "excluded"}`` totals of a load report."""
    counts = Counter(r["status"] for r in rows)
    return {s: counts.get(s, 0) for s in ("loaded", "emptied", "failed", "skipped")} | {"excluded": excluded}


def counts_line(files: dict[str, int]) -> str:
    """:func:`file_counts` on one line.

    >>> counts_line({"loaded": 3, "emptied": 1, "failed": 2, "skipped": 0, "excluded": 5})
    'loaded 3, emptied 1, failed 2, skipped 0, excluded by include/exclude 5'
    """
    return ", ".join(
        f"{k} {v}" if k != "excluded" else f"excluded by include/exclude {v}" for k, v in files.items()
    )


def problem_lines(rows: list[dict[str, Any]], limit: int = 10) -> list[str]:
    """The first ``limit`` failed or emptied files as ``status path: reason`` (and how many more)."""
    problems = [r for r in rows if r["status"] in PROBLEMS]
    lines = [f"{r['status']:<8} {r['path']}: {r['reason']}" for r in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return lines
