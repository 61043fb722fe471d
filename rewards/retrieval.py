"""Retrieval rewards: was a gold chunk retrieved, and how high.

:func:`is_gold_hit` is the one rule for "this hit contains the gold"; the rewards here, the
environment's episode statistics, training statistics and evaluation all use it. Hits from
the paraphrased index carry the original chunk id, so these rewards score both indexes the
same way.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from teacherforge.rewards.registry import register_reward
from teacherforge.rewards.trajectory import RetrievedRef, Trajectory


def is_gold_hit(ref: RetrievedRef, gold_chunk_ids: Collection[str]) -> bool:
    """Whether a retrieved hit contains the gold: its chunk is one of the question's gold chunks.

    A question's gold chunks are the chunks holding its supporting text, identical copies of
    that text in other chunks included (``Question.gold_chunk_ids``), so retrieving any copy
    counts.

    >>> is_gold_hit(RetrievedRef("doc-7", 2, 0.6), ("doc-7", "doc-9")), is_gold_hit(RetrievedRef("doc-3", 1, 0.7), ("doc-7",))
    (True, False)
    """
    return ref.chunk_id in gold_chunk_ids


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)} or ({tuple(words)} if words else set())


def support_coverage(texts: Sequence[str], support: str) -> float:
    """Share of the word trigrams of a supporting passage that ``texts`` (retrieved hits) hold together.

    The span form of "this hit contains the gold", for gold given as a passage rather than a
    chunk: it does not depend on how the corpus was chunked. A passage counts as retrieved when
    the share is at least one half.

    >>> support_coverage(["The valve stuck at 900 psi.", "Then the crew vented"], "the valve stuck at 900 psi then the crew vented the tank")
    0.6
    """
    gold = _trigrams(support)
    if not gold:
        return 0.0
    held = set().union(*(_trigrams(t) for t in texts)) if texts else set()
    return len(gold & held) / len(gold)


def holds_answer(text: str, answer: str) -> bool:
    """Whether a hit's text holds the answer string (case-insensitive): the answer@k rule of
    benchmarks, ``retrieval.kind: auto`` and the embedder fine-tune's hard negatives.

    >>> holds_answer("The north quay opened at dawn.", "NORTH QUAY"), holds_answer("At dawn.", "north quay")
    (True, False)
    """
    return answer.lower() in text.lower()


def retrieved_gold(traj: Trajectory) -> bool:
    """Whether any search of the episode retrieved a gold hit (:func:`is_gold_hit`)."""
    gold = set(traj.gold_chunk_ids)
    return any(is_gold_hit(ref, gold) for turn in traj.turns for ref in turn.retrieved)


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
        ranks = [ref.rank for ref in turn.retrieved if is_gold_hit(ref, gold)]
        if ranks:
            return searches, min(ranks)
    return None


def search_hit_gold(traj: Trajectory) -> list[bool]:
    """One flag per search (turns with a query), ``True`` when that search retrieved a gold chunk."""
    gold = set(traj.gold_chunk_ids)
    return [any(is_gold_hit(ref, gold) for ref in t.retrieved) for t in traj.turns if t.query is not None]


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
    return float(retrieved_gold(traj))


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
        ref.rank for turn in traj.turns for ref in turn.retrieved if is_gold_hit(ref, gold) and ref.rank >= 1
    ]
    return 1.0 / min(ranks) if ranks else 0.0
