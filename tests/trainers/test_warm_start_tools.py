"""``env.protocol: tools`` in the trainers: warm-start rows, the GRPO rollout and a live tiny model,
all through the rollout driver with tiny tool-capable tokenizers (Qwen2.5-style and Hermes-style)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import load_config
from teacherforge.envs import RolloutDriver, build_task
from teacherforge.trainers import warm_start
from tests.envs._tool_tokenizers import tool_tokenizer


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("warm_tools")
    return kit.make_run_dir(root / "run"), kit.make_tiny_model(root / "model")


def tools_driver(assets, style: str, **extra) -> RolloutDriver:
    run_dir, model_dir = assets
    overrides = kit.grpo_overrides(run_dir, model_dir, run_dir / "grpo", **{"env.protocol": "tools", **extra})
    return RolloutDriver(build_task(load_config(None, overrides), run_dir), tokenizer=tool_tokenizer(style))


@pytest.mark.parametrize("style", ["qwen", "hermes"])
def test_tools_protocol_rows_train_the_calls_and_mask_the_tool_messages(assets, style) -> None:
    driver = tools_driver(assets, style, **{"env.max_new_tokens": 64})
    tokenizer, config = driver.tokenizer, driver.task.config
    questions = list(driver.task.questions)
    episodes = warm_start.synthetic_episodes(driver, questions, 4)
    rows, dropped = warm_start.training_rows(episodes, tokenizer.eos_token_id, 0, config.max_new_tokens)
    assert len(rows) == 4 and not any(dropped.values()), dropped
    eos = tokenizer.eos_token
    for row, episode in zip(rows, episodes):
        ids, labels = row["input_ids"], row["assistant_masks"]
        trained = tokenizer.decode([i for i, m in zip(ids, labels) if m])
        query = episode.trajectory.queries[0]
        answer = kit.ANSWERS[episode.trajectory.question]
        assert (
            trained.startswith("<think>") and f'{{"query": "{query}"}}}}\n</tool_call>{eos}<think>' in trained
        )
        assert trained.endswith(f"\n{answer}{eos}") and episode.trajectory.final_answer == answer
        masked = tokenizer.decode(
            [i for i, m in zip(ids[len(episode.prompt_ids) :], labels[len(episode.prompt_ids) :]) if not m]
        )
        assert masked.startswith("\n<|im_start|>") and masked.count("<tool_response>") == 1
        assert masked.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")


def test_tools_protocol_tiny_random_model_rolls_out_through_the_driver(assets) -> None:
    """Evaluation's and GRPO's path: a live (random) model's turns go through the tools driver."""
    from transformers import AutoModelForCausalLM

    driver = tools_driver(assets, "qwen", **{"env.max_turns": 2})
    model = AutoModelForCausalLM.from_pretrained(assets[1])
    stats = warm_start.held_out_stats(model, driver.tokenizer, driver, list(driver.task.questions)[:2])
    assert set(stats) >= {"well_formed", "searched", "answered", "f1"} and driver.generate_calls >= 1


def test_grpo_rollout_masks_the_tool_messages_and_closes_answers_with_eos(assets) -> None:
    import contextlib

    from teacherforge.trainers.grpo_rollout import EnvRollout, Stopwatch
    from teacherforge.types import GenerationParams

    driver = tools_driver(assets, "hermes", **{"env.max_new_tokens": 64})
    questions = list(driver.task.questions)[:2]
    policy = warm_start.ScriptedSearchPolicy(
        questions, [driver.prompt_text(q) for q in questions], driver.task.tags, chat=driver.chat
    )

    @contextlib.contextmanager
    def backend(trainer):
        yield policy

    rollout = EnvRollout(
        driver, GenerationParams(), group_size=2, seed=0, watch=Stopwatch(), backend_factory=backend
    )
    tokenizer = driver.tokenizer
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0), processing_class=tokenizer)
    out = rollout([q.question for q in questions for _ in range(2)], trainer)
    assert rollout.last_stats["well_formed"] == 1.0 and rollout.last_stats["searches_per_episode"] == 1.0
    for ids, mask in zip(out["completion_ids"], out["env_mask"]):
        assert ids[-1] == tokenizer.eos_token_id and mask[-1] == 1  # the answer's end of turn is trained
        env_text = tokenizer.decode([i for i, m in zip(ids, mask) if not m])
        assert env_text.startswith("\n<|im_start|>tool\n<tool_response>\n[1] ")
        assert env_text.endswith("\n</tool_response><|im_end|>\n<|im_start|>assistant\n")
