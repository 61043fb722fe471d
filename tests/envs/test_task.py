"""The search task: one factory over a real run dir, one object for the env and the driver,
the rubric composed with its judge injected."""

from __future__ import annotations

import contextlib
import json
import re
from types import SimpleNamespace

import pytest
from _envkit import KeywordRetriever, make_task, question_records, write_run_dir

from teacherforge.config import ConfigError, load_config
from teacherforge.envs import RolloutDriver, SearchEnv, SearchTask, build_task, rubric_of
from teacherforge.llm import FakeBackend
from teacherforge.rewards import Trajectory, load_rubric
from teacherforge.rewards.gain import NAIVE_CONTEXT_KEY
from teacherforge.types import GenerationParams

JUDGE_CALLS: list[str] = []
RULER_PROMPTS: list[str] = []


def judge_backend() -> FakeBackend:
    """A judge LLM for ``rewards.judge.backend=custom``: yes when the graded answer is Tomas Reyl."""
    JUDGE_CALLS.append("built")
    return FakeBackend(lambda prompt, i: "yes" if "grade: Tomas Reyl" in prompt[-1].content else "no")


def group_judge_backend() -> FakeBackend:
    """A judge LLM for both judges: the yes/no verdict as :func:`judge_backend`; for a group,
    1.0 for each trajectory answering Tomas Reyl, else 0.2."""
    JUDGE_CALLS.append("built")

    def reply(prompt, sample_index: int) -> str:
        user = prompt[-1].content
        if "Answer to grade:" in user:
            return "yes" if "grade: Tomas Reyl" in user else "no"
        RULER_PROMPTS.append(user)
        blocks = re.split(r"^Trajectory \d+:\n", user, flags=re.M)[1:]
        return json.dumps({"scores": [1.0 if "Final answer: Tomas Reyl" in b else 0.2 for b in blocks]})

    return FakeBackend(reply)


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


# the relative group judge ------------------------------------------------------------------
RULER_JUDGE = ("rewards.judge.backend=custom", "rewards.judge.model=test_task:group_judge_backend")


def test_rubric_of_injects_the_group_judge_and_loads_it_at_its_first_call(run_dir) -> None:
    config = _config(run_dir, "rewards.preset=ruler", "rewards.weights.judge=0.5", *RULER_JUDGE)
    JUDGE_CALLS.clear()
    RULER_PROMPTS.clear()
    rubric = rubric_of(config)
    assert JUDGE_CALLS == [] and rubric.scopes["ruler"] == "group"
    group = [
        Trajectory("Who built it?", "Tomas Reyl", (), final_answer=a) for a in ("Ada Brenn", "Tomas Reyl")
    ]
    results = rubric.score_group(group)
    assert [r.breakdown["ruler"] for r in results] == [0.2, 1.0]
    assert [r.breakdown["judge"] for r in results] == [0.0, 1.0]
    assert JUDGE_CALLS == ["built"]  # one model for both judges
    assert len(RULER_PROMPTS) == 1 and rubric.rewards["ruler"].stats["calls"] == 1


def test_the_group_judge_needs_a_judge_llm_and_valid_settings(run_dir, tmp_path) -> None:
    with pytest.raises(
        ConfigError, match=r"^rewards\.judge: configs/rewards/ruler\.yaml weights the 'ruler'"
    ):
        rubric_of(_config(run_dir, "rewards.preset=ruler"))
    with pytest.raises(ConfigError, match=r"rewards\.judge: rewards weights the 'ruler' reward"):
        rubric_of(_config(run_dir, "rewards.preset=null", "rewards.weights.ruler=1"))
    preset = tmp_path / "mine.yaml"
    preset.write_text("weights: {ruler: 1.0}\nparams: {ruler: {fallback: 2}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine\.yaml: params\.ruler: ruler fallback must be a number"):
        rubric_of(_config(run_dir, f"rewards.preset={preset}", *RULER_JUDGE))


def test_a_grpo_group_is_judged_whole(run_dir) -> None:
    """Through the GRPO rollout and the real rubric path, the judge sees all group_size samples of
    a prompt in one call: one call per group, never per sample."""
    from teacherforge.trainers.grpo_rollout import EnvRollout, Stopwatch

    group_size = 4
    config = _config(run_dir, "rewards.preset=ruler", *RULER_JUDGE)
    task = build_task(config, run_dir)
    policy = FakeBackend([f"<answer>{a}</answer>" for a in ("Tomas Reyl", "Ada Brenn", "the moon")])

    @contextlib.contextmanager
    def backend(trainer):
        yield policy

    rollout = EnvRollout(
        RolloutDriver(task),
        GenerationParams(),
        group_size=group_size,
        seed=0,
        watch=Stopwatch(),
        trajectories_per_step=0,
        backend_factory=backend,
    )
    RULER_PROMPTS.clear()
    questions = task.questions[:2]
    prompts = [q.question for q in questions for _ in range(group_size)]
    out = rollout(prompts, SimpleNamespace(state=SimpleNamespace(global_step=0)))
    assert len(RULER_PROMPTS) == len(questions) == task.rubric.rewards["ruler"].stats["calls"]
    for question, prompt in zip(questions, RULER_PROMPTS):
        assert prompt.startswith(f"Question: {question.question}")
        assert prompt.count("\nTrajectory ") == group_size
    scores = [breakdown["ruler"] for breakdown in out["reward_breakdown"]]
    assert scores == [1.0, 0.2, 0.2, 1.0, 0.2, 0.2, 1.0, 0.2]  # answers cycle over the 8 samples


# the naive top-k context of gain_beyond_rag --------------------------------------------------
def query_of(prompt: str) -> str:
    """The policy's search: about the lighthouse, or about the council for the mayor question."""
    return "town council mayor" if "mayor" in prompt else "who built the lighthouse"


def _search_then_answer(prompt, sample_index: int) -> str:
    if "<information>" in prompt.split("<|im_start|>assistant")[-1]:  # after a search
        return "<answer>Tomas Reyl</answer>"
    return f"<search>{query_of(prompt)}</search>"


def test_the_task_records_the_naive_context_from_one_search_when_weighted() -> None:
    from teacherforge.records import Question
    from teacherforge.rewards.replay import rescore

    retriever = KeywordRetriever()
    task = make_task(retriever, rubric="s3", top_k=2)
    episodes = RolloutDriver(task).run(
        FakeBackend(_search_then_answer), task.questions[:3], GenerationParams(n=2)
    )
    pool = [q.question for q in task.questions]
    searched = ["who built the lighthouse"] * 4 + ["town council mayor"] * 2
    assert retriever.calls == [searched, pool]  # the naive contexts: one batch for every question
    trajs = [e.trajectory for e in episodes]
    naive = {t.question_id: t.metadata[NAIVE_CONTEXT_KEY] for t in trajs}
    assert naive["q0"] == [hit.text for hit in KeywordRetriever().search([pool[0]], 2)[0]]
    gains = [e.reward_breakdown["gain_beyond_rag"] for e in episodes]
    # q0: both contexts hold the answer; q1: only the naive one; q2: only the agent's
    assert gains == [0.0, 0.0, -1.0, -1.0, 1.0, 1.0]
    assert not any(e.info["reward_errors"] for e in episodes)
    # the saved trajectories carry it: replay scores them without an index
    saved = [Trajectory.from_json(t.to_json()) for t in trajs]
    rescored = rescore(saved, load_rubric("s3"))
    assert [r.breakdown["gain_beyond_rag"] for r in rescored] == gains and not any(r.errors for r in rescored)
    outside = Question("x1", "velmora-7", "Which inland city does the railway reach?", "Dornhal")
    assert task.naive_context(outside) and retriever.calls[-1] == [outside.question]


def test_other_rubrics_pay_no_naive_search() -> None:
    retriever = KeywordRetriever()
    task = make_task(retriever, rubric="autodidact", top_k=2)
    episodes = RolloutDriver(task).run(
        FakeBackend(_search_then_answer), task.questions[:3], GenerationParams(n=2)
    )
    assert retriever.calls == [["who built the lighthouse"] * 4 + ["town council mayor"] * 2]
    assert all(NAIVE_CONTEXT_KEY not in e.trajectory.metadata for e in episodes)
