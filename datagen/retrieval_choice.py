"""``retrieval.kind: auto``: measure dense, BM25 and hybrid fusions on the run's validation questions, keep the best.

Users' corpora differ from the bundled report, so the search setting is chosen on theirs: the
first index is built with both a dense and a BM25 part, every candidate below searches the
validation questions, and the one with the best answer@5 (then answer@1; ties keep the order
below, the shipped default first) becomes the index's kind, fusion and weight. A question is
answered at k when its answer string (case-insensitive) is inside one of the top-k hits, the
measure ``benchmarks/answer_at_k.py`` uses. Training questions never choose; the test split never
sees the choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from teacherforge.config import RetrievalConfig
from teacherforge.rewards.retrieval import holds_answer

#: (kind, hybrid dense weight, fusion): the shipped default first, so a tie keeps it.
CANDIDATES = (
    ("hybrid", 0.4, "minmax"),
    ("dense", 0.4, "minmax"),
    ("bm25", 0.4, "minmax"),
    ("hybrid", 0.2, "minmax"),
    ("hybrid", 0.6, "minmax"),
    ("hybrid", 0.8, "minmax"),
    ("hybrid", 0.5, "rrf"),
)


def answer_ranks(
    retriever: Any, questions: Sequence[Any], k: int, kind: str | None = None
) -> list[int | None]:
    """Per question (``.question``, ``.answer``), the rank of the first of the top ``k`` hits holding
    the answer string (case-insensitive), else ``None``. One batched search."""
    results = retriever.search([q.question for q in questions], k, kind=kind)
    return [
        next((h.rank for h in hits if holds_answer(h.text, q.answer)), None)
        for q, hits in zip(questions, results)
    ]


def label(config: RetrievalConfig) -> str:
    """``dense``, ``bm25`` or ``hybrid <fusion> w=<weight>``.

    >>> label(RetrievalConfig())
    'hybrid minmax w=0.4'
    """
    if config.kind != "hybrid":
        return config.kind
    return f"hybrid {config.hybrid_fusion} w={config.hybrid_dense_weight}"


def choose_retrieval(
    retriever: Any, questions: Sequence[Any], base: RetrievalConfig
) -> tuple[RetrievalConfig, list[dict[str, Any]]]:
    """The best of :data:`CANDIDATES` on ``questions`` (validation) and the table of every candidate.

    ``retriever`` must hold both a dense and a BM25 part; its config is left as the winner's.
    Without questions the shipped default (hybrid, min-max, 0.4) is kept.
    """
    table = []
    best: tuple[tuple[float, float], RetrievalConfig] | None = None
    for kind, weight, fusion in CANDIDATES:
        config = dataclasses.replace(base, kind=kind, hybrid_dense_weight=weight, hybrid_fusion=fusion)
        retriever.config = config
        ranks = answer_ranks(retriever, questions, 5, kind) if questions else []
        n = max(1, len(ranks))
        score = (
            sum(r is not None for r in ranks) / n,
            sum(r == 1 for r in ranks) / n,
        )
        table.append(
            {"setting": label(config), "answer@5": round(score[0], 4), "answer@1": round(score[1], 4)}
        )
        if best is None or score > best[0]:
            best = (score, config)
    chosen = best[1]
    retriever.config, retriever.kind = chosen, chosen.kind
    return chosen, table
