"""Rubric presets: ``configs/rewards/<name>.yaml`` (or any YAML file, or a parsed dict) → :class:`Rubric`.

A preset file looks like::

    on_error: zero            # optional: zero | raise
    weights:                  # component name (or pkg.module:function) -> weight
      f1: 1.0
      retrieval_match: 0.3
      info_gain: 0.5
    params:                   # optional: component name -> settings of its factory
      info_gain: {aggregate: discounted, gamma: 0.8}

PyYAML is imported only when a YAML file is read, so the rest of this package stays
standard-library only.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from teacherforge.rewards.registry import RewardFn, UnknownRewardError, configured_reward, get_reward
from teacherforge.rewards.rubric import ON_ERROR, Rubric, check_weight

PRESET_KEYS = ("weights", "params", "on_error", "description")


def preset_dir() -> Any:
    """The packaged ``teacherforge/configs/rewards`` folder (an importlib resource)."""
    return importlib.resources.files("teacherforge.configs") / "rewards"


def list_presets() -> list[str]:
    """Names of the packaged presets (``autodidact``, ``rezero``, ...)."""
    return sorted(p.name[: -len(".yaml")] for p in preset_dir().iterdir() if p.name.endswith(".yaml"))


def read_preset(preset_or_path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Parse a preset name or YAML path; returns ``(parsed, source)`` where ``source`` names the file."""
    text_path = os.fspath(preset_or_path)
    is_path = text_path.endswith((".yaml", ".yml")) or os.sep in text_path or "/" in text_path
    if is_path:
        path = Path(text_path)
        if not path.is_file():
            raise FileNotFoundError(f"rewards config {path} not found; packaged presets: {list_presets()}")
        source, text = str(path), path.read_text(encoding="utf-8")
    else:
        resource = preset_dir() / f"{text_path}.yaml"
        if not resource.is_file():
            raise FileNotFoundError(
                f"unknown rewards preset {text_path!r}; packaged presets: {list_presets()} (or give a .yaml path)"
            )
        source, text = f"configs/rewards/{text_path}.yaml", resource.read_text(encoding="utf-8")
    import yaml  # lazy: PyYAML is not standard library

    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{source}: expected a mapping with a 'weights' key, got {type(parsed).__name__}")
    return parsed, source


def rubric_from_dict(
    config: Mapping[str, Any],
    source: str = "<dict>",
    overrides: Mapping[str, float] | None = None,
    on_error: str | None = None,
    rewards: Mapping[str, RewardFn] | None = None,
) -> Rubric:
    """Validate a parsed preset (``{"weights", "params", "on_error"}``) and build its rubric.

    ``overrides`` set (or add) weights; ``on_error`` wins over the preset's value;
    ``params`` maps a weighted component to the settings its registered factory takes
    (:func:`~teacherforge.rewards.registry.configured_reward`). Errors name ``source`` and
    the offending key.

    >>> rubric_from_dict({"weights": {"f1": 1.0, "format": 0.2}}, overrides={"format": 0.5}).weights
    {'f1': 1.0, 'format': 0.5}
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"{source}: expected a mapping with a 'weights' key, got {type(config).__name__}")
    unknown = sorted(set(config) - set(PRESET_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; allowed: {list(PRESET_KEYS)}")
    weights_raw = config.get("weights")
    if not isinstance(weights_raw, Mapping) or not weights_raw:
        raise ValueError(f"{source}: 'weights' must be a non-empty mapping of reward name -> weight")
    weights = dict(weights_raw)
    for name, weight in dict(overrides or {}).items():
        weights[name] = weight
    injected = dict(rewards or {})
    for name, weight in weights.items():
        if not isinstance(name, str):
            raise ValueError(f"{source}: weights: reward name must be a string, got {name!r}")
        check_weight(name, weight, where=f"{source}: weights.{name}")
        if name not in injected:
            try:
                get_reward(name)
            except UnknownRewardError as exc:
                raise ValueError(f"{source}: weights.{name}: {exc}") from None
    for name, params in _params(config.get("params"), source).items():
        where = f"{source}: params.{name}"
        if name not in weights:
            raise ValueError(f"{where}: {name!r} has no weight; add it under 'weights'")
        if name in injected:
            raise ValueError(f"{where}: {name!r} is injected; build the injected reward with these settings")
        try:
            injected[name] = configured_reward(name, params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    mode = on_error if on_error is not None else config.get("on_error", "zero")
    if mode not in ON_ERROR:
        raise ValueError(f"{source}: on_error must be one of {list(ON_ERROR)}, got {mode!r}")
    try:
        return Rubric(weights, on_error=mode, rewards=injected)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _params(raw: Any, source: str) -> dict[str, Mapping[str, Any]]:
    """The ``params`` key: a mapping of component name -> mapping of settings (may be absent)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: 'params' must be a mapping of reward name -> settings")
    for name, params in raw.items():
        if not isinstance(params, Mapping):
            raise ValueError(
                f"{source}: params.{name}: expected a mapping of setting -> value, got {params!r}"
            )
    return dict(raw)


def load_rubric(
    preset_or_path: str | os.PathLike[str] | Mapping[str, Any],
    overrides: Mapping[str, float] | None = None,
    on_error: str | None = None,
    rewards: Mapping[str, RewardFn] | None = None,
) -> Rubric:
    """Build a rubric from a packaged preset name, a YAML file path, or an already-parsed dict.

    ``overrides`` (name → weight) replace or add weights; ``on_error`` (``"zero"`` |
    ``"raise"``) overrides the file's value (default ``"zero"``); ``rewards`` injects reward
    functions such as the judge. Unknown reward names and non-numeric weights raise
    ``ValueError`` naming the file and key; an unknown preset raises ``FileNotFoundError``
    listing the packaged ones.

    >>> "retrieval_match" in load_rubric("autodidact").weights
    True
    """
    if isinstance(preset_or_path, Mapping):
        return rubric_from_dict(preset_or_path, "<dict>", overrides, on_error, rewards)
    parsed, source = read_preset(preset_or_path)
    return rubric_from_dict(parsed, source, overrides, on_error, rewards)
