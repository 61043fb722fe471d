"""The file names of a run directory: :class:`RunPaths`, its output dirs and the layout version.

Only names live here (no file is read): :class:`teacherforge.run.RunLayout` adds the checks and
loaders, and its module docstring draws the tree. :class:`TrainingDir` and :class:`ReportDir`
name the files inside a training stage's output directory (which ``<stage>.output_dir`` may
move out of the run dir) and inside ``report/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Version of the file names below; recorded in every manifest (see :func:`upgrade_manifest`).
LAYOUT_VERSION = 1
INDEXES = {"original": "index", "paraphrased": "index_paraphrased"}
TRAINING_STAGES = ("sft", "grpo")


class LayoutVersionError(ValueError):
    """A run dir written by a newer teacherforge, whose file names this one may not know."""


def upgrade_manifest(manifest: dict[str, Any], root: str | os.PathLike[str]) -> dict[str, Any]:
    """Bring a run dir's ``manifest`` to :data:`LAYOUT_VERSION` (in place; the caller saves it).

    A manifest without ``layout_version`` predates versioning; version 1 names every file as
    those run dirs did, so recording the version is the whole migration. A newer (or unreadable)
    version raises :class:`LayoutVersionError`: one line naming both versions and the fix.
    """
    found = manifest.get("layout_version", 0)
    if not isinstance(found, int) or isinstance(found, bool) or not 0 <= found <= LAYOUT_VERSION:
        raise LayoutVersionError(
            f"{root}: run dir layout_version {found!r}, but this teacherforge reads version "
            f"{LAYOUT_VERSION} and older; upgrade teacherforge (pip install -U teacherforge) or use "
            "another --run-dir"
        )
    manifest["layout_version"] = LAYOUT_VERSION
    return manifest


@dataclass(frozen=True)
class TrainingDir:
    """The output directory of a training stage (``sft/``, ``grpo/`` or the warm start inside it).

    HF checkpoints (``checkpoint-N/``) are the trainer's names and listed by
    :func:`teacherforge.trainers.sft_common.saved_checkpoints`.
    """

    path: Path

    @property
    def adapter(self) -> Path:
        """The final LoRA adapter (replaced by the chosen checkpoint with ``select_checkpoint: best``)."""
        return self.path / "adapter"

    @property
    def merged(self) -> Path:
        """The adapter merged into its base model (``<stage>.merge``)."""
        return self.path / "merged"

    @property
    def sft_log(self) -> Path:
        return self.path / "sft_log.jsonl"

    @property
    def grpo_log(self) -> Path:
        return self.path / "grpo_log.jsonl"

    @property
    def trajectories(self) -> Path:
        return self.path / "trajectories.jsonl"

    @property
    def reward_plot(self) -> Path:
        return self.path / "reward_curve.png"

    @property
    def reward_text(self) -> Path:
        return self.path / "reward_curve.txt"

    @property
    def selection(self) -> Path:
        """The validation scores of every checkpoint and the one kept."""
        return self.path / "selection.json"

    @property
    def warm_start(self) -> TrainingDir:
        """The GRPO warm start's own output directory."""
        return TrainingDir(self.path / "warm_start")

    @property
    def warm_start_summary(self) -> Path:
        """The warm start's before/after report (inside :attr:`warm_start`)."""
        return self.warm_start.path / "warm_start.json"


@dataclass(frozen=True)
class ReportDir:
    """The evaluation report directory (and the feedback loop's round-over-round report)."""

    path: Path

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def results(self) -> Path:
        """One row per model, mode and question."""
        return self.path / "results.jsonl"

    @property
    def summary(self) -> Path:
        return self.path / "summary.md"

    @property
    def metrics_plot(self) -> Path:
        return self.path / "metrics.png"

    @property
    def training_plot(self) -> Path:
        return self.path / "training.png"

    @property
    def rounds(self) -> Path:
        return self.path / "rounds.json"

    @property
    def retrieval(self) -> Path:
        """``teacherforge eval-retrieval``'s report: every search setting's figures on one question set."""
        return self.path / "retrieval.json"

    @property
    def rounds_table(self) -> Path:
        return self.path / "rounds.md"

    @property
    def rounds_plot(self) -> Path:
        return self.path / "rounds.png"


@dataclass(frozen=True)
class RunPaths:
    """The paths of one run directory (nothing is created or read until asked)."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    # ---- bookkeeping -----------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def hash_cache(self) -> Path:
        """Content hashes of step inputs, reused while a file is unchanged (stage fingerprints)."""
        return self.root / ".hashes.json"

    @property
    def cache(self) -> Path:
        """The SQLite cache of every LLM call."""
        return self.root / "cache.sqlite"

    @property
    def mlflow_store(self) -> Path:
        """The SQLite MLflow store the stages log to with ``report_to: mlflow`` (unless
        ``MLFLOW_TRACKING_URI`` names another store)."""
        return self.root / "mlflow.db"

    def log(self, command: str) -> Path:
        """What ``teacherforge <command>`` logged (library warnings and debug lines), appended per run."""
        return self.root / "logs" / f"{command}.log"

    # ---- data generation -------------------------------------------------------------
    @property
    def chunks(self) -> Path:
        return self.root / "chunks.jsonl"

    @property
    def load_report(self) -> Path:
        """One line per corpus file: loaded (with its chunk count), emptied, failed or skipped, and why."""
        return self.root / "load_report.jsonl"

    @property
    def questions_file(self) -> Path:
        return self.root / "questions.json"

    @property
    def paraphrases(self) -> Path:
        return self.root / "paraphrases.jsonl"

    @property
    def tuned_embedder(self) -> Path:
        """The embedder fine-tuned on the run's train questions (``datagen.embedder_finetune``), with
        ``finetune.json``; the indexes record it by this path."""
        return self.root / "embedder"

    @property
    def embeddings(self) -> Path:
        """The embeddings of every indexed text by text hash (``.npy`` + ``.json`` keys and embedder
        identity): a rebuild after a corpus change embeds only new text."""
        return self.root / "embeddings.npy"

    def index_dir(self, index: str = "original") -> Path:
        """The retriever directory of ``index`` (``original`` or ``paraphrased``)."""
        if index not in INDEXES:
            raise ValueError(f"retrieval.index: {index!r} is not allowed; choose one of {list(INDEXES)}")
        return self.root / INDEXES[index]

    @property
    def corpus_artifacts(self) -> tuple[Path, ...]:
        """What a feedback round copies from its parent: chunks, both indexes, paraphrases, LLM cache."""
        return (
            self.chunks,
            self.index_dir("original"),
            self.index_dir("paraphrased"),
            self.paraphrases,
            self.cache,
        )

    # ---- teacher, quality, review ----------------------------------------------------
    @property
    def teacher_raw(self) -> Path:
        """Teacher records as generated (kept by the quality stage so a rerun starts from them)."""
        return self.root / "teacher_raw.jsonl"

    @property
    def teacher(self) -> Path:
        """Teacher records after post-processing and review."""
        return self.root / "teacher.jsonl"

    @property
    def review(self) -> Path:
        """The records flagged ``pending``, for ``teacherforge review``."""
        return self.root / "review.jsonl"

    # ---- dataset ---------------------------------------------------------------------
    @property
    def dataset_dir(self) -> Path:
        return self.root / "dataset"

    def dataset_split(self, split: str) -> Path:
        """The chat ``messages`` rows of ``split`` (``train``, ``validation`` or ``test``)."""
        return self.dataset_dir / f"{split}.jsonl"

    @property
    def axolotl_dir(self) -> Path:
        """The splits as Axolotl ``input_output`` segments."""
        return self.dataset_dir / "axolotl"

    def axolotl_split(self, split: str) -> Path:
        return self.axolotl_dir / f"{split}.jsonl"

    @property
    def hf_dataset(self) -> Path:
        """The splits saved as a ``datasets.DatasetDict``."""
        return self.dataset_dir / "hf"

    @property
    def dataset_info(self) -> Path:
        return self.dataset_dir / "dataset_info.json"

    @property
    def dataset_card(self) -> Path:
        """The Hugging Face dataset card: YAML front matter (licence, splits) and Markdown."""
        return self.dataset_dir / "README.md"

    # ---- training, evaluation --------------------------------------------------------
    def training_dir(self, stage: str, output_dir: str | os.PathLike[str] | None = None) -> TrainingDir:
        """The outputs of training ``stage`` (``sft`` or ``grpo``): ``output_dir`` when given (the
        config's ``<stage>.output_dir``), else ``<run dir>/<stage>/``."""
        if stage not in TRAINING_STAGES:
            raise ValueError(f"training stage {stage!r} is not one of {list(TRAINING_STAGES)}")
        return TrainingDir(Path(output_dir) if output_dir else self.root / stage)

    @property
    def report(self) -> ReportDir:
        return ReportDir(self.root / "report")

    def model_export(self, stage: str) -> Path:
        """``teacherforge export model``'s merged model of training ``stage`` (weights, tokenizer, card)."""
        if stage not in TRAINING_STAGES:
            raise ValueError(f"training stage {stage!r} is not one of {list(TRAINING_STAGES)}")
        return self.root / "export" / stage

    # ---- feedback rounds -------------------------------------------------------------
    def round_dir(self, index: int) -> Path:
        """The run dir of feedback round ``index`` (1-based)."""
        return self.root / "rounds" / f"round_{index:02d}"

    @property
    def failures(self) -> Path:
        """In a round's run dir: the parent's failing records its new questions point back to."""
        return self.root / "failures.jsonl"

    @property
    def lineage(self) -> Path:
        """In a round's run dir: the parent run dir and dataset version, counts."""
        return self.root / "lineage.json"

    @property
    def round_result(self) -> Path:
        """In a round's run dir: the finished round's result (its presence means "done")."""
        return self.root / "round.json"


#: The layout relative to any run dir: the names a manifest records (``str(NAMES.teacher)`` is
#: ``teacher.jsonl``).
NAMES = RunPaths(".")
