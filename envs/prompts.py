"""The first prompt of an episode: system prompt template, user question, chat rendering.

The system prompt (one default per protocol) is a template with ``{think}``, ``{search}``, ``{answer}``,
``{information}`` (tag names), ``{max_turns}`` and ``{top_k}`` placeholders (plain
replacement, so other braces in a custom template stay as they are). The environment's
observation and the rollout driver's prompt are the same rendered text:
:func:`render_prompt` with the model's tokenizer chat template, or a ChatML rendering when
there is no tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from teacherforge.envs.protocol import Tags, to_charset
from teacherforge.types import Message

DEFAULT_SYSTEM_PROMPT = """\
You answer questions about a private document collection by searching it.
Each turn, first think inside <{think}> and </{think}>. Then do exactly one of:
- search the collection: <{search}>your query</{search}>. The top {top_k} passages come back \
inside <{information}> and </{information}>.
- give the final answer: <{answer}>a short answer</{answer}>. This ends the episode.
You have at most {max_turns} turns. Search before you answer; keep the answer short."""

#: The default system prompt of ``env.protocol: tools`` (the chat template adds the tool's schema).
TOOLS_SYSTEM_PROMPT = """\
You answer questions about a private document collection by searching it.
Each turn, first think inside <{think}> and </{think}>. Then do exactly one of:
- search the collection: call the {search} tool with one query. The top {top_k} passages come back \
as its result.
- give the final answer: reply with a short answer as plain text, without a tool call. This ends the episode.
You have at most {max_turns} turns. Search before you answer; keep the answer short."""

PLACEHOLDERS = ("think", "search", "answer", "information", "max_turns", "top_k")


def render_system_prompt(
    template: str | None, tags: Tags, max_turns: int, top_k: int, protocol: str = "tags"
) -> str:
    """Fill the placeholders of ``template`` (default :data:`DEFAULT_SYSTEM_PROMPT`, or
    :data:`TOOLS_SYSTEM_PROMPT` for the ``tools`` protocol).

    >>> render_system_prompt("Use <{search}>q</{search}>, {max_turns} turns.", Tags(search="query"), 3, 2)
    'Use <query>q</query>, 3 turns.'
    """
    default = TOOLS_SYSTEM_PROMPT if protocol == "tools" else DEFAULT_SYSTEM_PROMPT
    text = default if template is None else template
    values = {
        "think": tags.think,
        "search": tags.search,
        "answer": tags.answer,
        "information": tags.information,
        "max_turns": str(max_turns),
        "top_k": str(top_k),
    }
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return to_charset(text)


def build_messages(question: str, system_prompt: str) -> tuple[Message, ...]:
    """The conversation that opens an episode: the system prompt and the question."""
    return (Message("system", system_prompt), Message("user", to_charset(question)))


def render_chatml(messages: Sequence[Message]) -> str:
    """ChatML rendering with the assistant turn opened (used when no tokenizer is given).

    >>> print(render_chatml([Message("user", "Who?")]), end="")
    <|im_start|>user
    Who?<|im_end|>
    <|im_start|>assistant
    """
    parts = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def render_prompt(messages: Sequence[Message], tokenizer: Any = None, tools: list[dict] | None = None) -> str:
    """The prompt text a model continues: the tokenizer's chat template (generation prompt
    appended, ``tools`` declared when given) when it has one, else :func:`render_chatml`."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tools=tools,
            tokenize=False,
            add_generation_prompt=True,
        )
        return to_charset(str(rendered))
    if tools:
        raise ValueError(
            "env.protocol: tools needs the model's tokenizer and its chat template; set env.protocol: tags"
        )
    return render_chatml(messages)
