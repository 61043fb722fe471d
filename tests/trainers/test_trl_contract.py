"""The TRL behaviours ``trainers/grpo.py`` and ``trainers/grpo_rollout.py`` rely on, checked against the
installed TRL.

``rollout_func`` is experimental in TRL, so an upgrade may change it without notice. Each test
here pins one note written beside the code that depends on it (``# TRL 1.16: ...`` in
``trainers/grpo.py``): when a TRL upgrade changes the behaviour, this file fails and names the
note, instead of GRPO training silently on the wrong mask or the wrong rewards. One real
``GRPOTrainer`` step on a tiny random model with a stub rollout does the behavioural checks.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

trl = pytest.importorskip("trl")
torch = pytest.importorskip("torch")

GROUP = 2  # num_generations
ROWS = 4  # one generation = per_device_train_batch_size × steps_per_generation rows
ENV_MASK = [1, 1, 0, 0, 1]  # two model tokens, two env tokens, one model token


def test_trl_is_the_tested_minor():
    # pyproject pins trl>=1.16,<1.17; moving the pin means re-reading the notes these tests pin.
    assert trl.__version__.startswith("1.16."), (
        f"TRL {trl.__version__}: re-check tests/trainers/test_trl_contract.py"
    )


def test_one_generation_feeds_one_optimizer_step(tmp_path: Path):
    """Note "batch sizing" in trl_args: steps_per_generation defaults to gradient_accumulation_steps."""
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=3,
        num_generations=GROUP,
        report_to=[],
        bf16=False,
        fp16=False,
    )
    assert args.steps_per_generation == 3
    assert args.generation_batch_size == 2 * 3  # × num_processes (1 here)
    assert args.mask_truncated_completions is False
    grouped = trl.GRPOConfig(output_dir=str(tmp_path), scale_rewards="group", report_to=[], bf16=False)
    assert grouped.scale_rewards == "group"


def test_rollout_helpers_keep_their_signatures():
    """Notes in grpo.py on generation: the rollout samples through these TRL pieces."""
    from trl.models.utils import unwrap_model_for_generation

    params = inspect.signature(unwrap_model_for_generation).parameters
    assert {"gather_deepspeed3_params", "gradient_checkpointing_kwargs"} <= params.keys()
    assert "rollout_func" in inspect.signature(trl.GRPOTrainer.__init__).parameters
    # with use_vllm, TRL syncs the policy into its engine before it calls rollout_func (grpo_vllm relies on it)
    source = inspect.getsource(trl.GRPOTrainer._generate)
    assert 0 <= source.find("sync_weights()") < source.find("self.rollout_func(prompts, self)")


@pytest.fixture(scope="module")
def one_step(tmp_path_factory) -> dict[str, Any]:
    """One GRPO step with a stub rollout_func and two recording reward functions; what each saw."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teacherforge.models import save_random_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trl_contract")
    model_dir = save_random_model(root / "model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    eos = tokenizer.eos_token_id
    seen: dict[str, Any] = {"rollout_prompts": [], "reward_kwargs": [], "loss_inputs": []}

    def rollout(prompts: list[str], trainer: Any) -> dict[str, Any]:
        seen["rollout_prompts"].append(list(prompts))
        trainer._log_metric("env/probe", 7.0)
        n = len(prompts)
        # rows 0 and 1 end with EOS (answered), rows 2 and 3 do not (ran out of turns)
        completions = [[11, 12, 13, 14, 15] + ([eos] if i < 2 else [16]) for i in range(n)]
        return {
            "prompt_ids": [tokenizer(p)["input_ids"] for p in prompts],
            "completion_ids": completions,
            "logprobs": None,
            "env_mask": [[*ENV_MASK, 1] for _ in range(n)],
            "probe": [f"row{i}" for i in range(n)],
        }

    def reward_a(prompts, completions, **kwargs):
        seen["reward_kwargs"].append(dict(kwargs))
        return [float(i % 2) for i in range(len(prompts))]  # varies within each group

    def reward_b(prompts, completions, **kwargs):
        return [1.0] * len(prompts)

    args = trl.GRPOConfig(
        output_dir=str(root / "out"),
        per_device_train_batch_size=ROWS,
        gradient_accumulation_steps=1,
        num_generations=GROUP,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-3,
        beta=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
        reward_weights=[1.0, 0.5],
        scale_rewards="group",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        bf16=False,
        fp16=False,
    )
    dataset = Dataset.from_list([{"prompt": f"question {i}", "question_id": f"q{i}"} for i in range(2)])
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[reward_a, reward_b],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
    )
    original = trainer._compute_loss

    def spy(model, inputs):
        seen["loss_inputs"].append({k: v.detach().clone() for k, v in inputs.items() if torch.is_tensor(v)})
        return original(model, inputs)

    trainer._compute_loss = spy
    trainer.train()
    seen["log"] = next(h for h in trainer.state.log_history if "reward" in h)
    return seen


def test_rollout_func_gets_the_repeated_prompts_of_one_generation(one_step):
    """Note on rollout_func in build_grpo_trainer: prompts arrive repeated, whole groups in a row."""
    (prompts,) = one_step["rollout_prompts"]
    assert len(prompts) == ROWS
    groups = [prompts[i : i + GROUP] for i in range(0, ROWS, GROUP)]
    assert all(len(set(g)) == 1 for g in groups)
    assert {g[0] for g in groups} == {"question 0", "question 1"}


def test_extra_fields_reach_every_reward_function_and_env_mask_does_not(one_step):
    """Note on extra fields: every key but env_mask is merged into the rows, so rewards get kwargs[key]."""
    (kwargs,) = one_step["reward_kwargs"]
    assert kwargs["probe"] == [f"row{i}" for i in range(ROWS)]
    assert "env_mask" not in kwargs
    prompts = one_step["rollout_prompts"][0]
    assert kwargs["question_id"] == [f"q{p.split()[-1]}" for p in prompts]  # dataset columns pass through
    assert callable(kwargs["log_metric"])


def test_env_mask_becomes_the_loss_mask_and_the_length(one_step):
    """Note on env_mask: popped, used as tool_mask, multiplied into the loss mask; lengths count mask 1."""
    (inputs,) = one_step["loss_inputs"]
    tool_mask = inputs["tool_mask"]
    assert tool_mask[:, : len(ENV_MASK)].tolist() == [ENV_MASK] * ROWS
    log = one_step["log"]
    assert log["completions/mean_length"] == pytest.approx(sum(ENV_MASK) + 1)


def test_rewards_are_weighted_and_logged_per_function(one_step):
    """Note on rewards: TRL's weighted sum of the functions is the logged reward; each is logged by name."""
    log = one_step["log"]
    assert log["rewards/reward_a/mean"] == pytest.approx(0.5)
    assert log["rewards/reward_b/mean"] == pytest.approx(1.0)
    assert log["reward"] == pytest.approx(1.0 * 0.5 + 0.5 * 1.0)
    assert log["frac_reward_zero_std"] == pytest.approx(0.0)


def test_clipped_ratio_counts_completions_without_eos(one_step):
    """Note on termination: appending EOS to answered episodes makes clipped_ratio mean "out of turns"."""
    assert one_step["log"]["completions/clipped_ratio"] == pytest.approx(0.5)


def test_log_metric_reaches_the_logs(one_step):
    """Note on metrics: what the rollout passes to trainer._log_metric is averaged into the step's logs."""
    assert one_step["log"]["env/probe"] == pytest.approx(7.0)
