"""GPU check: the training, generation and rollout paths on a CUDA machine, against the same on CPU.

The embedded SmolLM2-135M weights are too large to travel to a GPU machine, so every figure is
measured on a *random-initialised* model of SmolLM2-135M's configuration (LlamaForCausalLM,
hidden 576, 30 layers, 9 heads / 3 KV heads, vocab 49152, tied embeddings) with the real
SmolLM2 tokenizer. One run measures, through the project's own code paths:

- SFT optimiser steps/s: TRL ``SFTTrainer`` + LoRA from ``trainers.sft_common.build_sft_trainer``;
- GRPO optimiser steps/s: ``trainers.grpo.build_grpo_trainer`` with the live policy rolling out
  search episodes over a small real run dir (the bundled Apollo 13 report, BM25 index);
- generation tokens/s: ``teacherforge.llm.TransformersBackend`` (batched, sampled);
- rollout episodes/s: the env's batched ``envs.driver.RolloutDriver`` over the same index;
- the memorisation curve: a tiny-budget LoRA SFT on eight question → answer pairs, with greedy
  exact match / F1 (``trainers.metrics``) on the same pairs every few steps (from ~0 towards 1),
  stopped once all eight are exact, after ``Plan.memo_steps`` or ``Plan.memo_budget_s``.

A random policy writes malformed turns, so its episodes run every step of the driver (batched
generation, parsing, corrective ``<information>`` blocks, rubric) but rarely call the retriever;
each pass reports ``search_calls`` next to its rollout figure.

With ``--device cuda`` the same measurements are repeated on the CPU (same batch shapes, fewer
steps, in a subprocess with ``CUDA_VISIBLE_DEVICES=""`` so the trainers cannot pick the GPU) and
the table gives GPU / CPU ratios. ``--device cpu --tiny`` is the CPU dry run (a 2-layer model,
seconds; tested in ``tests/benchmarks/test_gpu_check.py``). Writes ``gpu_check.json`` and
``gpu_check.md`` under ``--out`` (default: a temp dir) and prints the table.

Prepare here (wheels of the packages the GPU image lacks, and the tokenizer, into ``.whl/``)::

    make gpu-bundle

Then on the CUDA machine (no network; Python 3.12 with torch, transformers, peft, accelerate,
sentence-transformers), from the repository root, with ``.whl`` carried::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; \
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit; \
    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --device cuda --out $OUT

Locally: ``python benchmarks/gpu_check.py --device cpu --tiny`` (or ``make gpu-check``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback

from teacherforge.config import Config, LoraAdapterConfig, load_config
from teacherforge.records import Question
from teacherforge.retrieval import Embedder, Retriever
from teacherforge.types import Chunk, GenerationParams, Message

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from benchkit import APOLLO_REPORT as REPORT  # noqa: E402
from benchkit import Table, machine_info, machine_report  # noqa: E402

#: Where ``make gpu-bundle`` puts the SmolLM2 tokenizer (travels with the wheels).
BUNDLED_TOKENIZER = REPO / ".whl" / "smollm2-tokenizer"

#: SmolLM2-135M's architecture (weights random): what the GPU figures are measured on.
SMOLLM2_135M = dict(
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
)
#: A 2-layer, 64-wide model with the same vocabulary: the CPU dry run.
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
)
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

#: (question, answer, a phrase of the report that locates the gold chunk)
FACTS = (
    ("Who was the commander of Apollo 13?", "James A. Lovell", "James A. Lovell, Commander"),
    ("Who was the lunar module pilot of Apollo 13?", "Fred W. Haise, Jr.", "Fred W. Haise, Jr., Lunar"),
    (
        "Who was the command module pilot of Apollo 13?",
        "John L. Swigert, Jr.",
        "John L. Swigert, Jr., Command",
    ),
    ("From where was Apollo 13 launched?", "Kennedy Space Center, Florida", "launched from Kennedy Space"),
    ("What was the prime recovery ship?", "USS Iwo Jima", "prime recovery ship, USS Iwo Jima"),
    ("Which disease was the prime command module pilot exposed to?", "rubella", "rubella"),
    ("Which S-II engine shut down early during boost?", "the center engine", "shutdown of the center engine"),
    ("Which lunar formation was Apollo 13 to explore?", "the Fra Mauro formation", "Fra Mauro formation"),
)


@dataclass(frozen=True)
class Plan:
    """Sizes of one measurement pass (one device); the defaults are the GPU pass. A GPU pass and
    its CPU baseline share every batch shape and differ only in how many steps they time, so
    per-step figures compare."""

    name: str = "gpu"
    shape: str = "smollm2-135m"  # or "tiny"
    sft_steps: int = 10  # timed SFT steps (the first is a warm-up, left out)
    sft_batch: int = 8
    sft_max_length: int = 256
    gen_prompts: int = 16  # generation batch
    gen_new_tokens: int = 64
    rollout_questions: int = 4  # episodes = rollout_questions × group
    group: int = 4  # GRPO group size, and samples per question in the rollout measurement
    env_turns: int = 2
    env_new_tokens: int = 32  # per model turn
    grpo_steps: int = 5  # timed GRPO steps (the first left out)
    grpo_batch: int = 8
    memo_steps: int = 300  # at most; training stops once every pair is answered exactly
    memo_every: int = 10  # evaluate EM/F1 every this many steps
    memo_budget_s: float = 90.0  # ... or once this much training time has passed
    memo_lr: float = 3e-3
    memo_rank: int = 32


PLANS = {
    "gpu": Plan(),
    "cpu-baseline": Plan(name="cpu-baseline", sft_steps=3, grpo_steps=2, memo_steps=6, memo_every=3),
    "tiny": Plan(
        name="tiny",
        shape="tiny",
        sft_steps=3,
        sft_batch=4,
        sft_max_length=128,
        gen_prompts=4,
        gen_new_tokens=16,
        rollout_questions=2,
        group=2,
        env_new_tokens=16,
        grpo_steps=2,
        grpo_batch=4,
        memo_steps=6,
        memo_every=3,
        memo_lr=1e-2,
        memo_rank=16,
    ),
}


# --------------------------------------------------------------------------- the small world
class HashingSentenceModel:
    """A weightless stand-in for a sentence-transformers model: hashed bag of words, unit rows.

    The MiniLM weights do not travel to the GPU machine; BM25 does the searching here, this only
    fills the dense index every retriever keeps.
    """

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def get_embedding_dimension(self) -> int:
        """The embedding width."""
        return self.dim

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class HashingEmbedder(Embedder):
    """The library's :class:`Embedder` (cache, batching, identity) over :class:`HashingSentenceModel`."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(f"hashing-{dim}")
        self._hashing = HashingSentenceModel(dim)

    @property
    def model(self) -> HashingSentenceModel:
        """The hashing model (never loads weights)."""
        return self._hashing


@dataclass(frozen=True)
class World:
    """What one pass measures on: config, run dir, questions, retriever, rubric and chat rows."""

    config: Config
    run_dir: Path
    questions: tuple[Question, ...]
    retriever: Retriever
    rubric: Any
    sft_rows: tuple[dict, ...]
    memo_rows: tuple[dict, ...]


def build_world(plan: Plan, root: Path) -> World:
    """Chunk the bundled report, index it (BM25), write a real run dir and the GRPO config."""
    from teacherforge.config import ChunkingConfig, RetrievalConfig
    from teacherforge.datagen.chunking import chunk_documents
    from teacherforge.envs.task import rubric_of
    from teacherforge.run import RunLayout
    from teacherforge.workspace import atomic_write_jsonl

    text = REPORT.read_text(encoding="utf-8")
    doc = SimpleNamespace(doc_id="apollo13", source=REPORT.name, text=text, metadata={})
    chunks: list[Chunk] = chunk_documents([doc], ChunkingConfig()).chunks
    questions = []
    for i, (question, answer, phrase) in enumerate(FACTS):
        at = text.find(phrase)
        gold = next((c for c in chunks if c.start_char <= at < c.end_char), None)
        if at < 0 or gold is None:
            raise ValueError(
                f"{REPORT}: phrase {phrase!r} of FACTS[{i}] not found in any chunk; update FACTS"
            )
        questions.append(
            Question(f"q{i}", gold.chunk_id, question, answer, "easy", "train", (gold.chunk_id,))
        )
    retriever = Retriever.build(chunks, RetrievalConfig(kind="bm25"), embedder=HashingEmbedder())
    run_dir = root / "run"
    layout = RunLayout(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(layout.chunks, (c.to_json() for c in chunks))
    retriever.save(layout.index_dir("original"))
    layout.save_questions(questions)
    config = load_config(
        None,
        [
            f"run_dir={run_dir}",
            f"grpo.output_dir={root / 'grpo'}",
            f"grpo.batch_size={plan.grpo_batch}",
            f"grpo.num_generations={plan.group}",
            f"grpo.max_steps={plan.grpo_steps}",
            f"grpo.save_steps={plan.grpo_steps}",
            "grpo.warm_start=false",
            "grpo.report_to=none",
            "grpo.trajectories_per_step=0",
            f"env.max_turns={plan.env_turns}",
            f"env.max_new_tokens={plan.env_new_tokens}",
            "retrieval.top_k=2",
            "env.max_observation_chars=600",
        ],
    )
    by_id = {c.chunk_id: c for c in chunks}
    sft_rows = tuple(
        {
            "messages": [
                {"role": "system", "content": f"Context [1]: {by_id[q.chunk_id].text}"},
                {"role": "user", "content": q.question},
                {"role": "assistant", "content": f"{q.answer} [1]."},
            ]
        }
        for q in questions
    )
    memo_rows = tuple(
        {"messages": [{"role": "user", "content": q.question}, {"role": "assistant", "content": q.answer}]}
        for q in questions
    )
    return World(config, run_dir, tuple(questions), retriever, rubric_of(config), sft_rows, memo_rows)


# --------------------------------------------------------------------------- model, tokenizer, clock
def export_tokenizer(out_dir: str | os.PathLike[str]) -> Path:
    """Save the embedded SmolLM2 tokenizer (read from its GGUF, no weights) to ``out_dir``."""
    from transformers import AutoTokenizer

    from teacherforge.models import cached_llm_dir, embedded_gguf

    converted = cached_llm_dir("smollm2-135m")
    if converted is not None:
        tokenizer = AutoTokenizer.from_pretrained(converted)
    else:
        gguf = embedded_gguf("smollm2-135m")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def resolve_tokenizer(path: str | None, scratch: Path) -> Any:
    """The SmolLM2 tokenizer: ``path``, else the bundled copy (``make gpu-bundle``), else the
    embedded model's; padded on the left with EOS as pad (``teacherforge.models.load_tokenizer``)."""
    from teacherforge.models import load_tokenizer

    if path is None:
        path = str(BUNDLED_TOKENIZER) if (BUNDLED_TOKENIZER / "tokenizer.json").is_file() else None
    if path is None:
        path = str(export_tokenizer(scratch / "tokenizer"))
    return load_tokenizer(path)


def build_model(shape: str, tokenizer: Any, device: str, seed: int = 0) -> Any:
    """A random-initialised Llama of ``shape`` with the tokenizer's vocabulary, on ``device``
    in the project's dtype for it (bf16 on a GPU that supports it, else fp32)."""
    from teacherforge.models import resolve_dtype

    settings = dict(SMOLLM2_135M if shape == "smollm2-135m" else TINY)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(resolve_dtype("auto", device)).eval()


def synchronize(device: str) -> None:
    """Wait for queued CUDA work, so wall-clock timings cover it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class StepClock(TrainerCallback):
    """Times every optimiser step (begin → end, CUDA-synchronised); after the timing, calls
    ``probe(step, model)`` on every ``every``-th step (its time is not counted); a probe that
    returns True stops training."""

    def __init__(self, device: str, probe: Callable[[int, Any], bool] | None = None, every: int = 0) -> None:
        self.device, self.probe, self.every = device, probe, every
        self.steps: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        synchronize(self.device)
        self.steps.append(time.perf_counter() - self._start)
        if self.probe is not None and self.every and state.global_step % self.every == 0:
            control.should_training_stop = self.probe(state.global_step, kwargs["model"])


def steps_per_s(steps: Sequence[float]) -> float:
    """Optimiser steps per second over the timed steps, the first (warm-up) one left out."""
    timed = steps[1:] if len(steps) > 1 else steps
    return 1.0 / statistics.mean(timed)


# --------------------------------------------------------------------------- measurements
def measure_generation(model: Any, tokenizer: Any, world: World, plan: Plan, device: str) -> dict:
    """Sampled tokens/s of ``TransformersBackend`` on a batch of chat prompts."""
    from teacherforge.llm import TransformersBackend

    backend = TransformersBackend(model, tokenizer, batch_size=plan.gen_prompts)
    qs = world.questions
    prompts = [[Message("user", qs[i % len(qs)].question)] for i in range(plan.gen_prompts)]
    params = GenerationParams(max_new_tokens=plan.gen_new_tokens, temperature=1.0, seed=0)
    backend.generate(prompts, replace(params, max_new_tokens=2))  # warm-up (kernels, allocator)
    synchronize(device)
    start = time.perf_counter()
    completions = backend.generate(prompts, params)
    synchronize(device)
    wall = time.perf_counter() - start
    tokens = sum(c.completion_tokens for c in completions)
    return {"value": tokens / wall, "tokens": tokens, "seconds": round(wall, 3), "batch": plan.gen_prompts}


def world_task(world: World) -> Any:
    """The search task over the world's index, questions and rubric."""
    from teacherforge.envs import build_task

    return build_task(world.config, retriever=world.retriever, questions=world.questions, rubric=world.rubric)


def measure_rollouts(model: Any, tokenizer: Any, world: World, plan: Plan, device: str) -> dict:
    """Episodes/s of the batched ``RolloutDriver`` with the live model over the BM25 index."""
    from teacherforge.envs import RolloutDriver
    from teacherforge.llm import TransformersBackend

    env = world.config.env
    driver = RolloutDriver(world_task(world), tokenizer=tokenizer)
    backend = TransformersBackend(model, tokenizer, batch_size=plan.rollout_questions * plan.group)
    questions = world.questions[: plan.rollout_questions]
    params = GenerationParams(max_new_tokens=env.max_new_tokens, temperature=1.0, n=plan.group, seed=0)
    driver.run(backend, questions[:1], replace(params, n=1, max_new_tokens=2))  # warm-up
    searches = driver.search_calls
    synchronize(device)
    start = time.perf_counter()
    episodes = driver.run(backend, questions, params)
    synchronize(device)
    wall = time.perf_counter() - start
    return {
        "value": len(episodes) / wall,
        "episodes": len(episodes),
        "seconds": round(wall, 3),
        "turns": sum(e.info["turn"] for e in episodes),
        "model_tokens": sum(sum(e.env_mask) for e in episodes),
        "search_calls": driver.search_calls - searches,
    }


def measure_sft(tokenizer: Any, world: World, plan: Plan, device: str, root: Path) -> dict:
    """SFT optimiser steps/s (TRL SFTTrainer + the SFT stage's default LoRA, assistant-only loss)."""
    from teacherforge.trainers.sft_common import build_sft_trainer

    trainer = build_sft_trainer(
        build_model(plan.shape, tokenizer, device),
        list(world.sft_rows),  # the trainer cycles through them
        root / "sft",
        lora=world.config.sft.lora,
        learning_rate=world.config.sft.learning_rate,
        batch_size=plan.sft_batch,
        max_steps=plan.sft_steps,
        max_length=plan.sft_max_length,
        save_steps=10**6,
        tokenizer=tokenizer,
        report_to="none",
    )
    clock = StepClock(device)
    trainer.add_callback(clock)
    trainer.train()
    return {"value": steps_per_s(clock.steps), "steps": len(clock.steps), "batch": plan.sft_batch}


def measure_grpo(tokenizer: Any, world: World, plan: Plan, device: str) -> dict:
    """GRPO optimiser steps/s: ``build_grpo_trainer`` with a live random policy, env rollouts included."""
    from teacherforge.trainers import grpo
    from teacherforge.trainers.sft_common import peft_lora_config

    config = world.config
    setup = grpo.build_grpo_trainer(
        config,
        grpo.check_grpo_config(config),
        model=build_model(plan.shape, tokenizer, device),
        tokenizer=tokenizer,
        peft_config=peft_lora_config(config.grpo.lora),
        task=world_task(world),
    )
    clock = StepClock(device)
    setup.trainer.add_callback(clock)
    setup.trainer.train()
    records = setup.log_callback.records[1:] or setup.log_callback.records
    rollout_s = [r.get("time/rollout_s") or 0.0 for r in records]
    return {
        "value": steps_per_s(clock.steps),
        "steps": len(clock.steps),
        "batch": plan.grpo_batch,
        "rollout_share": round(
            statistics.mean(rollout_s) / statistics.mean(clock.steps[1:] or clock.steps), 3
        ),
    }


def score_answers(model: Any, tokenizer: Any, world: World) -> tuple[float, float]:
    """Greedy exact match and F1 (``trainers.metrics``) of the model on the memorised questions."""
    from teacherforge.llm import TransformersBackend
    from teacherforge.trainers.metrics import exact_match_score, f1_score

    backend = TransformersBackend(model, tokenizer, batch_size=len(world.questions))
    longest = max(len(tokenizer.encode(q.answer, add_special_tokens=False)) for q in world.questions)
    params = GenerationParams(max_new_tokens=longest + 4, temperature=0.0)
    outs = backend.generate([[Message("user", q.question)] for q in world.questions], params)
    em = statistics.mean(exact_match_score(o.text, q.answer) for o, q in zip(outs, world.questions))
    f1 = statistics.mean(f1_score(o.text, q.answer) for o, q in zip(outs, world.questions))
    return em, f1


def measure_memorisation(tokenizer: Any, world: World, plan: Plan, device: str, root: Path) -> dict:
    """LoRA SFT (all linear layers) on the question → answer pairs, EM/F1 every ``memo_every``
    steps, until every pair is answered exactly, ``memo_steps`` or ``memo_budget_s``."""
    from teacherforge.trainers.sft_common import build_sft_trainer

    curve: list[dict] = []
    trainer = build_sft_trainer(
        build_model(plan.shape, tokenizer, device),
        list(world.memo_rows),  # one batch = every pair: one step is one epoch
        root / "memo",
        lora=LoraAdapterConfig(r=plan.memo_rank, alpha=2 * plan.memo_rank, target_modules=ALL_LINEAR),
        learning_rate=plan.memo_lr,
        batch_size=len(world.memo_rows),
        max_steps=plan.memo_steps,
        max_length=64,
        save_steps=10**6,
        tokenizer=tokenizer,
        report_to="none",
    )
    clock = StepClock(device)

    def probe(step: int, model: Any) -> bool:
        em, f1 = score_answers(model, tokenizer, world)
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        curve.append({"step": step, "exact_match": em, "f1": f1, "loss": losses[-1] if losses else None})
        return em >= 1.0 or sum(clock.steps) >= plan.memo_budget_s

    probe(0, trainer.model)
    clock.probe, clock.every = probe, plan.memo_every
    trainer.add_callback(clock)
    trainer.train()
    if curve[-1]["step"] != len(clock.steps):
        probe(len(clock.steps), trainer.model)
    return {"value": steps_per_s(clock.steps), "steps": len(clock.steps), "curve": curve}


MEASUREMENTS = (
    ("sft", "SFT optimiser steps/s", "steps/s"),
    ("grpo", "GRPO optimiser steps/s", "steps/s"),
    ("generation", "generation tokens/s", "tokens/s"),
    ("rollouts", "rollout episodes/s", "episodes/s"),
    ("memorisation", "memorisation SFT steps/s", "steps/s"),
)


def measure_all(plan: Plan, device: str, tokenizer_path: str | None) -> dict:
    """Every measurement of one pass on ``device``, each with its details (scratch files removed)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"gpu_check_{plan.name}_") as scratch:
        root = Path(scratch)
        tokenizer = resolve_tokenizer(tokenizer_path, root)
        world = build_world(plan, root)
        out: dict[str, Any] = {"plan": asdict(plan), "device": device}
        model = build_model(plan.shape, tokenizer, device)
        out["parameters"] = sum(p.numel() for p in model.parameters())
        out["generation"] = measure_generation(model, tokenizer, world, plan, device)
        out["rollouts"] = measure_rollouts(model, tokenizer, world, plan, device)
        del model
        out["sft"] = measure_sft(tokenizer, world, plan, device, root)
        out["grpo"] = measure_grpo(tokenizer, world, plan, device)
        out["memorisation"] = measure_memorisation(tokenizer, world, plan, device, root)
    out["seconds"] = round(time.perf_counter() - started, 1)
    for key, _, _ in MEASUREMENTS:
        print(f"[{plan.name}/{device}] {key}: {out[key]['value']:.3f}", flush=True)
    return out


# --------------------------------------------------------------------------- report
def device_info(device: str) -> dict:
    """CPU/OS and versions (``benchkit.machine_info``), plus the GPU when one is used."""
    info: dict[str, Any] = {**machine_info(), "report": machine_report()}
    if device.startswith("cuda"):
        info.update(
            gpu=torch.cuda.get_device_name(0),
            cuda=torch.version.cuda,
            bf16=torch.cuda.is_bf16_supported(),
        )
    return info


def combine(cpu: dict | None, gpu: dict | None) -> dict:
    """One row per measurement: the CPU figure, the GPU figure and GPU / CPU."""
    rows = {}
    for key, label, unit in MEASUREMENTS:
        c = cpu[key]["value"] if cpu else None
        g = gpu[key]["value"] if gpu else None
        ratio = g / c if c and g else None
        rows[key] = {"label": label, "unit": unit, "cpu": c, "gpu": g, "ratio": ratio}
    return rows


def markdown(result: dict) -> str:
    """The Markdown report (``benchkit.Table``): figures, ratios, memorisation curves, the machine."""
    shapes = {side: result[side]["plan"]["shape"] for side in ("cpu", "gpu") if result.get(side)}
    notes = []
    for side, shape in shapes.items():
        curve = result[side]["memorisation"]["curve"]
        points = ", ".join(f"{p['step']}: {p['exact_match']:.2f}/{p['f1']:.2f}" for p in curve)
        notes.append(f"memorisation curve on {side} ({shape}; step: EM/F1): {points}")
    if "gpu" in result["machine"]:
        notes.append(f"gpu: {result['machine']['gpu']}, CUDA {result['machine']['cuda']}")
    table = Table(
        title="GPU check: the project's paths on a random-initialised model, GPU vs CPU",
        columns=("measurement", "CPU", "GPU", "GPU / CPU"),
        rows=tuple(
            (row["label"], *("—" if row[k] is None else float(row[k]) for k in ("cpu", "gpu", "ratio")))
            for row in result["table"].values()
        ),
        setup=", ".join(f"{side}: {shape} shape" for side, shape in shapes.items()),
        notes=tuple(notes),
    )
    return f"{table.render()}\n\n{result['machine']['report']}\n"


def cpu_baseline(plan: Plan, tokenizer: str | None, timeout_s: float) -> dict | None:
    """The CPU pass in a subprocess that sees no GPU (HF trainers pick CUDA whenever it is there)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "cpu.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--device",
            "cpu",
            "--plan",
            plan.name,
            "--pass-json",
            str(target),
        ]
        if tokenizer:
            cmd += ["--tokenizer", tokenizer]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        try:
            subprocess.run(cmd, env=env, check=True, timeout=timeout_s)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"CPU baseline failed ({exc}); the table has GPU figures only", flush=True)
            return None
        return json.loads(target.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model and a few steps (dry run)")
    parser.add_argument("--out", help="folder for gpu_check.json / gpu_check.md (default: a temp dir)")
    parser.add_argument(
        "--tokenizer", help="SmolLM2 tokenizer dir (default: .whl/smollm2-tokenizer, else embedded)"
    )
    parser.add_argument("--cpu-timeout", type=float, default=180.0, help="seconds for the CPU baseline")
    parser.add_argument("--no-cpu-baseline", action="store_true", help="with --device cuda: GPU figures only")
    parser.add_argument(
        "--export-tokenizer", metavar="DIR", help="save the SmolLM2 tokenizer to DIR and exit"
    )
    parser.add_argument("--plan", choices=sorted(PLANS), help=argparse.SUPPRESS)
    parser.add_argument("--pass-json", help=argparse.SUPPRESS)  # internal: one pass, raw JSON, no report
    args = parser.parse_args(argv)

    if args.export_tokenizer:
        print(export_tokenizer(args.export_tokenizer))
        return 0
    if args.pass_json:
        result = measure_all(PLANS[args.plan], args.device, args.tokenizer)
        Path(args.pass_json).write_text(json.dumps(result), encoding="utf-8")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible; use --device cpu --tiny for the dry run")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": device_info(args.device), "cpu": None, "gpu": None}
    if args.device == "cuda":
        plan = PLANS["tiny" if args.tiny else "gpu"]
        result["gpu"] = measure_all(plan, "cuda", args.tokenizer)
        if not args.no_cpu_baseline:
            baseline = PLANS["tiny" if args.tiny else "cpu-baseline"]
            result["cpu"] = cpu_baseline(baseline, args.tokenizer, args.cpu_timeout)
    else:
        torch.set_num_threads(os.cpu_count() or 1)
        result["cpu"] = measure_all(PLANS["tiny" if args.tiny else "cpu-baseline"], "cpu", args.tokenizer)
    result["table"] = combine(result["cpu"], result["gpu"])
    finite = all(
        math.isfinite(row[side]) and row[side] > 0
        for row in result["table"].values()
        for side in ("cpu", "gpu")
        if row[side] is not None
    )
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    report = markdown(result)
    (out / "gpu_check.md").write_text(report, encoding="utf-8")
    print("\n" + report + f"\nwritten: {out / 'gpu_check.json'}, {out / 'gpu_check.md'}")
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
