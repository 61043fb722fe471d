"""Faithfulness: is the final answer supported by the text the model retrieved?

:func:`answer_support` is the lexical rule: the share of the answer's tokens (normalised as
every answer comparison is, :func:`~teacherforge.rewards.answer.normalize_answer`: no
citations, punctuation or articles) that occur in the retrieved texts. The ``groundedness``
reward applies it to the hits the episode retrieved, or, when the answer cites its sources
(``[1]``, ``[2, 3]``: the numbers of the hits it was shown), to the cited hits only, scaled by
the share of citations that name a retrieved hit holding some of the answer.

It needs the hits' texts in the trajectory (:attr:`RetrievedRef.text`); rollouts saved
without them score 0.0. Unlike exact match or F1 it does not look at the reference answer:
a correct answer the model did not find in its sources is not grounded, and a pasted context
is fully grounded, so pair it with an answer reward.
"""

from __future__ import annotations

from collections.abc import Sequence

from teacherforge.rewards.answer import cited_numbers, normalize_answer
from teacherforge.rewards.registry import register_reward
from teacherforge.rewards.trajectory import Trajectory


def answer_support(answer: str | None, texts: Sequence[str]) -> float:
    """Share of the answer's normalised tokens found in ``texts``; 0.0 without answer tokens or texts.

    >>> answer_support("The pump failed [1].", ["Water pump 2 failed at noon."])
    1.0
    >>> answer_support("The valve failed", ["Water pump 2 failed at noon."])
    0.5
    """
    tokens = normalize_answer(answer).split()
    held = {token for text in texts for token in normalize_answer(text).split()}
    if not tokens or not held:
        return 0.0
    return sum(token in held for token in tokens) / len(tokens)


def retrieved_texts(traj: Trajectory) -> list[str]:
    """The texts of every hit the episode retrieved, in order (hits without a recorded text skipped)."""
    return [ref.text for turn in traj.turns for ref in turn.retrieved if ref.text]


@register_reward("groundedness", bounds=(0.0, 1.0))
def groundedness(traj: Trajectory) -> float:
    """Support of the final answer by the retrieved text (:func:`answer_support`); with citations,
    by the cited hits, times the share of citations naming a retrieved hit that holds part of the answer.

    A citation ``[n]`` names the hits retrieved at rank ``n`` (of any search of the episode).
    0.0 without an answer or without recorded hit texts.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> hits = (RetrievedRef("c1", 1, 0.9, "The bridge opened in 1932."), RetrievedRef("c2", 2, 0.5, "Rain."))
    >>> def scored(answer):
    ...     turn = Turn("", query="bridge", retrieved=hits)
    ...     return groundedness(Trajectory("q", "1932", (), turns=(turn,), final_answer=answer))
    >>> scored("It opened in 1932"), scored("It opened in 1932 [1]"), scored("1932 [1], [2]"), scored("1932 [2]")
    (0.75, 0.75, 0.5, 0.0)
    """
    answer = traj.final_answer
    cited = cited_numbers(answer or "")
    if not cited:
        return answer_support(answer, retrieved_texts(traj))
    by_rank: dict[int, list[str]] = {}
    for turn in traj.turns:
        for ref in turn.retrieved:
            if ref.text:
                by_rank.setdefault(ref.rank, []).append(ref.text)
    valid = [n for n in cited if answer_support(answer, by_rank.get(n, [])) > 0]
    if not valid:
        return 0.0
    support = answer_support(answer, [text for n in valid for text in by_rank[n]])
    return support * len(valid) / len(cited)
