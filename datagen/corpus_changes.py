"""What changed in a corpus since the run dir's last build: documents and chunks added, edited, removed.

Chunk ids are content ids (:func:`teacherforge.datagen.chunking.chunk_id`), so comparing the
previous ``chunks.jsonl`` with the new chunks by id says exactly which text is new. The later
steps reuse the work of unchanged chunks by content: embeddings from the run dir's embedding
store, questions (cloze questions are a function of the chunk text), paraphrases and teacher
answers from the LLM cache, whose key is the prompt, so a call is repeated only when its
prompt changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any


def _by_document(chunks: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    documents: dict[str, set[str]] = defaultdict(set)
    for chunk in chunks:
        documents[str(chunk["doc_id"])].add(str(chunk["chunk_id"]))
    return documents


def corpus_changes(
    previous: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]
) -> dict[str, int]:
    """Counts of documents added/edited/removed/unchanged and chunks new/removed/kept.

    ``previous`` and ``current`` are chunk records (``chunk_id``, ``doc_id``); a document is
    edited when the set of its chunks changed.

    >>> old = [{"doc_id": "a", "chunk_id": "a-1"}, {"doc_id": "a", "chunk_id": "a-2"}, {"doc_id": "b", "chunk_id": "b-1"}]
    >>> new = [{"doc_id": "a", "chunk_id": "a-1"}, {"doc_id": "a", "chunk_id": "a-3"}, {"doc_id": "c", "chunk_id": "c-1"}]
    >>> corpus_changes(old, new)
    {'documents_added': 1, 'documents_edited': 1, 'documents_removed': 1, 'documents_unchanged': 0, 'chunks_new': 2, 'chunks_removed': 2, 'chunks_kept': 1}
    """
    before, after = _by_document(previous), _by_document(current)
    old_ids = set().union(*before.values()) if before else set()
    new_ids = set().union(*after.values()) if after else set()
    shared = before.keys() & after.keys()
    return {
        "documents_added": len(after.keys() - before.keys()),
        "documents_edited": sum(before[d] != after[d] for d in shared),
        "documents_removed": len(before.keys() - after.keys()),
        "documents_unchanged": sum(before[d] == after[d] for d in shared),
        "chunks_new": len(new_ids - old_ids),
        "chunks_removed": len(old_ids - new_ids),
        "chunks_kept": len(new_ids & old_ids),
    }


def changes_line(changes: Mapping[str, int]) -> str:
    """One summary line.

    >>> changes_line({'documents_added': 1, 'documents_edited': 1, 'documents_removed': 0,
    ...               'documents_unchanged': 5, 'chunks_new': 3, 'chunks_removed': 1, 'chunks_kept': 40})
    'documents 1 added, 1 edited, 0 removed, 5 unchanged; chunks 3 new, 1 removed, 40 kept'
    """
    docs = ", ".join(f"{changes[f'documents_{k}']} {k}" for k in ("added", "edited", "removed", "unchanged"))
    chunks = ", ".join(f"{changes[f'chunks_{k}']} {k}" for k in ("new", "removed", "kept"))
    return f"documents {docs}; chunks {chunks}"
