"""The rollout driver against the real TransformersBackend (a tiny random Llama with the real
SmolLM2 tokenizer): chat-templated prompt, real token ids and logprobs, masks on the
tokenized <information> blocks."""

from __future__ import annotations

import pytest
from _envkit import make_task, question_records

from teacherforge.envs import RolloutDriver
from teacherforge.types import GenerationParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_backend():
    from transformers import AutoTokenizer

    from teacherforge.llm import TransformersBackend
    from teacherforge.models import embedded_gguf
    from tests.trainers._sft_tiny import tiny_model

    gguf = embedded_gguf("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = tiny_model(
        tokenizer,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.eos_token_id,
    ).eval()
    return TransformersBackend(model, tokenizer), tokenizer


def test_real_backend_ids_logprobs_and_masks(tiny_backend):
    backend, tokenizer = tiny_backend
    driver = RolloutDriver(make_task(top_k=2, max_turns=3), tokenizer=tokenizer)
    questions = question_records()[:2]
    episodes = driver.run(
        backend, questions, GenerationParams(max_new_tokens=6, temperature=1.0, n=2, seed=1)
    )
    assert len(episodes) == 4 and driver.generate_calls == 3
    for episode in episodes:
        assert episode.prompt_text.startswith("<|im_start|>system\n")
        assert episode.prompt_text.endswith("<|im_start|>assistant\n")
        assert tokenizer.decode(list(episode.prompt_ids)) == episode.prompt_text
        ids, mask, logprobs = episode.completion_ids, episode.env_mask, episode.logprobs
        assert logprobs is not None and len(ids) == len(mask) == len(logprobs)
        # a random model writes no tags: three malformed turns, two corrective blocks, truncated
        assert episode.info["turn"] == 3 and episode.info["malformed_turns"] == 3
        assert episode.trajectory.metadata["truncated"] is True
        env_spans, model_spans, current, flag = [], [], [], None
        for token, m in [*zip(ids, mask), (None, None)]:
            if m != flag and current:
                (env_spans if flag == 0 else model_spans).append(current)
                current = []
            flag = m
            current.append(token)
        blocks = [tokenizer.decode(s, clean_up_tokenization_spaces=False) for s in env_spans]
        assert len(blocks) == 2
        assert all(
            b.startswith("\n\n<information>\nInvalid turn") and b.endswith("</information>\n\n")
            for b in blocks
        )
        assert all(1 <= len(s) <= 6 for s in model_spans) and len(model_spans) == 3
        model_logprobs = [lp for lp, m in zip(logprobs, mask) if m]
        assert all(lp <= 0.0 for lp in model_logprobs) and any(lp < 0.0 for lp in model_logprobs)
        assert all(lp == 0.0 for lp, m in zip(logprobs, mask) if not m)
