"""The run directory's layout: every file name of a run dir, and the loaders of what it holds.

A run directory (``runs/<name>/`` by default) holds every artifact of one dataset version.
:class:`RunLayout` is the one place that spells those names; every stage asks it for paths
(``layout.chunks``, ``layout.index_dir("paraphrased")``, ``layout.stage_dir("sft")``) and
for loaded objects (``layout.questions("train")``, ``layout.retriever("original")``)::

    runs/<name>/
      manifest.json            config per step, versions, model identities, layout version
      chunks.jsonl             the corpus cut into chunks
      index/                   retriever over the original chunks
      questions.json           question/answer pairs, each with its split
      paraphrases.jsonl        LLM paraphrases of every chunk
      index_paraphrased/       retriever over the paraphrases
      cache.sqlite             every LLM call (keyed by model weights, prompt, params)
      teacher_raw.jsonl        teacher answers as generated
      teacher.jsonl            teacher answers after post-processing
      review.jsonl             records flagged for human review
      dataset/                 chat-format splits for SFT
      grpo/ sft/               training stage outputs (adapter, logs, checkpoints)
      report/                  evaluation report

Loaded retrievers are kept per directory (and modification time) for the life of the
process, so many environments over one run dir load the index and the embedder once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacherforge.records import Question, load_questions
from teacherforge.types import Chunk
from teacherforge.workspace import read_jsonl

INDEXES = {"original": "index", "paraphrased": "index_paraphrased"}

_RETRIEVERS: dict[tuple[str, int], Any] = {}


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory (nothing is created or read until asked)."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    # ---- data generation -------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def chunks(self) -> Path:
        return self.root / "chunks.jsonl"

    @property
    def questions_file(self) -> Path:
        return self.root / "questions.json"

    @property
    def paraphrases(self) -> Path:
        return self.root / "paraphrases.jsonl"

    @property
    def cache(self) -> Path:
        return self.root / "cache.sqlite"

    def index_dir(self, index: str = "original") -> Path:
        """The retriever directory of ``index`` (``original`` or ``paraphrased``)."""
        if index not in INDEXES:
            raise ValueError(f"env.index: {index!r} is not allowed; choose one of {list(INDEXES)}")
        return self.root / INDEXES[index]

    # ---- loaders ---------------------------------------------------------------------
    def questions(self, split: str | None = "train") -> list[Question]:
        """The questions in ``split`` (all splits when ``None``)."""
        path = self.questions_file
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `teacherforge datagen` for this run dir first")
        questions = load_questions(path)
        if split is None:
            return questions
        chosen = [q for q in questions if q.split == split]
        if not chosen:
            counts: dict[str, int] = {}
            for q in questions:
                counts[q.split] = counts.get(q.split, 0) + 1
            raise ValueError(
                f"{path}: no questions in split {split!r}; splits present: {counts}; choose another env.split"
            )
        return chosen

    def chunk_map(self) -> dict[str, Chunk]:
        """The chunks by chunk id."""
        path = self.chunks
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `teacherforge datagen` for this run dir first")
        return {c.chunk_id: c for c in (Chunk.from_json(r) for r in read_jsonl(path))}

    def retriever(self, index: str = "original") -> Any:
        """The :class:`~teacherforge.retrieval.Retriever` of ``index`` (cached per directory and
        modification time)."""
        directory = self.index_dir(index)
        meta = directory / "retriever.json"
        if not meta.is_file():
            hint = (
                "enable paraphrases in datagen or use index=original"
                if index == "paraphrased"
                else "run `teacherforge datagen` (or `teacherforge index`) for this run dir first"
            )
            raise FileNotFoundError(f"{directory}: no retriever index there; {hint}")
        key = (str(directory.resolve()), meta.stat().st_mtime_ns)
        if key not in _RETRIEVERS:
            from teacherforge.retrieval import Retriever

            _RETRIEVERS[key] = Retriever.load(directory)
        return _RETRIEVERS[key]
