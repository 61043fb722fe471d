"""BM25 over chunk texts with the ``bm25s`` library (sparse scores, saved with bm25s's own format).

Tokenisation is bm25s's regex tokenizer with stopwords and, by default, the Snowball English
stemmer from PyStemmer (``retrieval.bm25_stemmer``), so "failed", "failure" and "fails" match.
Another stemmer language brings that language's stopwords where bm25s has a list (none where it
has not); ``none`` keeps English stopwords. Nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Stemmer languages with a bm25s stopword list (English for ``english``, ``porter`` and ``none``).
_STOPWORDS = {
    "english": "en", "porter": "en", "none": "en", "german": "de", "dutch": "nl", "french": "fr", "spanish": "es",
    "portuguese": "pt", "italian": "it", "russian": "ru", "swedish": "sv", "norwegian": "no", "turkish": "tr",
    "danish": "da",
}  # fmt: skip


def make_stemmer(name: str) -> Any:
    """A PyStemmer stemmer for ``name`` (e.g. ``english``), or ``None`` for ``none``."""
    if name == "none":
        return None
    try:
        import Stemmer
    except ImportError as exc:
        raise ImportError(
            "BM25 stemming needs PyStemmer: pip install PyStemmer (or set retrieval.bm25_stemmer=none)"
        ) from exc
    return Stemmer.Stemmer(name)


class BM25Index:
    """A bm25s index plus the tokenizer settings that built it.

    ``scores(queries, k)`` returns ``(rows, scores)`` arrays of shape ``(len(queries), k)``.
    """

    def __init__(self, model: Any, stemmer: str) -> None:
        self.model = model
        self.stemmer_name = stemmer
        self._stemmer = make_stemmer(stemmer)

    @classmethod
    def build(cls, texts: Sequence[str], stemmer: str = "english") -> BM25Index:
        """Index ``texts`` (one document per row)."""
        import bm25s

        index = cls(bm25s.BM25(), stemmer)
        index.model.index(index.tokenize(texts), show_progress=False)
        return index

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Lower-cased, stopword-free, stemmed tokens of each text."""
        import bm25s

        return bm25s.tokenize(
            list(texts),
            stopwords=_STOPWORDS.get(self.stemmer_name),
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=False,
        )

    @property
    def num_docs(self) -> int:
        """Number of indexed rows."""
        return int(self.model.scores["num_docs"])

    def scores(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and BM25 scores for every query, best first (ties by row)."""
        k = min(k, self.num_docs)
        vocab = self.model.vocab_dict
        rows = np.zeros((len(queries), k), dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        for i, tokens in enumerate(self.tokenize(queries)):
            # words absent from the corpus score 0; bm25s rejects them (and "") as ids
            ids = [vocab[t] for t in tokens if t and t in vocab]
            full = self.model.get_scores_from_ids(ids) if ids else np.zeros(self.num_docs, np.float32)
            top = np.lexsort((np.arange(full.size), -full))[:k]
            rows[i], scores[i] = top, full[top]
        return rows, scores

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the index into ``directory`` with bm25s's own (pickle-free) format."""
        self.model.save(os.fspath(directory), allow_pickle=False)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], stemmer: str) -> BM25Index:
        """Read an index written by :meth:`save`."""
        import bm25s

        return cls(bm25s.BM25.load(os.fspath(directory), allow_pickle=False), stemmer)
