"""BM25 over chunk texts with the ``bm25s`` library (sparse scores, saved with bm25s's own format).

Tokenisation is bm25s's regex tokenizer with stopwords and, by default, the Snowball English
stemmer from PyStemmer (``retrieval.bm25_stemmer``), so "failed", "failure" and "fails" match.
Another stemmer language brings that language's stopwords where bm25s has a list (none where it
has not); ``none`` keeps English stopwords. ``retrieval.bm25_tokenizer`` chooses the words:
``words`` is bm25s's pattern (words of two or more characters, so "cell 2" loses its "2");
``identifiers`` keeps every word, single digits included, and adds identifiers, dates and times
whose parts are joined by ``- . / :`` as whole tokens ("XR-17b", "mar.3", "14:05"), unstemmed.
``method``, ``k1`` and ``b`` are bm25s's scoring variant and parameters. Nothing is downloaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from teacherforge.config.retrieval import BM25_TOKENIZERS, RetrievalConfig

#: Stemmer languages with a bm25s stopword list (English for ``english``, ``porter`` and ``none``).
_STOPWORDS = {
    "english": "en", "porter": "en", "none": "en", "german": "de", "dutch": "nl", "french": "fr", "spanish": "es",
    "portuguese": "pt", "italian": "it", "russian": "ru", "swedish": "sv", "norwegian": "no", "turkish": "tr",
    "danish": "da",
}  # fmt: skip


_PATTERNS = {"words": r"(?u)\b\w\w+\b", "identifiers": r"(?u)\b\w+\b"}
_JOINED = re.compile(r"\w+(?:[-./:]\w+)+")


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

    def __init__(self, model: Any, stemmer: str, tokenizer: str = "words") -> None:
        if tokenizer not in BM25_TOKENIZERS:
            raise ValueError(f"retrieval.bm25_tokenizer: {tokenizer!r} is not one of {list(BM25_TOKENIZERS)}")
        self.model = model
        self.stemmer_name = stemmer
        self.tokenizer = tokenizer
        self._stemmer = make_stemmer(stemmer)

    @classmethod
    def build(cls, texts: Sequence[str], config: RetrievalConfig) -> BM25Index:
        """Index ``texts`` (one document per row) with the ``bm25_*`` settings of ``config``."""
        import bm25s

        model = bm25s.BM25(method=config.bm25_method, k1=config.bm25_k1, b=config.bm25_b)
        index = cls(model, config.bm25_stemmer, config.bm25_tokenizer)
        index.model.index(index.tokenize(texts), show_progress=False)
        return index

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Lower-cased, stopword-free, stemmed tokens of each text (and, for ``identifiers``, its
        joined identifiers, dates and times).

        >>> index = BM25Index(None, "none", "identifiers")
        >>> index.tokenize(["Fuel cell 2 failed at 14:05 on Mar.3, see XR-17b."])
        [['fuel', 'cell', '2', 'failed', '14', '05', 'mar', '3', 'see', 'xr', '17b', '14:05', 'mar.3', 'xr-17b']]
        """
        import bm25s

        texts = list(texts)
        words = bm25s.tokenize(
            texts,
            token_pattern=_PATTERNS[self.tokenizer],
            stopwords=_STOPWORDS.get(self.stemmer_name),
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=False,
        )
        if self.tokenizer == "words":
            return words
        return [w + _JOINED.findall(t.lower()) for w, t in zip(words, texts)]

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
    def load(cls, directory: str | os.PathLike[str], stemmer: str, tokenizer: str = "words") -> BM25Index:
        """Read an index written by :meth:`save`."""
        import bm25s

        return cls(bm25s.BM25.load(os.fspath(directory), allow_pickle=False), stemmer, tokenizer)
