"""The LLM judge: verdict parsing, prompting a backend, and the judge in replay."""

from __future__ import annotations

import json

import pytest
from _rewardgen import episode

from teacherforge.cli import main
from teacherforge.rewards import Rubric, make_judge_reward, make_llm_judge, parse_verdict
from teacherforge.rewards.judge import JUDGE_SYSTEM


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("yes", 1.0),
        ("No.", 0.0),
        ("The answer is incorrect", 0.0),
        ("CORRECT", 1.0),
        ("0.25", 0.25),
        ("1", 1.0),
        ("true", 1.0),
    ],
)
def test_parse_verdict(reply, score):
    assert parse_verdict(reply) == score


@pytest.mark.parametrize("reply", ["", "maybe", "3.5 out of 10"])
def test_unreadable_verdicts_raise(reply):
    with pytest.raises(ValueError, match="cannot read a verdict"):
        parse_verdict(reply)


def test_llm_judge_asks_and_feeds_the_rubric():
    replies = iter(["yes", "no", "hmm"])
    calls: list[tuple[str, str]] = []

    def ask(system: str, user: str) -> str:  # the chat function whoever composes the rubric builds
        calls.append((system, user))
        return next(replies)

    rubric = Rubric({"judge": 1.0}, rewards={"judge": make_judge_reward(make_llm_judge(ask))})
    results = rubric.score_many([episode(final_answer=a) for a in ("Jim Lovell", "Haise", "x")] + [episode()])
    assert [r.breakdown["judge"] for r in results] == [1.0, 0.0, 0.0, 0.0]
    assert results[2].errors == {"judge": 1}  # unreadable reply: counted, not silent
    assert len(calls) == 3  # no call for the episode without an answer
    system, user = calls[0]
    assert system == JUDGE_SYSTEM
    assert "Who commanded Apollo 13?" in user and "Reference answer: Jim Lovell" in user
    with pytest.raises(ValueError, match="must contain"):
        make_llm_judge(ask, user_template="{question}")
    with pytest.raises(TypeError, match="ask must be callable"):
        make_llm_judge("not a function")


def test_replay_with_a_judge(tmp_path, capsys):
    rollouts = tmp_path / "r.jsonl"
    rollouts.write_text(
        "".join(json.dumps(episode(final_answer=a).to_json()) + "\n" for a in ("Jim Lovell", "Haise")),
        encoding="utf-8",
    )
    base = [
        "rewards",
        "replay",
        "--trajectories",
        str(rollouts),
        "--rewards",
        "autodidact",
        "--weight",
        "judge=1",
    ]
    assert main(base) == 1
    assert "no judge LLM is configured; set rewards.judge.model" in capsys.readouterr().err
    assert (
        main([*base, "--judge-backend", "custom", "--judge-model", "_user_rewards:judge_backend", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["component_means"]["judge"] == 0.5
