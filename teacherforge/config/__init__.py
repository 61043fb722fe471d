"""Dataclass configs, one section per stage, loaded from YAML and validated on load.

``load_config("quickstart", overrides=["retrieval.kind=hybrid"])`` reads
``configs/quickstart.yaml`` (installed as ``teacherforge.configs``) or any YAML path,
merges it over the defaults with OmegaConf's structured configs (unknown keys and wrong
types fail with the key path) and returns a :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, List, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ._validate import ConfigError, check_choice
from .datagen import (
    ChunkingConfig,
    DatagenConfig,
    DatasetConfig,
    EmbedderFinetuneConfig,
    ParaphraseConfig,
    QualityConfig,
    TeacherConfig,
)
from .env import EnvConfig, NoiseConfig, RewardsConfig
from .evaluation import EvalConfig, LoopConfig, ServeConfig
from .llm import ExecutorConfig, LLMConfig
from .retrieval import RetrievalConfig
from .train import GRPOStageConfig, LoraAdapterConfig, SFTStageConfig

STAGES = ("datagen", "grpo", "teacher", "quality", "dataset", "sft", "eval")
#: Keys that moved to one owner: an old config naming one fails with the new key.
MOVED_KEYS = {
    "teacher.top_k": "retrieval.top_k",
    "env.top_k": "retrieval.top_k",
    "teacher.min_score": "retrieval.min_score",
    "env.index": "retrieval.index",
}
# keys whose meaning changed: old key -> what replaces it
REPLACED_KEYS = {
    "loop.min_improvement": "loop.stop_without_gain (the loop stops on a paired 95% interval of the "
    "held-out F1 gain, not on a raw ratio threshold)",
}

__all__ = [
    "MOVED_KEYS",
    "STAGES",
    "ChunkingConfig",
    "Config",
    "ConfigError",
    "DatagenConfig",
    "DatasetConfig",
    "EmbedderFinetuneConfig",
    "EnvConfig",
    "EvalConfig",
    "ExecutorConfig",
    "GRPOStageConfig",
    "LLMConfig",
    "LoopConfig",
    "LoraAdapterConfig",
    "NoiseConfig",
    "ParaphraseConfig",
    "QualityConfig",
    "RetrievalConfig",
    "RewardsConfig",
    "SFTStageConfig",
    "ServeConfig",
    "TeacherConfig",
    "config_to_dict",
    "load_config",
    "preset_path",
]


@dataclass
class Config:
    """The whole pipeline: which stages run, where, and each stage's settings."""

    name: str = field(default="default", metadata={"help": "run name; run dir defaults to runs/<name>"})
    run_dir: Optional[str] = field(default=None, metadata={"help": "run directory (default runs/<name>)"})
    seed: int = field(default=0, metadata={"help": "global seed"})
    stages: List[str] = field(
        default_factory=lambda: ["datagen"],
        metadata={"help": f"stages `teacherforge run` executes, in pipeline order; any of {STAGES}"},
    )
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    datagen: DatagenConfig = field(default_factory=DatagenConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)
    grpo: GRPOStageConfig = field(default_factory=GRPOStageConfig)
    sft: SFTStageConfig = field(default_factory=SFTStageConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)

    def __post_init__(self) -> None:
        for stage in self.stages:
            check_choice("stages", stage, STAGES)
        if self.retrieval.kind == "auto" and self.datagen.split_ratios[1] <= 0:
            raise ConfigError(
                "retrieval.kind: auto chooses on validation questions, but datagen.split_ratios gives the "
                "validation split no share; give it one (e.g. [0.8, 0.1, 0.1]) or set retrieval.kind to "
                "dense, bm25 or hybrid"
            )

    @property
    def run_path(self) -> Path:
        """The run directory as a path."""
        return Path(self.run_dir) if self.run_dir else Path("runs") / self.name

    @property
    def eval_top_k(self) -> int:
        """Hits per search in both evaluation modes: ``eval.top_k`` when set, else ``retrieval.top_k``."""
        return self.retrieval.top_k if self.eval.top_k is None else self.eval.top_k


def preset_path(name: str) -> Path:
    """Path of a config: an existing file, or a preset name from ``teacherforge.configs``."""
    if os.path.exists(name):
        return Path(name)
    stem = name[:-5] if name.endswith(".yaml") else name
    candidate = resources.files("teacherforge.configs") / f"{stem}.yaml"
    if not candidate.is_file():
        known = sorted(
            p.name[:-5] for p in resources.files("teacherforge.configs").iterdir() if p.name.endswith(".yaml")
        )
        raise ConfigError(f"config {name!r}: no such file and no preset of that name; presets: {known}")
    return Path(str(candidate))


def load_config(name_or_path: str | None = None, overrides: list[str] | None = None) -> Config:
    """Load and validate a config; ``overrides`` are ``key.path=value`` strings."""
    schema = OmegaConf.structured(Config)
    layers = []
    if name_or_path:
        path = preset_path(name_or_path)
        try:
            layers.append(OmegaConf.load(path))
        except Exception as exc:  # yaml errors carry line numbers in their message
            raise ConfigError(f"{path}: cannot parse YAML: {exc}") from exc
        source = str(path)
    else:
        source = "defaults"
    try:
        merged = OmegaConf.merge(schema, *layers)
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc, source)) from None
    set_by = {item.split("=", 1)[0].strip(): item for item in overrides or [] if "=" in item}
    for item in overrides or []:
        merged = _merge_override(merged, item)
    try:
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        raise ConfigError(_describe(exc, f"--set {set_by[key]}" if key in set_by else source)) from None
    except ConfigError as exc:
        key = str(exc).split(":", 1)[0]
        raise ConfigError(f"{f'--set {set_by[key]}' if key in set_by else source}: {exc}") from None
    assert isinstance(config, Config)
    return config


def _merge_override(merged: Any, item: str) -> Any:
    """``merged`` with one ``--set key=value`` applied; errors name that ``--set``.

    >>> _merge_override(OmegaConf.structured(Config), "datagen.include=[*.pdf]")
    Traceback (most recent call last):
    ...
    teacherforge.config._validate.ConfigError: --set datagen.include=[*.pdf]: the value is not valid YAML (did not find expected alphabetic or numeric character); quote each pattern, e.g. --set 'datagen.include=["*.pdf","*.docx"]'
    """
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key.path=value")
    try:
        layer = OmegaConf.from_dotlist([item])
    except Exception as exc:  # a YAML scanner/parser error: its first line says what
        first = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ConfigError(
            f"--set {item}: the value is not valid YAML ({first}); quote each pattern, "
            """e.g. --set 'datagen.include=["*.pdf","*.docx"]'"""
        ) from None
    try:
        return OmegaConf.merge(merged, layer)
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc, f"--set {item}")) from None


def _describe(exc: OmegaConfBaseException, source: str) -> str:
    key = getattr(exc, "full_key", None) or "?"
    if key in MOVED_KEYS:
        new = MOVED_KEYS[key]
        return f"{source}: {key}: moved to {new} (one key for every stage that reads it); rename it to {new}"
    if key in REPLACED_KEYS:
        return f"{source}: {key}: replaced by {REPLACED_KEYS[key]}"
    message = str(exc).splitlines()[0]
    allowed = ""
    parent = getattr(exc, "object_type", None)
    if "not in" in message and parent is not None and dataclasses.is_dataclass(parent):
        allowed = f"; allowed keys: {[f.name for f in dataclasses.fields(parent)]}"
    return f"{source}: {key}: {message}{allowed}"


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain JSON-able data (for manifests and hashes)."""
    return dataclasses.asdict(config)
