"""Retrieval-augmented answering, shared by the teacher (datagen) and evaluation (trainers).

Three pieces, one place each, so the student is trained and measured on exactly what the
teacher saw:

* **the prompt** — a conversation is ``system`` (instructions + numbered sources), ``user``
  (the question) and, in the dataset, ``assistant`` (the answer);
* **hit selection** — at most ``top_k`` hits scoring at least a relevance cut-off, so the model
  does not see passages that merely share a word;
* **refusal detection** — a documented list of regular expressions (:data:`REFUSAL_PATTERNS`).

Relevance cut-offs, calibrated with ``benchmarks/calibrate_relevance.py`` on the bundled example
report (334 chunks of 1000 chars, 67 hand-written questions; gold chunk = best-scoring chunk
containing the answer, random = 5 random non-gold chunks per question):

======  ===============================  ================================  ======  ===========  =============
kind    question→gold p05 / p10 / p50    question→random p50 / p90 / p95   cut     gold kept    random kept
======  ===============================  ================================  ======  ===========  =============
dense   0.386 / 0.428 / 0.554 (cosine)   0.199 / 0.376 / 0.427             0.30    0.99         0.22
bm25    3.17 / 4.04 / 6.68               0.49 / 2.27 / 2.69                2.0     0.99         0.12
hybrid  0.706 / 0.791 / 0.985 (fused)    0.264 / 0.466 / 0.534             0.45    1.00         0.10
======  ===============================  ================================  ======  ===========  =============

MiniLM question→passage cosines sit well below 0.7 (a 0.7 cut would drop ~85 % of gold
chunks); BM25 scores are unbounded and grow with corpus size, and hybrid scores are min-max
normalised per query (the top hit is always near 1), so each kind needs its own cut.
``retrieval.min_score`` overrides the default.

The refusal detector is deliberately strict: it matches first-person refusals and apologies,
"as an AI" disclaimers, and meta statements about the passage ("the text does not mention
..."), none of which belong in a question, an answer or a rewrite of a technical document. A
false positive costs one dropped sample; a missed refusal poisons the index or the training set.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from teacherforge.types import Hit, Message
from teacherforge.workspace import stable_hash

TEMPLATE_NAME = "rag_answer_v1"
INSTRUCTIONS = (
    "You answer questions about a document collection using only the numbered sources below. "
    "Answer in one or two sentences and cite the sources you used like [1]. If the sources do not "
    "contain the answer, say so plainly."
)
NO_SOURCES = "(no relevant sources were found)"
#: The answer a RAG-failure example teaches (context without the answer).
NOT_IN_CONTEXT = "The provided sources do not contain the answer to this question."

#: Default relevance cut-off per retriever kind (see the module docstring for the measurements).
CALIBRATED_MIN_SCORE = {"dense": 0.30, "bm25": 2.0, "hybrid": 0.45}

#: Regular expressions (case-insensitive) whose match marks a text as a refusal.
REFUSAL_PATTERNS: tuple[str, ...] = (
    # apologies and first-person refusals
    r"\bI(?:'m| am)\s+(?:so\s+|very\s+|really\s+)?sorry\b",
    r"\b(?:my\s+)?apolog(?:ies|ize|ise)\b",
    r"\bI\s+(?:can(?:no|')t|cannot|could\s?n[o']t|won't|will\s+not|am\s+unable|'m\s+unable|am\s+not\s+able"
    r"|'m\s+not\s+able|do\s?n[o']t\s+(?:have|know|feel)|must\s+decline|refuse)\b",
    r"\b(?:unable|not\s+able)\s+to\s+(?:help|assist|comply|provide|answer|fulfil|fulfill|rewrite|paraphrase"
    r"|generate|create|complete)\b",
    r"\bunfortunately,?\s+(?:I|we|this|that|there)\b",
    # AI disclaimers
    r"\bas\s+an?\s+(?:AI|artificial\s+intelligence|language\s+model|assistant|LLM)\b",
    r"\b(?:AI|large)\s+language\s+model\b",
    r"\bI(?:'m| am)\s+(?:just\s+|only\s+)?an?\s+(?:AI|assistant|language\s+model|chatbot)\b",
    # meta statements about the source instead of content
    r"\b(?:the|this|given|provided)\s+(?:text|passage|context|document|excerpt|paragraph|chunk)\s+"
    r"(?:does\s?n[o']t|does\s+not|did\s+not|doesn't)\s+(?:mention|provide|contain|say|state|specify|include"
    r"|discuss|give)\b",
    r"\b(?:there\s+is\s+)?no\s+(?:information|mention|details?)\s+(?:is\s+)?(?:given|provided|available"
    r"|about|regarding|on|in\s+the\s+(?:text|passage|context))\b",
    r"\bnot\s+(?:mentioned|specified|stated|provided|given)\s+in\s+the\s+(?:text|passage|context|document)\b",
    r"\b(?:cannot|can't|can\s+not)\s+be\s+(?:determined|answered|found)\s+from\b",
    r"\bI\s+(?:hope|trust)\s+this\s+helps\b",
    r"\b(?:please\s+)?(?:provide|share)\s+(?:me\s+with\s+)?(?:the|more)\s+(?:text|passage|context|details)\b",
    r"\bI\s+need\s+more\s+(?:information|context)\b",
    r"\b(?:is|are)\s+(?:not\s+)?(?:appropriate|inappropriate|harmful|offensive)\s+(?:content|to)\b",
)
_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)


def format_sources(passages: Sequence[str]) -> str:
    """Numbered sources, one block per passage.

    >>> print(format_sources(["The bridge opened in 1932.", "It carries six lanes."]))
    [1] The bridge opened in 1932.
    <BLANKLINE>
    [2] It carries six lanes.
    """
    if not passages:
        return NO_SOURCES
    return "\n\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, 1))


def system_prompt(passages: Sequence[str]) -> str:
    """The system message: instructions, then the numbered sources."""
    return f"{INSTRUCTIONS}\n\nSources:\n{format_sources(passages)}"


def rag_messages(question: str, passages: Sequence[str], answer: str | None = None) -> list[dict[str, str]]:
    """The chat ``messages`` (system, user[, assistant]) as plain dicts.

    >>> [m["role"] for m in rag_messages("When did it open?", ["It opened in 1932."], "In 1932 [1].")]
    ['system', 'user', 'assistant']
    """
    out = [{"role": "system", "content": system_prompt(passages)}, {"role": "user", "content": question}]
    if answer is not None:
        out.append({"role": "assistant", "content": answer})
    return out


def rag_prompt(question: str, passages: Sequence[str]) -> tuple[Message, ...]:
    """The prompt sent to an LLM backend (system + user)."""
    return tuple(Message(m["role"], m["content"]) for m in rag_messages(question, passages))


def template_id() -> str:
    """``name@hash`` of the prompt template (changes whenever the wording does).

    >>> template_id().startswith(TEMPLATE_NAME + "@")
    True
    """
    return f"{TEMPLATE_NAME}@{stable_hash([INSTRUCTIONS, NO_SOURCES, system_prompt(['{x}'])], 8)}"


def relevance_cutoff(kind: str, min_score: float | None = None) -> float:
    """The cut-off for a retriever kind: ``min_score`` when given, else the calibrated default.

    >>> relevance_cutoff("dense"), relevance_cutoff("bm25", 1.5)
    (0.3, 1.5)
    """
    if min_score is not None:
        return float(min_score)
    if kind not in CALIBRATED_MIN_SCORE:
        raise ValueError(
            f"retriever kind {kind!r} has no calibrated cut-off (known: {sorted(CALIBRATED_MIN_SCORE)}); "
            "set retrieval.min_score"
        )
    return CALIBRATED_MIN_SCORE[kind]


def select_hits(hits: Sequence[Hit], top_k: int, min_score: float) -> list[Hit]:
    """At most ``top_k`` hits scoring at least ``min_score``, re-ranked 1..n.

    >>> hits = [Hit("a", 0.9, 1, "A"), Hit("b", 0.2, 2, "B"), Hit("c", 0.5, 3, "C")]
    >>> [(h.chunk_id, h.rank) for h in select_hits(hits, 3, 0.3)]
    [('a', 1), ('c', 2)]
    """
    kept = [h for h in hits if h.score >= min_score][:top_k]
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(kept, 1)]


def is_refusal(text: str) -> bool:
    """True when ``text`` matches any pattern of :data:`REFUSAL_PATTERNS`.

    >>> is_refusal("I'm sorry, but I can't rewrite this text.")
    True
    >>> is_refusal("The passage does not mention the opening date.")
    True
    >>> is_refusal("The engineers could not use the north ramp.")
    False
    """
    return bool(_REFUSAL_RE.search(text))
