"""Reward experiments without training: rescore saved trajectories under another rubric.

Input is a JSONL file of ``Trajectory.to_json()`` records (what the rollout driver and the
GRPO trainer save); a record may carry ``metadata["reward_total"]``, the total it was
originally scored with. :func:`replay` reports per-component means, pairwise Pearson
correlations between components, and the Spearman rank agreement of the new total with the
original one, so a researcher can judge a reward on real rollouts before a training run.

Per-group components (:mod:`~teacherforge.rewards.registry`) score the samples of one prompt
together: :func:`rescore` regroups the records by question id and ``metadata["step"]`` (the
samples of one question in one rollout batch), in file order.

:func:`compare_presets` scores the same trajectories under several rubrics (the packaged
presets, say) and reports each one's mean and spread, how well they agree on the ranking
of the trajectories, and the trajectories they disagree on most (:func:`format_comparison`
prints it as a table).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from teacherforge.rewards.diagnostics import hacking_diagnostics
from teacherforge.rewards.rubric import Rubric, RubricResult
from teacherforge.rewards.stats import mean, pearson, ranks, spearman, std
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
    flagged = ", ".join(f"{name} {count}" for name, count in report.diagnostics["flag"].items() if count)
    lines.append(f"hacking patterns (trajectories): {flagged or 'none'}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Disagreement:
    """A trajectory two rubrics rank far apart.

    ``index`` is its position in the compared list; ``presets`` the pair with the largest
    rank gap on it, ``rank_gap`` that gap; ``ranks`` its rank (1 = lowest total, ties
    averaged) under every rubric.
    """

    index: int
    question_id: str
    presets: tuple[str, str]
    rank_gap: float
    ranks: dict[str, float]


@dataclass(frozen=True)
class PresetComparison:
    """What :func:`compare_presets` found: per rubric the mean and spread (population std) of
    the totals, the Spearman rank agreement of each pair (``None`` when a side is constant),
    and the trajectories with the largest rank gaps, largest first."""

    n: int
    means: dict[str, float]
    stds: dict[str, float]
    agreement: list[tuple[str, str, float | None]]
    disagreements: list[Disagreement]

    def to_json(self) -> dict[str, Any]:
        """JSON form (agreement as ``{"a", "b", "spearman"}`` records)."""
        data = asdict(self)
        data["agreement"] = [{"a": a, "b": b, "spearman": r} for a, b, r in self.agreement]
        return data


def compare_presets(
    trajs: Sequence[Trajectory], rubrics: Mapping[str, Rubric], top: int = 5
) -> PresetComparison:
    """Score ``trajs`` under every rubric of ``rubrics`` (name -> rubric) and compare them.

    Each rubric rescores the trajectories as :func:`rescore` does; the trajectories are then
    ranked by each rubric's total, and the ``top`` trajectories whose ranks differ most
    between some pair of rubrics are listed (those ranked alike by all are left out).

    >>> from teacherforge.rewards import Rubric
    >>> trajs = [Trajectory("q", "Ada Byron", (), final_answer=a) for a in ["Ada Byron", "Byron", "Lee"]]
    >>> cmp = compare_presets(trajs, {"em": Rubric({"exact_match": 1.0}), "f1": Rubric({"f1": 1.0})})
    >>> round(cmp.means["f1"], 3), round(cmp.agreement[0][2], 3), cmp.disagreements[0].index
    (0.556, 0.866, 1)
    """
    if not trajs:
        raise ValueError("compare_presets needs at least one trajectory")
    if not rubrics:
        raise ValueError("compare_presets needs at least one rubric")
    totals = {name: [r.total for r in rescore(trajs, rubric)] for name, rubric in rubrics.items()}
    ranked = {name: ranks(values) for name, values in totals.items()}
    names = list(rubrics)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    gaps = []
    for i, traj in enumerate(trajs):
        if not pairs:
            break
        a, b = max(pairs, key=lambda pair: abs(ranked[pair[0]][i] - ranked[pair[1]][i]))
        gap = abs(ranked[a][i] - ranked[b][i])
        if gap > 0:
            gaps.append(
                Disagreement(i, traj.question_id, (a, b), gap, {name: ranked[name][i] for name in names})
            )
    gaps.sort(key=lambda d: (-d.rank_gap, d.index))
    return PresetComparison(
        n=len(trajs),
        means={name: mean(values) or 0.0 for name, values in totals.items()},
        stds={name: std(values) or 0.0 for name, values in totals.items()},
        agreement=[(a, b, spearman(totals[a], totals[b])) for a, b in pairs],
        disagreements=gaps[:top],
    )


def format_comparison(comparison: PresetComparison, source: str = "") -> str:
    """A plain-text table of a :func:`compare_presets` result: means and spreads, the rank
    agreement matrix, and the trajectories the rubrics disagree on most."""
    names = list(comparison.means)
    width = max(12, *(len(name) + 2 for name in names))
    lines = [
        f"compared {len(names)} rubrics on {comparison.n} trajectories"
        + (f" from {source}" if source else "")
    ]
    lines.append(f"{'preset':<{width}}{'mean':>9}{'std':>9}")
    for name in names:
        lines.append(f"{name:<{width}}{comparison.means[name]:>9.3f}{comparison.stds[name]:>9.3f}")
    if comparison.agreement:
        agreement = {frozenset((a, b)): r for a, b, r in comparison.agreement}
        lines.append("rank agreement (Spearman; n/a = a constant total):")
        lines.append(" " * width + "".join(f"{name:>{width}}" for name in names))
        for a in names:
            cells = []
            for b in names:
                r = 1.0 if a == b else agreement[frozenset((a, b))]
                cells.append(f"{'n/a' if r is None else f'{r:+.2f}':>{width}}")
            lines.append(f"{a:<{width}}" + "".join(cells))
    if comparison.disagreements:
        lines.append(f"largest disagreements (rank of {comparison.n}, 1 = lowest total):")
        for d in comparison.disagreements:
            a, b = d.presets
            label = f"#{d.index}" + (f" {d.question_id}" if d.question_id else "")
            lines.append(f"  {label}: {a} {d.ranks[a]:g} vs {b} {d.ranks[b]:g} (gap {d.rank_gap:g})")
    return "\n".join(lines)
