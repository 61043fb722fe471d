"""The relative group judge: one call per group, scores in the judge's order, lenient parsing,
counted fallbacks, a reply cache, and the replay path regrouping saved trajectories."""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import pytest

from teacherforge.rewards import (
    RetrievedRef,
    Rubric,
    Trajectory,
    Turn,
    f1,
    get_reward,
    load_rubric,
    make_group_judge,
    parse_group_scores,
)
from teacherforge.rewards.replay import replay
from teacherforge.rewards.ruler import group_prompt, shared_prefix

REFERENCE = "Ada Byron"
#: how the scripted judge rates a final answer
RATING = {"Ada Byron": 1.0, "Byron": 0.6, "Babbage": 0.1}
_BLOCK = re.compile(r"^Trajectory (\d+):\n(.*?)(?=^Trajectory \d+:|^Score the)", re.M | re.S)


class ScriptedJudge:
    """A judge LLM double: reads the trajectories off the prompt and rates each final answer."""

    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def __call__(self, system: str, user: str) -> str:
        self.prompts.append(user)
        if self.reply is not None:
            return self.reply
        scores = []
        for number, block in _BLOCK.findall(user):
            answer = re.search(r"^Final answer: (.*)$", block, re.M)
            scores.append(RATING.get(answer.group(1), 0.0) if answer else 0.0)
            assert int(number) == len(scores)
        return f"Here you go:\n```json\n{json.dumps({'scores': scores})}\n```"


def episode(answer: str | None, question: str = "Who wrote the notes?", **extra) -> Trajectory:
    search = Turn(
        "<search>who wrote the notes</search>",
        query="who wrote the notes",
        retrieved=(RetrievedRef("c1", 1, 0.9, "The notes were written by Ada Byron in 1843."),),
    )
    turns = (search, Turn(f"<answer>{answer}</answer>")) if answer is not None else (search,)
    return Trajectory(question, REFERENCE, ("c1",), turns=turns, final_answer=answer, **extra)


def group(*answers: str | None) -> list[Trajectory]:
    return [episode(a) for a in answers]


def test_a_ranking_becomes_scores_in_trajectory_order():
    judge = ScriptedJudge()
    rubric = Rubric({"ruler": 1.0}, rewards={"ruler": make_group_judge(judge)})
    for answers in (["Babbage", "Ada Byron", "Byron", None], [None, "Byron", "Babbage", "Ada Byron"]):
        results = rubric.score_group(group(*answers))
        assert [r.breakdown["ruler"] for r in results] == [RATING.get(a, 0.0) for a in answers]
    assert not rubric.error_counts


def test_ties_stay_ties():
    ruler = make_group_judge(ScriptedJudge('{"scores": [0.5, 0.5, 1, 1]}'))
    assert ruler(group("Byron", "Byron", "Ada Byron", "Ada Byron")) == [0.5, 0.5, 1.0, 1.0]
    assert ruler.stats["fallbacks"] == 0


def test_one_call_per_group_not_per_sample():
    judge = ScriptedJudge()
    ruler = make_group_judge(judge)
    rubric = Rubric({"ruler": 1.0, "f1": 0.5}, rewards={"ruler": ruler})
    results = rubric.score_group(group("Ada Byron", "Byron", "Babbage", None))
    assert len(results) == 4 and ruler.stats["calls"] == 1 and len(judge.prompts) == 1
    assert "Trajectory 4:" in judge.prompts[0] and "Trajectory 5:" not in judge.prompts[0]
    assert results[0].total == pytest.approx(1.0 + 0.5)


def test_the_shared_prefix_is_shown_once():
    trajs = group("Ada Byron", "Babbage")
    system, user = group_prompt(trajs)
    assert "Reply with JSON only" in system and '"scores"' in system
    assert user.count("<search>who wrote the notes</search>") == 1
    assert user.index("Shared beginning of every trajectory:") < user.index("Trajectory 1:")
    assert "Final answer: Ada Byron" in user and "Final answer: Babbage" in user
    assert shared_prefix(["x\nsame\n", "y\nsame\n"]) == ""  # only a common beginning is shared


def test_a_garbled_reply_falls_back_counted_and_logged(caplog):
    trajs = group("Ada Byron", "Byron", "Babbage")
    ruler = make_group_judge(ScriptedJudge("I cannot decide between them."), fallback=0.25)
    with caplog.at_level(logging.WARNING, logger="teacherforge.rewards.ruler"):
        assert ruler(trajs) == [0.25, 0.25, 0.25]
    assert ruler.stats == {"calls": 1, "cache_hits": 0, "fallbacks": 3, "partial": 0}
    assert "no score could be read" in caplog.text and "fallback 0.25" in caplog.text
    by_f1 = make_group_judge(ScriptedJudge("???"), fallback="f1")
    assert by_f1(trajs) == [f1(t) for t in trajs] == [1.0, pytest.approx(2 / 3), 0.0]


def test_a_partial_reply_fills_the_gaps_with_the_fallback():
    ruler = make_group_judge(ScriptedJudge("Trajectory 1: 0.9\nTrajectory 3: 0.1"), fallback=0.5)
    assert ruler(group("Ada Byron", "Byron", "Babbage", None)) == [0.9, 0.5, 0.1, 0.5]
    assert (ruler.stats["partial"], ruler.stats["fallbacks"]) == (1, 2)


def test_an_unreachable_judge_falls_back_and_is_asked_again():
    calls = []

    def unreachable(system: str, user: str) -> str:
        calls.append(user)
        raise ConnectionError("connection refused")

    ruler = make_group_judge(unreachable)
    trajs = group("Ada Byron", "Babbage")
    assert ruler(trajs) == [1.0, 0.0]  # the F1 fallback
    assert ruler(trajs) == [1.0, 0.0] and len(calls) == 2  # a failure is not cached
    assert ruler.stats["fallbacks"] == 4


def test_replies_are_cached_by_group_content():
    judge = ScriptedJudge()
    cache: dict[str, str] = {}
    ruler = make_group_judge(judge, cache=cache)
    trajs = group("Ada Byron", "Babbage")
    first = ruler(trajs)
    assert ruler(trajs) == first and ruler.stats["calls"] == 1 and ruler.stats["cache_hits"] == 1
    assert ruler(group("Babbage", "Ada Byron")) == first[::-1] and ruler.stats["calls"] == 2  # new content
    again = make_group_judge(judge, cache=cache)  # e.g. a retried step with the same cache
    assert again(trajs) == first and again.stats["calls"] == 0 and len(judge.prompts) == 2
    garbled = make_group_judge(ScriptedJudge("no idea"), fallback=0.0)
    garbled(trajs)
    garbled(trajs)
    assert garbled.stats["calls"] == 2  # an unreadable reply is not kept


@pytest.mark.parametrize(
    "reply, expected",
    [
        (
            '{"scores": [{"trajectory_id": "2", "score": 0.3}, {"trajectory_id": "1", "score": 0.8}]}',
            [0.8, 0.3, None],
        ),
        ('{"trajectory 1": 0.2, "trajectory 3": "0.9", "notes": "x"}', [0.2, None, 0.9]),
        ("[0.1, 0.2, 0.3, 0.4]", [0.1, 0.2, 0.3]),
        ('Trajectory 3 cites hit [1]. {"scores": [0.3, 0.6, 0.9]}', [0.3, 0.6, 0.9]),
        ('Thinking {not json}. Final: {"scores": [1, NaN, 0.5]}', [1.0, None, 0.5]),
        ("- **Trajectory 2**: 0.6\n- Trajectory 1: -0.5\n3: 7", [0.0, 0.6, 1.0]),
        ('{"scores": "high"}', [None, None, None]),
        ("", [None, None, None]),
    ],
)
def test_lenient_parsing(reply, expected):
    assert parse_group_scores(reply, 3) == expected


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="fallback must be a number in \\[0, 1\\] or 'f1'"):
        make_group_judge(ScriptedJudge(), fallback=2)
    with pytest.raises(ValueError, match="fallback"):
        make_group_judge(ScriptedJudge(), fallback="median")
    with pytest.raises(TypeError, match="ask must be callable"):
        make_group_judge("gpt")
    with pytest.raises(
        ValueError, match=r"params\.ruler: reward 'ruler': unknown parameter\(s\) \['fallbak'\]"
    ):
        load_rubric({"weights": {"ruler": 1.0}, "params": {"ruler": {"fallbak": 0.5}}})


def test_the_registered_ruler_without_a_judge_scores_by_its_fallback():
    assert get_reward("ruler").scope == "group" and get_reward("ruler").bounds == (0.0, 1.0)
    rubric = load_rubric("ruler")
    results = rubric.score_group(group("Ada Byron", "Babbage"))
    assert [r.breakdown["ruler"] for r in results] == [1.0, 0.0] and not rubric.error_counts
    assert rubric.rewards["ruler"].stats["fallbacks"] == 2


def test_replay_judges_each_saved_group_once():
    """Saved trajectories interleave questions and steps; replay regroups them by both."""
    judge = ScriptedJudge()
    ruler = make_group_judge(judge)
    answers = ["Ada Byron", "Babbage", "Byron", "Ada Byron", "Babbage", "Byron"]
    trajs = [
        dataclasses.replace(episode(a), question_id=f"q{i % 2}", metadata={"step": 1 + i // 4})
        for i, a in enumerate(answers)
    ]  # groups: (q0, 1): 0, 2; (q1, 1): 1, 3; (q0, 2): 4; (q1, 2): 5
    report = replay(trajs, Rubric({"ruler": 1.0}, rewards={"ruler": ruler}))
    assert ruler.stats["calls"] == 4 and len(judge.prompts) == 4
    assert [p.count("\nTrajectory ") for p in judge.prompts] == [2, 2, 1, 1]
    assert report.component_means["ruler"] == pytest.approx(sum(RATING[a] for a in answers) / 6)
    assert report.error_counts == {}
