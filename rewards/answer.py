"""Answer rewards: exact match and token F1 (SQuAD normalisation), and the LLM-judge factory.

:func:`normalize_answer`, :func:`exact_match_score` and :func:`f1_score` are the one answer
comparison of the project: the training rewards here and the evaluation metrics
(:mod:`teacherforge.trainers.metrics`) both call them. Source markers (``[1]``, ``[1, 3]``) are
stripped before comparing, since answers cite their sources and the references do not.

An episode without an answer (``final_answer is None``) scores 0.0 on every answer reward.
The judge itself is injected by the caller (built from an LLM backend elsewhere), so this
package stays free of heavy imports.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable

from teacherforge.rewards.registry import RewardFn, register_reward
from teacherforge.rewards.trajectory import Trajectory

Judge = Callable[[str, str, str], float]
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_MARKER = r"\[\d+(?:\s*,\s*\d+)*\]"
#: A run of source markers: ``[1]``, ``[1, 3]``, ``[1], [3]`` (with the spaces before them).
_CITATIONS = re.compile(rf"\s*{_MARKER}(?:\s*,?\s*{_MARKER})*")


def strip_citations(text: str) -> str:
    """Remove source markers like ``[1]``, ``[1, 3]`` or ``[1], [3]`` (answers cite their sources).

    >>> strip_citations("In 1932 [1], [3].")
    'In 1932.'
    >>> strip_citations("Steel [2, 4] and stone [1]")
    'Steel and stone'
    """
    return _CITATIONS.sub("", text).strip()


def cited_numbers(text: str) -> list[int]:
    """The source numbers an answer cites (the ``[n]`` of the hits it was shown), in order, once each.

    >>> cited_numbers("In 1932 [1], [3]. Steel [2, 3].")
    [1, 3, 2]
    """
    numbers = (int(n) for marker in re.findall(_MARKER, text) for n in re.findall(r"\d+", marker))
    return list(dict.fromkeys(numbers))


def normalize_answer(text: str | None) -> str:
    """SQuAD normalisation after removing source markers: lowercase, drop punctuation and articles,
    collapse whitespace.

    Punctuation is every Unicode punctuation character (category ``P*``), a superset of
    SQuAD's ASCII ``string.punctuation``.

    >>> normalize_answer("  The Engineers'  BRIDGE [2]! ")
    'engineers bridge'
    >>> normalize_answer(None)
    ''
    """
    if not text:
        return ""
    text = strip_citations(text).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str | None, reference: str | None) -> float:
    """1.0 when the normalised prediction equals the normalised reference; 0.0 for a missing prediction.

    >>> exact_match_score("The Elbe [2].", "elbe"), exact_match_score(None, "elbe")
    (1.0, 0.0)
    """
    if prediction is None:
        return 0.0
    return float(normalize_answer(prediction) == normalize_answer(reference))


def f1_score(prediction: str | None, reference: str | None) -> float:
    """SQuAD token F1 of two answers (1.0 when both normalise to nothing; 0.0 for a missing prediction).

    >>> round(f1_score("the old stone bridge [1]", "stone bridge over the river"), 3)
    0.571
    """
    if prediction is None:
        return 0.0
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(reference).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@register_reward("exact_match", bounds=(0.0, 1.0))
def exact_match(traj: Trajectory) -> float:
    """1.0 when the normalised final answer equals the normalised gold answer, else 0.0.

    >>> exact_match(Trajectory("Who designed it?", "Ada Byron", (), final_answer="ada byron [1]."))
    1.0
    >>> exact_match(Trajectory("Who designed it?", "Ada Byron", (), final_answer=None))
    0.0
    """
    return exact_match_score(traj.final_answer, traj.gold_answer)


@register_reward("f1", bounds=(0.0, 1.0))
def f1(traj: Trajectory) -> float:
    """Token F1 of the final answer against the gold answer (:func:`f1_score`); 0.0 without an answer.

    >>> round(f1(Trajectory("What does it cross?", "stone bridge over the river", (),
    ...                     final_answer="The old stone bridge")), 3)
    0.571
    """
    return f1_score(traj.final_answer, traj.gold_answer)


def make_judge_reward(judge: Judge, name: str = "judge") -> RewardFn:
    """Wrap ``judge(question, reference, answer) -> float`` as a reward clamped to [0, 1].

    An episode without an answer (``None`` or blank) scores 0.0 without calling the judge.
    A non-numeric or NaN verdict raises ``ValueError`` (the rubric counts and logs it).

    >>> reward = make_judge_reward(lambda q, ref, ans: 1.0 if "byron" in ans.lower() else 0.0)
    >>> reward(Trajectory("Who designed it?", "Ada Byron", (), final_answer="Byron"))
    1.0
    >>> make_judge_reward(lambda q, r, a: 7)(Trajectory("q", "r", (), final_answer="a"))
    1.0
    >>> reward.bounds
    (0.0, 1.0)
    """
    if not callable(judge):
        raise TypeError(
            f"judge must be callable (question, reference, answer) -> float, got {type(judge).__name__}"
        )

    def judge_reward(traj: Trajectory) -> float:
        if traj.final_answer is None or not traj.final_answer.strip():
            return 0.0
        verdict = judge(traj.question, traj.gold_answer, traj.final_answer)
        try:
            score = float(verdict)
        except (TypeError, ValueError):
            raise ValueError(f"judge returned {verdict!r}, expected a number in [0, 1]") from None
        if math.isnan(score):
            raise ValueError("judge returned NaN, expected a number in [0, 1]")
        return min(1.0, max(0.0, score))

    judge_reward.__name__ = name
    judge_reward.__qualname__ = name
    judge_reward.bounds = (0.0, 1.0)  # type: ignore[attr-defined]
    judge_reward.reward_name = name  # type: ignore[attr-defined]
    return judge_reward


@register_reward("judge", bounds=(0.0, 1.0))
def judge(traj: Trajectory) -> float:
    """Placeholder for the LLM-judge reward: it needs a judge callable injected by the caller.

    Build the real reward with :func:`make_judge_reward` and pass it to the rubric as
    ``Rubric(weights, rewards={"judge": make_judge_reward(my_judge)})``; a rubric that uses
    ``judge`` without one fails when it is built, and calling this placeholder raises.

    >>> judge(Trajectory("q", "a", ()))
    Traceback (most recent call last):
    ...
    RuntimeError: the 'judge' reward needs a judge callable: pass rewards={'judge': make_judge_reward(fn)} to the Rubric
    """
    raise RuntimeError(
        "the 'judge' reward needs a judge callable: pass rewards={'judge': make_judge_reward(fn)} to the Rubric"
    )


judge.requires_injection = True  # type: ignore[attr-defined]
