"""Export a run directory in AutoDidact's layout (extra ``autodidact``: langchain-community).

AutoDidact's scripts, run from the export directory, read exactly three things:

- ``saved_data/chunks.pkl`` — ``pickle.load`` → a list of LangChain ``Document``s;
- ``saved_data/questions.json`` — ``[{"chunk_id": int, "question", "answer", "difficulty"}]``
  where ``chunk_id`` indexes that list;
- ``faiss_index/`` — ``FAISS.load_local("faiss_index", embeddings, allow_dangerous_deserialization=True)``.

We write those (``chunks.pkl`` and ``faiss_index/index.pkl`` are pickles *we* wrote; the run
dir itself never holds one), plus ``teacherforge_export.json`` recording the source run, the
embedder identity (AutoDidact must load the index with the same embedding model) and the
integer → chunk id mapping. Each question also keeps our ``id``, ``split`` and string chunk id
(``teacherforge_chunk_id``); AutoDidact ignores extra keys.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacherforge.run import RunLayout
from teacherforge.workspace import RunDir, atomic_path, atomic_write_json, replace_dir, step_record, utc_now

CHUNKS_FILE = "saved_data/chunks.pkl"
QUESTIONS_FILE = "saved_data/questions.json"
FAISS_DIR = "faiss_index"
EXPORT_META = "teacherforge_export.json"


@dataclass(frozen=True)
class ExportSummary:
    """What an AutoDidact export wrote: counts and paths."""

    out: Path
    chunks: int
    questions: int
    skipped_questions: int
    embedder: dict[str, Any]


def make_langchain_embeddings(embedder: Any) -> Any:
    """Wrap a :class:`teacherforge.retrieval.Embedder` as a LangChain ``Embeddings``.

    Any object with ``encode(texts) -> (n, d) array`` works; vectors are L2-normalised by
    the embedder, so FAISS's default L2 distance ranks exactly as cosine similarity does.
    """
    from langchain_core.embeddings import Embeddings

    class TeacherforgeEmbeddings(Embeddings):
        """LangChain view of a teacherforge embedder."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.inner.encode(list(texts)).astype("float32").tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.inner.encode([text])[0].astype("float32").tolist()

    return TeacherforgeEmbeddings(embedder)


def run_embedder_name(run_dir: str | os.PathLike[str], default: str = "minilm") -> str:
    """The embedder the run's original index was built with, else ``default``."""
    from teacherforge.retrieval.retriever import read_meta

    layout = RunLayout(run_dir)
    if layout.has_index("original"):
        name = (read_meta(layout.index_dir("original")).get("embedder") or {}).get("name")
        if name:
            return str(name)
    return default


def export_autodidact(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    embedder: Any = None,
    splits: Sequence[str] | None = None,
) -> ExportSummary:
    """Write ``run_dir``'s chunks, questions and a LangChain FAISS index in AutoDidact's layout.

    ``embedder`` defaults to the run index's embedder; ``splits`` restricts the exported
    questions (all by default; every chunk is always exported, so integer ids match
    ``chunks.jsonl`` line order). Questions whose chunk is missing from ``chunks.jsonl`` are
    an error (the run dir is inconsistent).
    """
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LCDocument

    from teacherforge.records import load_questions

    layout, out = RunLayout(run_dir), Path(out)
    chunks = layout.chunk_list()
    if not chunks:
        raise ValueError(f"{layout.chunks} is empty; nothing to export")
    index_of = {c.chunk_id: i for i, c in enumerate(chunks)}
    questions_path = layout.questions_file
    questions = load_questions(questions_path, set(index_of)) if questions_path.is_file() else []
    if embedder is None:
        from teacherforge.retrieval import Embedder

        embedder = Embedder(run_embedder_name(run_dir))

    documents = [
        LCDocument(
            page_content=c.text,
            metadata={
                **dict(c.metadata),
                "chunk_id": c.chunk_id,
                "index": i,
                "doc_id": c.doc_id,
                "source": c.source,
                "start_char": c.start_char,
                "end_char": c.end_char,
            },
        )
        for i, c in enumerate(chunks)
    ]
    kept = [q for q in questions if splits is None or q.split in splits]
    records = [
        {
            "chunk_id": index_of[q.chunk_id],
            "question": q.question,
            "answer": q.answer,
            "difficulty": q.difficulty,
            "id": q.id,
            "split": q.split,
            "teacherforge_chunk_id": q.chunk_id,
        }
        for q in kept
    ]

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / CHUNKS_FILE) as tmp, open(tmp, "wb") as fh:
        pickle.dump(documents, fh, protocol=pickle.HIGHEST_PROTOCOL)
    atomic_write_json(out / QUESTIONS_FILE, records)
    store = FAISS.from_documents(documents, make_langchain_embeddings(embedder))
    _save_dir_atomically(out / FAISS_DIR, store.save_local)
    identity = dict(getattr(embedder, "identity", {}) or {})
    atomic_write_json(
        out / EXPORT_META,
        {
            "created_at": utc_now(),
            "run_dir": str(run_dir),
            "fingerprints": {  # of the run dir's steps this export is made of
                name: (step_record(RunDir.load_manifest(run_dir), name) or {}).get("fingerprint")
                for name in ("chunk", "questions")
            },
            "embedder": identity,
            "splits": list(splits) if splits is not None else None,
            "files": {"chunks": CHUNKS_FILE, "questions": QUESTIONS_FILE, "faiss_index": FAISS_DIR},
            "counts": {"chunks": len(documents), "questions": len(records)},
            "chunk_ids": [c.chunk_id for c in chunks],
        },
    )
    return ExportSummary(
        out=out,
        chunks=len(documents),
        questions=len(records),
        skipped_questions=len(questions) - len(kept),
        embedder=identity,
    )


def _save_dir_atomically(target: Path, save: Any) -> None:
    """Call ``save(tmp_dir)`` then swap the directory into place (old copy removed after)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        save(str(tmp))
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
