"""Redaction of sensitive entities before export: pattern recognizers with checksums, no models.

Entity types (fixed): ``EMAIL``, ``PHONE``, ``CREDIT_CARD`` (Luhn checksum), ``IBAN`` (ISO 13616
mod-97 checksum), ``IP_ADDRESS`` (v4 and v6, validated with :mod:`ipaddress`), ``ID_NUMBER``
(US SSN with its reserved ranges excluded, and numbers introduced by "ID/passport/licence
number"), and ``PERSON`` — names after a title or rank (``Dr. Ada Byron``, ``Commander Ann
Lee``) plus a configurable list of names (``quality.redact_names``).

Why not presidio: its pattern recognizers run without a spaCy model, but importing it pulls in
spaCy, and its e-mail recognizer fetches the public-suffix list over the network at first use
(``tldextract``), which a run must never do. These recognizers are small, offline and tested
for recall per type (``tests/datagen/test_quality.py``); an NER model can be added behind the
same :class:`Redactor` interface where one is installed locally.

Overlaps are resolved by priority (checksummed types first), then by length.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ENTITY_TYPES = ("EMAIL", "CREDIT_CARD", "IBAN", "ID_NUMBER", "IP_ADDRESS", "PHONE", "PERSON")

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"
)
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_ID_KEYWORD = re.compile(
    r"\b(?:ID|identity|identification|passport|driver'?s? licen[cs]e|licen[cs]e|social security|personnel|employee)"
    r"(?: card)?(?: number| no\.?| #|#)?\s*(?:is|:|=)?\s*(?P<value>[A-Z0-9][A-Z0-9-]{5,19}\b)",
    re.IGNORECASE,
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"  # (415) 555-0132
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 415-555-0132
    r"|0\d{2,4}[ /-]\d{3,8}(?:[ -]\d{2,4})?"  # national trunk prefix: 030 1234567
    r")(?!\w)"
)
ABBREVIATED_TITLES = (
    "Mr",
    "Mrs",
    "Ms",
    "Mx",
    "Dr",
    "Prof",
    "Rev",
    "Capt",
    "Cmdr",
    "Lt",
    "Col",
    "Maj",
    "Gen",
    "Adm",
    "Sgt",
    "Mme",
    "Mlle",
)
TITLES = (
    "Miss",
    "Professor",
    "Sir",
    "Dame",
    "Lady",
    "Lord",
    "Captain",
    "Commander",
    "Lieutenant",
    "Colonel",
    "Major",
    "General",
    "Admiral",
    "Sergeant",
    "Officer",
    "Astronaut",
    "Senator",
    "Judge",
    "Agent",
    "Director",
    "Engineer",
    "Nurse",
    "Patient",
    "Madam",
    "Herr",
    "Frau",
)
_NOT_NAMES = frozenset(
    [
        "The",
        "A",
        "An",
        "This",
        "That",
        "These",
        "Those",
        "It",
        "He",
        "She",
        "They",
        "We",
        "I",
        "In",
        "On",
        "At",
        "Of",
        "For",
        "And",
        "But",
        "Or",
        "If",
        "As",
        "By",
        "To",
    ]
)
_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_TITLED = re.compile(
    rf"\b(?:(?:{'|'.join(ABBREVIATED_TITLES)})\.?|{'|'.join(TITLES)})[ \t]+"
    rf"(?P<name>{_NAME_WORD}(?:[ \t]+(?:[A-Z]\.[ \t]+)?{_NAME_WORD}){{0,2}})"
)
_PRIORITY = {t: i for i, t in enumerate(ENTITY_TYPES)}


@dataclass(frozen=True)
class Entity:
    """One detected entity: type, character span and text."""

    type: str
    start: int
    end: int
    text: str


def luhn_valid(number: str) -> bool:
    """Luhn checksum of the digits in ``number``.

    >>> luhn_valid("4111 1111 1111 1111"), luhn_valid("4111 1111 1111 1112")
    (True, False)
    """
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return len(digits) >= 12 and total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces ignored).

    >>> iban_valid("DE89 3704 0044 0532 0130 00"), iban_valid("DE88 3704 0044 0532 0130 00")
    (True, False)
    """
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ip_valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Redactor:
    """Find and replace sensitive entities (see the module docstring).

    >>> r = Redactor(names=["Ada Byron"])
    >>> r.redact("Mail ada@example.org or call +44 20 7946 0958; Ada Byron met Dr. Alan Turing.")[0]
    'Mail [EMAIL] or call [PHONE]; [PERSON] met Dr. [PERSON].'
    """

    def __init__(self, names: Iterable[str] = (), types: Sequence[str] = ENTITY_TYPES) -> None:
        unknown = sorted(set(types) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown entity type(s) {unknown}; known: {list(ENTITY_TYPES)}")
        self.types = tuple(types)
        listed = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
        self._names = (
            re.compile(r"\b(?:" + "|".join(re.escape(n) for n in listed) + r")\b", re.IGNORECASE)
            if listed
            else None
        )

    def _candidates(self, text: str) -> list[Entity]:
        found: list[Entity] = []

        def add(kind: str, start: int, end: int) -> None:
            found.append(Entity(kind, start, end, text[start:end]))

        if "EMAIL" in self.types:
            for m in _EMAIL.finditer(text):
                add("EMAIL", m.start(), m.end())
        if "CREDIT_CARD" in self.types:
            for m in _CARD.finditer(text):
                if luhn_valid(m.group()):
                    add("CREDIT_CARD", m.start(), m.end())
        if "IBAN" in self.types:
            for m in _IBAN.finditer(text):
                value = m.group()
                # the regex may run into a following word; trim to the longest valid prefix
                for end in range(len(value), 14, -1):
                    if iban_valid(value[:end]):
                        add("IBAN", m.start(), m.start() + end)
                        break
        if "ID_NUMBER" in self.types:
            for m in _SSN.finditer(text):
                add("ID_NUMBER", m.start(), m.end())
            for m in _ID_KEYWORD.finditer(text):
                if any(c.isdigit() for c in m.group("value")):
                    add("ID_NUMBER", m.start("value"), m.end("value"))
        if "IP_ADDRESS" in self.types:
            for pattern in (_IPV4, _IPV6):
                for m in pattern.finditer(text):
                    if _ip_valid(m.group()):
                        add("IP_ADDRESS", m.start(), m.end())
        if "PHONE" in self.types:
            for m in _PHONE.finditer(text):
                if sum(c.isdigit() for c in m.group()) >= 7:
                    add("PHONE", m.start(), m.end())
        if "PERSON" in self.types:
            for m in _TITLED.finditer(text):
                if m.group("name").split()[0] not in _NOT_NAMES:
                    add("PERSON", m.start("name"), m.end("name"))
            if self._names is not None:
                for m in self._names.finditer(text):
                    add("PERSON", m.start(), m.end())
        return found

    def find(self, text: str) -> list[Entity]:
        """Non-overlapping entities in ``text``, in order (higher-priority type, then longer span, wins)."""
        chosen: list[Entity] = []
        for entity in sorted(
            self._candidates(text), key=lambda e: (_PRIORITY[e.type], -(e.end - e.start), e.start)
        ):
            if all(entity.end <= c.start or entity.start >= c.end for c in chosen):
                chosen.append(entity)
        return sorted(chosen, key=lambda e: e.start)

    def redact(self, text: str) -> tuple[str, Counter]:
        """``text`` with every entity replaced by ``[TYPE]``, and the count per type."""
        counts: Counter = Counter()
        pieces, last = [], 0
        for entity in self.find(text):
            pieces.append(text[last : entity.start])
            pieces.append(f"[{entity.type}]")
            counts[entity.type] += 1
            last = entity.end
        pieces.append(text[last:])
        return "".join(pieces), counts
