"""Retrieval rewards: was a gold chunk retrieved, and how high.

Hits from the paraphrased index carry the original chunk id, so these rewards score both
indexes the same way.
"""

from __future__ import annotations

from teacherforge.rewards.registry import register_reward
from teacherforge.rewards.trajectory import Trajectory


def first_gold_hit(traj: Trajectory) -> tuple[int, int] | None:
    """``(search_number, rank)`` of the first search that retrieved a gold chunk, else ``None``.

    ``search_number`` counts searches from 1 (turns without a query are skipped); ``rank``
    is the best rank of a gold chunk in that search.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> miss = Turn("<search>a</search>", query="a", retrieved=(RetrievedRef("x", 1, 0.9),))
    >>> hit = Turn("<search>b</search>", query="b", retrieved=(RetrievedRef("x", 1, 0.9), RetrievedRef("g", 2, 0.8)))
    >>> first_gold_hit(Trajectory("q", "a", ("g",), turns=(miss, hit)))
    (2, 2)
    """
    gold = set(traj.gold_chunk_ids)
    searches = 0
    for turn in traj.turns:
        if turn.query is None:
            continue
        searches += 1
        ranks = [ref.rank for ref in turn.retrieved if ref.chunk_id in gold]
        if ranks:
            return searches, min(ranks)
    return None


def search_hit_gold(traj: Trajectory) -> list[bool]:
    """One flag per search (turns with a query), ``True`` when that search retrieved a gold chunk."""
    gold = set(traj.gold_chunk_ids)
    return [any(ref.chunk_id in gold for ref in t.retrieved) for t in traj.turns if t.query is not None]


@register_reward("retrieval_match", bounds=(0.0, 1.0))
def retrieval_match(traj: Trajectory) -> float:
    """1.0 when any turn retrieved any gold chunk, else 0.0.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> turn = Turn("<search>water pump</search>", query="water pump",
    ...             retrieved=(RetrievedRef("doc-3", 1, 0.7), RetrievedRef("doc-7", 2, 0.6)))
    >>> retrieval_match(Trajectory("q", "a", ("doc-7",), turns=(turn,)))
    1.0
    >>> retrieval_match(Trajectory("q", "a", ("doc-9",), turns=(turn,)))
    0.0
    """
    gold = set(traj.gold_chunk_ids)
    return float(any(ref.chunk_id in gold for turn in traj.turns for ref in turn.retrieved))


@register_reward("retrieval_rank", bounds=(0.0, 1.0))
def retrieval_rank(traj: Trajectory) -> float:
    """Reciprocal rank of the best-ranked gold hit over all turns (1/rank), 0.0 if none.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> turn = Turn("<search>water pump</search>", query="water pump",
    ...             retrieved=(RetrievedRef("doc-3", 1, 0.7), RetrievedRef("doc-7", 2, 0.6)))
    >>> retrieval_rank(Trajectory("q", "a", ("doc-7",), turns=(turn,)))
    0.5
    """
    gold = set(traj.gold_chunk_ids)
    ranks = [
        ref.rank for turn in traj.turns for ref in turn.retrieved if ref.chunk_id in gold and ref.rank >= 1
    ]
    return 1.0 / min(ranks) if ranks else 0.0
