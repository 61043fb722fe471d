"""Step-wise search rewards: per-turn information gain and redundancy, and their aggregation."""

from __future__ import annotations

import pytest
from _rewardgen import answer, episode, search

from teacherforge.rewards import RetrievedRef, Turn, get_reward
from teacherforge.rewards.stepwise import (
    aggregate_turns,
    info_gain,
    make_info_gain_reward,
    make_redundancy_reward,
    redundancy,
    search_steps,
)


def test_per_turn_values_of_a_multi_hop_search():
    """Gold g1 found at rank 2, then g2 at rank 1 next to g1 again, then a repeat of the first query."""
    traj = episode(
        search("crew of the flight", "x", "g1"),
        Turn("oops", malformed="no_tag"),
        search("commander name", "g2", "g1", "y"),
        search("Crew of the flight?", "x", "g1"),
        answer("Jim Lovell"),
        gold=("g1", "g2"),
        final_answer="Jim Lovell",
    )
    steps = search_steps(traj)
    assert [(s.turn, s.search, s.query) for s in steps] == [
        (1, 1, "crew of the flight"),
        (3, 2, "commander name"),
        (4, 3, "Crew of the flight?"),
    ]
    assert [s.new_gold for s in steps] == [("g1",), ("g2",), ()]
    assert [s.info_gain for s in steps] == [0.5, 1.0, 0.0]
    # 1/3 of the second search's hits (g1) was seen; the third repeats query and hits entirely
    assert [s.redundancy for s in steps] == pytest.approx([0.0, 0.5 / 3, 1.0])
    assert info_gain(traj) == 1.0  # 0.5 + 1.0, capped
    assert make_info_gain_reward("discounted", gamma=0.5)(traj) == pytest.approx(0.5 + 0.5 * 1.0)
    assert redundancy(traj) == 1.0
    assert make_redundancy_reward("discounted", gamma=0.5)(traj) == pytest.approx(
        0.5 * (0.5 / 3) + 0.25 * 1.0
    )


def test_gain_is_rank_aware_and_counts_each_gold_chunk_once():
    assert info_gain(episode(search("a", "x", "y", "z", "g"))) == 0.25
    assert info_gain(episode(search("a", "x", "g"), search("b", "g"))) == 0.5  # seen before: no new gain
    assert info_gain(episode(search("a", "x"))) == 0.0 and info_gain(episode()) == 0.0


def test_near_duplicate_threshold_and_fresh_searches():
    fresh = episode(search("oxygen", "a"), search("valve", "b"))
    assert redundancy(fresh) == 0.0
    near = episode(search("a b c", "a"), search("a b c d e", "b"))  # Jaccard 0.6: distinct at 0.8
    assert redundancy(near) == 0.0
    assert make_redundancy_reward(threshold=0.6)(near) == 0.5
    assert redundancy(episode(search("empty"), search("empty"))) == 0.5  # no hits: only the query repeats


def test_aggregation_rules_and_bad_settings():
    assert aggregate_turns([0.25, 0.25]) == 0.5
    assert aggregate_turns([0.0, 1.0], "discounted", gamma=0.9) == pytest.approx(0.9)
    assert aggregate_turns([]) == 0.0
    with pytest.raises(ValueError, match="aggregate must be one of"):
        make_info_gain_reward("mean")
    with pytest.raises(ValueError, match="gamma"):
        make_redundancy_reward("discounted", gamma=0.0)
    with pytest.raises(ValueError, match="threshold"):
        make_redundancy_reward(threshold=1.5)


def test_registered_with_bounds_and_factories():
    for name in ("info_gain", "redundancy"):
        fn = get_reward(name)
        assert fn.bounds == (0.0, 1.0) and fn.factory is not None


def test_unranked_hits_count_as_rank_one():
    traj = episode(Turn("<search>a</search>", query="a", retrieved=(RetrievedRef("g", 0, 0.1),)))
    assert info_gain(traj) == 1.0
