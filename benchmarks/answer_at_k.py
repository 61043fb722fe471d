"""answer@k and support@k: how often retrieval finds the answer, measured on questions nobody tuned on.

``answer_at_k(retriever, questions)`` is the measurement (shared with the data-generation
benchmark): answer@k is the share of questions whose answer string (case-insensitive) is inside
one of the top-k hits; support@k, for questions with a ``support`` passage, the share whose top-k
hits hold at least half of the passage's word trigrams
(:func:`teacherforge.rewards.retrieval.support_coverage`). Neither depends on how the corpus is
chunked, so a grid over chunk sizes compares like with like.

``python benchmarks/answer_at_k.py`` is the honest protocol: the hand-written and the held-out
question sets about the bundled report are pooled and split by a seeded hash of each id into a
*dev* half, which chooses the best (chunking, kind) of the grid, and a *test* half, which reports
it next to the shipped default with a paired 95% bootstrap interval. The corpus goes through the
project's loaders first (the Markdown reader), as datagen reads it; every question file is
printed with its content hash.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "examples" / "apollo13" / "questions_handwritten.jsonl"
HELD_OUT = REPO / "examples" / "apollo13" / "questions_heldout.jsonl"
CORPUS = REPO / "examples" / "apollo13" / "mission_report.md"
SPLITS = ("dev", "test")


def load_questions(path: str | Path = QUESTIONS) -> list[dict[str, Any]]:
    """Question records (``id``, ``question``, ``answer``, optional ``support``) from JSONL or a JSON list."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dev_or_test(question_id: str, seed: int = 0) -> str:
    """The half a question belongs to: a seeded hash of its id, so adding questions moves none.

    >>> dev_or_test("hw-01") in SPLITS
    True
    """
    digest = hashlib.sha256(f"{seed}\x00{question_id}".encode()).digest()
    return SPLITS[digest[0] % 2]


def first_ranks(retriever: Any, questions: Sequence[dict[str, Any]], k: int, kind: str | None) -> list[dict]:
    """Per question, its row of :func:`teacherforge.datagen.retrieval_metrics.score_hits` at k 1 and ``k``
    (the rank of the first hit holding the answer, support coverage). One batched search."""
    from teacherforge.datagen.retrieval_metrics import query_from_record, question_rows

    queries = [query_from_record(q, q.get("id", "record")) for q in questions]
    return question_rows(retriever, queries, (1, k), kind)


def summarise(rows: Sequence[dict], ks: Sequence[int] = (1, 5)) -> dict[str, Any]:
    """answer@k and support@k for each k over question rows (:func:`first_ranks`), and the ids not answered."""
    from teacherforge.datagen import retrieval_metrics

    return retrieval_metrics.summarise(rows, ks)


def answer_at_k(
    retriever: Any, questions: Sequence[dict[str, Any]], ks: Sequence[int] = (1, 5), kind: str | None = None
) -> dict[str, Any]:
    """answer@k (and support@k where questions carry a passage) of one retriever over ``questions``.

    Returns the :func:`summarise` report (``"misses"``: ids not answered at max(ks)) and ``"search_s"``.
    """
    if not questions:
        raise ValueError("answer_at_k: no questions")
    started = time.perf_counter()
    rows = first_ranks(retriever, questions, max(ks), kind)
    return {**summarise(rows, ks), "search_s": time.perf_counter() - started}


def corpus_documents(corpus: str | Path) -> list[Any]:
    """The corpus's documents as datagen reads them (the project's loaders, Markdown reader included)."""
    from teacherforge.datagen.loaders import load_corpus

    return load_corpus(corpus).documents


def _chunks(documents: Sequence[Any], size: int, overlap: int, respect: bool) -> list[Any]:
    from teacherforge.config import ChunkingConfig
    from teacherforge.datagen.chunking import chunk_documents

    cfg = ChunkingConfig(size=size, overlap=overlap, respect_boundaries=respect)
    return chunk_documents(documents, cfg).chunks


def _file_line(path: Path, questions: Sequence[dict]) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"{path.name}: {len(questions)} questions, sha256 {digest}"


def _variants(base: Any, weights: Sequence[float]) -> list[tuple[str, str, Any]]:
    variants = [("dense", "dense", base), ("bm25", "bm25", base)]
    for fusion in ("minmax", "rrf"):
        variants += [
            (
                f"hybrid {fusion} w={w}",
                "hybrid",
                dataclasses.replace(base, hybrid_dense_weight=w, hybrid_fusion=fusion),
            )
            for w in weights
        ]
    return variants


def choose_on_dev(
    per_setting: dict[str, list[dict]], half: dict[str, str], default: str
) -> tuple[str, dict[str, Any]]:
    """The setting with the best dev answer@5 (then answer@1, support@5), and its test report next to
    the default's with the paired interval of their answer@5 difference on test."""
    from teacherforge.trainers.metrics import bootstrap_ci

    def on(found: list[dict], h: str) -> dict[str, Any]:
        return summarise([r for r in found if half[r["id"]] == h])

    def rank(name: str) -> tuple:
        dev = on(per_setting[name], "dev")
        return dev["answer@5"], dev["answer@1"], dev["support@5"] or 0.0

    def difference(k: int) -> dict[str, float]:
        diff = [
            float(c["answer_rank"] is not None and c["answer_rank"] <= k)
            - float(d["answer_rank"] is not None and d["answer_rank"] <= k)
            for c, d in zip(per_setting[best], per_setting[default])
            if half[c["id"]] == "test"
        ]
        return bootstrap_ci(diff, samples=2000).to_json()

    best = max(per_setting, key=rank)
    return best, {
        "chosen": on(per_setting[best], "test"),
        "default": on(per_setting[default], "test"),
        "difference": difference(5),
        "difference@1": difference(1),
    }


def _cells(found: list[dict], half: dict[str, str]) -> str:
    return " ".join(
        f"{summarise([r for r in found if half[r['id']] == h])[m] or 0.0:>6.3f}"
        for h in SPLITS
        for m in ("answer@1", "answer@5", "support@5")
    )


def _report(best: str, report: dict[str, Any]) -> None:
    print(f"\nchosen on dev: {best.strip()}; scored on test:")
    for name in ("chosen", "default"):
        test = report[name]
        print(
            f"  {name:<8} answer@1 {test['answer@1']:.3f}  answer@5 {test['answer@5']:.3f}  "
            f"support@5 {test['support@5']:.3f}"
        )
    for k, key in ((5, "difference"), (1, "difference@1")):
        ci = report[key]
        print(
            f"  chosen - default answer@{k}: {ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}] (paired bootstrap 95%)"
        )


def chunking_grid(
    documents: Sequence[Any],
    questions: Sequence[dict],
    half: dict[str, str],
    embedder: Any,
    settings: Sequence[tuple[int, int, bool]],
    weights: Sequence[float],
    embedding_cache: str | None,
) -> dict[str, Any]:
    """Chunk size, overlap and boundaries by kind (dense, BM25, hybrid by fusion and weight)."""
    from teacherforge.config import ChunkingConfig, RetrievalConfig
    from teacherforge.datagen.retrieval_choice import label
    from teacherforge.retrieval import Retriever

    per_setting: dict[str, list[dict]] = {}
    chunk_counts: dict[str, int] = {}
    for size, overlap, respect in settings:
        chunks = _chunks(documents, size, overlap, respect)
        base = RetrievalConfig(kind="hybrid")
        retriever = Retriever.build(chunks, base, embedder=embedder)
        if embedding_cache:  # after every setting, so an interrupted run keeps its work
            embedder.save_cache(embedding_cache)
        for setting, kind, config in _variants(base, weights):
            retriever.config = config
            name = f"{size:>5} {overlap:>4} {'yes' if respect else 'no':>3} {setting}"
            per_setting[name] = first_ranks(retriever, questions, 5, kind)
            chunk_counts[name] = len(chunks)
            print(f"  {name:<36} {len(chunks):>5} {_cells(per_setting[name], half)}", flush=True)
    chunking, retrieval = ChunkingConfig(), RetrievalConfig()
    default = (
        f"{chunking.size:>5} {chunking.overlap:>4} {'yes' if chunking.respect_boundaries else 'no':>3} "
        f"{label(retrieval)}"
    )
    best, report = choose_on_dev(per_setting, half, default)
    _report(best, report)
    rows = [
        {
            "setting": name,
            "chunks": chunk_counts[name],
            **{h: summarise([r for r in found if half[r["id"]] == h]) for h in SPLITS},
        }
        for name, found in per_setting.items()
    ]
    return {"chosen": best, "default": default, **report, "rows": rows}


def bm25_grid(
    documents: Sequence[Any], questions: Sequence[dict], half: dict[str, str], embedder: Any
) -> dict[str, Any]:
    """BM25 tokenizer, method, k1 and b, alone and in the default hybrid, on the default chunking."""
    from teacherforge.config import ChunkingConfig, RetrievalConfig
    from teacherforge.retrieval import Retriever

    default = RetrievalConfig()
    chunking = ChunkingConfig()
    chunks = _chunks(documents, chunking.size, chunking.overlap, chunking.respect_boundaries)
    per_setting: dict[str, list[dict]] = {}
    print(f"\nBM25 variants on the default chunking ({len(chunks)} chunks), kind {default.kind}:")
    for tokenizer in ("words", "identifiers"):
        for method in ("lucene", "bm25+", "atire"):
            for k1, b in ((1.5, 0.75), (1.2, 0.75), (2.0, 0.75), (1.5, 0.5), (1.5, 0.9)):
                config = dataclasses.replace(
                    default, bm25_tokenizer=tokenizer, bm25_method=method, bm25_k1=k1, bm25_b=b
                )
                retriever = Retriever.build(chunks, config, embedder=embedder)
                for kind in ("bm25", default.kind):
                    name = f"{kind:<6} {tokenizer:<11} {method:<6} k1={k1} b={b}"
                    per_setting[name] = first_ranks(retriever, questions, 5, kind)
                    print(f"  {name:<42} {_cells(per_setting[name], half)}", flush=True)
    default_name = (
        f"{default.kind:<6} {default.bm25_tokenizer:<11} {default.bm25_method:<6} "
        f"k1={default.bm25_k1} b={default.bm25_b}"
    )
    best, report = choose_on_dev(per_setting, half, default_name)
    _report(best, report)
    return {"chosen": best, "default": default_name, **report}


def window_grid(
    documents: Sequence[Any], questions: Sequence[dict], half: dict[str, str], embedder: Any
) -> dict[str, Any]:
    """Sentence windows (``retrieval.unit: sentence``) against plain chunks of about the same returned
    length, in the default kind: the question is whether matching one sentence and returning its
    window covers the supporting passage better than a chunk of the same size."""
    from teacherforge.config import RetrievalConfig
    from teacherforge.retrieval import Retriever

    default = RetrievalConfig()
    settings = [(size, "chunk", 0) for size in (200, 300, 400, 600)]
    settings += [(600, "sentence", w) for w in (0, 1, 2)] + [(1000, "sentence", w) for w in (1, 2, 3)]
    per_setting: dict[str, list[dict]] = {}
    chars: dict[str, float] = {}
    print(f"\nsentence windows vs plain chunks, kind {default.kind}; columns: rows, chars/hit, then as above")
    for size, unit, window in settings:
        chunks = _chunks(documents, size, 0, True)
        config = dataclasses.replace(default, unit=unit, window=window)
        retriever = Retriever.build(chunks, config, embedder=embedder)
        name = f"{size:>5} {unit:<8} " + (f"w={window}" if unit == "sentence" else "   ")
        per_setting[name] = first_ranks(retriever, questions, 5, default.kind)
        chars[name] = summarise(per_setting[name])["chars_per_hit"]
        print(
            f"  {name:<20} {len(retriever):>5} {chars[name]:>6.0f} {_cells(per_setting[name], half)}",
            flush=True,
        )
    default_name = f"{600:>5} {'chunk':<8}    "
    best, report = choose_on_dev(per_setting, half, default_name)
    _report(best, report)
    return {"chosen": best, "default": default_name, "chars_per_hit": chars, **report}


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the grid on both halves, choose on dev, report the choice and the default on test."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--questions", action="append", help=f"question files (default: {QUESTIONS.name} and {HELD_OUT.name})"
    )
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the dev/test assignment")
    parser.add_argument("--sizes", default="400,600,1000", help="chunk sizes in characters")
    parser.add_argument("--overlaps", default="0,200", help="overlaps in characters")
    parser.add_argument("--weights", default="0.3,0.5,0.7", help="hybrid dense weights")
    parser.add_argument("--no-autodidact", action="store_true", help="skip the 1000-char hard-cut row")
    parser.add_argument("--json-out", help="also write the rows as JSON here")
    parser.add_argument(
        "--bm25-grid", action="store_true", help="measure BM25 variants on the default chunking instead"
    )
    parser.add_argument(
        "--window-grid", action="store_true", help="measure sentence windows against plain chunks instead"
    )
    parser.add_argument(
        "--embedding-cache", help="load/save MiniLM embeddings here (.npy + .json) across runs"
    )
    args = parser.parse_args(argv)

    from teacherforge.config import RetrievalConfig
    from teacherforge.retrieval import Embedder

    paths = [Path(p) for p in args.questions or (QUESTIONS, HELD_OUT)]
    questions, lines = [], []
    for path in paths:
        loaded = load_questions(path)
        questions += loaded
        lines.append(_file_line(path, loaded))
    half = {q["id"]: dev_or_test(q["id"], args.seed) for q in questions}
    documents = corpus_documents(args.corpus)
    settings = [
        (s, o, True) for s in map(int, args.sizes.split(",")) for o in map(int, args.overlaps.split(","))
    ]
    if not args.no_autodidact:
        settings.append((1000, 0, False))
    default_weight = RetrievalConfig().hybrid_dense_weight  # the shipped default is always measured
    weights = sorted({float(w) for w in args.weights.split(",")} | {default_weight})
    embedder = Embedder("minilm")
    if args.embedding_cache and Path(args.embedding_cache).with_suffix(".npy").exists():
        embedder.load_cache(args.embedding_cache)
    print("\n".join(lines))
    counts = {h: sum(v == h for v in half.values()) for h in SPLITS}
    print(
        f"dev {counts['dev']} / test {counts['test']} questions (seeded hash of the id, seed {args.seed}); "
        f"corpus {Path(args.corpus).name} through the loaders; columns: "
        + " ".join(f"{h} {m}" for h in SPLITS for m in ("ans@1", "ans@5", "sup@5")),
        flush=True,
    )
    if args.bm25_grid:
        result = bm25_grid(documents, questions, half, embedder)
    elif args.window_grid:
        result = window_grid(documents, questions, half, embedder)
    else:
        result = chunking_grid(documents, questions, half, embedder, settings, weights, args.embedding_cache)
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "question_files": lines,
                    "seed": args.seed,
                    "chosen_on": "dev",
                    "scored_on": "test",
                    **result,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
