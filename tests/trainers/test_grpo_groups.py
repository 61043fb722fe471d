"""Whole groups per process: the guarantee the per-group rubric components rely on.

The rollout scores each group (the ``num_generations`` samples of a question) where it runs,
in each training process. That is right only if no group spans two processes. These tests
lay a generation batch out exactly as TRL 1.16 and Accelerate do (``RepeatSampler``, the
dataloader's ``BatchSampler``, Accelerate's ``BatchSamplerShard`` per process) with the
arguments the GRPO stage gives TRL, for 1 to 4 simulated processes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit
from accelerate.data_loader import BatchSamplerShard
from torch.utils.data import BatchSampler
from trl.trainer.utils import RepeatSampler

from teacherforge.config import load_config
from teacherforge.trainers import grpo

QUESTIONS = 8  # training questions of the test run dir


def process_batches(per_device: int, steps_per_generation: int, group: int, processes: int, rank: int):
    """The generation batches (dataset indices) process ``rank`` receives, built as TRL and
    Accelerate build them: TRL's sampler, the per-process dataloader batch, Accelerate's shard."""
    per_process = per_device * steps_per_generation
    sampler = RepeatSampler(
        range(QUESTIONS),
        mini_repeat_count=group,
        batch_size=per_process * processes // group,
        repeat_count=steps_per_generation,
        shuffle=True,
        seed=0,
    )
    batches = BatchSampler(sampler, batch_size=per_process, drop_last=False)
    return list(BatchSamplerShard(batches, num_processes=processes, process_index=rank))


def whole_groups(batch: list[int], group: int) -> bool:
    """Whether ``batch`` is runs of ``group`` copies of one index."""
    return len(batch) % group == 0 and all(
        len(set(batch[i : i + group])) == 1 for i in range(0, len(batch), group)
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.make_run_dir(tmp_path_factory.mktemp("groups") / "run")


@pytest.mark.parametrize("accumulation", [1, 2])
def test_each_process_receives_whole_groups(run_dir: Path, tmp_path: Path, accumulation: int) -> None:
    config = load_config(
        None,
        kit.grpo_overrides(
            run_dir,
            tmp_path / "model",
            tmp_path / "out",
            **{"grpo.batch_size": 4 * accumulation, "grpo.gradient_accumulation_steps": accumulation},
        ),
    )
    args = grpo.trl_args(config, grpo.check_grpo_config(config), [1.0])
    per_device, steps, group = (
        args.per_device_train_batch_size,
        args.steps_per_generation,
        args.num_generations,
    )
    assert per_device * steps == config.grpo.batch_size  # one generation per process = grpo.batch_size rows
    for processes in range(1, 5):
        for rank in range(processes):
            batches = process_batches(per_device, steps, group, processes, rank)
            assert batches and all(whole_groups(b, group) for b in batches), (processes, rank, batches)


def test_the_layout_check_sees_a_split_group() -> None:
    """A per-process slice that is not a multiple of the group (3 rows, groups of 2) splits groups."""
    batches = process_batches(3, 1, 2, 2, 0) + process_batches(3, 1, 2, 2, 1)
    assert not all(whole_groups(b, 2) for b in batches)


def test_rollout_refuses_prompts_that_are_not_whole_groups(run_dir: Path, tmp_path: Path) -> None:
    from teacherforge.envs import RolloutDriver, build_task
    from teacherforge.trainers.grpo_rollout import EnvRollout, Stopwatch
    from teacherforge.types import GenerationParams

    config = load_config(None, kit.grpo_overrides(run_dir, tmp_path / "model", tmp_path / "out"))
    task = build_task(config, run_dir)
    rollout = EnvRollout(
        RolloutDriver(task),
        GenerationParams(),
        group_size=2,
        seed=0,
        watch=Stopwatch(),
        trajectories_per_step=0,
    )
    a, b = task.questions[0], task.questions[1]
    assert rollout._group_questions([a.question, a.question, b.question, b.question]) == [a, b]
    for prompts in ([a.question, b.question, a.question, b.question], [a.question] * 3):
        with pytest.raises(RuntimeError, match="not whole groups of 2"):
            rollout._group_questions(prompts)
