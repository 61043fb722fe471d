"""The records of a run dir: questions (:class:`Question`) and teacher answers (:class:`TeacherRecord`).

``questions.json`` is a JSON list of ``{"id", "chunk_id", "question", "answer", "difficulty",
"split", "source_chunk_ids", "metadata"}`` (AutoDidact's four keys plus ours); a teacher records
file (``teacher.jsonl``) holds one :class:`TeacherRecord` per line. Loading checks every record
and names the file, the record index (or line) and the field of the first problem.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from teacherforge.workspace import atomic_write_json, read_json, read_jsonl

DIFFICULTIES = ("easy", "medium", "hard")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Question:
    """One generated question about one chunk (or two, for a multi-hop question).

    ``chunk_id`` is the chunk holding the answer; ``source_chunk_ids`` lists every chunk the
    question needs (``[chunk_id]`` for a single-hop question). ``split`` is the split of
    those chunks, assigned by :mod:`teacherforge.datagen.splits`.

    >>> q = Question("d-0:q0", "d-0", "Which pump failed?", "water pump 2", "easy", "train", ("d-0",))
    >>> Question.from_json(q.to_json()) == q
    True
    """

    id: str
    chunk_id: str
    question: str
    answer: str
    difficulty: str = "medium"
    split: str = "train"
    source_chunk_ids: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(
                f"difficulty {self.difficulty!r} not allowed; choose one of {list(DIFFICULTIES)}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"split {self.split!r} not allowed; choose one of {list(SPLITS)}")

    @property
    def gold_chunk_ids(self) -> tuple[str, ...]:
        """The chunks a search may retrieve to find the support: ``source_chunk_ids`` (else
        ``(chunk_id,)``) and the other chunks holding an identical copy of the supporting passage
        (``metadata["passage_copies"]``).

        >>> Question("q", "a-1", "Q?", "A", metadata={"passage_copies": ["b-4"]}).gold_chunk_ids
        ('a-1', 'b-4')
        """
        sources = tuple(self.source_chunk_ids) or (self.chunk_id,)
        return tuple(dict.fromkeys((*sources, *self.metadata.get("passage_copies", ()))))

    def to_json(self) -> dict[str, Any]:
        """The ``questions.json`` record."""
        data = dataclasses.asdict(self)
        data["source_chunk_ids"] = list(self.source_chunk_ids or (self.chunk_id,))
        data["metadata"] = dict(self.metadata)
        return data

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Question:
        """Build a question from a record (see :func:`check_record` for the rules)."""
        check_record(record)
        return cls(
            id=record["id"],
            chunk_id=record.get("chunk_id") or record["source_chunk_ids"][0],
            question=record["question"],
            answer=record["answer"],
            difficulty=record.get("difficulty", "medium"),
            split=record.get("split", "train"),
            source_chunk_ids=tuple(record.get("source_chunk_ids") or (record["chunk_id"],)),
            metadata=dict(record.get("metadata") or {}),
        )


def feedback_copies(metadata: Mapping[str, Any], oversample: float) -> int:
    """How many times a training example or question appears: 1, or, for one the feedback loop
    derived from a student failure (``metadata.feedback``), ``round(oversample × weight)`` and at
    least 1 (the weight is ``1 + (1 − the student's F1)``, so 1 to 2).

    >>> feedback_copies({}, 2.0)
    1
    >>> feedback_copies({"feedback": {"weight": 2.0}}, 2.0)
    4
    >>> feedback_copies({"feedback": {"weight": 1.5}}, 0.0)
    1
    """
    feedback = metadata.get("feedback")
    if not feedback:
        return 1
    return max(1, round(oversample * float(feedback.get("weight", 1.0))))


_REQUIRED_STR = ("id", "question", "answer")


def check_record(record: Any) -> None:
    """Raise ``ValueError`` naming the field when ``record`` is not a valid question record.

    >>> check_record({"id": "a", "chunk_id": "c", "question": "q?", "answer": ""})
    Traceback (most recent call last):
    ...
    ValueError: field 'answer': must be a non-empty string
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    known = {f.name for f in dataclasses.fields(Question)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; allowed: {sorted(known)}")
    for name in _REQUIRED_STR:
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"field {name!r}: must be a non-empty string")
    if record.get("difficulty", "medium") not in DIFFICULTIES:
        raise ValueError(f"field 'difficulty': {record['difficulty']!r} not in {list(DIFFICULTIES)}")
    if record.get("split", "train") not in SPLITS:
        raise ValueError(f"field 'split': {record['split']!r} not in {list(SPLITS)}")
    sources = record.get("source_chunk_ids", [])
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) and s for s in sources):
        raise ValueError("field 'source_chunk_ids': must be a list of chunk id strings")
    chunk_id = record.get("chunk_id")
    if not (isinstance(chunk_id, str) and chunk_id.strip()) and not sources:
        raise ValueError("field 'chunk_id': needs a chunk id (or a non-empty 'source_chunk_ids' list)")
    if not isinstance(record.get("metadata", {}), Mapping):
        raise ValueError("field 'metadata': must be a JSON object")


def load_questions(path: str | os.PathLike[str], chunk_ids: set[str] | None = None) -> list[Question]:
    """Read and validate ``questions.json``; errors name the file, record index and field.

    With ``chunk_ids``, every ``chunk_id``/``source_chunk_ids`` entry must be one of them.
    Duplicate question ids are an error.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of question records, got {type(data).__name__}")
    questions: list[Question] = []
    seen: set[str] = set()
    for index, record in enumerate(data):
        try:
            question = Question.from_json(record)
        except ValueError as exc:
            raise ValueError(f"{path}: record {index}: {exc}") from None
        if question.id in seen:
            raise ValueError(f"{path}: record {index}: field 'id': duplicate id {question.id!r}")
        seen.add(question.id)
        if chunk_ids is not None:
            for cid in (question.chunk_id, *question.source_chunk_ids):
                if cid not in chunk_ids:
                    raise ValueError(
                        f"{path}: record {index}: chunk id {cid!r} is not in chunks.jsonl; "
                        "regenerate the questions for this run dir"
                    )
        questions.append(question)
    return questions


def save_questions(path: str | os.PathLike[str], questions: Sequence[Question]) -> int:
    """Write ``questions.json`` atomically; return the number of records."""
    atomic_write_json(path, [q.to_json() for q in questions])
    return len(questions)


def as_questions(records: Sequence[Mapping[str, Any] | Question], where: str = "questions") -> list[Question]:
    """Validate question records (or pass :class:`Question` objects through); errors name ``where[i]``."""
    out = []
    for index, record in enumerate(records):
        if isinstance(record, Question):
            out.append(record)
            continue
        try:
            out.append(Question.from_json(record))
        except ValueError as exc:
            raise ValueError(f"{where}[{index}]: {exc}") from None
    if not out:
        raise ValueError(f"{where}: no questions given")
    return out


# ---- teacher records ---------------------------------------------------------------------
# A ``teacher.jsonl`` line: one teacher answer, and every record post-processing or review touches::
#
#     {"id", "created_at", "domain", "input", "response",
#      "retrieved": [{"chunk_id", "score", "rank"}],
#      "metadata": {"generation_method", "generator_version", "model", "temperature",
#                   "prompt_template", "tokens": {"prompt", "completion"}, "quality_score",
#                   "confidence_score", "is_valid", "tags", "review_status", ...},
#      "trace": {"parent_id", "question_id", "chunk_id", "source_chunk_ids", "split",
#                "processing_steps": [{"name", "timestamp", "params", ...}], ...}}
#
# The listed keys are required (or defaulted) and typed; ``metadata``, ``trace`` and each
# processing step may carry extra keys (steps add their scores there), the other objects may not.

GENERATION_METHODS = ("rag_teacher", "oracle", "rag_failure")
REVIEW_STATUSES = ("auto", "pending", "approved", "rejected")
_TEMPLATE_ID = re.compile(r"^[\w.-]+@[0-9a-f]+$")
_REQUIRED = object()


def _object(value: Any, at: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"field {at!r}: must be a JSON object, got {type(value).__name__}")
    return value


def _closed(data: Mapping[str, Any], cls: type, at: str) -> None:
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"field {at!r}: unknown key(s) {unknown}")


def _extra(data: Mapping[str, Any], cls: type) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k not in known}


def _take(
    data: Mapping[str, Any],
    key: str,
    at: str,
    kind: str,
    default: Any = _REQUIRED,
) -> Any:
    """``data[key]`` checked against ``kind`` (a key of ``_KINDS``); ``default`` when absent (and
    ``None`` allowed when the default is ``None``)."""
    name = f"{at}.{key}" if at else key
    if key not in data:
        if default is _REQUIRED:
            raise ValueError(f"field {name!r}: required")
        return default
    value = data[key]
    if value is None and default is None:
        return None
    if not _KINDS[kind](value):
        raise ValueError(f"field {name!r}: must be {kind}, got {value!r}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS: dict[str, Callable[[Any], bool]] = {
    "a string": lambda v: isinstance(v, str),
    "a non-empty string": lambda v: isinstance(v, str) and bool(v.strip()),
    "a number": _number,
    "a number >= 0": lambda v: _number(v) and v >= 0,
    "an integer >= 0": lambda v: _integer(v) and v >= 0,
    "an integer >= 1": lambda v: _integer(v) and v >= 1,
    "true or false": lambda v: isinstance(v, bool),
    "a list of strings": lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
    "a JSON object": lambda v: isinstance(v, Mapping),
    "a non-empty list": lambda v: isinstance(v, list) and bool(v),
    "a list": lambda v: isinstance(v, list),
    f"one of {list(GENERATION_METHODS)}": lambda v: v in GENERATION_METHODS,
    f"one of {list(REVIEW_STATUSES)}": lambda v: v in REVIEW_STATUSES,
    f"one of {list(SPLITS)}": lambda v: v in SPLITS,
    "a template id (name@hexhash)": lambda v: isinstance(v, str) and bool(_TEMPLATE_ID.match(v)),
}


@dataclass(frozen=True)
class SourceRef:
    """One retrieved source shown to the teacher: chunk id, retriever score, 1-based rank.

    Not :class:`teacherforge.rewards.RetrievedRef` (a search hit inside an episode, for rewards).
    """

    chunk_id: str
    score: float
    rank: int

    @classmethod
    def from_json(cls, data: Any, at: str) -> SourceRef:
        data = _object(data, at)
        _closed(data, cls, at)
        return cls(
            _take(data, "chunk_id", at, "a non-empty string"),
            _take(data, "score", at, "a number"),
            _take(data, "rank", at, "an integer >= 1"),
        )


@dataclass(frozen=True)
class Tokens:
    """Token usage of one generation."""

    prompt: int
    completion: int

    @classmethod
    def from_json(cls, data: Any, at: str) -> Tokens:
        data = _object(data, at)
        _closed(data, cls, at)
        return cls(
            _take(data, "prompt", at, "an integer >= 0"), _take(data, "completion", at, "an integer >= 0")
        )


@dataclass(frozen=True)
class RecordMetadata:
    """How a record was generated and what post-processing concluded about it (``extra``: other keys)."""

    generation_method: str
    generator_version: str
    model: str
    temperature: float
    prompt_template: str
    tokens: Tokens
    quality_score: float | None = None
    confidence_score: float | None = None
    is_valid: bool = True
    tags: tuple[str, ...] = ()
    review_status: str = "auto"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, at: str = "metadata") -> RecordMetadata:
        data = _object(data, at)
        return cls(
            generation_method=_take(data, "generation_method", at, f"one of {list(GENERATION_METHODS)}"),
            generator_version=_take(data, "generator_version", at, "a string"),
            model=_take(data, "model", at, "a string"),
            temperature=_take(data, "temperature", at, "a number >= 0"),
            prompt_template=_take(data, "prompt_template", at, "a template id (name@hexhash)"),
            tokens=Tokens.from_json(_take(data, "tokens", at, "a JSON object"), f"{at}.tokens"),
            quality_score=_take(data, "quality_score", at, "a number", default=None),
            confidence_score=_take(data, "confidence_score", at, "a number", default=None),
            is_valid=_take(data, "is_valid", at, "true or false", default=True),
            tags=tuple(_take(data, "tags", at, "a list of strings", default=[])),
            review_status=_take(data, "review_status", at, f"one of {list(REVIEW_STATUSES)}", default="auto"),
            extra=_extra(data, cls),
        )


@dataclass(frozen=True)
class ProcessingStep:
    """One step that produced or changed a record (``extra``: other keys)."""

    name: str
    timestamp: str
    params: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, at: str) -> ProcessingStep:
        data = _object(data, at)
        return cls(
            _take(data, "name", at, "a non-empty string"),
            _take(data, "timestamp", at, "a string"),
            dict(_take(data, "params", at, "a JSON object", default={})),
            _extra(data, cls),
        )


@dataclass(frozen=True)
class Trace:
    """Lineage: the question (and its chunk) a record answers, and every processing step."""

    parent_id: str
    question_id: str
    chunk_id: str
    source_chunk_ids: tuple[str, ...]
    split: str
    processing_steps: tuple[ProcessingStep, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, at: str = "trace") -> Trace:
        data = _object(data, at)
        steps = _take(data, "processing_steps", at, "a non-empty list")
        return cls(
            parent_id=_take(data, "parent_id", at, "a non-empty string"),
            question_id=_take(data, "question_id", at, "a non-empty string"),
            chunk_id=_take(data, "chunk_id", at, "a non-empty string"),
            source_chunk_ids=tuple(_take(data, "source_chunk_ids", at, "a list of strings")),
            split=_take(data, "split", at, f"one of {list(SPLITS)}"),
            processing_steps=tuple(
                ProcessingStep.from_json(s, f"{at}.processing_steps.{i}") for i, s in enumerate(steps)
            ),
            extra=_extra(data, cls),
        )


@dataclass(frozen=True)
class TeacherRecord:
    """A teacher answer (one ``teacher.jsonl`` line); see the comment above for the JSON shape.

    >>> TeacherRecord.from_json({"id": "x"})
    Traceback (most recent call last):
    ...
    ValueError: field 'created_at': required
    """

    id: str
    created_at: str
    domain: str
    input: str
    response: str
    retrieved: tuple[SourceRef, ...]
    metadata: RecordMetadata
    trace: Trace

    @classmethod
    def from_json(cls, data: Any) -> TeacherRecord:
        """Check and build a record; ``ValueError`` names the first bad field (``retrieved.0.rank``)."""
        data = _object(data, "record")
        _closed(data, cls, "record")
        return cls(
            id=_take(data, "id", "", "a non-empty string"),
            created_at=_take(data, "created_at", "", "a string"),
            domain=_take(data, "domain", "", "a string"),
            input=_take(data, "input", "", "a non-empty string"),
            response=_take(data, "response", "", "a string"),
            retrieved=tuple(
                SourceRef.from_json(r, f"retrieved.{i}")
                for i, r in enumerate(_take(data, "retrieved", "", "a list"))
            ),
            metadata=RecordMetadata.from_json(_take(data, "metadata", "", "a JSON object")),
            trace=Trace.from_json(_take(data, "trace", "", "a JSON object")),
        )


def validate_record(record: dict[str, Any], where: str = "record") -> dict[str, Any]:
    """Check one teacher record and return it; ``ValueError`` names ``where`` and the bad field.

    >>> validate_record({"id": "x"}, "teacher.jsonl:3")
    Traceback (most recent call last):
    ...
    ValueError: teacher.jsonl:3: field 'created_at': required
    """
    try:
        TeacherRecord.from_json(record)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return record


def read_teacher_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The JSON records of a teacher records file, each checked (for stages that rewrite them);
    errors name the file, the line and the field."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found; run `teacherforge teacher` first")
    records = read_jsonl(path)
    for lineno, record in enumerate(records, 1):
        validate_record(record, f"{path}:{lineno}")
    return records


def load_teacher_records(path: str | os.PathLike[str]) -> list[TeacherRecord]:
    """The typed records of a teacher records file; errors name the file, the line and the field."""
    return [TeacherRecord.from_json(r) for r in read_teacher_records(path)]
