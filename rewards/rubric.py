"""Rubric: a weighted sum of named rewards with a per-component breakdown.

Components are per-sample (``fn(traj) -> float``) or per-group (``fn(trajs) -> list[float]``,
see :mod:`~teacherforge.rewards.registry`): :meth:`Rubric.score_group` runs each per-sample
component on every trajectory of a group and each per-group component once on all of them;
calling the rubric on one trajectory scores a group of one.

A reward that raises, returns a non-number/NaN, or leaves its declared bounds is an error:
with ``on_error="zero"`` (default) that component scores 0.0 for the samples concerned, the
error is counted per sample (``breakdown["reward_errors/<name>"]``, ``result.errors``,
``rubric.error_counts``) and the first traceback per component is logged at ERROR level,
later ones at DEBUG, so an error is never silent; with ``on_error="raise"`` it propagates.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from teacherforge.rewards.registry import Bounds, get_reward, reward_bounds, reward_scope
from teacherforge.rewards.trajectory import Trajectory

logger = logging.getLogger(__name__)

ON_ERROR = ("zero", "raise")
ERROR_PREFIX = "reward_errors/"
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RubricResult:
    """The score of one trajectory.

    ``breakdown`` maps each component name to its UNWEIGHTED score, plus
    ``reward_errors/<name>: 1.0`` for each component that failed on this sample;
    ``errors`` maps failed component names to their error count (0 or 1 per sample).
    """

    total: float
    breakdown: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


class RewardValueError(ValueError):
    """A reward returned something that is not a finite number within its declared bounds."""


class Rubric:
    """A weighted sum of rewards: ``total = sum(weight[name] * reward[name](traj))``.

    Args:
        weights: component name → weight. Names are registered reward names or dotted
            paths ``pkg.module:function``; weights may be negative (penalties) or 0
            (computed and reported in the breakdown, not added to the total).
        on_error: ``"zero"`` (score a failing component 0.0, count and log it) or ``"raise"``.
        rewards: name → reward function, overriding or adding to the registry for this
            rubric; required for rewards that need an injected dependency, e.g.
            ``{"judge": make_judge_reward(my_judge)}``. A function's ``scope`` attribute
            (``"sample"`` or ``"group"``) says how it is called.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> rubric = Rubric({"exact_match": 1.0, "retrieval_match": 0.5})
    >>> traj = Trajectory("Who?", "Byron", ("c1",), final_answer="Byron",
    ...                   turns=(Turn("<search>who</search>", query="who", retrieved=(RetrievedRef("c2", 1, 0.3),)),))
    >>> result = rubric(traj)
    >>> result.total, result.breakdown
    (1.0, {'exact_match': 1.0, 'retrieval_match': 0.0})
    >>> rubric.bounds
    (0.0, 1.5)
    """

    def __init__(
        self,
        weights: Mapping[str, float],
        on_error: str = "zero",
        rewards: Mapping[str, Any] | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {list(ON_ERROR)}, got {on_error!r}")
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError("a rubric needs at least one component: weights must be a non-empty mapping")
        overrides = dict(rewards or {})
        unused = sorted(set(overrides) - set(weights))
        if unused:
            raise ValueError(f"rewards given for {unused} but they have no weight; add them to weights")
        self.on_error = on_error
        self.weights: dict[str, float] = {}
        self.rewards: dict[str, Any] = {}
        for name, weight in weights.items():
            self.weights[name] = check_weight(name, weight)
            fn = overrides[name] if name in overrides else get_reward(name)
            if not callable(fn):
                raise TypeError(f"reward {name!r} is not callable ({type(fn).__name__})")
            if getattr(fn, "requires_injection", False):
                raise ValueError(
                    f"reward {name!r} needs an injected dependency: pass rewards={{{name!r}: ...}} "
                    "(for the judge: make_judge_reward(judge_fn))"
                )
            self.rewards[name] = fn
        self.component_bounds: dict[str, Bounds] = {
            name: reward_bounds(fn) for name, fn in self.rewards.items()
        }
        self.scopes: dict[str, str] = {name: reward_scope(fn) for name, fn in self.rewards.items()}
        self.error_counts: Counter[str] = Counter()

    @property
    def names(self) -> list[str]:
        """Component names, in weight order."""
        return list(self.weights)

    @property
    def group_names(self) -> list[str]:
        """The per-group components (scored on whole groups), in weight order."""
        return [name for name in self.weights if self.scopes[name] == "group"]

    @property
    def bounds(self) -> Bounds:
        """``(low, high)`` of the total, from the components' declared bounds and weights.

        With ``on_error="zero"`` a failing component scores 0.0, so 0 is inside each
        component's range here even if its declared bounds exclude it.
        """
        low = high = 0.0
        for name, weight in self.weights.items():
            lo, hi = self.component_bounds[name]
            if self.on_error == "zero":
                lo, hi = min(lo, 0.0), max(hi, 0.0)
            if weight == 0:
                continue
            a, b = weight * lo, weight * hi
            low += min(a, b)
            high += max(a, b)
        return (low, high)

    def __call__(self, traj: Trajectory) -> RubricResult:
        """Score one trajectory (a group of one): total, unweighted breakdown, and errors."""
        return self.score_group([traj])[0]

    def score_group(self, trajs: Sequence[Trajectory]) -> list[RubricResult]:
        """Score the samples of one prompt: per-sample components on each trajectory, per-group
        components once on all of them; one result per trajectory, in order."""
        trajs = list(trajs)
        if not trajs:
            return []
        columns: dict[str, list[tuple[float, bool]]] = {}
        for name in self.rewards:
            if self.scopes[name] == "group":
                columns[name] = self._score_group(name, trajs)
            else:
                columns[name] = [self._score_sample(name, traj) for traj in trajs]
        return [
            self._result({name: column[i] for name, column in columns.items()}) for i in range(len(trajs))
        ]

    def score_many(self, trajs: Iterable[Trajectory]) -> list[RubricResult]:
        """Score trajectories that do not form a group: each one is a group of one."""
        return [self(traj) for traj in trajs]

    def _result(self, scored: Mapping[str, tuple[float, bool]]) -> RubricResult:
        breakdown = {name: score for name, (score, _) in scored.items()}
        errors = {name: 1 for name, (_, failed) in scored.items() if failed}
        total = sum(self.weights[name] * score for name, score in breakdown.items())
        breakdown.update({ERROR_PREFIX + name: 1.0 for name in errors})
        return RubricResult(total=total, breakdown=breakdown, errors=errors)

    def _score_sample(self, name: str, traj: Trajectory) -> tuple[float, bool]:
        """The unweighted score of a per-sample component and whether it failed."""
        try:
            return self._checked(name, self.rewards[name](traj)), False
        except Exception:
            if self.on_error == "raise":
                raise
            self._log_error(name, [traj])
            return 0.0, True

    def _score_group(self, name: str, trajs: list[Trajectory]) -> list[tuple[float, bool]]:
        """The unweighted scores of a per-group component (one call for the group); a call
        that raises or returns the wrong number of scores fails every sample of the group."""
        try:
            values = list(self.rewards[name](trajs))
            if len(values) != len(trajs):
                raise RewardValueError(
                    f"per-group reward {name!r} returned {len(values)} scores for a group of {len(trajs)}"
                )
        except Exception:
            if self.on_error == "raise":
                raise
            self._log_error(name, trajs)
            return [(0.0, True)] * len(trajs)
        out = []
        for traj, value in zip(trajs, values):
            try:
                out.append((self._checked(name, value), False))
            except RewardValueError:
                if self.on_error == "raise":
                    raise
                self._log_error(name, [traj])
                out.append((0.0, True))
        return out

    def _checked(self, name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise RewardValueError(f"reward {name!r} returned {value!r}, not a number") from None
        score = float(value)
        if not math.isfinite(score):
            raise RewardValueError(f"reward {name!r} returned {score}, not a finite number")
        low, high = self.component_bounds[name]
        if score < low - _TOLERANCE or score > high + _TOLERANCE:
            raise RewardValueError(
                f"reward {name!r} returned {score}, outside its declared bounds {(low, high)}"
            )
        return score

    def _log_error(self, name: str, trajs: Sequence[Trajectory]) -> None:
        self.error_counts[name] += len(trajs)
        qid = getattr(trajs[0], "question_id", "")
        where = f"question_id={qid!r}" if qid else "a trajectory"
        if len(trajs) > 1:
            where = f"a group of {len(trajs)} ({where})"
        if self.error_counts[name] == 1:
            logger.error(
                "reward %r raised on %s; scoring it 0.0 (on_error='zero'); later errors of this reward "
                "are counted in reward_errors/%s and logged at DEBUG",
                name,
                where,
                name,
                exc_info=True,
            )
        else:
            logger.debug(
                "reward %r raised again (%d so far) on %s",
                name,
                self.error_counts[name],
                where,
                exc_info=True,
            )

    def __repr__(self) -> str:
        return f"Rubric({self.weights!r}, on_error={self.on_error!r})"


def check_weight(name: str, weight: object, where: str = "") -> float:
    """``weight`` as a finite float, else ``ValueError`` naming ``where`` and the component."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}weight of reward {name!r} must be a finite number, got {weight!r}")
    return float(weight)
