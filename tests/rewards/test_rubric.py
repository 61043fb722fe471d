"""Rubric: weighted sum, unweighted breakdown, bounds, and error handling."""

from __future__ import annotations

import logging
import math

import pytest
from _rewardgen import answer, episode, search

from teacherforge.rewards import Rubric, RubricResult, make_judge_reward


def boom(traj):
    raise RuntimeError("reward exploded")


def test_weighted_sum_and_unweighted_breakdown():
    rubric = Rubric({"exact_match": 2.0, "retrieval_match": 0.5, "search_efficiency": -1.0})
    traj = episode(search("a", "x"), search("b", "g"), answer("Jim Lovell"), final_answer="Jim Lovell")
    result = rubric(traj)
    assert isinstance(result, RubricResult)
    assert result.breakdown == {"exact_match": 1.0, "retrieval_match": 1.0, "search_efficiency": 0.5}
    assert result.total == pytest.approx(2.0 + 0.5 - 0.5)
    assert result.errors == {}
    assert rubric.bounds == (-1.0, 2.5)
    assert rubric.names == ["exact_match", "retrieval_match", "search_efficiency"]


def test_zero_weight_components_are_reported_but_not_added():
    result = Rubric({"f1": 1.0, "format": 0.0})(episode(final_answer="Haise"))
    assert result.breakdown["format"] == 1.0
    assert result.total == 0.0


def test_on_error_zero_counts_and_logs_the_first_traceback(caplog):
    rubric = Rubric({"f1": 1.0, "boom": 3.0}, rewards={"boom": boom})
    with caplog.at_level(logging.DEBUG, logger="teacherforge.rewards.rubric"):
        first = rubric(episode(final_answer="Jim Lovell", question_id="q-7"))
        second = rubric(episode(final_answer="Jim Lovell"))
    assert first.total == 1.0
    assert first.breakdown == {"f1": 1.0, "boom": 0.0, "reward_errors/boom": 1.0}
    assert first.errors == {"boom": 1} and second.errors == {"boom": 1}
    assert rubric.error_counts["boom"] == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # first traceback at ERROR, the rest at DEBUG
    assert "boom" in errors[0].getMessage() and "q-7" in errors[0].getMessage()
    assert errors[0].exc_info is not None and "reward exploded" in caplog.text


def test_on_error_raise_reraises():
    rubric = Rubric({"f1": 1.0, "boom": 1.0}, on_error="raise", rewards={"boom": boom})
    with pytest.raises(RuntimeError, match="reward exploded"):
        rubric(episode(final_answer="x"))


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, "high", None, 1.5, -0.1])
def test_invalid_reward_values_are_errors(bad_value):
    def bad(traj):
        return bad_value

    bad.bounds = (0.0, 1.0)
    result = Rubric({"bad": 1.0}, rewards={"bad": bad})(episode())
    assert result.errors == {"bad": 1} and result.total == 0.0
    with pytest.raises(ValueError, match="'bad' returned"):
        Rubric({"bad": 1.0}, on_error="raise", rewards={"bad": bad})(episode())


def test_unbounded_user_reward_makes_unbounded_total():
    rubric = Rubric({"f1": 1.0, "len": 0.1}, rewards={"len": lambda t: float(len(t.final_answer or ""))})
    assert rubric(episode(final_answer="abcd")).total == pytest.approx(0.4)
    assert rubric.bounds == (-math.inf, math.inf)


def test_judge_needs_injection():
    with pytest.raises(ValueError, match="injected"):
        Rubric({"judge": 1.0})
    rubric = Rubric({"judge": 1.0}, rewards={"judge": make_judge_reward(lambda q, r, a: 0.25)})
    assert rubric(episode(final_answer="x")).breakdown == {"judge": 0.25}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {}}, "non-empty"),
        ({"weights": {"f1": "1"}}, "weight of reward 'f1' must be a finite number"),
        ({"weights": {"f1": math.nan}}, "finite"),
        ({"weights": {"f1": True}}, "finite"),
        ({"weights": {"f1": 1.0}, "on_error": "ignore"}, "on_error"),
        ({"weights": {"f1": 1.0}, "rewards": {"extra": boom}}, "no weight"),
    ],
)
def test_bad_rubric_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rubric(**kwargs)


class LongestAnswer:
    """A per-group reward: 1.0 for the longest final answer of the group, else 0.0; records its calls."""

    bounds = (0.0, 1.0)
    scope = "group"

    def __init__(self, values=None):
        self.calls = []
        self.values = values

    def __call__(self, trajs):
        self.calls.append(len(trajs))
        if self.values is not None:
            return self.values
        lengths = [len(t.final_answer or "") for t in trajs]
        return [float(n == max(lengths)) for n in lengths]


def test_per_group_component_scores_the_whole_group_once():
    longest = LongestAnswer()
    rubric = Rubric({"longest": 1.0, "exact_match": 2.0}, rewards={"longest": longest})
    assert rubric.group_names == ["longest"] and rubric.scopes == {
        "longest": "group",
        "exact_match": "sample",
    }
    group = [episode(final_answer=a) for a in ("Haise", "Jim Lovell", "")]
    results = rubric.score_group(group)
    assert longest.calls == [3]
    assert [r.breakdown for r in results] == [
        {"longest": 0.0, "exact_match": 0.0},
        {"longest": 1.0, "exact_match": 1.0},
        {"longest": 0.0, "exact_match": 0.0},
    ]
    assert [r.total for r in results] == [0.0, 3.0, 0.0]
    assert rubric(group[0]).breakdown["longest"] == 1.0  # one trajectory is a group of one
    assert rubric.score_many(group[:2]) == [rubric(group[0]), rubric(group[1])]
    assert longest.calls == [3] + [1] * 5


@pytest.mark.parametrize(
    ("values", "failed"),
    [
        (RuntimeError("judge down"), [True, True, True]),  # the call fails: every sample of the group
        ([1.0, 0.0], [True, True, True]),  # wrong number of scores
        ([1.0, 7.0, 0.5], [False, True, False]),  # one score out of bounds: that sample
    ],
)
def test_per_group_errors_count_per_sample(values, failed):
    def bad(trajs):
        if isinstance(values, Exception):
            raise values
        return values

    bad.scope, bad.bounds = "group", (0.0, 1.0)
    rubric = Rubric({"bad": 1.0, "f1": 1.0}, rewards={"bad": bad})
    results = rubric.score_group([episode(final_answer="Jim Lovell")] * 3)
    assert [r.errors.get("bad") == 1 for r in results] == failed
    assert [r.breakdown["f1"] for r in results] == [1.0] * 3  # other components unaffected
    assert rubric.error_counts["bad"] == sum(failed)
    with pytest.raises((RuntimeError, ValueError)):
        Rubric({"bad": 1.0}, on_error="raise", rewards={"bad": bad}).score_group([episode()] * 3)


def test_register_a_per_group_reward():
    from teacherforge.rewards import get_reward, register_reward, reward_scope, unregister_reward

    @register_reward("test_group_share_answered", scope="group")
    def share_answered(trajs):
        share = sum(t.final_answer is not None for t in trajs) / len(trajs)
        return [share] * len(trajs)

    try:
        assert reward_scope(get_reward("test_group_share_answered")) == "group"
        results = Rubric({"test_group_share_answered": 1.0}).score_group(
            [episode(final_answer="x"), episode()]
        )
        assert [r.total for r in results] == [0.5, 0.5]
    finally:
        unregister_reward("test_group_share_answered")
    with pytest.raises(ValueError, match="scope must be one of"):
        register_reward("test_bad_scope", scope="batch")
