"""GRPO step time with the search environment vs plain TRL GRPOTrainer, measured in one run.

Both trainers use the same policy (embedded SmolLM2-135M + the same LoRA), the same batch and
group size and the same number of completion tokens per sample: ours runs the env rollout
(live policy through the driver, BM25/dense retrieval, rubric rewards through ``rewards.trl``);
plain TRL generates single-turn completions forced to the mean length our episodes had
(``min_new_tokens = max_new_tokens``) and scores them with a trivial reward. Reports the
mean step time after a warm-up step, the ratio (goal ≤ 1.15×) and our per-step breakdown
(generation, retrieval, reward, train = forward/backward/optimizer).

    python benchmarks/bench_grpo.py --run-dir runs/quickstart [--steps 3] [--batch 4] [--model PATH]
    python benchmarks/bench_grpo.py              # a 40-chunk Apollo 13 run dir built in a temp dir
    python benchmarks/bench_grpo.py --smoke      # a tiny random model, 2 steps: seconds

The GPU comparison (vLLM rollouts vs HF generate, goal ≥ 5×) needs a CUDA machine with vLLM.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import benchkit


class StepTimer:
    """A trainer callback recording the wall time of each optimizer step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class _CB(TrainerCallback):
            def on_train_begin(self, *a, **k):
                timer.last = time.perf_counter()

            def on_step_end(self, *a, **k):
                now = time.perf_counter()
                timer.steps.append(now - timer.last)
                timer.last = now

        self.steps: list[float] = []
        self.last = time.perf_counter()
        self.callback = _CB()


def _mean_after_warmup(values: list[float]) -> float:
    return statistics.mean(values[1:] if len(values) > 1 else values)


def run_ours(config, plan, task) -> dict:
    from teacherforge.trainers import grpo

    setup = grpo.build_grpo_trainer(config, plan, task=task)
    setup.trainer.train()
    recs = setup.log_callback.records
    keep = recs[1:] if len(recs) > 1 else recs

    def mean(key: str) -> float:
        return statistics.mean(r[key] or 0.0 for r in keep)

    tokens = [json.loads(line) for line in plan.outputs.grpo_log.read_text().splitlines()]
    return {
        "step_s": mean("step_time_s"),
        "generation_s": mean("time/generation_s"),
        "retrieval_s": mean("time/retrieval_s"),
        "reward_s": mean("time/reward_s"),
        "train_s": mean("time/train_s"),
        "rollout_s": mean("time/rollout_s"),
        "completion_tokens": setup.rollout.last_stats.get("model_tokens", 0) / config.grpo.batch_size,
        "env_tokens": setup.rollout.last_stats.get("env_tokens", 0) / config.grpo.batch_size,
        "reward": [r["reward"] for r in tokens],
    }


def run_plain(config, plan, task, steps: int, completion_len: int) -> dict:
    """Plain TRL on the same questions, with the task's system prompt (single-turn, no env)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from teacherforge.envs.prompts import build_messages
    from teacherforge.trainers import grpo
    from teacherforge.trainers.sft_common import _mixed_precision

    model, tokenizer, peft_config = grpo.load_policy(config)
    rows = [
        {
            "prompt": [
                {"role": m.role, "content": m.content} for m in build_messages(q.question, task.system_prompt)
            ]
        }
        for q in task.questions
    ]

    def trivial(completions, **kwargs):
        return [float(len(str(c)) % 2) for c in completions]

    timer = StepTimer()
    args = GRPOConfig(
        output_dir=str(plan.output_dir) + "_plain",
        per_device_train_batch_size=config.grpo.batch_size,
        num_generations=config.grpo.num_generations,
        max_completion_length=completion_len,
        generation_kwargs={"min_new_tokens": completion_len},
        learning_rate=config.grpo.learning_rate,
        lr_scheduler_type="constant",
        beta=config.grpo.beta,
        temperature=config.grpo.temperature,
        max_steps=steps,
        save_strategy="no",
        logging_steps=1,
        seed=config.seed,
        report_to=[],
        disable_dropout=True,
        log_completions=False,
        dataloader_num_workers=0,
        **_mixed_precision(),
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[trivial],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[timer.callback],
    )
    trainer.train()
    return {"step_s": _mean_after_warmup(timer.steps), "steps": timer.steps}


def main(argv: list[str] | None = None) -> int:
    parser = benchkit.parser(__doc__)
    parser.add_argument("--run-dir", help="a datagen run dir (default: 40 Apollo 13 chunks, BM25)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32, help="per env turn")
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_grpo_"))
    if args.smoke:
        args.model = str(benchkit.tiny_causal_lm(tmp / "tiny-model"))
        args.steps, args.batch, args.group, args.max_new_tokens = 2, 2, 2, 4

    import torch

    from teacherforge.config import load_config
    from teacherforge.envs.task import build_task
    from teacherforge.trainers import grpo

    torch.set_num_threads(args.threads)
    report = benchkit.Report("bench_grpo", args.smoke)
    run_dir = Path(args.run_dir) if args.run_dir else benchkit.apollo_run_dir(tmp / "run")
    overrides = [
        f"run_dir={run_dir}",
        f"grpo.model={args.model}",
        f"grpo.output_dir={tmp / 'ours'}",
        f"grpo.batch_size={args.batch}",
        f"grpo.num_generations={args.group}",
        f"grpo.max_steps={args.steps}",
        "grpo.save_steps=1000",
        "grpo.warm_start=false",
        "grpo.report_to=none",
        "grpo.trajectories_per_step=0",
        f"env.max_new_tokens={args.max_new_tokens}",
        f"env.max_turns={args.max_turns}",
        "retrieval.top_k=2",
        "env.max_observation_chars=1200",
    ]
    if not args.run_dir:
        overrides.append("retrieval.kind=bm25")  # as apollo_run_dir builds the index
    config = load_config(None, overrides)
    plan = grpo.check_grpo_config(config)
    task = build_task(config, plan.run_dir, questions=plan.questions, rubric=plan.rubric)
    ours = run_ours(config, plan, task)
    length = max(round(ours["completion_tokens"] + ours["env_tokens"]), 1)
    plain = run_plain(config, plan, task, args.steps, length)
    ratio = ours["step_s"] / plain["step_s"]
    model_name = Path(args.model).name if args.smoke else args.model
    breakdown = ", ".join(
        f"{k.removesuffix('_s')} {ours[k]:.3f}"
        for k in ("generation_s", "retrieval_s", "reward_s", "train_s")
    )
    report.add(
        benchkit.Table(
            "GRPO step time: ours (env rollouts) vs plain TRL GRPOTrainer",
            ("trainer", "step s", "ratio", "goal"),
            (
                ("plain TRL (trivial reward, baseline)", round(plain["step_s"], 2), 1.0, ""),
                ("ours (env + rubric)", round(ours["step_s"], 2), round(ratio, 2), "<= 1.15"),
            ),
            setup=(
                f"{model_name} + LoRA on CPU, batch {args.batch} (group {args.group}), {args.steps} steps (first "
                f"excluded), torch threads {args.threads}, completion ≈ {length} tokens/sample, run dir "
                f"{'given' if args.run_dir else '40 Apollo 13 chunks, BM25'}"
            ),
            notes=(
                f"our step breakdown (s): {breakdown}",
                f"our completions: {ours['completion_tokens']:.1f} model + {ours['env_tokens']:.1f} env tokens/sample",
            ),
            headline=(
                (
                    "our GRPO step (env rollouts) vs plain TRL GRPOTrainer, same model and batch",
                    f"{ratio:.2f}×",
                ),
            ),
        )
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
