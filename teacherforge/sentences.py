"""Rule-based sentence splitting, the one splitter of cloze questions and sentence-window retrieval."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")


def sentences(text: str) -> list[tuple[int, str]]:
    """Rule-based sentence split of ``text``: ``(start offset, sentence)`` pairs; a line break ends one too.

    >>> sentences("The pump failed. Then the shift moved.\\nOk")
    [(0, 'The pump failed.'), (17, 'Then the shift moved.'), (39, 'Ok')]
    """
    out = []
    for block_match in re.finditer(r"[^\n]+", text):
        block, offset = block_match.group(), block_match.start()
        start = 0
        for end_match in _SENTENCE_END.finditer(block):
            out.append((offset + start, block[start : end_match.start()]))
            start = end_match.end()
        if block[start:].strip():
            out.append((offset + start, block[start:]))
    return [(s + len(t) - len(t.lstrip()), t.strip()) for s, t in out if t.strip()]
