"""Step-wise search rewards (after StepSearch): information gain and redundancy per search turn.

Each search turn gets two values (:func:`search_steps`, what a trainer logs per turn):

- **information gain**: the gold chunks it retrieved that no earlier search had retrieved,
  each worth ``1 / rank`` (:func:`~teacherforge.rewards.retrieval.is_gold_hit` decides what is
  gold), capped at 1.0 per turn;
- **redundancy**: half for a query that near-duplicates an earlier one (token Jaccard >= 0.8,
  :func:`~teacherforge.rewards.search.jaccard`), half for the share of its hits that earlier
  searches had already retrieved; an identical repeat of a search scores 1.0.

For a sequence-level trainer (TRL's GRPO) the rewards ``info_gain`` and ``redundancy`` fold
the per-turn values into one score by :func:`aggregate_turns`: ``sum`` (plain sum) or
``discounted`` (the ``t``-th search counted ``gamma ** (t - 1)``, so earlier search steps weigh more),
clipped to [0, 1]. The rule is chosen in a preset's ``params``::

    params:
      info_gain: {aggregate: discounted, gamma: 0.8}
"""

from __future__ import annotations

from dataclasses import dataclass

from teacherforge.rewards.registry import RewardFn, register_reward
from teacherforge.rewards.retrieval import is_gold_hit
from teacherforge.rewards.search import DUPLICATE_JACCARD, jaccard, query_tokens
from teacherforge.rewards.trajectory import Trajectory

AGGREGATES = ("sum", "discounted")
DEFAULT_GAMMA = 0.9


@dataclass(frozen=True)
class SearchStep:
    """The step-wise values of one search turn.

    ``turn`` is the 1-based index among all turns, ``search`` among the searches; ``new_gold``
    the gold chunk ids first retrieved here; ``info_gain`` and ``redundancy`` are in [0, 1].
    """

    turn: int
    search: int
    query: str
    new_gold: tuple[str, ...]
    info_gain: float
    redundancy: float


def search_steps(traj: Trajectory, threshold: float = DUPLICATE_JACCARD) -> list[SearchStep]:
    """Information gain and redundancy of every search turn of ``traj``, in order.

    ``threshold`` is the token Jaccard from which a query near-duplicates an earlier one.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> def turn(q, *ids):
    ...     return Turn("", query=q, retrieved=tuple(RetrievedRef(c, r, 0.5) for r, c in enumerate(ids, 1)))
    >>> traj = Trajectory("q", "a", ("g",), turns=(turn("pump", "x", "g"), turn("Pump?", "x", "g")))
    >>> steps = search_steps(traj)
    >>> [(s.info_gain, s.redundancy) for s in steps]
    [(0.5, 0.0), (0.0, 1.0)]
    """
    gold = set(traj.gold_chunk_ids)
    seen_chunks: set[str] = set()
    seen_queries: list[frozenset[str]] = []
    steps: list[SearchStep] = []
    for index, turn in enumerate(traj.turns, start=1):
        if turn.query is None:
            continue
        new_gold: dict[str, float] = {}
        for ref in turn.retrieved:
            if is_gold_hit(ref, gold) and ref.chunk_id not in seen_chunks:
                new_gold[ref.chunk_id] = max(new_gold.get(ref.chunk_id, 0.0), 1.0 / max(1, ref.rank))
        tokens = query_tokens(turn.query)
        repeated_query = any(jaccard(tokens, prev) >= threshold for prev in seen_queries)
        seen_share = (
            sum(ref.chunk_id in seen_chunks for ref in turn.retrieved) / len(turn.retrieved)
            if turn.retrieved
            else 0.0
        )
        steps.append(
            SearchStep(
                turn=index,
                search=len(seen_queries) + 1,
                query=turn.query,
                new_gold=tuple(new_gold),
                info_gain=min(1.0, sum(new_gold.values(), 0.0)),
                redundancy=0.5 * float(repeated_query) + 0.5 * seen_share,
            )
        )
        seen_queries.append(tokens)
        seen_chunks.update(ref.chunk_id for ref in turn.retrieved)
    return steps


def aggregate_turns(values: list[float], rule: str = "sum", gamma: float = DEFAULT_GAMMA) -> float:
    """Fold per-turn values into one score in [0, 1]: ``sum`` or ``discounted`` by ``gamma``, clipped.

    >>> aggregate_turns([0.5, 1.0]), aggregate_turns([0.5, 1.0], "discounted", gamma=0.5)
    (1.0, 1.0)
    >>> aggregate_turns([0.0, 0.5, 0.5], "discounted", gamma=0.5)
    0.375
    """
    _check_rule(rule, gamma)
    weight = gamma if rule == "discounted" else 1.0
    return min(1.0, max(0.0, sum(value * weight**i for i, value in enumerate(values))))


def make_info_gain_reward(aggregate: str = "sum", gamma: float = DEFAULT_GAMMA) -> RewardFn:
    """The ``info_gain`` reward with another aggregation: ``aggregate`` is ``sum`` or
    ``discounted`` (``gamma`` in (0, 1], used by ``discounted`` only).

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> miss = Turn("", query="a", retrieved=(RetrievedRef("x", 1, 0.9),))
    >>> hit = Turn("", query="b", retrieved=(RetrievedRef("g", 1, 0.9),))
    >>> make_info_gain_reward("discounted", gamma=0.5)(Trajectory("q", "a", ("g",), turns=(miss, hit)))
    0.5
    """
    _check_rule(aggregate, gamma)

    def info_gain_reward(traj: Trajectory) -> float:
        return aggregate_turns([s.info_gain for s in search_steps(traj)], aggregate, gamma)

    info_gain_reward.bounds = (0.0, 1.0)  # type: ignore[attr-defined]
    return info_gain_reward


def make_redundancy_reward(
    aggregate: str = "sum", gamma: float = DEFAULT_GAMMA, threshold: float = DUPLICATE_JACCARD
) -> RewardFn:
    """The ``redundancy`` penalty with another aggregation (as :func:`make_info_gain_reward`) or
    another near-duplicate query ``threshold`` (token Jaccard, in (0, 1]).

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> hit = Turn("", query="pump", retrieved=(RetrievedRef("g", 1, 0.9), RetrievedRef("x", 2, 0.5)))
    >>> other = Turn("", query="valve", retrieved=(RetrievedRef("g", 1, 0.9), RetrievedRef("y", 2, 0.5)))
    >>> make_redundancy_reward()(Trajectory("q", "a", ("g",), turns=(hit, other)))
    0.25
    """
    _check_rule(aggregate, gamma)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold!r}")

    def redundancy_reward(traj: Trajectory) -> float:
        return aggregate_turns([s.redundancy for s in search_steps(traj, threshold)], aggregate, gamma)

    redundancy_reward.bounds = (0.0, 1.0)  # type: ignore[attr-defined]
    return redundancy_reward


@register_reward("info_gain", bounds=(0.0, 1.0), factory=make_info_gain_reward)
def info_gain(traj: Trajectory) -> float:
    """Summed information gain of the searches (new gold chunks, ``1 / rank`` each), capped at 1.0.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> first = Turn("", query="a", retrieved=(RetrievedRef("x", 1, 0.9), RetrievedRef("g", 2, 0.8)))
    >>> again = Turn("", query="b", retrieved=(RetrievedRef("g", 1, 0.9),))
    >>> info_gain(Trajectory("q", "a", ("g",), turns=(first, again)))
    0.5
    """
    return _default_info_gain(traj)


@register_reward("redundancy", bounds=(0.0, 1.0), factory=make_redundancy_reward)
def redundancy(traj: Trajectory) -> float:
    """Summed redundancy of the searches (repeated queries, hits seen before), capped at 1.0: a penalty.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> turn = Turn("", query="pump", retrieved=(RetrievedRef("g", 1, 0.9),))
    >>> once, twice = (Trajectory("q", "a", ("g",), turns=turns) for turns in [(turn,), (turn, turn)])
    >>> redundancy(once), redundancy(twice)
    (0.0, 1.0)
    """
    return _default_redundancy(traj)


def _check_rule(rule: str, gamma: float) -> None:
    if rule not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {list(AGGREGATES)}, got {rule!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be a number in (0, 1], got {gamma!r}")


_default_info_gain = make_info_gain_reward()
_default_redundancy = make_redundancy_reward()
