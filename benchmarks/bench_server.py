"""Retriever server throughput vs the in-process Retriever (same index, same queries), dense and BM25.

For each retriever kind (dense MiniLM, the default, and BM25) prints queries/s at batch 1 and
batch 64 for the in-process ``Retriever.search`` (baseline), the server called sequentially
through ``RemoteRetriever``, and 16 concurrent clients sending one query per request (which
the server micro-batches). With BM25 a query costs microseconds, so HTTP dominates; dense is
what a training run serves. Skipped, with the reason, without the ``serve`` extra.

Run: ``python benchmarks/bench_server.py [--queries 256] [--kinds dense,bm25] [--smoke]``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import benchkit

TITLE = "Retriever server vs in-process"


def _qps(fn: Callable[[list[str]], object], queries: list[str], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        fn(queries[i : i + batch])
    return len(queries) / (time.perf_counter() - start)


def measure(kind: str, chunks: list, queries: list[str]) -> list[tuple[str, float, float]]:
    """``(setting, in-process q/s, server q/s)`` for batch 1, batch 64 and 16 concurrent clients."""
    import httpx
    import uvicorn

    from teacherforge.config import RetrievalConfig, ServeConfig
    from teacherforge.retrieval import Retriever
    from teacherforge.retrieval.remote import RemoteRetriever
    from teacherforge.retrieval.server import create_app

    # no embedding cache: every call, in-process or served, pays for encoding its queries
    retriever = Retriever.build(chunks, RetrievalConfig(kind=kind, embedding_cache=False))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(retriever, ServeConfig(max_batch=256)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    remote = RemoteRetriever(url)
    retriever.search(queries[:8], 5)  # warm up
    remote.search(queries[:8], 5)
    rows = []
    for batch in (1, 64):
        local = _qps(lambda q: retriever.search(q, 5), queries, batch)
        served = _qps(lambda q: remote.search(q, 5), queries, batch)
        rows.append((f"batch {batch}", local, served))
    with ThreadPoolExecutor(16) as pool:
        start = time.perf_counter()
        list(pool.map(lambda q: remote.search([q], 5), queries))  # one shared, thread-safe HTTP client
        concurrent = len(queries) / (time.perf_counter() - start)
    server.should_exit = True
    rows.append(("16 clients, 1 query each", rows[0][1], concurrent))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Measure each kind and print one table per kind."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--kinds", default="dense,bm25", help="comma list of retriever kinds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.queries = 16
    report = benchkit.Report("bench_server", args.smoke)
    reason = benchkit.missing_extra(("fastapi", "uvicorn"), "serve")
    if reason:
        report.skip(TITLE, reason)
        report.save()
        return
    chunks = benchkit.apollo_slices(800, 40 if args.smoke else None)
    words = benchkit.APOLLO_REPORT.read_text(encoding="utf-8").split()
    queries = [" ".join(words[(i * 37) % (len(words) - 8) :][:6]) for i in range(args.queries)]
    for kind in args.kinds.split(","):
        rows = measure(kind, chunks, queries)
        overheads = [local / served for _, local, served in rows]
        report.add(
            benchkit.Table(
                f"{TITLE}: {kind}",
                ("setting", "in-process q/s", "server q/s", "overhead"),
                tuple(
                    (name, round(local, 1), round(served, 1), f"{o:.2f}x")
                    for (name, local, served), o in zip(rows, overheads)
                ),
                setup=(
                    f"{len(chunks)} Apollo 13 chunks of 800 chars, retriever kind {kind}, no embedding cache, "
                    f"{len(queries)} queries, k=5; baseline: in-process Retriever.search at the same batch"
                ),
                headline=(
                    (
                        f"retriever server vs in-process, {kind} (batch 1 / 64 / 16 concurrent clients)",
                        " / ".join(f"{o:.2f}×" for o in overheads),
                    ),
                ),
            )
        )
    report.save()


if __name__ == "__main__":
    main()
