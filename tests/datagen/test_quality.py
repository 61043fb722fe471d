"""Post-processing steps on crafted inputs, PII recall per type, and the quality stage on a run dir."""

from __future__ import annotations

import copy
import ipaddress
import json
import random
import string

import pytest

from teacherforge.config import QualityConfig, load_config
from teacherforge.datagen import grounding, redact
from teacherforge.datagen.quality import process_records, run_quality
from teacherforge.datagen.redact import Redactor, iban_valid, luhn_valid
from teacherforge.datagen.review import ReviewStore
from teacherforge.datagen.teacher import run_teacher
from teacherforge.llm import FakeBackend
from teacherforge.records import read_teacher_records
from teacherforge.workspace import read_json, read_jsonl
from tests.datagen._sft_rundir import build_run_dir, teacher_responder

CHUNKS = {
    "c1": "Oxygen tank 2 failed at 55 hours 54 minutes. The crew powered down the command module.",
    "c2": "The lunar module served as a lifeboat for the three astronauts during the return.",
    "c3": "Splashdown occurred in the Pacific Ocean near the recovery ship Iwo Jima.",
}


def _record(rid, question, answer, retrieved=("c1",), sources=("c1",)):
    return {
        "id": rid,
        "created_at": "2026-01-01T00:00:00+00:00",
        "domain": "test",
        "input": question,
        "response": answer,
        "retrieved": [{"chunk_id": c, "score": 1.0, "rank": i} for i, c in enumerate(retrieved, 1)],
        "metadata": {
            "generation_method": "rag_teacher",
            "generator_version": "t",
            "model": "fake",
            "temperature": 0.0,
            "prompt_template": "rag_answer_v1@abc123",
            "tokens": {"prompt": 1, "completion": 1},
            "quality_score": None,
            "confidence_score": None,
            "is_valid": True,
            "tags": [],
            "review_status": "auto",
        },
        "trace": {
            "parent_id": rid,
            "question_id": rid,
            "chunk_id": sources[0],
            "source_chunk_ids": list(sources),
            "split": "train",
            "processing_steps": [{"name": "teacher", "timestamp": "t", "params": {}}],
        },
    }


def _cfg(**kw):
    return QualityConfig(embedding_check=False, **kw)


def test_unsupported_sentence_is_flagged():
    records = [
        _record("a", "Which tank failed?", "Oxygen tank 2 failed [1]. Saboteurs from Venus caused it.")
    ]
    out, counts = process_records(records, CHUNKS, _cfg(redact=False))
    meta = out[0]["metadata"]
    assert meta["unsupported_sentences"] == ["Saboteurs from Venus caused it."]
    assert "ungrounded" in meta["tags"] and meta["groundedness"] == 0.5
    assert counts["groundedness"]["unsupported_sentences"] == 1
    fully_made_up = [_record("b", "Which tank failed?", "Martians landed in Paris. They ate croissants.")]
    out, _ = process_records(fully_made_up, CHUNKS, _cfg(redact=False))
    assert out[0]["metadata"]["is_valid"] is False and out[0]["metadata"]["review_status"] == "pending"


@pytest.mark.slow
def test_embedding_check_accepts_a_faithful_paraphrase():
    from teacherforge.retrieval import Embedder

    answer = "The spacecraft's second oxygen container broke down roughly 56 hours in."
    lexical_only = grounding.check_groundedness([answer], [[CHUNKS["c1"]]], lexical_threshold=0.5)
    with_embeddings = grounding.check_groundedness(
        [answer], [[CHUNKS["c1"]]], lexical_threshold=0.5, embedder=Embedder(), embedding_threshold=0.5
    )
    assert lexical_only[0].unsupported == (answer,)
    assert with_embeddings[0].unsupported == () and with_embeddings[0].embedding[0] >= 0.5
    off_topic = grounding.check_groundedness(
        ["Bananas are rich in potassium."], [[CHUNKS["c1"]]], embedder=Embedder(), embedding_threshold=0.5
    )
    assert off_topic[0].unsupported


def test_abstention_is_valid_only_when_the_gold_chunk_was_missed():
    no = "The provided sources do not contain the answer to this question."
    records = [
        _record("miss", "Which tank failed?", no, retrieved=("c3",)),
        _record("hit", "When did the tank fail?", no, retrieved=("c1",)),
    ]
    out, _ = process_records(records, CHUNKS, _cfg(redact=False))
    by_id = {r["id"]: r["metadata"] for r in out}
    assert by_id["miss"]["is_valid"] and {"unanswerable", "retrieval_miss"} <= set(by_id["miss"]["tags"])
    assert not by_id["hit"]["is_valid"] and by_id["hit"]["review_status"] == "pending"


def test_llm_grading_scores_and_tags():
    replies = ['{"quality": 5, "confidence": 4, "reason": "ok"}', "no json here"]
    grader = FakeBackend(replies)
    records = [
        _record("a", "Which tank failed?", "Oxygen tank 2 failed [1]."),
        _record("b", "Who was the lifeboat?", "The lunar module [1].", retrieved=("c2",), sources=("c2",)),
    ]
    out, counts = process_records(records, CHUNKS, _cfg(llm_grading=True, redact=False), grader=grader)
    assert counts["llm_grading"] == {"graded": 1, "unparseable": 1}
    a, b = out
    assert a["metadata"]["quality_score"] == 1.0 and a["metadata"]["confidence_score"] == 0.8
    assert "grading_failed" in b["metadata"]["tags"]
    assert "Oxygen tank 2 failed at 55 hours" in grader.calls[0][1].content  # sources shown to the grader


def test_duplicates_are_removed():
    records = [
        _record("a", "Which tank failed?", "Oxygen tank 2 failed at 55 hours 54 minutes [1]."),
        _record("b", "which tank failed?", "Oxygen tank 2  failed at 55 hours 54 minutes [1]."),
        _record(
            "c",
            "Which tank failed during the Apollo 13 flight of the spacecraft after launch?",
            "Oxygen tank 2 failed at 55 hours 54 minutes into the flight and the crew powered "
            "down the command module [1].",
        ),
        _record(
            "d",
            "Which tank failed during the Apollo 13 flight of the spacecraft after launch?",
            "Oxygen tank 2 failed at 55 hours 54 minutes into the flight and the crew powered "
            "down the command module [1]!",
        ),
        _record("e", "Where did splashdown occur?", "In the Pacific Ocean [1].", ("c3",), ("c3",)),
    ]
    out, counts = process_records(records, CHUNKS, _cfg(redact=False, near_duplicate_threshold=0.8))
    assert [r["id"] for r in out] == ["a", "c", "e"]
    assert counts["dedup"] == {"exact_duplicates": 1, "near_duplicates": 1, "removed": 2}


def test_trace_grows_by_one_step_per_processing_step():
    records = [_record("a", "Which tank failed?", "Oxygen tank 2 failed [1].")]
    grader = FakeBackend(['{"quality": 4, "confidence": 4}'])
    out, _ = process_records(copy.deepcopy(records), CHUNKS, _cfg(llm_grading=True), grader=grader)
    names = [s["name"] for s in out[0]["trace"]["processing_steps"]]
    assert names == ["teacher", "groundedness", "llm_grading", "validity", "dedup", "redaction"]
    out, _ = process_records(copy.deepcopy(records), CHUNKS, _cfg(redact=False))
    assert [s["name"] for s in out[0]["trace"]["processing_steps"]] == [
        "teacher",
        "groundedness",
        "validity",
        "dedup",
    ]


# ----------------------------------------------------------------------------- PII recall
def _name(rng: random.Random) -> str:
    syllables = [
        "ka",
        "lo",
        "mir",
        "ten",
        "vash",
        "oru",
        "bel",
        "sko",
        "dra",
        "fen",
        "yul",
        "pim",
        "zar",
        "nok",
    ]
    return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).capitalize()


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


def _iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24), ("IT", 27)])
    bban = "".join(
        rng.choice(string.digits + (string.ascii_uppercase if country in ("GB", "NL") else ""))
        for _ in range(length - 4)
    )
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    assert iban_valid(iban)
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _generate(kind: str, rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    if kind == "EMAIL":
        local = rng.choice([_name(rng).lower(), f"{_name(rng).lower()}.{_name(rng).lower()}", f"u{d(4)}"])
        return f"{local}@{_name(rng).lower()}.{rng.choice(['com', 'org', 'de', 'io', 'co.uk'])}"
    if kind == "PHONE":
        return rng.choice(
            [
                f"+{rng.randint(1, 99)} {d(3)} {d(3)} {d(4)}",
                f"({rng.randint(200, 999)}) {d(3)}-{d(4)}",
                f"{rng.randint(200, 999)}-{d(3)}-{d(4)}",
                f"{rng.randint(200, 999)}.{d(3)}.{d(4)}",
                f"+{rng.randint(30, 49)} {d(2)} {d(4)} {d(4)}",
                f"0{d(2)} {d(7)}",
            ]
        )
    if kind == "CREDIT_CARD":
        prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16), ("4", 13)])
        number = _luhn_complete(prefix, length, rng)
        sep = rng.choice(["", " ", "-"])
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4)) if sep else number
    if kind == "IBAN":
        return _iban(rng)
    if kind == "IP_ADDRESS":
        if rng.random() < 0.5:
            return str(ipaddress.IPv4Address(rng.getrandbits(32)))
        return ipaddress.IPv6Address(rng.getrandbits(128)).compressed
    if kind == "ID_NUMBER":
        if rng.random() < 0.6:
            return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        return rng.choice(string.ascii_uppercase) + d(8)
    if kind == "PERSON":
        return f"{_name(rng)} {_name(rng)}"
    raise AssertionError(kind)


TEMPLATES = {
    "EMAIL": ["Send the report to {} before Friday.", "Contact: {}", "Questions go to {}, the duty desk."],
    "PHONE": ["Call the control room at {} if the alarm sounds.", "Phone: {}.", "The hotline {} is open."],
    "CREDIT_CARD": ["The booking was paid with card {} last week.", "Card number {} was declined."],
    "IBAN": ["Transfer the fee to {} by Monday.", "Account {} belongs to the contractor."],
    "IP_ADDRESS": ["The telemetry server at {} stopped responding.", "Login from {} was blocked."],
    "ID_NUMBER": ["Her SSN is {} according to the form.", "Passport number {} was scanned."],
    "PERSON": [
        "The review was led by Dr. {} from Houston.",
        "Commander {} signed the log.",
        "Ms. {} approved the change.",
        "{} reported the leak first.",
        "Yesterday {} arrived.",
    ],
}


def test_pii_recall_per_entity_type():
    rng = random.Random(1234)
    per_type = 40
    listed_names: list[str] = []
    cases: list[tuple[str, str, str]] = []
    for kind, templates in TEMPLATES.items():
        for i in range(per_type):
            value = _generate(kind, rng)
            template = templates[i % len(templates)]
            if kind == "ID_NUMBER" and not value[0].isdigit():
                template = "Passport number {} was scanned."
            elif kind == "ID_NUMBER":
                template = "Her SSN is {} according to the form."
            if kind == "PERSON" and template.startswith(("{}", "Yesterday")):
                listed_names.append(value)  # no title: found through the configurable list
            cases.append((kind, value, template.format(value)))
    assert len(cases) >= 100
    redactor = Redactor(names=listed_names)
    hits: dict[str, list[bool]] = {}
    for kind, value, sentence in cases:
        start = sentence.index(value)
        found = [
            e
            for e in redactor.find(sentence)
            if e.type == kind and e.start <= start and e.end >= start + len(value)
        ]
        hits.setdefault(kind, []).append(bool(found))
    recall = {kind: sum(v) / len(v) for kind, v in hits.items()}
    assert set(recall) == set(redact.ENTITY_TYPES)
    assert all(r >= 0.95 for r in recall.values()), recall


def test_redaction_leaves_technical_text_alone(apollo_text):
    # timestamps, quantities and version-like numbers are not PII: at most a handful of hits in 280 KB
    found = Redactor().find(apollo_text)
    assert len(found) <= 3, found
    text = "At 55:54:53 the tank failed; the burn lasted 412 seconds on 14 March 1970 at 09:12; 27 orbits."
    assert Redactor().redact(text) == (text, {})


def test_redaction_step_redacts_question_and_answer():
    records = [
        _record(
            "a",
            "What is Ingrid's mail, ingrid@orion.example?",
            "Call Dr. Ingrid Valtersson on +46 8 555 0199 [1].",
        )
    ]
    out, counts = process_records(records, {"c1": "Dr. Ingrid Valtersson, +46 8 555 0199"}, _cfg())
    assert out[0]["input"] == "What is Ingrid's mail, [EMAIL]?"
    assert out[0]["response"] == "Call Dr. [PERSON] on [PHONE] [1]."
    assert counts["redaction"]["redacted_EMAIL"] == 1 and out[0]["metadata"]["redactions"]["PHONE"] == 1


# ----------------------------------------------------------------------------- the stage
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run_dir(tmp_path_factory.mktemp("quality") / "run")


def test_run_quality_exports_review_and_reruns_idempotently(run_dir):
    def responder(prompt, i):
        question = prompt[1].content
        if "Who" in question:
            return "Aliens from Venus wrote it in crayon."  # ungrounded → pending review
        return teacher_responder(prompt, i)

    config = load_config(
        None,
        [
            f"run_dir={run_dir}",
            "retrieval.kind=bm25",
            "retrieval.min_score=0.5",
            "quality.embedding_check=false",
            "teacher.splits=[train,validation,test]",  # wherever the "who" questions landed
        ],
    )
    run_teacher(config, backend=FakeBackend(responder))
    summary = run_quality(config)
    records = read_teacher_records(run_dir / "teacher.jsonl")
    review = read_jsonl(run_dir / "review.jsonl")
    assert (run_dir / "teacher_raw.jsonl").exists()
    assert review and all(r["metadata"]["review_status"] == "pending" for r in review)
    assert {r["id"] for r in review} == {
        r["id"] for r in records if r["metadata"]["review_status"] == "pending"
    }
    assert all("Who" in r["input"] for r in review)
    step = next(s for s in read_json(run_dir / "manifest.json")["steps"] if s["name"] == "quality")
    assert step["counts"]["pending_review"] == len(review) == summary["pending_review"]
    assert set(step["steps"]) == {"groundedness", "validity", "dedup", "redaction", "review"}

    # a reviewer approves one record; rerunning quality keeps the decision and does not double the trace
    ReviewStore(run_dir).decide(review[0]["id"], "approve")
    run_quality(config)
    again = {r["id"]: r for r in read_teacher_records(run_dir / "teacher.jsonl")}
    approved = again[review[0]["id"]]
    assert approved["metadata"]["review_status"] == "approved"
    names = [s["name"] for s in approved["trace"]["processing_steps"]]
    assert names == ["teacher", "groundedness", "validity", "dedup", "redaction", "review"]
    assert len(read_jsonl(run_dir / "review.jsonl")) == len(review) - 1
    json.dumps(again)  # plain JSON all the way
