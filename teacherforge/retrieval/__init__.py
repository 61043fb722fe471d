"""Retrieval core: an embedder and a retriever (dense FAISS, BM25, hybrid) behind one search call.

``Retriever.build(chunks, config).search(["query"], k)`` returns one list of
:class:`teacherforge.types.Hit` per query; ``save(dir)`` / ``Retriever.load(dir, config)`` round-trip
it through a directory with a ``retriever.json`` that records the build settings and the
embedder identity; the loading config's search-time settings apply.
"""

from __future__ import annotations

from .embedder import Embedder
from .retriever import Retriever

__all__ = ["Embedder", "Retriever"]
