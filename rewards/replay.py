"""Reward experiments without training: rescore saved trajectories under another rubric.

Input is a JSONL file of ``Trajectory.to_json()`` records (what the rollout driver and the
GRPO trainer save); a record may carry ``metadata["reward_total"]``, the total it was
originally scored with. :func:`replay` reports per-component means, pairwise Pearson
correlations between components, and the Spearman rank agreement of the new total with the
original one, so a researcher can judge a reward on real rollouts before a training run.

Per-group components (:mod:`~teacherforge.rewards.registry`) score the samples of one prompt
together: :func:`rescore` regroups the records by question id and ``metadata["step"]`` (the
samples of one question in one rollout batch), in file order.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from teacherforge.rewards.diagnostics import hacking_diagnostics
from teacherforge.rewards.rubric import Rubric, RubricResult
from teacherforge.rewards.stats import mean, pearson, spearman
from teacherforge.rewards.trajectory import Trajectory

ORIGINAL_TOTAL_KEY = "reward_total"


@dataclass(frozen=True)
class ReplayReport:
    """What a replay found.

    ``correlations`` lists ``(component_a, component_b, pearson or None)`` for each pair;
    ``rank_agreement`` is the Spearman correlation of the new total with the original one
    over the ``n_with_original`` trajectories that carry ``metadata["reward_total"]``
    (``None`` when fewer than two do or either side is constant).
    """

    n: int
    weights: dict[str, float]
    component_means: dict[str, float]
    total_mean: float
    correlations: list[tuple[str, str, float | None]]
    n_with_original: int
    original_total_mean: float | None
    rank_agreement: float | None
    error_counts: dict[str, int]
    diagnostics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON form (correlations as ``{"a", "b", "pearson"}`` records)."""
        data = asdict(self)
        data["correlations"] = [{"a": a, "b": b, "pearson": r} for a, b, r in self.correlations]
        return data


def load_trajectories(path: str | os.PathLike[str]) -> list[Trajectory]:
    """Read a JSONL file of trajectory records; blank lines are skipped.

    A line that is not JSON or not a valid trajectory raises ``ValueError`` reading
    ``FILE:LINE: reason``; a missing file raises ``FileNotFoundError``.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"trajectories file {file} not found")
    trajs: list[Trajectory] = []
    with open(file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{file}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            try:
                trajs.append(Trajectory.from_json(record))
            except ValueError as exc:
                raise ValueError(f"{file}:{lineno}: {exc}") from None
    if not trajs:
        raise ValueError(f"{file}: no trajectories (expected one Trajectory.to_json() record per line)")
    return trajs


def original_total(traj: Trajectory) -> float | None:
    """``metadata["reward_total"]`` as a finite float, else ``None``."""
    value = traj.metadata.get(ORIGINAL_TOTAL_KEY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def rescore(trajs: Sequence[Trajectory], rubric: Rubric) -> list[RubricResult]:
    """Score saved trajectories under ``rubric``, one result per trajectory, in order.

    Without per-group components each trajectory is scored alone; with them, trajectories
    sharing a question id and ``metadata["step"]`` form one group.
    """
    if not rubric.group_names:
        return rubric.score_many(trajs)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, traj in enumerate(trajs):
        groups.setdefault((traj.question_id, repr(traj.metadata.get("step"))), []).append(i)
    results: list[RubricResult] = [RubricResult(0.0)] * len(trajs)
    for members in groups.values():
        for i, result in zip(members, rubric.score_group([trajs[i] for i in members])):
            results[i] = result
    return results


def replay(trajs: Sequence[Trajectory], rubric: Rubric) -> ReplayReport:
    """Rescore ``trajs`` under ``rubric`` and compare with their original totals.

    >>> from teacherforge.rewards import Rubric
    >>> trajs = [Trajectory("q", "Byron", (), final_answer=a, metadata={"reward_total": t})
    ...          for a, t in [("Byron", 0.9), ("Lee", 0.1), ("Ada Byron", 0.5)]]
    >>> report = replay(trajs, Rubric({"exact_match": 1.0, "f1": 1.0}))
    >>> report.component_means["exact_match"], report.rank_agreement
    (0.3333333333333333, 1.0)
    """
    if not trajs:
        raise ValueError("replay needs at least one trajectory")
    results = rescore(trajs, rubric)
    names = rubric.names
    columns = {name: [r.breakdown[name] for r in results] for name in names}
    totals = [r.total for r in results]
    originals = [original_total(t) for t in trajs]
    with_original = [(new, orig) for new, orig in zip(totals, originals) if orig is not None]
    error_counts: dict[str, int] = {}
    for r in results:
        for name, count in r.errors.items():
            error_counts[name] = error_counts.get(name, 0) + count
    return ReplayReport(
        n=len(trajs),
        weights=dict(rubric.weights),
        component_means={name: mean(columns[name]) or 0.0 for name in names},
        total_mean=mean(totals) or 0.0,
        correlations=[
            (a, b, pearson(columns[a], columns[b])) for i, a in enumerate(names) for b in names[i + 1 :]
        ],
        n_with_original=len(with_original),
        original_total_mean=mean([o for _, o in with_original]),
        rank_agreement=(
            spearman([n for n, _ in with_original], [o for _, o in with_original])
            if len(with_original) >= 2
            else None
        ),
        error_counts=error_counts,
        diagnostics=hacking_diagnostics(trajs, results),
    )


def format_report(report: ReplayReport, source: str = "") -> str:
    """A one-screen text summary of a replay."""

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.3f}"

    lines = [f"replayed {report.n} trajectories" + (f" from {source}" if source else "")]
    lines.append(f"{'component':<28}{'weight':>8}{'mean':>9}{'errors':>8}")
    for name, weight in report.weights.items():
        lines.append(
            f"{name:<28}{weight:>8.3f}{report.component_means[name]:>9.3f}{report.error_counts.get(name, 0):>8d}"
        )
    lines.append(f"{'total':<28}{'':>8}{report.total_mean:>9.3f}")
    if report.correlations:
        lines.append("component correlations (Pearson; n/a = a constant component):")
        for a, b, r in report.correlations:
            lines.append(f"  {a} ~ {b}: {num(r)}")
    if report.n_with_original:
        lines.append(
            f"rank agreement with the original total (Spearman, n={report.n_with_original}): "
            f"{num(report.rank_agreement)}; original mean {report.original_total_mean:.3f}"
        )
    else:
        lines.append(f"rank agreement: n/a (no record carries metadata[{ORIGINAL_TOTAL_KEY!r}])")
    overall = report.diagnostics["overall"]
    lines.append(
        "behaviour: mean answer length {:.1f} chars, mean searches {:.2f}, answered {:.0%}, "
        "episodes with repeated queries {:.0%}".format(
            overall["answer_length"]["mean"],
            overall["search_count"]["mean"],
            overall["answered_rate"],
            overall["repeated_query_rate"],
        )
    )
    return "\n".join(lines)
