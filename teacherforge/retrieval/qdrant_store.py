"""Qdrant as a retriever's dense store (``retrieval.store: qdrant``, extra ``qdrant``).

:class:`QdrantStore` answers ``search(vectors, k) -> (scores, rows)`` as a FAISS index does, with
dot-product scores (the cosine, on the unit vectors the embedder gives), so the retriever searches
it, alone or fused with BM25, as it searches ``index.faiss``. A point's id is its row number and
its payload the row's chunk record (chunk id, text, document, source).

Where the collection lives:

* **local mode** (``retrieval.qdrant_url`` empty): qdrant-client's in-process engine, exact search.
  A build holds the collection in memory and :meth:`QdrantStore.save` writes it to a folder of the
  index directory; a load reads that folder into memory and closes it at once, so the folder's lock
  (one client at a time) is held only while loading and any number of loads, in one process or
  several, can search the same index.
* **server mode** (``retrieval.qdrant_url`` set): the collection lives on the server, written at build
  time and named after its content (``teacherforge-<hash>``), so rebuilding the same rows reuses it;
  the index directory records its name. ``index_type: flat`` searches exactly, ``hnsw`` uses the
  server's HNSW graph (``hnsw_m``, ``hnsw_ef_search``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException

from teacherforge.config import RetrievalConfig
from teacherforge.workspace import stable_hash

COLLECTION_PREFIX = "teacherforge-"
#: Seconds one server request may take, connecting included.
TIMEOUT_S = 10
#: Points per upload or copy batch.
BATCH = 256
#: Seconds a load waits for a local folder another client holds (other loads hold it only briefly).
LOCK_WAIT_S = 10.0


def connect(url: str) -> QdrantClient:
    """A client of the Qdrant server at ``url`` (no request is sent yet)."""
    return QdrantClient(url=url, timeout=TIMEOUT_S, check_compatibility=False)


@contextlib.contextmanager
def server_errors(url: str) -> Iterator[None]:
    """Turn a failed Qdrant request into a one-line ``ConnectionError`` naming ``retrieval.qdrant_url``."""
    try:
        yield
    except ApiException as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConnectionError(
            f"retrieval.qdrant_url: the Qdrant server at {url} failed ({reason}); start it, fix the URL, or "
            "leave retrieval.qdrant_url empty for local mode in the index directory"
        ) from exc


class QdrantStore:
    """Row vectors in a Qdrant collection, searched like a FAISS inner-product index.

    Build with :meth:`build`, persist with :meth:`save` / :meth:`load`; ``d`` (dimension) and
    ``ntotal`` (points) mirror the FAISS attributes the retriever checks.
    """

    def __init__(self, client: QdrantClient, collection: str, dim: int, count: int, url: str = "") -> None:
        self.client = client
        self.collection = collection
        self.d = dim
        self.ntotal = count
        self.url = url
        self._params: models.SearchParams | None = None

    @classmethod
    def build(
        cls, vectors: np.ndarray, payloads: Sequence[Mapping[str, Any]], config: RetrievalConfig
    ) -> QdrantStore:
        """A collection of ``vectors`` (``(n, d)``, unit rows) with one payload per row: in memory
        (local mode) or on the server at ``config.qdrant_url``, where a complete collection of the
        same content is reused and a failed upload leaves none."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        content = [hashlib.sha256(vectors.tobytes()).hexdigest(), list(payloads)]
        name = COLLECTION_PREFIX + stable_hash(content)
        url = config.qdrant_url
        client = connect(url) if url else QdrantClient(":memory:")
        with server_errors(url):
            exists = client.collection_exists(name)
            if not (exists and client.count(name, exact=True).count == n):  # else: a complete copy
                if exists:  # an upload that was cut short
                    client.delete_collection(name)
                client.create_collection(
                    name,
                    vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT),
                    hnsw_config=models.HnswConfigDiff(m=config.hnsw_m)
                    if config.index_type == "hnsw"
                    else None,
                )
                try:
                    client.upload_collection(
                        name, vectors, payload=payloads, ids=range(n), batch_size=BATCH, wait=True
                    )
                except BaseException:
                    with contextlib.suppress(Exception):
                        client.delete_collection(name)
                    raise
        store = cls(client, name, dim, n, url)
        store.configure_search(config)
        return store

    def configure_search(self, config: RetrievalConfig) -> None:
        """Apply ``config``'s search-time knobs: on a server, exact search for ``index_type: flat``,
        else HNSW with ``hnsw_ef_search``; local mode always searches exactly."""
        if not self.url:
            self._params = None
        elif config.index_type == "flat":
            self._params = models.SearchParams(exact=True)
        else:
            self._params = models.SearchParams(hnsw_ef=config.hnsw_ef_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row numbers of the ``k`` best points for each query (one batched request);
        like FAISS, rows past the collection's end are ``-1``."""
        requests = [
            models.QueryRequest(query=q.tolist(), limit=k, params=self._params, with_payload=False)
            for q in np.asarray(queries, dtype=np.float32)
        ]
        with server_errors(self.url):
            answers = self.client.query_batch_points(self.collection, requests)
        scores = np.full((len(requests), k), -np.inf, dtype=np.float32)
        rows = np.full((len(requests), k), -1, dtype=np.int64)
        for i, answer in enumerate(answers):
            for j, point in enumerate(answer.points):
                rows[i, j], scores[i, j] = point.id, point.score
        return scores, rows

    def record(self) -> dict[str, Any]:
        """What an index directory's manifest keeps to find this collection again."""
        return {"name": "qdrant", "collection": self.collection, "url": self.url, "distance": "dot"}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Local mode: write the collection to the new folder ``path``. Server mode: nothing to
        write, the collection is on the server already."""
        if self.url:
            return
        target = QdrantClient(path=os.fspath(path))
        try:
            _copy(self.client, target, self.collection, unsynced=True)
        finally:
            target.close()

    @classmethod
    def load(cls, path: str | os.PathLike[str], record: Mapping[str, Any]) -> QdrantStore:
        """The collection of ``record`` (:meth:`record`): read from the folder ``path`` into memory
        (local mode) or found on the server. ``FileNotFoundError`` when it is not there,
        ``ConnectionError`` when the server does not answer."""
        name, url = record["collection"], record["url"]
        if url:
            client = connect(url)
        elif not Path(path).is_dir():
            raise FileNotFoundError(f"{path}: Qdrant local storage missing")
        else:
            client = QdrantClient(":memory:")
            source = _open_local(path)
            try:
                if not source.collection_exists(name):
                    raise FileNotFoundError(f"{path}: no Qdrant collection {name}")
                _copy(source, client, name)
            finally:
                source.close()
        with server_errors(url):
            if not client.collection_exists(name):
                raise FileNotFoundError(f"Qdrant server {url}: no collection {name}")
            dim = client.get_collection(name).config.params.vectors.size
            return cls(client, name, dim, client.count(name, exact=True).count, url)


def _open_local(path: str | os.PathLike[str]) -> QdrantClient:
    """A local-mode client of the folder ``path``, waiting up to :data:`LOCK_WAIT_S` while another
    client holds its lock."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return QdrantClient(path=os.fspath(path))
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _copy(source: QdrantClient, target: QdrantClient, name: str, unsynced: bool = False) -> None:
    """Create collection ``name`` in ``target`` with ``source``'s vector settings and copy every point.

    ``unsynced`` (a local-mode ``target`` in a folder that is renamed into place only once complete):
    skip SQLite's sync after each point. qdrant-client commits every point on its own, which costs
    ~20 ms a point on a virtual disk (2,000 points: 40 s, against 0.2 s unsynced); the setting sits on
    its private storage object, so a release that moves it only makes the copy slow again.
    """
    target.create_collection(name, vectors_config=source.get_collection(name).config.params.vectors)
    if unsynced:
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            target._client.collections[name].storage.storage.execute("PRAGMA synchronous=OFF")
    offset = None
    while True:
        records, offset = source.scroll(
            name, limit=BATCH, offset=offset, with_payload=True, with_vectors=True
        )
        target.upsert(
            name, [models.PointStruct(id=r.id, vector=r.vector, payload=r.payload) for r in records]
        )
        if offset is None:
            return
