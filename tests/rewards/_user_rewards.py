"""A user reward module for the dotted-path tests."""

from __future__ import annotations


def answer_length(traj) -> float:
    """Characters in the final answer."""
    return float(len(traj.final_answer or ""))


class Scorers:
    """A namespace, to test ``module:Class.attr`` paths."""

    @staticmethod
    def answered(traj) -> float:
        return float(traj.final_answer is not None)


NOT_CALLABLE = 3


def judge_backend():
    """A fake LLM backend factory for ``--judge-backend custom --judge-model _user_rewards:judge_backend``."""
    from teacherforge.llm import FakeBackend

    return FakeBackend(lambda prompt, i: "yes" if "grade: Jim Lovell" in prompt[-1].content else "no")
