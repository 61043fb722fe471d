"""``teacherforge search``: query an index directory written by ``teacherforge index``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge search``."""
    parser.add_argument("--index", required=True, help="index directory (from `teacherforge index`)")
    parser.add_argument("--k", type=int, default=None, help="number of hits (default: the index's top_k)")
    parser.add_argument(
        "--kind",
        choices=("dense", "bm25", "hybrid"),
        default=None,
        help="override the index's retrieval kind (bm25/hybrid need a BM25 index)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of hits")
    parser.add_argument("query", help="the search query")


def run(args: argparse.Namespace) -> int:
    """Print the hits for one query, as text or JSON (``chunk_id``, ``score``, ``rank``, ``text``)."""
    if args.k is not None and args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    if not args.query.strip():
        raise ValueError("the query is empty (only whitespace); give the words to search for")
    # libraries may print while loading (transformers prints a line under WANDB_MODE=offline):
    # keep stdout for the results only
    with contextlib.redirect_stdout(sys.stderr):
        from teacherforge.retrieval import Retriever

        retriever = Retriever.load(args.index)
        hits = retriever.search([args.query], args.k, kind=args.kind)[0]
    if args.json:
        json.dump([h.to_json() for h in hits], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    if not hits:
        print("no hits")
    for hit in hits:
        text = " ".join(hit.text.split())
        print(
            f"{hit.rank}. {hit.chunk_id}  score {hit.score:.4f}\n   {text[:300]}{'...' if len(text) > 300 else ''}"
        )
    return 0
