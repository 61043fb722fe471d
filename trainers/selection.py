"""Checkpoint choice on held-out data: keep the best checkpoint by a validation score, or the last.

A trainer saves ``checkpoint-N`` directories (each holding a LoRA adapter) and a final
``adapter/``. With ``select_checkpoint: best`` (SFT and GRPO configs), every candidate is
scored on the *validation* split — never the test split, which is scored once by evaluation —
and the winner's adapter replaces ``adapter/`` atomically; ``selection.json`` beside it
records every candidate's score, the step chosen and the split that chose it. With ``last``
nothing is scored and the final adapter stays.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from teacherforge.models import is_adapter
from teacherforge.run import TrainingDir
from teacherforge.workspace import atomic_write_json, replace_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One adapter that can be kept: its training step and directory."""

    step: int
    path: Path


def candidates(output_dir: str | os.PathLike[str], final_step: int) -> list[Candidate]:
    """Every ``checkpoint-N`` adapter under ``output_dir`` plus the final ``adapter/`` (as ``final_step``).

    A checkpoint at the final step is the same weights as ``adapter/`` and is skipped.
    """
    from teacherforge.trainers.sft_common import saved_checkpoints

    out = TrainingDir(Path(output_dir))
    found = [
        Candidate(step, path)
        for step, path in saved_checkpoints(out.path)
        if step != final_step and is_adapter(path)
    ]
    if is_adapter(out.adapter):
        found.append(Candidate(final_step, out.adapter))
    return found


def select_checkpoint(
    output_dir: str | os.PathLike[str],
    final_step: int,
    score: Callable[[Path], float],
    split: str = "validation",
) -> dict:
    """Score every candidate adapter with ``score`` and keep the best one as ``adapter/``.

    Ties go to the later step. Returns (and writes to ``<output_dir>/selection.json``)
    ``{"chosen_step", "scores": {step: score}, "split", "final_step"}``.
    """
    out = TrainingDir(Path(output_dir))
    found = candidates(out.path, final_step)
    if not found:
        raise FileNotFoundError(f"{out.path}: no adapter or checkpoint-* to choose from")
    scores = {c.step: float(score(c.path)) for c in found}
    best = max(found, key=lambda c: (scores[c.step], c.step))
    if best.path != out.adapter:
        install_adapter(best.path, out.adapter)
    result = {"chosen_step": best.step, "scores": scores, "split": split, "final_step": final_step}
    atomic_write_json(out.selection, result)
    log.info("checkpoint choice on %s: step %d (%s)", split, best.step, json.dumps(scores))
    return result


def install_adapter(source: Path, target: Path) -> None:
    """Replace ``target`` with a copy of the adapter files in ``source`` (atomic rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for item in source.iterdir():
            if item.is_file() and (
                item.name.startswith("adapter_") or item.suffix in (".json", ".jinja", ".txt")
            ):
                shutil.copy2(item, tmp / item.name)
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
