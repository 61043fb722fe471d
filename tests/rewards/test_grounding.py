"""Faithfulness: the groundedness reward and the retrieved text it reads."""

from __future__ import annotations

import json

import pytest
from _rewardgen import episode

from teacherforge.rewards import RetrievedRef, Trajectory, Turn, get_reward
from teacherforge.rewards.answer import cited_numbers
from teacherforge.rewards.grounding import answer_support, groundedness, retrieved_texts

GOLD_TEXT = "Jim Lovell commanded the flight; Fred Haise was the pilot."
OTHER_TEXT = "The launch went as planned in April 1970."


def searched(answer_text, *hits):
    """An episode whose one search retrieved ``hits`` (chunk id, text) at ranks 1..n."""
    refs = tuple(RetrievedRef(cid, rank, 1.0 / rank, text) for rank, (cid, text) in enumerate(hits, start=1))
    return episode(
        Turn("<search>commander</search>", query="commander", retrieved=refs), final_answer=answer_text
    )


def test_support_is_the_share_of_answer_tokens_in_the_retrieved_text():
    hits = [("g", GOLD_TEXT), ("x", OTHER_TEXT)]
    assert groundedness(searched("Jim Lovell", *hits)) == 1.0
    assert groundedness(searched("Jim Lovell in 1970", *hits)) == 1.0  # tokens from two hits
    assert groundedness(searched("Jim Lovell and Ken Mattingly", *hits)) == pytest.approx(2 / 5)
    assert groundedness(searched("Neil Armstrong", *hits)) == 0.0


def test_no_answer_or_no_recorded_text_scores_zero():
    assert groundedness(searched(None, ("g", GOLD_TEXT))) == 0.0
    assert groundedness(searched("", ("g", GOLD_TEXT))) == 0.0
    assert groundedness(searched("Jim Lovell", ("g", ""))) == 0.0  # a rollout saved without hit texts
    assert groundedness(episode(final_answer="Jim Lovell")) == 0.0  # no search at all


def test_citations_must_name_retrieved_hits_that_hold_the_answer():
    hits = [("g", GOLD_TEXT), ("x", OTHER_TEXT)]
    assert cited_numbers("Jim Lovell [1], [2, 3]") == [1, 2, 3]
    assert groundedness(searched("Jim Lovell [1]", *hits)) == 1.0
    assert groundedness(searched("Jim Lovell [2]", *hits)) == 0.0  # cites a hit that does not hold it
    assert groundedness(searched("Jim Lovell [1] [2]", *hits)) == 0.5  # one of two citations is valid
    assert groundedness(searched("Jim Lovell [1, 7]", *hits)) == 0.5  # [7] was never retrieved
    # the cited hit holds only part of the answer: support is measured on the cited hits only
    assert groundedness(searched("Jim Lovell in 1970 [1]", *hits)) == pytest.approx(2 / 4)


def test_a_correct_answer_the_sources_do_not_hold_is_not_grounded():
    traj = searched("Jim Lovell", ("x", OTHER_TEXT))
    assert get_reward("exact_match")(traj) == 1.0 and get_reward("groundedness")(traj) == 0.0


def test_answer_support_and_retrieved_texts():
    assert answer_support("The Pump [1]!", ["a pump"]) == 1.0
    assert answer_support("pump", []) == 0.0 and answer_support("", ["pump"]) == 0.0
    traj = searched("x", ("g", GOLD_TEXT), ("y", ""), ("x", OTHER_TEXT))
    assert retrieved_texts(traj) == [GOLD_TEXT, OTHER_TEXT]


def test_retrieved_text_round_trips_and_old_records_still_load():
    traj = searched("Jim Lovell", ("g", GOLD_TEXT), ("x", ""))
    record = json.loads(json.dumps(traj.to_json()))
    refs = record["turns"][0]["retrieved"]
    assert refs[0]["text"] == GOLD_TEXT and "text" not in refs[1]  # no text, no key: old files stay alike
    assert Trajectory.from_json(record) == traj
    old = {
        "question": "q",
        "gold_answer": "a",
        "gold_chunk_ids": ["g"],
        "turns": [{"text": "t", "query": "q", "retrieved": [{"chunk_id": "g", "rank": 1, "score": 0.5}]}],
    }
    assert Trajectory.from_json(old).turns[0].retrieved[0].text == ""
    bad = dict(old, turns=[{"text": "t", "retrieved": [{"chunk_id": "g", "rank": 1, "text": 3}]}])
    with pytest.raises(ValueError, match=r"'turns\[0\]\.retrieved\[0\]\.text': expected a string"):
        Trajectory.from_json(bad)


def test_the_environment_records_the_text_it_showed():
    from types import SimpleNamespace

    from teacherforge.config import EnvConfig
    from teacherforge.envs.episode import SearchEpisode
    from teacherforge.envs.protocol import Tags
    from teacherforge.records import Question
    from teacherforge.types import Hit

    task = SimpleNamespace(config=EnvConfig(max_turns=3), tags=Tags())
    ep = SearchEpisode(task, Question("q0", "g", "Who commanded it?", "Jim Lovell", source_chunk_ids=("g",)))
    ep.advance(ep.parse("<search>commander</search>"), [Hit("g", 0.9, 1, GOLD_TEXT)])
    ep.advance(ep.parse("<answer>Jim Lovell [1]</answer>"))
    traj = ep.trajectory()
    assert traj.turns[0].retrieved[0].text == GOLD_TEXT
    assert groundedness(traj) == 1.0
