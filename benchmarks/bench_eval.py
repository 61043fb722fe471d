"""Evaluation throughput: questions/s batched vs one question at a time, in both modes.

The model is a scripted backend that takes ``--latency`` seconds per ``generate`` call (as a GPU
server or a local model call would): in agentic mode it searches the question once, then
answers; in fixed mode it answers at once. The retriever is real (BM25 over the Apollo report).

Run: ``python benchmarks/bench_eval.py [--questions 32] [--latency 0.05] [--smoke]``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import benchkit


def respond(prompt: object, sample_index: int) -> str:
    """Agentic (raw continuation text): search the question, then answer after the results.
    Fixed (chat messages): answer at once, citing passage 1."""
    if isinstance(prompt, str):
        tail = prompt.split("<|im_start|>assistant")[-1]
        question = prompt.split("<|im_start|>user\n")[-1].split("<|im_end|>")[0]
        return "<answer>x</answer>" if "<information>" in tail else f"<search>{question}</search>"
    return "x [1]"


def main(argv: Sequence[str] | None = None) -> None:
    """Time both modes one question at a time and batched; print the table."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.smoke:
        args.questions, args.latency = 4, 0.001
    from teacherforge.config import RetrievalConfig, load_config
    from teacherforge.llm import FakeBackend
    from teacherforge.retrieval import Retriever
    from teacherforge.trainers.evaluate import predict_agentic, predict_fixed
    from teacherforge.types import GenerationParams

    report = benchkit.Report("bench_eval", args.smoke)
    chunks = benchkit.apollo_slices(600, 40 if args.smoke else None)
    retriever = Retriever.build(chunks, RetrievalConfig(kind="bm25"))
    questions = [
        {
            "id": f"q{i}",
            "chunk_id": c.chunk_id,
            "question": " ".join(c.text.split()[5:15]) + "?",
            "answer": "x",
            "source_chunk_ids": [c.chunk_id],
        }
        for i, c in enumerate(chunks[: args.questions])
    ]
    backend = FakeBackend(respond, delay_s=args.latency, identity="bench")
    config = load_config(None, ["retrieval.min_score=0.0", "retrieval.top_k=3"])
    params = GenerationParams(max_new_tokens=32)
    rows = []
    for mode, predict in (("fixed", predict_fixed), ("agentic", predict_agentic)):
        start = time.perf_counter()
        for q in questions:
            predict(backend, "m", [q], retriever, config, params)
        single = len(questions) / (time.perf_counter() - start)
        start = time.perf_counter()
        predict(backend, "m", questions, retriever, config, params)
        batched = len(questions) / (time.perf_counter() - start)
        rows.append((mode, round(single, 1), round(batched, 1), f"{batched / single:.1f}x"))
    report.add(
        benchkit.Table(
            "Evaluation: batched vs one question at a time",
            ("mode", "one at a time q/s (baseline)", "batched q/s", "speed-up"),
            tuple(rows),
            setup=(
                f"{len(questions)} questions, scripted backend with {args.latency * 1e3:.0f} ms per generate "
                f"call, real BM25 (+ MiniLM) retriever over {len(chunks)} Apollo 13 chunks of 600 chars"
            ),
            headline=(
                (
                    f"evaluation batched vs one question at a time ({args.latency * 1e3:.0f} ms/generate)",
                    ", ".join(f"{mode} {speedup.replace('x', '×')}" for mode, _, _, speedup in rows),
                ),
            ),
        )
    )
    report.save()


if __name__ == "__main__":
    main()
