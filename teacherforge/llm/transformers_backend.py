"""Local Hugging Face causal LM as a batched backend (CPU or GPU).

Prompts are rendered (chat template with the generation prompt for message lists),
left-padded and decoded in chunks of ``batch_size`` with a KV cache. Sampling uses one
``torch.Generator`` per (prompt, sample), seeded from ``params.seed``, the prompt and the
sample index, so a seeded sample does not depend on batch size or on the other prompts in
the batch. A prompt that occurs several times in one call continues its sample indices
(occurrence ``k`` gets samples ``k*n .. k*n+n-1``), so repeated prompts — a GRPO group sent
as separate ``n=1`` requests — come back as distinct samples by construction. Greedy
decoding (``temperature == 0``) computes each prompt once and repeats it ``n`` times.

``logprobs`` are the log-probabilities of the chosen tokens under the model's own
distribution (raw logits, before temperature / top-p), which is what policy-gradient
trainers need. ``completion_token_ids`` include the EOS token when the model emitted one
(its text is not part of ``text``); a stop string ends generation at the token that
completed it and is cut from ``text``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from collections.abc import Sequence
from typing import Any

from teacherforge.llm.base import LIVE_MARKER, truncate_at_stop
from teacherforge.types import Completion, GenerationParams, Prompt, prompt_to_json


def sample_seed(seed: int, prompt: Prompt, sample_index: int) -> int:
    """Seed of one (prompt, sample): a hash of the base seed, the prompt JSON and the index.

    >>> sample_seed(0, "hi", 0) == sample_seed(0, "hi", 0) != sample_seed(0, "hi", 1)
    True
    """
    blob = json.dumps([seed, prompt_to_json(prompt), sample_index], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "little") & ((1 << 63) - 1)


def repeat_offsets(prompts: Sequence[Prompt], n: int) -> list[int]:
    """First sample index of each prompt: ``k * n`` for the ``k``-th occurrence of the same prompt.

    >>> repeat_offsets(["a", "b", "a", "a"], 2)
    [0, 0, 2, 4]
    """
    seen: dict[str, int] = {}
    offsets = []
    for prompt in prompts:
        key = json.dumps(prompt_to_json(prompt), ensure_ascii=False)
        offsets.append(seen.get(key, 0) * n)
        seen[key] = seen.get(key, 0) + 1
    return offsets


class TransformersBackend:
    """Batched generation with a local transformers model (see the module docstring).

    Build it with :meth:`from_pretrained` (embedded name, HF id or path, optional PEFT
    adapter; cacheable identity with a weights hash) or wrap a live in-memory model with
    ``TransformersBackend(model, tokenizer)`` — e.g. the policy during GRPO rollouts. A
    live backend's ``identity`` contains ``LIVE_MARKER``: its weights change under it, so
    :class:`~teacherforge.llm.cache.CachedBackend` refuses to cache it.
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, identity: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.identity = identity or f"transformers:{LIVE_MARKER}:{type(model).__name__}@{id(model):x}"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._eos_ids = self._collect_eos_ids()
        forward = getattr(model, "get_base_model", lambda: model)().forward
        self._keep_last_logits = "logits_to_keep" in inspect.signature(forward).parameters

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = "smollm2-135m",
        adapter: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
    ) -> TransformersBackend:
        """Load a model (+ adapter) with :func:`teacherforge.models.load_causal_lm`.

        ``identity`` is ``transformers:<name>:<dtype>:<weights hash>``, the hash covering
        the model's and the adapter's weight files.
        """
        from teacherforge.models import load_causal_lm, weights_identity

        model, tokenizer = load_causal_lm(name_or_path, adapter=adapter, device=device, dtype=dtype)
        dtype_name = str(next(model.parameters()).dtype).removeprefix("torch.")
        identity = f"transformers:{name_or_path}:{dtype_name}:{weights_identity(name_or_path, adapter)}"
        return cls(model, tokenizer, batch_size=batch_size, identity=identity)

    def _collect_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return ids

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """Token ids of a prompt: raw text as is, messages through the chat template."""
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        text = self.tokenizer.apply_chat_template(
            prompt_to_json(prompt), add_generation_prompt=True, tokenize=False
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        """Return ``len(prompts) * params.n`` completions, sample ``i`` of prompt ``p`` at ``p*n+i``."""
        if not prompts:
            return []
        greedy = params.temperature == 0
        encoded = [self.encode_prompt(p) for p in prompts]
        base_seed = params.seed if params.seed is not None else random.getrandbits(63)
        jobs = [(p, i) for p in range(len(prompts)) for i in range(1 if greedy else params.n)]
        offsets = repeat_offsets(prompts, params.n)
        jobs.sort(key=lambda job: len(encoded[job[0]]))  # less padding per chunk
        results: dict[tuple[int, int], Completion] = {}
        chunks = [jobs[s : s + self.batch_size] for s in range(0, len(jobs), self.batch_size)]
        bar = _progress(len(jobs)) if len(chunks) > 1 else None
        for chunk in chunks:
            seeds = [None if greedy else sample_seed(base_seed, prompts[p], offsets[p] + i) for p, i in chunk]
            outs = self._generate_chunk([encoded[p] for p, _ in chunk], seeds, params)
            results.update(zip(chunk, outs))
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return [results[(p, 0 if greedy else i)] for p in range(len(prompts)) for i in range(params.n)]

    def _generate_chunk(
        self, inputs: list[list[int]], seeds: list[int | None], params: GenerationParams
    ) -> list[Completion]:
        import torch

        model = self.model
        device = next(model.parameters()).device
        pad_id = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in inputs)
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in inputs], device=device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in inputs], device=device)
        generators = None
        if seeds[0] is not None:
            generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        rows = len(inputs)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        logprobs: list[list[float]] = [[] for _ in range(rows)]
        finish = ["length"] * rows
        done = [False] * rows
        stop_tail = max((len(s) for s in params.stop), default=0) + 4
        extra = {"logits_to_keep": 1} if self._keep_last_logits else {}

        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                positions = (attention.cumsum(-1) - 1).clamp(min=0)
                out = model(
                    input_ids=input_ids,
                    attention_mask=attention,
                    position_ids=positions,
                    use_cache=True,
                    **extra,
                )
                for _ in range(params.max_new_tokens):
                    logits = out.logits[:, -1, :].float()
                    chosen_logp = torch.log_softmax(logits, dim=-1)
                    next_ids = self._pick(logits, params, generators)
                    picked = chosen_logp.gather(1, next_ids[:, None])[:, 0].tolist()
                    next_list = next_ids.tolist()
                    for r in range(rows):
                        if done[r]:
                            continue
                        tokens[r].append(next_list[r])
                        logprobs[r].append(picked[r])
                        if next_list[r] in self._eos_ids:
                            done[r], finish[r] = True, "stop"
                        elif params.stop:
                            tail = self.tokenizer.decode(tokens[r][-stop_tail:], skip_special_tokens=True)
                            if any(s and s in tail for s in params.stop):
                                done[r], finish[r] = True, "stop"
                    if all(done):
                        break
                    next_ids = torch.where(torch.tensor(done, device=device), pad_id, next_ids)
                    attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=-1)
                    positions = positions[:, -1:] + 1
                    out = model(
                        input_ids=next_ids[:, None],
                        attention_mask=attention,
                        position_ids=positions,
                        past_key_values=out.past_key_values,
                        use_cache=True,
                        **extra,
                    )
        finally:
            if was_training:
                model.train()
        return [self._completion(inputs[r], tokens[r], logprobs[r], finish[r], params) for r in range(rows)]

    @staticmethod
    def _pick(logits: Any, params: GenerationParams, generators: list[Any] | None) -> Any:
        """Greedy argmax, or temperature + top-p sampling with one generator per row."""
        import torch

        if generators is None:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            cumulative = sorted_probs.cumsum(dim=-1)
            sorted_probs[(cumulative - sorted_probs) >= params.top_p] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        picks = [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(generators)]
        return torch.cat(picks)

    def _completion(
        self, prompt_ids: list[int], ids: list[int], logps: list[float], finish: str, params: GenerationParams
    ) -> Completion:
        text, _ = truncate_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), params.stop)
        return Completion(
            text=text,
            prompt_token_ids=tuple(prompt_ids),
            completion_token_ids=tuple(ids),
            logprobs=tuple(logps),
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(ids),
            finish_reason=finish,
        )


def _progress(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="generate", unit="seq", leave=False)
