"""The RAG pieces shared by the teacher and evaluation: prompt, hit selection, refusal detection."""

from __future__ import annotations

import pytest

from teacherforge import rag
from teacherforge.rag import is_refusal, rag_prompt, relevance_cutoff, select_hits
from teacherforge.types import Hit


def test_prompt_numbers_the_sources_and_asks_the_question():
    system, user = rag_prompt("Who built it?", ["First  passage.", "Second\npassage."])
    assert (system.role, user.role, user.content) == ("system", "user", "Who built it?")
    assert system.content.endswith("Sources:\n[1] First passage.\n\n[2] Second passage.")
    assert rag_prompt("q", [])[0].content.endswith(rag.NO_SOURCES)


def test_template_id_changes_with_the_wording(monkeypatch):
    before = rag.template_id()
    monkeypatch.setattr(rag, "INSTRUCTIONS", rag.INSTRUCTIONS + " Be brief.")
    assert rag.template_id() != before


def test_select_hits_applies_the_cutoff_then_top_k_and_reranks():
    hits = [
        Hit(c, s, i, c.upper())
        for i, (c, s) in enumerate([("a", 0.9), ("b", 0.1), ("c", 0.5), ("d", 0.4)], 1)
    ]
    kept = select_hits(hits, top_k=2, min_score=relevance_cutoff("dense"))
    assert [(h.chunk_id, h.rank) for h in kept] == [("a", 1), ("c", 2)]
    assert select_hits(hits, top_k=5, min_score=1.0) == []


def test_relevance_cutoff_override_and_unknown_kind():
    assert relevance_cutoff("hybrid") == rag.CALIBRATED_MIN_SCORE["hybrid"]
    assert relevance_cutoff("unknown", 0.7) == 0.7
    with pytest.raises(ValueError, match=r"'unknown'.*\['bm25', 'dense', 'hybrid'\].*retrieval.min_score"):
        relevance_cutoff("unknown")


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "As an AI language model, I cannot paraphrase this.",
        "I apologize, the request is unclear.",
        "Unfortunately, I am unable to rewrite the passage.",
        "The text does not mention any pressure values.",
        "I do not have access to the document.",
        "I cannot provide a paraphrase of this content.",
        "Please provide the text you want rewritten.",
        "There is no information about the crew in the passage.",
        "I am just an AI assistant.",
        "I won't rewrite this.",
        "This cannot be determined from the passage.",
    ],
)
def test_refusal_detector_catches_refusals(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "The crew could not use the service module engine after the explosion.",
        "Mission control was unable to restore power to the fuel cells.",
        "No damage to the heat shield was found during the inspection.",
        "The astronauts apologized to nobody; they simply worked the checklist.",
        "Lovell said the spacecraft was venting something into space.",
    ],
)
def test_refusal_detector_keeps_technical_prose(text):
    assert not is_refusal(text)
