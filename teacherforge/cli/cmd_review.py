"""CLI: ``teacherforge review --run-dir D [--host 127.0.0.1] [--port N]``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", required=True, help="run directory with teacher.jsonl")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: this machine only)")
    parser.add_argument("--port", type=int, default=8766, help="port")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError("the review page needs the ui extra: pip install 'teacherforge[ui]'") from exc
    from teacherforge.datagen.review import create_review_app

    app = create_review_app(args.run_dir)
    print(f"review page for {args.run_dir}: http://{args.host}:{args.port}/")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
