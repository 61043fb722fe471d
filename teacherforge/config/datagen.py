"""Data generation settings: corpus, chunking, questions, paraphrases, teacher, quality, dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ._validate import ConfigError, check_choice, check_range
from .llm import LLMConfig

GENERATORS = ("cloze", "llm")
CHUNK_UNITS = ("chars", "tokens")


@dataclass
class ChunkingConfig:
    """How documents are split into chunks."""

    unit: str = field(default="chars", metadata={"help": f"one of {CHUNK_UNITS}"})
    size: int = field(
        default=600,
        metadata={
            "help": "target chunk size in units (600 chars measured best on the bundled corpus; AutoDidact: 1000)"
        },
    )
    overlap: int = field(default=0, metadata={"help": "overlap between consecutive chunks, in units"})
    min_chars: int = field(default=40, metadata={"help": "chunks shorter than this are dropped"})
    respect_boundaries: bool = field(
        default=True,
        metadata={"help": "prefer paragraph/sentence boundaries (false = hard cuts, AutoDidact style)"},
    )
    tokenizer: str = field(
        default="minilm", metadata={"help": "embedder whose tokenizer counts tokens when unit=tokens"}
    )

    def __post_init__(self) -> None:
        check_choice("datagen.chunking.unit", self.unit, CHUNK_UNITS)
        check_range("datagen.chunking.size", self.size, 1)
        if not 0 <= self.overlap < self.size:
            raise ConfigError(f"datagen.chunking.overlap: {self.overlap} must be in [0, size={self.size})")


@dataclass
class ParaphraseConfig:
    """LLM rewrites of every chunk, indexed separately."""

    enabled: bool = field(default=True, metadata={"help": "build paraphrases.jsonl and index_paraphrased/"})
    styles: List[str] = field(
        default_factory=lambda: ["plain"],
        metadata={"help": "rewrite styles; each chunk gets one paraphrase per style"},
    )
    min_similarity: float = field(
        default=0.8, metadata={"help": "embedding cosine to the original required to accept a paraphrase"}
    )
    max_new_tokens: int = field(default=384, metadata={"help": "generation budget per paraphrase"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature"})
    max_retries: int = field(default=1, metadata={"help": "extra samples for a rejected paraphrase"})
    max_chunks: int = field(
        default=0,
        metadata={"help": "paraphrase only the first N chunks (0 = all); the rest keep their original text"},
    )

    def __post_init__(self) -> None:
        check_range("datagen.paraphrase.min_similarity", self.min_similarity, -1.0, 1.0)
        check_range("datagen.paraphrase.max_retries", self.max_retries, 0)
        check_range("datagen.paraphrase.max_chunks", self.max_chunks, 0)
        check_range("datagen.paraphrase.max_new_tokens", self.max_new_tokens, 1)
        if not self.styles:
            raise ConfigError("datagen.paraphrase.styles: give at least one style")


@dataclass
class EmbedderFinetuneConfig:
    """Fine-tuning the embedder on the run's train-split questions before the indexes are built."""

    enabled: bool = field(
        default=False,
        metadata={
            "help": "fine-tune retrieval.embedder on train questions -> their chunks and index with it (off: on "
            "the bundled report it did not raise answer@5 of hybrid retrieval, benchmarks/bench_embedder.py)"
        },
    )
    epochs: int = field(
        default=1,
        metadata={"help": "passes over the train questions (1: ~1,000 pairs in under 5 min on 2 cores)"},
    )
    batch_size: int = field(default=16, metadata={"help": "questions per batch (in-batch negatives)"})
    learning_rate: float = field(default=2e-5, metadata={"help": "AdamW peak learning rate"})
    hard_negatives: int = field(
        default=10, metadata={"help": "BM25 hits searched for a hard negative per question (0 = none)"}
    )
    max_seq_length: int = field(default=128, metadata={"help": "tokens per text while training"})
    min_questions: int = field(
        default=32,
        metadata={
            "help": "fewest train questions to fine-tune on (two default batches: fewer give the in-batch "
            "loss too few negatives to move the embedder); below it datagen stops with one line"
        },
    )

    def __post_init__(self) -> None:
        check_range("datagen.embedder_finetune.epochs", self.epochs, 1)
        check_range("datagen.embedder_finetune.batch_size", self.batch_size, 2)
        check_range("datagen.embedder_finetune.hard_negatives", self.hard_negatives, 0)
        check_range("datagen.embedder_finetune.max_seq_length", self.max_seq_length, 8)
        check_range("datagen.embedder_finetune.min_questions", self.min_questions, 1)
        if self.learning_rate <= 0:
            raise ConfigError(f"datagen.embedder_finetune.learning_rate: {self.learning_rate} must be > 0")


@dataclass
class DatagenConfig:
    """Documents → chunks → index → questions → paraphrases."""

    corpus: str = field(default="", metadata={"help": "file or directory of documents"})
    include: List[str] = field(default_factory=lambda: ["**/*"], metadata={"help": "glob patterns"})
    exclude: List[str] = field(default_factory=list, metadata={"help": "glob patterns"})
    jsonl_text_field: str = field(default="text", metadata={"help": "text field of .jsonl documents"})
    jsonl_id_field: str = field(
        default="id",
        metadata={"help": "id field of .jsonl documents (doc_id <file>#<id>; the line number when absent)"},
    )
    jsonl_metadata_fields: Optional[List[str]] = field(
        default=None,
        metadata={"help": "fields of a .jsonl line kept as metadata (None = every field but text and id)"},
    )
    max_bytes: int = field(
        default=20_000_000,
        metadata={"help": "larger files fail with a reason instead of loading (per line for .jsonl)"},
    )
    category: Optional[str] = field(default=None, metadata={"help": "metadata attached to every document"})
    topic: Optional[str] = field(default=None, metadata={"help": "metadata attached to every document"})
    max_chunks: int = field(default=0, metadata={"help": "use only the first N chunks (0 = all)"})
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    generator: str = field(default="cloze", metadata={"help": f"question generator, one of {GENERATORS}"})
    questions_per_chunk: int = field(default=2, metadata={"help": "questions generated per chunk"})
    prose_only: bool = field(
        default=True,
        metadata={
            "help": "questions only from prose: cloze asks about prose sentences, the llm generator about "
            "chunks holding at least one (not code, CSS/JS, markup, tables, list or directive lines, URLs, "
            "headings); false: cloze takes any sentence of 6-60 mostly-letter words, llm every chunk"
        },
    )
    window: int = field(default=1, metadata={"help": "neighbouring chunks on each side as context (llm)"})
    max_retries: int = field(default=2, metadata={"help": "retries for a chunk whose output is invalid"})
    multi_hop: bool = field(default=False, metadata={"help": "also generate 2-chunk questions (llm)"})
    min_answer_similarity: float = field(
        default=0.25,
        metadata={
            "help": "embedding cosine between 'question answer' and the chunk required to keep a pair (llm; 0 = off)"
        },
    )
    batch_size: int = field(
        default=16,
        metadata={
            "help": "prompts per backend generate call (llm questions and paraphrases); one cache commit each"
        },
    )
    max_new_tokens: int = field(default=512, metadata={"help": "generation budget per question prompt (llm)"})
    temperature: float = field(
        default=0.7, metadata={"help": "sampling temperature of question prompts (llm)"}
    )
    split_ratios: List[float] = field(
        default_factory=lambda: [0.8, 0.1, 0.1],
        metadata={"help": "train/validation/test shares, assigned by chunk"},
    )
    paraphrase: ParaphraseConfig = field(default_factory=ParaphraseConfig)
    embedder_finetune: EmbedderFinetuneConfig = field(default_factory=EmbedderFinetuneConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __post_init__(self) -> None:
        check_choice("datagen.generator", self.generator, GENERATORS)
        check_range("datagen.max_bytes", self.max_bytes, 1)
        check_range("datagen.questions_per_chunk", self.questions_per_chunk, 1)
        check_range("datagen.max_retries", self.max_retries, 0)
        check_range("datagen.window", self.window, 0)
        check_range("datagen.max_chunks", self.max_chunks, 0)
        check_range("datagen.batch_size", self.batch_size, 1)
        check_range("datagen.max_new_tokens", self.max_new_tokens, 1)
        check_range("datagen.temperature", self.temperature, 0.0)
        check_range("datagen.min_answer_similarity", self.min_answer_similarity, -1.0, 1.0)
        if (
            len(self.split_ratios) != 3
            or abs(sum(self.split_ratios) - 1.0) > 1e-6
            or min(self.split_ratios) < 0
        ):
            raise ConfigError(
                f"datagen.split_ratios: {self.split_ratios} must be 3 non-negative shares summing to 1"
            )


@dataclass
class TeacherConfig:
    """RAG teacher: answers training questions with retrieved context (``retrieval.index``,
    ``retrieval.top_k`` and the ``retrieval.min_score`` cut-off choose the context)."""

    kind: str = field(
        default="llm", metadata={"help": "llm (any backend) or oracle (gold answers, for CPU demos)"}
    )
    max_new_tokens: int = field(default=256, metadata={"help": "answer budget"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature"})
    splits: List[str] = field(
        default_factory=lambda: ["train", "validation"], metadata={"help": "splits answered"}
    )
    max_retries: int = field(default=1, metadata={"help": "extra samples for an empty or truncated answer"})
    max_questions: int = field(
        default=0,
        metadata={
            "help": "answer only the first N generated questions (0 = all); questions the feedback loop "
            "derived from student failures are always answered on top"
        },
    )
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __post_init__(self) -> None:
        check_choice("teacher.kind", self.kind, ("llm", "oracle"))
        check_range("teacher.max_retries", self.max_retries, 0)
        for split in self.splits:
            check_choice("teacher.splits", split, ("train", "validation", "test"))


@dataclass
class QualityConfig:
    """Post-processing of teacher records."""

    groundedness_threshold: float = field(
        default=0.5,
        metadata={"help": "share of an answer's content words that must appear in the retrieved chunks"},
    )
    embedding_check: bool = field(
        default=True,
        metadata={"help": "also accept a sentence whose embedding is close to a retrieved sentence"},
    )
    embedding_threshold: float = field(default=0.75, metadata={"help": "cosine for the embedding check"})
    min_supported_share: float = field(
        default=0.5,
        metadata={"help": "share of an answer's sentences that must be supported for the record to be valid"},
    )
    near_duplicate_threshold: float = field(
        default=0.9, metadata={"help": "MinHash Jaccard for near-duplicates"}
    )
    llm_grading: bool = field(default=False, metadata={"help": "grade answers with an LLM rubric prompt"})
    redact: bool = field(default=True, metadata={"help": "redact sensitive entities before export"})
    redact_names: List[str] = field(default_factory=list, metadata={"help": "person names to redact"})
    review_below_quality: float = field(default=0.5, metadata={"help": "send records below this to review"})
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __post_init__(self) -> None:
        for key in (
            "groundedness_threshold",
            "near_duplicate_threshold",
            "min_supported_share",
            "review_below_quality",
        ):
            check_range(f"quality.{key}", getattr(self, key), 0.0, 1.0)
        check_range("quality.embedding_threshold", self.embedding_threshold, -1.0, 1.0)


@dataclass
class DatasetConfig:
    """Chat-format dataset export."""

    rag_failure_share: float = field(
        default=0.0, metadata={"help": "share of examples with distractor-only context whose answer says so"}
    )
    hard_negatives: bool = field(
        default=True,
        metadata={
            "help": "for questions derived from a failed retrieval, a RAG-failure example whose context is "
            "the chunk that search returned instead (never one holding the answer)"
        },
    )
    include_review_statuses: List[str] = field(
        default_factory=lambda: ["auto", "approved"], metadata={"help": "review_status values kept"}
    )
    axolotl: bool = field(default=True, metadata={"help": "also write axolotl input_output segments"})
    hf_dataset: bool = field(default=True, metadata={"help": "also save a datasets.DatasetDict"})
    license: str = field(
        default="unknown",
        metadata={
            "help": "the dataset card's licence (a Hugging Face licence id such as cc-by-4.0); set it as "
            "the corpus's own licence allows before sharing"
        },
    )

    def __post_init__(self) -> None:
        check_range("dataset.rag_failure_share", self.rag_failure_share, 0.0, 0.9)
        if not str(self.license).strip():
            raise ConfigError(
                "dataset.license: empty; give a licence id (e.g. cc-by-4.0) or leave it unknown"
            )
