"""Data-generation benchmark: batched vs one-prompt-at-a-time LLM questions, rerun cost, answer@k.

1. LLM question generation (the ``llm`` generator's real loop, validation included) over the
   same chunks with the same backend and model, all prompts of a batch in one ``generate``
   call vs one prompt per call. Goal: batched ≥ 3× prompts/s on CPU.
2. A finished datagen run rerun: LLM calls made (goal 0) and wall time as a share of the
   first run (goal ≤ 5%).
3. The answer@k table re-measured with the chunker (``benchmarks/answer_at_k.py``).

``python benchmarks/bench_datagen.py [--chunks 4] [--max-new-tokens 48] [--skip-answer-at-k] [--smoke]``
(``--smoke``: a tiny random model, no paraphrases, no answer@k table.)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import benchkit

CORPUS = benchkit.APOLLO_REPORT


def _apollo_chunks(n: int, offset: int = 20):
    from types import SimpleNamespace

    from teacherforge.config import ChunkingConfig
    from teacherforge.datagen.chunking import chunk_documents

    doc = SimpleNamespace(
        doc_id=CORPUS.name, source=str(CORPUS), text=CORPUS.read_text(encoding="utf-8"), metadata={}
    )
    return chunk_documents([doc], ChunkingConfig()).chunks[offset : offset + n]


def bench_batching(n_chunks: int, max_new_tokens: int, model: str) -> dict:
    """Prompts/s and valid questions of the llm generator, batched vs one prompt per call."""
    from teacherforge.datagen.questions_llm import Task, generate_questions, window_prompt
    from teacherforge.llm import TransformersBackend
    from teacherforge.types import GenerationParams

    chunks = _apollo_chunks(n_chunks)
    tasks = [
        Task(c.chunk_id, (c.chunk_id,), c.text, window_prompt(chunks, i, 1, 2), 2)
        for i, c in enumerate(chunks)
    ]
    backend = TransformersBackend.from_pretrained(model, device="cpu", batch_size=n_chunks)
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.7, top_p=0.95, seed=0)
    generate_questions(tasks[:1], backend, params, max_retries=0, batch_size=1, progress=False)  # warm-up
    rows = {}
    for label, batch_size in (("one prompt per call", 1), (f"batched ({n_chunks} per call)", n_chunks)):
        started = time.perf_counter()
        result = generate_questions(
            tasks, backend, params, max_retries=0, batch_size=batch_size, progress=False
        )
        seconds = time.perf_counter() - started
        rows[label] = {
            "seconds": round(seconds, 2),
            "prompts_per_s": round(len(tasks) / seconds, 3),
            "completion_tokens": result.usage["completion_tokens"],
            "tokens_per_s": round(result.usage["completion_tokens"] / seconds, 1),
            "valid_questions": len(result.pairs),
            "drops": dict(result.drops),
            "generate_calls": result.generate_calls,
        }
    one, many = rows.values()
    return {
        "rows": rows,
        "speedup_prompts_per_s": round(many["prompts_per_s"] / one["prompts_per_s"], 2),
        "speedup_tokens_per_s": round(many["tokens_per_s"] / max(one["tokens_per_s"], 1e-9), 2),
    }


def bench_rerun(
    max_chunks: int, paraphrase_chunks: int, max_new_tokens: int, extra: Sequence[str] = ()
) -> dict:
    """First run vs rerun of the datagen stage (cloze questions, SmolLM2 paraphrases)."""
    from teacherforge.config import load_config
    from teacherforge.datagen.pipeline import run_datagen

    with tempfile.TemporaryDirectory(prefix="bench_datagen_") as tmp:
        config = load_config(
            "datagen_apollo",
            [
                f"run_dir={tmp}/run",
                f"datagen.corpus={CORPUS}",
                f"datagen.max_chunks={max_chunks}",
                f"datagen.paraphrase.max_chunks={paraphrase_chunks}",
                f"datagen.paraphrase.max_new_tokens={max_new_tokens}",
                *extra,
            ],
        )
        started = time.perf_counter()
        first = run_datagen(config, progress=False, print_summary=False)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = run_datagen(config, progress=False, print_summary=False)
        second_s = time.perf_counter() - started
    return {
        "first_run_s": round(first_s, 2),
        "first_llm_calls": first["llm_calls"],
        "first_llm_completions": first["llm_completions"],
        "rerun_s": round(second_s, 3),
        "rerun_llm_calls": second["llm_calls"],
        "rerun_share": round(second_s / first_s, 4),
        "rerun_steps": {k: v["status"] for k, v in second["steps"].items()},
        "paraphrase_coverage": (first["steps"].get("paraphrases", {}).get("counts") or {}).get("coverage"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three measurements and print a table of each with its goal."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--chunks", type=int, default=4, help="chunks for the batching measurement")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="generation budget per prompt")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--rerun-chunks", type=int, default=10, help="datagen.max_chunks of the rerun measurement"
    )
    parser.add_argument("--rerun-paraphrase-chunks", type=int, default=4)
    parser.add_argument("--skip-answer-at-k", action="store_true")
    parser.add_argument(
        "--answer-at-k-args",
        default="--sizes 600,1000 --overlaps 0,100 --weights 0.5",
        help="arguments passed to benchmarks/answer_at_k.py",
    )
    parser.add_argument("--json-out", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="bench_datagen_")
    rerun_extra: list[str] = []
    if args.smoke:
        args.model = str(benchkit.tiny_causal_lm(Path(tmp.name) / "tiny-model"))
        args.chunks, args.max_new_tokens, args.rerun_chunks, args.skip_answer_at_k = 2, 4, 3, True
        rerun_extra = ["datagen.paraphrase.enabled=false"]
    report = benchkit.Report("bench_datagen", args.smoke)
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    results: dict = {}

    batching = bench_batching(args.chunks, args.max_new_tokens, args.model)
    results["batching"] = batching
    model_label = "tiny random model" if args.smoke else args.model
    report.add(
        benchkit.Table(
            "LLM question generation: batched vs one prompt per call",
            ("mode", "s", "prompts/s", "tok/s", "valid Q", "calls"),
            tuple(
                (
                    label,
                    row["seconds"],
                    row["prompts_per_s"],
                    row["tokens_per_s"],
                    row["valid_questions"],
                    row["generate_calls"],
                )
                for label, row in batching["rows"].items()
            ),
            setup=(
                f"{args.chunks} Apollo 13 chunks, {model_label} on CPU, max_new_tokens={args.max_new_tokens}; "
                "baseline: one prompt per call"
            ),
            notes=(
                f"batched / one-at-a-time: {batching['speedup_prompts_per_s']}x prompts/s, "
                f"{batching['speedup_tokens_per_s']}x tokens/s (goal >= 3x)",
            ),
            headline=(
                (
                    f"LLM question prompts batched ({args.chunks}) vs one per call, {model_label} on CPU",
                    f"{batching['speedup_prompts_per_s']}× prompts/s",
                ),
            ),
        )
    )

    rerun = bench_rerun(args.rerun_chunks, args.rerun_paraphrase_chunks, args.max_new_tokens * 4, rerun_extra)
    results["rerun"] = rerun
    report.add(
        benchkit.Table(
            "Rerun of a finished datagen run",
            ("run", "seconds", "LLM calls", "share of first run", "goal"),
            (
                ("first run (baseline)", rerun["first_run_s"], rerun["first_llm_calls"], 1.0, ""),
                ("rerun", rerun["rerun_s"], rerun["rerun_llm_calls"], rerun["rerun_share"], "0 calls, <= 5%"),
            ),
            setup=(
                f"datagen_apollo, max_chunks={args.rerun_chunks}, "
                + ("no paraphrases" if args.smoke else f"{args.rerun_paraphrase_chunks} paraphrased")
            ),
            headline=(
                (
                    "rerun of a finished datagen run",
                    f"{rerun['rerun_llm_calls']} LLM calls, {100 * rerun['rerun_share']:.2f} % of the first run's time",
                ),
            ),
        )
    )

    if not args.skip_answer_at_k:
        import answer_at_k

        print("\n3. answer@k with the chunker (hand-written Apollo 13 questions)")
        answer_at_k.main(args.answer_at_k_args.split())
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report.save()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
