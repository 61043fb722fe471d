"""SearchEnv on the tiny real run dir: Gymnasium checks, determinism, scripted episodes."""

from __future__ import annotations

import json
import math
import warnings

import gymnasium as gym
import pytest
from _envkit import CHUNK_TEXTS, PARAPHRASES, question_records
from gymnasium.utils.env_checker import check_env

import teacherforge.envs  # noqa: F401  (registers teacherforge/Search-v0)
from teacherforge.config import ConfigError, EnvConfig
from teacherforge.envs import CHARSET, SearchEnv
from teacherforge.envs.protocol import in_charset

pytestmark = pytest.mark.slow  # real MiniLM index


def make(run, **kwargs):
    return gym.make("teacherforge/Search-v0", run_dir=str(run), **kwargs).unwrapped


def test_check_env_passes_without_warnings(tiny_run):
    env = gym.make(
        "teacherforge/Search-v0", run_dir=str(tiny_run), index="original", split="train", top_k=2, max_turns=3
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [
        str(w.message) for w in caught if "gymnasium" in (w.filename or "") or "WARN" in str(w.message)
    ]
    assert messages == []
    assert isinstance(env.unwrapped, SearchEnv)
    assert env.unwrapped.task.top_k == 2 and env.unwrapped.task.config.max_turns == 3


def test_spaces_cover_printable_bmp_text(tiny_run):
    env = make(tiny_run)
    assert env.observation_space.character_set == frozenset(CHARSET)
    assert "\n" in CHARSET and "é" in CHARSET and "答" in CHARSET and "\x00" not in CHARSET
    assert all(in_charset(t) for t in CHUNK_TEXTS.values())
    observation, _ = env.reset(seed=0)
    assert observation in env.observation_space


def test_reset_is_deterministic_per_seed(tiny_run):
    env_a, env_b = make(tiny_run), make(tiny_run)
    firsts = []
    for seed in range(8):
        obs_a, info_a = env_a.reset(seed=seed)
        obs_b, info_b = env_b.reset(seed=seed)
        assert (obs_a, info_a["question_id"]) == (obs_b, info_b["question_id"])
        firsts.append(info_a["question_id"])
        step_a = env_a.step("<search>lighthouse engineer</search>")
        step_b = env_b.step("<search>lighthouse engineer</search>")
        assert step_a == step_b
    assert len(set(firsts)) > 1, "different seeds should draw different questions"
    train_ids = {r["id"] for r in question_records() if r["split"] == "train"}
    assert set(firsts) <= train_ids


def test_reset_info_and_question_option(tiny_run):
    env = make(tiny_run)
    observation, info = env.reset(seed=3, options={"question_id": "q2"})
    assert info["question_id"] == "q2"
    assert info["question"] == "Who is the mayor of Velmora?"
    assert info["gold_answer"] == "Ada Brenn"
    assert info["gold_chunk_ids"] == ["velmora-2"]
    assert observation.rstrip().endswith("<|im_start|>assistant")
    assert "Who is the mayor of Velmora?" in observation and "<search>" in observation
    with pytest.raises(ValueError, match="unknown question_id 'nope'"):
        env.reset(options={"question_id": "nope"})


def test_search_hits_gold_then_correct_answer(tiny_run):
    env = make(tiny_run, top_k=3)
    env.reset(seed=0, options={"question_id": "q0"})
    obs, reward, terminated, truncated, info = env.step(
        "<think>I need the builder.</think><search>who built the lighthouse of Velmora</search>"
    )
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert obs.strip().startswith("<information>") and obs.strip().endswith("</information>")
    assert "[1] " in obs and "Tomas Reyl" in obs
    assert info["queries"] == ["who built the lighthouse of Velmora"]
    assert info["turns"][0]["chunk_ids"][0] == "velmora-0"
    assert info["turns"][0]["ranks"] == [1, 2, 3]
    assert info["gold_retrieved"] and info["gold_turn"] == 1 and info["gold_rank"] == 1
    assert info["reward_breakdown"] == {}
    obs, reward, terminated, truncated, info = env.step("<answer>Tomas Reyl</answer>")
    assert terminated and not truncated and obs == ""
    breakdown = info["reward_breakdown"]
    assert breakdown["retrieval_match"] == 1.0
    assert breakdown["exact_match"] == 1.0 and breakdown["f1"] == 1.0
    assert reward == pytest.approx(sum(env.rubric.weights[k] * breakdown[k] for k in env.rubric.weights))
    assert reward == pytest.approx(env.rubric.bounds[1])
    traj = env.episode.trajectory()
    assert traj.final_answer == "Tomas Reyl" and traj.metadata["reward_total"] == reward
    with pytest.raises(gym.error.ResetNeeded):
        env.step("<answer>again</answer>")


def test_wrong_answer_and_no_search(tiny_run):
    env = make(tiny_run)
    env.reset(options={"question_id": "q2"})
    env.step("<search>mayor of Velmora</search>")
    _, wrong, terminated, _, info = env.step("<answer>Tomas Reyl</answer>")
    assert terminated
    assert info["reward_breakdown"]["exact_match"] == 0.0 and info["reward_breakdown"]["f1"] == 0.0
    assert info["reward_breakdown"]["retrieval_match"] == 1.0

    env.reset(options={"question_id": "q2"})
    _, blind, terminated, _, info = env.step("<answer>Ada Brenn</answer>")
    assert terminated and info["turn"] == 1 and info["queries"] == []
    assert info["reward_breakdown"]["retrieval_match"] == 0.0
    assert info["reward_breakdown"]["exact_match"] == 1.0
    assert not info["gold_retrieved"] and info["gold_turn"] is None
    assert 0 < wrong < blind


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("I think the answer is Reyl.", "no_tag"),
        ("<search>lighthouse</search><answer>Reyl</answer>", "two_actions"),
        ("<search>   </search>", "empty_query"),
        ("<search>" + "lighthouse " * 60 + "</search>", "query_too_long"),
        ("<think>hmm</think><search>lighthouse", "unclosed_tag"),
    ],
)
def test_malformed_turn_gets_a_corrective_observation(tiny_run, action, reason):
    env = make(tiny_run)
    env.reset(options={"question_id": "q0"})
    obs, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["turns"][0]["malformed"] == reason and info["malformed_turns"] == 1
    assert info["turn"] == 1 and info["queries"] == []
    assert obs.strip().startswith("<information>") and "Invalid turn" in obs
    _, reward, terminated, _, info = env.step("<answer>Tomas Reyl</answer>")
    assert terminated and info["reward_breakdown"]["format"] < 1.0


def test_turn_budget_exhausted_truncates(tiny_run):
    env = make(tiny_run, max_turns=3)
    env.reset(options={"question_id": "q3"})
    results = [
        env.step(a) for a in ("<search>ferry Skarn</search>", "no tags", "<search>crossing time</search>")
    ]
    assert [r[3] for r in results] == [False, False, True]
    assert [r[2] for r in results] == [False, False, False]
    obs, reward, _, _, info = results[-1]
    assert obs == "" and info["turn"] == 3 and info["final_answer"] is None
    assert info["gold_retrieved"] and math.isfinite(reward)
    lo, hi = env.rubric.bounds
    assert lo <= reward <= hi
    assert set(env.rubric.weights) <= set(info["reward_breakdown"])
    assert env.episode.trajectory().metadata["truncated"] is True


def test_paraphrased_index_maps_hits_to_original_ids(tiny_run):
    env = make(tiny_run, index="paraphrased", top_k=1)
    env.reset(options={"question_id": "q3"})
    query = PARAPHRASES["velmora-3"]
    obs, _, _, _, info = env.step(f"<search>{query}</search>")
    assert info["turns"][0]["chunk_ids"] == ["velmora-3"]
    assert "boat carries passengers" in obs  # the hit text is the paraphrase row
    _, _, _, _, info = env.step("<answer>ninety minutes</answer>")
    assert info["reward_breakdown"]["retrieval_match"] == 1.0
    assert env.episode.trajectory().metadata["index"] == "paraphrased"


def test_render_ansi_returns_the_transcript(tiny_run):
    env = make(tiny_run, render_mode="ansi")
    observation, _ = env.reset(options={"question_id": "q0"})
    step_obs = env.step("<search>lighthouse</search>")[0]
    assert env.render() == observation + "<search>lighthouse</search>" + step_obs


def test_bad_arguments_name_the_fix(tiny_run, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"questions\.json"):
        SearchEnv(run_dir=tmp_path, retriever=object())
    with pytest.raises(FileNotFoundError, match=r"index_paraphrased.*set retrieval\.index=original"):
        SearchEnv(run_dir=tmp_path, index="paraphrased")
    only_train = [r for r in question_records() if r["split"] == "train"]
    (tmp_path / "questions.json").write_text(json.dumps(only_train), encoding="utf-8")
    with pytest.raises(ValueError, match=r"no questions in split 'test'; splits present: \{'train': 6\}"):
        SearchEnv(run_dir=tmp_path, split="test", retriever=object())
    (tmp_path / "questions.json").write_text(json.dumps([{"id": "x", "question": "q?"}]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"questions\.json: record 0: field 'answer'"):
        SearchEnv(run_dir=tmp_path, retriever=object())
    with pytest.raises(ConfigError, match=r"retrieval\.index"):
        SearchEnv(run_dir=tiny_run, index="other")
    with pytest.raises(ConfigError, match=r"env\.search_tag"):
        EnvConfig(search_tag="bad tag")
    with pytest.raises(ValueError, match="run_dir"):
        SearchEnv()
