"""TRL adapters, called exactly the way trl 1.16's GRPOTrainer calls reward functions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from _rewardgen import answer, episode, search

from teacherforge.rewards import Rubric, exact_match, load_rubric
from teacherforge.rewards.trl import rubric_to_trl_rewards, to_trl_reward, trl_reward_weights

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
from trl.trainer.grpo_trainer import GRPOTrainer  # noqa: E402
from trl.trainer.utils import get_callable_name  # noqa: E402

TRAJS = [
    episode(search("crew", "g"), answer("Jim Lovell"), final_answer="Jim Lovell"),
    episode(search("crew", "x"), search("commander", "x"), final_answer=None),
    episode(search("who", "x"), search("Who?", "g"), answer("Lovell"), final_answer="Lovell"),
]


def _fake_trainer(reward_funcs, metrics):
    """The attributes GRPOTrainer._calculate_rewards reads, on a plain namespace."""
    return SimpleNamespace(
        accelerator=SimpleNamespace(device=torch.device("cpu"), is_main_process=True),
        state=SimpleNamespace(global_step=0),
        args=SimpleNamespace(report_to=[]),
        reward_funcs=reward_funcs,
        reward_processing_classes=[None] * len(reward_funcs),
        reward_func_names=[get_callable_name(f) for f in reward_funcs],
        environments=None,
        _log_completion_extra=lambda column, values: None,
        _log_metric=lambda name, value: metrics.setdefault(name, []).append(value),
    )


def _calculate(reward_funcs, trajectories, metrics=None, breakdowns=None):
    """Run the real GRPOTrainer._calculate_rewards with 'trajectories' (and 'reward_breakdown')
    as rollout extra fields."""
    n = len(trajectories)
    inputs = [{"prompt": f"p{i}", "trajectories": t} for i, t in enumerate(trajectories)]
    for row, breakdown in zip(inputs, breakdowns or []):
        row["reward_breakdown"] = breakdown
    trainer = _fake_trainer(reward_funcs, metrics if metrics is not None else {})
    return GRPOTrainer._calculate_rewards(
        trainer, inputs, [f"p{i}" for i in range(n)], [f"c{i}" for i in range(n)], [[1, 2]] * n
    )


def test_rubric_functions_return_the_rollouts_scores_without_rescoring():
    calls = []

    def counted(traj):
        calls.append(traj.question_id)
        return float(traj.final_answer is not None)

    rubric = Rubric({"f1": 1.0, "answered": 0.5}, rewards={"answered": counted})
    # what the GRPO rollout does: score every episode once, carry the breakdown with the completion
    breakdowns = [r.breakdown for r in rubric.score_many(TRAJS)]
    assert len(calls) == len(TRAJS)
    metrics: dict[str, list[float]] = {}
    per_func = _calculate(rubric_to_trl_rewards(rubric), TRAJS, metrics, breakdowns)
    assert len(calls) == len(TRAJS)  # TRL's reward call scored nothing again
    assert per_func[:, 1].tolist() == [1.0, 0.0, 1.0]
    assert per_func[:, 0].tolist() == pytest.approx([b["f1"] for b in breakdowns])
    assert metrics == {}  # no errors to report


def test_per_component_functions_with_reward_weights_match_the_rubric_total(tmp_path):
    rubric = Rubric({"f1": 1.0, "format": 0.2, "retrieval_match": 0.3, "search_diversity": -0.5})
    fns = rubric_to_trl_rewards(rubric)
    weights = trl_reward_weights(rubric)
    config = trl.GRPOConfig(
        output_dir=str(tmp_path), reward_weights=weights, report_to=[], use_cpu=True, bf16=False
    )
    assert config.reward_weights == weights
    results = rubric.score_many(TRAJS)
    per_func = _calculate(fns, TRAJS, breakdowns=[r.breakdown for r in results])
    assert [get_callable_name(f) for f in fns] == rubric.names
    totals = (per_func * torch.tensor(config.reward_weights).unsqueeze(0)).nansum(dim=1)
    assert totals.tolist() == pytest.approx([r.total for r in results])
    assert per_func[1].tolist() == pytest.approx(list(rubric(TRAJS[1]).breakdown.values()))


def test_component_errors_are_logged_once_from_the_stored_breakdown():
    def flaky(traj):
        if traj.final_answer is None:
            raise RuntimeError("no answer")
        return 1.0

    rubric = Rubric({"flaky": 1.0, "f1": 1.0}, rewards={"flaky": flaky})
    breakdowns = [r.breakdown for r in rubric.score_many(TRAJS)]
    metrics: dict[str, list[float]] = {}
    per_func = _calculate(rubric_to_trl_rewards(rubric), TRAJS, metrics, breakdowns)
    assert per_func[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert metrics == {"reward_errors/flaky": [1.0]}
    assert rubric.error_counts["flaky"] == 1  # counted once, in the rollout


def test_single_reward_and_errors_are_logged_not_raised():
    fn = to_trl_reward(exact_match)
    assert fn.__name__ == "exact_match"
    assert _calculate([fn], TRAJS)[:, 0].tolist() == [1.0, 0.0, 0.0]

    def flaky(traj):
        if traj.final_answer is None:
            raise RuntimeError("no answer")
        return 1.0

    metrics: dict[str, list[float]] = {}
    rewards = _calculate([to_trl_reward(flaky, name="flaky")], TRAJS, metrics)
    assert rewards[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert metrics["reward_errors/flaky"] == [1.0]


def test_missing_or_mismatched_inputs_fail_clearly():
    fn = to_trl_reward(exact_match)
    with pytest.raises(ValueError, match="needs kwargs\\['trajectories'\\]"):
        fn(prompts=["p"], completions=["c"], completion_ids=[[1]])
    with pytest.raises(ValueError, match="2 trajectories for 1 completions"):
        fn(prompts=["p"], completions=["c"], trajectories=TRAJS[:2])
    with pytest.raises(TypeError):
        to_trl_reward(42)
    with pytest.raises(TypeError, match="rubric_to_trl_rewards"):
        to_trl_reward(load_rubric("rezero"))
    group = lambda trajs: [1.0] * len(trajs)  # noqa: E731
    group.scope = "group"
    with pytest.raises(ValueError, match="per-group"):
        to_trl_reward(group, name="group")
    [f1_fn] = rubric_to_trl_rewards(Rubric({"f1": 1.0}))
    with pytest.raises(ValueError, match="needs kwargs\\['reward_breakdown'\\]"):
        f1_fn(prompts=["p"], completions=["c"])
    with pytest.raises(ValueError, match="breakdown has no 'f1'"):
        f1_fn(prompts=["p"], completions=["c"], reward_breakdown=[{"format": 1.0}])
