"""Search-behaviour rewards: retrying after a miss (ReZero), query diversity, search efficiency and cost."""

from __future__ import annotations

import re

from teacherforge.rewards.format import has_answer
from teacherforge.rewards.registry import RewardFn, register_reward
from teacherforge.rewards.retrieval import first_gold_hit, search_hit_gold
from teacherforge.rewards.trajectory import Trajectory

_TOKEN = re.compile(r"\w+", re.UNICODE)
DUPLICATE_JACCARD = 0.8
RETRY_CAP = 3


def query_tokens(query: str) -> frozenset[str]:
    """Lower-cased word tokens of a query (the unit of near-duplicate detection)."""
    return frozenset(_TOKEN.findall(query.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Token Jaccard similarity; two empty token sets count as identical (1.0)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def count_near_duplicates(queries: list[str], threshold: float = DUPLICATE_JACCARD) -> int:
    """How many queries have token Jaccard >= ``threshold`` with some earlier query.

    >>> count_near_duplicates(["water pump", "Water pump!", "site names"])
    1
    """
    seen: list[frozenset[str]] = []
    duplicates = 0
    for query in queries:
        tokens = query_tokens(query)
        if any(jaccard(tokens, prev) >= threshold for prev in seen):
            duplicates += 1
        seen.append(tokens)
    return duplicates


def count_retries(traj: Trajectory) -> int:
    """Searches that directly follow a search which missed every gold chunk, up to the first hit.

    Once a gold chunk was retrieved there is nothing left to retry for: counting the misses
    after it would pay a search flood (hit, then any number of throwaway searches).

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> miss = Turn("", query="a", retrieved=(RetrievedRef("x", 1, 0.9),))
    >>> hit = Turn("", query="b", retrieved=(RetrievedRef("g", 1, 0.9),))
    >>> count_retries(Trajectory("q", "a", ("g",), turns=(miss, miss, hit, miss, miss)))
    2
    """
    hits = search_hit_gold(traj)
    searched = hits.index(True) + 1 if True in hits else len(hits)
    return sum(1 for previous in hits[: searched - 1] if not previous)


def make_retry_reward(cap: int = RETRY_CAP) -> RewardFn:
    """ReZero-style retry reward: ``min(retries, cap) / cap`` when the episode ends with an answer.

    A retry is a search that follows a search which retrieved no gold chunk, before the
    first gold hit (:func:`count_retries`); nothing counts without a final answer.

    >>> make_retry_reward(cap=2).bounds
    (0.0, 1.0)
    """
    if not isinstance(cap, int) or cap < 1:
        raise ValueError(f"retry cap must be an integer >= 1, got {cap!r}")

    def retry_reward(traj: Trajectory) -> float:
        if not has_answer(traj):
            return 0.0
        return min(count_retries(traj), cap) / cap

    retry_reward.bounds = (0.0, 1.0)  # type: ignore[attr-defined]
    return retry_reward


@register_reward("retry", bounds=(0.0, 1.0), factory=make_retry_reward)
def retry(traj: Trajectory) -> float:
    """ReZero retry reward with cap 3: ``min(retries, 3) / 3`` if the episode ends with an answer.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> miss = Turn("<search>a</search>", query="a", retrieved=(RetrievedRef("x", 1, 0.9),))
    >>> hit = Turn("<search>b</search>", query="b", retrieved=(RetrievedRef("g", 1, 0.9),))
    >>> retry(Trajectory("q", "a", ("g",), turns=(miss, hit, Turn("<answer>a</answer>")), final_answer="a"))
    0.3333333333333333
    >>> retry(Trajectory("q", "a", ("g",), turns=(miss, hit)))
    0.0
    """
    return _default_retry(traj)


_default_retry = make_retry_reward(RETRY_CAP)


def make_search_diversity_reward(threshold: float = DUPLICATE_JACCARD) -> RewardFn:
    """Query-diversity reward with a custom near-duplicate ``threshold`` (token Jaccard).

    >>> from teacherforge.rewards import Turn
    >>> strict = make_search_diversity_reward(threshold=0.5)
    >>> strict(Trajectory("q", "a", (), turns=(Turn("", query="water pump"), Turn("", query="the water pump"))))
    0.0
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold!r}")

    def search_diversity_reward(traj: Trajectory) -> float:
        queries = traj.queries
        if len(queries) < 2:
            return 1.0
        return 1.0 - count_near_duplicates(queries, threshold) / (len(queries) - 1)

    search_diversity_reward.bounds = (0.0, 1.0)  # type: ignore[attr-defined]
    return search_diversity_reward


@register_reward("search_diversity", bounds=(0.0, 1.0), factory=make_search_diversity_reward)
def search_diversity(traj: Trajectory) -> float:
    """``1 - near_duplicates / (searches - 1)``: 1.0 when no query repeats an earlier one.

    A query is a near-duplicate when its token Jaccard with an earlier query is >= 0.8.
    With fewer than two searches there is nothing to repeat and the score is 1.0, so this
    reward does not on its own encourage searching; pair it with ``retrieval_match``.

    >>> from teacherforge.rewards import Turn
    >>> search_diversity(Trajectory("q", "a", (), turns=tuple(
    ...     Turn(f"<search>{q}</search>", query=q) for q in ["water pump", "Water pump?", "site"])))
    0.5
    """
    return _default_diversity(traj)


_default_diversity = make_search_diversity_reward(DUPLICATE_JACCARD)


@register_reward("search_efficiency", bounds=(0.0, 1.0))
def search_efficiency(traj: Trajectory) -> float:
    """``1 / (searches up to and including the first gold hit)``; 0.0 if no search hit gold.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> miss = Turn("<search>a</search>", query="a", retrieved=(RetrievedRef("x", 1, 0.9),))
    >>> hit = Turn("<search>b</search>", query="b", retrieved=(RetrievedRef("g", 3, 0.5),))
    >>> search_efficiency(Trajectory("q", "a", ("g",), turns=(miss, hit)))
    0.5
    """
    first = first_gold_hit(traj)
    return 0.0 if first is None else 1.0 / first[0]


@register_reward("search_cost", bounds=(0.0, 1.0))
def search_cost(traj: Trajectory) -> float:
    """Share of the turn budget spent on searches beyond the first: ``(searches - 1) / (max_turns - 1)``.

    A penalty (give it a negative weight): the hacking guard against repeated searches and
    search floods, which every other reward of a preset may leave tied with one good search.
    Clipped to [0, 1]; 0.0 for one search or none.

    >>> from teacherforge.rewards import Turn
    >>> search_cost(Trajectory("q", "a", (), max_turns=5, turns=tuple(Turn("", query=q) for q in "abc")))
    0.5
    """
    extra = len(traj.queries) - 1
    if extra <= 0:
        return 0.0
    return min(1.0, extra / max(1, traj.max_turns - 1))
