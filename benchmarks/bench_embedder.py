"""Embedder fine-tuning benchmark: does MiniLM tuned on the run's train questions find answers better?

The run: the quickstart datagen on the bundled Apollo 13 report (paraphrases off): 516 chunks
and cloze questions, split by chunk 0.8/0.1/0.1 with seed 0. Only the TRAIN questions fine-tune
the embedder (:mod:`teacherforge.datagen.embedder_finetune`: question → gold chunk, BM25 hard
negatives, MultipleNegativesRankingLoss). Every listed setting (``--settings epochs:lr``) is
trained; the one with the lowest last-epoch training loss is marked chosen; nothing else chooses.

Scored on queries no setting saw: the 67 hand-written questions and the 139 held-out questions
(``examples/apollo13/questions_*.jsonl``), plus the run's own validation+test cloze questions
(same form as training, chunks never trained on). Metric: answer@k (answer string inside a
top-k chunk, ``benchmarks/answer_at_k.py``), dense and hybrid, base vs fine-tuned (a baseline
measured in the same run), with a paired bootstrap 95% interval of fine-tuned − base answer@5
(2000 resamples, seed 0). A full run writes ``benchmarks/results/embedder.json``.

``python benchmarks/bench_embedder.py [--settings 1:2e-5,3:5e-5] [--batch-size 16]
[--bm25-negatives 10] [--work DIR] [--smoke]`` (``--smoke``: 40 chunks, a few steps, 8 questions per set.)
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import benchkit
from answer_at_k import answer_at_k, load_questions

CORPUS_DIR = benchkit.REPO / "examples" / "apollo13"
QUESTION_SETS = {
    "hand-written": CORPUS_DIR / "questions_handwritten.jsonl",
    "held-out": CORPUS_DIR / "questions_heldout.jsonl",
}
RESULTS = benchkit.REPO / "benchmarks" / "results" / "embedder.json"
KINDS = ("dense", "hybrid")
BOOTSTRAP_SAMPLES = 2000


def _settings(text: str) -> list[tuple[int, float]]:
    """``"1:2e-5,2:5e-5"`` → ``[(1, 2e-05), (2, 5e-05)]`` (epochs, learning rate)."""
    out = []
    for item in text.split(","):
        epochs, _, lr = item.partition(":")
        out.append((int(epochs), float(lr)))
    return out


def _datagen(work: Path, smoke: bool) -> Any:
    """The quickstart datagen (no paraphrases) into ``work/run``; rerunning skips finished steps."""
    from teacherforge.config import load_config
    from teacherforge.datagen.pipeline import run_datagen

    overrides = [
        f"run_dir={work / 'run'}",
        f"datagen.corpus={CORPUS_DIR}",
        "datagen.paraphrase.enabled=false",
    ]
    if smoke:
        overrides.append("datagen.max_chunks=40")
    config = load_config("quickstart", overrides)
    run_datagen(config, progress=False, print_summary=False)
    return config


def _scores(retriever: Any, questions: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """answer@1/@5 and the per-question answer@5 hits (0/1, in question order)."""
    result = answer_at_k(retriever, questions, kind=kind)
    missed = set(result["misses"])
    result["hits@5"] = [0.0 if q["id"] in missed else 1.0 for q in questions]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Fine-tune every setting, score base and fine-tuned retrievers, print and save the tables."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--settings", default="1:2e-5,3:5e-5", help="epochs:learning_rate, comma-separated")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--bm25-negatives", type=int, default=10, help="BM25 hits scanned for a hard negative"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="keep the run dir and models here (default: a temporary directory)")
    args = parser.parse_args(argv)
    settings = _settings(args.settings)
    if args.smoke:
        settings, args.batch_size = [(1, 5e-5)], 4

    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    from teacherforge.datagen.embedder_finetune import FINETUNE_FILE, finetune_embedder, training_triples
    from teacherforge.retrieval import Embedder, Retriever
    from teacherforge.run import RunLayout
    from teacherforge.trainers.metrics import paired_difference_ci

    report = benchkit.Report("bench_embedder", args.smoke)
    tmp = tempfile.TemporaryDirectory(prefix="bench_embedder_")
    work = Path(args.work or tmp.name)
    started = time.perf_counter()
    config = _datagen(work, args.smoke)
    datagen_s = time.perf_counter() - started
    layout = RunLayout(config.run_path)
    chunks = layout.chunk_list()
    train = layout.questions("train")
    if args.smoke:
        train = train[:8]
    heldout_cloze = [
        {"id": q.id, "question": q.question, "answer": q.answer}
        for q in layout.questions(None)
        if q.split != "train"
    ]
    sets = {name: load_questions(path) for name, path in QUESTION_SETS.items()}
    sets["cloze val+test"] = heldout_cloze
    sets = {name: qs[:8] if args.smoke else qs for name, qs in sets.items() if qs}
    triples = training_triples(train, chunks, args.bm25_negatives, retrieval=config.retrieval)

    retrieval = dataclasses.replace(config.retrieval, kind="hybrid")
    base_embedder = Embedder(retrieval.embedder, retrieval.batch_size)
    if layout.embeddings.exists():
        base_embedder.load_cache(layout.embeddings)  # the datagen index step embedded every chunk already
    models: dict[str, Any] = {"base": Retriever.build(chunks, retrieval, embedder=base_embedder)}
    runs = []
    for epochs, lr in settings:
        label = f"ft e{epochs} lr{lr:g}"
        out = work / f"embedder-e{epochs}-lr{lr:g}"
        summary = finetune_embedder(
            "minilm",
            triples,
            out,
            epochs=epochs,
            batch_size=args.batch_size,
            learning_rate=lr,
            seed=args.seed,
            progress=False,
        )
        used = set(json.loads((out / FINETUNE_FILE).read_text(encoding="utf-8"))["question_ids"])
        if not used <= {q.id for q in train}:
            raise AssertionError(
                f"{out}: fine-tuned on non-train questions {sorted(used - {q.id for q in train})}"
            )
        index_started = time.perf_counter()
        models[label] = Retriever.build(chunks, retrieval, embedder=Embedder(str(out), retrieval.batch_size))
        runs.append({"label": label, **summary, "index_s": round(time.perf_counter() - index_started, 1)})
    chosen = min(runs, key=lambda r: r["epoch_losses"][-1])["label"]

    rows, results = [], []
    for set_name, questions in sets.items():
        for kind in KINDS:
            base = _scores(models["base"], questions, kind)
            for run in runs:
                tuned = _scores(models[run["label"]], questions, kind)
                delta = paired_difference_ci(tuned["hits@5"], base["hits@5"], BOOTSTRAP_SAMPLES, seed=0)
                results.append(
                    {
                        "set": set_name,
                        "n": len(questions),
                        "kind": kind,
                        "model": run["label"],
                        "chosen": run["label"] == chosen,
                        "base_answer@1": base["answer@1"],
                        "base_answer@5": base["answer@5"],
                        "ft_answer@1": tuned["answer@1"],
                        "ft_answer@5": tuned["answer@5"],
                        "delta_answer@5": delta.to_json(),
                    }
                )
                rows.append(
                    (
                        set_name,
                        len(questions),
                        kind,
                        run["label"] + (" *" if run["label"] == chosen else ""),
                        base["answer@1"],
                        tuned["answer@1"],
                        base["answer@5"],
                        tuned["answer@5"],
                        f"{delta.mean:+.3f} [{delta.low:+.3f}, {delta.high:+.3f}]",
                    )
                )
    first = next(r for r in results if r["chosen"])  # hand-written, dense
    report.add(
        benchkit.Table(
            "Fine-tuned vs base MiniLM: answer@k on questions never trained on",
            ("set", "n", "kind", "model", "base @1", "ft @1", "base @5", "ft @5", "Δ@5 [95% CI]"),
            tuple(rows),
            setup=(
                f"{len(chunks)} chunks (quickstart chunking), fine-tuned on {len(triples)} train cloze questions "
                f"({sum(t.negative is not None for t in triples)} with a BM25 hard negative); baseline: base "
                f"MiniLM in the same run; Δ = fine-tuned − base answer@5, paired bootstrap ({BOOTSTRAP_SAMPLES}, seed 0)"
            ),
            notes=(
                "* chosen: lowest last-epoch training loss (train questions only); every setting is scored on "
                "every set and none of these sets chose anything",
            ),
            headline=(
                (
                    f"embedder fine-tuned on train cloze questions: {first['set']} answer@5 ({first['kind']})",
                    f"{first['base_answer@5']:.3f} → {first['ft_answer@5']:.3f} "
                    f"(Δ {first['delta_answer@5']['mean']:+.3f} [{first['delta_answer@5']['low']:+.3f}, "
                    f"{first['delta_answer@5']['high']:+.3f}])",
                ),
            ),
        )
    )
    report.add(
        benchkit.Table(
            "Embedder fine-tuning cost (CPU)",
            (
                "model",
                "pairs",
                "hard neg",
                "batch",
                "steps",
                "train s",
                "pairs/s",
                "epoch losses",
                "re-index s",
            ),
            tuple(
                (
                    r["label"] + (" *" if r["label"] == chosen else ""),
                    r["pairs"],
                    r["hard_negatives"],
                    r["batch_size"],
                    r["steps"],
                    r["seconds"],
                    r["pairs_per_s"],
                    " ".join(f"{x:.3f}" for x in r["epoch_losses"]),
                    r["index_s"],
                )
                for r in runs
            ),
            setup=f"{torch.get_num_threads()} torch threads; datagen (chunk, index, questions) took {datagen_s:.0f} s",
            headline=tuple(
                (
                    f"embedder fine-tune, {r['pairs']} pairs x {r['epochs']} epoch(s), CPU",
                    f"{r['seconds']:.0f} s",
                )
                for r in runs
                if r["label"] == chosen
            ),
        )
    )
    if not args.smoke:
        record = {
            "benchmark": "bench_embedder",
            "machine": benchkit.machine_info(),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "chunks": len(chunks),
            "train_questions": len(train),
            "finetune": runs,
            "chosen": chosen,
            "results": results,
            "tables": [t.to_json() for t in report.tables],
        }
        RESULTS.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"\nresults: {RESULTS}")
    report.save()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
