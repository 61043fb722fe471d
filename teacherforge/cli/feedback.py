"""The feedback loop: evaluate → collect failures → new data → new dataset version → retrain → evaluate.

A round lives in ``<run_dir>/rounds/round_NN/``, a complete run directory of its own (one
run dir per dataset version): chunks and indexes copied from the parent, the parent's
questions plus new ones derived from the student's failures, and the parent's LLM cache
(so re-answering old questions costs nothing). Its manifest names the parent dataset and
``failures.jsonl`` keeps the failing records every new question points back to
(``metadata.feedback.derived_from``).

Failures are mined on the **training** split, so the held-out questions stay held out:

* ``student_wrong`` — the student's F1 is below the threshold where the teacher's is above;
* ``retrieval_miss`` — the gold chunk was not retrieved;
* ``low_confidence`` — the student refused or gave no answer.

"Student challenges teacher": where the two disagree and the student's answer is supported
by the gold chunk while the teacher's is not, the teacher record is flagged for review
(``review_status: pending``, tag ``student_challenge``) instead of being trained on. With the
oracle teacher (gold answers) there is nothing to challenge: the round reports "not applicable".

What a round trains on: the derived questions' examples are oversampled by their weight
(``sft.feedback_oversample``, ``grpo.feedback_oversample``), a failed retrieval's confusing chunk
becomes a hard-negative RAG-failure example (``dataset.hard_negatives``), and training continues
from the previous round's adapter (``loop.init: continue``) or starts again from the base model
(``loop.init: base``). Every round is scored on the same held-out questions as its parent.

A round never retrains on the data it already had: it stops with a one-line reason
(:attr:`RoundResult.stopped`) when there is nothing new (no failures, or no question derivable
from them, and no challenged record) or when its dataset version equals its parent's (every
new question was dropped on the way: teacher splits, teacher drops, quality filter, review).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacherforge.config import Config
from teacherforge.records import as_questions
from teacherforge.run import ReportDir, RunLayout
from teacherforge.trainers.metrics import Interval, change_word, paired_difference_ci
from teacherforge.types import Chunk
from teacherforge.workspace import (
    RunDir,
    atomic_write_json,
    atomic_write_jsonl,
    read_json,
    read_jsonl,
    utc_now,
)


@dataclass(frozen=True)
class Failure:
    """One training question the student got wrong, with why."""

    question_id: str
    chunk_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    student_answer: str | None
    teacher_answer: str | None
    student_f1: float
    retrieved_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def collect_failures(
    rows: Sequence[dict], teacher: str, student: str, questions: Sequence[dict], f1_threshold: float = 0.5
) -> list[Failure]:
    """Failures of ``student`` in the per-question ``rows`` of an evaluation (any mode)."""
    by_key = {(r["model"], r["mode"], r["question_id"]): r for r in rows}
    chunks_of = {q["id"]: tuple(q.get("source_chunk_ids") or [q["chunk_id"]]) for q in questions}
    failures: dict[str, Failure] = {}
    for (model, mode, qid), row in sorted(by_key.items()):
        if model != student or qid in failures:
            continue
        teacher_row = by_key.get((teacher, mode, qid))
        reasons = []
        if row["f1"] < f1_threshold and teacher_row is not None and teacher_row["f1"] >= f1_threshold:
            reasons.append("student_wrong")
        if not row["gold_hit"]:
            reasons.append("retrieval_miss")
        if row["refusal"]:
            reasons.append("low_confidence")
        if reasons:
            failures[qid] = Failure(
                qid,
                chunks_of[qid],
                tuple(reasons),
                row["answer"],
                None if teacher_row is None else teacher_row["answer"],
                row["f1"],
                tuple(row["retrieved_ids"]),
            )
    return list(failures.values())


def find_challenges(
    rows: Sequence[dict],
    teacher: str,
    student: str,
    questions: Sequence[dict],
    chunk_text: dict[str, str],
    agree_f1: float = 0.5,
) -> list[str]:
    """Question ids where the student disagrees with the teacher and the gold chunk backs the student."""
    from teacherforge.datagen.validation import lexically_supported
    from teacherforge.rewards.answer import strip_citations
    from teacherforge.trainers.metrics import f1_score

    by_key = {(r["model"], r["mode"], r["question_id"]): r for r in rows}
    gold_chunks = {
        q["id"]: " ".join(chunk_text.get(c, "") for c in q.get("source_chunk_ids") or [q["chunk_id"]])
        for q in questions
    }
    challenged = []
    for (model, mode, qid), row in sorted(by_key.items()):
        teacher_row = by_key.get((teacher, mode, qid))
        if model != student or teacher_row is None or not row["answer"] or qid in challenged:
            continue
        if f1_score(row["answer"], teacher_row["answer"] or "") >= agree_f1:
            continue
        text = gold_chunks[qid]  # answers cite their passages ("[1]"): the claim is the rest
        if lexically_supported(strip_citations(row["answer"]), text) and not lexically_supported(
            strip_citations(teacher_row["answer"] or ""), text
        ):
            challenged.append(qid)
    return challenged


def derive_questions(
    failures: Sequence[Failure],
    chunks: dict[str, Chunk],
    existing: Sequence[dict],
    round_index: int,
    per_chunk: int = 3,
) -> list[dict]:
    """New questions on the failed chunks (the extractive generator, skipping questions we have).

    Each new question carries ``metadata.feedback`` with the round, the failure reasons and
    ``derived_from`` (the failing question id), plus the chunks retrieved instead of the gold
    one as ``hard_negative_chunk_ids`` and a ``weight`` that grows with how wrong the student was.
    """
    from teacherforge.datagen.questions_cloze import cloze_questions

    seen = {q["question"] for q in existing}
    split_of = {q["chunk_id"]: q["split"] for q in existing}
    new = []
    for failure in failures:
        chunk_id = failure.chunk_ids[0]
        if chunk_id not in chunks:
            continue
        for cloze in cloze_questions(chunks[chunk_id], per_chunk):
            if cloze.question in seen:
                continue
            seen.add(cloze.question)
            new.append(
                {
                    "id": f"{chunk_id}:fb{round_index}-{len(new)}",
                    "chunk_id": chunk_id,
                    "question": cloze.question,
                    "answer": cloze.answer,
                    "difficulty": cloze.difficulty,
                    "split": split_of.get(chunk_id, "train"),
                    "source_chunk_ids": [chunk_id],
                    "metadata": {
                        "generator": "cloze",
                        "feedback": {
                            "round": round_index,
                            "derived_from": failure.question_id,
                            "reasons": list(failure.reasons),
                            "hard_negative_chunk_ids": [
                                c for c in failure.retrieved_ids if c not in failure.chunk_ids
                            ],
                            "weight": round(1.0 + (1.0 - failure.student_f1), 3),
                        },
                    },
                }
            )
    return new


def prepare_round_dir(
    parent: Path, round_dir: Path, questions: list[dict], failures: Sequence[Failure], round_index: int
) -> dict[str, Any]:
    """Create the round's run dir: copies of the parent's corpus artifacts, the extended questions, lineage.

    The round's manifest starts with the parent's dataset version as the parent of the
    version its dataset build will record; returns the lineage (also in ``lineage.json``).
    """
    source, target = RunLayout(parent), RunLayout(round_dir)
    round_dir.mkdir(parents=True, exist_ok=True)
    for copied, copy in zip(source.corpus_artifacts, target.corpus_artifacts):
        if copy.exists() or not copied.exists():
            continue
        # copied beside the target, then renamed: a kill mid-copy leaves no half index behind
        partial = copy.with_name(copy.name + ".partial")
        if partial.is_dir():
            shutil.rmtree(partial)
        if copied.is_dir():
            shutil.copytree(copied, partial)
        else:
            shutil.copy2(copied, partial)
        os.replace(partial, copy)
    target.save_questions(as_questions(questions, str(target.questions_file)))
    atomic_write_jsonl(target.failures, [f.to_json() for f in failures])
    parent_manifest = RunDir.load_manifest(parent)
    lineage = {
        "round": round_index,
        "created_at": utc_now(),
        "parent_run_dir": str(parent),
        "parent_dataset_version": (parent_manifest.get("dataset") or {}).get("version"),
        "failures": len(failures),
        "new_questions": sum(
            1 for q in questions if (q.get("metadata") or {}).get("feedback", {}).get("round") == round_index
        ),
    }
    atomic_write_json(target.lineage, lineage)
    with RunDir(round_dir) as run:
        run.manifest.setdefault("lineage", lineage)
        # no version yet: the round's first dataset build records the parent's version as its parent
        run.manifest.setdefault("dataset", {"parent": lineage["parent_dataset_version"]})
        run.save_manifest()
    return lineage


def flag_challenged_records(run_dir: Path, question_ids: Sequence[str]) -> int:
    """Mark the teacher records answering ``question_ids`` for review; returns how many were flagged."""
    path = RunLayout(run_dir).teacher
    if not question_ids or not path.exists():
        return 0
    wanted = set(question_ids)
    records = read_jsonl(path)
    flagged = 0
    for record in records:
        if (record.get("trace") or {}).get("question_id") in wanted:
            metadata = record.setdefault("metadata", {})
            metadata["review_status"] = "pending"
            metadata["tags"] = sorted({*metadata.get("tags", []), "student_challenge"})
            flagged += 1
    atomic_write_jsonl(path, records)
    return flagged


@dataclass(frozen=True)
class RoundResult:
    """What one round did and how the student compares with the teacher afterwards.

    ``stopped`` says why the round did not retrain (empty when it did); a stopped round has no
    evaluation (``ratio_f1`` NaN, no ``metrics``). ``challenged`` is ``None`` where it does not
    apply (the oracle teacher). ``added`` counts the new questions by failure reason and how many
    the teacher answered and the dataset kept. ``student_f1`` is the round's student's held-out
    F1 with its bootstrap interval; ``f1_gain`` its difference to the previous round's student on
    the same questions, with a paired bootstrap interval; ``change`` its honest word ("improved"
    only when the interval excludes 0); ``init`` how training started (``loop.init``).
    """

    round: int
    run_dir: str
    failures: int
    new_questions: int
    challenged: int | None
    ratio_f1: float
    metrics: dict[str, Any]
    stopped: str = ""
    f1_gain: dict[str, Any] | None = None
    change: str = ""
    added: dict[str, Any] = dataclasses.field(default_factory=dict)
    student_f1: dict[str, Any] | None = None
    init: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def nothing_new(failures: int, new_questions: int, mined: int) -> str:
    """Why a round has no new question to train on (empty when it has some).

    >>> nothing_new(0, 0, 6)
    'no failures: the student missed none of the 6 training questions mined'
    >>> nothing_new(4, 0, 6)
    'no derivable questions: every question on the chunks of the 4 failures is already asked'
    >>> nothing_new(4, 9, 6)
    ''
    """
    if not failures:
        return f"no failures: the student missed none of the {mined} training questions mined"
    if not new_questions:
        return f"no derivable questions: every question on the chunks of the {failures} failures is already asked"
    return ""


def all_filtered(new_questions: int, version: str) -> str:
    """Why a round whose dataset equals its parent's (``version``) stops."""
    return (
        f"all filtered: none of the {new_questions} new questions reached the dataset (teacher.splits, "
        f"teacher drops, quality filter or review), so its version {version} equals the parent's"
    )


def student_f1(
    report: ReportDir, student_label: str, mode: str | None = None
) -> tuple[str | None, dict[str, float]]:
    """``(mode, {question id: F1})`` of ``student_label`` in ``mode`` (default: its first mode)."""
    rows = (
        [r for r in read_jsonl(report.results) if r["model"] == student_label]
        if report.results.exists()
        else []
    )
    mode = mode or next((r["mode"] for r in rows), None)
    return mode, {r["question_id"]: r["f1"] for r in rows if r["mode"] == mode}


def f1_gain(before: dict[str, float], after: dict[str, float], samples: int, seed: int) -> Interval:
    """Mean F1 of ``after`` minus ``before`` on the questions both answered, with a paired bootstrap CI.

    >>> f1_gain({"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 1.0, "c": 0.0}, samples=50, seed=0).mean
    0.5
    """
    ids = [q for q in after if q in before]
    return paired_difference_ci([after[q] for q in ids], [before[q] for q in ids], samples, seed=seed)


def loop_student(config: Config, run_dir: Path) -> str:
    """The model whose failures a round in ``run_dir`` mines (``loop.student``), checked in one line.

    ``auto`` is the newest trained student (``sft``, else ``grpo``); a run dir with neither is
    refused, as is a name that is no model (not ``base``/``sft``/``grpo``, an embedded model, a
    ``<backend>:<model>`` spec, a local path or a hub id).
    """
    from teacherforge.config.llm import BACKENDS
    from teacherforge.models import EMBEDDED_LLMS
    from teacherforge.run_paths import TRAINING_STAGES
    from teacherforge.trainers.eval_models import trained_adapter

    name = config.loop.student
    at = dataclasses.replace(config, run_dir=str(run_dir))
    if name == "auto":
        trained = [stage for stage in TRAINING_STAGES if trained_adapter(stage, at).is_dir()]
        if not trained:
            raise FileNotFoundError(
                f"loop: {run_dir} has no trained student (no sft or grpo adapter); run `teacherforge train "
                "sft` (or `teacherforge run`) first, or set loop.student=base to mine the base model's failures"
            )
        return trained[0]
    if name in TRAINING_STAGES:
        if not trained_adapter(name, at).is_dir():
            raise FileNotFoundError(
                f"loop.student: {name!r} has no adapter at {trained_adapter(name, at)}; run `teacherforge "
                f"train {name}` first or choose loop.student=auto"
            )
        return name
    backend, sep, _ = name.partition(":")
    if name == "base" or name in EMBEDDED_LLMS or (sep and backend in BACKENDS) or "/" in name:
        return name
    if Path(name).exists():
        return name
    raise ValueError(
        f"loop.student: {name!r} is no model; use auto, base, sft, grpo, an embedded model "
        f"({', '.join(sorted(EMBEDDED_LLMS))}), <backend>:<model>, a local path or a hub id"
    )


def headline_ratio(result: dict[str, Any], student_label: str) -> float:
    """The student/teacher F1 ratio of the first evaluated mode."""
    for models in result["metrics"].values():
        entry = models.get(student_label)
        if entry and "ratio_to_teacher" in entry:
            return float(entry["ratio_to_teacher"]["f1"])
    return float("nan")


def run_round(config: Config, parent: Path, round_index: int) -> RoundResult:
    """One feedback round from ``parent`` into ``parent/rounds/round_NN`` (resumable).

    Stops before retraining, with :attr:`RoundResult.stopped` set, when it has nothing new to train on.
    A round killed half-way resumes: its stages skip what they finished.
    """
    from teacherforge.cli.pipeline import stage_function
    from teacherforge.trainers.eval_models import resolve_model, resolve_models
    from teacherforge.trainers.evaluate import evaluate

    round_dir = RunLayout(config.run_path).round_dir(round_index)
    done = RunLayout(round_dir).round_result
    if done.exists():
        return RoundResult(**read_json(done))
    student = loop_student(config, parent)
    mine_cfg = dataclasses.replace(
        config,
        run_dir=str(parent),
        eval=dataclasses.replace(
            config.eval, models=["teacher", student], split="train", allow_train_split=True
        ),
    )
    parent_layout = RunLayout(parent)
    questions = [q.to_json() for q in parent_layout.questions(None)]
    train = [q for q in questions if q["split"] == "train"]
    if config.eval.max_questions:
        train = train[: config.eval.max_questions]
    retriever = parent_layout.retriever(config.retrieval.index, config.retrieval)
    models = resolve_models(mine_cfg)
    rows, _ = evaluate(mine_cfg, models, train, retriever, retriever.embedder)
    teacher_label = next(m.label for m in models if m.role == "teacher")
    student_label = next(m.label for m in models if m.role == "student")
    failures = collect_failures(rows, teacher_label, student_label, train, config.loop.f1_threshold)
    chunks = parent_layout.chunk_map()
    oracle = config.teacher.kind == "oracle"
    challenged = (
        []
        if oracle
        else find_challenges(
            rows, teacher_label, student_label, train, {cid: c.text for cid, c in chunks.items()}
        )
    )
    new_questions = derive_questions(
        failures, chunks, questions, round_index, config.loop.max_new_questions_per_failure
    )
    stopped = nothing_new(len(failures), len(new_questions), len(train))
    if stopped and not challenged:
        return _stop(round_dir, round_index, len(failures), 0, None if oracle else 0, stopped)
    lineage = prepare_round_dir(parent, round_dir, questions + new_questions, failures, round_index)

    round_cfg = continued(dataclasses.replace(config, run_dir=str(round_dir)), parent)
    for stage in ("teacher", "quality"):
        stage_function(stage)(round_cfg)
    flagged = None if oracle else flag_challenged_records(round_dir, challenged)
    stage_function("dataset")(round_cfg)
    added = what_was_added(RunLayout(round_dir), new_questions)
    version = RunDir.load_manifest(round_dir)["dataset"]["version"]
    if version == lineage["parent_dataset_version"]:
        reason = stopped or all_filtered(len(new_questions), version)
        return _stop(round_dir, round_index, len(failures), len(new_questions), flagged, reason, added)
    for stage in config.loop.retrain:
        stage_function(stage)(round_cfg)
    round_student = loop_student(config, round_dir)
    eval_cfg = dataclasses.replace(
        round_cfg, eval=dataclasses.replace(round_cfg.eval, models=["teacher", round_student])
    )
    stage_function("eval")(eval_cfg)
    result = read_json(RunLayout(round_dir).report.metrics)
    round_label = resolve_model(round_student, eval_cfg).label
    mode, after = student_f1(RunLayout(round_dir).report, round_label)
    _, before = student_f1(parent_layout.report, student_label, mode)
    gain = f1_gain(before, after, config.eval.bootstrap_samples, config.seed)
    outcome = RoundResult(
        round_index,
        str(round_dir),
        len(failures),
        len(new_questions),
        flagged,
        headline_ratio(result, round_label),
        result["metrics"],
        f1_gain=gain.to_json(),
        change=change_word(gain, "improved", "worse"),
        added=added,
        student_f1=f1_interval(result, round_label, mode),
        init=config.loop.init,
    )
    atomic_write_json(done, outcome.to_json())
    return outcome


def continued(config: Config, parent: Path) -> Config:
    """The round's config: with ``loop.init: continue`` each retrained stage starts from the parent's
    adapter of that stage (when the parent has one), else from the base model."""
    from teacherforge.trainers.eval_models import trained_adapter

    if config.loop.init != "continue":
        return config
    at = dataclasses.replace(config, run_dir=str(parent))
    changes = {}
    for stage in config.loop.retrain:
        adapter = trained_adapter(stage, at)
        if adapter.is_dir():
            changes[stage] = dataclasses.replace(getattr(config, stage), init_adapter=str(adapter.resolve()))
    return dataclasses.replace(config, **changes)


def what_was_added(layout: RunLayout, new_questions: Sequence[dict]) -> dict[str, Any]:
    """The new questions by failure reason, and how many the teacher answered and the dataset kept
    (answer examples, and hard-negative examples made from them)."""
    ids = {q["id"] for q in new_questions}
    reasons = Counter(r for q in new_questions for r in q["metadata"]["feedback"]["reasons"])
    answered = sum(1 for r in read_jsonl(layout.teacher) if r["trace"]["question_id"] in ids)
    rows = [row for split in ("train", "validation") for row in read_jsonl(layout.dataset_split(split))]
    ours = [row for row in rows if row["metadata"].get("question_id") in ids]
    return {
        "by_reason": dict(sorted(reasons.items())),
        "answered": answered,
        "kept": sum(1 for row in ours if row["metadata"]["generation_method"] != "rag_failure"),
        "hard_negatives": sum(1 for row in ours if "hard_negative" in row["metadata"]["tags"]),
    }


def f1_interval(result: dict[str, Any], label: str, mode: str | None) -> dict[str, Any] | None:
    """``{"mean", "low", "high", "n"}`` of ``label``'s F1 in ``mode`` of an evaluation's metrics."""
    entry = (result.get("metrics") or {}).get(mode or "", {}).get(label)
    return None if entry is None else dict(entry["f1"])


def _stop(
    round_dir: Path,
    round_index: int,
    failures: int,
    new_questions: int,
    challenged: int | None,
    reason: str,
    added: dict[str, Any] | None = None,
) -> RoundResult:
    """A round that stops before retraining, recorded in its ``round.json`` so a rerun stops at once."""
    outcome = RoundResult(
        round_index,
        str(round_dir),
        failures,
        new_questions,
        challenged,
        float("nan"),
        {},
        reason,
        added=added or {},
    )
    done = RunLayout(round_dir).round_result
    done.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(done, outcome.to_json())
    return outcome


def run_loop(config: Config) -> dict[str, Any]:
    """Feedback rounds until ``loop.rounds``, a round with nothing new, or (``loop.stop_without_gain``)
    a round whose held-out F1 gain over the previous round is not significant."""
    from teacherforge.trainers.eval_models import resolve_model

    root = config.run_path
    student = loop_student(config, root)  # before anything runs: one line if there is none
    baseline = RunLayout(root).report.metrics
    previous, start = float("nan"), None
    if baseline.exists():
        label = resolve_model(student, config).label
        metrics = read_json(baseline)
        previous = headline_ratio(metrics, label)
        mode, _ = student_f1(RunLayout(root).report, label)
        start = f1_interval(metrics, label, mode)
    results: list[RoundResult] = []
    parent = root
    for index in range(1, config.loop.rounds + 1):
        outcome = run_round(config, parent, index)
        results.append(outcome)
        if outcome.stopped:
            print(f"round {index}: stopped without retraining — {outcome.stopped}")
            break
        print(f"round {index}: {round_line(outcome)}")
        previous = outcome.ratio_f1
        parent = Path(outcome.run_dir)
        if config.loop.stop_without_gain and outcome.change != "improved":
            print(
                f"stopping: round {index} did not improve held-out F1 ({outcome.change}; loop.stop_without_gain)"
            )
            break
    write_rounds_report(RunLayout(root).report, results, start)
    return {"rounds": len(results), "final_ratio_f1": previous, "stopped": results[-1].stopped}


def _challenged(result: RoundResult) -> str:
    return "n/a (oracle teacher)" if result.challenged is None else str(result.challenged)


def _added(result: RoundResult) -> str:
    added = result.added
    if not added:
        return "—"
    reasons = ", ".join(f"{k} {v}" for k, v in added["by_reason"].items()) or "none"
    return (
        f"{result.new_questions} new ({reasons}); {added['answered']} answered; {added['kept']} kept; "
        f"{added['hard_negatives']} hard negatives"
    )


def _gain_cell(result: RoundResult) -> str:
    gain = result.f1_gain
    if not gain:
        return "—"
    return f"{gain['mean']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}] {result.change}"


def _f1_cell(interval: dict[str, Any] | None) -> str:
    if not interval:
        return "—"
    return f"{interval['mean']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def round_line(result: RoundResult) -> str:
    """One round on one line: what it added, what it flagged, its student's F1 and its gain."""
    return (
        f"{result.failures} failures → {_added(result)}; teacher records challenged: {_challenged(result)}; "
        f"held-out F1 {_f1_cell(result.student_f1)}, vs previous round {_gain_cell(result)}"
    )


def write_rounds_report(
    report: ReportDir, results: Sequence[RoundResult], start: dict[str, Any] | None = None
) -> None:
    """``rounds.json``, a Markdown round-over-round table and a plot of held-out F1 by round.

    ``start`` is round 0: the run dir's own student's F1 interval (when it was evaluated).
    """
    from teacherforge.workspace import atomic_path, atomic_write_text

    report.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(report.rounds, [r.to_json() for r in results])
    lines = [
        "| round | training | failures | what it added | challenged | held-out F1 [95% CI] | "
        "F1 vs previous [95% CI] | F1 student/teacher | stopped |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| 0 | — | — | — | — | {_f1_cell(start)} | — | — | |",
    ]
    lines += [
        f"| {r.round} | {r.init or '—'} | {r.failures} | {_added(r)} | {_challenged(r)} | "
        f"{_f1_cell(r.student_f1)} | {_gain_cell(r)} | {r.ratio_f1:.3f} | {r.stopped} |"
        for r in results
    ]
    atomic_write_text(report.rounds_table, "\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(0, start)] + [(r.round, r.student_f1) for r in results]
    points = [(x, f1) for x, f1 in points if f1]
    fig, ax = plt.subplots(figsize=(5, 3))
    if points:
        xs = [x for x, _ in points]
        means = [f1["mean"] for _, f1 in points]
        errors = [
            [m - f1["low"] for m, (_, f1) in zip(means, points)],
            [f1["high"] - m for m, (_, f1) in zip(means, points)],
        ]
        ax.errorbar(xs, means, yerr=errors, marker="o", capsize=4)
        ax.set_xticks(xs)
    ax.set_xlabel("round (0 = before the loop)")
    ax.set_ylabel("student held-out F1 (95% CI)")
    fig.tight_layout()
    with atomic_path(report.rounds_plot) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
