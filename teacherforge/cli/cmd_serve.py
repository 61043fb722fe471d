"""``teacherforge serve retriever``: serve a run dir's index (or any index directory) over HTTP.

Settings come from the config like every command's: ``serve.*`` (address, port, request
limits) and ``retrieval.*`` (which index, and the search-time settings it searches with).
``--host``, ``--port`` and ``--max-batch`` are aliases of ``--set serve.host=…`` etc.
"""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, alias_overrides, config_from_args

ALIASES = {"host": "serve.host", "port": "serve.port", "max_batch": "serve.max_batch"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge serve retriever``."""
    parser.add_argument(
        "--index",
        metavar="DIR",
        help="retriever directory (e.g. from `teacherforge index`); default: the run dir's retrieval.index",
    )
    parser.add_argument(
        "--host", help="alias of --set serve.host=ADDR (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, help="alias of --set serve.port=N (default 8765)")
    parser.add_argument(
        "--max-batch", type=int, help="alias of --set serve.max_batch=N (queries per request)"
    )
    add_config_arguments(parser, config_required=False)


def run(args: argparse.Namespace) -> int:
    """Load the index with the config's retrieval settings and serve it until interrupted."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(
            "the retriever server needs the serve extra: pip install 'teacherforge[serve]'"
        ) from exc
    from teacherforge.retrieval import Retriever
    from teacherforge.retrieval.server import create_app
    from teacherforge.run import RunLayout

    config = config_from_args(args, alias_overrides(args, ALIASES))
    if args.index:
        source, retriever = args.index, Retriever.load(args.index, config.retrieval)
    else:
        layout = RunLayout(config.run_path)
        source = layout.index_dir(config.retrieval.index)
        retriever = layout.retriever(config.retrieval.index, config.retrieval)
    serve = config.serve
    print(
        f"serving {source} ({retriever.kind}) on http://{serve.host}:{serve.port}  (POST /retrieve, GET /health)"
    )
    uvicorn.run(create_app(retriever, serve), host=serve.host, port=serve.port, log_level="warning")
    return 0
