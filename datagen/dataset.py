"""The dataset builder: teacher records → chat ``messages`` train/validation/test in ``dataset/``.

Each kept record becomes one conversation in the RAG prompt the teacher saw
(:mod:`teacherforge.rag`): system (instructions + the numbered retrieved
chunks), user (the question), assistant (the answer). Records are kept when their
``review_status`` is in ``dataset.include_review_statuses`` and they are valid (or a reviewer
approved them). The split is the one assigned at data generation (by chunk, carried in each
record's trace and checked against ``questions.json``), so no source chunk reaches two splits.

``dataset.rag_failure_share`` adds RAG-failure examples: a kept record's question with
distractor chunks of the same split (never its own source chunks), answered with
:data:`~teacherforge.rag.NOT_IN_CONTEXT`; the share is of the final examples of
each split. With ``quality.redact`` the context chunks are redacted like the records were.

Examples of questions the feedback loop derived from a student failure carry the question's
``metadata.feedback`` (round, reasons, weight: the SFT and GRPO stages oversample them by it).
``dataset.hard_negatives`` adds, for each such example whose failure retrieved other chunks than
the gold one, a RAG-failure example whose context is those confusing chunks (only ones that do
not hold the answer), so the student learns that what the failed search returned does not answer it.

Outputs in ``<run_dir>/dataset/``: ``{train,validation,test}.jsonl`` (``{"id", "messages",
"split", "metadata"}``), ``hf/`` (a ``datasets.DatasetDict``), ``axolotl/{split}.jsonl``
(``input_output`` segments with train flags, rendered with the ChatML training template) and
``dataset_info.json`` (version, parent version, counts, stratification by difficulty and
tag, RAG-failure share) and ``README.md``, the dataset card (:mod:`teacherforge.datagen.dataset_card`). The version is a content hash of the three JSONL splits; the
manifest records it (``dataset``) with its parent: the version it replaced in this run dir or,
on the first build of a feedback round, the parent round's version (the loop seeds the
round's manifest with ``{"parent": <version>}``). A rebuild with the same content keeps the parent.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from teacherforge.config import Config
from teacherforge.datagen.dataset_card import build_card
from teacherforge.rag import NOT_IN_CONTEXT, rag_messages
from teacherforge.records import SPLITS, RecordMetadata, TeacherRecord
from teacherforge.rewards.answer import normalize_answer
from teacherforge.run import NAMES, RunLayout
from teacherforge.workspace import (
    RunDir,
    Step,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    config_slice,
    read_jsonl,
    skipped_summary,
    stable_hash,
)


def keep_record(meta: RecordMetadata, statuses: Sequence[str]) -> bool:
    """Whether a teacher record with metadata ``meta`` goes into the dataset (status allowed;
    valid or approved).

    >>> from teacherforge.records import Tokens
    >>> meta = RecordMetadata("oracle", "teacherforge dev", "oracle", 0.0, "rag@0", Tokens(0, 0))
    >>> keep_record(meta, ["auto", "approved"])
    True
    >>> import dataclasses
    >>> keep_record(dataclasses.replace(meta, review_status="pending"), ["auto", "approved"])
    False
    """
    status = meta.review_status
    return status in statuses and (meta.is_valid or status == "approved")


def example_from_record(
    record: TeacherRecord, chunk_text: dict[str, str], redactor: Any = None
) -> dict[str, Any]:
    """The chat example of one teacher record."""
    retrieved = sorted(record.retrieved, key=lambda r: r.rank)
    passages = [chunk_text[r.chunk_id] for r in retrieved]
    if redactor is not None:
        passages = [redactor.redact(p)[0] for p in passages]
    meta, trace = record.metadata, record.trace
    return {
        "id": record.id,
        "messages": rag_messages(record.input, passages, record.response),
        "split": trace.split,
        "metadata": {
            "difficulty": meta.extra.get("difficulty", "medium"),
            "tags": list(meta.tags),
            "generation_method": meta.generation_method,
            "question_id": trace.question_id,
            "source_chunk_ids": list(trace.source_chunk_ids),
            "context_chunk_ids": [r.chunk_id for r in record.retrieved],
            "parent_id": record.id,
        },
    }


def rag_failure_examples(
    examples: list[dict[str, Any]],
    split_chunks: Sequence[str],
    chunk_text: dict[str, str],
    share: float,
    rng: random.Random,
    redactor: Any = None,
) -> list[dict[str, Any]]:
    """``share`` of the split's final examples as RAG failures: distractor context → "not in the sources".

    Distractors are chunks of the same split that are none of the parent's source chunks, as many
    as the parent had (at least one).
    """
    if share <= 0 or not examples:
        return []
    wanted = round(share * len(examples) / (1 - share))
    parents = [
        examples[i % len(examples)] for i in rng.sample(range(len(examples)), min(wanted, len(examples)))
    ]
    parents += [examples[rng.randrange(len(examples))] for _ in range(wanted - len(parents))]
    out = []
    for n, parent in enumerate(parents):
        meta = _unweighted(parent["metadata"])
        pool = [c for c in split_chunks if c not in set(meta["source_chunk_ids"])]
        if not pool:
            continue
        chosen = rng.sample(pool, min(len(pool), max(1, len(meta["context_chunk_ids"]))))
        passages = [chunk_text[c] for c in chosen]
        if redactor is not None:
            passages = [redactor.redact(p)[0] for p in passages]
        question = parent["messages"][1]["content"]
        out.append(
            {
                "id": f"{parent['id']}#rag_failure{n}",
                "messages": rag_messages(question, passages, NOT_IN_CONTEXT),
                "split": parent["split"],
                "metadata": {
                    **meta,
                    "tags": sorted({*meta["tags"], "rag_failure"}),
                    "generation_method": "rag_failure",
                    "context_chunk_ids": chosen,
                    "parent_id": parent["id"],
                },
            }
        )
    return out


def _unweighted(meta: dict[str, Any]) -> dict[str, Any]:
    """An example's metadata without ``feedback``: examples made from another are not oversampled."""
    return {k: v for k, v in meta.items() if k != "feedback"}


def hard_negative_examples(
    examples: Sequence[dict[str, Any]],
    split_chunks: Sequence[str],
    chunk_text: dict[str, str],
    redactor: Any = None,
) -> list[dict[str, Any]]:
    """RAG-failure examples from the chunks a failed retrieval returned (``metadata.feedback``).

    For each example with ``hard_negative_chunk_ids``: those that are chunks of its split
    (``split_chunks``: no other split's text reaches training) and do not contain its answer
    become the context, answered with :data:`~teacherforge.rag.NOT_IN_CONTEXT`.
    """
    in_split = set(split_chunks)
    out = []
    for parent in examples:
        negatives = (parent["metadata"].get("feedback") or {}).get("hard_negative_chunk_ids") or []
        meta = _unweighted(parent["metadata"])
        answer = normalize_answer(parent["messages"][-1]["content"])
        chosen = [
            c
            for c in negatives
            if c in in_split
            and c not in meta["source_chunk_ids"]
            and answer not in normalize_answer(chunk_text[c])
        ]
        if not chosen or not answer:
            continue
        passages = [chunk_text[c] for c in chosen]
        if redactor is not None:
            passages = [redactor.redact(p)[0] for p in passages]
        out.append(
            {
                "id": f"{parent['id']}#hard_negative",
                "messages": rag_messages(parent["messages"][1]["content"], passages, NOT_IN_CONTEXT),
                "split": parent["split"],
                "metadata": {
                    **meta,
                    "tags": sorted({*meta["tags"], "rag_failure", "hard_negative"}),
                    "generation_method": "rag_failure",
                    "context_chunk_ids": chosen,
                    "parent_id": parent["id"],
                },
            }
        )
    return out


def stratification(splits: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Counts and shares by difficulty and tag per split, plus each split's largest deviation in
    difficulty share from the whole dataset."""
    report: dict[str, Any] = {}
    everything = [ex for rows in splits.values() for ex in rows]
    overall = Counter(ex["metadata"]["difficulty"] for ex in everything)
    total = max(1, len(everything))
    for split, rows in splits.items():
        difficulty = Counter(ex["metadata"]["difficulty"] for ex in rows)
        tags = Counter(t for ex in rows for t in ex["metadata"]["tags"])
        n = max(1, len(rows))
        report[split] = {
            "examples": len(rows),
            "difficulty": dict(sorted(difficulty.items())),
            "difficulty_share": {k: round(v / n, 4) for k, v in sorted(difficulty.items())},
            "tags": dict(sorted(tags.items())),
            "rag_failure_share": round(
                sum(ex["metadata"]["generation_method"] == "rag_failure" for ex in rows) / n, 4
            ),
            "max_difficulty_deviation": round(
                max((abs(difficulty.get(k, 0) / n - v / total) for k, v in overall.items()), default=0.0), 4
            )
            if rows
            else None,
        }
    report["overall_difficulty_share"] = {k: round(v / total, 4) for k, v in sorted(overall.items())}
    return report


def build_examples(
    records: Sequence[TeacherRecord],
    chunks: list[dict[str, Any]],
    question_splits: dict[str, str],
    *,
    statuses: Sequence[str],
    rag_failure_share: float,
    seed: int = 0,
    redactor: Any = None,
    feedback: dict[str, Any] | None = None,
    hard_negatives: bool = False,
    chunk_splits: dict[str, str] | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], Counter]:
    """Split examples (with RAG failures added) and counts of what was left out and why.

    ``feedback`` maps question ids to their ``metadata.feedback`` (questions derived from failures);
    ``chunk_splits`` the split of every chunk some question is about (hard negatives must share
    their example's split; default: the chunks of the examples).
    """
    feedback = feedback or {}
    chunk_text = {c["chunk_id"]: c["text"] for c in chunks}
    skipped: Counter = Counter()
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for record in records:
        qid, split = record.trace.question_id, record.trace.split
        if question_splits.get(qid, split) != split:
            raise ValueError(
                f"teacher record {record.id}: split {split!r} differs from {NAMES.questions_file} "
                f"({question_splits[qid]!r}); rerun `teacherforge teacher`"
            )
        if not keep_record(record.metadata, statuses):
            skipped["review_status" if record.metadata.review_status not in statuses else "invalid"] += 1
            continue
        example = example_from_record(record, chunk_text, redactor)
        if qid in feedback:
            example["metadata"]["feedback"] = feedback[qid]
        splits[split].append(example)
    chunk_split: dict[str, set[str]] = {s: set() for s in SPLITS}
    for rows in splits.values():
        for ex in rows:
            for cid in ex["metadata"]["source_chunk_ids"]:
                chunk_split[ex["split"]].add(cid)
    rng = random.Random(seed)
    for split in SPLITS:
        pool = sorted(chunk_split[split])
        answered = list(splits[split])
        splits[split] += rag_failure_examples(answered, pool, chunk_text, rag_failure_share, rng, redactor)
        if hard_negatives:
            known = [c for c, s in (chunk_splits or {}).items() if s == split]
            splits[split] += hard_negative_examples(answered, [*pool, *known], chunk_text, redactor)
    return splits, skipped


def _axolotl_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The segments follow the student's ChatML training template, which lives with the trainers.
    from teacherforge.chat_template import render_segments

    return [
        {
            "id": ex["id"],
            "segments": [
                {"label": trainable, "text": text} for text, trainable in render_segments(ex["messages"])
            ],
        }
        for ex in rows
    ]


def _save_hf(splits: dict[str, list[dict[str, Any]]], path: Any) -> None:
    from datasets import Dataset, DatasetDict, Features, Sequence, Value

    features = Features(
        {
            "id": Value("string"),
            "split": Value("string"),
            "difficulty": Value("string"),
            "generation_method": Value("string"),
            "tags": Sequence(Value("string")),
            "messages": [{"role": Value("string"), "content": Value("string")}],
        }
    )
    columns = {
        split: {
            "id": [ex["id"] for ex in rows],
            "split": [ex["split"] for ex in rows],
            "difficulty": [ex["metadata"]["difficulty"] for ex in rows],
            "generation_method": [ex["metadata"]["generation_method"] for ex in rows],
            "tags": [ex["metadata"]["tags"] for ex in rows],
            "messages": [ex["messages"] for ex in rows],
        }
        for split, rows in splits.items()
    }
    data = DatasetDict({split: Dataset.from_dict(cols, features=features) for split, cols in columns.items()})
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix=".hf.", dir=path.parent)
    try:
        # an empty split gets one empty shard: with none, ``load_from_disk`` fails on it
        data.save_to_disk(tmp, num_shards={split: 1 for split, rows in splits.items() if not rows})
        if path.exists():
            shutil.rmtree(path)
        shutil.move(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def dataset_step(config: Config) -> Step:
    """What the dataset stage reads and writes: the config keys and files of its fingerprint.

    Every ``dataset`` key, the seed and the redaction settings (names as a hash); the teacher
    records, the chunks (distractors) and the questions (splits).
    """
    keys = [f"dataset.{f.name}" for f in dataclasses.fields(config.dataset)]
    settings = config_slice(config, "seed", "quality.redact", *keys)
    settings["quality.redact_names"] = stable_hash(config.quality.redact_names)
    outputs = [NAMES.dataset_split(split) for split in SPLITS] + [NAMES.dataset_info, NAMES.dataset_card]
    outputs += [NAMES.axolotl_dir] if config.dataset.axolotl else []
    outputs += [NAMES.hf_dataset] if config.dataset.hf_dataset else []
    return Step("dataset", settings, [NAMES.teacher, NAMES.chunks, NAMES.questions_file], outputs)


def run_dataset(config: Config) -> dict[str, Any]:
    """The dataset stage (see the module docstring); returns and prints a summary.

    Skipped when already done (:func:`dataset_step`).
    """
    dc = config.dataset
    started = time.perf_counter()
    layout = RunLayout(config.run_path)
    layout.require([layout.teacher, layout.chunks, layout.questions_file], "teacherforge teacher")
    declared = dataset_step(config)
    with RunDir(config.run_path) as run:
        done = run.done(declared)
        if done is not None:
            return skipped_summary(done)
        records = layout.teacher_records()
        chunks = read_jsonl(layout.chunks)
        questions = layout.questions(None)
        question_splits = {q.id: q.split for q in questions}
        feedback = {q.id: dict(q.metadata["feedback"]) for q in questions if "feedback" in q.metadata}
        redactor = None
        if config.quality.redact:
            from teacherforge.datagen.redact import Redactor

            redactor = Redactor(names=config.quality.redact_names)
        out = layout.dataset_dir
        with run.step(declared) as step:
            splits, skipped = build_examples(
                records,
                chunks,
                question_splits,
                statuses=dc.include_review_statuses,
                rag_failure_share=dc.rag_failure_share,
                seed=config.seed,
                redactor=redactor,
                feedback=feedback,
                hard_negatives=dc.hard_negatives,
                chunk_splits={c: q.split for q in questions for c in (q.chunk_id, *q.source_chunk_ids)},
            )
            for split, rows in splits.items():
                atomic_write_jsonl(layout.dataset_split(split), rows)
                step.outputs[split] = str(NAMES.dataset_split(split))
            if dc.axolotl:
                for split, rows in splits.items():
                    atomic_write_jsonl(layout.axolotl_split(split), _axolotl_rows(rows))
                step.outputs["axolotl"] = str(NAMES.axolotl_dir)
            if dc.hf_dataset:
                _save_hf(splits, layout.hf_dataset)
                step.outputs["hf"] = str(NAMES.hf_dataset)
            version = stable_hash({s: rows for s, rows in splits.items()})
            previous = (run.manifest.get("dataset") or {}).get("version")
            parent = (
                previous
                if previous and previous != version
                else (run.manifest.get("dataset") or {}).get("parent")
            )
            report = stratification(splits)
            info = {
                "version": version,
                "parent": parent,
                "counts": {s: len(r) for s, r in splits.items()},
                "skipped": dict(skipped),
                "rag_failure_share": dc.rag_failure_share,
                "stratification": report,
            }
            atomic_write_json(layout.dataset_info, info)
            card = build_card(
                splits,
                info,
                name=config.name,
                chunks=chunks,
                records=records,
                questions=questions,
                manifest=run.manifest,
                inputs=step.inputs,
                axolotl=dc.axolotl,
                hf_dataset=dc.hf_dataset,
                license=dc.license,
            )
            atomic_write_text(layout.dataset_card, card.render())
            step.counts.update(
                {**{s: len(r) for s, r in splits.items()}, **{f"skipped_{k}": v for k, v in skipped.items()}}
            )
            summary = {
                "run_dir": str(run.path),
                "status": "done",
                "seconds": round(time.perf_counter() - started, 3),
                "dataset": str(out),
                **info,
            }
            step.extra.update({"version": version, "parent": parent, "summary": summary})
        run.set("dataset", {"version": version, "parent": parent, "path": str(out)})
    print(format_summary(summary))
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen summary of a dataset build."""
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    skipped = ", ".join(f"{k}={v}" for k, v in summary["skipped"].items()) or "none"
    lines = [
        f"teacherforge dataset: {summary['dataset']}  ({summary['seconds']:.1f} s)",
        f"  version {summary['version']} (parent {summary['parent']}); {counts}; skipped: {skipped}",
    ]
    for split in SPLITS:
        s = summary["stratification"][split]
        lines.append(
            f"  {split:<10} difficulty {s['difficulty']}  rag_failure {s['rag_failure_share']:.2f}  "
            f"tags {s['tags']}"
        )
    return "\n".join(lines)
