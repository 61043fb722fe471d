"""A deterministic extractive question generator: fill-in-the-blank questions over chunk spans.

Each sentence of a chunk that carries a date, a number (with its unit), a multi-word name or
a technical term becomes one question: the sentence around the span with the span replaced
by a blank, and the span itself as the answer, so every answer is an exact span of its chunk
(``metadata.answer_start`` locates it). The difficulty heuristic is how much of the sentence
the question shows and how easy the answer type is to spot: a date or number in a short
sentence is ``easy``, a name or term with a few words of context is ``hard``.

The embedded 135M model cannot write valid question/answer pairs, so the CPU demo uses this
generator; it is also a baseline and a test double for the ``llm`` generator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from teacherforge.datagen.validation import content_words, words
from teacherforge.sentences import sentences
from teacherforge.types import Chunk

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_UNIT = (
    r"(?:percent|%|psia|psi|feet|ft|miles|mi|n\.\s?mi\.?|nautical miles|hours?|hr|minutes?|min|seconds?|sec"
    r"|degrees?|deg|°\s?[FC]?|pounds?|lb|kg|volts?|V|ampere-hours?|amperes?|amps?|A|watts?|W|Btu|rpm|knots?|fps|ft/sec|g)"
)
#: Answer kinds, in priority order, with their patterns and question wording.
PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "date",
        re.compile(rf"\b{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?\b|\b\d{{1,2}}\s+{_MONTH}\s+\d{{4}}\b"),
        "date",
    ),
    ("time", re.compile(r"\b\d{1,3}:\d{2}(?::\d{2})?\b"), "time"),
    ("number", re.compile(rf"(?<![\w.-])\d[\d,]*(?:\.\d+)?(?:\s?{_UNIT}\b)?(?![\w-])"), "number or quantity"),
    ("year", re.compile(r"\b(?:19|20)\d\d\b"), "year"),
    ("name", re.compile(r"(?<=[a-z,;] )(?:[A-Z][a-z]+(?:\s+(?:of\s+)?[A-Z][a-z]+)+)\b"), "name"),
    ("term", re.compile(r"\b(?:[A-Z]{2,}[0-9A-Z-]*|[A-Z]+-[0-9A-Z]+)\b"), "term"),
)
_MIN_WORDS, _MAX_WORDS = 6, 60
BLANK = "____"


@dataclass(frozen=True)
class ClozeQuestion:
    """One fill-in-the-blank question; ``answer == chunk.text[answer_start:answer_start+len(answer)]``;
    ``passage`` is the sentence it asks about."""

    chunk_id: str
    question: str
    answer: str
    difficulty: str
    answer_type: str
    answer_start: int
    passage: str


#: Marks of markup, code, CSS/JS, URLs and directives: a sentence holding one is not prose.
_NOT_PROSE = ("<", ">", "|", "http", "www.", "![", "$", "\\", "{", "}", "`", "=", "::", "()", "[]", "#")


def is_prose(sentence: str) -> bool:
    """Whether ``sentence`` reads as prose a question can be asked about: 6 to 60 words, mostly
    letters, not a list/directive line, and free of markup, code, CSS/JS, URLs and tables.

    >>> is_prose("The harbour office opened in 1921 under a new captain.")
    True
    >>> [is_prose(s) for s in ("color: rgba(0, 0, 0, 0.5); width: 100%;", ".. automethod:: Client.fetch_all_items",
    ...  "See https://example.org/docs/start for the whole guide here.", "12 | 14 | 19 | 22 | 31 | 40 | 41")]
    [False, False, False, False]
    """
    if any(mark in sentence for mark in _NOT_PROSE) or sentence.lstrip().startswith(
        ("..", ":", "-", "*", "+")
    ):
        return False
    n = len(words(sentence))
    alpha = sum(c.isalpha() for c in sentence) / max(1, len(sentence))
    return _MIN_WORDS <= n <= _MAX_WORDS and alpha >= 0.6


def has_prose(text: str) -> bool:
    """Whether any sentence of ``text`` is prose (:func:`is_prose`): the chunks a generator asks about.

    >>> has_prose("body { color: red; }\\n.. automethod:: Client.run"), has_prose("The pump failed after the second test run.")
    (False, True)
    """
    return any(is_prose(sentence) for _, sentence in sentences(text))


def _usable(sentence: str) -> bool:
    """The sentences the generator asks about (the structural minimum without ``prose_only``)."""
    if any(mark in sentence for mark in ("<", ">", "|", "http", "![", "$", "\\")):
        return False
    n = len(words(sentence))
    alpha = sum(c.isalpha() for c in sentence) / max(1, len(sentence))
    return _MIN_WORDS <= n <= _MAX_WORDS and alpha >= 0.6


def _candidates(sentence: str) -> Iterator[tuple[str, re.Match[str], str]]:
    """Answer spans of ``sentence`` in priority order (kind order, then position)."""
    for kind, pattern, label in PATTERNS:
        for match in pattern.finditer(sentence):
            span = match.group().strip().rstrip(".,")
            if kind == "number" and span in {"0", "1", "2"}:
                continue  # lone small numbers are list markers more often than facts
            if match.start() == 0 and kind in {"name", "term"}:
                continue
            if match.start() == 0 and kind == "number" and sentence[match.end() :].startswith((".", ")")):
                continue  # "3. Repeat the step": a list number, not a fact
            yield kind, match, label


def _difficulty(kind: str, n_words: int) -> str:
    if kind in {"date", "time", "number", "year"} and n_words <= 20:
        return "easy"
    if kind in {"name", "term"} and n_words > 25:
        return "hard"
    return "medium"


_CONTEXT_WORDS = {"easy": None, "medium": 12, "hard": 7}


def _cloze_text(sentence: str, start: int, end: int, difficulty: str) -> str:
    before, after = sentence[:start].split(), sentence[end:].split()
    keep = _CONTEXT_WORDS[difficulty]
    if keep is not None:
        before = (["…"] if len(before) > keep else []) + before[-keep:] if before else []
        after = after[:keep] + (["…"] if len(after) > keep else [])
    return re.sub(rf"{BLANK}\s+([,.;:!?)])", rf"{BLANK}\1", " ".join([*before, BLANK, *after]))


def cloze_questions(chunk: Chunk, per_chunk: int, prose_only: bool = True) -> list[ClozeQuestion]:
    """Up to ``per_chunk`` fill-in-the-blank questions from ``chunk`` (deterministic).

    Sentences with more content words come first; each sentence gives at most one question
    and each answer text is used once per chunk. With ``prose_only`` (``datagen.prose_only``)
    only sentences :func:`is_prose` accepts are asked about.

    >>> chunk = Chunk("r-0", "r", "r.md", "The operators reported a loud bang at 14:05 on March 3, 1998 in the test.")
    >>> q = cloze_questions(chunk, 1)[0]
    >>> q.answer, q.difficulty, chunk.text[q.answer_start:].startswith(q.answer)
    ('March 3, 1998', 'easy', True)
    >>> q.question
    'What date fills the blank? "The operators reported a loud bang at 14:05 on ____ in the test."'
    """
    candidates = []
    usable = is_prose if prose_only else _usable
    for position, (offset, sentence) in enumerate(sentences(chunk.text)):
        if not usable(sentence):
            continue
        n_words = len(words(sentence))
        for kind, match, label in _candidates(sentence):
            answer = match.group().strip().rstrip(".,")
            start = match.start() + (len(match.group()) - len(match.group().lstrip()))
            difficulty = _difficulty(kind, n_words)
            text = _cloze_text(sentence, start, start + len(answer), difficulty)
            if answer.lower() in text.lower():
                continue  # the answer shows elsewhere in the context: the blank would be ambiguous
            question = f'What {label} fills the blank? "{text}"'
            candidates.append(
                (
                    -len(content_words(sentence)),
                    position,
                    ClozeQuestion(
                        chunk.chunk_id, question, answer, difficulty, kind, offset + start, sentence
                    ),
                )
            )
            break
    out: list[ClozeQuestion] = []
    used: set[str] = set()
    for _, _, candidate in sorted(candidates, key=lambda c: (c[0], c[1])):
        if candidate.answer.lower() in used:
            continue
        assert (
            chunk.text[candidate.answer_start : candidate.answer_start + len(candidate.answer)]
            == candidate.answer
        )
        used.add(candidate.answer.lower())
        out.append(candidate)
        if len(out) == per_chunk:
            break
    return out


def generate_cloze(chunks: Sequence[Chunk], per_chunk: int) -> tuple[list[ClozeQuestion], dict[str, int]]:
    """Cloze questions for every chunk, and drop counts (``no_candidate`` chunks gave none).

    >>> qs, drops = generate_cloze([Chunk("c-0", "c", "c", "No facts here at all, really none.")], 2)
    >>> qs, drops
    ([], {'no_candidate': 1})
    """
    questions: list[ClozeQuestion] = []
    drops: dict[str, int] = {}
    for chunk in chunks:
        found = cloze_questions(chunk, per_chunk)
        if not found:
            drops["no_candidate"] = drops.get("no_candidate", 0) + 1
        questions.extend(found)
    return questions, drops
