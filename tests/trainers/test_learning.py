"""Tests that fail when training stops teaching: loss masks on real collated batches, a GRPO run on a
toy reward that must rise, and (slow) a real SFT that must memorise and an evaluation that must see it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import LoraAdapterConfig, load_config
from teacherforge.trainers import grpo, warm_start
from teacherforge.trainers.sft_common import build_sft_trainer
from tests.trainers._sft_tiny import chat_rows, smollm2_tokenizer, tiny_model

LORA = LoraAdapterConfig(r=4, alpha=8, dropout=0.0)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("learning")
    return kit.make_run_dir(root / "run"), kit.make_tiny_model(root / "model")


def label_errors(tokenizer, batch, expected_trained: list[str]) -> list[str]:
    """Rows of a collated batch whose loss-carrying tokens are not exactly the expected text."""
    errors = []
    for i, (ids, labels) in enumerate(zip(batch["input_ids"], batch["labels"])):
        trained = tokenizer.decode(ids[labels != -100])
        if trained != expected_trained[i]:
            errors.append(f"row {i}: trained on {trained[:80]!r}")
    return errors


def _first_batch(tokenizer, rows: list[dict], out: Path) -> dict:
    """The first batch the real TRL trainer collates from ``rows`` (a tiny random model)."""
    trainer = build_sft_trainer(
        tiny_model(tokenizer),
        rows,
        out,
        lora=LORA,
        learning_rate=1e-3,
        batch_size=4,
        max_steps=1,
        max_length=1024,
        save_steps=10,
        tokenizer=tokenizer,
        report_to="none",
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["labels"].shape == batch["input_ids"].shape
    return batch


def test_label_check_passes_on_real_batches_and_fails_without_the_mask(tmp_path: Path) -> None:
    tokenizer = smollm2_tokenizer()
    rows = chat_rows(4)
    batch = _first_batch(tokenizer, rows, tmp_path)
    by_question = {r["messages"][1]["content"]: r["messages"] for r in rows}
    expected = []
    for ids in batch["input_ids"]:
        text = tokenizer.decode(ids)
        (question,) = [q for q in by_question if q in text]
        expected.append(
            "".join(m["content"] + "<|im_end|>" for m in by_question[question] if m["role"] == "assistant")
        )
    assert label_errors(tokenizer, batch, expected) == []
    pad = batch["attention_mask"] == 0
    removed = dict(batch, labels=batch["input_ids"].masked_fill(pad, -100))
    inverted = dict(
        batch, labels=torch.where(batch["labels"] == -100, batch["input_ids"], -100).masked_fill(pad, -100)
    )
    assert len(label_errors(tokenizer, removed, expected)) == len(rows)
    assert len(label_errors(tokenizer, inverted, expected)) == len(rows)


def _warm_start_parts(assets, **extra):
    from transformers import AutoTokenizer

    from teacherforge.envs import RolloutDriver, build_task
    from teacherforge.run import RunLayout

    run_dir, model_dir = assets
    config = load_config(None, kit.grpo_overrides(run_dir, model_dir, run_dir / "grpo", **extra))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    driver = RolloutDriver(build_task(config, run_dir), tokenizer=tokenizer)
    return config, tokenizer, driver, RunLayout(run_dir).questions("train")


def test_warm_start_rows_train_model_turns_never_information(assets, tmp_path: Path) -> None:
    config, tokenizer, driver, questions = _warm_start_parts(assets, **{"env.max_new_tokens": 64})
    episodes = warm_start.synthetic_episodes(driver, questions, 4)
    rows, dropped = warm_start.training_rows(episodes, tokenizer.eos_token_id, 0, config.env.max_new_tokens)
    assert dropped == {"too_long": 0, "turn_over_budget": 0} and len(rows) == 4
    batch = _first_batch(tokenizer, rows, tmp_path)
    by_prompt = {e.prompt_text: e for e in episodes}
    expected = []
    for ids in batch["input_ids"]:
        text = tokenizer.decode(ids)
        (episode,) = [e for p, e in by_prompt.items() if text.startswith(p) or p in text]
        model_text = re.sub(r"\s*<information>.*?</information>\s*", "", episode.completion_text, flags=re.S)
        expected.append(model_text + tokenizer.eos_token)
        assert "<information>" in text  # the environment's text is in the input ...
    assert label_errors(tokenizer, batch, expected) == []  # ... and never a training target
    for want in expected:
        assert "<search>" in want and "<answer>" in want and "<information>" not in want


def test_warm_start_drops_examples_cut_before_their_answer(assets) -> None:
    config, tokenizer, driver, questions = _warm_start_parts(assets, **{"env.max_new_tokens": 64})
    episodes = warm_start.synthetic_episodes(driver, questions, 8)
    lengths = sorted(len(e.prompt_ids) + len(e.completion_ids) + 1 for e in episodes)
    cap = lengths[len(lengths) // 2]
    rows, dropped = warm_start.training_rows(episodes, tokenizer.eos_token_id, cap, config.env.max_new_tokens)
    assert dropped["too_long"] == sum(n > cap for n in lengths) > 0
    assert len(rows) + dropped["too_long"] == len(episodes)
    assert all(len(r["input_ids"]) <= cap for r in rows)
    _, over = warm_start.training_rows(episodes, tokenizer.eos_token_id, 0, turn_budget=4)
    assert over["turn_over_budget"] == len(episodes)  # every scripted turn is longer than 4 tokens


def _toy_policy(path: Path) -> Path:
    """The tiny random model, with one embedding direction shared by every token that has an upper-case
    letter: moving the hidden state along it raises all of them at once, so the rewarded behaviour is
    one direction away (random embeddings alone give no such direction in 64 dimensions)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = kit.make_tiny_model(path.with_name(path.name + "_base"))
    model = AutoModelForCausalLM.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    upper = [
        i for t, i in tokenizer.get_vocab().items() if any("A" <= ch <= "Z" for ch in tokenizer.decode([i]))
    ]
    with torch.no_grad():
        direction = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(0))
        model.get_input_embeddings().weight[upper] += 0.5 * direction / direction.norm()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_grpo_raises_a_toy_reward(assets, tmp_path: Path) -> None:
    """GRPO must raise the toy reward of the policy's own samples on the training prompts.

    The policy is sampled before and after training on the same prompts and seeds (64 episodes
    each), so the comparison is free of the per-step noise of which questions a step drew. Fails
    when samples in a group are identical (no spread), advantages point the wrong way, or the
    loss mask hides the model's tokens.
    """
    from teacherforge.envs import RolloutDriver, build_task
    from teacherforge.llm import TransformersBackend
    from teacherforge.models import load_causal_lm
    from teacherforge.run import RunLayout
    from teacherforge.trainers.metrics import difference_ci
    from teacherforge.types import GenerationParams

    run_dir, _ = assets
    model_dir = _toy_policy(tmp_path / "toy_model")
    rubric = tmp_path / "toy.yaml"
    rubric.write_text("weights:\n  _toy_reward:uppercase_share: 1.0\n", encoding="utf-8")
    overrides = kit.grpo_overrides(
        run_dir,
        model_dir,
        tmp_path / "out",
        **{
            "grpo.max_steps": 12,
            "grpo.save_steps": 12,
            "grpo.learning_rate": 2e-2,
            "grpo.lora.r": 8,
            "grpo.lora.alpha": 16,
            "grpo.lora.target_modules": "[o_proj,down_proj]",
            "grpo.trajectories_per_step": 0,
            "env.max_turns": 1,
            "env.max_new_tokens": 12,
            "rewards.preset": str(rubric),
        },
    )
    config = load_config(None, [o for o in overrides if not o.startswith("rewards.weights.")])
    summary = grpo.run_grpo(config)
    records = kit.read_log(Path(summary["output_dir"]))
    assert len(records) == 12 and all(r["frac_reward_zero_std"] < 1.0 for r in records)  # groups differ

    questions = RunLayout(run_dir).questions("train")[:4]
    params = GenerationParams(max_new_tokens=12, temperature=1.0, seed=7, n=16)

    def rewards(adapter: str | None) -> list[float]:
        model, tokenizer = load_causal_lm(str(model_dir), adapter=adapter)
        driver = RolloutDriver(build_task(config, run_dir), tokenizer=tokenizer)
        return [
            e.reward
            for e in driver.run(TransformersBackend(model, tokenizer, batch_size=64), questions, params)
        ]

    before, after = rewards(None), rewards(summary["adapter"])
    diff = difference_ci(after, before, samples=2000)
    assert diff.low > 0, (sum(before) / len(before), sum(after) / len(after), diff)


@pytest.mark.slow
def test_real_sft_memorises_and_evaluation_sees_the_adapter(assets, tmp_path: Path) -> None:
    """The embedded SmolLM2 learns a handful of answers; evaluation loading the adapter must show it."""
    from teacherforge.llm import TransformersBackend
    from teacherforge.models import load_causal_lm
    from teacherforge.run import RunLayout
    from teacherforge.trainers.evaluate import f1_per_question, fixed_prompts
    from teacherforge.trainers.sft_common import train_sft

    run_dir, _ = assets
    config = load_config(
        None, [f"run_dir={run_dir}", "retrieval.kind=bm25", "retrieval.top_k=1", "env.max_new_tokens=16"]
    )
    retriever = RunLayout(run_dir).retriever()
    questions = [q for q in kit.QUESTIONS if q[4] == "train"][:6]
    records = [{"id": qid, "chunk_id": cid, "question": q, "answer": a} for qid, cid, q, a, _ in questions]
    prompts, _ = fixed_prompts(records, retriever, config)  # exactly what evaluation will show
    rows = [
        {
            "messages": [{"role": m.role, "content": m.content} for m in p]
            + [{"role": "assistant", "content": r["answer"]}]
        }
        for p, r in zip(prompts, records)
    ]
    base_model, base_tok = load_causal_lm("smollm2-135m")
    base = f1_per_question(TransformersBackend(base_model, base_tok), "fixed", records, retriever, config)
    result = train_sft(
        "smollm2-135m",
        rows,
        tmp_path / "sft",
        lora=LoraAdapterConfig(r=16, alpha=32),
        learning_rate=2e-3,
        batch_size=6,
        max_steps=20,
        max_length=256,
        save_steps=20,
        report_to="none",
    )
    model, tokenizer = load_causal_lm("smollm2-135m", adapter=str(result.adapter_dir))
    trained = f1_per_question(TransformersBackend(model, tokenizer), "fixed", records, retriever, config)
    assert sum(base) / len(base) < 0.5, base
    assert sum(trained) / len(trained) >= 0.8, trained
