"""Reward registry: names → reward functions, with declared bounds.

Built-in rewards register themselves with :func:`register_reward`; users can do the same
for their own rewards, or refer to any function by a dotted path ``pkg.module:function``
(in YAML presets too). Every registered reward carries ``bounds = (low, high)``, the range
it promises to return, which :class:`~teacherforge.rewards.rubric.Rubric` checks and the
environment's fuzz tests rely on. An unknown name fails with the list of known names.

A reward is **per-sample** (``fn(traj) -> float``, the default) or **per-group**
(``fn(trajs) -> list[float]``: all samples of one prompt scored together, one score per
sample, e.g. a judge that ranks a group's answers against each other); ``scope`` says which
(:func:`reward_scope`). A rubric runs a per-group reward once per group, where the rollout
has gathered whole groups.

A reward with settings (a cap, a threshold, an aggregation rule) registers the factory that
builds it (``factory=make_x``); :func:`configured_reward` builds it from a preset's
``params`` and names the bad key on a typo.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from teacherforge.rewards.trajectory import Trajectory

#: A per-sample reward: one trajectory -> its score.
RewardFn = Callable[[Trajectory], float]
#: A per-group reward: the trajectories of one prompt -> one score each, in order.
GroupRewardFn = Callable[[Sequence[Trajectory]], Sequence[float]]
Bounds = tuple[float, float]
UNBOUNDED: Bounds = (-math.inf, math.inf)
#: ``scope`` of a reward: scored one trajectory at a time, or one group of samples at a time.
SCOPES = ("sample", "group")

_REGISTRY: dict[str, RewardFn] = {}
_BUILTIN_MODULES = (
    "teacherforge.rewards.retrieval",
    "teacherforge.rewards.answer",
    "teacherforge.rewards.format",
    "teacherforge.rewards.search",
    "teacherforge.rewards.stepwise",
    "teacherforge.rewards.grounding",
    "teacherforge.rewards.ruler",
    "teacherforge.rewards.gain",
)


class UnknownRewardError(KeyError, ValueError):
    """An unknown reward name; the message lists the known names (also a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


def register_reward(
    name: str,
    bounds: Bounds = (0.0, 1.0),
    *,
    scope: str = "sample",
    factory: Callable[..., RewardFn] | None = None,
    override: bool = False,
) -> Callable[[Any], Any]:
    """Decorator registering a reward under ``name`` with its declared ``bounds`` and ``scope``.

    ``scope="sample"``: ``fn(traj) -> float``; ``scope="group"``: ``fn(trajs) -> list[float]``
    (every score within ``bounds``). ``factory(**params)`` builds the reward with other
    settings (:func:`configured_reward`). Sets ``fn.bounds``, ``fn.scope``, ``fn.reward_name``
    and ``fn.factory``. Registering a different function under a taken name raises
    ``ValueError`` unless ``override=True``.

    >>> @register_reward("doc_example_answered", bounds=(0.0, 1.0))
    ... def answered(traj):
    ...     return float(traj.final_answer is not None)
    >>> get_reward("doc_example_answered").bounds, reward_scope(answered)
    ((0.0, 1.0), 'sample')
    >>> unregister_reward("doc_example_answered")
    """
    if callable(name):
        raise TypeError(
            "register_reward needs a name: use @register_reward('my_reward'), not @register_reward"
        )
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"reward name must be a non-empty string without ':', got {name!r}")
    low, high = _check_bounds(bounds, name)
    _check_scope(scope, name)

    def decorator(fn: Any) -> Any:
        if not callable(fn):
            raise TypeError(f"reward {name!r} must be callable, got {type(fn).__name__}")
        existing = _REGISTRY.get(name)
        if existing is not None and not override and _qualname(existing) != _qualname(fn):
            raise ValueError(
                f"reward name {name!r} is already registered to {_qualname(existing)}; "
                "pick another name or pass override=True"
            )
        fn.bounds = (low, high)
        fn.scope = scope
        fn.reward_name = name
        fn.factory = factory
        _REGISTRY[name] = fn
        return fn

    return decorator


def unregister_reward(name: str) -> None:
    """Remove a user-registered reward (built-ins cannot be removed); unknown names are ignored."""
    fn = _REGISTRY.get(name)
    if fn is not None and getattr(fn, "__module__", "") in _BUILTIN_MODULES:
        raise ValueError(f"cannot unregister the built-in reward {name!r}")
    _REGISTRY.pop(name, None)


def get_reward(name_or_path: str) -> RewardFn:
    """The reward registered as ``name_or_path``, or the function at dotted path ``pkg.module:function``.

    Raises :class:`UnknownRewardError` (a ``KeyError`` and ``ValueError``) listing the known
    names when nothing matches.

    >>> get_reward("exact_match").bounds
    (0.0, 1.0)
    >>> get_reward("teacherforge.rewards.answer:f1") is get_reward("f1")
    True
    """
    _load_builtins()
    if not isinstance(name_or_path, str) or not name_or_path:
        raise UnknownRewardError(f"reward name must be a non-empty string, got {name_or_path!r}")
    if ":" in name_or_path:
        return _import_path(name_or_path)
    try:
        return _REGISTRY[name_or_path]
    except KeyError:
        raise UnknownRewardError(
            f"unknown reward {name_or_path!r}; known rewards: {', '.join(known_rewards())} "
            "(or use a dotted path 'pkg.module:function')"
        ) from None


def configured_reward(name: str, params: Mapping[str, Any]) -> RewardFn:
    """The registered reward ``name`` built by its factory with ``params`` (keyword arguments).

    Raises ``ValueError`` when the reward takes no parameters or a key is not one of its
    factory's, listing the allowed ones; the factory's own checks (a value out of range)
    raise as they are.

    >>> configured_reward("retry", {"cap": 2}).bounds
    (0.0, 1.0)
    >>> configured_reward("retry", {"cpa": 2})
    Traceback (most recent call last):
    ...
    ValueError: reward 'retry': unknown parameter(s) ['cpa']; allowed: ['cap']
    """
    base = get_reward(name)
    factory = getattr(base, "factory", None)
    if factory is None:
        raise ValueError(f"reward {name!r} takes no parameters")
    allowed = list(inspect.signature(factory).parameters)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"reward {name!r}: unknown parameter(s) {unknown}; allowed: {allowed}")
    fn = factory(**params)
    fn.scope = reward_scope(base)
    fn.reward_name = name
    return fn


def known_rewards() -> list[str]:
    """Sorted names of every registered reward."""
    _load_builtins()
    return sorted(_REGISTRY)


def reward_bounds(fn: Callable[..., Any]) -> Bounds:
    """The declared ``(low, high)`` of a reward; ``(-inf, inf)`` when it declares none."""
    bounds = getattr(fn, "bounds", None)
    if bounds is None:
        return UNBOUNDED
    return _check_bounds(bounds, _qualname(fn))


def reward_scope(fn: Callable[..., Any]) -> str:
    """``"sample"`` or ``"group"``: how a reward is called (``fn.scope``; ``"sample"`` when unset)."""
    return _check_scope(getattr(fn, "scope", "sample"), _qualname(fn))


def _check_scope(scope: Any, name: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"reward {name!r}: scope must be one of {list(SCOPES)}, got {scope!r}")
    return str(scope)


def _check_bounds(bounds: Any, name: str) -> Bounds:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"reward {name!r}: bounds must be a pair of numbers, got {bounds!r}") from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"reward {name!r}: bounds must satisfy low <= high, got {bounds!r}")
    return (low, high)


def _import_path(path: str) -> RewardFn:
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise UnknownRewardError(f"bad reward path {path!r}: expected 'pkg.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownRewardError(
            f"reward path {path!r}: cannot import module {module_name!r} ({exc})"
        ) from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise UnknownRewardError(f"reward path {path!r}: {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UnknownRewardError(f"reward path {path!r} is not callable ({type(obj).__name__})")
    return obj


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
