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
from teacherforge.datagen.retrieval_metrics import measure_settings, queries_from_questions

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


def candidate_settings(base: RetrievalConfig, has_bm25: bool = True) -> list[RetrievalConfig]:
    """:data:`CANDIDATES` as configs over ``base``; only dense when the index has no BM25 part."""
    return [
        dataclasses.replace(base, kind=kind, hybrid_dense_weight=weight, hybrid_fusion=fusion)
        for kind, weight, fusion in CANDIDATES
        if has_bm25 or kind == "dense"
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
    No validation question is an error naming the setting (nothing to choose on).
    """
    if not questions:
        raise ValueError(
            "retrieval.kind: auto found no validation questions to choose on (the corpus is too small for "
            "datagen.split_ratios to give the validation split a chunk); add documents, raise the validation "
            "share, or set retrieval.kind to dense, bm25 or hybrid"
        )
    settings = candidate_settings(base)
    reports = measure_settings(retriever, queries_from_questions(questions), settings, ks=(1, 5))
    table = [
        {"setting": label(c), "answer@5": round(r["answer@5"], 4), "answer@1": round(r["answer@1"], 4)}
        for c, r in zip(settings, reports)
    ]
    # max keeps the first of equal scores: the shipped default wins ties
    best = max(range(len(settings)), key=lambda i: (reports[i]["answer@5"], reports[i]["answer@1"]))
    chosen = settings[best]
    retriever.config, retriever.kind = chosen, chosen.kind
    return chosen, table
