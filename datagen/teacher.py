"""The RAG teacher: answer the generated questions with retrieved, numbered sources.

For every question of the configured splits, the run dir's retriever (``retrieval.index``)
returns the top-k chunks (``retrieval.top_k``, 3 by default); hits scoring under a relevance
cut-off (``retrieval.min_score``) are dropped, so the teacher does not see passages that merely
share a word. The prompt (``rag_prompt``) numbers the
sources; any LLM backend answers through the run dir's SQLite cache, so a rerun costs nothing.
``teacher.kind: oracle`` writes the question's gold answer instead (for CPU demos and tests —
the embedded 135M model is no teacher; such records say ``generation_method: oracle``).

The prompt, hit selection and the calibrated relevance cut-offs live in :mod:`teacherforge.rag`
(shared with evaluation).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from teacherforge.config import Config
from teacherforge.rag import rag_prompt, relevance_cutoff, select_hits, template_id
from teacherforge.records import Question, validate_record
from teacherforge.run import NAMES, RunLayout
from teacherforge.types import GenerationParams, Hit
from teacherforge.workspace import RunDir, Step, atomic_write_jsonl, config_slice, skipped_summary, utc_now

DROP_REASONS = ("empty", "truncated")


def generator_version() -> str:
    """``teacherforge <version>`` for the records' ``generator_version``."""
    from importlib import metadata

    try:
        return f"teacherforge {metadata.version('teacherforge')}"
    except metadata.PackageNotFoundError:
        return "teacherforge dev"


def oracle_answer(question: Question, hits: Sequence[Hit]) -> str:
    """The gold answer, citing the retrieved source that is the question's chunk (if retrieved).

    >>> q = Question("q1", "c1", "Which river does the bridge cross?", "the Elbe")
    >>> oracle_answer(q, [Hit("c0", 1.0, 1, "x"), Hit("c1", 0.8, 2, "y")])
    'the Elbe [2]'
    >>> oracle_answer(q, [])
    'the Elbe'
    """
    sources = set(question.source_chunk_ids or (question.chunk_id,))
    cited = [str(h.rank) for h in hits if h.chunk_id in sources]
    return question.answer + (f" [{'], ['.join(cited)}]" if cited else "")


@dataclass
class TeacherResult:
    """Records written, drops by reason, token usage and call counts of one teacher run."""

    records: list[dict[str, Any]] = field(default_factory=list)
    drops: Counter = field(default_factory=Counter)
    usage: Counter = field(default_factory=Counter)
    prompts_sent: int = 0
    generate_calls: int = 0


def make_record(
    question: Question,
    hits: Sequence[Hit],
    response: str,
    *,
    method: str,
    model: str,
    temperature: float,
    tokens: tuple[int, int],
    domain: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    """A teacher record (:class:`~teacherforge.records.TeacherRecord` as JSON) for one answered question."""
    record = {
        "id": f"{question.id}@teacher",
        "created_at": utc_now(),
        "domain": domain,
        "input": question.question,
        "response": response,
        "retrieved": [
            {"chunk_id": h.chunk_id, "score": round(float(h.score), 6), "rank": h.rank} for h in hits
        ],
        "metadata": {
            "generation_method": method,
            "generator_version": generator_version(),
            "model": model,
            "temperature": temperature,
            "prompt_template": template_id(),
            "tokens": {"prompt": tokens[0], "completion": tokens[1]},
            "quality_score": None,
            "confidence_score": None,
            "is_valid": True,
            "tags": [],
            "review_status": "auto",
            "difficulty": question.difficulty,
            "gold_answer": question.answer,
        },
        "trace": {
            "parent_id": question.id,
            "question_id": question.id,
            "chunk_id": question.chunk_id,
            "source_chunk_ids": list(question.source_chunk_ids or (question.chunk_id,)),
            "split": question.split,
            "processing_steps": [{"name": "teacher", "timestamp": utc_now(), "params": params}],
        },
    }
    return validate_record(record, f"teacher record {record['id']}")


def answer_questions(
    questions: Sequence[Question],
    hits: Sequence[Sequence[Hit]],
    backend: Any,
    *,
    params: GenerationParams,
    max_retries: int = 1,
    batch_size: int = 8,
    domain: str = "default",
    step_params: dict[str, Any] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> TeacherResult:
    """Answer ``questions`` given their selected ``hits``; ``backend=None`` means the oracle teacher.

    LLM answers are generated in batches of ``batch_size`` prompts (one ``generate`` call each);
    an empty or truncated answer is sampled again with another seed up to ``max_retries`` times,
    then dropped with its reason.
    """
    result = TeacherResult()
    step_params = step_params or {}
    if backend is None:
        for question, row in zip(questions, hits):
            result.records.append(
                make_record(
                    question,
                    row,
                    oracle_answer(question, row),
                    method="oracle",
                    model="oracle",
                    temperature=0.0,
                    tokens=(0, 0),
                    domain=domain,
                    params=step_params,
                )
            )
        return result
    pending = list(range(len(questions)))
    answers: dict[int, tuple[str, tuple[int, int]]] = {}
    last_reason: dict[int, str] = {}
    for attempt in range(max_retries + 1):
        attempt_params = (
            params if attempt == 0 else dataclasses.replace(params, seed=(params.seed or 0) + attempt)
        )
        batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]
        retry: list[int] = []
        for batch in progress(batches) if progress else batches:
            prompts = [rag_prompt(questions[i].question, [h.text for h in hits[i]]) for i in batch]
            completions = backend.generate(prompts, attempt_params)
            result.prompts_sent += len(prompts)
            result.generate_calls += 1
            for i, completion in zip(batch, completions):
                result.usage["prompt_tokens"] += completion.prompt_tokens
                result.usage["completion_tokens"] += completion.completion_tokens
                result.usage["cached_completions"] += int(completion.cached)
                text = completion.text.strip()
                reason = (
                    "empty" if not text else "truncated" if completion.finish_reason == "length" else None
                )
                if reason:
                    last_reason[i] = reason
                    retry.append(i)
                else:
                    answers[i] = (text, (completion.prompt_tokens, completion.completion_tokens))
        pending = retry
        if not pending:
            break
    for i in pending:
        result.drops[last_reason[i]] += 1
    for i in sorted(answers):
        text, tokens = answers[i]
        result.records.append(
            make_record(
                questions[i],
                hits[i],
                text,
                method="rag_teacher",
                model=getattr(backend, "identity", "unknown"),
                temperature=params.temperature,
                tokens=tokens,
                domain=domain,
                params=step_params,
            )
        )
    return result


def capped(questions: Sequence[Question], cap: int) -> list[Question]:
    """The questions the teacher answers under ``teacher.max_questions`` (``cap``; 0 = all).

    The cap takes the first ``cap`` generated questions in file order; every question the
    feedback loop derived from a student failure (``metadata.feedback``) is answered on top of
    them, so a round's new data reaches its dataset whatever the cap.

    >>> old = [Question(f"q{i}", "c", f"Question {i}?", "a") for i in range(3)]
    >>> new = Question("c:fb1-0", "c", "Derived?", "a", metadata={"feedback": {"round": 1}})
    >>> [q.id for q in capped([*old, new], 2)]
    ['q0', 'q1', 'c:fb1-0']
    """
    kept: list[Question] = []
    generated = 0
    for question in questions:
        derived = "feedback" in question.metadata
        if derived or not cap or generated < cap:
            kept.append(question)
            generated += not derived
    return kept


def _progress(desc: str) -> Callable[[Iterable[Any]], Iterable[Any]]:
    from tqdm.auto import tqdm

    return lambda items: tqdm(items, desc=desc, unit="batch", leave=False)


def _domain(config: Config) -> str:
    return config.datagen.topic or config.datagen.category or config.name


def teacher_step(config: Config, opaque: bool = False) -> Step:
    """What the teacher stage reads and writes: the config keys and files of its fingerprint.

    Every ``teacher`` key (of the LLM only the answer-changing fields, and only for
    ``kind: llm``), the search-time retrieval keys, the seed and the prompt's domain; the
    questions and the searched index.
    """
    from teacherforge.config.retrieval import SEARCH_KEYS

    tc = config.teacher
    keys = [f"teacher.{f.name}" for f in dataclasses.fields(tc) if f.name != "llm"]
    keys += [f"retrieval.{k}" for k in SEARCH_KEYS] + ["seed", "name", "datagen.topic", "datagen.category"]
    settings = config_slice(config, *keys)
    if tc.kind == "llm":
        settings["teacher.llm"] = tc.llm.answer_settings()
    inputs = [NAMES.questions_file, NAMES.index_dir(config.retrieval.index)]
    return Step("teacher", settings, inputs, [NAMES.teacher], opaque=opaque)


def run_teacher(config: Config, backend: Any = None) -> dict[str, Any]:
    """The teacher stage: answer the configured splits' questions and write ``teacher.jsonl``.

    Reads ``questions.json`` and the ``retrieval.index`` index of the run dir; records a ``teacher`` step in the
    manifest (counts, drops, tokens, cut-off); prints a one-screen summary and returns it.
    Skipped when already done (:func:`teacher_step`). ``backend`` overrides the configured LLM
    (tests pass a scripted fake; such a run always runs).
    """
    tc, rc = config.teacher, config.retrieval
    layout = RunLayout(config.run_path)
    started = time.perf_counter()
    layout.require([layout.questions_file, layout.index_dir(rc.index)], "teacherforge datagen")
    declared = teacher_step(config, opaque=backend is not None)
    with RunDir(config.run_path) as run:
        done = run.done(declared)
        if done is not None:
            return skipped_summary(done)
        questions_path = layout.questions_file
        questions = capped([q for q in layout.questions(None) if q.split in tc.splits], tc.max_questions)
        if not questions:
            raise ValueError(
                f"{questions_path}: no questions in splits {list(tc.splits)}; check teacher.splits"
            )
        retriever = layout.retriever(rc.index, rc)
        cutoff = relevance_cutoff(retriever.kind, rc.min_score)
        step_params = {
            "kind": tc.kind,
            "index": rc.index,
            "top_k": rc.top_k,
            "min_score": cutoff,
            "retriever": retriever.kind,
            "splits": list(tc.splits),
            "temperature": tc.temperature,
            "max_new_tokens": tc.max_new_tokens,
        }
        with run.step(declared) as step:
            raw_hits = retriever.search([q.question for q in questions], k=rc.top_k)
            hits = [select_hits(row, rc.top_k, cutoff) for row in raw_hits]
            owned = None
            if tc.kind == "llm" and backend is None:
                from teacherforge.llm import build_backend

                backend = owned = build_backend(tc.llm, cache_path=layout.cache)
            params = GenerationParams(
                max_new_tokens=tc.max_new_tokens, temperature=tc.temperature, seed=config.seed
            )
            try:
                result = answer_questions(
                    questions,
                    hits,
                    backend if tc.kind == "llm" else None,
                    params=params,
                    max_retries=tc.max_retries,
                    batch_size=tc.llm.batch_size,
                    domain=_domain(config),
                    step_params=step_params,
                    progress=_progress("teacher"),
                )
            finally:
                if owned is not None and hasattr(owned, "close"):
                    owned.close()
            atomic_write_jsonl(layout.teacher, result.records)
            step.outputs["teacher"] = str(NAMES.teacher)
            step.counts.update(
                {
                    "questions": len(questions),
                    "records": len(result.records),
                    "prompts_sent": result.prompts_sent,
                    "generate_calls": result.generate_calls,
                    "hits_kept": sum(len(h) for h in hits),
                    "hits_below_cutoff": sum(len(r) for r in raw_hits) - sum(len(h) for h in hits),
                    "no_context": sum(not h for h in hits),
                }
            )
            step.extra.update(
                {
                    "drops": {r: result.drops.get(r, 0) for r in DROP_REASONS},
                    "tokens": dict(result.usage),
                    "generation_method": _method(tc.kind),
                }
            )
            seconds = time.perf_counter() - started
            summary = {
                "run_dir": str(run.path),
                "status": "done",
                "seconds": round(seconds, 3),
                "teacher": str(layout.teacher),
                "generation_method": _method(tc.kind),
                "cutoff": cutoff,
                "retriever": retriever.kind,
                **step.counts,
                "drops": dict(step.extra["drops"]),
                "tokens": dict(result.usage),
                "answers_per_s": round(len(result.records) / seconds, 3) if seconds else 0.0,
            }
            step.extra["summary"] = summary
    print(format_summary(summary))
    return summary


def _method(kind: str) -> str:
    return "oracle" if kind == "oracle" else "rag_teacher"


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen summary of a teacher run."""
    label = " (ORACLE: gold answers, not a model)" if summary["generation_method"] == "oracle" else ""
    drops = ", ".join(f"{k}={v}" for k, v in summary["drops"].items() if v) or "none"
    tokens = summary.get("tokens") or {}
    return "\n".join(
        [
            f"teacherforge teacher{label}: {summary['run_dir']}  ({summary['seconds']:.1f} s)",
            f"  questions {summary['questions']}, records {summary['records']}, dropped: {drops}",
            f"  retriever {summary['retriever']}, cut-off {summary['cutoff']}, hits kept {summary['hits_kept']}, "
            f"below cut-off {summary['hits_below_cutoff']}, questions without context {summary['no_context']}",
            f"  prompts {summary['prompts_sent']} in {summary['generate_calls']} calls; tokens prompt "
            f"{tokens.get('prompt_tokens', 0):,} / completion {tokens.get('completion_tokens', 0):,}",
            f"  output: {summary['teacher']}",
        ]
    )
