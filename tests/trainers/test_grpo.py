"""GRPO trainer mechanics on a tiny random SmolLM2-shaped model and a small real run dir.

The rollout policy here is scripted (:class:`grpo_testkit.ScriptedPolicy`, behaviour varying
within each group) so rewards vary and ``<information>`` blocks occur; everything else is
real: the env driver and retriever, the rubric through ``rewards.trl``, TRL's GRPOTrainer with
PEFT LoRA on the tiny model, the loss, the logs. The resume test uses the live policy.
"""

from __future__ import annotations

import doctest
import json
import math
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import load_config
from teacherforge.rewards import Trajectory
from teacherforge.trainers import grpo, grpo_callbacks, grpo_rollout, plots

SHORT_PROMPT = "env.system_prompt='Search: <{search}>q</{search}>. Answer: <{answer}>a</{answer}>.'"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("grpo")
    return kit.make_run_dir(root / "run"), kit.make_tiny_model(root / "model")


def _config(assets, out: Path, *extra: str):
    run_dir, model_dir = assets
    return load_config(
        None, [*kit.grpo_overrides(run_dir, model_dir, out, **{"grpo.batch_size": 4}), SHORT_PROMPT, *extra]
    )


def test_doctests() -> None:
    for module in (grpo_rollout, grpo_callbacks, plots):
        assert doctest.testmod(module).failed == 0


class CountingReward:
    """A per-sample reward (1.0 when the episode answered) that counts the episodes it scored."""

    bounds = (0.0, 1.0)

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, traj: Trajectory) -> float:
        self.calls += 1
        return float(traj.final_answer is not None)


def test_two_steps_train_lora_with_env_masks(assets, tmp_path: Path) -> None:
    from teacherforge.envs import build_task
    from teacherforge.rewards import Rubric

    config = _config(assets, tmp_path / "out")
    plan = grpo.check_grpo_config(config)
    model, tokenizer, peft_config = grpo.load_policy(config)
    counting = CountingReward()
    rubric = Rubric({**kit.REWARDS, "answered": 0.1}, rewards={"answered": counting})
    task = build_task(config, plan.run_dir, questions=plan.questions, rubric=rubric)
    setup = grpo.build_grpo_trainer(
        config,
        plan,
        model=model,
        tokenizer=tokenizer,
        peft_config=peft_config,
        backend_factory=kit.scripted_factory(),
        task=task,
    )
    trainer = setup.trainer
    lora_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    assert lora_before
    seen: list[dict] = []
    original = trainer._compute_loss

    def spy(model, inputs):
        seen.append(
            {
                k: v.detach().clone()
                for k, v in inputs.items()
                if k in ("completion_ids", "completion_mask", "tool_mask")
            }
        )
        return original(model, inputs)

    trainer._compute_loss = spy
    trainer.train()
    assert trainer.state.global_step == 2
    # rewards are computed once per episode: in the rollout, not again by TRL's reward functions
    assert counting.calls == 2 * config.grpo.batch_size
    changed = [
        n for n, p in trainer.model.named_parameters() if "lora_" in n and not torch.equal(p, lora_before[n])
    ]
    assert changed, "no LoRA parameter changed"

    # the mask handed to the loss: env-inserted <information> tokens are 0, model turns 1
    assert seen and all("tool_mask" in s for s in seen)
    info_rows = 0
    for s in seen:
        for ids, cmask, tmask in zip(s["completion_ids"], s["completion_mask"], s["tool_mask"]):
            live = cmask.bool()
            model_text = tokenizer.decode(ids[live & tmask.bool()])
            env_text = tokenizer.decode(ids[live & ~tmask.bool()])
            assert "<information>" not in model_text and "</information>" not in model_text
            assert "<answer>" in model_text or "<search>" in model_text
            if env_text:
                info_rows += 1
                assert env_text.strip().startswith("<information>") or "</information>" in env_text
                assert "<search>" not in env_text and "<answer>" not in env_text
    assert info_rows > 0, "no episode had an <information> block"

    records = setup.log_callback.records
    assert [r["step"] for r in records] == [1, 2]
    assert min(r["frac_reward_zero_std"] for r in records) < 1
    for r in records:
        assert math.isfinite(r["loss"])
        for name in [*kit.REWARDS, "answered"]:
            assert r[f"rewards/{name}"] is not None
        for key in (
            "reward",
            "reward_std",
            "retrieval_hit_rate",
            "searches_per_episode",
            "answer_length",
            "step_time_s",
            "tokens_per_s",
        ):
            assert r[key] is not None, key
        assert "kl" in r and any(k.startswith("hacking/") for k in r)
    trajs = (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
    parsed = [Trajectory.from_json(json.loads(line)) for line in trajs]
    assert len(parsed) == 2 * 3 and all("reward_total" in t.metadata for t in parsed)


def test_run_grpo_stage_writes_adapter_plot_and_manifest(assets, tmp_path: Path) -> None:
    config = _config(assets, tmp_path / "out", "grpo.max_steps=1", "grpo.save_steps=1", "grpo.merge=true")
    summary = grpo.run_grpo(config, backend_factory=kit.scripted_factory())
    out = tmp_path / "out"
    assert summary["steps"] == 1 and not summary["interrupted"]
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "merged" / "config.json").is_file()
    assert (out / "reward_curve.png").stat().st_size > 1000
    assert "reward" in (out / "reward_curve.txt").read_text()
    from teacherforge.workspace import RunDir

    steps = RunDir.load_manifest(config.run_path)["steps"]
    assert any(s["name"] == "grpo" for s in steps)


NOISE = ("env.noise.source=distractors", "env.noise.end=1.0", "env.noise.end_step=4")


def test_resume_matches_uninterrupted_run(assets, tmp_path: Path) -> None:
    """Live tiny policy: 2 steps, stop, resume to 4 == 4 steps straight (step counter, data order, the
    noise curriculum's schedule and draws)."""
    straight = _config(
        assets,
        tmp_path / "a",
        "grpo.max_steps=4",
        "grpo.save_steps=2",
        "env.max_new_tokens=8",
        "env.max_turns=2",
        *NOISE,
    )
    grpo.run_grpo(straight)
    first = _config(
        assets,
        tmp_path / "b",
        "grpo.max_steps=2",
        "grpo.save_steps=2",
        "env.max_new_tokens=8",
        "env.max_turns=2",
        *NOISE,
    )
    grpo.run_grpo(first)
    resumed = _config(
        assets,
        tmp_path / "b",
        "grpo.max_steps=4",
        "grpo.save_steps=2",
        "env.max_new_tokens=8",
        "env.max_turns=2",
        *NOISE,
    )
    summary = grpo.run_grpo(resumed, resume=True)
    assert summary["steps"] == 4
    a, b = kit.read_log(tmp_path / "a"), kit.read_log(tmp_path / "b")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert [r["question_ids"] for r in a] == [r["question_ids"] for r in b]
    # the same sampled episodes: rollouts are seeded per step and the weights were restored
    assert [r["answer_length"] for r in a] == [r["answer_length"] for r in b]
    assert [r["noise/probability"] for r in b] == [
        0.0,
        0.25,
        0.5,
        0.75,
    ]  # the schedule went on after the resume
    assert [r["noise/served_share"] for r in a] == [r["noise/served_share"] for r in b]


def test_rollout_output_appends_eos_to_answered_episodes() -> None:
    from teacherforge.envs.driver import Episode

    def episode(answer, logprobs):
        traj = Trajectory("q", "a", ("c1",), final_answer=answer)
        breakdown = {"f1": float(answer == "a")}
        return Episode(traj, "p", (1, 2), (5, 6, 7), (1, 0, 1), logprobs, 0.0, breakdown, {})

    out = grpo_rollout.rollout_output([episode("a", (-0.1, 0.0, -0.2)), episode(None, (-0.1, 0.0, -0.3))], 9)
    assert out["completion_ids"] == [[5, 6, 7, 9], [5, 6, 7]]
    assert out["env_mask"] == [[1, 0, 1, 1], [1, 0, 1]]
    assert out["logprobs"] == [[-0.1, 0.0, -0.2, None], [-0.1, 0.0, -0.3]]
    assert [t["final_answer"] for t in out["trajectories"]] == ["a", None]
    assert out["reward_breakdown"] == [{"f1": 1.0}, {"f1": 0.0}]
    assert grpo_rollout.rollout_output([episode("a", None)], 9)["logprobs"] is None


def test_live_policy_group_members_sample_differently(assets, tmp_path: Path) -> None:
    """The 4 copies of a question in a group must be distinct samples, not one seeded sample 4 times."""
    config = _config(assets, tmp_path / "out", "env.max_new_tokens=8", "env.max_turns=1")
    setup = grpo.build_grpo_trainer(config, grpo.check_grpo_config(config))
    question = setup.plan.questions[0].question
    out = setup.rollout([question] * 4, setup.trainer)
    assert len(out["completion_ids"]) == 4
    assert len({tuple(ids) for ids in out["completion_ids"]}) > 1
    assert all(len(ids) == len(mask) for ids, mask in zip(out["completion_ids"], out["env_mask"]))


def test_questions_derived_from_failures_are_drawn_more_often(assets, tmp_path: Path) -> None:
    """GRPO's dataset (which TRL's sampler draws from uniformly) holds a question the feedback loop
    derived from a failure round(grpo.feedback_oversample x weight) times, every other question once."""
    import shutil

    from teacherforge.workspace import atomic_write_json, read_json

    run_dir = tmp_path / "run"
    shutil.copytree(assets[0], run_dir)
    questions = read_json(run_dir / "questions.json")
    derived = next(q for q in questions if q["split"] == "train")
    derived["metadata"] = {"feedback": {"round": 1, "weight": 2.0, "reasons": ["student_wrong"]}}
    atomic_write_json(run_dir / "questions.json", questions)
    config = _config((run_dir, assets[1]), tmp_path / "out", "grpo.feedback_oversample=1.5")
    setup = grpo.build_grpo_trainer(
        config, grpo.check_grpo_config(config), backend_factory=kit.scripted_factory()
    )
    drawn = setup.trainer.train_dataset["question_id"]
    assert drawn.count(derived["id"]) == 3
    assert all(drawn.count(q.id) == 1 for q in setup.plan.questions if q.id != derived["id"])


def test_a_reward_failing_too_often_stops_training_at_a_checkpoint(assets, tmp_path: Path) -> None:
    from teacherforge.rewards import register_reward, unregister_reward

    @register_reward("offline_scorer")
    def offline_scorer(traj: Trajectory) -> float:
        raise ConnectionError("scorer offline")

    try:
        config = _config(
            assets,
            tmp_path / "out",
            "grpo.max_steps=3",
            "grpo.save_steps=10",
            "rewards.weights.offline_scorer=0.1",
        )
        with pytest.raises(
            grpo.RewardFailureError, match=r"reward 'offline_scorer' failed on 100% of step 1's"
        ):
            grpo.run_grpo(config, backend_factory=kit.scripted_factory())
    finally:
        unregister_reward("offline_scorer")
    out = tmp_path / "out"
    assert (out / "checkpoint-1").is_dir() and not (out / "adapter").exists()
    assert kit.read_log(out)[-1]["step"] == 1  # it did not train on after the failing step
