"""An optional second stage: a cross-encoder re-scores the first stage's top candidates.

``retrieval.reranker`` names any sentence-transformers ``CrossEncoder`` (a local path, or a hub id
already in the local cache; nothing is downloaded and no default ships, since none is packaged
offline). The first stage (dense, BM25 or hybrid) fetches ``retrieval.rerank_candidates`` chunks
per query; the cross-encoder scores every (query, chunk text) pair in one batched call and the
top ``k`` by that score are returned, ranked afresh. A hit's score is then the cross-encoder's
(a sigmoid in [0, 1] for a one-label model), so set ``retrieval.min_score`` for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from teacherforge.types import Hit


class Reranker:
    """A lazily loaded ``CrossEncoder`` that reorders first-stage hits."""

    def __init__(self, name: str, batch_size: int = 32) -> None:
        self.name = name
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The ``CrossEncoder`` (loaded on first use; a one-line error names the setting when it cannot be)."""
        if self._model is None:
            from sentence_transformers import CrossEncoder

            try:
                self._model = CrossEncoder(self.name, device="cpu", local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"retrieval.reranker: cannot load cross-encoder {self.name!r} ({type(exc).__name__}); "
                    "give a local CrossEncoder directory, or leave retrieval.reranker empty"
                ) from exc
        return self._model

    def rerank(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]], k: int) -> list[list[Hit]]:
        """The top ``k`` of each query's ``candidates`` by cross-encoder score, ranked 1..k."""
        pairs = [(query, hit.text) for query, hits in zip(queries, candidates) for hit in hits]
        if not pairs:
            return [[] for _ in queries]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        out, start = [], 0
        for hits in candidates:
            scored = sorted(
                zip((float(s) for s in scores[start : start + len(hits)]), range(len(hits))),
                key=lambda item: (-item[0], item[1]),  # ties keep the first stage's order
            )
            start += len(hits)
            out.append(
                [
                    dataclasses.replace(hits[i], score=score, rank=rank)
                    for rank, (score, i) in enumerate(scored[:k], 1)
                ]
            )
        return out
