"""TransformersBackend on a tiny random Llama with the real SmolLM2 tokenizer (fast)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
import torch

import teacherforge.llm.transformers_backend as tb_module
from teacherforge.llm import LIVE_MARKER, CachedBackend, TransformersBackend, is_live
from teacherforge.models import load_causal_lm
from teacherforge.types import GenerationParams, messages

PROMPTS = [
    "Hello",
    "The Apollo 13 oxygen tank failed during the mission and the crew",
    messages(("system", "You are terse."), ("user", "Why did the tank fail?")),
    "A",
    messages(("user", "hi")),
]


@pytest.fixture(scope="module")
def live(tiny_model_dir: Path) -> TransformersBackend:
    torch.set_num_threads(1)
    model, tokenizer = load_causal_lm(str(tiny_model_dir), device="cpu")
    return TransformersBackend(model, tokenizer, batch_size=3)


def test_doctests_pass() -> None:
    result = doctest.testmod(tb_module)
    assert result.failed == 0 and result.attempted > 0


def test_batched_greedy_equals_one_by_one(live: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=10)
    batched = live.generate(PROMPTS, params)
    single = [live.generate([p], params)[0] for p in PROMPTS]
    assert [c.completion_token_ids for c in batched] == [c.completion_token_ids for c in single]
    assert [c.text for c in batched] == [c.text for c in single]
    for b, s in zip(batched, single):
        assert b.logprobs == pytest.approx(s.logprobs, abs=1e-4)
    assert all(c.completion_tokens == 10 and c.finish_reason == "length" for c in batched)
    assert len({c.text for c in batched}) > 1  # prompts actually matter


def test_chat_prompts_use_the_chat_template(live: TransformersBackend) -> None:
    ids = live.encode_prompt(messages(("user", "hi")))
    text = live.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>") and text.endswith("<|im_start|>assistant\n") and "hi" in text
    (c,) = live.generate([messages(("user", "hi"))], GenerationParams(max_new_tokens=2))
    assert list(c.prompt_token_ids) == ids and c.prompt_tokens == len(ids)


def test_greedy_n_repeats_the_same_completion(live: TransformersBackend) -> None:
    out = live.generate(PROMPTS[:2], GenerationParams(max_new_tokens=5, n=3))
    assert len(out) == 6
    assert len({c.completion_token_ids for c in out[:3]}) == 1 and out[0].text != out[3].text


def test_sampling_is_distinct_per_sample_and_reproducible_with_a_seed(live: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=8, temperature=1.0, n=4, seed=7)
    out = live.generate(PROMPTS[:3], params)
    assert len(out) == 12
    samples = [c.completion_token_ids for c in out[4:8]]
    assert len(set(samples)) == 4
    again = live.generate(PROMPTS[:3], params)
    assert [c.completion_token_ids for c in again] == [c.completion_token_ids for c in out]
    alone = live.generate([PROMPTS[1]], params)  # independent of batch composition
    assert [c.completion_token_ids for c in alone] == [c.completion_token_ids for c in out[4:8]]
    other_seed = live.generate(PROMPTS[:3], GenerationParams(max_new_tokens=8, temperature=1.0, n=4, seed=8))
    assert [c.completion_token_ids for c in other_seed] != [c.completion_token_ids for c in out]


def test_top_p_restricts_to_the_nucleus(live: TransformersBackend) -> None:
    greedy = live.generate(PROMPTS[:2], GenerationParams(max_new_tokens=6))
    tiny_p = live.generate(
        PROMPTS[:2], GenerationParams(max_new_tokens=6, temperature=1.0, top_p=1e-6, n=2, seed=1)
    )
    for i, g in enumerate(greedy):
        assert (
            tiny_p[2 * i].completion_token_ids
            == g.completion_token_ids
            == tiny_p[2 * i + 1].completion_token_ids
        )


def test_stop_strings_truncate_text_and_tokens(live: TransformersBackend) -> None:
    (full,) = live.generate([PROMPTS[1]], GenerationParams(max_new_tokens=12))
    words = full.text.split()
    stop = words[3][:3]
    assert stop in full.text
    (cut,) = live.generate([PROMPTS[1]], GenerationParams(max_new_tokens=12, stop=(stop,)))
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.finish_reason == "stop"
    n = len(cut.completion_token_ids)
    assert 0 < n < len(full.completion_token_ids)
    assert cut.completion_token_ids == full.completion_token_ids[:n]
    assert stop in live.tokenizer.decode(cut.completion_token_ids)
    assert stop not in live.tokenizer.decode(cut.completion_token_ids[:-1])  # stopped at the first chance
    assert len(cut.logprobs) == cut.completion_tokens == n


def test_eos_ends_generation_with_finish_reason_stop(live: TransformersBackend, monkeypatch) -> None:
    (full,) = live.generate([PROMPTS[0]], GenerationParams(max_new_tokens=6))
    monkeypatch.setattr(live, "_eos_ids", {full.completion_token_ids[2]})
    (c,) = live.generate([PROMPTS[0]], GenerationParams(max_new_tokens=6))
    assert c.completion_token_ids == full.completion_token_ids[:3] and c.finish_reason == "stop"


def test_logprobs_match_a_teacher_forced_forward_pass(live: TransformersBackend) -> None:
    (c,) = live.generate([PROMPTS[2]], GenerationParams(max_new_tokens=8, temperature=1.0, seed=3))
    assert len(c.logprobs) == len(c.completion_token_ids) == c.completion_tokens == 8
    ids = torch.tensor([list(c.prompt_token_ids) + list(c.completion_token_ids)])
    with torch.no_grad():
        logits = live.model(ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(c.prompt_token_ids)
    expected = [logp[start - 1 + k, t].item() for k, t in enumerate(c.completion_token_ids)]
    assert c.logprobs == pytest.approx(expected, abs=1e-4)
    assert all(lp <= 0 for lp in c.logprobs)


def test_live_backend_is_uncacheable_and_restores_training_mode(
    live: TransformersBackend, tmp_path: Path
) -> None:
    assert is_live(live) and LIVE_MARKER in live.identity
    with pytest.raises(ValueError, match="live model"):
        CachedBackend(live, tmp_path / "cache.sqlite")
    live.model.train()
    try:
        live.generate(["x"], GenerationParams(max_new_tokens=2))
        assert live.model.training
    finally:
        live.model.eval()


def _save_adapter(base_dir: Path, out: Path, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(out)
    return out


def test_from_pretrained_identity_hashes_weights_and_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = TransformersBackend.from_pretrained(str(tiny_model_dir), device="cpu", batch_size=2)
    assert not is_live(base) and base.identity.startswith(f"transformers:{tiny_model_dir}:float32:")
    adapter_a = _save_adapter(tiny_model_dir, tmp_path / "a", seed=1)
    adapter_b = _save_adapter(tiny_model_dir, tmp_path / "b", seed=2)
    tuned_a = TransformersBackend.from_pretrained(str(tiny_model_dir), adapter=str(adapter_a), device="cpu")
    tuned_b = TransformersBackend.from_pretrained(str(tiny_model_dir), adapter=str(adapter_b), device="cpu")
    assert len({base.identity, tuned_a.identity, tuned_b.identity}) == 3

    cache = tmp_path / "cache.sqlite"
    params = GenerationParams(max_new_tokens=6)
    base_out = CachedBackend(base, cache).generate(["q"], params)
    tuned_cached = CachedBackend(tuned_a, cache)
    tuned_out = tuned_cached.generate(["q"], params)
    assert tuned_cached.misses == 1 and tuned_cached.hits == 0  # the student never gets the base's answer
    assert tuned_out[0].completion_token_ids != base_out[0].completion_token_ids  # the adapter is applied
    again = CachedBackend(base, cache).generate(["q"], params)
    assert again[0].cached and again[0].completion_token_ids == base_out[0].completion_token_ids


def test_repeated_prompts_in_one_call_are_distinct_samples(live: TransformersBackend) -> None:
    """A GRPO group sent as separate n=1 requests: each copy must be its own sample (same as n=4)."""
    params = GenerationParams(max_new_tokens=8, temperature=1.0, seed=3)
    repeated = live.generate(["Hello", "A", "Hello", "Hello", "Hello"], params)
    group = [repeated[i].completion_token_ids for i in (0, 2, 3, 4)]
    assert len(set(group)) == 4
    as_n = live.generate(["Hello"], GenerationParams(max_new_tokens=8, temperature=1.0, seed=3, n=4))
    assert group == [c.completion_token_ids for c in as_n]
