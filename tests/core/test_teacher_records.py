"""The teacher record: one typed, frozen record; errors name the file, line and field."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from teacherforge.records import (
    TeacherRecord,
    load_teacher_records,
    read_teacher_records,
    validate_record,
)
from teacherforge.run import RunLayout


def record(**changes: Any) -> dict[str, Any]:
    """A valid teacher record as JSON (the shape the teacher stage writes)."""
    base = {
        "id": "c-1:q0@teacher",
        "created_at": "2024-01-01T00:00:00+00:00",
        "domain": "demo",
        "input": "Who commanded the mission?",
        "response": "Ingrid Valtersson [1]",
        "retrieved": [
            {"chunk_id": "c-1", "score": 0.81, "rank": 1},
            {"chunk_id": "c-4", "score": 2, "rank": 2},
        ],
        "metadata": {
            "generation_method": "rag_teacher",
            "generator_version": "teacherforge dev",
            "model": "fake",
            "temperature": 0.0,
            "prompt_template": "rag_answer_v1@0a1b2c",
            "tokens": {"prompt": 120, "completion": 8},
            "quality_score": None,
            "confidence_score": 0.5,
            "is_valid": True,
            "tags": ["multi_hop"],
            "review_status": "auto",
            "difficulty": "easy",
        },
        "trace": {
            "parent_id": "c-1:q0",
            "question_id": "c-1:q0",
            "chunk_id": "c-1",
            "source_chunk_ids": ["c-1"],
            "split": "train",
            "processing_steps": [{"name": "teacher", "timestamp": "t", "params": {"top_k": 3}, "seconds": 1}],
            "grounded": True,
        },
    }
    for path, value in changes.items():
        target = base
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
    return base


_DROP = object()


def test_a_valid_record_reads_into_frozen_typed_fields_keeping_extras() -> None:
    rec = TeacherRecord.from_json(record())
    assert rec.retrieved[1].rank == 2 and rec.retrieved[1].score == 2
    assert rec.metadata.tokens.prompt == 120 and rec.metadata.tags == ("multi_hop",)
    assert rec.metadata.extra == {"difficulty": "easy"}
    assert rec.trace.extra == {"grounded": True}
    assert rec.trace.processing_steps[0].extra == {"seconds": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.response = "edited"  # type: ignore[misc]


def test_defaults_fill_optional_metadata() -> None:
    data = record()
    for key in ("quality_score", "confidence_score", "is_valid", "tags", "review_status"):
        del data["metadata"][key]
    meta = TeacherRecord.from_json(data).metadata
    assert (meta.quality_score, meta.confidence_score, meta.is_valid, meta.tags, meta.review_status) == (
        None,
        None,
        True,
        (),
        "auto",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": ""}, "field 'id': must be a non-empty string"),
        ({"created_at": _DROP}, "field 'created_at': required"),
        ({"surprise": 1}, "unknown key(s) ['surprise']"),
        (
            {"retrieved": [{"chunk_id": "c", "score": 1.0, "rank": 0}]},
            "field 'retrieved.0.rank': must be an integer >= 1",
        ),
        (
            {"retrieved": [{"chunk_id": "c", "score": True, "rank": 1}]},
            "field 'retrieved.0.score': must be a number",
        ),
        (
            {"retrieved": [{"chunk_id": "c", "score": 1, "rank": 1, "x": 0}]},
            "field 'retrieved.0': unknown key",
        ),
        ({"metadata__generation_method": "magic"}, "field 'metadata.generation_method': must be one of"),
        ({"metadata__temperature": -0.1}, "field 'metadata.temperature': must be a number >= 0"),
        ({"metadata__prompt_template": "no-hash"}, "field 'metadata.prompt_template': must be a template id"),
        ({"metadata__tokens": {"prompt": 1}}, "field 'metadata.tokens.completion': required"),
        ({"metadata__tags": "multi_hop"}, "field 'metadata.tags': must be a list of strings"),
        ({"metadata__review_status": "maybe"}, "field 'metadata.review_status': must be one of"),
        ({"metadata__is_valid": "yes"}, "field 'metadata.is_valid': must be true or false"),
        ({"trace__split": "dev"}, "field 'trace.split': must be one of"),
        ({"trace__processing_steps": []}, "field 'trace.processing_steps': must be a non-empty list"),
        (
            {"trace__processing_steps": [{"timestamp": "t"}]},
            "field 'trace.processing_steps.0.name': required",
        ),
        ({"trace": "none"}, "field 'trace': must be a JSON object"),
    ],
)
def test_each_rule_names_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        validate_record(record(**changes), "teacher.jsonl:7")
    assert str(err.value).startswith("teacher.jsonl:7: ")
    assert message in str(err.value)


def test_files_are_read_with_file_and_line_in_errors(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    good, bad = record(), record(**{"trace__split": "dev"})
    layout.teacher.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"teacher\.jsonl:2: field 'trace\.split'"):
        read_teacher_records(layout.teacher)
    with pytest.raises(ValueError, match=r"teacher\.jsonl:2: field 'trace\.split'"):
        layout.teacher_records()
    layout.teacher.write_text(json.dumps(good) + "\n", encoding="utf-8")
    assert read_teacher_records(layout.teacher) == [good], "the stages that rewrite records get the JSON"
    assert load_teacher_records(layout.teacher) == [TeacherRecord.from_json(good)]
    assert layout.teacher_records()[0].trace.question_id == "c-1:q0"


def test_validation_does_not_change_the_record() -> None:
    data = record()
    kept = copy.deepcopy(data)
    assert validate_record(data) is data and data == kept


def test_a_missing_file_says_which_stage_writes_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run `teacherforge teacher` first"):
        RunLayout(tmp_path).teacher_records()
