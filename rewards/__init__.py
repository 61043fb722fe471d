"""teacherforge.rewards: reward functions over search-environment trajectories (pure stdlib).

Public API: the :class:`Trajectory` record, the built-in rewards (each ``fn(traj) -> float``
with a declared ``.bounds``; a reward may instead be per-group, ``fn(trajs) -> list[float]``,
see :func:`reward_scope`), :class:`Rubric`, the registry (:func:`get_reward`,
:func:`register_reward`, :func:`configured_reward`, :func:`load_rubric`), step-wise search
rewards (:func:`search_steps`), groundedness, the gain over plain retrieval
(:func:`gain_beyond_rag`), the relative group judge (:func:`make_group_judge`), replay and
preset comparison, and hacking diagnostics (:func:`hacking_flags`). The TRL
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
from teacherforge.rewards.diagnostics import hacking_diagnostics, hacking_flags
from teacherforge.rewards.format import format_reward
from teacherforge.rewards.gain import gain_beyond_rag
from teacherforge.rewards.grounding import answer_support, groundedness
from teacherforge.rewards.judge import make_llm_judge, parse_verdict
from teacherforge.rewards.presets import list_presets, load_rubric, rubric_from_dict
from teacherforge.rewards.registry import (
    UnknownRewardError,
    configured_reward,
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
from teacherforge.rewards.ruler import make_group_judge, parse_group_scores
from teacherforge.rewards.search import (
    make_retry_reward,
    make_search_diversity_reward,
    retry,
    search_cost,
    search_diversity,
    search_efficiency,
)
from teacherforge.rewards.stepwise import (
    SearchStep,
    info_gain,
    make_info_gain_reward,
    make_redundancy_reward,
    redundancy,
    search_steps,
)
from teacherforge.rewards.trajectory import RetrievedRef, Trajectory, Turn, as_trajectory

__all__ = [
    "RetrievedRef",
    "Rubric",
    "RubricResult",
    "SearchStep",
    "Trajectory",
    "Turn",
    "UnknownRewardError",
    "answer_support",
    "as_trajectory",
    "configured_reward",
    "exact_match",
    "exact_match_score",
    "f1",
    "f1_score",
    "format_reward",
    "gain_beyond_rag",
    "get_reward",
    "groundedness",
    "hacking_diagnostics",
    "hacking_flags",
    "holds_answer",
    "info_gain",
    "is_gold_hit",
    "known_rewards",
    "list_presets",
    "load_rubric",
    "make_group_judge",
    "make_info_gain_reward",
    "make_judge_reward",
    "make_llm_judge",
    "make_redundancy_reward",
    "make_retry_reward",
    "make_search_diversity_reward",
    "normalize_answer",
    "parse_group_scores",
    "parse_verdict",
    "redundancy",
    "register_reward",
    "retrieval_match",
    "retrieval_rank",
    "retrieved_gold",
    "retry",
    "reward_bounds",
    "reward_scope",
    "rubric_from_dict",
    "search_cost",
    "search_diversity",
    "search_efficiency",
    "search_steps",
    "strip_citations",
    "unregister_reward",
]
