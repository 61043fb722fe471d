"""The search task: one factory over a real run dir, one object for the env and the driver,
the rubric composed with its judge injected."""

from __future__ import annotations

import pytest
from _envkit import KeywordRetriever, make_task, question_records, write_run_dir

from teacherforge.config import ConfigError, load_config
from teacherforge.envs import RolloutDriver, SearchEnv, SearchTask, build_task, rubric_of
from teacherforge.llm import FakeBackend
from teacherforge.rewards import Trajectory
from teacherforge.types import GenerationParams

JUDGE_CALLS: list[str] = []


def judge_backend() -> FakeBackend:
    """A judge LLM for ``rewards.judge.backend=custom``: yes when the graded answer is Tomas Reyl."""
    JUDGE_CALLS.append("built")
    return FakeBackend(lambda prompt, i: "yes" if "grade: Tomas Reyl" in prompt[-1].content else "no")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory):
    return write_run_dir(tmp_path_factory.mktemp("task") / "run")


def _config(run_dir, *extra: str):
    overrides = [f"run_dir={run_dir}", "retrieval.kind=bm25", "retrieval.top_k=2", "env.max_turns=3"]
    return load_config(None, [*overrides, *extra])  # kind: as write_run_dir builds the index


def test_build_task_loads_the_run_dir_through_one_factory(run_dir) -> None:
    task = build_task(_config(run_dir), run_dir)
    assert isinstance(task, SearchTask)
    assert [q.id for q in task.questions] == [r["id"] for r in question_records() if r["split"] == "train"]
    assert (task.index, task.top_k, task.config.max_turns) == ("original", 2, 3)
    assert "top 2 passages" in task.system_prompt and "at most 3 turns" in task.system_prompt
    assert len(task.search(["who built the lighthouse"])[0]) == 2
    assert set(task.rubric.weights) >= {"f1", "retrieval_match"}  # the default preset
    held = build_task(_config(run_dir), run_dir, split="test", top_k=1)
    assert {q.split for q in held.questions} == {"test"} and held.config.split == "test"
    assert held.top_k == 1 and "top 1 passages" in held.system_prompt


def test_env_and_driver_take_the_same_task(run_dir) -> None:
    task = build_task(_config(run_dir), run_dir)
    env = SearchEnv(task=task)
    prompt, info = env.reset(options={"question_id": "q0"})
    driver = RolloutDriver(task)
    assert prompt == driver.prompt_text(task.question("q0"))
    backend = FakeBackend(["<search>who built the lighthouse</search>", "<answer>Tomas Reyl</answer>"])
    [episode] = driver.run(backend, [task.question("q0")], GenerationParams())
    env.step("<search>who built the lighthouse</search>")
    _, reward, terminated, _, info = env.step("<answer>Tomas Reyl</answer>")
    assert terminated and reward == episode.reward and info["reward_breakdown"] == episode.reward_breakdown
    with pytest.raises(ValueError, match="either task="):
        SearchEnv(task=task, top_k=3)
    with pytest.raises(ValueError, match="unknown question_id 'nope'"):
        env.reset(options={"question_id": "nope"})


def test_task_refuses_what_is_not_a_rubric() -> None:
    with pytest.raises(TypeError, match="score_group"):
        make_task(rubric=lambda traj: 1.0)
    with pytest.raises(ValueError, match="top_k"):
        make_task(top_k=0)
    with pytest.raises(ValueError, match="run dir, or both retriever= and questions="):
        build_task(load_config(None, []), retriever=KeywordRetriever())


def test_rubric_of_injects_the_judge_where_the_rubric_is_composed(run_dir) -> None:
    config = _config(run_dir, "rewards.preset=null", "rewards.weights.judge=1.0", "rewards.weights.f1=0.5")
    rubric = rubric_of(config, judge=lambda question, reference, answer: float(answer == reference))
    traj = Trajectory("Who?", "Tomas Reyl", (), final_answer="Tomas Reyl")
    assert rubric(traj).breakdown == {"judge": 1.0, "f1": 1.0}
    # the judge of a task built by the factory works in an episode (training, evaluation, ask)
    task = build_task(config, run_dir, judge=lambda q, r, a: 0.25)
    env = SearchEnv(task=task)
    env.reset(options={"question_id": "q0"})
    _, reward, _, _, info = env.step("<answer>Tomas Reyl</answer>")
    assert info["reward_breakdown"]["judge"] == 0.25 and reward == pytest.approx(0.25 + 0.5)


def test_configured_judge_llm_loads_at_its_first_call(run_dir) -> None:
    config = _config(
        run_dir,
        "rewards.preset=null",
        "rewards.weights.judge=1.0",
        "rewards.judge.backend=custom",
        "rewards.judge.model=test_task:judge_backend",
    )
    JUDGE_CALLS.clear()
    rubric = rubric_of(config)
    assert JUDGE_CALLS == []  # composing the rubric loads no model
    right = Trajectory("Who built it?", "Tomas Reyl", (), final_answer="Tomas Reyl")
    wrong = Trajectory("Who built it?", "Tomas Reyl", (), final_answer="Ada Brenn")
    assert [r.breakdown["judge"] for r in rubric.score_many([right, wrong])] == [1.0, 0.0]
    assert JUDGE_CALLS == ["built"]  # built once, at the first call


def test_rubric_errors_name_the_rewards_key(run_dir) -> None:
    with pytest.raises(ConfigError, match=r"rewards: weights\.no_such_reward: unknown reward.*exact_match"):
        rubric_of(_config(run_dir, "rewards.preset=null", "rewards.weights.no_such_reward=1"))
    with pytest.raises(ConfigError, match=r"rewards: set rewards\.preset or rewards\.weights"):
        rubric_of(_config(run_dir, "rewards.preset=null"))
    with pytest.raises(ConfigError, match=r"no judge LLM is configured; set rewards\.judge\.model"):
        rubric_of(_config(run_dir, "rewards.weights.judge=1"))
