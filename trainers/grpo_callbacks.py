"""Trainer callbacks of the GRPO stage: the per-step JSONL logs and checkpoint-on-signal.

:class:`GRPOLogCallback` turns each of TRL's per-step log dicts into one ``grpo_log.jsonl``
line with stable keys (``step``, ``reward``, ``reward_std``, ``rewards/<component>``,
``frac_reward_zero_std``, ``retrieval_hit_rate``, ``searches_per_episode``, ``answer_length``,
``kl``, ``step_time_s``, ``tokens_per_s``, ``hacking/...`` (diagnostics), time breakdown, question ids)
and appends the step's sampled trajectories to ``trajectories.jsonl`` (``Trajectory.to_json()``
with ``metadata.reward_total``; ``teacherforge rewards replay`` rescores them). On resume both
files are cut back to the checkpoint's step, so a resumed run's logs equal an uninterrupted one.

:class:`SignalCheckpoint` makes SIGTERM/SIGINT finish the current step, save a checkpoint and
stop training cleanly (the run then resumes with ``--resume``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from teacherforge.run import TrainingDir
from teacherforge.trainers.grpo_rollout import METRIC_PREFIX, EnvRollout
from teacherforge.workspace import atomic_write_jsonl, read_jsonl

log = logging.getLogger(__name__)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


#: Rollout metrics copied into ``grpo_log.jsonl`` whole: hacking diagnostics, the noise curriculum,
#: step-wise search rewards, reward failure rates and the group judge's counters.
LOGGED_PREFIXES = ("hacking/", "noise/", "stepwise/", "reward_error_rate/", "judge/")


def step_record(
    logs: dict[str, Any],
    *,
    step: int,
    components: Sequence[str],
    step_time_s: float,
    question_ids: Sequence[str],
) -> dict[str, Any]:
    """One ``grpo_log.jsonl`` line from TRL's log dict of a training step.

    >>> rec = step_record({"reward": 0.5, "rewards/f1/mean": 0.25, "env/rollout_tokens": 100.0},
    ...                   step=1, components=["f1"], step_time_s=2.0, question_ids=["q1"])
    >>> rec["reward"], rec["rewards/f1"], rec["tokens_per_s"]
    (0.5, 0.25, 50.0)
    """
    env = {k[len(METRIC_PREFIX) :]: v for k, v in logs.items() if k.startswith(METRIC_PREFIX)}
    record: dict[str, Any] = {
        "step": step,
        "reward": _number(logs.get("reward")),
        "reward_std": _number(logs.get("reward_std")),
    }
    for name in components:
        record[f"rewards/{name}"] = _number(logs.get(f"rewards/{name}/mean"))
    tokens = _number(env.get("rollout_tokens")) or 0.0
    record.update(
        {
            "frac_reward_zero_std": _number(logs.get("frac_reward_zero_std")),
            "retrieval_hit_rate": _number(env.get("retrieval_hit_rate")),
            "searches_per_episode": _number(env.get("searches_per_episode")),
            "answer_length": _number(env.get("answer_length")),
            "well_formed": _number(env.get("well_formed")),
            "kl": _number(logs.get("kl")),
            "loss": _number(logs.get("loss")),
            "grad_norm": _number(logs.get("grad_norm")),
            "learning_rate": _number(logs.get("learning_rate")),
            "step_time_s": round(step_time_s, 4),
            "tokens_per_s": round(tokens / step_time_s, 2) if step_time_s > 0 else None,
            "time/rollout_s": _number(env.get("rollout_s")),
            "time/generation_s": _number(env.get("generation_s")),
            "time/retrieval_s": _number(env.get("retrieval_s")),
            "time/reward_s": _number(env.get("reward_s")),
            "question_ids": list(question_ids),
        }
    )
    rollout = _number(env.get("rollout_s"))
    if rollout is not None:
        record["time/train_s"] = round(max(step_time_s - rollout, 0.0), 4)
    for key, value in env.items():
        if key.startswith(LOGGED_PREFIXES):
            record[key] = _number(value)
    return record


class GRPOLogCallback(TrainerCallback):
    """Writes ``grpo_log.jsonl`` and ``trajectories.jsonl`` (see the module docstring)."""

    def __init__(
        self,
        output_dir: str | Path,
        rollout: EnvRollout,
        components: Sequence[str],
        resume_step: int = 0,
        echo: bool = True,
    ) -> None:
        self.files = TrainingDir(Path(output_dir))
        self.rollout = rollout
        self.components = list(components)
        self.echo = echo
        self.records = self._load(self.files.grpo_log, resume_step)
        self.trajectories = self._load(self.files.trajectories, resume_step, key="metadata")
        self._rewrite()
        self._last = time.perf_counter()

    @staticmethod
    def _load(path: Path, resume_step: int, key: str | None = None) -> list[dict]:
        if resume_step <= 0 or not path.exists():
            return []
        rows = read_jsonl(path)
        return [
            r
            for r in rows
            if int((r.get(key) or {}).get("step", 0) if key else r.get("step", 0)) <= resume_step
        ]

    def _rewrite(self) -> None:
        atomic_write_jsonl(self.files.grpo_log, self.records)
        atomic_write_jsonl(self.files.trajectories, self.trajectories)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not logs or "reward" not in logs or not state.is_world_process_zero:
            return  # the end-of-training summary and eval logs have no per-step reward
        now = time.perf_counter()
        record = step_record(
            logs,
            step=state.global_step,
            components=self.components,
            step_time_s=now - self._last,
            question_ids=self.rollout.last_question_ids,
        )
        self._last = now
        self.records = [r for r in self.records if r["step"] < record["step"]] + [record]
        self.trajectories.extend(self.rollout.sampled)
        self.rollout.sampled = []
        self._rewrite()
        if self.echo:
            parts = [
                f"step {record['step']}",
                f"reward {record['reward']:.3f}" if record["reward"] is not None else "reward ?",
                f"hit {record['retrieval_hit_rate']}",
                f"{record['step_time_s']:.1f}s",
            ]
            log.info("grpo: %s", " | ".join(str(p) for p in parts))


class RewardFailureStop(TrainerCallback):
    """Stops training, saving a checkpoint, when a reward fails on more than ``limit`` of a step's
    samples (``rewards.max_error_rate``): training on the zeros a failing reward scores would teach
    nothing. :attr:`failure` says which reward, how often and at which step."""

    def __init__(self, rollout: EnvRollout, limit: float) -> None:
        self.rollout = rollout
        self.limit = limit
        self.failure: tuple[str, float, int] | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        rates = self.rollout.last_error_rates
        worst = max(rates, key=rates.get, default=None)
        if worst is not None and rates[worst] > self.limit and self.failure is None:
            self.failure = (worst, rates[worst], int(state.global_step))
            control.should_save = True
            control.should_training_stop = True


class SignalCheckpoint(TrainerCallback):
    """On SIGTERM/SIGINT: finish the step, save a checkpoint, stop. Handlers restored by :meth:`close`."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        for sig in self.SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: signals cannot be caught
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C aborts at once
        self.received = signum
        log.warning("grpo: got %s; saving a checkpoint after this step", signal.Signals(signum).name)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True

    def close(self) -> None:
        """Restore the signal handlers that were installed before."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
