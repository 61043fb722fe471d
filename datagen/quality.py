"""Post-processing of teacher records: grounding, grading, validity/tags, dedup, redaction, review.

``run_quality(config)`` rewrites ``teacher.jsonl`` in place (the teacher's original output is
kept as ``teacher_raw.jsonl``, so rerunning starts from it) through these steps, each appending
one entry to every surviving record's ``trace.processing_steps`` and its counts to the
manifest's ``quality`` step:

1. ``groundedness`` — sentences of the answer supported by the retrieved chunks (lexical overlap
   or embedding similarity, :mod:`teacherforge.datagen.grounding`); unsupported ones are listed
   in ``metadata.unsupported_sentences``.
2. ``llm_grading`` (``quality.llm_grading``) — a rubric prompt returns ``quality``/``confidence``
   (1–5, scaled to 0–1) through the run dir's LLM cache.
3. ``validity`` — ``is_valid``, ``tags`` (``unanswerable``, ``multi_hop``, ``low_confidence``,
   ``ungrounded``, ``retrieval_miss``, ``no_context``), ``quality_score``/``confidence_score``
   and ``review_status`` (``pending`` for invalid or low-confidence records). An abstention
   ("the sources do not contain the answer") is valid exactly when the gold chunk was *not*
   retrieved.
4. ``dedup`` — exact and MinHash near-duplicates removed (:mod:`teacherforge.datagen.dedup`).
5. ``redaction`` (``quality.redact``) — sensitive entities in question and answer replaced
   (:mod:`teacherforge.datagen.redact`).

Records flagged ``pending`` are also exported to ``review.jsonl`` for ``teacherforge review``;
a reviewer's decision recorded in ``teacher.jsonl`` survives a rerun of this stage.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from teacherforge.config import Config, QualityConfig
from teacherforge.datagen.grounding import check_groundedness
from teacherforge.rag import is_refusal
from teacherforge.records import read_teacher_records, validate_record
from teacherforge.run import NAMES, RunLayout
from teacherforge.types import GenerationParams, Message
from teacherforge.workspace import (
    RunDir,
    Step,
    atomic_write_jsonl,
    config_slice,
    read_jsonl,
    skipped_summary,
    stable_hash,
    utc_now,
)

STEP_NAMES = ("groundedness", "llm_grading", "validity", "dedup", "redaction")
_ABSTAIN = re.compile(
    r"\b(?:sources?|context|passages?|documents?)\b.{0,40}\b(?:do(?:es)?\s?n[o']t|do(?:es)? not)\s+"
    r"(?:contain|mention|say|include|provide)",
    re.IGNORECASE,
)
GRADING_PROMPT = (
    "Grade the answer to the question using only the numbered sources. Reply with one JSON object: "
    '{"quality": <1-5, 5 = correct, complete and supported by the sources>, '
    '"confidence": <1-5, how sure you are>, "reason": "<one sentence>"}'
)


def _step(record: dict[str, Any], name: str, params: dict[str, Any]) -> None:
    record["trace"]["processing_steps"].append({"name": name, "timestamp": utc_now(), "params": params})


def _tag(record: dict[str, Any], tag: str) -> None:
    tags = record["metadata"].setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def is_abstention(text: str) -> bool:
    """True when an answer says the sources do not contain the answer (or refuses).

    >>> is_abstention("The provided sources do not contain the answer to this question.")
    True
    >>> is_abstention("Pump 2 failed [1].")
    False
    """
    return bool(_ABSTAIN.search(text)) or is_refusal(text)


def step_groundedness(
    records: list[dict[str, Any]], chunk_text: dict[str, str], cfg: QualityConfig, embedder: Any = None
) -> Counter:
    """Step 1: score every record's answer against its retrieved chunks; flag unsupported sentences."""
    contexts = [[chunk_text.get(r["chunk_id"], "") for r in rec["retrieved"]] for rec in records]
    results = check_groundedness(
        [rec["response"] for rec in records],
        contexts,
        lexical_threshold=cfg.groundedness_threshold,
        embedder=embedder if cfg.embedding_check else None,
        embedding_threshold=cfg.embedding_threshold,
    )
    counts: Counter = Counter()
    params = {
        "lexical_threshold": cfg.groundedness_threshold,
        "embedding_check": embedder is not None and cfg.embedding_check,
        "embedding_threshold": cfg.embedding_threshold,
    }
    for rec, res in zip(records, results):
        rec["metadata"]["groundedness"] = round(res.score, 4)
        rec["metadata"]["unsupported_sentences"] = list(res.unsupported)
        counts["unsupported_sentences"] += len(res.unsupported)
        counts["records_with_unsupported"] += bool(res.unsupported)
        _step(rec, "groundedness", params)
    return counts


def parse_grade(text: str) -> tuple[float, float] | None:
    """``(quality, confidence)`` in [0, 1] from a grader reply, or ``None`` if unparseable.

    >>> parse_grade('Sure: {"quality": 4, "confidence": 5, "reason": "ok"}')
    (0.8, 1.0)
    >>> parse_grade("great answer") is None
    True
    """
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        return None
    try:
        data = json.loads(match.group())
        quality, confidence = float(data["quality"]), float(data["confidence"])
    except (ValueError, KeyError, TypeError):
        return None
    if not (1 <= quality <= 5 and 1 <= confidence <= 5):
        return None
    return quality / 5, confidence / 5


def step_llm_grading(
    records: list[dict[str, Any]],
    chunk_text: dict[str, str],
    backend: Any,
    batch_size: int = 8,
    seed: int = 0,
) -> Counter:
    """Step 2: grade every record with the rubric prompt (greedy, cached by the backend)."""
    from teacherforge.rag import format_sources

    params = GenerationParams(max_new_tokens=96, temperature=0.0, seed=seed)
    counts: Counter = Counter()
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        prompts = [
            (
                Message("system", GRADING_PROMPT),
                Message(
                    "user",
                    (
                        f"Sources:\n{format_sources([chunk_text.get(r['chunk_id'], '') for r in rec['retrieved']])}\n\n"
                        f"Question: {rec['input']}\nAnswer: {rec['response']}"
                    ),
                ),
            )
            for rec in batch
        ]
        for rec, completion in zip(batch, backend.generate(prompts, params)):
            grade = parse_grade(completion.text)
            if grade is None:
                counts["unparseable"] += 1
                _tag(rec, "grading_failed")
            else:
                rec["metadata"]["llm_quality"], rec["metadata"]["llm_confidence"] = grade
                counts["graded"] += 1
            _step(rec, "llm_grading", {"grader": getattr(backend, "identity", "unknown")})
    return counts


def step_validity(records: list[dict[str, Any]], cfg: QualityConfig) -> Counter:
    """Step 3: decide ``is_valid``, tags, scores and ``review_status`` for every record."""
    counts: Counter = Counter()
    for rec in records:
        meta, trace = rec["metadata"], rec["trace"]
        sources = set(trace.get("source_chunk_ids") or [trace["chunk_id"]])
        retrieved = {r["chunk_id"] for r in rec["retrieved"]}
        gold_retrieved = bool(sources & retrieved)
        grounded = meta.get("groundedness", 0.0)
        if len(sources) > 1:
            _tag(rec, "multi_hop")
        if not retrieved:
            _tag(rec, "no_context")
        if not gold_retrieved:
            _tag(rec, "retrieval_miss")
        if meta.get("unsupported_sentences"):
            _tag(rec, "ungrounded")
        if not rec["response"].strip():
            valid = False
        elif is_abstention(rec["response"]):
            _tag(rec, "unanswerable")
            valid = not gold_retrieved
            grounded = 1.0 if valid else 0.0
        else:
            valid = grounded >= cfg.min_supported_share
        meta["quality_score"] = round(meta.get("llm_quality", grounded), 4)
        meta["confidence_score"] = round(
            meta.get("llm_confidence", grounded if gold_retrieved else grounded / 2), 4
        )
        if (
            meta["confidence_score"] < cfg.review_below_quality
            or meta["quality_score"] < cfg.review_below_quality
        ):
            _tag(rec, "low_confidence")
        meta["is_valid"] = valid
        if meta.get("review_status", "auto") in ("auto", "pending"):
            meta["review_status"] = "pending" if (not valid or "low_confidence" in meta["tags"]) else "auto"
        counts["valid" if valid else "invalid"] += 1
        counts["pending"] += meta["review_status"] == "pending"
        for tag in meta["tags"]:
            counts[f"tag_{tag}"] += 1
        _step(
            rec,
            "validity",
            {
                "min_supported_share": cfg.min_supported_share,
                "review_below_quality": cfg.review_below_quality,
            },
        )
    return counts


def step_dedup(records: list[dict[str, Any]], threshold: float) -> tuple[list[dict[str, Any]], Counter]:
    """Step 4: drop exact and near-duplicate records (question + answer); keep the first of each."""
    from teacherforge.datagen.dedup import deduplicate

    result = deduplicate([f"{r['input']}\n{r['response']}" for r in records], threshold=threshold)
    kept = [records[i] for i in result.kept]
    for rec in kept:
        _step(rec, "dedup", {"near_duplicate_threshold": threshold})
    return kept, Counter({"exact_duplicates": len(result.exact), "near_duplicates": len(result.near)})


def step_redaction(records: list[dict[str, Any]], names: Sequence[str]) -> Counter:
    """Step 5: redact sensitive entities in every record's question and answer."""
    from teacherforge.datagen.redact import Redactor

    redactor = Redactor(names=names)
    counts: Counter = Counter()
    for rec in records:
        found: Counter = Counter()
        for key in ("input", "response"):
            rec[key], c = redactor.redact(rec[key])
            found.update(c)
        rec["metadata"]["redactions"] = dict(found)
        counts.update({f"redacted_{k}": v for k, v in found.items()})
        counts["records_redacted"] += bool(found)
        _step(rec, "redaction", {"types": list(redactor.types), "names": len(names)})
    return counts


def process_records(
    records: list[dict[str, Any]],
    chunk_text: dict[str, str],
    cfg: QualityConfig,
    *,
    embedder: Any = None,
    grader: Any = None,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], dict]:
    """Run every enabled step over ``records`` (modified in place); return survivors and counts per step."""
    counts: dict[str, dict[str, int]] = {}
    counts["groundedness"] = dict(step_groundedness(records, chunk_text, cfg, embedder))
    if cfg.llm_grading:
        if grader is None:
            raise ValueError("quality.llm_grading is on but no grader backend was given")
        counts["llm_grading"] = dict(step_llm_grading(records, chunk_text, grader, cfg.llm.batch_size, seed))
    counts["validity"] = dict(step_validity(records, cfg))
    before = len(records)
    records, dedup_counts = step_dedup(records, cfg.near_duplicate_threshold)
    counts["dedup"] = {**dedup_counts, "removed": before - len(records)}
    if cfg.redact:
        counts["redaction"] = dict(step_redaction(records, cfg.redact_names))
    for rec in records:
        validate_record(rec, f"record {rec['id']}")
    return records, counts


def _load_source(layout: RunLayout) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Raw teacher records (saving ``teacher_raw.jsonl`` on first use) and reviewer decisions to keep."""
    current = read_teacher_records(layout.teacher)
    processed = any(s["name"] in STEP_NAMES for r in current for s in r["trace"]["processing_steps"])
    if not processed:
        atomic_write_jsonl(layout.teacher_raw, current)
        return current, {}
    if not layout.teacher_raw.exists():
        raise FileNotFoundError(
            f"{layout.teacher_raw} missing; rerun `teacherforge teacher` to regenerate records"
        )
    reviewed = {
        r["id"]: r for r in current if any(s["name"] == "review" for s in r["trace"]["processing_steps"])
    }
    return read_jsonl(layout.teacher_raw), reviewed


def _apply_reviews(records: list[dict[str, Any]], reviewed: dict[str, dict[str, Any]]) -> int:
    applied = 0
    for rec in records:
        old = reviewed.get(rec["id"])
        if old is None:
            continue
        rec["metadata"]["review_status"] = old["metadata"]["review_status"]
        rec["response"] = old["response"]
        rec["trace"]["processing_steps"] += [
            s for s in old["trace"]["processing_steps"] if s["name"] == "review"
        ]
        applied += 1
    return applied


def quality_step(config: Config, opaque: bool = False) -> Step:
    """What the quality stage reads and writes: the config keys and files of its fingerprint.

    Every ``quality`` key (the names to redact as a hash, so they stay out of the manifest; the
    grading LLM's answer-changing fields only with ``llm_grading``), the seed and, with the
    embedding check, the embedder; ``teacher.jsonl`` (rewritten in place) and the chunks.
    """

    qc = config.quality
    keys = [f"quality.{f.name}" for f in dataclasses.fields(qc) if f.name not in ("llm", "redact_names")]
    settings = {**config_slice(config, "seed", *keys), "quality.redact_names": stable_hash(qc.redact_names)}
    if qc.llm_grading:
        settings["quality.llm"] = qc.llm.answer_settings()
    if qc.embedding_check:
        settings["retrieval.embedder"] = config.retrieval.embedder
    outputs = [NAMES.teacher, NAMES.review, NAMES.teacher_raw]
    return Step("quality", settings, [NAMES.teacher, NAMES.chunks], outputs, opaque=opaque)


def run_quality(config: Config, grader: Any = None, embedder: Any = None) -> dict[str, Any]:
    """The quality stage (see the module docstring); returns and prints a summary.

    Skipped when already done (:func:`quality_step`). ``grader`` overrides the configured
    grading LLM and ``embedder`` the grounding embedder (tests pass doubles; such a run always
    runs); by default the run's retrieval embedder is used.
    """
    qc = config.quality
    started = time.perf_counter()
    layout = RunLayout(config.run_path)
    layout.require([layout.teacher, layout.chunks], "teacherforge teacher")
    declared = quality_step(config, opaque=grader is not None or embedder is not None)
    with RunDir(config.run_path) as run:
        done = run.done(declared)
        if done is not None:
            return skipped_summary(done)
        records, reviewed = _load_source(layout)
        chunk_text = {c["chunk_id"]: c["text"] for c in read_jsonl(layout.chunks)}
        if qc.embedding_check and embedder is None:
            from teacherforge.retrieval import Embedder

            embedder = Embedder(config.retrieval.embedder, config.retrieval.batch_size)
        owned = None
        if qc.llm_grading and grader is None:
            from teacherforge.llm import build_backend

            grader = owned = build_backend(qc.llm, cache_path=layout.cache)
        with run.step(declared) as step:
            try:
                kept, counts = process_records(
                    records, chunk_text, qc, embedder=embedder, grader=grader, seed=config.seed
                )
            finally:
                if owned is not None and hasattr(owned, "close"):
                    owned.close()
            counts["review"] = {"decisions_kept": _apply_reviews(kept, reviewed)}
            pending = [r for r in kept if r["metadata"]["review_status"] == "pending"]
            atomic_write_jsonl(layout.teacher, kept)
            atomic_write_jsonl(layout.review, pending)
            step.outputs.update(
                {"teacher": str(NAMES.teacher), "review": str(NAMES.review), "raw": str(NAMES.teacher_raw)}
            )
            step.counts.update(
                {
                    "input": len(records),
                    "output": len(kept),
                    "pending_review": len(pending),
                    "valid": sum(r["metadata"]["is_valid"] for r in kept),
                }
            )
            step.extra["steps"] = counts
            summary = {
                "run_dir": str(run.path),
                "status": "done",
                "seconds": round(time.perf_counter() - started, 3),
                **step.counts,
                "steps": counts,
                "teacher": str(layout.teacher),
                "review": str(layout.review),
            }
            step.extra["summary"] = summary
    print(format_summary(summary))
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen summary of a quality run."""
    lines = [
        f"teacherforge quality: {summary['run_dir']}  ({summary['seconds']:.1f} s)",
        f"  records in {summary['input']}, out {summary['output']}, valid {summary['valid']}, "
        f"pending review {summary['pending_review']}",
    ]
    for name, counts in summary["steps"].items():
        shown = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"
        lines.append(f"  {name:<13} {shown}")
    lines.append(f"  outputs: {summary['teacher']}, {summary['review']}")
    return "\n".join(lines)
