"""Ray executor vs local executor: wall time of the same datagen workload (scripted backend with a cost).

The backend (:func:`per_prompt_backend`) sleeps ``--per-prompt`` seconds for every prompt of a
``generate`` call, as a local model busy on its own core would, and answers each question
prompt with one pair grounded in its passage; the Ray executor splits every batch across
``--workers`` actors. The corpus is the first ``--chunks`` chunks of the Apollo 13 report;
the embedder is the real MiniLM. Ray cluster start-up is measured separately; the Ray run
includes starting its actors. Skipped, with the reason, without the ``ray`` extra.

Run: ``python benchmarks/bench_ray.py [--per-prompt 0.2] [--workers 2] [--chunks 16] [--smoke]``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import benchkit

from teacherforge.llm import FakeBackend, prompt_text
from teacherforge.types import Completion, GenerationParams, Prompt

TITLE = "Ray executor vs local executor (datagen)"
HERE = Path(__file__).resolve().parent


def respond(prompt: Prompt, sample_index: int) -> str:
    """One question per question prompt (its answer: the passage's first capitalised word);
    paraphrase prompts get the passage back."""
    text = prompt_text(prompt)
    passages = re.findall(r"<passage>\n(.*?)\n</passage>", text, re.DOTALL)
    if passages:
        words = re.findall(r"\b[A-Z][a-z]{3,}\b", passages[-1]) or ["nothing"]
        return json.dumps([{"question": "Which name does this part of the report give?", "answer": words[0]}])
    return text.split("Passage:\n", 1)[-1]


class PerPromptBackend(FakeBackend):
    """:class:`FakeBackend` that sleeps ``BENCH_PER_PROMPT_S`` seconds per prompt, like a local model."""

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        """Sleep for the batch's cost, then answer every prompt."""
        time.sleep(float(os.environ.get("BENCH_PER_PROMPT_S", "0.1")) * len(prompts))
        return super().generate(prompts, params)


def per_prompt_backend() -> PerPromptBackend:
    """The backend factory the datagen config names (``bench_ray:per_prompt_backend``)."""
    return PerPromptBackend(respond, identity="bench-per-prompt")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the workload with each executor and print the table."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--per-prompt", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=16)
    args = parser.parse_args(argv)
    if args.smoke:
        args.per_prompt, args.chunks = 0.01, 4
    report = benchkit.Report("bench_ray", args.smoke)
    reason = benchkit.missing_extra(("ray",), "ray")
    if reason:
        report.skip(TITLE, reason)
        report.save()
        return
    # the Ray workers import this module by name to build the backend
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    os.environ["BENCH_PER_PROMPT_S"] = str(args.per_prompt)
    from teacherforge.config import load_config
    from teacherforge.datagen.pipeline import run_datagen
    from teacherforge.llm.ray_backend import init_ray

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        (corpus / "apollo13.md").write_text(
            benchkit.APOLLO_REPORT.read_text(encoding="utf-8"), encoding="utf-8"
        )
        sets = [
            "datagen.generator=llm",
            "datagen.llm.backend=custom",
            "datagen.llm.model=bench_ray:per_prompt_backend",
            "datagen.batch_size=8",
            "datagen.min_answer_similarity=0",
            "datagen.max_retries=0",
            "datagen.paraphrase.enabled=false",
            f"datagen.max_chunks={args.chunks}",
            f"datagen.corpus={corpus}",
            f"executor.workers={args.workers}",
        ]
        times = {}
        start = time.perf_counter()
        init_ray(num_cpus=args.workers)
        startup = time.perf_counter() - start
        for kind in ("local", "ray"):
            config = load_config(None, [*sets, f"run_dir={tmp}/{kind}", f"executor.kind={kind}"])
            start = time.perf_counter()
            run_datagen(config, progress=False, print_summary=False)
            times[kind] = time.perf_counter() - start
    speedup = times["local"] / times["ray"]
    report.add(
        benchkit.Table(
            TITLE,
            ("executor", "wall s", "speed-up"),
            (
                ("local (baseline)", round(times["local"], 2), 1.0),
                ("ray", round(times["ray"], 2), round(speedup, 2)),
            ),
            setup=(
                f"datagen of {args.chunks} Apollo 13 chunks, llm questions, scripted backend at "
                f"{args.per_prompt} s per prompt, {args.workers} workers, real MiniLM embedder"
            ),
            notes=(f"Ray cluster start-up, not included above: {startup:.1f} s; actor start-up is included",),
            headline=(
                (
                    f"datagen on Ray ({args.workers} workers) vs local, {args.per_prompt} s/prompt",
                    f"{speedup:.2f}×",
                ),
            ),
        )
    )
    report.save()


if __name__ == "__main__":
    main()
