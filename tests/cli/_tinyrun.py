"""A whole pipeline run in seconds, for the rerun and crash tests: tiny config, toy embedder, tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datagen._datagen_fakes import HashEmbedder, make_corpus

STAGES = ["datagen", "grpo", "teacher", "quality", "dataset", "sft", "eval"]


def tiny_overrides(root: Path, model_dir: Path, run_dir: Path | None = None) -> list[str]:
    """``--set`` overrides for a run of every stage in seconds: the toy corpus (written under
    ``root``), cloze questions, a BM25 index, the oracle teacher, ``model_dir`` as student and
    policy (1-2 training steps each), evaluation on two test questions."""
    corpus = root / "corpus"
    if not corpus.is_dir():
        make_corpus(corpus)
    return [
        f"run_dir={run_dir or root / 'run'}",
        f"stages=[{','.join(STAGES)}]",
        f"datagen.corpus={corpus}",
        "datagen.generator=cloze",
        "datagen.chunking.size=250",
        "datagen.chunking.min_chars=20",
        "datagen.split_ratios=[0.5,0.25,0.25]",
        "datagen.paraphrase.enabled=false",
        "retrieval.kind=bm25",
        "retrieval.bm25_stemmer=none",
        "retrieval.top_k=2",
        "retrieval.min_score=0.0",
        "teacher.kind=oracle",
        "teacher.splits=[train,validation]",
        "quality.embedding_check=false",
        "quality.redact=false",
        "dataset.hf_dataset=false",
        f"sft.model={model_dir}",
        "sft.lora.r=4",
        "sft.lora.alpha=8",
        "sft.max_steps=2",
        "sft.save_steps=1",
        "sft.batch_size=2",
        "sft.max_length=256",
        "sft.eval=false",
        "sft.report_to=none",
        f"grpo.model={model_dir}",
        "grpo.lora.r=4",
        "grpo.lora.alpha=8",
        "grpo.num_generations=2",
        "grpo.batch_size=2",
        "grpo.max_steps=1",
        "grpo.save_steps=1",
        "grpo.warm_start_steps=1",
        "grpo.warm_start_examples=4",
        "grpo.warm_start_batch_size=2",
        "grpo.warm_start_eval_questions=0",
        "grpo.report_to=none",
        "env.max_turns=2",
        "env.max_new_tokens=32",
        "eval.modes=[fixed,agentic]",
        "eval.native_modes_only=true",
        "eval.models=[teacher,sft,grpo]",
        "eval.max_questions=2",
        "eval.bootstrap_samples=20",
    ]


def use_toy_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swap the embedding model for the datagen tests' hashed bag of words (no model to load)."""
    for where in ("teacherforge.retrieval.Embedder", "teacherforge.retrieval.retriever.Embedder"):
        monkeypatch.setattr(where, HashEmbedder)
