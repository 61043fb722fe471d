"""``teacherforge index``: load a corpus, chunk it and save the default retriever into a directory.

Loading uses :func:`teacherforge.datagen.loaders.load_corpus_from_config`, chunking
:func:`teacherforge.datagen.chunking.chunk_documents` (``datagen.chunking``), the index
``retrieval`` from the config. The directory is written atomically: on any error nothing
is left behind. Exit status 0, or 3 when some corpus files failed to load (the index is
still built from the others).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from teacherforge.cli.args import add_config_arguments, config_from_args

PARTIAL_EXIT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge index``."""
    parser.add_argument("--corpus", required=True, help="a document file or a directory of documents")
    parser.add_argument(
        "--out", required=True, help="index directory to write (loadable with Retriever.load)"
    )
    add_config_arguments(parser, config_required=False, run_dir=False)


def run(args: argparse.Namespace) -> int:
    """Build and save the index; print a one-screen summary to stderr."""
    from tqdm import tqdm

    from teacherforge.cli import CommandError
    from teacherforge.datagen.chunking import chunk_documents
    from teacherforge.datagen.loaders import format_load_summary, load_corpus_from_config
    from teacherforge.retrieval import Retriever
    from teacherforge.retrieval.retriever import META_FILE

    started = time.perf_counter()
    config = config_from_args(args)
    out = Path(args.out)
    if out.exists() and not (out / META_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise CommandError(
            f"--out {out}: exists and is not a retriever index; choose a new directory or remove it"
        )
    corpus = Path(args.corpus)
    if not corpus.exists():
        raise FileNotFoundError(
            f"--corpus {corpus}: no such file or directory; pass a document file or folder"
        )
    config.datagen.corpus = str(corpus)
    loaded = load_corpus_from_config(config.datagen)
    if loaded.documents or loaded.failures or loaded.skipped:
        print(format_load_summary(loaded), file=sys.stderr)
    if not loaded.documents:
        raise CommandError(
            f"--corpus {corpus}: no documents could be loaded; add .md/.txt/.pdf/.docx/.html/.jsonl "
            "files with text"
        )
    chunking = chunk_documents(
        loaded.documents,
        config.datagen.chunking,
        progress=lambda docs: tqdm(docs, desc="chunking", unit="doc", disable=len(docs) < 50),
    )
    if not chunking.chunks:
        raise CommandError(
            f"--corpus {corpus}: the documents gave no chunks of at least "
            f"{config.datagen.chunking.min_chars} characters; add text or lower "
            "datagen.chunking.min_chars"
        )
    retriever = Retriever.build(chunking.chunks, config.retrieval)
    retriever.save(out)
    dropped = ", ".join(f"{k} {v}" for k, v in chunking.dropped.items())
    print(
        f"indexed {len(chunking.chunks)} chunks from {len(loaded.documents)} document(s) (dropped: {dropped}) "
        f"as {config.retrieval.kind}/{config.retrieval.index_type} with {config.retrieval.embedder} "
        f"in {time.perf_counter() - started:.1f}s -> {out}",
        file=sys.stderr,
    )
    return PARTIAL_EXIT if loaded.partial else 0
