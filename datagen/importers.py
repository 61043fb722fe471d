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
first, then the answer); the match method and score go to ``metadata.match``. Every input record
is either imported or dropped with a reason (``malformed``, ``unmatched``, ``duplicate``,
``sources_span_splits``); the summary counts drops by reason.

Identity: a question's id is ``import:<format>:<hash>`` of its normalised question text, answer
and chunk, so two different questions that share a source id are both kept; the source id and
the record's place in the file stay in ``metadata.imported`` (``source_id``, ``ref``). A record
with the same normalised question, answer and chunk as an earlier record or a question already in
``questions.json`` is a ``duplicate`` (its detail names the first one's ref), so importing a
file twice adds nothing; questions already in ``questions.json`` are never changed.

Splits: chunks that support a common imported question form one group (union-find over
``source_chunk_ids``), and a group's questions all get one split: the split that questions
already in ``questions.json`` give a chunk of the group, else the run's chunk split
(:func:`teacherforge.datagen.splits.assign_splits` over every chunk, with the run's ratios and
seed) of the group's first chunk in chunk order. Only a question that would join chunks that
existing questions already put in different splits is dropped (``sources_span_splits``). The
new ``questions.json`` is written atomically and the step recorded in the manifest.
"""

from __future__ import annotations

import dataclasses
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
    """What an import added and what it dropped (``read`` = imported + dropped input records)."""

    imported: list[Question]
    dropped: list[ImportDrop]
    total_questions: int
    read: int = 0

    def counts(self) -> dict[str, Any]:
        """Manifest counts: read, imported, dropped, dropped by reason, match methods, total."""
        return {
            "read": self.read,
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

    Existing questions are kept unchanged (``replace=False``); a record with the same normalised
    question, answer and chunk as one already there, or as an earlier record, is dropped as
    ``duplicate``. Splits follow the module rules (one split per group of chunks that support a
    common question). ``split_ratios`` and ``seed`` default to the run's config
    (``manifest.json``), then to the config defaults. The run dir is locked for the whole import.
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
        chunk_ids = [c.chunk_id for c in chunks]
        matched, dropped = _match_all(fmt, records, ChunkMatcher(chunks), min_score)
        kept, duplicates = _dedupe(matched, existing)
        imported, conflicts = _assign_splits(
            kept, existing, chunk_ids, assign_splits(chunk_ids, ratios, seed)
        )
        position = {ref: i for i, (ref, _) in enumerate(records)}
        dropped = sorted([*dropped, *duplicates, *conflicts], key=lambda d: position[d.ref])
        if len(imported) + len(dropped) != len(records):  # every record is accounted for
            raise RuntimeError(
                f"import of {input_path}: {len(records)} records read but "
                f"{len(imported)} imported + {len(dropped)} dropped"
            )
        result = ImportResult(imported, dropped, len(existing) + len(imported), len(records))
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


def _match_all(
    fmt: str, records: list[tuple[str, Any]], matcher: ChunkMatcher, min_score: float
) -> tuple[list[Question], list[ImportDrop]]:
    """Parse and match every record: its question (split not yet assigned), or a drop."""
    matched: list[Question] = []
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
        matched.append(_to_question(fmt, item, match, "train"))
    return matched, dropped


def question_key(question: Question) -> tuple[str, str, str]:
    """What makes two questions the same: normalised question text, normalised answer, chunk."""
    return normalize(question.question), normalize(question.answer), question.chunk_id


def _dedupe(matched: list[Question], existing: Sequence[Question]) -> tuple[list[Question], list[ImportDrop]]:
    """Drop each question whose :func:`question_key` is already in ``questions.json`` or was met
    earlier in the file; the detail names the first one's ref (and its id when already saved)."""
    first: dict[tuple[str, str, str], str] = {}
    for q in existing:
        ref = (q.metadata.get("imported") or {}).get("ref")
        first.setdefault(
            question_key(q),
            f"{ref} (already in questions.json as {q.id!r})"
            if ref
            else f"{q.id!r} already in questions.json",
        )
    kept: list[Question] = []
    dropped: list[ImportDrop] = []
    for q in matched:
        ref = q.metadata["imported"]["ref"]
        key = question_key(q)
        if key in first:
            detail = f"same question, answer and chunk {q.chunk_id!r} as {first[key]}"
            dropped.append(ImportDrop(ref, q.question, "duplicate", detail))
            continue
        first[key] = ref
        kept.append(q)
    return kept, dropped


def _assign_splits(
    kept: list[Question],
    existing: Sequence[Question],
    chunk_order: Sequence[str],
    run_split: Mapping[str, str],
) -> tuple[list[Question], list[ImportDrop]]:
    """Give every question the one split of its chunk group (see the module docstring).

    Questions join their chunks into groups in file order (union-find); one whose chunks'
    groups already carry different splits from existing questions is ``sources_span_splits``.
    """
    parent: dict[str, str] = {}

    def find(cid: str) -> str:
        parent.setdefault(cid, cid)
        while parent[cid] != cid:
            parent[cid] = parent[parent[cid]]
            cid = parent[cid]
        return cid

    held: dict[str, tuple[str, str]] = {}  # group root -> (split, the chunk whose questions set it)
    for q in existing:  # a chunk keeps the split its questions already have
        held.update({cid: (q.split, cid) for cid in (q.chunk_id, *q.source_chunk_ids)})
    joined: list[Question] = []
    dropped: list[ImportDrop] = []
    for q in kept:
        roots = {cid: find(cid) for cid in dict.fromkeys((q.chunk_id, *q.source_chunk_ids))}
        splits = {cid: held[root] for cid, root in roots.items() if root in held}
        if len({split for split, _ in splits.values()}) > 1:
            named = ", ".join(
                f"{cid} {split} (set by the questions on {by})" for cid, (split, by) in splits.items()
            )
            detail = (
                f"supporting chunks {list(roots)} would have to share one split, but questions "
                f"already in questions.json put them in different splits: {named}; re-import with "
                "--replace (drops the questions already there and splits every chunk group afresh), "
                "or leave out the supporting text in the other split"
            )
            dropped.append(
                ImportDrop(q.metadata["imported"]["ref"], q.question, "sources_span_splits", detail)
            )
            continue
        top, *rest = roots.values()
        for root in rest:
            parent[root] = top
            if root in held:
                held.setdefault(top, held[root])
        joined.append(q)
    position = {cid: i for i, cid in enumerate(chunk_order)}
    first: dict[str, str] = {}  # group root -> its first chunk in chunk order
    for cid in sorted(parent, key=position.__getitem__):
        first.setdefault(find(cid), cid)
    imported = []
    for q in joined:
        root = find(q.chunk_id)
        split = held[root][0] if root in held else run_split[first[root]]
        imported.append(dataclasses.replace(q, split=split))
    return imported, dropped


def _to_question(fmt: str, item: ImportItem, match: Match, split: str) -> Question:
    """The question record of a matched item (its answer is the one found in the chunk, if any).

    The id hashes :func:`question_key`, so it differs for every distinct question (the source
    id is kept in ``metadata.imported.source_id``, never used as the id).
    """
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
    question = Question(
        id="",
        chunk_id=match.chunk_id,
        question=item.question,
        answer=match.details.get("answer", item.answers[0]),
        difficulty=difficulty,
        split=split,
        source_chunk_ids=match.source_chunk_ids,
        metadata=meta,
    )
    return dataclasses.replace(question, id=f"import:{fmt}:{stable_hash(list(question_key(question)), 16)}")


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
    """A few lines for the CLI: imported/dropped counts (by reason), match methods, then each drop."""
    counts = result.counts()
    methods = ", ".join(f"{k} {v}" for k, v in sorted(counts["match_methods"].items())) or "none"
    splits = Counter(q.split for q in result.imported)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(counts["dropped_by_reason"].items()))
    lines = [
        f"read {counts['read']} record(s): imported {counts['imported']} question(s) "
        f"(matched by: {methods}; "
        f"splits: {', '.join(f'{k} {v}' for k, v in sorted(splits.items())) or 'none'}); "
        f"dropped {counts['dropped']}{f' ({reasons})' if reasons else ''}; "
        f"questions.json now holds {counts['questions_total']}"
    ]
    for drop in result.dropped[:max_listed]:
        lines.append(f"  dropped [{drop.reason}] {drop.ref}: {drop.detail} — {drop.question[:60]!r}")
    if len(result.dropped) > max_listed:
        lines.append(f"  ... and {len(result.dropped) - max_listed} more")
    return "\n".join(lines)
