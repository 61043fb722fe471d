"""Scripted students for the evaluation tests (imported by dotted path: ``custom:tests.trainers.eval_fakes:right``)."""

from __future__ import annotations

from teacherforge.llm import FakeBackend
from tests.envs._envkit import QUESTIONS

ANSWERS = {question: answer for _, _, question, answer, _ in QUESTIONS}


def _question_in(text: str) -> tuple[str, str]:
    return next(((q, a) for q, a in ANSWERS.items() if q in text), ("", "unknown"))


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)


def right() -> FakeBackend:
    """Searches the question once, then answers correctly; in fixed mode answers at once."""

    def respond(prompt, sample_index):
        text = _text(prompt)
        question, answer = _question_in(text)
        if isinstance(prompt, str):  # agentic: raw continuation text
            tail = text[text.rfind(question) + len(question) :]
            return f"<answer>{answer}</answer>" if "<information>" in tail else f"<search>{question}</search>"
        return f"{answer} [1]"

    return FakeBackend(respond, identity="fake:right")


def wrong() -> FakeBackend:
    """Always answers the same wrong thing."""
    return FakeBackend(
        lambda prompt, i: "<answer>banana</answer>" if isinstance(prompt, str) else "banana",
        identity="fake:wrong",
    )


def nosearch() -> FakeBackend:
    """Answers correctly without ever searching."""

    def respond(prompt, sample_index):
        _, answer = _question_in(_text(prompt))
        return f"<answer>{answer}</answer>" if isinstance(prompt, str) else answer

    return FakeBackend(respond, identity="fake:nosearch")
