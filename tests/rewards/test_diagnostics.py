"""Reward-hacking diagnostics and the stdlib statistics behind them."""

from __future__ import annotations

import pytest
from _rewardgen import episode, search

from teacherforge.rewards import Rubric, hacking_diagnostics
from teacherforge.rewards.diagnostics import flatten_diagnostics
from teacherforge.rewards.stats import pearson, ranks, spearman


def test_length_hacking_shows_up_in_the_f1_component():
    # long answers that stuff tokens score higher F1 here: the report must show it
    trajs = [
        episode(search("commander", "g"), final_answer="Jim Lovell commander astronaut navy captain"),
        episode(
            search("commander", "g"), search("Commander!", "g"), final_answer="Lovell and Haise and Swigert"
        ),
        episode(final_answer="Haise"),
        episode(final_answer="no"),
    ]
    rubric = Rubric({"f1": 1.0, "retrieval_match": 0.5, "boom": 0.0}, rewards={"boom": lambda t: 1 / 0})
    results = rubric.score_many(trajs)
    report = hacking_diagnostics(trajs, results)
    assert report["n"] == 4
    overall = report["overall"]
    assert overall["search_count"]["mean"] == 0.75
    assert overall["repeated_query_rate"] == 0.25
    assert overall["answered_rate"] == 1.0
    f1 = report["components"]["f1"]
    assert f1["high"]["answer_length"] > f1["low"]["answer_length"]
    assert f1["corr"]["answer_length"] > 0.5
    rm = report["components"]["retrieval_match"]
    assert rm["high"]["n"] == 2 and rm["high"]["search_count"] == 1.5 and rm["low"]["search_count"] == 0.0
    assert rm["corr"]["repeated_queries"] == pytest.approx(pearson([1, 1, 0, 0], [0, 1, 0, 0]))
    assert "reward_errors/boom" not in report["components"]
    assert report["components"]["boom"]["high"] is None  # constant component: no split
    flat = flatten_diagnostics(report)
    assert flat["hacking/components/f1/high/answer_length"] == f1["high"]["answer_length"]
    assert all(isinstance(v, float) for v in flat.values())


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="2 trajectories but 1 breakdowns"):
        hacking_diagnostics([episode(), episode()], [{}])


def test_stats():
    assert ranks([3, 1, 2]) == [3.0, 1.0, 2.0]
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert pearson([1], [2]) is None
    assert pearson([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pearson([1, 2], [1])


def test_hacking_flag_rules():
    from teacherforge.rewards import RetrievedRef, Turn, hacking_flags

    assert hacking_flags(episode(final_answer="The [1]")) == ["empty_answer"]  # normalises to nothing
    assert hacking_flags(episode(final_answer=None)) == []  # no answer at all is not an empty answer
    assert hacking_flags(episode(final_answer="an", gold_answer="a")) == []  # the reference is empty too
    assert hacking_flags(episode(final_answer="Jim Lovell</search>")) == ["malformed_tags"]
    assert hacking_flags(episode(final_answer="Jim Lovellish")) == []  # a substring, not a whole word
    long = " ".join(["word"] * 19)
    assert hacking_flags(episode(final_answer=long + " more")) == [
        "context_paste"
    ]  # by length: no texts kept
    assert hacking_flags(episode(final_answer=long)) == []  # 19 tokens: under the length floor
    texts = episode(
        Turn("s", query="q", retrieved=(RetrievedRef("g", 1, 0.5, "unrelated passage"),)),
        final_answer=long + " Jim Lovell",
    )
    assert hacking_flags(texts) == ["substring_only"]  # long, but not copied from the retrieved text
    flood = [search(f"query {i}", "x") for i in range(5)]
    assert hacking_flags(episode(*flood[:4], final_answer="Jim Lovell")) == []
    assert hacking_flags(episode(*flood, final_answer="Jim Lovell")) == ["search_flood"]
