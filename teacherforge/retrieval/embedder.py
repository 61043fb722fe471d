"""Sentence embeddings: a batched, normalised, cached wrapper around sentence-transformers.

The model loads lazily on first use, so building an :class:`Embedder` (or loading a BM25-only
retriever) costs nothing. Embeddings are cached in memory by a hash of the text; a rerun over
the same texts makes no model call at all. The cache can be saved next to an index as an
``.npy`` matrix plus a ``.json`` list of keys (no pickles).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from teacherforge.workspace import atomic_path, atomic_write_json, file_hash

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_WEIGHTS_HASHES: dict[tuple[str, int, int], str] = {}


def text_key(text: str) -> str:
    """The cache key of a text: a 32-hex-digit BLAKE2b digest of its UTF-8 bytes.

    >>> text_key("water pump") == text_key("water pump") != text_key("water pumps")
    True
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _matrix_hash(matrix: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(matrix).tobytes()).hexdigest()


def weights_hash(model_path: str | os.PathLike[str]) -> str | None:
    """Short SHA-256 of a local model directory's weights file, or ``None`` if there is none.

    Hashes are remembered per (path, size, mtime), so each file is read once per process.
    """
    root = Path(model_path)
    for name in WEIGHT_FILES:
        path = root / name
        if path.is_file():
            stat = path.stat()
            key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            if key not in _WEIGHTS_HASHES:
                _WEIGHTS_HASHES[key] = file_hash(path)
            return _WEIGHTS_HASHES[key]
    return None


class Embedder:
    """Batched, L2-normalised float32 sentence embeddings with an in-memory cache.

    ``name`` is an embedded model name (``minilm``), a sentence-transformers model id or a
    local path (resolved with :func:`teacherforge.models.embedder_path`). ``encode`` makes at
    most one model call per invocation, for the texts not already cached. ``device=None``
    lets sentence-transformers choose (CUDA when available, else CPU).
    """

    def __init__(
        self, name: str = "minilm", batch_size: int = 64, cache: bool = True, device: str | None = None
    ) -> None:
        from teacherforge.models import embedder_path

        if batch_size < 1:
            raise ValueError(f"Embedder batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.path = embedder_path(name)
        self.batch_size = batch_size
        self.cache_enabled = cache
        self.device = device
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self.model_calls = 0
        self.cache_hits = 0

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer`` (loaded on first access)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.path, device=self.device)
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer (for token-based chunking)."""
        return self.model.tokenizer

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.model.get_embedding_dimension())

    @property
    def identity(self) -> dict[str, Any]:
        """What an index records about its embedder: name, dim, normalize and a weights hash.

        ``weights_sha256`` is ``None`` for a hub id that is not a local directory; two
        embedders match when all four fields are equal.
        """
        return {
            "name": self.name,
            "dim": self.dim,
            "normalize": True,
            "weights_sha256": weights_hash(self.path) if os.path.isdir(self.path) else None,
        }

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` float32 array of unit vectors.

        Cached texts are not recomputed; the remaining unique texts go to the model in one
        ``encode`` call (internally batched by ``batch_size``).
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not self.cache_enabled:
            return self._encode_model(texts)
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._cache and key not in missing:
                missing[key] = text
        if missing:
            vectors = self._encode_model(list(missing.values()))
            self._cache.update(zip(missing.keys(), vectors))
        self.cache_hits += len(texts) - len(missing)
        return np.stack([self._cache[k] for k in keys])

    def _encode_model(self, texts: list[str]) -> np.ndarray:
        self.model_calls += 1
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 4 * self.batch_size,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget every cached embedding."""
        self._cache.clear()

    def save_cache(self, path: str | os.PathLike[str]) -> int:
        """Write the cache to ``path`` (``.npy``) and its keys to ``path`` with ``.json``; return the count."""
        npy = Path(path).with_suffix(".npy")
        keys = list(self._cache)
        matrix = np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
        with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
            np.save(fh, matrix, allow_pickle=False)
        meta = {"identity": self.identity, "keys": keys, "sha256": _matrix_hash(matrix)}
        atomic_write_json(npy.with_suffix(".json"), meta)
        return len(keys)

    def load_cache(self, path: str | os.PathLike[str]) -> int:
        """Add embeddings saved by :meth:`save_cache`; refuse a cache from another embedder."""
        npy = Path(path).with_suffix(".npy")
        with open(npy.with_suffix(".json"), encoding="utf-8") as fh:
            meta = json.load(fh)
        if meta["identity"] != self.identity:
            raise ValueError(
                f"{npy}: embedding cache was written by {meta['identity']}, not {self.identity}; "
                "delete it or use the matching embedder"
            )
        matrix = np.load(npy, allow_pickle=False)
        if meta.get("sha256") != _matrix_hash(matrix):
            raise ValueError(
                f"{npy}: does not match its keys in {npy.with_suffix('.json')} (a write was cut short); delete both"
            )
        self._cache.update(zip(meta["keys"], matrix))
        return len(meta["keys"])

    def __repr__(self) -> str:
        return f"Embedder(name={self.name!r}, batch_size={self.batch_size}, cache={self.cache_enabled})"
