"""``teacherforge eval-retrieval --run-dir D [--questions FILE]``: how well the run's index finds answers.

Measures answer@k, gold recall@k, MRR and support@k (:mod:`teacherforge.datagen.retrieval_metrics`)
for every search setting the index supports (dense, BM25, hybrid by fusion and weight; the
setting the index was built with is marked), on the run's own questions of one split or on any
imported set (JSONL or a JSON list of records with ``question`` and ``answer``, optionally
``gold_chunk_ids``/``chunk_id`` and a ``support`` passage). Prints a table (or JSON with
``--json``) and writes ``report/retrieval.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

SPLIT_CHOICES = ("train", "validation", "test", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge eval-retrieval``."""
    parser.add_argument(
        "--run-dir", required=True, help="run directory with an index (from `teacherforge datagen`)"
    )
    parser.add_argument(
        "--questions",
        metavar="FILE",
        help="question set to score (JSONL or JSON list: question, answer, optional id, gold_chunk_ids or "
        "chunk_id, support); default: the run's own questions of --split",
    )
    parser.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        default="test",
        help="which of the run's questions to score without --questions (default: test, which chose nothing)",
    )
    parser.add_argument(
        "--index", choices=("original", "paraphrased"), default="original", help="which of the run's indexes"
    )
    parser.add_argument("--ks", default="1,3,5,10", help="comma-separated k values (default: 1,3,5,10)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(k) for k in text.split(",") if k.strip()}))
    except ValueError:
        ks = ()
    if not ks or ks[0] < 1:
        raise ValueError(f"--ks {text!r}: give positive whole numbers separated by commas, e.g. 1,5,10")
    return ks


def _source(args: argparse.Namespace, layout: Any) -> tuple[list[Any], dict[str, Any]]:
    from teacherforge.datagen.retrieval_metrics import queries_from_questions, read_queries

    if args.questions:
        path = Path(args.questions)
        queries = read_queries(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return queries, {"questions": str(path), "sha256": digest}
    questions = layout.questions(None if args.split == "all" else args.split)
    return queries_from_questions(questions), {"questions": str(layout.questions_file), "split": args.split}


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """The report: the question source, the k values and one row per search setting."""
    from teacherforge.datagen.retrieval_choice import candidate_settings, label
    from teacherforge.datagen.retrieval_metrics import measure_settings
    from teacherforge.run import RunLayout

    ks = _ks(args.ks)
    layout = RunLayout(args.run_dir)
    queries, source = _source(args, layout)
    retriever = layout.retriever(args.index)
    built = label(retriever.config)
    settings = candidate_settings(retriever.config, has_bm25=retriever.bm25 is not None)
    if built not in {label(s) for s in settings}:
        settings.insert(0, retriever.config)
    reports = measure_settings(retriever, queries, settings, ks)
    rows = [
        {"setting": label(s), "built": label(s) == built, **{k: v for k, v in r.items() if k != "misses"}}
        for s, r in zip(settings, reports)
    ]
    return {
        "run_dir": str(layout.root),
        "index": args.index,
        **source,
        "n": len(queries),
        "ks": list(ks),
        "rows": rows,
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table (``-`` where a figure needs gold chunks or passages the set lacks)."""
    ks = report["ks"]
    columns = [*(f"answer@{k}" for k in ks), *(f"recall@{k}" for k in ks if k in (1, max(ks))), "mrr"]
    columns += [f"support@{5 if 5 in ks else max(ks)}", "chars_per_hit"]
    source = report.get("split") or report.get("sha256")
    lines = [
        f"{report['n']} questions from {report['questions']} ({source}); index {report['index']}; "
        "* = the setting the index was built with"
    ]
    lines.append(f"  {'setting':<22}" + "".join(f"{c.replace('_per_hit', '/hit'):>11}" for c in columns))
    for row in report["rows"]:
        cells = "".join(
            f"{'-':>11}"
            if row[c] is None
            else f"{row[c]:>11.0f}"
            if c == "chars_per_hit"
            else f"{row[c]:>11.3f}"
            for c in columns
        )
        lines.append(f"{'*' if row['built'] else ' '} {row['setting']:<22}{cells}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Measure, write ``report/retrieval.json``, print the table (or JSON)."""
    from teacherforge.run import RunLayout
    from teacherforge.workspace import atomic_write_json

    # libraries may print while loading: keep stdout for the results only
    with contextlib.redirect_stdout(sys.stderr):
        report = evaluate(args)
    path = RunLayout(args.run_dir).report.retrieval
    atomic_write_json(path, report)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(report))
        print(f"written to {path}", file=sys.stderr)
    return 0
