"""Retrieval settings: which index, how it is built, and how it is searched.

**Build-time** keys (:data:`BUILD_KEYS`) decide the index files; an index records them in its
``retriever.json`` and loading it under a config that disagrees fails (rebuild it, or set the key
back). **Search-time** keys (:data:`SEARCH_KEYS`: which index, top-k, the relevance cut-off, the
hybrid weight, HNSW ``ef_search``, IVF ``nprobe``) are read when the index is loaded, so a changed
value applies to an existing index; so are the embedding batch size and cache, which change
neither the index nor what a search returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

from ._validate import ConfigError, check_choice, check_range

KINDS = ("dense", "bm25", "hybrid")
#: ``auto``: datagen measures the kinds and fusions on the run's validation questions and keeps the best.
KIND_CHOICES = (*KINDS, "auto")
BM25_TOKENIZERS = ("words", "identifiers")
BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
FUSIONS = ("minmax", "rrf")
INDEX_TYPES = ("flat", "hnsw", "ivf")
#: Where the dense vectors live: a FAISS file in the index directory, or a Qdrant collection.
STORES = ("faiss", "qdrant")
#: PyStemmer's Snowball languages (``retrieval.bm25_stemmer``; BM25 stopwords follow the language where
#: bm25s has a list) and ``none``.
STEMMERS = (
    "none", "arabic", "armenian", "basque", "catalan", "czech", "danish", "dutch", "english", "esperanto",
    "estonian", "finnish", "french", "german", "greek", "hindi", "hungarian", "indonesian", "irish", "italian",
    "lithuanian", "nepali", "norwegian", "persian", "polish", "porter", "portuguese", "romanian", "russian",
    "serbian", "spanish", "swedish", "tamil", "turkish", "yiddish",
)  # fmt: skip
INDEXES = ("original", "paraphrased")
#: What one index row is: a chunk, or one sentence of a chunk that returns its window of sentences.
UNITS = ("chunk", "sentence")
#: Keys that decide the index files: changing one needs a rebuild (`teacherforge datagen` or `index`).
BUILD_KEYS = (
    "kind",
    "unit",
    "window",
    "embedder",
    "index_type",
    "bm25_stemmer",
    "bm25_tokenizer",
    "bm25_method",
    "bm25_k1",
    "bm25_b",
    "hnsw_m",
    "ivf_nlist",
    "store",
    "qdrant_url",
)
#: The build-time keys of the BM25 part (an index's, or the embedder fine-tune's hard-negative search).
BM25_KEYS = ("bm25_stemmer", "bm25_tokenizer", "bm25_method", "bm25_k1", "bm25_b")
#: Search-time keys that change what a search returns (a stage that searches reruns when one changes).
SEARCH_KEYS = (
    "index",
    "top_k",
    "min_score",
    "hybrid_dense_weight",
    "hybrid_fusion",
    "reranker",
    "rerank_candidates",
    "hnsw_ef_search",
    "ivf_nprobe",
)


@dataclass
class RetrievalConfig:
    """How chunks are indexed and searched (see :class:`teacherforge.retrieval.Retriever`).

    One place for the settings several stages read: ``index`` and ``top_k`` are what the
    teacher, the environment (GRPO, warm start, ``ask``, ``env play``) and both evaluation
    modes search; ``min_score`` is the relevance cut-off of the fixed-context prompts (teacher
    and fixed evaluation).
    """

    index: str = field(
        default="original",
        metadata={
            "help": f"search-time: the run dir's index that every stage searches, one of {INDEXES} "
            "(paraphrased: hits map back to the original chunk ids)"
        },
    )
    top_k: int = field(
        default=3,
        metadata={"help": "search-time: hits per search (teacher context, env searches, evaluation)"},
    )
    min_score: Optional[float] = field(
        default=None,
        metadata={
            "help": "search-time: relevance cut-off of fixed-context prompts (teacher, fixed eval); "
            "None = the calibrated default for the retriever kind"
        },
    )
    kind: str = field(
        default="hybrid",
        metadata={
            "help": f"build-time: one of {KIND_CHOICES}; hybrid measured best on the bundled corpus "
            "(benchmarks/answer_at_k.py); auto: datagen measures dense, bm25 and hybrid fusions on the run's "
            "validation questions and keeps the best (the manifest and the summary show the table)"
        },
    )
    unit: str = field(
        default="chunk",
        metadata={
            "help": "build-time: what a row matches: chunk (the chunk, returned whole) or sentence (each "
            "sentence of a chunk is matched on its own and returns its window: itself and `window` "
            "sentences each side within the chunk; hits keep the chunk's id)"
        },
    )
    window: int = field(
        default=2,
        metadata={"help": "build-time: with unit sentence, sentences returned each side of the match"},
    )
    embedder: str = field(
        default="minilm",
        metadata={"help": "build-time: embedded name (minilm), sentence-transformers model id or local path"},
    )
    index_type: str = field(
        default="flat", metadata={"help": f"build-time: FAISS index, one of {INDEX_TYPES}"}
    )
    bm25_stemmer: str = field(
        default="english",
        metadata={
            "help": "build-time: BM25 stemming and stopwords, a PyStemmer language (english, german, french, "
            "...) or none (English stopwords, no stemming)"
        },
    )
    bm25_tokenizer: str = field(
        default="identifiers",
        metadata={
            "help": "build-time: BM25 words: words (bm25s: 2+ characters) or identifiers (every word, single "
            "digits too, plus joined identifiers, dates and times such as XR-17b, mar.3, 14:05); identifiers and "
            "k1 1.2 chosen on dev questions, answer@1 +0.04 on test (benchmarks/answer_at_k.py --bm25-grid)"
        },
    )
    bm25_method: str = field(
        default="lucene",
        metadata={"help": "build-time: bm25s scoring variant (lucene, robertson, atire, bm25l, bm25+)"},
    )
    bm25_k1: float = field(default=1.2, metadata={"help": "build-time: BM25 term-frequency saturation"})
    bm25_b: float = field(default=0.75, metadata={"help": "build-time: BM25 length normalisation (0-1)"})
    store: str = field(
        default="faiss",
        metadata={
            "help": "build-time: where the dense vectors live: faiss (index.faiss in the index directory) or "
            "qdrant (extra qdrant: a Qdrant collection, in <index>/qdrant/ or on the server at qdrant_url; "
            "index_type flat or hnsw); BM25 is the same for both"
        },
    )
    qdrant_url: str = field(
        default="",
        metadata={
            "help": "build-time: with store qdrant, a running Qdrant server (http://host:6333) that holds the "
            "collection; empty = qdrant-client's local mode, stored in the index directory"
        },
    )
    hnsw_m: int = field(default=32, metadata={"help": "build-time: HNSW graph degree"})
    ivf_nlist: int = field(default=0, metadata={"help": "build-time: IVF lists (0 = 4*sqrt(n))"})
    hybrid_dense_weight: float = field(
        default=0.4,
        metadata={
            "help": "search-time: weight of the normalised dense score in hybrid fusion (BM25 gets 1 - this)"
        },
    )
    hybrid_fusion: str = field(
        default="minmax",
        metadata={
            "help": "search-time: how hybrid fuses the two rankings: minmax (weighted sum of min-max normalised "
            "scores) or rrf (weighted reciprocal rank, 1/(60 + rank), scaled to [0, 1])"
        },
    )
    reranker: str = field(
        default="",
        metadata={
            "help": "search-time: a sentence-transformers CrossEncoder (local path) that re-scores the first "
            "stage's candidates; empty = none (no default ships); its scores are the hits' scores"
        },
    )
    rerank_candidates: int = field(
        default=20, metadata={"help": "search-time: first-stage hits per query the reranker scores"}
    )
    hnsw_ef_search: int = field(default=128, metadata={"help": "search-time: HNSW search breadth"})
    ivf_nprobe: int = field(default=16, metadata={"help": "search-time: IVF lists probed per query"})
    batch_size: int = field(default=64, metadata={"help": "texts per embedding batch"})
    embedding_cache: bool = field(default=True, metadata={"help": "cache embeddings by text hash"})

    def __post_init__(self) -> None:
        check_choice("retrieval.index", self.index, INDEXES)
        check_range("retrieval.top_k", self.top_k, 1)
        check_choice("retrieval.kind", self.kind, KIND_CHOICES)
        check_choice("retrieval.unit", self.unit, UNITS)
        check_range("retrieval.window", self.window, 0)
        check_choice("retrieval.index_type", self.index_type, INDEX_TYPES)
        check_choice("retrieval.store", self.store, STORES)
        if self.store == "qdrant":
            self._check_qdrant()
        check_choice("retrieval.bm25_stemmer", self.bm25_stemmer, STEMMERS)
        check_choice("retrieval.bm25_tokenizer", self.bm25_tokenizer, BM25_TOKENIZERS)
        check_choice("retrieval.bm25_method", self.bm25_method, BM25_METHODS)
        check_range("retrieval.bm25_k1", self.bm25_k1, 0.0)
        check_range("retrieval.bm25_b", self.bm25_b, 0.0, 1.0)
        check_range("retrieval.hnsw_m", self.hnsw_m, 2)
        check_range("retrieval.ivf_nlist", self.ivf_nlist, 0)
        check_range("retrieval.hybrid_dense_weight", self.hybrid_dense_weight, 0.0, 1.0)
        check_choice("retrieval.hybrid_fusion", self.hybrid_fusion, FUSIONS)
        check_range("retrieval.rerank_candidates", self.rerank_candidates, 1)
        check_range("retrieval.hnsw_ef_search", self.hnsw_ef_search, 1)
        check_range("retrieval.ivf_nprobe", self.ivf_nprobe, 1)
        check_range("retrieval.batch_size", self.batch_size, 1)

    def _check_qdrant(self) -> None:
        try:
            import qdrant_client  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "retrieval.store: qdrant needs the qdrant extra: pip install 'teacherforge[qdrant]' "
                "(or set retrieval.store=faiss)"
            ) from exc
        if self.index_type == "ivf":
            raise ConfigError(
                "retrieval.index_type: ivf is a FAISS index; with retrieval.store=qdrant choose flat (exact "
                "search) or hnsw (the server's HNSW graph)"
            )
        url = urlsplit(self.qdrant_url)
        if self.qdrant_url and (url.scheme not in ("http", "https") or not url.hostname):
            raise ConfigError(
                f"retrieval.qdrant_url: {self.qdrant_url!r} is not an http(s) URL; give the server's address "
                "(http://localhost:6333) or leave it empty for local mode in the index directory"
            )

    def build_settings(self) -> dict[str, Any]:
        """The build-time keys that shape an index of this kind and index type, with their values.

        >>> RetrievalConfig(kind="dense", index_type="hnsw").build_settings()
        {'kind': 'dense', 'unit': 'chunk', 'embedder': 'minilm', 'index_type': 'hnsw', 'hnsw_m': 32}
        """
        used = {
            **{key: self.kind != "dense" for key in BM25_KEYS},
            "hnsw_m": self.index_type == "hnsw",
            "ivf_nlist": self.index_type == "ivf",
            "window": self.unit == "sentence",
            # faiss, the default, is left out so that indexes built before the key keep their fingerprint
            "store": self.store != "faiss",
            "qdrant_url": self.store == "qdrant",
        }
        return {key: getattr(self, key) for key in BUILD_KEYS if used.get(key, True)}
