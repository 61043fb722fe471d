"""GRPO on the search environment: TRL ``GRPOTrainer`` + PEFT LoRA + the env's batched driver.

One row per training question; ``rollout_func`` (:class:`~teacherforge.trainers.grpo_rollout.EnvRollout`)
plays each question's group of episodes in the environment, scores every episode once with the
task's rubric, one group at a time (per-group components see whole groups), and hands TRL the
token ids, the env mask and the scores; one TRL reward function per rubric component returns
the stored scores. ``rollout_func`` is experimental in TRL: each TRL 1.16 behaviour this module
relies on is noted beside the code that depends on it (``TRL 1.16:`` comments) and pinned by
``tests/trainers/test_trl_contract.py``, which fails when an upgrade changes it.

- **Group diversity.** The ``num_generations`` copies of a question must be different samples.
  The driver asks for one completion per live episode; ``TransformersBackend`` gives a prompt
  repeated within one call successive sample indices (hence seeds), so a group is diverse by
  construction (``teacherforge.llm.transformers_backend.repeat_offsets``).
- **Checkpoints.** HF ``Trainer`` saves ``checkpoint-N`` (adapter, optimizer, scheduler,
  ``trainer_state.json``, ``rng_state.pth``) every ``save_steps``; ``train(resume_from_checkpoint=…)``
  restores them and skips the already-consumed batches of the seeded sampler, so the data order
  continues unchanged. Rollout sampling is seeded with ``seed + global_step``, so a resumed
  step samples exactly as the uninterrupted one would.

Entry point: :func:`run_grpo` (stage function); :func:`check_grpo_config` fails on config and
run-dir errors before any model loads; :func:`build_grpo_trainer` is exposed for tests.
Multi-GPU: ``accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m
teacherforge.cli train grpo --config configs/grpo_qwen_gpu.yaml``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from teacherforge.config import Config, ConfigError
from teacherforge.records import feedback_copies
from teacherforge.run import RunLayout, TrainingDir
from teacherforge.trainers.grpo_rollout import BackendFactory
from teacherforge.trainers.tracking import report_targets
from teacherforge.workspace import Step, config_slice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GRPOPlan:
    """Everything checked before a model loads: paths, questions, rubric, checkpoint to resume."""

    run_dir: Path
    output_dir: Path
    questions: tuple[Any, ...]  # teacherforge.records.Question, train split, unique prompts
    rubric: Any
    checkpoint: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def outputs(self) -> TrainingDir:
        """The files inside ``output_dir`` (adapter, logs, warm start)."""
        return TrainingDir(self.output_dir)


def output_dir_of(config: Config) -> Path:
    """The GRPO output directory: ``grpo.output_dir`` or ``<run_dir>/grpo``."""
    return RunLayout(config.run_path).training_dir("grpo", config.grpo.output_dir).path


def check_grpo_config(config: Config, resume: bool = False) -> GRPOPlan:
    """Validate the GRPO stage's inputs without loading a model; raise a one-line error on a problem.

    Checks: the run dir and its ``questions.json`` and index exist; the reward rubric resolves
    (unknown reward names list the known ones); there are enough training questions for one
    batch; optional extras (vLLM, Unsloth) are installed when switched on; ``resume`` has a
    checkpoint to resume from. Config values themselves (e.g. the group size dividing the
    batch) are checked once, when the config is built (``GRPOStageConfig.__post_init__``).
    """
    from teacherforge.envs.task import rubric_of

    cfg = config.grpo
    run_dir = config.run_path
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run dir {run_dir} does not exist; run `teacherforge datagen` first or pass "
            "--run-dir pointing at a datagen run"
        )
    layout, index = RunLayout(run_dir), config.retrieval.index
    if not layout.has_index(index):
        raise FileNotFoundError(
            f"{layout.index_dir(index)}: no retriever index there (retrieval.index={index!r}); run "
            "`teacherforge datagen` for this run dir or choose retrieval.index=original"
        )
    if config.env.noise.source == "paraphrased" and not layout.has_index("paraphrased"):
        raise FileNotFoundError(
            f"{layout.index_dir('paraphrased')}: no paraphrased index for env.noise.source=paraphrased; enable "
            "datagen.paraphrase and rerun `teacherforge datagen`, or set env.noise.source=distractors"
        )
    questions = layout.questions(config.env.split)
    unique: dict[str, Any] = {}
    for q in questions:
        unique.setdefault(q.question, q)
    per_step = cfg.batch_size // cfg.num_generations
    if len(unique) < per_step:
        raise ConfigError(
            f"grpo.batch_size: one step needs {per_step} distinct questions "
            f"(batch_size / num_generations) but split {config.env.split!r} has {len(unique)}"
        )
    rubric = rubric_of(config)
    if cfg.use_vllm and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "grpo.use_vllm: vLLM is not installed; pip install 'teacherforge[gpu]' or set grpo.use_vllm=false"
        )
    if cfg.use_unsloth and importlib.util.find_spec("unsloth") is None:
        raise ConfigError(
            "grpo.use_unsloth: Unsloth is not installed; pip install 'teacherforge[unsloth]' or "
            "set grpo.use_unsloth=false"
        )
    out = output_dir_of(config)
    checkpoint = None
    if resume:
        from teacherforge.trainers.sft_common import last_checkpoint

        checkpoint = last_checkpoint(out)
        if checkpoint is None:
            raise FileNotFoundError(f"--resume: no checkpoint-* in {out}; run without --resume to start")
    return GRPOPlan(
        run_dir=run_dir,
        output_dir=out,
        questions=tuple(unique.values()),
        rubric=rubric,
        checkpoint=checkpoint,
    )


def load_policy(config: Config, adapter: str | os.PathLike[str] | None = None) -> tuple[Any, Any, Any]:
    """``(model, tokenizer, peft_config)`` for GRPO.

    Without ``adapter`` the model is the plain base and ``peft_config`` a fresh LoRA for TRL to
    apply; with one (the warm start's), the adapter is loaded *trainable* and GRPO continues it
    (``peft_config`` is ``None``), so the final adapter applies to the original base model.
    With ``grpo.use_unsloth`` the model comes from Unsloth's ``FastLanguageModel``.
    """
    from teacherforge.trainers.sft_common import peft_lora_config

    cfg = config.grpo
    if cfg.use_unsloth:
        return _load_unsloth(config, adapter)
    from teacherforge.models import load_causal_lm

    model, tokenizer = load_causal_lm(cfg.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter is None:
        return model, tokenizer, peft_lora_config(cfg.lora)
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True), tokenizer, None


def _load_unsloth(config: Config, adapter: str | os.PathLike[str] | None) -> tuple[Any, Any, Any]:
    try:
        from unsloth import FastLanguageModel
    except ImportError as exc:
        raise ImportError("grpo.use_unsloth needs Unsloth: pip install 'teacherforge[unsloth]'") from exc
    from teacherforge.models import llm_path

    cfg = config.grpo
    max_len = config.env.max_turns * (config.env.max_new_tokens + config.env.max_observation_chars // 3) + 512
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(adapter) if adapter else llm_path(cfg.model),
        max_seq_length=max_len,
        load_in_4bit=False,
        fast_inference=cfg.use_vllm,
        gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
    )
    if adapter is None:
        model = FastLanguageModel.get_peft_model(
            model,
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=list(cfg.lora.target_modules),
            use_gradient_checkpointing="unsloth",
            random_state=config.seed,
        )
    return model, tokenizer, None


@dataclass
class GRPOSetup:
    """A built trainer and the pieces around it (returned by :func:`build_grpo_trainer`)."""

    trainer: Any
    rollout: Any
    log_callback: Any
    plan: GRPOPlan
    components: list[str]


def build_grpo_trainer(
    config: Config,
    plan: GRPOPlan,
    *,
    model: Any = None,
    tokenizer: Any = None,
    peft_config: Any = None,
    backend_factory: BackendFactory | None = None,
    task: Any = None,
) -> GRPOSetup:
    """A configured TRL ``GRPOTrainer`` with the env rollout, rubric rewards and the log callback.

    ``model``/``tokenizer`` default to :func:`load_policy`; ``backend_factory`` replaces the
    live-policy rollout backend (tests use a scripted one); ``task`` (a
    :class:`~teacherforge.envs.task.SearchTask`) defaults to the run dir's task over the
    plan's questions and rubric. The rollout scores each episode once with the task's rubric
    and TRL's reward functions return those scores.
    """
    from datasets import Dataset
    from trl import GRPOTrainer

    from teacherforge.envs.driver import RolloutDriver
    from teacherforge.envs.task import build_task
    from teacherforge.rewards.trl import rubric_to_trl_rewards, trl_reward_weights
    from teacherforge.trainers.grpo_callbacks import GRPOLogCallback
    from teacherforge.trainers.grpo_rollout import EnvRollout, Stopwatch, TimedRetriever, TimedRubric
    from teacherforge.types import GenerationParams

    cfg = config.grpo
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    if model is None:
        model, tokenizer, peft_config = load_policy(config)
    if tokenizer is None:
        raise ValueError("build_grpo_trainer: pass tokenizer= together with model=")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if task is None:
        task = build_task(config, plan.run_dir, questions=plan.questions, rubric=plan.rubric)
    curriculum = noise_curriculum(config, plan, task.retriever)
    if curriculum is not None:
        task = replace(task, retriever=curriculum)
    watch = Stopwatch()
    timed = replace(
        task, retriever=TimedRetriever(task.retriever, watch), rubric=TimedRubric(task.rubric, watch)
    )
    params = GenerationParams(max_new_tokens=config.env.max_new_tokens, temperature=cfg.temperature, n=1)
    rollout = EnvRollout(
        RolloutDriver(timed, tokenizer=tokenizer),
        params,
        group_size=cfg.num_generations,
        seed=config.seed,
        watch=watch,
        trajectories_per_step=cfg.trajectories_per_step,
        backend_factory=backend_factory,
        curriculum=curriculum,
    )
    # TRL 1.16: RepeatSampler (seeded with args.seed) repeats each dataset row num_generations times
    # in a row, so every generation holds whole groups of one question.
    # Questions derived from a student failure are drawn grpo.feedback_oversample x their weight times.
    dataset = Dataset.from_list(
        [
            {"prompt": q, "question_id": r.id}
            for q, r in rollout.questions.items()
            for _ in range(feedback_copies(r.metadata, cfg.feedback_oversample))
        ]
    )
    reward_funcs = rubric_to_trl_rewards(task.rubric)
    components = [f.__name__ for f in reward_funcs]
    args = trl_args(config, plan, trl_reward_weights(task.rubric))
    resume_step = int(plan.checkpoint.name.split("-")[-1]) if plan.checkpoint else 0
    log_callback = GRPOLogCallback(plan.output_dir, rollout, components, resume_step=resume_step)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        # TRL 1.16: rollout_func replaces TRL's generation. _generate calls rollout(prompts, trainer)
        # with the already repeated per-process prompts of one generation (its docstring says
        # otherwise; the code passes [x["prompt"] for x in inputs]); the rollout returns one completion
        # per prompt: prompt_ids, completion_ids and logprobs (None is accepted: they only feed vLLM
        # importance sampling). Every other key is an extra field: "env_mask" is popped and used as
        # the tool mask, multiplied into completion_mask for the loss (_compute_loss), and only its
        # 1-tokens count as completion length; the rest are merged into each input row
        # (inp[key] = values[i]) and reach every reward function as kwargs[key] lists
        # (rewards.trl reads them). A completion not ending in EOS counts as clipped, so the
        # rollout appends EOS to answered episodes and clipped_ratio means "ran out of turns".
        # Metrics the rollout passes to trainer._log_metric are averaged per logging step next to
        # TRL's own, reaching callbacks' on_log (grpo_log.jsonl) and W&B.
        rollout_func=rollout,
        callbacks=[log_callback],
    )
    return GRPOSetup(
        trainer=trainer, rollout=rollout, log_callback=log_callback, plan=plan, components=components
    )


def noise_curriculum(config: Config, plan: GRPOPlan, retriever: Any) -> Any:
    """``env.noise``'s :class:`~teacherforge.envs.curriculum.NoisyRetriever` over ``retriever``, or ``None``."""
    noise = config.env.noise
    if noise.source == "none":
        return None
    from teacherforge.envs.curriculum import NoisyRetriever

    noisy = None
    if noise.source == "paraphrased":
        noisy = RunLayout(plan.run_dir).retriever("paraphrased", config.retrieval)
    return NoisyRetriever(retriever, noise, config.seed, noisy=noisy)


def trl_args(config: Config, plan: GRPOPlan, reward_weights: list[float]) -> Any:
    """TRL's ``GRPOConfig`` for this stage: one generation of ``grpo.batch_size`` completions
    per process feeds one optimizer step (the ``TRL 1.16:`` notes below say why)."""
    from trl import GRPOConfig

    from teacherforge.trainers.sft_common import _mixed_precision

    cfg = config.grpo
    return GRPOConfig(
        output_dir=str(plan.output_dir),
        run_name=f"{config.name}-grpo",
        # TRL 1.16: generation_batch_size = per_device_train_batch_size × num_processes ×
        # steps_per_generation, and steps_per_generation defaults to gradient_accumulation_steps,
        # so one generation of grpo.batch_size completions per process feeds exactly one optimizer
        # step. _calculate_rewards gathers rewards across processes before normalising, as a group
        # may span processes in general; here it never does: a process's slice is grpo.batch_size
        # rows of RepeatSampler's runs of num_generations copies, and grpo.batch_size is a multiple
        # of num_generations (checked), so the per-process rollout holds every group whole.
        per_device_train_batch_size=cfg.batch_size // cfg.gradient_accumulation_steps,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_generations=cfg.num_generations,
        max_completion_length=config.env.max_new_tokens * config.env.max_turns,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant",  # a run resumed with a larger max_steps keeps its schedule
        beta=cfg.beta,
        temperature=cfg.temperature,
        max_steps=cfg.max_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        logging_steps=1,
        seed=config.seed,
        data_seed=config.seed,
        report_to=report_targets(cfg.report_to, plan.output_dir),
        # TRL 1.16: the logged reward is the reward_weights-weighted sum of the reward functions
        # (here the rubric total), each function also logged as rewards/<name>/mean; advantages
        # are normalised per group, and frac_reward_zero_std is the share of groups whose rewards
        # are all equal (no gradient from them).
        reward_weights=reward_weights,
        scale_rewards="group",
        # Would drop every completion not ending in EOS, and most episodes end at </answer>.
        mask_truncated_completions=False,
        disable_dropout=True,
        log_completions=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        # TRL 1.16: with use_vllm and colocate mode TRL builds a vLLM engine in-process and syncs the
        # policy weights into it before each rollout_func call; the rollout samples through it
        # (teacherforge.trainers.grpo_vllm), otherwise through the live policy.
        use_vllm=cfg.use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
        vllm_importance_sampling_correction=cfg.use_vllm,
        **_mixed_precision(),
    )


def save_merged(model: Any, tokenizer: Any, out_dir: str | os.PathLike[str]) -> Path:
    """Fold a PEFT adapter into its base weights and save a plain HF model (+ tokenizer) to ``out_dir``."""
    from teacherforge.workspace import atomic_path

    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    out = Path(out_dir)
    with atomic_path(out) as tmp:
        tmp.unlink()
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if out.exists():
            import shutil

            shutil.rmtree(out)
    return out


class RewardFailureError(ValueError):
    """A reward failed on more than ``rewards.max_error_rate`` of a step's samples; a checkpoint was saved."""


def train_grpo(
    config: Config,
    plan: GRPOPlan,
    *,
    adapter: str | os.PathLike[str] | None = None,
    backend_factory: BackendFactory | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Build the trainer, train (resuming from ``plan.checkpoint``), save the adapter; return a summary.

    ``callbacks`` are extra trainer callbacks (e.g. the MLflow logger).
    """
    from teacherforge.trainers.grpo_callbacks import RewardFailureStop, SignalCheckpoint

    model, tokenizer, peft_config = load_policy(config, adapter)
    setup = build_grpo_trainer(
        config,
        plan,
        model=model,
        tokenizer=tokenizer,
        peft_config=peft_config,
        backend_factory=backend_factory,
    )
    trainer = setup.trainer
    signals = SignalCheckpoint()
    failures = RewardFailureStop(setup.rollout, config.rewards.max_error_rate)
    for callback in (signals, failures, *callbacks):
        trainer.add_callback(callback)
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(plan.checkpoint) if plan.checkpoint else None)
    finally:
        signals.close()
    if failures.failure is not None:
        name, rate, step = failures.failure
        raise RewardFailureError(
            f"grpo: reward {name!r} failed on {rate:.0%} of step {step}'s samples, above rewards.max_error_rate "
            f"{config.rewards.max_error_rate}; training stopped at {plan.output_dir / f'checkpoint-{step}'} (the "
            "first traceback is in the log); fix the reward or raise the limit, then rerun with --resume"
        )
    wall = time.perf_counter() - started
    records = setup.log_callback.records
    summary: dict[str, Any] = {
        "steps": int(trainer.state.global_step),
        "interrupted": signals.received is not None,
        "train_s": round(wall, 2),
        "log": str(plan.outputs.grpo_log),
        "trajectories": str(plan.outputs.trajectories),
        "components": setup.components,
        "reward_first": records[0]["reward"] if records else None,
        "reward_last": records[-1]["reward"] if records else None,
        "mean_step_time_s": (sum(r["step_time_s"] for r in records) / len(records)) if records else None,
    }
    if signals.received is not None:
        summary["checkpoint"] = str(plan.output_dir / f"checkpoint-{trainer.state.global_step}")
        return summary
    if trainer.is_world_process_zero():
        adapter_dir = plan.outputs.adapter
        trainer.save_model(str(adapter_dir))
        summary["adapter"] = str(adapter_dir)
        if config.grpo.merge and config.grpo.select_checkpoint == "last":  # "best": merged after the choice
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            summary["merged"] = str(save_merged(unwrapped, trainer.processing_class, plan.outputs.merged))
    return summary


#: GRPO keys that change neither the adapter nor the logs' numbers.
_GRPO_UNREAD = ("output_dir", "report_to", "trajectories_per_step", "vllm_gpu_memory_utilization")


def grpo_steps(config: Config, opaque: bool = False) -> tuple[Step | None, Step]:
    """What the warm start (with ``grpo.warm_start``) and GRPO read and write: their fingerprints.

    Both read the questions and the searched index, the ``env`` keys, the search-time retrieval
    keys and the seed. The warm start reads the policy model, its LoRA and the
    ``grpo.warm_start_*`` keys; GRPO reads every ``grpo`` key but where outputs go and what is
    logged, the ``rewards`` keys and the warm start's adapter.
    """
    from teacherforge.config.retrieval import SEARCH_KEYS

    layout, files = RunLayout(config.run_path.resolve()), TrainingDir(output_dir_of(config).resolve())
    shared = ["seed", "env", *(f"retrieval.{k}" for k in SEARCH_KEYS)]
    inputs = [layout.questions_file, layout.index_dir(config.retrieval.index)]
    names = [f.name for f in fields(config.grpo)]
    warm = None
    if config.grpo.init_adapter:
        inputs = [*inputs, Path(config.grpo.init_adapter).resolve()]
    elif config.grpo.warm_start:
        keys = ["grpo.model", "grpo.lora", *(f"grpo.{k}" for k in names if k.startswith("warm_start_"))]
        warm_outputs = [files.warm_start.adapter, files.warm_start_summary]
        warm = Step("grpo_warm_start", config_slice(config, *shared, *keys), inputs, warm_outputs)
        inputs = [*inputs, files.warm_start.adapter]
    keys = [*shared, "rewards", *(f"grpo.{k}" for k in names if k not in _GRPO_UNREAD)]
    produced = [files.adapter] + ([files.merged] if config.grpo.merge else [])
    return warm, Step("grpo", config_slice(config, *keys), inputs, produced, opaque=opaque)


def run_grpo(config: Config, resume: bool = False, *, backend_factory: BackendFactory | None = None) -> dict:
    """The GRPO stage: optional SFT warm start, then GRPO on the run dir's environment.

    Opens the run dir (recording ``grpo_warm_start`` and ``grpo`` steps in the manifest), prints
    a one-screen summary and returns it as a dict (steps, rewards first/last, paths, timings,
    warm-start report). Config and input errors are raised before any model loads
    (:func:`check_grpo_config`). Each step is skipped when already done (:func:`grpo_steps`); a
    GRPO run that stopped with the same fingerprint (killed, interrupted, failed) continues from
    its last checkpoint; ``resume`` continues from it whatever changed; otherwise GRPO starts
    afresh, without the checkpoints of earlier runs. ``backend_factory`` replaces the rollout
    backend (tests pass a scripted policy; such a run always runs).
    """
    from teacherforge.trainers.plots import write_reward_report
    from teacherforge.trainers.sft_common import start_point
    from teacherforge.trainers.tracking import ending_runs, mlflow_logger
    from teacherforge.workspace import RunDir, skipped_summary

    plan = check_grpo_config(config, resume=resume)
    tracker = mlflow_logger(config, "grpo")  # an unusable store fails here, before any training
    warm_step, declared = grpo_steps(config, opaque=backend_factory is not None)
    with RunDir(config.run_path) as run:
        summary: dict[str, Any] = {"output_dir": str(plan.output_dir), "smoke": config.grpo.smoke}
        if warm_step is not None:
            summary["warm_start"] = _warm_start(config, plan, run, warm_step)
        done = run.done(declared)
        if done is not None:
            return skipped_summary(done)
        plan = replace(plan, checkpoint=start_point(plan.output_dir, resume or run.unfinished(declared)))
        with run.step(declared) as step:
            adapter = config.grpo.init_adapter or (
                summary["warm_start"]["adapter"] if warm_step is not None else None
            )
            with ending_runs(tracker):
                trained = train_grpo(
                    config,
                    plan,
                    adapter=adapter,
                    backend_factory=backend_factory,
                    callbacks=[tracker] if tracker else (),
                )
            summary.update(trained)
            if not summary["interrupted"]:
                summary.update(write_reward_report(plan.output_dir))
                if config.grpo.select_checkpoint == "best" and summary.get("adapter"):
                    summary.update(choose_checkpoint(config, plan.output_dir, summary["steps"]))
            step.outputs.update(
                {
                    k: _relative(v, config.run_path)
                    for k, v in summary.items()
                    if k in ("log", "trajectories", "adapter", "merged", "plot", "report")
                }
            )
            step.counts.update({"steps": summary["steps"]})
            step.status = "interrupted" if summary["interrupted"] else "done"
            summary["status"] = step.status
            step.extra["summary"] = {k: v for k, v in summary.items() if k not in ("warm_start",)}
    print(format_summary(summary))
    return summary


def _warm_start(config: Config, plan: GRPOPlan, run: Any, step: Step) -> dict[str, Any]:
    """The warm start's report: the recorded one when the step is already done, else a new run."""
    from teacherforge.trainers.warm_start import run_warm_start

    done = run.done(step)
    if done is not None:
        log.info("warm start: up to date, reusing %s", done["summary"]["adapter"])
        return done["summary"]
    with run.step(step) as record:
        record.extra["summary"] = run_warm_start(config, plan)
    return record.extra["summary"]


def choose_checkpoint(config: Config, output_dir: Path, steps: int) -> dict[str, Any]:
    """Keep the checkpoint with the best validation F1 (agentic mode) as the adapter; merge it if asked."""
    from teacherforge.trainers.evaluate import adapter_scorer
    from teacherforge.trainers.selection import select_checkpoint
    from teacherforge.trainers.sft import merge_adapter

    score = adapter_scorer(config, config.grpo.model, "agentic", "validation", config.grpo.select_questions)
    out: dict[str, Any] = {"selection": select_checkpoint(output_dir, steps, score)}
    if config.grpo.merge:
        out["merged"] = str(
            merge_adapter(config.grpo.model, TrainingDir(output_dir).adapter, TrainingDir(output_dir).merged)
        )
    return out


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen summary printed at the end of the stage."""
    lines = ["GRPO " + ("interrupted (resume with --resume)" if summary.get("interrupted") else "finished")]
    if summary.get("smoke"):
        lines.append(
            "  SMOKE RUN (grpo.smoke): too few steps to measure learning; `make bench-learning` runs GRPO "
            "long enough and reports held-out figures"
        )
    warm = summary.get("warm_start")
    if warm:
        lines.append(
            f"  warm start: {warm.get('examples')} synthetic episodes, {warm.get('steps')} SFT steps, "
            f"well-formed {warm.get('well_formed_before')} → {warm.get('well_formed_after')} on "
            f"{warm.get('held_out')} validation questions"
        )
        if warm.get("dropped") and any(warm["dropped"].values()):
            lines.append(f"  warm start dropped (would be cut before the answer): {warm['dropped']}")
    if summary.get("selection"):
        sel = summary["selection"]
        lines.append(f"  checkpoint chosen on validation F1: step {sel['chosen_step']} of {sel['scores']}")
    lines.append(
        f"  steps: {summary.get('steps')}  reward first → last: {summary.get('reward_first')} → "
        f"{summary.get('reward_last')}  mean step {summary.get('mean_step_time_s')}"
    )
    if summary.get("curve"):
        lines.append("  reward curve: " + summary["curve"])
    for key in ("log", "trajectories", "plot", "adapter", "merged", "checkpoint"):
        if summary.get(key):
            lines.append(f"  {key}: {summary[key]}")
    return "\n".join(lines)
