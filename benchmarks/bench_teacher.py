"""Teacher answers/s, batched vs unbatched, and SFT tokens/s, on the embedded CPU models.

``python benchmarks/bench_teacher.py [--questions 16] [--max-new-tokens 32] [--smoke]`` answers the same
hand-written Apollo 13 questions (BM25 top-2 of the first 40 chunks) with the embedded SmolLM2
through :func:`teacherforge.datagen.teacher.answer_questions`, once with batch size 1 and once
with batch size 8 (no cache), then runs 4 LoRA SFT steps of the same model on the resulting
chat examples and prints a table with the ratio. ``--smoke`` uses a tiny random model of the
same configuration and two questions.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import benchkit
from answer_at_k import load_questions


def main(argv: Sequence[str] | None = None) -> None:
    """Answer the questions at batch 1 and 8, then run the SFT steps; print the table."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--sft-steps", type=int, default=4)
    args = parser.parse_args(argv)
    model = "smollm2-135m"
    tmp = tempfile.TemporaryDirectory(prefix="bench_teacher_")
    if args.smoke:
        model = str(benchkit.tiny_causal_lm(Path(tmp.name) / "tiny-model"))
        args.questions, args.max_new_tokens, args.sft_steps = 2, 4, 1

    import torch

    from teacherforge.config import ChunkingConfig, LoraAdapterConfig, RetrievalConfig
    from teacherforge.datagen.chunking import chunk_documents
    from teacherforge.datagen.loaders import load_corpus
    from teacherforge.datagen.teacher import answer_questions
    from teacherforge.llm import TransformersBackend
    from teacherforge.rag import rag_messages, select_hits
    from teacherforge.records import Question
    from teacherforge.retrieval import Retriever
    from teacherforge.trainers.sft_common import train_sft
    from teacherforge.types import GenerationParams

    report = benchkit.Report("bench_teacher", args.smoke)
    chunks = chunk_documents(load_corpus(benchkit.APOLLO_REPORT).documents, ChunkingConfig(size=600)).chunks[
        :40
    ]
    retriever = Retriever.build(chunks, RetrievalConfig(kind="bm25"))
    items = load_questions()[: args.questions]
    questions = [Question(q["id"], chunks[0].chunk_id, q["question"], q["answer"]) for q in items]
    hits = [select_hits(row, 2, 0.0) for row in retriever.search([q.question for q in questions], k=2)]
    backend = TransformersBackend.from_pretrained(model, device="cpu")
    params = GenerationParams(max_new_tokens=args.max_new_tokens, temperature=0.0)
    rows = []
    timings = {}
    for batch_size in (1, 8):
        start = time.perf_counter()
        result = answer_questions(
            questions, hits, backend, params=params, batch_size=batch_size, max_retries=0
        )
        timings[batch_size] = time.perf_counter() - start
        rows = [
            {"messages": rag_messages(q.question, [h.text for h in h_], r["response"])}
            for q, h_, r in zip(questions, hits, result.records)
        ]
    if not rows:  # a random smoke model's answers fail validation: train on the gold answers instead
        rows = [
            {"messages": rag_messages(q.question, [h.text for h in h_], q.answer)}
            for q, h_ in zip(questions, hits)
        ]
    with tempfile.TemporaryDirectory() as out:
        result = train_sft(
            model,
            rows,
            out,
            lora=LoraAdapterConfig(),
            learning_rate=2e-4,
            batch_size=4,
            max_steps=args.sft_steps,
            max_length=512,
            save_steps=1000,
            report_to="none",
        )
    label = "tiny random model" if args.smoke else "SmolLM2-135M"
    ratio = timings[1] / timings[8]
    report.add(
        benchkit.Table(
            "Teacher answers: batched vs one at a time, and SFT throughput",
            ("run", "seconds", "answers/s or tokens/s", "ratio"),
            (
                (
                    "teacher, batch 1 (baseline)",
                    round(timings[1], 1),
                    round(len(questions) / timings[1], 2),
                    1.0,
                ),
                (
                    "teacher, batch 8",
                    round(timings[8], 1),
                    round(len(questions) / timings[8], 2),
                    round(ratio, 2),
                ),
                (
                    f"SFT LoRA r16, batch 4, {args.sft_steps} steps",
                    round(result.train_runtime_s, 1),
                    round(result.tokens_per_s),
                    "",
                ),
            ),
            setup=(
                f"{label} on CPU, {torch.get_num_threads()} threads, {len(questions)} hand-written Apollo 13 "
                f"questions, BM25 top-2 of the first 40 chunks, max_new_tokens {args.max_new_tokens}, no cache"
            ),
            headline=((f"teacher answers batched (8) vs one at a time, {label} on CPU", f"{ratio:.2f}×"),),
        )
    )
    report.save()
    tmp.cleanup()


if __name__ == "__main__":
    main()
