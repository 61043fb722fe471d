"""Built-in rewards: doctests, value tests and property tests (None/empty/unicode, random turns)."""

from __future__ import annotations

import doctest
import importlib
import math
import pkgutil

import pytest
from _rewardgen import answer, episode, search, trajectories
from hypothesis import HealthCheck, given, settings

import teacherforge.rewards as rewards_pkg
from teacherforge.rewards import (
    Trajectory,
    Turn,
    exact_match,
    f1,
    format_reward,
    get_reward,
    make_judge_reward,
    make_retry_reward,
    make_search_diversity_reward,
    retrieval_match,
    retrieval_rank,
    retry,
    search_cost,
    search_diversity,
    search_efficiency,
)
from teacherforge.rewards import (
    answer as answer_mod,
)
from teacherforge.rewards import (
    format as format_mod,
)
from teacherforge.rewards import (
    grounding as grounding_mod,
)
from teacherforge.rewards import (
    registry as registry_mod,
)
from teacherforge.rewards import (
    retrieval as retrieval_mod,
)
from teacherforge.rewards import (
    search as search_mod,
)
from teacherforge.rewards import (
    stepwise as stepwise_mod,
)

BUILTINS = [
    "retrieval_match",
    "retrieval_rank",
    "exact_match",
    "f1",
    "format",
    "retry",
    "search_diversity",
    "search_efficiency",
    "search_cost",
    "info_gain",
    "redundancy",
    "groundedness",
]


@pytest.mark.parametrize(
    "module_name",
    sorted(info.name for info in pkgutil.walk_packages(rewards_pkg.__path__, prefix="teacherforge.rewards.")),
)
def test_doctests(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module)
    assert result.failed == 0
    if module in (
        retrieval_mod,
        answer_mod,
        format_mod,
        search_mod,
        registry_mod,
        stepwise_mod,
        grounding_mod,
    ):
        assert result.attempted > 0


@pytest.mark.parametrize("name", [*BUILTINS, "judge"])
def test_every_builtin_has_a_doctest_and_bounds(name):
    fn = get_reward(name)
    assert ">>>" in (fn.__doc__ or ""), f"{name} has no doctest"
    low, high = fn.bounds
    assert low <= high


# value tests ------------------------------------------------------------------------------
def test_retrieval_match_and_rank():
    traj = episode(
        search("crew", "x", "y"), search("commander", "z", "g"), answer("Lovell"), final_answer="Lovell"
    )
    assert retrieval_match(traj) == 1.0
    assert retrieval_rank(traj) == 0.5
    # best rank over all turns and all gold ids
    two = episode(search("a", "x", "y", "g"), search("b", "h", "x"), gold=("g", "h"))
    assert retrieval_rank(two) == 1.0
    assert retrieval_rank(episode(search("a", "x", "y", "g"), search("b", "x", "g"))) == 0.5
    miss = episode(search("crew", "x"), final_answer="Lovell")
    assert retrieval_match(miss) == 0.0 and retrieval_rank(miss) == 0.0


def test_exact_match_and_f1_use_squad_normalisation():
    assert exact_match(episode(final_answer="  the JIM lovell!! ")) == 1.0
    assert exact_match(episode(final_answer="Lovell")) == 0.0
    assert f1(episode(final_answer="Lovell")) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert f1(episode(final_answer="Fred Haise")) == 0.0
    assert f1(episode(final_answer=None)) == 0.0


def test_judge_reward_clamps_and_skips_missing_answers():
    calls = []

    def judge(question, reference, answer_text):
        calls.append((question, reference, answer_text))
        return {"Lovell": 0.8, "Haise": -3.0, "Swigert": 9}[answer_text]

    reward = make_judge_reward(judge)
    assert reward(episode(final_answer="Lovell")) == 0.8
    assert reward(episode(final_answer="Haise")) == 0.0
    assert reward(episode(final_answer="Swigert")) == 1.0
    assert reward(episode(final_answer=None)) == 0.0
    assert reward(episode(final_answer="   ")) == 0.0
    assert calls[0] == ("Who commanded Apollo 13?", "Jim Lovell", "Lovell")
    assert len(calls) == 3
    with pytest.raises(ValueError, match="NaN"):
        make_judge_reward(lambda q, r, a: math.nan)(episode(final_answer="x"))
    with pytest.raises(ValueError, match="expected a number"):
        make_judge_reward(lambda q, r, a: "yes")(episode(final_answer="x"))
    with pytest.raises(RuntimeError, match="make_judge_reward"):
        get_reward("judge")(episode(final_answer="x"))


def test_format_scale():
    bad = Turn("hmm", malformed="no action tag")
    assert format_reward(episode(search("q", "g"), answer("x"), final_answer="x")) == 1.0
    assert format_reward(episode(bad, answer("x"), final_answer="x")) == 0.75
    assert format_reward(episode(search("q", "g"), search("r", "g"))) == 0.5
    assert format_reward(episode(bad, bad)) == 0.0
    assert format_reward(episode(final_answer="x")) == 1.0
    assert format_reward(episode()) == 0.0
    assert format_reward(episode(answer(""), final_answer="")) == 0.5  # blank answer is no answer


def test_retry_counts_searches_after_a_miss_only_with_an_answer():
    miss, hit = search("a", "x"), search("b", "g")
    assert retry(episode(miss, hit, answer("L"), final_answer="L")) == pytest.approx(1 / 3)
    assert retry(episode(miss, miss, miss, miss, hit, final_answer="L")) == 1.0  # capped at 3
    assert retry(episode(hit, hit, final_answer="L")) == 0.0  # searching again after a hit is no retry
    assert retry(episode(miss, hit)) == 0.0  # no answer, no credit
    assert make_retry_reward(cap=1)(episode(miss, hit, final_answer="L")) == 1.0
    with pytest.raises(ValueError, match="cap"):
        make_retry_reward(cap=0)


def test_search_diversity_penalises_near_duplicates():
    assert search_diversity(episode(search("oxygen tank failure"), search("crew of apollo 13"))) == 1.0
    assert search_diversity(episode(search("oxygen tank"), search("Oxygen TANK?"))) == 0.0
    # 4 of 5 shared tokens: Jaccard 0.8 → duplicate; 3 of 5: 0.6 → distinct
    assert search_diversity(episode(search("a b c d"), search("a b c d e"))) == 0.0
    assert search_diversity(episode(search("a b c"), search("a b c d e"))) == 1.0
    assert search_diversity(episode()) == 1.0
    assert make_search_diversity_reward(0.6)(episode(search("a b c"), search("a b c d e"))) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        make_search_diversity_reward(0.0)


def test_retry_stops_counting_at_the_first_gold_hit():
    """A flood of throwaway searches after the hit is no retry (the ReZero flood hack)."""
    miss, hit = search("a", "x"), search("b", "g")
    assert retry(episode(hit, miss, miss, miss, final_answer="L")) == 0.0
    assert retry(episode(miss, hit, miss, miss, final_answer="L")) == pytest.approx(1 / 3)


def test_search_cost_is_the_share_of_the_turn_budget_spent_on_extra_searches():
    searches = [search(q, "g") for q in "abcdef"]
    assert search_cost(episode(searches[0], final_answer="L", max_turns=5)) == 0.0
    assert search_cost(episode(*searches[:3], max_turns=5)) == 0.5
    assert search_cost(episode(*searches, max_turns=5)) == 1.0  # clipped
    assert search_cost(episode(*searches[:2], max_turns=1)) == 1.0
    assert search_cost(episode(Turn("x", malformed="no_tag"), searches[0])) == 0.0  # malformed turns are free


def test_search_efficiency():
    assert search_efficiency(episode(search("a", "g"))) == 1.0
    assert (
        search_efficiency(episode(search("a", "x"), Turn("oops", malformed="no tag"), search("b", "x", "g")))
        == 0.5
    )
    assert search_efficiency(episode(search("a", "x"))) == 0.0
    assert search_efficiency(episode()) == 0.0


def test_paraphrase_hits_count_like_original_hits():
    # the paraphrased index maps hits back to the original chunk id: same score as an original hit
    assert retrieval_match(episode(search("reworded", "g"))) == retrieval_match(episode(search("orig", "g")))


# property tests ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILTINS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traj=trajectories)
def test_builtins_are_finite_and_within_bounds(name, traj: Trajectory):
    fn = get_reward(name)
    score = fn(traj)
    assert isinstance(score, float)
    assert math.isfinite(score)
    low, high = fn.bounds
    assert low <= score <= high


@settings(max_examples=150, deadline=None)
@given(traj=trajectories)
def test_judge_reward_within_bounds_for_any_answer(traj: Trajectory):
    reward = make_judge_reward(lambda q, r, a: len(a) - 3.5)
    assert 0.0 <= reward(traj) <= 1.0


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("final_answer", [None, "", "   ", "ÆØÅ ünïcödé 答案 🚀", "\x00\x1f"])
def test_builtins_handle_none_empty_and_unicode_answers(name, final_answer):
    traj = episode(search("ünïcödé 答案", "g"), final_answer=final_answer, gold_answer="答案")
    score = get_reward(name)(traj)
    assert math.isfinite(score)
