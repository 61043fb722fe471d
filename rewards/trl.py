"""Adapters from rubrics and rewards to TRL reward functions (no TRL import needed here).

TRL's ``GRPOTrainer`` calls every reward function as
``reward_func(prompts=..., completions=..., completion_ids=..., **reward_kwargs)`` and
expects one float per completion; it logs each function under its ``__name__``.
``reward_kwargs`` holds every extra dataset column and every extra key a ``rollout_func``
returns, one value per completion, plus ``trainer_state``, ``log_extra`` and ``log_metric``.

Contract with the rollout: the GRPO rollout scores every episode once with the rubric (per
group, so per-group components see whole groups) and returns, one per completion in
completion order, the episode's breakdown under ``"reward_breakdown"`` (``RubricResult.breakdown``:
unweighted component scores plus ``reward_errors/<name>: 1.0`` for a failed component) and
its trajectory under ``"trajectories"`` (``Trajectory.to_json()``). The rubric's TRL
functions (:func:`rubric_to_trl_rewards`) return the stored scores, so no reward runs twice;
error counts are reported through TRL's ``log_metric`` as ``reward_errors/<name>``.
:func:`to_trl_reward` scores an extra per-sample reward that is not in the rubric on the
trajectories.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from teacherforge.rewards.registry import RewardFn, reward_scope
from teacherforge.rewards.rubric import ERROR_PREFIX, Rubric
from teacherforge.rewards.trajectory import Trajectory, as_trajectory

TRAJECTORIES_KEY = "trajectories"
BREAKDOWN_KEY = "reward_breakdown"
TrlRewardFn = Callable[..., list[float]]


def rubric_to_trl_rewards(rubric: Rubric) -> list[TrlRewardFn]:
    """One TRL reward function per rubric component (so TRL logs each), unweighted.

    Each returns its component's scores from ``kwargs["reward_breakdown"]`` (what the
    rollout computed) and logs ``reward_errors/<component>`` when some samples failed. Pass
    the weights as ``GRPOConfig(reward_weights=trl_reward_weights(rubric))`` so TRL's
    weighted sum equals the rubric's total; each function also carries ``.weight``.

    >>> fns = rubric_to_trl_rewards(Rubric({"f1": 1.0, "format": 0.2}))
    >>> [f.__name__ for f in fns], [f.weight for f in fns]
    (['f1', 'format'], [1.0, 0.2])
    >>> fns[0](prompts=["p"], completions=["c"], reward_breakdown=[{"f1": 0.5, "format": 1.0}])
    [0.5]
    """
    return [_component_reward(rubric, name) for name in rubric.names]


def trl_reward_weights(rubric: Rubric) -> list[float]:
    """The weights matching :func:`rubric_to_trl_rewards`, in the same order (TRL ``reward_weights``)."""
    return [rubric.weights[name] for name in rubric.names]


def to_trl_reward(reward: RewardFn, name: str | None = None, on_error: str = "zero") -> TrlRewardFn:
    """A TRL reward function scoring one extra per-sample reward on ``kwargs["trajectories"]``.

    For a reward that is not a rubric component (a rubric's components are scored once, in
    the rollout: use :func:`rubric_to_trl_rewards`). The default name is the reward's
    registered name or ``__name__``; ``on_error`` works as in a one-component rubric.

    >>> from teacherforge.rewards import exact_match
    >>> fn = to_trl_reward(exact_match)
    >>> fn.__name__, fn(prompts=["p"], completions=["c"],
    ...                 trajectories=[{"question": "q", "gold_answer": "a", "gold_chunk_ids": [], "final_answer": "A"}])
    ('exact_match', [1.0])
    """
    if isinstance(reward, Rubric):
        raise TypeError(
            "to_trl_reward takes one reward; a rubric's components are scored once in the rollout: "
            "use rubric_to_trl_rewards(rubric)"
        )
    if not callable(reward):
        raise TypeError(f"expected a reward function, got {type(reward).__name__}")
    fn_name = name or getattr(reward, "reward_name", None) or getattr(reward, "__name__", "reward")
    if reward_scope(reward) != "sample":
        raise ValueError(
            f"reward {fn_name!r} is per-group: add it to the rubric, which scores whole groups in the rollout"
        )
    rubric = Rubric({fn_name: 1.0}, on_error=on_error, rewards={fn_name: reward})

    def trl_reward(
        prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        results = rubric.score_many(trajectories_from_kwargs(completions, kwargs, fn_name))
        _log_errors(kwargs, fn_name, sum(r.errors.get(fn_name, 0) for r in results))
        return [r.total for r in results]

    return _named(trl_reward, fn_name)


def trajectories_from_kwargs(
    completions: Sequence[Any] | None, kwargs: dict[str, Any], fn_name: str
) -> list[Trajectory]:
    """The trajectories a TRL reward call carries in ``kwargs["trajectories"]``, one per completion."""
    return [as_trajectory(t) for t in _per_completion(completions, kwargs, TRAJECTORIES_KEY, fn_name)]


def _component_reward(rubric: Rubric, component: str) -> TrlRewardFn:
    def trl_component(
        prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        breakdowns: list[Mapping[str, float]] = _per_completion(completions, kwargs, BREAKDOWN_KEY, component)
        missing = next((b for b in breakdowns if component not in b), None)
        if missing is not None:
            raise ValueError(
                f"reward function {component!r}: the rollout's breakdown has no {component!r} "
                f"(it has {sorted(missing)}); the rollout must score with the rubric these functions came from"
            )
        _log_errors(kwargs, component, sum(b.get(ERROR_PREFIX + component, 0.0) for b in breakdowns))
        return [float(b[component]) for b in breakdowns]

    fn = _named(trl_component, component)
    fn.weight = rubric.weights[component]  # type: ignore[attr-defined]
    return fn


def _per_completion(
    completions: Sequence[Any] | None, kwargs: dict[str, Any], key: str, fn_name: str
) -> list[Any]:
    raw = kwargs.get(key)
    if raw is None:
        raise ValueError(
            f"reward function {fn_name!r} needs kwargs[{key!r}] (one per completion): return it from "
            f"the GRPO rollout_func as an extra key; got kwargs {sorted(kwargs)}"
        )
    values = list(raw)
    if completions is not None and len(values) != len(completions):
        raise ValueError(
            f"reward function {fn_name!r}: {len(values)} {key} for {len(completions)} completions; "
            f"the rollout must return exactly one per completion"
        )
    return values


def _log_errors(kwargs: dict[str, Any], name: str, errors: float) -> None:
    log_metric = kwargs.get("log_metric")
    if errors and callable(log_metric):
        log_metric(ERROR_PREFIX + name, float(errors))


def _named(fn: TrlRewardFn, name: str) -> TrlRewardFn:
    fn.__name__ = name
    fn.__qualname__ = name
    return fn
