"""Search environment and reward settings (which index and top-k: :mod:`.retrieval`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Optional

from ._validate import ConfigError, check_choice, check_range
from .llm import LLMConfig

NOISE_SOURCES = ("none", "paraphrased", "distractors")
NOISE_SCHEDULES = ("constant", "linear", "exponential")
PROTOCOLS = ("tags", "tools")


@dataclass
class NoiseConfig:
    """A noise curriculum over GRPO's searches (:mod:`teacherforge.envs.curriculum`)."""

    source: str = field(
        default="none",
        metadata={
            "help": f"one of {NOISE_SOURCES}: none; paraphrased (a noisy search is served from the paraphrased "
            "index); distractors (each hit is swapped for a random chunk)"
        },
    )
    schedule: str = field(default="linear", metadata={"help": f"one of {NOISE_SCHEDULES}, by training step"})
    start: float = field(default=0.0, metadata={"help": "noise probability at start_step (constant: always)"})
    end: float = field(default=0.5, metadata={"help": "noise probability from end_step on"})
    start_step: int = field(default=0, metadata={"help": "training step where the schedule starts moving"})
    end_step: int = field(default=100, metadata={"help": "training step where it reaches `end`"})

    def __post_init__(self) -> None:
        check_choice("env.noise.source", self.source, NOISE_SOURCES)
        check_choice("env.noise.schedule", self.schedule, NOISE_SCHEDULES)
        check_range("env.noise.start", self.start, 0.0, 1.0)
        check_range("env.noise.end", self.end, 0.0, 1.0)
        check_range("env.noise.start_step", self.start_step, 0)
        if self.end_step < self.start_step:
            raise ConfigError(
                f"env.noise.end_step: {self.end_step} is before env.noise.start_step {self.start_step}; "
                "the schedule must end at or after its start"
            )


@dataclass
class EnvConfig:
    """:class:`teacherforge.envs.SearchEnv` settings."""

    split: str = field(default="train", metadata={"help": "question split the env samples from"})
    protocol: str = field(
        default="tags",
        metadata={
            "help": f"one of {PROTOCOLS}: tags (<search>/<answer> tags in one assistant message); tools (the "
            "search tool declared through the model's chat template, native tool calls, results as tool "
            "messages; needs a tool-capable chat template)"
        },
    )
    max_turns: int = field(default=4, metadata={"help": "turn budget per episode"})
    max_query_chars: int = field(default=512, metadata={"help": "longer queries are malformed"})
    max_observation_chars: int = field(default=8192, metadata={"help": "observations are cut to this"})
    max_new_tokens: int = field(default=128, metadata={"help": "tokens per model turn in rollouts"})
    system_prompt: Optional[str] = field(
        default=None,
        metadata={
            "help": "override the protocol prompt; placeholders {think} {search} {answer} {information} "
            "{max_turns} {top_k}"
        },
    )
    think_tag: str = field(default="think", metadata={"help": "tag name of the model's reasoning"})
    search_tag: str = field(default="search", metadata={"help": "tag name of a search action"})
    answer_tag: str = field(default="answer", metadata={"help": "tag name of the final answer"})
    information_tag: str = field(default="information", metadata={"help": "tag name of search results"})
    noise: NoiseConfig = field(default_factory=NoiseConfig, metadata={"help": "noise curriculum (GRPO)"})

    def __post_init__(self) -> None:
        check_choice("env.split", self.split, ("train", "validation", "test"))
        check_choice("env.protocol", self.protocol, PROTOCOLS)
        check_range("env.max_turns", self.max_turns, 1)
        check_range("env.max_query_chars", self.max_query_chars, 1)
        check_range("env.max_observation_chars", self.max_observation_chars, 256)
        check_range("env.max_new_tokens", self.max_new_tokens, 1)
        tags = [self.think_tag, self.search_tag, self.answer_tag, self.information_tag]
        for key, name in zip(("think_tag", "search_tag", "answer_tag", "information_tag"), tags):
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", str(name)):
                raise ConfigError(f"env.{key}: {name!r} is not a valid tag name (letters, digits, _ or -)")
        if len(set(tags)) != len(tags):
            raise ConfigError(f"env.*_tag: tag names must be distinct, got {tags}")


@dataclass
class RewardsConfig:
    """A rubric: reward names (or ``pkg.module:function``) with weights."""

    preset: Optional[str] = field(
        default="autodidact",
        metadata={"help": "configs/rewards/<preset>.yaml; `weights` entries override it"},
    )
    weights: Dict[str, float] = field(default_factory=dict, metadata={"help": "reward name → weight"})
    on_error: str = field(default="zero", metadata={"help": "raise or zero (counted and logged)"})
    judge: Optional[LLMConfig] = field(
        default=None,
        metadata={
            "help": "the LLM behind the `judge` reward (required when it is weighted; set e.g. "
            "rewards.judge.model); loaded at its first call"
        },
    )

    max_error_rate: float = field(
        default=0.05,
        metadata={
            "help": "GRPO stops (saving a checkpoint) when one reward fails on more than this share of a "
            "step's samples, instead of training on zeros; failures below it are counted and logged"
        },
    )

    def __post_init__(self) -> None:
        check_choice("rewards.on_error", self.on_error, ("raise", "zero"))
        check_range("rewards.max_error_rate", self.max_error_rate, 0.0, 1.0)
