"""The action protocol: parse a model turn, format what the environment answers, normalise text.

A turn is ``<think>…</think>`` (optional) followed by exactly one action,
``<search>query</search>`` or ``<answer>…</answer>``. :func:`parse_action` turns the raw text
into a :class:`ParsedAction`; a turn that breaks the protocol is ``malformed`` with one of
:data:`MALFORMED_REASONS`. Everything the environment writes back (search results and
corrective messages) is one ``<information>…</information>`` block built by
:func:`format_information` or :func:`format_malformed`, so a trainer can mask exactly those
spans. :class:`SearchEnv` and the rollout driver both use these functions (no copies).

All text crossing the environment boundary goes through :func:`to_charset`, which maps
it into :data:`CHARSET` (the printable characters of the Basic Multilingual Plane plus
``\\n`` and ``\\t``), the charset of the Gymnasium ``Text`` spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from teacherforge.types import Hit

# malformed reasons (stable strings: they end up in saved trajectories)
NO_TAG = "no_tag"
TWO_ACTIONS = "two_actions"
EMPTY_QUERY = "empty_query"
QUERY_TOO_LONG = "query_too_long"
UNCLOSED_TAG = "unclosed_tag"
BAD_TOOL_CALL = "bad_tool_call"  # env.protocol: tools (teacherforge.envs.tool_calls)
UNKNOWN_TOOL = "unknown_tool"
MALFORMED_REASONS = (
    NO_TAG,
    TWO_ACTIONS,
    EMPTY_QUERY,
    QUERY_TOO_LONG,
    UNCLOSED_TAG,
    BAD_TOOL_CALL,
    UNKNOWN_TOOL,
)


def _build_charset() -> str:
    chars = [chr(c) for c in range(0x10000) if chr(c).isprintable()]
    return "\t\n" + "".join(chars)


#: Every character an observation or a normalised action may contain (built once):
#: the printable Basic Multilingual Plane characters plus tab and newline.
CHARSET: str = _build_charset()
_CHARSET_SET = frozenset(CHARSET)
_NEWLINES = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _char_class(chars: str) -> str:
    """A regex character class matching everything outside ``chars`` (built from ranges)."""
    codes = sorted(ord(c) for c in set(chars))
    parts: list[str] = []
    start = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(
            re.escape(chr(start)) if start == prev else f"{re.escape(chr(start))}-{re.escape(chr(prev))}"
        )
        start = prev = code
    return "[^" + "".join(parts) + "]"


_OUTSIDE = re.compile(_char_class(CHARSET))


class _Replacements(dict):
    """``str.translate`` table: code point → replacement, computed on first use and kept."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in _CHARSET_SET:
            value = char
        elif char in _NEWLINES:
            value = "\n"
        elif unicodedata.category(char) == "Zs":
            value = " "
        elif unicodedata.category(char) in ("Cc", "Cf"):
            value = ""  # invisible controls and format characters (soft hyphen, zero-width space)
        else:
            value = "\ufffd"  # outside the BMP, surrogates, private use, unassigned
        self[code] = value
        return value


_TABLE = _Replacements()


def to_charset(text: str) -> str:
    """Map ``text`` into :data:`CHARSET`.

    ``\\r\\n`` and other line separators become ``\\n``, other space characters a plain
    space, invisible control/format characters are dropped, and anything else outside the
    charset (emoji and other non-BMP characters, lone surrogates, private use) becomes
    U+FFFD. Text already inside the charset is returned unchanged.

    >>> to_charset("a\\r\\nb\\x00c\\u00a0d\\U0001F600")
    'a\\nbc d\\ufffd'
    >>> to_charset("plain text") == "plain text"
    True
    """
    text = text.replace("\r\n", "\n")
    if _OUTSIDE.search(text) is None:
        return text
    return text.translate(_TABLE)


def in_charset(text: str) -> bool:
    """True when every character of ``text`` is in :data:`CHARSET`."""
    return _OUTSIDE.search(text) is None


@dataclass(frozen=True)
class Tags:
    """Tag names of the protocol (configurable through ``EnvConfig.*_tag``, which checks that they
    are valid, distinct tag names).

    >>> Tags().open("search"), Tags(search="query").close("search")
    ('<search>', '</query>')
    """

    think: str = "think"
    search: str = "search"
    answer: str = "answer"
    information: str = "information"

    def open(self, role: str) -> str:
        """``<name>`` of the tag playing ``role`` (think, search, answer or information)."""
        return f"<{getattr(self, role)}>"

    def close(self, role: str) -> str:
        """``</name>`` of the tag playing ``role``."""
        return f"</{getattr(self, role)}>"

    @property
    def stop_strings(self) -> tuple[str, str]:
        """Where a model turn ends: the closing search and answer tags."""
        return (self.close("search"), self.close("answer"))


@dataclass(frozen=True)
class ParsedAction:
    """One parsed model turn.

    ``kind`` is ``"search"`` (``query`` set), ``"answer"`` (``answer`` set) or
    ``"malformed"`` (``malformed`` is one of :data:`MALFORMED_REASONS`). ``text`` is the
    normalised turn text.
    """

    kind: str
    text: str
    query: str | None = None
    answer: str | None = None
    malformed: str | None = None


@lru_cache(maxsize=16)
def _patterns(tags: Tags) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    think = re.compile(f"{re.escape(tags.open('think'))}.*?{re.escape(tags.close('think'))}", re.DOTALL)
    stray_think = re.compile(f"</?{re.escape(tags.think)}>")
    action = re.compile(f"<(/?)({re.escape(tags.search)}|{re.escape(tags.answer)})>")
    return think, stray_think, action


def without_think(text: str, tags: Tags = Tags()) -> tuple[str, bool]:
    """``text`` with each complete think block replaced by a space, and whether a stray (unpaired)
    think tag remains.

    >>> without_think("<think>hm</think>Byron")
    (' Byron', False)
    >>> without_think("<think>hm")[1]
    True
    """
    think, stray_think, _ = _patterns(tags)
    body = think.sub(" ", text)
    return body, stray_think.search(body) is not None


def parse_action(text: str, tags: Tags = Tags(), max_query_chars: int = 512) -> ParsedAction:
    """Parse one model turn (``text`` is normalised first).

    Complete ``<think>`` blocks are ignored (tags inside them too). Then exactly one
    ``<search>…</search>`` or ``<answer>…</answer>`` must remain; text around it is allowed.
    Malformed reasons, checked in this order: ``no_tag`` (no action tag at all),
    ``two_actions`` (more than one opening or closing action tag), ``unclosed_tag`` (an
    action tag without its partner, or a stray think tag), ``empty_query``,
    ``query_too_long`` (stripped query over ``max_query_chars`` characters). An empty
    answer is a valid (if poor) answer.

    >>> parse_action("<think>hm</think><search> water pump </search>").query
    'water pump'
    >>> parse_action("<answer>Byron</answer>").answer
    'Byron'
    >>> [parse_action(t).malformed for t in ("hi", "<search>a</search><search>b</search>", "<answer>x")]
    ['no_tag', 'two_actions', 'unclosed_tag']
    """
    text = to_charset(text)
    _, _, action = _patterns(tags)
    body, stray_think = without_think(text, tags)
    found = list(action.finditer(body))
    if not found:
        return ParsedAction("malformed", text, malformed=NO_TAG)
    opens = [m for m in found if not m.group(1)]
    closes = [m for m in found if m.group(1)]
    if len(opens) > 1 or len(closes) > 1:
        return ParsedAction("malformed", text, malformed=TWO_ACTIONS)
    if (
        len(opens) != 1
        or len(closes) != 1
        or opens[0].group(2) != closes[0].group(2)
        or opens[0].end() > closes[0].start()
        or stray_think
    ):
        return ParsedAction("malformed", text, malformed=UNCLOSED_TAG)
    inner = body[opens[0].end() : closes[0].start()].strip()
    if opens[0].group(2) == tags.answer:
        return ParsedAction("answer", text, answer=inner)
    if not inner:
        return ParsedAction("malformed", text, malformed=EMPTY_QUERY)
    if len(inner) > max_query_chars:
        return ParsedAction("malformed", text, malformed=QUERY_TOO_LONG)
    return ParsedAction("search", text, query=inner)


def close_open_action(text: str, tags: Tags = Tags()) -> str:
    """Append the closing tag of an action left open at the end of ``text``.

    Backends cut a completion at its stop string (``</search>`` / ``</answer>``) and drop
    it; the rollout driver calls this on a turn that finished with ``finish_reason ==
    "stop"`` to restore the tag the model wrote. Text whose last action tag is already
    closed (or that has none) is returned unchanged.

    >>> close_open_action("<think>x</think><search>bridge")
    '<think>x</think><search>bridge</search>'
    >>> close_open_action("<answer>Byron</answer>")
    '<answer>Byron</answer>'
    """
    _, _, action = _patterns(tags)
    found = list(action.finditer(text))
    if not found or found[-1].group(1):
        return text
    return text + f"</{found[-1].group(2)}>"


MALFORMED_MESSAGES = {
    NO_TAG: "no action found",
    TWO_ACTIONS: "more than one action in one turn",
    EMPTY_QUERY: "the search query is empty",
    QUERY_TOO_LONG: "the search query is too long (at most {max_query_chars} characters)",
    UNCLOSED_TAG: "a tag is not closed or not opened",
    BAD_TOOL_CALL: "the tool call is not a JSON object with a name and an object of arguments",
    UNKNOWN_TOOL: "unknown tool (the only tool is {search})",
}


def fit_body(body: str, room: int, what: str = "an information block") -> str:
    """``body`` in the charset, cut to ``room`` characters (ending ``" [...]"`` when cut).

    >>> fit_body("abcdefghij", 8)
    'ab [...]'
    """
    if room < 1:
        raise ValueError(f"env.max_observation_chars leaves no room for {what}; raise it")
    body = to_charset(body)
    if len(body) > room:
        marker = " [...]"
        body = body[: max(room - len(marker), 0)] + marker[:room]
    return body


def _block(body: str, tags: Tags, max_chars: int) -> str:
    head, tail = f"\n\n{tags.open('information')}\n", f"\n{tags.close('information')}\n\n"
    return head + fit_body(body, max_chars - len(head) - len(tail)) + tail


def hits_text(hits: Sequence[Hit], max_chars: int = 8192) -> str:
    """Numbered hits, one ``[rank] text`` line each (``No results.`` without hits), each hit
    getting an equal share of ``max_chars`` when the hits are long.

    >>> hits_text([Hit("c1", 0.9, 1, "Water pump  2 failed.")])
    '[1] Water pump 2 failed.'
    """
    if not hits:
        return "No results."
    share = max(32, (max_chars - 40) // len(hits) - 8)
    parts = []
    for position, hit in enumerate(hits, start=1):
        text = " ".join(to_charset(hit.text).split())
        if len(text) > share:
            text = text[: share - 4] + " ..."
        parts.append(f"[{hit.rank or position}] {text}")
    return "\n".join(parts)


def format_information(hits: Sequence[Hit], tags: Tags = Tags(), max_chars: int = 8192) -> str:
    """The observation of a search: numbered hits (:func:`hits_text`) inside one
    ``<information>`` block that (newlines around it included) fits in ``max_chars`` characters.

    >>> print(format_information([Hit("c1", 0.9, 1, "Water pump 2 failed.")]).strip())
    <information>
    [1] Water pump 2 failed.
    </information>
    """
    return _block(hits_text(hits, max_chars), tags, max_chars)


def malformed_message(reason: str, tags: Tags = Tags(), max_query_chars: int = 512) -> str:
    """What was wrong with a malformed turn, in words (``reason`` is one of :data:`MALFORMED_REASONS`).

    >>> malformed_message("query_too_long", max_query_chars=64)
    'the search query is too long (at most 64 characters)'
    """
    return MALFORMED_MESSAGES.get(reason, reason).format(max_query_chars=max_query_chars, search=tags.search)


def format_malformed(
    reason: str, tags: Tags = Tags(), max_query_chars: int = 512, max_chars: int = 8192
) -> str:
    """The corrective observation for a malformed turn (also one ``<information>`` block).

    >>> print(format_malformed("no_tag").strip().splitlines()[1])
    Invalid turn: no action found. Write <think>...</think>, then exactly one <search>query</search> or <answer>final answer</answer>.
    """
    message = malformed_message(reason, tags, max_query_chars)
    body = (
        f"Invalid turn: {message}. Write {tags.open('think')}...{tags.close('think')}, then exactly one "
        f"{tags.open('search')}query{tags.close('search')} or {tags.open('answer')}final answer{tags.close('answer')}."
    )
    return _block(body, tags, max_chars)
