"""teacherforge.envs: the search environment, its action protocol and the batched rollout driver.

Importing this package registers ``teacherforge/Search-v0`` with Gymnasium::

    import gymnasium, teacherforge.envs
    env = gymnasium.make("teacherforge/Search-v0", run_dir="runs/quickstart", index="paraphrased")

Public API: :class:`SearchTask` / :func:`build_task` (the one object every consumer of the
search task takes) with :func:`rubric_of`, :class:`SearchEnv`, :class:`RolloutDriver` /
:class:`Episode` (rollouts for trainers), :class:`SearchEpisode` (the state machine both
share), the protocol functions
(:func:`parse_action`, :func:`format_information`, :func:`to_charset`, :class:`Tags`).
Run-dir paths and loaders live in :class:`teacherforge.run.RunLayout`.
"""

from __future__ import annotations

import gymnasium

from teacherforge.envs.driver import Episode, RolloutDriver, save_trajectories
from teacherforge.envs.episode import SearchEpisode
from teacherforge.envs.protocol import (
    CHARSET,
    MALFORMED_REASONS,
    ParsedAction,
    Tags,
    format_information,
    format_malformed,
    parse_action,
    to_charset,
)
from teacherforge.envs.search_env import SearchEnv
from teacherforge.envs.task import SearchIndex, SearchTask, build_task, rubric_of
from teacherforge.records import Question

ENV_ID = "teacherforge/Search-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="teacherforge.envs.search_env:SearchEnv")

__all__ = [
    "CHARSET",
    "ENV_ID",
    "MALFORMED_REASONS",
    "Episode",
    "ParsedAction",
    "Question",
    "RolloutDriver",
    "SearchEnv",
    "SearchEpisode",
    "SearchIndex",
    "SearchTask",
    "Tags",
    "build_task",
    "format_information",
    "format_malformed",
    "parse_action",
    "rubric_of",
    "save_trajectories",
    "to_charset",
]
