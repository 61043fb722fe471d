"""``teacherforge serve rag``: a model answering from a run dir's index, as an OpenAI-compatible API.

``--model`` is ``sft``, ``grpo`` (base + the adapter that stage trained: an untrained one is a
one-line error naming ``teacherforge train <stage>``), ``teacher`` (an ``oracle`` teacher knows
only the gold answers of the run's own questions), ``base``, an HF id, a path or
``<backend>:<model>``. Settings come from the config: ``serve.host``/``serve.port`` (default
127.0.0.1:8765), ``serve.rag_mode`` (fixed, agentic, or native: the mode the student was trained
for) and ``serve.max_query_chars``; ``retrieval.*``, ``eval.top_k``, ``env.*`` as evaluation uses
them. ``--host``, ``--port`` and ``--mode`` are aliases of ``--set serve.host=…`` etc. Nothing but
the command's log is written in the run dir. Endpoints: :mod:`teacherforge.cli.rag_server`.
"""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, alias_overrides, config_from_args

ALIASES = {"host": "serve.host", "port": "serve.port", "mode": "serve.rag_mode"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge serve rag``."""
    parser.add_argument(
        "--model", default="sft", help="sft (default), grpo, teacher, base, an HF id, a path or backend:model"
    )
    parser.add_argument(
        "--host", help="alias of --set serve.host=ADDR (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, help="alias of --set serve.port=N (default 8765)")
    parser.add_argument(
        "--mode",
        choices=("native", "fixed", "agentic"),
        help="alias of --set serve.rag_mode=MODE (default native: sft fixed, grpo agentic, others fixed)",
    )
    add_config_arguments(parser, config_required=False)


def run(args: argparse.Namespace) -> int:
    """Load the model and the index, then serve until interrupted."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError("the RAG server needs the serve extra: pip install 'teacherforge[serve]'") from exc
    from teacherforge.cli.rag_server import RagAnswerer, create_app, serving_mode
    from teacherforge.run import RunLayout
    from teacherforge.trainers.eval_models import build_model_backend, resolve_model

    config = config_from_args(args, alias_overrides(args, ALIASES))
    model = resolve_model(args.model, config)  # before anything loads: an untrained student is one line
    layout = RunLayout(config.run_path)
    retriever = layout.retriever(config.retrieval.index, config.retrieval)
    mode = serving_mode(model.name, config.serve.rag_mode)
    questions = [q.to_json() for q in layout.questions(None)] if model.oracle else []
    backend = build_model_backend(model, questions, None, agentic=mode == "agentic")
    doc_ids = {c.chunk_id: c.doc_id for c in layout.chunk_list()} if layout.chunks.is_file() else {}
    serve = config.serve
    print(
        f"serving {model.label} ({mode} RAG over {layout.index_dir(config.retrieval.index)}, top-k "
        f"{config.eval_top_k}) on http://{serve.host}:{serve.port}/v1  "
        "(POST /v1/chat/completions, GET /v1/models, GET /health)"
    )
    app = create_app(RagAnswerer(backend, retriever, config, mode, doc_ids), args.model, serve)
    uvicorn.run(app, host=serve.host, port=serve.port, log_level="warning")
    return 0
