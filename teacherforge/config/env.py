"""Search environment and reward settings (which index and top-k: :mod:`.retrieval`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Optional

from ._validate import ConfigError, check_choice, check_range
from .llm import LLMConfig


@dataclass
class EnvConfig:
    """:class:`teacherforge.envs.SearchEnv` settings."""

    split: str = field(default="train", metadata={"help": "question split the env samples from"})
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

    def __post_init__(self) -> None:
        check_choice("env.split", self.split, ("train", "validation", "test"))
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

    def __post_init__(self) -> None:
        check_choice("rewards.on_error", self.on_error, ("raise", "zero"))
