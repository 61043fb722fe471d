"""teacherforge.rewards: reward functions over search-environment trajectories (pure stdlib).

Public API: the :class:`Trajectory` record, the built-in rewards (each ``fn(traj) -> float``
with a declared ``.bounds``; a reward may instead be per-group, ``fn(trajs) -> list[float]``,
see :func:`reward_scope`), :class:`Rubric`, the registry (:func:`get_reward`,
:func:`register_reward`, :func:`load_rubric`), replay and hacking diagnostics. The TRL
adapters live in :mod:`teacherforge.rewards.trl` (also pure stdlib).
"""

from teacherforge.rewards.answer import (
    exact_match,
    exact_match_score,
    f1,
    f1_score,
    make_judge_reward,
    normalize_answer,
    strip_citations,
)
from teacherforge.rewards.diagnostics import hacking_diagnostics
from teacherforge.rewards.format import format_reward
from teacherforge.rewards.judge import make_llm_judge, parse_verdict
from teacherforge.rewards.presets import list_presets, load_rubric, rubric_from_dict
from teacherforge.rewards.registry import (
    UnknownRewardError,
    get_reward,
    known_rewards,
    register_reward,
    reward_bounds,
    reward_scope,
    unregister_reward,
)
from teacherforge.rewards.retrieval import (
    holds_answer,
    is_gold_hit,
    retrieval_match,
    retrieval_rank,
    retrieved_gold,
)
from teacherforge.rewards.rubric import Rubric, RubricResult
from teacherforge.rewards.search import (
    make_retry_reward,
    make_search_diversity_reward,
    retry,
    search_diversity,
    search_efficiency,
)
from teacherforge.rewards.trajectory import RetrievedRef, Trajectory, Turn, as_trajectory

__all__ = [
    "RetrievedRef",
    "Rubric",
    "RubricResult",
    "Trajectory",
    "Turn",
    "UnknownRewardError",
    "as_trajectory",
    "exact_match",
    "exact_match_score",
    "f1",
    "f1_score",
    "format_reward",
    "get_reward",
    "hacking_diagnostics",
    "holds_answer",
    "is_gold_hit",
    "known_rewards",
    "list_presets",
    "load_rubric",
    "make_judge_reward",
    "make_llm_judge",
    "make_retry_reward",
    "make_search_diversity_reward",
    "normalize_answer",
    "parse_verdict",
    "register_reward",
    "retrieval_match",
    "retrieval_rank",
    "retrieved_gold",
    "retry",
    "reward_bounds",
    "reward_scope",
    "rubric_from_dict",
    "search_diversity",
    "search_efficiency",
    "strip_citations",
    "unregister_reward",
]
