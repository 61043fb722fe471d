"""CLI: ``teacherforge serve retriever --index DIR [--host 127.0.0.1] [--port N]``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="retriever directory (e.g. runs/NAME/index)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port")
    parser.add_argument("--max-batch", type=int, default=256, help="max queries per request")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(
            "the retriever server needs the serve extra: pip install 'teacherforge[serve]'"
        ) from exc
    from teacherforge.config import ServeConfig
    from teacherforge.retrieval import Retriever
    from teacherforge.retrieval.server import create_app

    retriever = Retriever.load(args.index)
    config = ServeConfig(host=args.host, port=args.port, max_batch=args.max_batch)
    print(
        f"serving {args.index} ({retriever.kind}) on http://{args.host}:{args.port}  (POST /retrieve, GET /health)"
    )
    uvicorn.run(create_app(retriever, config), host=args.host, port=args.port, log_level="warning")
    return 0
