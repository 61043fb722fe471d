"""One search interface over dense (FAISS or Qdrant), BM25 (bm25s) and hybrid retrieval, saved in one directory.

A retriever indexes *rows*; each row carries a ``chunk_id`` and rows may share one (a
paraphrased index maps every paraphrase back to its original chunk; a sentence-window index,
``retrieval.unit: sentence``, has a row per sentence). ``search`` returns at
most one hit per ``chunk_id`` (its best row), ranked 1..k.

Directory layout (written to a temporary sibling and renamed into place)::

    retriever.json   kind, config, fusion weight, embedder identity, row count, format version
    ids.json         row -> chunk_id
    chunks.jsonl     one Chunk record per row (so hits carry text after a load)
    index.faiss      FAISS index of the row embeddings (``retrieval.store: faiss``, the default)
    qdrant/          Qdrant local-mode storage of the row embeddings (``store: qdrant`` without a
                     ``qdrant_url``; with one the collection is on that server, named in ``retriever.json``)
    bm25/            bm25s index (kinds bm25 and hybrid)

A dense index is always present, whatever the kind: paraphrase checks use it too.

The settings in ``retriever.json`` describe the build. Loading with a config
(``Retriever.load(dir, config)``) applies that config's search-time settings (top-k, hybrid
weight, HNSW ``ef_search``, IVF ``nprobe``) and refuses a config whose build-time settings
(:meth:`~teacherforge.config.RetrievalConfig.build_settings`) differ from the index's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from teacherforge.config import ConfigError, RetrievalConfig
from teacherforge.config.retrieval import BUILD_KEYS
from teacherforge.types import Chunk, Hit
from teacherforge.workspace import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl, replace_dir

from . import dense
from .bm25 import BM25Index
from .embedder import Embedder, weights_hash
from .rerank import Reranker
from .units import index_rows, match_text

FORMAT_VERSION = 1
META_FILE = "retriever.json"
IDS_FILE = "ids.json"
CHUNKS_FILE = "chunks.jsonl"
FAISS_FILE = "index.faiss"
QDRANT_DIR = "qdrant"
BM25_DIR = "bm25"
# hybrid fusion looks at this many candidate rows from each side (at least)
MIN_FUSION_CANDIDATES = 50
# reciprocal rank fusion's constant (Cormack et al., 2009): a row at rank r adds 1 / (RRF_K + r)
RRF_K = 60


def _rebuild_hint(directory: Path) -> str:
    return f"rebuild it with `teacherforge index --corpus PATH --out {directory}`"


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale ``scores`` to [0, 1]; a constant list maps to 1 if positive else 0.

    >>> minmax(np.array([2.0, 1.0, 0.0])).tolist(), minmax(np.array([0.0, 0.0])).tolist()
    ([1.0, 0.5, 0.0], [0.0, 0.0])
    """
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        return np.full_like(scores, 1.0 if high > 0 else 0.0)
    return (scores - low) / (high - low)


def reciprocal_ranks(scores: np.ndarray) -> np.ndarray:
    """Reciprocal rank fusion's share of each row, ``(RRF_K + 1) / (RRF_K + rank)``: 1 for the best.

    >>> [round(float(x), 4) for x in reciprocal_ranks(np.array([0.2, 0.9, 0.5]))]
    [0.9683, 1.0, 0.9839]
    """
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, scores.size + 1)
    return ((RRF_K + 1) / (RRF_K + ranks)).astype(np.float32)


class Retriever:
    """Search chunks by meaning (dense), by words (BM25) or both (hybrid).

    Build with :meth:`build`, query with :meth:`search`, persist with :meth:`save` /
    :meth:`load`. ``kind`` is the default kind of ``search``; ``embedder`` embeds queries
    for the dense ``index`` (a FAISS index, or a :class:`~.qdrant_store.QdrantStore` with the
    same ``search``/``d``/``ntotal``; always present: paraphrase checks use it too).
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        config: RetrievalConfig,
        embedder: Embedder,
        index: Any,
        bm25: BM25Index | None,
    ) -> None:
        self.chunks = list(chunks)
        self.chunk_ids = [c.chunk_id for c in self.chunks]
        self.config = config
        self.kind = config.kind
        self.embedder = embedder
        self.index = index
        self.bm25 = bm25
        counts: dict[str, int] = {}
        for chunk_id in self.chunk_ids:
            counts[chunk_id] = counts.get(chunk_id, 0) + 1
        # Fetching k * max_rows_per_chunk rows guarantees k distinct chunk ids (pigeonhole).
        self.max_rows_per_chunk = max(counts.values(), default=1)
        self._rerankers: dict[str, Reranker] = {}

    def __len__(self) -> int:
        return len(self.chunks)

    @classmethod
    def build(
        cls, chunks: Sequence[Chunk], config: RetrievalConfig | None = None, embedder: Embedder | None = None
    ) -> Retriever:
        """Embed and index ``chunks`` (chunk ids may repeat) as ``config`` says: one row per chunk, or
        with ``unit: sentence`` one per sentence, returning its window (:mod:`.units`)."""
        config = config or RetrievalConfig()
        rows = index_rows(chunks, config.unit, config.window)
        if not rows:
            raise ValueError(
                "Retriever.build: no chunks to index; check the corpus and the chunking settings"
            )
        embedder = embedder or Embedder(config.embedder, config.batch_size, config.embedding_cache)
        texts = [match_text(row) for row in rows]
        vectors = embedder.encode(texts)
        if config.store == "qdrant":
            from .qdrant_store import QdrantStore

            index = QdrantStore.build(vectors, [row.to_json() for row in rows], config)
        else:
            index = dense.build_index(vectors, config)
        bm25 = BM25Index.build(texts, config) if config.kind in ("bm25", "hybrid") else None
        return cls(rows, config, embedder, index, bm25)

    def _reranker(self, name: str) -> Reranker:
        if name not in self._rerankers:
            self._rerankers[name] = Reranker(name)
        return self._rerankers[name]

    # ------------------------------------------------------------------ search
    def search(
        self, queries: Sequence[str], k: int | None = None, kind: str | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` chunks for every query: one embed call and one dense-index call for the batch.

        ``kind`` overrides the retriever's kind for this call (``bm25``/``hybrid`` need the
        BM25 index). Scores are cosine (dense), BM25 (bm25) or fused in [0, 1] (hybrid); with
        ``retrieval.reranker`` the first stage fetches ``rerank_candidates`` hits and a
        cross-encoder's scores order them (:mod:`teacherforge.retrieval.rerank`).
        """
        queries = list(queries)
        k = self.config.top_k if k is None else k
        kind = kind or self.kind
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if kind not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"unknown retrieval kind {kind!r}; choose dense, bm25 or hybrid")
        if kind != "dense" and self.bm25 is None:
            raise ValueError(
                f"this {self.kind} retriever has no BM25 index; rebuild with retrieval.kind={kind}"
            )
        if not queries:
            return []
        if self.config.reranker:
            first = self._first_stage(queries, max(k, self.config.rerank_candidates), kind)
            return self._reranker(self.config.reranker).rerank(queries, first, k)
        return self._first_stage(queries, k, kind)

    def _first_stage(self, queries: list[str], k: int, kind: str) -> list[list[Hit]]:
        rows_needed = min(len(self), k * self.max_rows_per_chunk)
        if kind == "dense":
            rows, scores = self._dense(queries, rows_needed)
        elif kind == "bm25":
            rows, scores = self.bm25.scores(queries, rows_needed)
        else:
            rows, scores = self._hybrid(queries, rows_needed)
        return [self._collapse(r, s, k) for r, s in zip(rows, scores)]

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Dense search with precomputed query embeddings (one dense-index call)."""
        rows, scores = self._nearest(
            np.asarray(vectors, dtype=np.float32), min(len(self), k * self.max_rows_per_chunk)
        )
        return [self._collapse(r, s, k) for r, s in zip(rows, scores)]

    def _nearest(self, vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        if vectors.ndim != 2 or vectors.shape[1] != self.index.d:
            raise ValueError(
                f"query vectors have shape {vectors.shape}; the index expects dim {self.index.d}"
            )
        scores, rows = self.index.search(np.ascontiguousarray(vectors), n)
        return rows, scores

    def _dense(self, queries: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._nearest(self.embedder.encode(queries), n)

    def _hybrid(self, queries: list[str], n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        pool = min(len(self), max(4 * n, MIN_FUSION_CANDIDATES))
        d_rows, d_scores = self._dense(queries, pool)
        b_rows, b_scores = self.bm25.scores(queries, pool)
        weight = self.config.hybrid_dense_weight
        normalise = minmax if self.config.hybrid_fusion == "minmax" else reciprocal_ranks
        out_rows, out_scores = [], []
        for dr, ds, br, bs in zip(d_rows, d_scores, b_rows, b_scores):
            fused: dict[int, float] = {}
            keep = dr >= 0  # the dense index pads with -1 when it finds fewer rows
            for row, value in zip(dr[keep].tolist(), normalise(ds[keep]).tolist()):
                fused[row] = weight * value
            for row, value in zip(br.tolist(), normalise(bs).tolist()):
                fused[row] = fused.get(row, 0.0) + (1.0 - weight) * value
            order = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
            out_rows.append(np.array([r for r, _ in order], dtype=np.int64))
            out_scores.append(np.array([s for _, s in order], dtype=np.float32))
        return out_rows, out_scores

    def _collapse(self, rows: np.ndarray, scores: np.ndarray, k: int) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set()
        for row, score in zip(rows.tolist(), scores.tolist()):
            if row < 0:
                continue
            chunk_id = self.chunk_ids[row]
            if chunk_id in seen:
                continue
            seen.add(chunk_id)
            hits.append(
                Hit(chunk_id=chunk_id, score=float(score), rank=len(hits) + 1, text=self.chunks[row].text)
            )
            if len(hits) == k:
                break
        return hits

    # --------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the retriever into ``directory`` atomically (temp dir, then rename).

        An existing retriever directory is replaced; any other existing non-empty path is
        refused rather than overwritten (``ValueError``), an unwritable one too (``PermissionError``).
        """
        target = Path(directory)
        if (
            target.exists()
            and not (target / META_FILE).is_file()
            and (not target.is_dir() or any(target.iterdir()))
        ):
            raise ValueError(
                f"{target}: exists and is not a retriever index; choose another output or remove it"
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        except OSError as exc:  # a read-only folder, or a file where a folder should be
            raise PermissionError(
                f"{target}: cannot write the index there ({exc}); choose a writable output directory"
            ) from exc
        try:
            if self.config.store == "qdrant":
                self.index.save(tmp / QDRANT_DIR)
                store = self.index.record()
            else:
                dense.save_index(self.index, tmp / FAISS_FILE)
                store = {"name": "faiss"}
            if self.bm25 is not None:
                self.bm25.save(tmp / BM25_DIR)
            atomic_write_json(tmp / IDS_FILE, self.chunk_ids)
            atomic_write_jsonl(tmp / CHUNKS_FILE, (c.to_json() for c in self.chunks))
            atomic_write_json(
                tmp / META_FILE,
                {
                    "format_version": FORMAT_VERSION,
                    "kind": self.kind,
                    "index_type": self.config.index_type,
                    "fusion": {
                        "dense_weight": self.config.hybrid_dense_weight,
                        "bm25_weight": 1.0 - self.config.hybrid_dense_weight,
                        "normalization": self.config.hybrid_fusion,
                    },
                    "bm25_stemmer": self.config.bm25_stemmer if self.bm25 is not None else None,
                    "embedder": self.embedder.identity,
                    "metric": "inner_product",
                    "store": store,
                    "rows": len(self),
                    "config": dataclasses.asdict(self.config),
                },
            )
            replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        config: RetrievalConfig | None = None,
        embedder: Embedder | None = None,
    ) -> Retriever:
        """Read a directory written by :meth:`save`, searching with ``config``'s search-time settings.

        Without ``config`` the index searches as it was built (the settings in ``retriever.json``).
        Raises ``FileNotFoundError`` naming the directory when it is missing or unreadable,
        :class:`~teacherforge.config.ConfigError` when a build-time setting of ``config`` differs
        from the index's, and ``ValueError`` when ``embedder`` (or the installed model of the
        recorded name) differs from the one that built the index.
        """
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{directory}: not a retriever index (no {META_FILE}); {_rebuild_hint(directory)}"
            )
        try:
            meta = read_json(meta_path)
            known = {f.name for f in dataclasses.fields(RetrievalConfig)}
            recorded_config = {"bm25_tokenizer": "words", **meta["config"]}  # indexes from before the key
            built = RetrievalConfig(**{k: v for k, v in recorded_config.items() if k in known})
            index = _load_dense(directory, built, meta.get("store"))
            chunks = [Chunk.from_json(r) for r in read_jsonl(directory / CHUNKS_FILE)]
            ids = read_json(directory / IDS_FILE)
            bm25 = (
                BM25Index.load(directory / BM25_DIR, meta["bm25_stemmer"], built.bm25_tokenizer)
                if meta["bm25_stemmer"]
                else None
            )
        except ConnectionError:  # a Qdrant server that does not answer: the index itself may be fine
            raise
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise FileNotFoundError(
                f"{directory}: unreadable retriever index ({exc}); {_rebuild_hint(directory)}"
            ) from exc
        if ids != [c.chunk_id for c in chunks] or index.ntotal != len(chunks):
            dense_name = QDRANT_DIR if built.store == "qdrant" else FAISS_FILE
            raise FileNotFoundError(
                f"{directory}: {IDS_FILE}, {CHUNKS_FILE} and {dense_name} disagree on the rows; "
                f"{_rebuild_hint(directory)}"
            )
        if config is None:
            config = built
        else:
            if config.kind == "auto":  # the index holds what datagen chose for this run
                config = dataclasses.replace(
                    config,
                    kind=built.kind,
                    hybrid_dense_weight=built.hybrid_dense_weight,
                    hybrid_fusion=built.hybrid_fusion,
                )
            check_build_settings(directory, built, config)
        recorded = meta["embedder"]
        if embedder is None:
            embedder = Embedder(recorded["name"], config.batch_size, config.embedding_cache)
            actual = {
                **recorded,
                "weights_sha256": weights_hash(embedder.path) if os.path.isdir(embedder.path) else None,
            }
        else:
            actual = embedder.identity
        if actual != recorded or index.d != recorded["dim"]:
            raise ValueError(
                f"{directory}: index was built with embedder {_describe(recorded)} (index dim {index.d}) "
                f"but {_describe(actual)} is in use; {_rebuild_hint(directory)} or use that embedder"
            )
        if config.store == "qdrant":
            index.configure_search(config)
        else:
            dense.configure_search(index, config)
        return cls(chunks, config, embedder, index, bm25)

    def __repr__(self) -> str:
        return (
            f"Retriever(kind={self.kind!r}, rows={len(self)}, store={self.config.store!r}, "
            f"index_type={self.config.index_type!r}, embedder={self.embedder.name!r})"
        )


def _load_dense(directory: Path, built: RetrievalConfig, record: dict[str, Any] | None) -> Any:
    """The dense index of ``directory``, built as ``built`` says (``record``: the manifest's store entry)."""
    if built.store == "qdrant":
        from .qdrant_store import QdrantStore

        return QdrantStore.load(directory / QDRANT_DIR, record)
    return dense.load_index(directory / FAISS_FILE)


def check_build_settings(directory: Path, built: RetrievalConfig, config: RetrievalConfig) -> None:
    """Raise :class:`~teacherforge.config.ConfigError` naming the first build-time key on which
    ``config`` differs from the settings ``built`` the index in ``directory`` (a key counts when
    either side uses it: an index built with the default ``store`` does not record it)."""
    used = built.build_settings().keys() | config.build_settings().keys()
    for key in (k for k in BUILD_KEYS if k in used):
        value = getattr(built, key)
        if getattr(config, key) != value:
            raise ConfigError(
                f"{directory}: retrieval.{key}: the index was built with {value!r} but the config says "
                f"{getattr(config, key)!r}; rebuild the index (`teacherforge datagen`, or `teacherforge "
                f"index` for a standalone one) or set retrieval.{key}={value}"
            )


def _describe(identity: dict[str, Any]) -> str:
    weights = identity.get("weights_sha256") or "unhashed"
    return f"{identity.get('name')!r} (dim {identity.get('dim')}, weights {weights})"


def is_index(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a retriever written by :meth:`Retriever.save`."""
    return (Path(directory) / META_FILE).is_file()


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``retriever.json`` of an index directory (for reports and manifests)."""
    with open(Path(directory) / META_FILE, encoding="utf-8") as fh:
        return json.load(fh)
