"""The run directory's layout: every file name of a run dir, and the loaders of what it holds.

A run directory (``runs/<name>/`` by default) holds every artifact of one dataset version.
:class:`RunLayout` is the one place that spells those names; every stage asks it for paths
(``layout.chunks``, ``layout.index_dir("paraphrased")``, ``layout.training_dir("sft")``) and
for loaded objects (``layout.questions("train")``, ``layout.retriever("original")``)::

    runs/<name>/
      manifest.json            config per step, versions, model identities, layout version
      .lock                    held by the one process writing the run dir
      chunks.jsonl             the corpus cut into chunks
      index/                   retriever over the original chunks
      questions.json           question/answer pairs, each with its split
      paraphrases.jsonl        LLM paraphrases of every chunk
      index_paraphrased/       retriever over the paraphrases
      cache.sqlite             every LLM call (keyed by model weights, prompt, params)
      teacher_raw.jsonl        teacher answers as generated
      teacher.jsonl            teacher answers after post-processing
      review.jsonl             records flagged for human review
      dataset/                 chat-format splits for SFT ({split}.jsonl, axolotl/, hf/, dataset_info.json)
      sft/ grpo/               training outputs (:class:`TrainingDir`; ``<stage>.output_dir`` moves them)
      report/                  evaluation report (:class:`ReportDir`)
      rounds/round_NN/         feedback rounds, each a run dir (+ failures.jsonl, lineage.json, round.json)

The manifest records ``layout_version``; :func:`upgrade_manifest` brings an older run dir up
to date (or refuses a newer one) when a :class:`~teacherforge.workspace.RunDir` opens it.

Loaded retrievers are kept per directory, modification time and settings for the life of the
process, so many environments over one run dir load the index and the embedder once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teacherforge.records import Question, TeacherRecord, load_questions, load_teacher_records, save_questions
from teacherforge.run_paths import (
    LAYOUT_VERSION,
    NAMES,
    TRAINING_STAGES,
    LayoutVersionError,
    ReportDir,
    RunPaths,
    TrainingDir,
    upgrade_manifest,
)
from teacherforge.types import Chunk
from teacherforge.workspace import read_json, read_jsonl

if TYPE_CHECKING:
    from teacherforge.config import RetrievalConfig

__all__ = [
    "LAYOUT_VERSION",
    "NAMES",
    "TRAINING_STAGES",
    "LayoutVersionError",
    "ReportDir",
    "RunLayout",
    "TrainingDir",
    "upgrade_manifest",
]

_RETRIEVERS: dict[tuple[str, int, str], Any] = {}


class RunLayout(RunPaths):
    """The paths of one run directory (:class:`~teacherforge.run_paths.RunPaths`), the checks
    stages run before they write, and the loaders of what it holds."""

    # ---- checks ----------------------------------------------------------------------
    def check_version(self) -> None:
        """Refuse a run dir whose manifest records a newer layout (see :func:`upgrade_manifest`)."""
        if self.manifest.is_file():
            upgrade_manifest(read_json(self.manifest), self.root)

    def require(self, paths: Sequence[Path], producer: str) -> None:
        """Raise one ``FileNotFoundError`` line naming every missing input in ``paths`` and the
        command ``producer`` that writes them (call it before anything is written)."""
        self.check_version()
        missing = [os.path.relpath(p, self.root) for p in paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{self.root}: {', '.join(missing)} not found; run `{producer}` first")

    def has_index(self, index: str = "original") -> bool:
        """Whether the retriever of ``index`` has been built."""
        from teacherforge.retrieval.retriever import is_index

        return is_index(self.index_dir(index))

    # ---- loaders ---------------------------------------------------------------------
    def questions(self, split: str | None = "train") -> list[Question]:
        """The questions in ``split`` (all splits when ``None``)."""
        path = self.questions_file
        self.require([path], "teacherforge datagen")
        questions = load_questions(path)
        if split is None:
            return questions
        chosen = [q for q in questions if q.split == split]
        if not chosen:
            counts: dict[str, int] = {}
            for q in questions:
                counts[q.split] = counts.get(q.split, 0) + 1
            raise ValueError(
                f"{path}: no questions in split {split!r}; splits present: {counts}; choose one of those"
            )
        return chosen

    def save_questions(self, questions: Sequence[Question]) -> int:
        """Write ``questions.json`` atomically; return the number of questions."""
        return save_questions(self.questions_file, questions)

    def chunk_list(self) -> list[Chunk]:
        """The chunks in file order; a bad record names the file and line."""
        path = self.chunks
        self.require([path], "teacherforge datagen")
        chunks = []
        for lineno, record in enumerate(read_jsonl(path), 1):
            try:
                chunks.append(Chunk.from_json(record))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{lineno}: not a chunk record ({exc})") from None
        return chunks

    def chunk_map(self) -> dict[str, Chunk]:
        """The chunks by chunk id."""
        return {c.chunk_id: c for c in self.chunk_list()}

    def teacher_records(self) -> list[TeacherRecord]:
        """The post-processed teacher records, typed; errors name the file, line and field."""
        self.require([self.teacher], "teacherforge teacher")
        return load_teacher_records(self.teacher)

    def retriever(self, index: str = "original", settings: RetrievalConfig | None = None) -> Any:
        """The :class:`~teacherforge.retrieval.Retriever` of ``index``, searching with the search-time
        ``settings`` (a config's ``retrieval``; ``None``: as built) and refusing build-time settings
        that differ from the index's; an index built with the run's fine-tuned embedder
        (``datagen.embedder_finetune``) searches with it. Cached per directory, modification time
        and settings."""
        from teacherforge.retrieval.retriever import META_FILE

        self.check_version()
        directory = self.index_dir(index)
        meta = directory / META_FILE
        if not meta.is_file():
            hint = (
                "enable paraphrases in datagen or set retrieval.index=original"
                if index == "paraphrased"
                else "run `teacherforge datagen` (or `teacherforge index`) for this run dir first"
            )
            raise FileNotFoundError(f"{directory}: no retriever index there; {hint}")
        tuned = str(self.tuned_embedder.resolve())
        if settings is not None and read_json(meta)["config"].get("embedder") == tuned:  # the run's fine-tune
            settings = dataclasses.replace(settings, embedder=tuned)
        key = (str(directory.resolve()), meta.stat().st_mtime_ns, repr(settings))
        if key not in _RETRIEVERS:
            from teacherforge.retrieval import Retriever

            _RETRIEVERS[key] = Retriever.load(directory, settings)
        return _RETRIEVERS[key]
