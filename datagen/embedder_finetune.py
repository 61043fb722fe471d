"""A domain-tuned embedder: fine-tune the sentence embedder on the run's own training questions.

Each training question becomes one example: the question text is the query, the text of its
gold chunk the positive and, where BM25 finds one, a hard negative — the best BM25 hit for the
question that is not one of its gold chunks and does not hold the answer (case-insensitive, the
answer@k rule). :func:`finetune_embedder` trains a SentenceTransformer on those examples with
MultipleNegativesRankingLoss (every other text in a batch is a negative too; the NO_DUPLICATES
batch sampler keeps two questions of one chunk out of one batch) on the CPU, deterministically
for a seed, and saves the model atomically next to a ``finetune.json`` record.

Only ``train`` questions may reach the embedder: :func:`training_triples` refuses any other
split, and ``finetune.json`` lists every question id used, so a test can prove it.

    triples = training_triples(layout.questions("train"), layout.chunk_list(), bm25_negatives=10)
    summary = finetune_embedder("minilm", triples, run_dir / "embedder", epochs=1, batch_size=16,
                                learning_rate=2e-5, seed=0, progress=True)
    Embedder(str(run_dir / "embedder"))  # a retriever's embedder, like any local model path
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teacherforge.records import Question
from teacherforge.rewards.retrieval import holds_answer
from teacherforge.types import Chunk
from teacherforge.workspace import atomic_write_json, package_versions, replace_dir

if TYPE_CHECKING:
    from teacherforge.config import RetrievalConfig

#: The record written inside the fine-tuned model's directory.
FINETUNE_FILE = "finetune.json"


@dataclass(frozen=True)
class TrainingTriple:
    """One fine-tuning example: a training question, its gold chunk's text and an optional hard negative.

    ``negative`` is ``None`` when BM25 found no chunk that qualifies; the in-batch negatives still apply.
    """

    question_id: str
    query: str
    positive: str
    negative: str | None = None


def training_triples(
    questions: Sequence[Question],
    chunks: Sequence[Chunk],
    bm25_negatives: int = 10,
    *,
    retrieval: RetrievalConfig | None = None,
) -> list[TrainingTriple]:
    """One :class:`TrainingTriple` per question, in the order given.

    The query is the question text, the positive the text of ``question.chunk_id``. The hard
    negative is the first of the top ``bm25_negatives`` BM25 hits for the question (over all
    ``chunks``, with score > 0) that is none of ``question.gold_chunk_ids``, does not contain the
    answer (case-insensitive) and is not the positive's text; ``bm25_negatives=0`` gives none.
    BM25 is built with ``retrieval``'s settings (default: :class:`RetrievalConfig`'s), and breaks
    ties by chunk order, so the result is deterministic.

    Raises ``ValueError`` naming the question for a question whose split is not ``train``
    (validation and test questions must never train the embedder) or whose chunk is missing.
    """
    if bm25_negatives < 0:
        raise ValueError(f"bm25_negatives must be >= 0 (0 = no hard negatives), got {bm25_negatives}")
    by_id = {c.chunk_id: c for c in chunks}
    for q in questions:
        if q.split != "train":
            raise ValueError(
                f"question {q.id!r} is in split {q.split!r}; only train questions may fine-tune the "
                "embedder (pass layout.questions('train'))"
            )
        if q.chunk_id not in by_id:
            raise ValueError(
                f"question {q.id!r}: its chunk {q.chunk_id!r} is not among the {len(by_id)} chunks given; "
                "pass the chunks of the run dir the questions came from"
            )
    negatives = _hard_negatives(questions, chunks, bm25_negatives, retrieval) if bm25_negatives else {}
    return [TrainingTriple(q.id, q.question, by_id[q.chunk_id].text, negatives.get(q.id)) for q in questions]


def _hard_negatives(
    questions: Sequence[Question], chunks: Sequence[Chunk], depth: int, retrieval: RetrievalConfig | None
) -> dict[str, str]:
    """Question id → text of its hard negative (see :func:`training_triples`), where one exists."""
    from teacherforge.config import RetrievalConfig
    from teacherforge.retrieval.bm25 import BM25Index

    if not questions:
        return {}
    index = BM25Index.build([c.text for c in chunks], retrieval or RetrievalConfig())
    positives = {c.chunk_id: c.text for c in chunks}
    rows, scores = index.scores([q.question for q in questions], depth)
    out: dict[str, str] = {}
    for q, hit_rows, hit_scores in zip(questions, rows, scores):
        gold = set(q.gold_chunk_ids)
        positive = positives[q.chunk_id]
        for row, score in zip(hit_rows.tolist(), hit_scores.tolist()):
            chunk = chunks[row]
            if score <= 0:
                break  # BM25 ranks by score: nothing below shares a word with the question
            if chunk.chunk_id in gold or holds_answer(chunk.text, q.answer) or chunk.text == positive:
                continue
            out[q.id] = chunk.text
            break
    return out


def finetune_embedder(
    base: str,
    triples: Sequence[TrainingTriple],
    out_dir: str | os.PathLike[str],
    *,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    seed: int = 0,
    max_seq_length: int = 128,
    progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune the embedder ``base`` on ``triples`` and save it in ``out_dir``; return a summary.

    ``base`` is an embedded name (``minilm``) or a local path (:func:`teacherforge.models.embedder_path`).
    Training: MultipleNegativesRankingLoss (the hard negative column where a triple has one; triples
    without one train as pairs in their own batches), the NO_DUPLICATES batch sampler, CPU only,
    ``seed`` for initialisation and shuffling, no reporting, no checkpoints (the trainer works in a
    scratch directory beside ``out_dir`` that is removed afterwards). Texts are cut to
    ``max_seq_length`` tokens while training (a batch pads to its longest text, so this bounds the
    cost); the saved model keeps the base's limit for encoding. The model and
    ``finetune.json`` (this summary, package versions and every question id used) are written to a
    sibling directory and moved onto ``out_dir`` in one rename, replacing an earlier model.

    The summary has ``base``, ``pairs``, ``hard_negatives``, ``epochs``, ``batch_size``,
    ``learning_rate``, ``seed``, ``max_seq_length``, ``steps``, ``seconds``, ``pairs_per_s``
    (training throughput: pairs × epochs per second),
    ``train_loss`` (mean over training), ``epoch_losses`` and ``weights_sha256`` (what
    :attr:`teacherforge.retrieval.Embedder.identity` reports for ``out_dir``).
    """
    if not triples:
        raise ValueError("finetune_embedder: no training triples; the run has no train questions")
    if epochs < 1:
        raise ValueError(f"finetune_embedder: epochs must be >= 1, got {epochs}")
    if batch_size < 2:
        raise ValueError(f"finetune_embedder: batch_size must be >= 2 (in-batch negatives), got {batch_size}")
    if learning_rate <= 0:
        raise ValueError(f"finetune_embedder: learning_rate must be > 0, got {learning_rate}")
    if max_seq_length < 8:
        raise ValueError(f"finetune_embedder: max_seq_length must be >= 8 tokens, got {max_seq_length}")

    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    from teacherforge.models import embedder_path
    from teacherforge.retrieval.embedder import weights_hash

    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = SentenceTransformer(embedder_path(base), device="cpu", local_files_only=True)
    encode_limit = model.max_seq_length
    model.max_seq_length = min(encode_limit or max_seq_length, max_seq_length)
    with_negative = [t for t in triples if t.negative is not None]
    pairs_only = [t for t in triples if t.negative is None]
    parts = {}
    if with_negative:
        parts["triplets"] = Dataset.from_dict(
            {
                "anchor": [t.query for t in with_negative],
                "positive": [t.positive for t in with_negative],
                "negative": [t.negative for t in with_negative],
            }
        )
    if pairs_only:
        parts["pairs"] = Dataset.from_dict(
            {"anchor": [t.query for t in pairs_only], "positive": [t.positive for t in pairs_only]}
        )
    train_dataset = next(iter(parts.values())) if len(parts) == 1 else parts

    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent) as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=os.path.join(scratch, "trainer"),
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_steps=0.1,
            seed=seed,
            data_seed=seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            use_cpu=True,
            dataloader_num_workers=0,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="epoch",
            report_to="none",
            disable_tqdm=not progress,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=train_dataset, loss=MultipleNegativesRankingLoss(model)
        )
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started

        staged = Path(scratch) / "model"
        model.max_seq_length = encode_limit
        model.save(str(staged), create_model_card=False)
        summary: dict[str, Any] = {
            "base": base,
            "pairs": len(triples),
            "hard_negatives": len(with_negative),
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": seed,
            "max_seq_length": max_seq_length,
            "steps": int(result.global_step),
            "seconds": round(seconds, 2),
            "pairs_per_s": round(len(triples) * epochs / seconds, 2),
            "train_loss": float(result.training_loss),
            "epoch_losses": [float(e["loss"]) for e in trainer.state.log_history if "loss" in e],
            "weights_sha256": weights_hash(staged),
        }
        record = {
            **summary,
            "base_path": embedder_path(base),
            "versions": package_versions(),
            "question_ids": [t.question_id for t in triples],
        }
        atomic_write_json(staged / FINETUNE_FILE, record)
        replace_dir(staged, target)
    return summary
