"""An LLM judge for :func:`~teacherforge.rewards.answer.make_judge_reward`, from any chat function.

This package imports nothing of ours but itself, so the judge does not know LLM backends: it
takes ``ask(system, user) -> reply text``, which whoever composes the rubric builds from a
backend (:func:`teacherforge.envs.task.rubric_of` does it for the configured judge LLM).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from teacherforge.rewards.answer import Judge

#: ``ask(system, user) -> reply``: one greedy chat turn of the judge LLM.
AskFn = Callable[[str, str], str]

JUDGE_SYSTEM = (
    "You grade an answer to a question against a reference answer. The answer is correct when it "
    "states the same fact as the reference; wording, length and extra detail do not matter, but a "
    "contradiction or a missing key fact does. Reply with one word: yes or no."
)
JUDGE_USER = (
    "Question: {question}\nReference answer: {reference}\nAnswer to grade: {answer}\n"
    "Is the answer correct? Reply yes or no."
)
_WORD = re.compile(r"\b(yes|no|correct|incorrect|true|false)\b")
_NUMBER = re.compile(r"(?<![\w.])(0(?:\.\d+)?|1(?:\.0+)?)(?![\w.])")


def parse_verdict(text: str) -> float:
    """A judge reply as a score: yes/correct/true → 1.0, no/incorrect/false → 0.0, or a number in [0, 1].

    The first verdict word wins; without one, the first standalone number in [0, 1]. An
    unreadable reply raises ``ValueError`` (the rubric counts and logs it as an error).

    >>> parse_verdict("Yes, the answer is correct."), parse_verdict("Incorrect."), parse_verdict("score: 0.7")
    (1.0, 0.0, 0.7)
    """
    lowered = (text or "").lower()
    word = _WORD.search(lowered)
    if word:
        return 1.0 if word.group(1) in ("yes", "correct", "true") else 0.0
    number = _NUMBER.search(lowered)
    if number:
        return float(number.group(1))
    raise ValueError(f"cannot read a verdict from the judge reply {text[:80]!r}; expected yes/no or a number")


def make_llm_judge(ask: AskFn, system: str = JUDGE_SYSTEM, user_template: str = JUDGE_USER) -> Judge:
    """``judge(question, reference, answer) -> float`` asking ``ask(system, user)`` for a yes/no verdict.

    ``user_template`` is formatted with ``question``, ``reference`` and ``answer``; the reply
    is read with :func:`parse_verdict`. Wrap the result with
    :func:`~teacherforge.rewards.answer.make_judge_reward` to get the reward.

    >>> def ask(system, user):  # a stand-in LLM: says yes when the graded answer names Byron
    ...     return "yes" if "Byron" in user.split("grade:")[1] else "no"
    >>> judge = make_llm_judge(ask)
    >>> judge("Who wrote the notes?", "Ada Byron", "Byron"), judge("Who?", "Ada Byron", "Babbage")
    (1.0, 0.0)
    """
    if not callable(ask):
        raise TypeError(f"ask must be callable (system, user) -> reply text, got {type(ask).__name__}")
    for key in ("{question}", "{reference}", "{answer}"):
        if key not in user_template:
            raise ValueError(f"judge user_template must contain {key}; got {user_template[:80]!r}")

    def llm_judge(question: str, reference: str, answer: str) -> float:
        user = user_template.format(question=question, reference=reference, answer=answer)
        return parse_verdict(ask(system, user))

    return llm_judge
