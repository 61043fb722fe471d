"""Evaluation metrics: EM/F1 per answer, bootstrap confidence intervals, similarity stats, ratios.

Answer comparison (:func:`exact_match_score`, :func:`f1_score`, citation stripping and
normalisation) is the reward library's: one implementation serves the rewards used in
training and the metrics used in evaluation, so a reward and its metric never disagree.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from teacherforge.rewards.answer import exact_match_score, f1_score

__all__ = [
    "Interval",
    "bootstrap_ci",
    "change_word",
    "difference_ci",
    "exact_match_score",
    "f1_score",
    "paired_difference_ci",
    "ratio",
    "similarity_stats",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_ci(
    values: Sequence[float], samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``values`` with a percentile bootstrap interval (deterministic for a seed).

    >>> ci = bootstrap_ci([1.0, 0.0, 1.0, 1.0], samples=200)
    >>> ci.low <= ci.mean <= ci.high
    True
    """
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(values) / n
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(max(1, samples)))
    tail = (1.0 - confidence) / 2
    low = means[math.floor(tail * (len(means) - 1))]
    high = means[math.ceil((1 - tail) * (len(means) - 1))]
    return Interval(mean, min(low, mean), max(high, mean), n)


def paired_difference_ci(
    a: Sequence[float], b: Sequence[float], samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``a[i] - b[i]`` (two models on the same questions) with a paired bootstrap interval.

    Resampling questions keeps each pair together, so per-question difficulty cancels out.

    >>> paired_difference_ci([1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], samples=200).mean
    0.5
    """
    if len(a) != len(b):
        raise ValueError(f"paired_difference_ci: {len(a)} vs {len(b)} values; pairs must match")
    return bootstrap_ci([x - y for x, y in zip(a, b)], samples, confidence, seed)


def difference_ci(
    a: Sequence[float], b: Sequence[float], samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``a`` minus mean of ``b`` (independent samples) with a bootstrap interval.

    For values that are not paired, e.g. the late vs the early third of a training curve. With
    fewer than two values on a side the interval is NaN (nothing to resample).

    >>> difference_ci([1.0, 1.0, 1.0], [0.0, 0.0], samples=200).to_json()["low"]
    1.0
    """
    if not a or not b:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(a) / len(a) - sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:  # one value per side: no spread to resample, no interval
        return Interval(mean, math.nan, math.nan, len(a) + len(b))
    rng = random.Random(seed)
    diffs = sorted(
        sum(rng.choices(a, k=len(a))) / len(a) - sum(rng.choices(b, k=len(b))) / len(b)
        for _ in range(max(1, samples))
    )
    tail = (1.0 - confidence) / 2
    low = diffs[math.floor(tail * (len(diffs) - 1))]
    high = diffs[math.ceil((1 - tail) * (len(diffs) - 1))]
    return Interval(mean, min(low, mean), max(high, mean), len(a) + len(b))


def change_word(diff: Interval, up: str = "rose", down: str = "fell") -> str:
    """The honest word for a difference: ``up``/``down`` only when its interval excludes 0.

    >>> change_word(Interval(0.2, 0.05, 0.3, 10)), change_word(Interval(0.2, -0.05, 0.4, 10))
    ('rose', 'no significant change')
    """
    if diff.n == 0 or math.isnan(diff.low):
        return "not measured"
    if diff.low > 0:
        return up
    if diff.high < 0:
        return down
    return "no significant change"


def similarity_stats(similarities: Sequence[float]) -> dict[str, float]:
    """Mean/min/max/std (population) of answer–reference similarities.

    >>> similarity_stats([0.5, 1.0])
    {'mean': 0.75, 'min': 0.5, 'max': 1.0, 'std': 0.25}
    """
    if not similarities:
        return {"mean": math.nan, "min": math.nan, "max": math.nan, "std": math.nan}
    n = len(similarities)
    mean = sum(similarities) / n
    std = math.sqrt(sum((s - mean) ** 2 for s in similarities) / n)
    return {"mean": mean, "min": min(similarities), "max": max(similarities), "std": std}


def ratio(student: float, teacher: float) -> float:
    """Student/teacher ratio of a metric (NaN when the teacher scores 0).

    >>> ratio(0.4, 0.5)
    0.8
    """
    if teacher == 0 or math.isnan(teacher) or math.isnan(student):
        return math.nan
    return student / teacher
