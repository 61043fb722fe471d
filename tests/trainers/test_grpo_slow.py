"""End to end with the real embedded SmolLM2-135M: a short warm start, then one GRPO step (slow)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import load_config
from teacherforge.trainers import grpo


@pytest.mark.slow
def test_real_model_warm_start_then_grpo(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(2)
    run_dir = kit.make_run_dir(tmp_path / "run")
    overrides = kit.grpo_overrides(
        run_dir,
        Path("unused"),
        tmp_path / "out",
        **{
            "grpo.model": "smollm2-135m",
            "grpo.lora.r": 8,
            "grpo.lora.alpha": 16,
            "grpo.learning_rate": 1e-4,
            "grpo.batch_size": 4,
            "grpo.num_generations": 4,
            "grpo.max_steps": 1,
            "grpo.save_steps": 1,
            "grpo.warm_start": True,
            "grpo.warm_start_steps": 2,
            "grpo.warm_start_examples": 8,
            "grpo.warm_start_batch_size": 4,
            "grpo.warm_start_max_length": 0,
            "grpo.warm_start_learning_rate": 5e-4,
            "grpo.warm_start_eval_questions": 2,
            "env.max_new_tokens": 32,
            "env.max_turns": 2,
            "retrieval.top_k": 1,
            "env.max_observation_chars": 300,
        },
    )
    summary = grpo.run_grpo(load_config(None, overrides))
    warm = summary["warm_start"]
    assert warm["examples"] == 8 and warm["held_out"] == 2
    assert warm["well_formed_before"] is not None and warm["well_formed_after"] is not None
    assert summary["steps"] == 1
    record = kit.read_log(tmp_path / "out")[0]
    assert math.isfinite(record["loss"]) and record["reward"] is not None
    assert Path(summary["adapter"], "adapter_config.json").is_file()
