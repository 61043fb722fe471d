"""Qdrant local mode vs FAISS flat as a retriever's dense store (``retrieval.store``).

On the same random unit vectors (2,000 x 384 by default) both stores are built in memory, saved
to an index directory, loaded back and queried (a batch of queries, k=10, one call, as
``Retriever.search`` makes it); every figure is a ratio against FAISS flat measured in the same run,
and the table also says whether the two returned the same rows. Local mode is qdrant-client's
in-process engine (exact search in numpy; saving writes one SQLite transaction per point); a Qdrant
server is not measured here.

Run: ``python benchmarks/qdrant_store.py [--rows N] [--queries Q] [--smoke]``.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import benchkit
import numpy as np


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def _best_of(fn: Callable[[], Any], repeats: int) -> float:
    return min(_timed(fn)[1] for _ in range(repeats))


def _unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def bench_stores(rows: int, n_queries: int, dim: int, k: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Build, save, load and query seconds of FAISS flat and Qdrant local on the same vectors."""
    from teacherforge.config import RetrievalConfig
    from teacherforge.retrieval import dense
    from teacherforge.retrieval.qdrant_store import QdrantStore

    rng = np.random.default_rng(0)
    vectors, queries = _unit(rng.standard_normal((rows, dim))), _unit(rng.standard_normal((n_queries, dim)))
    payloads = [{"chunk_id": f"c{i}", "text": f"row {i}"} for i in range(rows)]
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index, build_s = _timed(lambda: dense.build_index(vectors, RetrievalConfig()))
        _, save_s = _timed(lambda: dense.save_index(index, Path(tmp) / "index.faiss"))
        loaded, load_s = _timed(lambda: dense.load_index(Path(tmp) / "index.faiss"))
        out["faiss"] = {"build_s": build_s, "save_s": save_s, "load_s": load_s}
        loaded.search(queries, k)  # warm-up (thread pool)
        out["faiss"]["query_s"] = _best_of(lambda: loaded.search(queries, k), repeats)
        truth_scores, truth = loaded.search(queries, k)

        store, build_s = _timed(lambda: QdrantStore.build(vectors, payloads, RetrievalConfig(store="qdrant")))
        _, save_s = _timed(lambda: store.save(Path(tmp) / "qdrant"))
        record = store.record()
        loaded, load_s = _timed(lambda: QdrantStore.load(Path(tmp) / "qdrant", record))
        out["qdrant"] = {"build_s": build_s, "save_s": save_s, "load_s": load_s}
        loaded.search(queries, k)  # warm-up
        out["qdrant"]["query_s"] = _best_of(lambda: loaded.search(queries, k), repeats)
        scores, found = loaded.search(queries, k)
    out["qdrant"]["same_rows"] = bool(np.array_equal(found, truth))
    out["qdrant"]["max_score_diff"] = float(np.abs(scores - truth_scores).max())
    out["faiss"]["same_rows"], out["faiss"]["max_score_diff"] = True, 0.0
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print its table."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--rows", type=int, default=2_000, help="vectors in the store")
    parser.add_argument("--queries", type=int, default=200, help="queries per search call")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3, help="query timings: best of this many")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.queries, args.repeats = 100, 10, 1
    reason = benchkit.missing_extra(["qdrant_client"], "qdrant")
    report = benchkit.Report("qdrant_store", args.smoke)
    title = f"Dense store: Qdrant local vs FAISS flat, {args.rows:,} x {args.dim} vectors"
    if reason:
        report.skip(title, reason)
        return 0
    r = bench_stores(args.rows, args.queries, args.dim, 10, args.repeats)
    base = r["faiss"]
    phases = ("build_s", "save_s", "load_s", "query_s")
    report.add(
        benchkit.Table(
            title,
            (
                "store",
                *(f"{p[:-2]} s" for p in phases),
                *(f"{p[:-2]} x" for p in phases),
                "same rows",
                "max score diff",
            ),
            tuple(
                (
                    name,
                    *(round(m[p], 4) for p in phases),
                    *(round(m[p] / base[p], 1) for p in phases),
                    m["same_rows"],
                    f"{m['max_score_diff']:.1e}",
                )
                for name, m in r.items()
            ),
            setup=(
                f"random unit vectors (seed 0), {args.queries} queries in one call, k=10, query time best of "
                f"{args.repeats}; x = ratio to FAISS flat (baseline, same run); faiss-cpu "
                f"{importlib.metadata.version('faiss-cpu')}, qdrant-client {importlib.metadata.version('qdrant-client')}"
            ),
            headline=(
                (
                    f"Qdrant local vs FAISS flat, {args.rows:,} vectors: query time, save time",
                    f"{r['qdrant']['query_s'] / base['query_s']:,.0f}×, {r['qdrant']['save_s'] / base['save_s']:,.0f}×",
                ),
            ),
        )
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
