"""Gain beyond plain RAG: the searched context against the naive top-k one, extractively scored."""

from __future__ import annotations

import pytest

from teacherforge.rewards import (
    RetrievedRef,
    Rubric,
    Trajectory,
    Turn,
    gain_beyond_rag,
    get_reward,
    load_rubric,
)
from teacherforge.rewards.gain import NAIVE_CONTEXT_KEY

REFERENCE = "Tomas Reyl"
HOLDS = "The lighthouse was built in 1847 by the engineer Tomas Reyl."
MISSES = "The fish market opens at four in the morning."


def episode(agent_texts: list[str], naive: list[str] | None, answer: str = REFERENCE) -> Trajectory:
    refs = tuple(RetrievedRef(f"c{rank}", rank, 1.0 / rank, text) for rank, text in enumerate(agent_texts, 1))
    turns = (Turn("<search>lighthouse builder</search>", query="lighthouse builder", retrieved=refs),)
    metadata = {} if naive is None else {NAIVE_CONTEXT_KEY: naive}
    return Trajectory(
        "Who built the lighthouse?", REFERENCE, ("c1",), turns=turns, final_answer=answer, metadata=metadata
    )


@pytest.mark.parametrize(
    "agent, naive, gain",
    [
        ([MISSES, HOLDS], [MISSES], 1.0),  # the agent found what plain retrieval missed
        ([HOLDS], [MISSES, HOLDS], 0.0),  # both found it
        ([MISSES], [MISSES], 0.0),  # neither did
        ([MISSES], [HOLDS.upper()], -1.0),  # plain retrieval had it, the agent lost it
        ([], [HOLDS], -1.0),  # no search at all
    ],
)
def test_gain_is_searched_minus_naive_answer_quality(agent, naive, gain):
    assert gain_beyond_rag(episode(agent, naive)) == gain


def test_the_answer_must_be_in_one_context_not_spread_over_words():
    split = ["built by the engineer Tomas", "Reyl was his cousin"]
    assert gain_beyond_rag(episode(split, [MISSES])) == 0.0


def test_bounds_are_declared_and_the_rubric_counts_a_missing_naive_context():
    assert get_reward("gain_beyond_rag").bounds == (-1.0, 1.0)
    with pytest.raises(ValueError, match=r"needs metadata\['naive_context'\]"):
        gain_beyond_rag(episode([HOLDS], None))
    rubric = Rubric({"gain_beyond_rag": 1.0, "f1": 1.0})
    result = rubric(episode([HOLDS], None))
    assert result.errors == {"gain_beyond_rag": 1} and result.total == 1.0  # scored 0, counted
    assert rubric.bounds == (-1.0, 2.0)


def test_records_it_cannot_score_say_why():
    with pytest.raises(ValueError, match="list of texts"):
        gain_beyond_rag(episode([HOLDS], HOLDS))  # type: ignore[arg-type]
    unrecorded = Trajectory(
        "Who?",
        REFERENCE,
        ("c1",),
        turns=(Turn("<search>x</search>", query="x", retrieved=(RetrievedRef("c1", 1, 0.9),)),),
        metadata={NAIVE_CONTEXT_KEY: [MISSES]},
    )
    with pytest.raises(ValueError, match="saved without them"):
        gain_beyond_rag(unrecorded)


def test_the_s3_preset_rewards_the_gain_and_guards_the_answer():
    rubric = load_rubric("s3")
    assert rubric.weights["gain_beyond_rag"] == max(rubric.weights.values())
    found = rubric(episode([HOLDS], [MISSES])).total
    assert found > rubric(episode([HOLDS], [HOLDS])).total > rubric(episode([MISSES], [HOLDS])).total
    assert rubric(episode([HOLDS], [MISSES], answer="")).total < found
