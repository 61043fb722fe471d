"""Import existing question sets into a run dir's ``questions.json``.

Formats (JSON list, JSONL, or Parquet for Search-R1; the fields looked for, first found wins):

- ``autodidact`` — AutoDidact's ``questions.json``: ``question``, ``answer``, ``difficulty``,
  an integer ``chunk_id`` into *their* ``chunks.pkl``. We never unpickle a file we did not
  write, so that index is only recorded (``metadata.imported.original_chunk_id``); the question
  is mapped by its answer.
- ``rezero`` — ``question``, ``answer``, supporting text in ``supporting_paragraphs`` (list or
  string), ``supporting_text``, ``chunk_content`` or ``context``; optional ``id``/``difficulty``.
- ``searchr1`` — ``question`` (or the text after the last ``Question:`` of a ``prompt``),
  answers in ``golden_answers``, ``answer`` or ``reward_model.ground_truth.target``.
- ``jsonl`` — our own lines: ``{"question", "answer", "supporting_text"?, "id"?, "difficulty"?}``.

Each question is mapped onto the run dir's chunks by :class:`ChunkMatcher` (supporting text
first, then the answer); the match method and score go to ``metadata.match``. Unmatched or
malformed questions are dropped with a reason. A question's split is its chunk's split: the
one that chunk already has in ``questions.json``, else the run's chunk split
(:func:`teacherforge.datagen.splits.assign_splits` over every chunk, with the run's ratios and
seed). The new ``questions.json`` is written atomically and the step recorded in the manifest.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teacherforge.datagen.chunk_matching import ChunkMatcher, Match, NoMatch
from teacherforge.datagen.splits import assign_splits
from teacherforge.datagen.validation import normalize
from teacherforge.records import DIFFICULTIES, Question, load_questions
from teacherforge.run import NAMES, RunLayout
from teacherforge.workspace import RunDir, Step, stable_hash, step_record

FORMATS = ("autodidact", "rezero", "searchr1", "jsonl")
DEFAULT_MIN_SCORE = 0.6
_SUPPORT_FIELDS = {
    "autodidact": ("supporting_text", "context"),
    "rezero": ("supporting_paragraphs", "supporting_text", "chunk_content", "context"),
    "searchr1": ("supporting_text", "supporting_paragraphs", "context"),
    "jsonl": ("supporting_text", "supporting_paragraphs", "context"),
}


@dataclass(frozen=True)
class ImportItem:
    """One question read from an input file, before it is matched to chunks."""

    ref: str  # "file:line" or "file[index]"
    question: str
    answers: tuple[str, ...]
    supports: tuple[str, ...] = ()
    difficulty: str | None = None
    source_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportDrop:
    """A question that was not imported: where it was, its text, a reason code and detail."""

    ref: str
    question: str
    reason: str
    detail: str


@dataclass(frozen=True)
class ImportResult:
    """What an import added and what it dropped."""

    imported: list[Question]
    dropped: list[ImportDrop]
    total_questions: int

    def counts(self) -> dict[str, Any]:
        """Manifest counts: imported, dropped, dropped by reason, match methods, total."""
        return {
            "imported": len(self.imported),
            "dropped": len(self.dropped),
            "dropped_by_reason": dict(Counter(d.reason for d in self.dropped)),
            "match_methods": dict(Counter(q.metadata["match"]["method"] for q in self.imported)),
            "questions_total": self.total_questions,
        }


# --- reading the input files --------------------------------------------------------


def read_records(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any]]:
    """Yield ``(ref, record)`` from a JSON list (or ``{"questions"|"data": [...]}``), JSONL or Parquet.

    A broken JSONL line yields ``(ref, ValueError)`` so the caller can report it and go on.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass the question file with --input")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}[{i}]", row
        return
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, Mapping):
        data = next(
            (data[k] for k in ("questions", "data", "items") if isinstance(data.get(k), list)), [data]
        )
    if isinstance(data, list):
        for i, record in enumerate(data):
            yield f"{path}[{i}]", record
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{path}:{lineno}", ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})")


def parse_item(fmt: str, ref: str, record: Any) -> ImportItem:
    """Turn one input record of format ``fmt`` into an :class:`ImportItem` (``ValueError`` if unusable)."""
    if isinstance(record, Exception):
        raise record
    if not isinstance(record, Mapping):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    question = _text(record.get("question"))
    if not question and fmt == "searchr1":
        question = _question_from_prompt(record.get("prompt"))
    if not question:
        raise ValueError("no 'question' text")
    answers = _answers(record)
    if not answers:
        raise ValueError("no answer ('answer' or 'golden_answers')")
    supports: list[str] = []
    for key in _SUPPORT_FIELDS[fmt]:
        supports += _texts(record.get(key))
        supports += _texts(
            (record.get("metadata") or {}).get(key) if isinstance(record.get("metadata"), Mapping) else None
        )
    extra: dict[str, Any] = {}
    if fmt == "autodidact" and record.get("chunk_id") is not None:
        extra["original_chunk_id"] = record["chunk_id"]
    for key in ("data_source", "split"):
        if key in record:
            extra[f"original_{key}"] = record[key]
    source_id = record.get("id", record.get("question_id"))
    return ImportItem(
        ref=ref,
        question=question,
        answers=tuple(answers),
        supports=tuple(supports),
        difficulty=_text(record.get("difficulty")) or None,
        source_id=None if source_id in (None, "") else str(source_id),
        extra=extra,
    )


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _texts(value: Any) -> list[str]:
    """Strings from a string, a list of strings, or a list of ``{"text"|"paragraph_text": ...}``."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Sequence):
        out = []
        for item in value:
            if isinstance(item, Mapping):
                item = item.get("text", item.get("paragraph_text"))
            if isinstance(item, str) and item.strip():
                out.append(item)
        return out
    return []


def _answers(record: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for value in (
        record.get("answer"),
        record.get("golden_answers"),
        record.get("answers"),
        ((record.get("reward_model") or {}).get("ground_truth") or {}).get("target")
        if isinstance(record.get("reward_model"), Mapping)
        else None,
    ):
        for text in (
            [value]
            if isinstance(value, (str, int, float)) and not isinstance(value, bool)
            else list(value)
            if isinstance(value, Sequence) and not isinstance(value, str)
            else []
        ):
            text = _text(str(text))
            if text and text not in found:
                found.append(text)
    return found


def _question_from_prompt(prompt: Any) -> str:
    """The question inside a Search-R1 chat prompt (text after its last ``Question:``)."""
    texts = (
        [m.get("content", "") for m in prompt if isinstance(m, Mapping)]
        if isinstance(prompt, list)
        else [prompt]
    )
    for text in reversed([t for t in texts if isinstance(t, str)]):
        if "Question:" in text:
            return _text(text.rsplit("Question:", 1)[1])
    return ""


# --- the import ---------------------------------------------------------------------


def import_questions(
    input_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    fmt: str,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    split_ratios: Sequence[float] | None = None,
    seed: int | None = None,
    replace: bool = False,
) -> ImportResult:
    """Import the questions of ``input_path`` (format ``fmt``) into ``run_dir/questions.json``.

    Existing questions are kept (``replace=False``) and a question already present (same id,
    or same question text on the same chunk) is dropped as ``duplicate``. ``split_ratios`` and
    ``seed`` default to the run's config (``manifest.json``), then to the config defaults. The
    run dir is locked for the whole import.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r} is not supported; choose one of {list(FORMATS)}")
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    layout.require([layout.chunks], "teacherforge datagen")
    records = list(read_records(input_path))
    ratios, seed = _split_settings(run_dir, split_ratios, seed)
    params = {
        "format": fmt,
        "input": str(input_path),
        "min_score": min_score,
        "split_ratios": ratios,
        "seed": seed,
        "replace": replace,
    }
    with RunDir(run_dir) as run:
        chunks = layout.chunk_list()
        questions_path = layout.questions_file
        existing = (
            []
            if replace or not questions_path.is_file()
            else load_questions(questions_path, {c.chunk_id for c in chunks})
        )
        split_by_chunk = assign_splits([c.chunk_id for c in chunks], ratios, seed)
        for q in existing:  # a chunk keeps the split its questions already have
            split_by_chunk.update(dict.fromkeys((q.chunk_id, *q.source_chunk_ids), q.split))
        imported, dropped = _convert(fmt, records, ChunkMatcher(chunks), split_by_chunk, existing, min_score)
        result = ImportResult(imported, dropped, len(existing) + len(imported))
        imported_from = Path(input_path).resolve()
        declared = Step(
            f"import:{imported_from.name}", params, [imported_from, NAMES.chunks], [NAMES.questions_file]
        )
        with run.step(declared) as step:
            layout.save_questions([*existing, *imported])
            step.outputs["questions"] = str(NAMES.questions_file)
            step.counts.update(result.counts())
            step.extra["drops"] = [
                {"ref": d.ref, "reason": d.reason, "detail": d.detail} for d in dropped[:200]
            ]
    return result


def _convert(
    fmt: str,
    records: list[tuple[str, Any]],
    matcher: ChunkMatcher,
    split_by_chunk: Mapping[str, str],
    existing: Sequence[Question],
    min_score: float,
) -> tuple[list[Question], list[ImportDrop]]:
    """Parse, match, split and de-duplicate every input record."""
    seen_ids = {q.id for q in existing}
    seen_keys = {(normalize(q.question), q.chunk_id) for q in existing}
    imported: list[Question] = []
    dropped: list[ImportDrop] = []
    for ref, record in _progress(records):
        try:
            item = parse_item(fmt, ref, record)
        except ValueError as exc:
            question = record.get("question", "") if isinstance(record, Mapping) else ""
            dropped.append(ImportDrop(ref, str(question)[:200], "malformed", str(exc)))
            continue
        try:
            match = matcher.match(item.question, item.answers, item.supports, min_score=min_score)
        except NoMatch as exc:
            dropped.append(ImportDrop(ref, item.question, "unmatched", str(exc)))
            continue
        splits = {split_by_chunk[cid] for cid in match.source_chunk_ids}
        if len(splits) > 1:
            detail = f"supporting chunks {list(match.source_chunk_ids)} are in splits {sorted(splits)}"
            dropped.append(ImportDrop(ref, item.question, "sources_span_splits", detail))
            continue
        question = _to_question(fmt, item, match, splits.pop())
        key = (normalize(question.question), question.chunk_id)
        if question.id in seen_ids or key in seen_keys:
            detail = f"already in questions.json as {question.id!r} or the same question on the same chunk"
            dropped.append(ImportDrop(ref, item.question, "duplicate", detail))
            continue
        seen_ids.add(question.id)
        seen_keys.add(key)
        imported.append(question)
    return imported, dropped


def _to_question(fmt: str, item: ImportItem, match: Match, split: str) -> Question:
    """The question record of a matched item (its answer is the one found in the chunk, if any)."""
    qid = f"import:{fmt}:{item.source_id or stable_hash([item.question, item.answers[0]], 12)}"
    meta: dict[str, Any] = {
        "generation_method": f"import_{fmt}",
        "imported": {"format": fmt, "ref": item.ref, "source_id": item.source_id, **item.extra},
        "match": match.to_json(),
    }
    difficulty = (item.difficulty or "medium").lower()
    if difficulty not in DIFFICULTIES:
        meta["imported"]["original_difficulty"] = item.difficulty
        difficulty = "medium"
    if len(item.answers) > 1:
        meta["answers"] = list(item.answers)
    return Question(
        id=qid,
        chunk_id=match.chunk_id,
        question=item.question,
        answer=match.details.get("answer", item.answers[0]),
        difficulty=difficulty,
        split=split,
        source_chunk_ids=match.source_chunk_ids,
        metadata=meta,
    )


def _split_settings(
    run_dir: Path, ratios: Sequence[float] | None, seed: int | None
) -> tuple[list[float], int]:
    """Split shares and seed: the arguments, else those the run's ``questions`` step read
    (``manifest.json``), else the defaults."""
    from teacherforge.config.datagen import DatagenConfig

    record = step_record(RunDir.load_manifest(run_dir), "questions") or {}
    read = record.get("config") or {}
    if ratios is None:
        ratios = read.get("datagen.split_ratios") or DatagenConfig().split_ratios
    if seed is None:
        seed = int(read.get("seed", 0) or 0)
    ratios = [float(r) for r in ratios]
    DatagenConfig(split_ratios=ratios)  # validates: 3 non-negative shares summing to 1
    return ratios, seed


def _progress(items: list[Any]) -> Any:
    if len(items) < 200:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="import", unit="question")


def format_import_summary(result: ImportResult, max_listed: int = 20) -> str:
    """A few lines for the CLI: imported/dropped counts, match methods, then each drop."""
    counts = result.counts()
    methods = ", ".join(f"{k} {v}" for k, v in sorted(counts["match_methods"].items())) or "none"
    splits = Counter(q.split for q in result.imported)
    lines = [
        f"imported {counts['imported']} question(s) (matched by: {methods}; "
        f"splits: {', '.join(f'{k} {v}' for k, v in sorted(splits.items())) or 'none'}); "
        f"dropped {counts['dropped']}; questions.json now holds {counts['questions_total']}"
    ]
    for drop in result.dropped[:max_listed]:
        lines.append(f"  dropped [{drop.reason}] {drop.ref}: {drop.detail} — {drop.question[:60]!r}")
    if len(result.dropped) > max_listed:
        lines.append(f"  ... and {len(result.dropped) - max_listed} more")
    return "\n".join(lines)
