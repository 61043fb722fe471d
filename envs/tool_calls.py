"""The native tool-call protocol (``env.protocol: tools``) over a tokenizer's chat template.

The search tool is declared as a JSON-schema function (:func:`search_tool`) through the chat
template (``apply_chat_template(..., tools=[...])``). A model turn is parsed with transformers'
response parser (``tokenizer.parse_response``) and a response template: the tokenizer's own, the
one TRL ships for its chat template (``trl.chat_template_utils.add_response_schema``), or else
:func:`tool_call_template`, the ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``
convention of the Qwen2.5 and Hermes templates. One call of the search tool is a search; a turn
without a call is the final answer (its text without think blocks, normalised as with tags);
anything else is malformed with one of :data:`~teacherforge.envs.protocol.MALFORMED_REASONS`.
These rules and the bodies of the tool results need no tokenizer (:func:`tool_action`,
:func:`tool_result`, :func:`malformed_result`): the verifiers environment applies them to the
structured calls of an OpenAI-compatible server.

What the environment writes back is the chat template's own rendering of a ``tool`` message
and of the next assistant header, found by rendering a probe conversation with and without
it (the template diff TRL's ``GRPOTrainer._get_tool_suffix_ids`` takes). It starts with
:attr:`ToolChat.turn_end`, the end-of-turn token the model closes its message with, so the
first prompt, the turns and the observations concatenate to ``apply_chat_template`` of the
whole conversation.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from teacherforge.config import EnvConfig
from teacherforge.envs.protocol import (
    BAD_TOOL_CALL,
    EMPTY_QUERY,
    NO_TAG,
    QUERY_TOO_LONG,
    TWO_ACTIONS,
    UNCLOSED_TAG,
    UNKNOWN_TOOL,
    ParsedAction,
    Tags,
    fit_body,
    hits_text,
    malformed_message,
    to_charset,
    without_think,
)
from teacherforge.types import Hit

_FIX = "use a model whose chat template supports tools, or set env.protocol: tags"
_PROBE = ({"role": "user", "content": "?"},)


def search_tool(tags: Tags, max_query_chars: int, top_k: int) -> dict[str, Any]:
    """The search tool as a JSON-schema function (the ``tools=[...]`` format of chat templates);
    its name is the search tag name.

    >>> search_tool(Tags(), 64, 3)["function"]["parameters"]["required"]
    ['query']
    """
    return {
        "type": "function",
        "function": {
            "name": tags.search,
            "description": f"Search the document collection; returns the top {top_k} passages.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": f"what to look for (at most {max_query_chars} characters)",
                    }
                },
                "required": ["query"],
            },
        },
    }


def tool_call_template(tags: Tags) -> dict[str, Any]:
    """A transformers response template for ``<tool_call>{json}</tool_call>`` calls after an
    optional think block: the fallback when neither the tokenizer nor TRL knows one."""
    return {
        "defaults": {"role": "assistant"},
        "start_anchor_pattern": r"\A",
        "fields": {
            "reasoning_content": {
                "open": tags.open("think"),
                "close_pattern": re.escape(tags.close("think")) + r"\s*",
                "content": "text",
            },
            "tool_calls": {
                "open": "<tool_call>",
                "close_pattern": r"</tool_call>\s*",
                "repeats": True,
                "content": "json",
                "transform": {"type": "function", "function": "{content}"},
            },
            "content": {"content": "text"},
        },
    }


def response_template(tokenizer: Any, tags: Tags) -> dict[str, Any]:
    """The response template that parses ``tokenizer``'s tool calls: its own, TRL's for a chat
    template TRL knows, else :func:`tool_call_template` (the tokenizer is not modified)."""
    own = getattr(tokenizer, "response_template", None)
    if own:
        return dict(own)
    from trl.chat_template_utils import add_response_schema

    probe = types.SimpleNamespace(chat_template=tokenizer.chat_template, response_template=None)
    try:
        add_response_schema(probe)
    except ValueError:  # a chat template TRL does not know
        return tool_call_template(tags)
    return dict(probe.response_template or tool_call_template(tags))


def _call_message(content: str, name: str, query: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if query is not None:
        message["tool_calls"] = [
            {"type": "function", "function": {"name": name, "arguments": {"query": query}}}
        ]
    return message


@dataclass(frozen=True, eq=False)
class ToolChat:
    """The tool-call protocol of one tokenizer; build it with :meth:`build` (which checks the
    template). ``turn_end`` is the token text that closes an assistant message (the EOS)."""

    tokenizer: Any
    tags: Tags
    config: EnvConfig
    tool: dict[str, Any]
    response_template: dict[str, Any]
    turn_end: str
    _opened: str = field(repr=False)
    _head: str = field(repr=False)
    _room: int = field(default=0, repr=False)

    @classmethod
    def build(cls, tokenizer: Any, tags: Tags, config: EnvConfig, top_k: int) -> ToolChat:
        """The protocol for ``tokenizer``; a one-line ``ValueError`` naming the model and the fix
        when its chat template cannot declare tools, render tool calls and tool messages, or
        close an assistant message with its EOS token."""
        if tokenizer is None:
            raise ValueError(
                "env.protocol: tools renders the search tool with the model's chat template, but this "
                f"backend has no tokenizer; {_FIX}"
            )
        model = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"env.protocol: tools: model {model!r} has no chat template; {_FIX}")
        tool = search_tool(tags, config.max_query_chars, top_k)
        from trl.chat_template_utils import supports_tool_calling

        plain = tokenizer.apply_chat_template(list(_PROBE), tokenize=False)
        declared = tokenizer.apply_chat_template(list(_PROBE), tools=[tool], tokenize=False)
        if plain == declared or not supports_tool_calling(tokenizer):
            raise ValueError(
                f"env.protocol: tools: the chat template of model {model!r} ignores tools "
                f"(tool declarations, calls or results); {_FIX}"
            )
        turn_end = str(getattr(tokenizer, "eos_token", "") or "")
        opened = _render(tokenizer, [*_PROBE], tool, generation=True)
        closed = _render(tokenizer, [*_PROBE, _call_message("", tags.search, "?")], tool)
        if not turn_end or not closed.startswith(opened) or turn_end not in closed[len(opened) :]:
            raise ValueError(
                f"env.protocol: tools: the chat template of model {model!r} does not close an assistant "
                f"message with its EOS token {turn_end!r}; {_FIX}"
            )
        head = closed[: closed.rindex(turn_end)]
        chat = cls(tokenizer, tags, config, tool, response_template(tokenizer, tags), turn_end, opened, head)
        return dataclasses.replace(chat, _room=config.max_observation_chars - len(chat.observation("")))

    def assistant_text(self, content: str, query: str | None = None) -> str:
        """What the model writes for an assistant message with ``content`` and, when ``query`` is
        given, one search call, exactly as the chat template renders it (``turn_end`` excluded)."""
        message = _call_message(content, self.tags.search, query)
        rendered = _render(self.tokenizer, [*_PROBE, message], self.tool)[len(self._opened) :]
        return rendered[: rendered.rindex(self.turn_end)]

    def observation(self, content: str) -> str:
        """``turn_end``, then the ``tool`` message with ``content`` and the next assistant header,
        as the chat template renders them after an assistant message."""
        result = {"role": "tool", "name": self.tags.search, "content": content}
        messages = [*_PROBE, _call_message("", self.tags.search, "?"), result]
        after = _render(self.tokenizer, messages, self.tool, generation=True)
        if not after.startswith(self._head):
            raise ValueError(
                f"env.protocol: tools: the chat template does not keep earlier messages as they are; {_FIX}"
            )
        return to_charset(after[len(self._head) :])

    def information(self, hits: Sequence[Hit]) -> str:
        """The observation of a search: the numbered hits as the tool's result."""
        return self.observation(tool_result(hits, self._room))

    def malformed(self, reason: str) -> str:
        """The corrective observation of a malformed turn, as the tool's result."""
        return self.observation(malformed_result(reason, self.tags, self.config.max_query_chars, self._room))

    def parse(self, text: str) -> ParsedAction:
        """Parse one model turn with the tokenizer's response parser, then :func:`tool_action`
        (a turn the parser rejects is ``bad_tool_call``)."""
        text = to_charset(text)
        try:
            parsed = self.tokenizer.parse_response(text, schema=self.response_template, prefix="")
        except (ValueError, TypeError):
            return ParsedAction("malformed", text, malformed=BAD_TOOL_CALL)
        calls = (parsed or {}).get("tool_calls") or []
        return tool_action(text, calls, self.tags, self.config.max_query_chars, self.turn_end)


def tool_action(
    text: str, calls: Sequence[Any], tags: Tags, max_query_chars: int, turn_end: str = ""
) -> ParsedAction:
    """One model turn from its ``text`` and the tool ``calls`` parsed out of it: one search call is
    a search, no call is the answer (``text`` without think blocks and ``turn_end``).

    A call is a dict, either ``{"function": {"name": ..., "arguments": ...}}`` or flat
    ``{"name": ..., "arguments": ...}``; ``arguments`` an object or (OpenAI style) a JSON string.
    Malformed reasons: ``bad_tool_call`` (not a JSON object with a name and an object of
    arguments, or a non-string query), ``two_actions`` (more than one call), ``unknown_tool``,
    ``empty_query``, ``query_too_long``; without a call, ``unclosed_tag`` (a stray think tag) and
    ``no_tag`` (nothing but thinking).

    >>> tool_action("", [{"name": "search", "arguments": '{"query": "pump"}'}], Tags(), 64).query
    'pump'
    >>> tool_action("<think>hm</think> Byron", [], Tags(), 64).answer
    'Byron'
    >>> tool_action("", [{"name": "search", "arguments": '{"query'}], Tags(), 64).malformed
    'bad_tool_call'
    """
    text = to_charset(text)
    if len(calls) > 1:
        return ParsedAction("malformed", text, malformed=TWO_ACTIONS)
    if calls:
        return _search(text, calls[0], tags, max_query_chars)
    body, stray_think = without_think(text.replace(turn_end, ""), tags)
    if stray_think:
        return ParsedAction("malformed", text, malformed=UNCLOSED_TAG)
    if not body.strip():
        return ParsedAction("malformed", text, malformed=NO_TAG)
    return ParsedAction("answer", text, answer=body.strip())


def _search(text: str, call: Any, tags: Tags, max_query_chars: int) -> ParsedAction:
    function = call.get("function", call) if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    arguments = function.get("arguments", {}) if isinstance(function, dict) else None
    if isinstance(arguments, str):  # OpenAI style: the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return ParsedAction("malformed", text, malformed=BAD_TOOL_CALL)
    if name != tags.search:
        return ParsedAction("malformed", text, malformed=UNKNOWN_TOOL)
    query = arguments.get("query")
    if query is not None and not isinstance(query, str):
        return ParsedAction("malformed", text, malformed=BAD_TOOL_CALL)
    query = to_charset(query or "").strip()
    if not query:
        return ParsedAction("malformed", text, malformed=EMPTY_QUERY)
    if len(query) > max_query_chars:
        return ParsedAction("malformed", text, malformed=QUERY_TOO_LONG)
    return ParsedAction("search", text, query=query)


def tool_result(hits: Sequence[Hit], room: int) -> str:
    """The body of a search's tool result: the numbered hits, cut to ``room`` characters.

    >>> tool_result([Hit("c1", 0.9, 1, "Water pump 2 failed.")], 64)
    '[1] Water pump 2 failed.'
    """
    return fit_body(hits_text(hits, room), room, "a tool result")


def malformed_result(reason: str, tags: Tags, max_query_chars: int, room: int) -> str:
    """The body of a malformed turn's corrective tool result, cut to ``room`` characters.

    >>> malformed_result("two_actions", Tags(), 64, 200)
    'Invalid turn: more than one action in one turn. Call the search tool with one query, or reply with the final answer as plain text.'
    """
    message = malformed_message(reason, tags, max_query_chars)
    body = (
        f"Invalid turn: {message}. Call the {tags.search} tool with one query, or reply with "
        "the final answer as plain text."
    )
    return fit_body(body, room, "a tool result")


def _render(
    tokenizer: Any, messages: list[dict[str, Any]], tool: dict[str, Any], generation: bool = False
) -> str:
    return str(
        tokenizer.apply_chat_template(
            messages, tools=[tool], tokenize=False, add_generation_prompt=generation
        )
    )
