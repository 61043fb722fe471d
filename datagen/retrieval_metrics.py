"""How well a retriever finds what questions need: answer@k, gold recall@k, MRR and support@k.

One measurement for every place that scores retrieval: ``teacherforge eval-retrieval`` (a run's
own questions or an imported set), ``retrieval.kind: auto`` (the choice on validation questions)
and ``benchmarks/answer_at_k.py``.

- **answer@k**: the share of questions whose answer string (case-insensitive) is inside one of
  the top-k hits (:func:`teacherforge.rewards.retrieval.holds_answer`). It needs no gold chunk,
  so it does not depend on how the corpus was chunked.
- **recall@k** (gold recall): over questions that name gold chunks, the share with a gold chunk
  in the top k (:func:`teacherforge.rewards.retrieval.is_gold_hit`, identical copies included).
- **mrr**: the mean reciprocal rank of the first gold hit within the largest k (0 for a miss).
- **support@k**: over questions with a ``support`` passage, the share whose top-k hits hold at
  least half of its word trigrams (:func:`teacherforge.rewards.retrieval.support_coverage`).
- **chars_per_hit**: the mean length of the returned texts at the largest k (what a prompt pays).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacherforge.rewards.retrieval import holds_answer, is_gold_hit, support_coverage
from teacherforge.rewards.trajectory import RetrievedRef

#: The k values a report shows unless asked otherwise.
DEFAULT_KS = (1, 3, 5, 10)
#: support@k counts a passage as retrieved when the hits hold at least this share of its trigrams.
SUPPORT_SHARE = 0.5


@dataclass(frozen=True)
class RetrievalQuery:
    """One question as retrieval scores it: the text searched, the answer string, and optionally
    the chunks that hold its support (``gold_chunk_ids``) and the supporting passage itself."""

    id: str
    question: str
    answer: str
    gold_chunk_ids: tuple[str, ...] = ()
    support: str = ""


def queries_from_questions(questions: Iterable[Any]) -> list[RetrievalQuery]:
    """A run's :class:`~teacherforge.records.Question` records as queries (gold = their gold chunks)."""
    return [RetrievalQuery(q.id, q.question, q.answer, tuple(q.gold_chunk_ids)) for q in questions]


def query_from_record(record: Mapping[str, Any], where: str = "record") -> RetrievalQuery:
    """A query from a JSON record: ``question`` and ``answer`` (non-empty strings) are required;
    ``id``, ``support`` and the gold chunks (``gold_chunk_ids``, else ``source_chunk_ids``, else
    ``chunk_id``) are optional. A bad record raises ``ValueError`` naming ``where`` and the field.

    >>> query_from_record({"question": "Who?", "answer": "Ada", "chunk_id": "d-1"}, "q.jsonl:1")
    RetrievalQuery(id='q.jsonl:1', question='Who?', answer='Ada', gold_chunk_ids=('d-1',), support='')
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name in ("question", "answer"):
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: field {name!r} must be a non-empty string")
    gold = record.get("gold_chunk_ids") or record.get("source_chunk_ids") or record.get("chunk_id") or ()
    gold = (gold,) if isinstance(gold, str) else gold
    if not isinstance(gold, (list, tuple)) or not all(isinstance(g, str) and g for g in gold):
        raise ValueError(f"{where}: field 'gold_chunk_ids' must be a list of chunk id strings")
    support = record.get("support") or ""
    if not isinstance(support, str):
        raise ValueError(f"{where}: field 'support' must be a string")
    return RetrievalQuery(
        str(record.get("id") or where), record["question"], record["answer"], tuple(gold), support
    )


def read_queries(path: str | Path) -> list[RetrievalQuery]:
    """Queries from a JSONL file or a JSON list (``questions.json`` works too); errors name file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such question file; give a JSONL or JSON list of question records"
        )
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = [(f"{path}: record {i}", r) for i, r in enumerate(json.loads(text))]
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"{path}:{lineno}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    queries = [query_from_record(record, where) for where, record in records]
    if not queries:
        raise ValueError(f"{path}: no question records")
    return queries


def score_hits(query: RetrievalQuery, hits: Sequence[Any], ks: Sequence[int]) -> dict[str, Any]:
    """One question's row: the rank of the first hit holding the answer and of the first gold hit
    (``None`` when none does, or without gold), support coverage at each k, and the texts' lengths."""
    gold = set(query.gold_chunk_ids)
    answer_rank = next((h.rank for h in hits if holds_answer(h.text, query.answer)), None)
    gold_rank = next(
        (h.rank for h in hits if gold and is_gold_hit(RetrievedRef(h.chunk_id, h.rank, h.score), gold)), None
    )
    coverage = (
        {k: support_coverage([h.text for h in hits[:k]], query.support) for k in ks}
        if query.support
        else None
    )
    return {
        "id": query.id,
        "answer_rank": answer_rank,
        "gold_rank": gold_rank,
        "has_gold": bool(gold),
        "coverage": coverage,
        "chars": [len(h.text) for h in hits],
    }


def summarise(rows: Sequence[Mapping[str, Any]], ks: Sequence[int] = DEFAULT_KS) -> dict[str, Any]:
    """The report over question rows (:func:`score_hits`): ``n``, ``answer@k``, ``recall@k``, ``mrr``,
    ``support@k`` (``None`` where no question carries gold chunks or a passage), ``chars_per_hit``
    and ``misses`` (ids not answered within the largest k).

    >>> rows = [{"id": "a", "answer_rank": 1, "gold_rank": 2, "has_gold": True, "coverage": None, "chars": [10, 30]},
    ...         {"id": "b", "answer_rank": None, "gold_rank": None, "has_gold": True, "coverage": None, "chars": [20]}]
    >>> report = summarise(rows, (1, 2))
    >>> report["answer@1"], report["recall@1"], report["recall@2"], report["mrr"], report["chars_per_hit"], report["misses"]
    (0.5, 0.0, 0.5, 0.25, 20.0, ['b'])
    """
    n = len(rows)
    report: dict[str, Any] = {"n": n}
    with_gold = [r for r in rows if r["has_gold"]]
    with_support = [r for r in rows if r["coverage"] is not None]
    for k in ks:
        report[f"answer@{k}"] = _share(
            rows, lambda r, k=k: r["answer_rank"] is not None and r["answer_rank"] <= k
        )
    for k in ks:
        report[f"recall@{k}"] = _share(
            with_gold, lambda r, k=k: r["gold_rank"] is not None and r["gold_rank"] <= k
        )
    report["mrr"] = (
        sum(1.0 / r["gold_rank"] for r in with_gold if r["gold_rank"]) / len(with_gold) if with_gold else None
    )
    for k in ks:
        report[f"support@{k}"] = _share(with_support, lambda r, k=k: r["coverage"][k] >= SUPPORT_SHARE)
    chars = [c for r in rows for c in r["chars"]]
    report["chars_per_hit"] = sum(chars) / len(chars) if chars else 0.0
    report["misses"] = [r["id"] for r in rows if r["answer_rank"] is None]
    return report


def _share(rows: Sequence[Mapping[str, Any]], passes: Any) -> float | None:
    return sum(bool(passes(r)) for r in rows) / len(rows) if rows else None


def question_rows(
    retriever: Any, queries: Sequence[RetrievalQuery], ks: Sequence[int] = DEFAULT_KS, kind: str | None = None
) -> list[dict[str, Any]]:
    """Every query's row (:func:`score_hits`) from one batched search of the largest k."""
    results = retriever.search([q.question for q in queries], max(ks), kind=kind) if queries else []
    return [score_hits(q, hits, ks) for q, hits in zip(queries, results)]


def measure(
    retriever: Any, queries: Sequence[RetrievalQuery], ks: Sequence[int] = DEFAULT_KS, kind: str | None = None
) -> dict[str, Any]:
    """:func:`summarise` of ``retriever`` (searching as ``kind``, default its own) over ``queries``."""
    if not queries:
        raise ValueError("no questions to measure retrieval on")
    return summarise(question_rows(retriever, queries, ks, kind), ks)


def measure_settings(
    retriever: Any,
    queries: Sequence[RetrievalQuery],
    settings: Sequence[Any],
    ks: Sequence[int] = DEFAULT_KS,
) -> list[dict[str, Any]]:
    """:func:`measure` under each search setting (a :class:`~teacherforge.config.RetrievalConfig`:
    its kind, fusion and weight); the retriever's own settings are put back afterwards."""
    saved = retriever.config, retriever.kind
    try:
        reports = []
        for config in settings:
            retriever.config, retriever.kind = config, config.kind
            reports.append(measure(retriever, queries, ks, config.kind))
        return reports
    finally:
        retriever.config, retriever.kind = saved
