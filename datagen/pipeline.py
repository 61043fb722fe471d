"""The datagen stage: load → chunk → questions → [embedder] → index → paraphrases → index_paraphrased.

``run_datagen(config)`` opens the run dir under its lock and runs the steps (``embedder``, the
fine-tune of the embedder on the train questions, only with ``datagen.embedder_finetune.enabled``). Each step
declares the config keys and files it reads (:func:`declared_steps`); the run dir's one rule
(:meth:`teacherforge.workspace.RunDir.done`) skips a step whose record has the same
fingerprint (those values + its inputs' contents) and whose outputs exist, so a finished run
reruns in about the time it takes to read the manifest. Every LLM call goes through the
SQLite cache at ``<run_dir>/cache.sqlite``, and every artifact is written atomically, so a
killed run picks up where it stopped: finished calls come from the cache, unfinished steps
run again from their inputs. The manifest records per step its counts, drops by reason,
tokens, estimated cost and time; a one-screen summary is printed at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from teacherforge.config import Config, LLMConfig
from teacherforge.config.retrieval import BM25_KEYS
from teacherforge.datagen.splits import assign_splits, split_of
from teacherforge.records import Question
from teacherforge.run import RunLayout
from teacherforge.types import Chunk, GenerationParams
from teacherforge.workspace import RunDir, Step, atomic_write_jsonl, config_slice, read_json, read_jsonl

log = logging.getLogger(__name__)

# DatagenConfig fields that belong to the generation steps; every other field is a corpus/chunking field.
_GENERATION_FIELDS = {
    "generator",
    "questions_per_chunk",
    "prose_only",
    "window",
    "max_retries",
    "multi_hop",
    "split_ratios",
    "paraphrase",
    "embedder_finetune",
    "llm",
    "min_answer_similarity",
    "batch_size",
    "max_new_tokens",
    "temperature",
}


def _corpus_path(corpus: str) -> str:
    """``datagen.corpus`` as an absolute path; a one-line error when it does not exist."""
    root = Path(corpus)
    if not corpus or not root.exists():
        raise FileNotFoundError(
            f"datagen.corpus: {corpus!r} does not exist (relative to {os.getcwd()}); "
            "set datagen.corpus or pass --corpus PATH"
        )
    return str(root.resolve())


def declared_steps(config: Config) -> dict[str, Step]:
    """What each datagen step reads and writes: the config keys and files of its fingerprint.

    A step reruns when one of its keys or the content of one of its inputs changes; the
    steps downstream rerun when its output then changes.
    """
    dg = config.datagen
    corpus_keys = [f"datagen.{f.name}" for f in dataclasses.fields(dg) if f.name not in _GENERATION_FIELDS]
    index_keys = {f"retrieval.{k}": v for k, v in config.retrieval.build_settings().items()}
    tune = dg.embedder_finetune
    index_keys["datagen.embedder_finetune.enabled"] = tune.enabled
    llm = {"datagen.llm": dg.llm.answer_settings(), "retrieval.embedder": config.retrieval.embedder}
    questions = config_slice(
        config,
        "seed",
        "datagen.generator",
        "datagen.questions_per_chunk",
        "datagen.split_ratios",
        "datagen.prose_only",
    )
    if dg.generator == "llm":
        keys = (
            "window",
            "max_retries",
            "multi_hop",
            "min_answer_similarity",
            "max_new_tokens",
            "temperature",
        )
        questions.update({**config_slice(config, *(f"datagen.{k}" for k in keys)), **llm})
    paraphrases = {**config_slice(config, "seed", "datagen.paraphrase"), **llm}
    run = RunLayout(config.run_path.resolve())
    tuned = [run.tuned_embedder] if tune.enabled else []
    # retrieval.kind auto: the choice reads the validation questions, and both indexes carry it
    auto = config.retrieval.kind == "auto"
    chosen_on = [run.questions_file] if auto else []
    chosen_in = [run.index_dir("original")] if auto else []
    embedder = config_slice(
        config,
        "seed",
        "datagen.embedder_finetune",
        "retrieval.embedder",
        *(f"retrieval.{key}" for key in BM25_KEYS),  # the hard negatives' BM25, whatever the index kind
    )
    return {
        "chunk": Step(
            "chunk",
            config_slice(config, *corpus_keys),
            [_corpus_path(dg.corpus)],
            [run.chunks, run.load_report],
        ),
        "questions": Step("questions", questions, [run.chunks], [run.questions_file]),
        "embedder": Step("embedder", embedder, [run.chunks, run.questions_file], [run.tuned_embedder]),
        "index": Step("index", index_keys, [run.chunks, *tuned, *chosen_on], [run.index_dir("original")]),
        "paraphrases": Step("paraphrases", paraphrases, [run.chunks], [run.paraphrases]),
        "index_paraphrased": Step(
            "index_paraphrased",
            index_keys,
            [run.paraphrases, run.chunks, *tuned, *chosen_in],
            [run.index_dir("paraphrased")],
        ),
    }


def estimated_cost(usage: Mapping[str, int], cfg: LLMConfig) -> float:
    """Dollar estimate of ``usage`` at the config's per-million-token prices.

    >>> estimated_cost({"prompt_tokens": 2_000_000, "completion_tokens": 1_000_000},
    ...                LLMConfig(price_per_million_prompt_tokens=0.5, price_per_million_completion_tokens=1.5))
    2.5
    """
    return round(
        usage.get("prompt_tokens", 0) / 1e6 * cfg.price_per_million_prompt_tokens
        + usage.get("completion_tokens", 0) / 1e6 * cfg.price_per_million_completion_tokens,
        6,
    )


class _Context:
    """What the steps share: config, run dir, lazily built backend and embedder, step results."""

    def __init__(self, config: Config, run: RunDir, progress: bool) -> None:
        self.config, self.run, self.progress = config, run, progress
        self.layout = RunLayout(run.path)
        self.dg = config.datagen
        self.declared = declared_steps(config)
        self.steps: dict[str, dict[str, Any]] = {}
        self._backend: Any = None
        self._embedder: Any = None
        self._index_embedder: Any = None
        self._chunks: list[Chunk] | None = None

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from teacherforge.llm import build_backend

            self._backend = build_backend(
                self.dg.llm, cache_path=self.layout.cache, executor=self.config.executor
            )
            self.run.manifest.setdefault("models", {})["datagen_llm"] = self._backend.identity
        return self._backend

    @property
    def embedder(self) -> Any:
        """``retrieval.embedder``: paraphrase checks, multi-hop pairs, and the indexes without a fine-tune."""
        if self._embedder is None:
            self._embedder = self._load_embedder(self.config.retrieval.embedder, "embedder")
        return self._embedder

    @property
    def index_embedder(self) -> Any:
        """What the indexes embed with: the fine-tuned embedder of the run dir when
        ``datagen.embedder_finetune.enabled``, else :attr:`embedder`."""
        if not self.dg.embedder_finetune.enabled:
            return self.embedder
        if self._index_embedder is None:
            self._index_embedder = self._load_embedder(
                str(self.layout.tuned_embedder.resolve()), "index_embedder"
            )
        return self._index_embedder

    def _load_embedder(self, name: str, role: str) -> Any:
        from teacherforge.retrieval import Embedder

        r = self.config.retrieval
        embedder = Embedder(name, r.batch_size, r.embedding_cache)
        self.run.manifest.setdefault("models", {})[role] = embedder.identity
        if r.embedding_cache and self.layout.embeddings.exists():
            try:
                embedder.load_cache(self.layout.embeddings)
            except ValueError:  # written by another embedder: nothing to reuse
                log.info("datagen: %s is from another embedder; embedding afresh", self.layout.embeddings)
        return embedder

    @property
    def chunks(self) -> list[Chunk]:
        if self._chunks is None:
            self._chunks = self.layout.chunk_list()
        return self._chunks

    def cache_stats(self) -> dict[str, Any]:
        stats = getattr(self._backend, "stats", None)
        return stats() if callable(stats) else {"hits": 0, "misses": 0, "backend_calls": 0}

    def close(self) -> None:
        close = getattr(self._backend, "close", None)
        if callable(close):
            close()

    def step(self, step: Step, body: Callable[[Any], None]) -> None:
        """Run ``body(step_record)`` unless ``step`` is already done (the run dir's rule); keep the summary."""
        done = self.run.done(step)
        if done is not None:
            self.steps[step.name] = {"status": "skipped", **_brief(done)}
            log.info("datagen: %s is up to date, skipped", step.name)
            return
        started = time.perf_counter()
        before = self.cache_stats()
        with self.run.step(step) as record:
            body(record)
            after = self.cache_stats()
            record.extra.update(
                {
                    "seconds": round(time.perf_counter() - started, 3),
                    "llm_calls": after["backend_calls"] - before["backend_calls"],
                    "cache_hits": after["hits"] - before["hits"],
                }
            )
            record.extra.setdefault("drops", {})
            record.extra.setdefault("tokens", {})
            record.outputs.update({Path(o).name: o for o in step.outputs})
        self.steps[step.name] = {"status": "done", **_brief(record.to_json())}


def _brief(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "seconds",
        "counts",
        "drops",
        "tokens",
        "estimated_cost_usd",
        "llm_calls",
        "cache_hits",
        "files",
        "problems",
        "languages",
        "warnings",
        "changes",
        "retrieval_choice",
    )
    return {k: record.get(k) for k in keys}


def _generation_params(dg_seed: int, max_new_tokens: int, temperature: float) -> GenerationParams:
    return GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=1.0 if temperature == 0 else 0.95,
        seed=dg_seed,
    )


# ----------------------------------------------------------------------------- steps
def _chunk_step(ctx: _Context) -> None:
    dg = ctx.dg

    def body(record: Any) -> None:
        from tqdm.auto import tqdm

        from teacherforge.datagen.chunking import chunk_documents
        from teacherforge.datagen.corpus_changes import corpus_changes
        from teacherforge.datagen.language import retrieval_warnings, with_languages
        from teacherforge.datagen.load_report import counts_line, file_counts, load_report_rows, problem_lines
        from teacherforge.datagen.loaders import load_corpus_from_config

        loaded = with_languages(load_corpus_from_config(dg))
        result = chunk_documents(
            loaded.documents,
            dg.chunking,
            progress=lambda docs: tqdm(
                docs, desc="chunking", unit="doc", disable=not ctx.progress, leave=False
            ),
        )
        chunks = result.chunks[: dg.max_chunks] if dg.max_chunks else result.chunks
        rows = load_report_rows(loaded, result)
        atomic_write_jsonl(ctx.layout.load_report, rows)  # written even when nothing loads
        files = file_counts(rows, loaded.excluded)
        if not chunks:
            problems = "; ".join(problem_lines(rows, 3)) or "no supported file matched datagen.include"
            raise ValueError(
                f"datagen.corpus {dg.corpus!r}: no chunks (files: {counts_line(files)}; {problems}); "
                f"every file with its reason: {ctx.layout.load_report}"
            )
        chunk_rows = [c.to_json() for c in chunks]
        if ctx.layout.chunks.exists():
            record.extra["changes"] = corpus_changes(read_jsonl(ctx.layout.chunks), chunk_rows)
        atomic_write_jsonl(ctx.layout.chunks, chunk_rows)
        ctx._chunks = chunks
        record.counts.update(
            {
                "documents": len(loaded.documents),
                "load_failures": len(loaded.failures),
                "chunks": len(chunks),
                "chunks_beyond_max": len(result.chunks) - len(chunks),
            }
        )
        record.extra["drops"] = dict(result.dropped)
        record.extra["files"] = files
        languages = Counter(str(d.metadata["language"]) for d in loaded.documents)
        record.extra["languages"] = dict(languages.most_common())
        retrieval = ctx.config.retrieval
        record.extra["warnings"] = retrieval_warnings(languages, retrieval.embedder, retrieval.bm25_stemmer)
        record.extra["problems"] = problem_lines(rows)
        record.extra["load_failures"] = [{"path": f.path, "reason": f.reason} for f in loaded.failures[:100]]

    ctx.step(ctx.declared["chunk"], body)


def _index_step(ctx: _Context, name: str, rows: Callable[[], list[Chunk]]) -> None:
    step = ctx.declared[name]

    def body(record: Any) -> None:
        from teacherforge.retrieval import Retriever

        chunks = rows()
        embedder = ctx.index_embedder
        before = embedder.cache_hits
        config = ctx.config.retrieval
        if ctx.dg.embedder_finetune.enabled:
            config = dataclasses.replace(config, embedder=embedder.name)
        auto = config.kind == "auto"
        retriever = Retriever.build(
            chunks, dataclasses.replace(config, kind="hybrid") if auto else config, embedder=embedder
        )
        if auto:
            _choose_kind(ctx, name, retriever, config, record)
        retriever.save(step.outputs[0])
        if embedder.cache_enabled:
            embedder.save_cache(ctx.layout.embeddings)
        record.counts.update(
            {
                "rows": len(retriever),
                "chunk_ids": len({c.chunk_id for c in chunks}),
                "embeddings_reused": embedder.cache_hits - before,
            }
        )

    ctx.step(step, body)


def _choose_kind(ctx: _Context, name: str, retriever: Any, config: Any, record: Any) -> None:
    """``retrieval.kind: auto``: the original index measures and keeps the best setting on the
    validation questions; the paraphrased index takes the same one."""
    from teacherforge.datagen.retrieval_choice import choose_retrieval, label
    from teacherforge.retrieval.retriever import META_FILE

    if name == "index":
        validation = [q for q in ctx.layout.questions(None) if q.split == "validation"]
        chosen, table = choose_retrieval(retriever, validation, config)
        record.extra["retrieval_choice"] = {
            "chosen": label(chosen),
            "questions": len(validation),
            "table": table,
        }
        return
    built = read_json(ctx.layout.index_dir("original") / META_FILE)["config"]
    keys = ("kind", "hybrid_dense_weight", "hybrid_fusion")
    retriever.config = dataclasses.replace(config, **{k: built[k] for k in keys})
    retriever.kind = retriever.config.kind


def _questions_step(ctx: _Context) -> None:
    dg = ctx.dg

    def body(record: Any) -> None:
        chunks = ctx.chunks
        splits = assign_splits([c.chunk_id for c in chunks], dg.split_ratios, seed=ctx.config.seed)
        if dg.generator == "cloze":
            questions, drops = _cloze(chunks, splits, dg.questions_per_chunk, dg.prose_only)
            tokens = Counter()
            drops.update(_cloze_drops(chunks, questions))
        else:
            questions, drops, tokens, extra = _llm(ctx, chunks, splits)
            record.counts.update(extra)
        ctx.layout.save_questions(questions)
        record.counts.update(
            {
                "questions": len(questions),
                "chunks_with_questions": len({q.chunk_id for q in questions}),
                "multi_hop": sum(len(q.source_chunk_ids) > 1 for q in questions),
                **{
                    f"split_{s}": sum(q.split == s for q in questions)
                    for s in ("train", "validation", "test")
                },
                **{
                    f"chunks_{s}": sum(v == s for v in splits.values())
                    for s in ("train", "validation", "test")
                },
                **{
                    f"difficulty_{d}": sum(q.difficulty == d for q in questions)
                    for d in ("easy", "medium", "hard")
                },
            }
        )
        record.extra["drops"] = dict(sorted(drops.items()))
        record.extra["tokens"] = dict(tokens)
        record.extra["estimated_cost_usd"] = estimated_cost(tokens, dg.llm)

    ctx.step(ctx.declared["questions"], body)


def _cloze(
    chunks: list[Chunk], splits: Mapping[str, str], per_chunk: int, prose_only: bool
) -> tuple[list[Question], Counter]:
    """Cloze questions of every chunk, one per distinct question text (a passage repeated in several
    chunks is asked about once: ``duplicate_passage`` drops), with drop counts. A question whose
    sentence also sits in other chunks lists them as ``passage_copies`` (gold chunks too: retrieving
    any copy is a match)."""
    from teacherforge.datagen.questions_cloze import cloze_questions
    from teacherforge.sentences import sentences

    holders: dict[str, list[str]] = {}  # sentence -> the chunks holding it
    for chunk in chunks:
        for _, sentence in sentences(chunk.text):
            holders.setdefault(sentence, []).append(chunk.chunk_id)
    out: list[Question] = []
    drops: Counter = Counter()
    asked: set[str] = set()
    for chunk in chunks:
        for i, q in enumerate(cloze_questions(chunk, per_chunk, prose_only)):
            if q.question in asked:
                drops["duplicate_passage"] += 1
                continue
            asked.add(q.question)
            copies = [cid for cid in dict.fromkeys(holders.get(q.passage, ())) if cid != chunk.chunk_id]
            out.append(
                Question(
                    id=f"{chunk.chunk_id}:q{i}",
                    chunk_id=chunk.chunk_id,
                    question=q.question,
                    answer=q.answer,
                    difficulty=q.difficulty,
                    split=splits[chunk.chunk_id],
                    source_chunk_ids=(chunk.chunk_id,),
                    metadata={
                        "generator": "cloze",
                        "answer_type": q.answer_type,
                        "answer_start": q.answer_start,
                        **({"passage_copies": copies} if copies else {}),
                    },
                )
            )
    return out, drops


def _cloze_drops(chunks: list[Chunk], questions: list[Question]) -> dict[str, int]:
    covered = {q.chunk_id for q in questions}
    missing = sum(c.chunk_id not in covered for c in chunks)
    return {"no_candidate": missing} if missing else {}


def _llm(ctx: _Context, chunks: list[Chunk], splits: Mapping[str, str]):
    from teacherforge.datagen.questions_cloze import has_prose
    from teacherforge.datagen.questions_llm import (
        Task,
        generate_questions,
        multi_hop_prompt,
        related_pairs,
        window_prompt,
    )

    dg = ctx.dg
    asked = [not dg.prose_only or has_prose(c.text) for c in chunks]  # neighbours stay context
    tasks = [
        Task(
            c.chunk_id,
            (c.chunk_id,),
            c.text,
            window_prompt(chunks, i, dg.window, dg.questions_per_chunk),
            dg.questions_per_chunk,
        )
        for i, c in enumerate(chunks)
        if asked[i]
    ]
    if dg.multi_hop and len(chunks) > 1:
        vectors = ctx.embedder.encode([c.text for c in chunks])
        for i, j in related_pairs(chunks, splits, vectors):
            if not (asked[i] and asked[j]):
                continue
            a, b = chunks[i], chunks[j]
            tasks.append(
                Task(
                    f"{a.chunk_id}+{b.chunk_id}",
                    (a.chunk_id, b.chunk_id),
                    f"{a.text}\n{b.text}",
                    multi_hop_prompt(a, b),
                    1,
                )
            )
    embedder = ctx.embedder if dg.min_answer_similarity > 0 else None
    result = generate_questions(
        tasks,
        ctx.backend,
        _generation_params(ctx.config.seed, dg.max_new_tokens, dg.temperature),
        max_retries=dg.max_retries,
        batch_size=dg.batch_size,
        embedder=embedder,
        min_similarity=dg.min_answer_similarity,
        progress=ctx.progress,
    )
    questions, counters = [], Counter()
    for pair in result.pairs:
        n = counters[pair.task_key]
        counters[pair.task_key] += 1
        multi = len(pair.source_chunk_ids) > 1
        questions.append(
            Question(
                id=f"{pair.task_key}:{'mh' if multi else 'q'}{n}",
                chunk_id=pair.source_chunk_ids[0],
                question=pair.question,
                answer=pair.answer,
                difficulty=pair.difficulty,
                split=split_of(pair.source_chunk_ids, splits),
                source_chunk_ids=pair.source_chunk_ids,
                metadata={
                    "generator": "llm",
                    "attempt": pair.attempt,
                    "similarity": pair.similarity,
                    "model": ctx.backend.identity,
                },
            )
        )
    if not all(asked):
        result.drops["no_prose"] = asked.count(False)
    extra = {
        "prompts_sent": result.prompts_sent,
        "generate_calls": result.generate_calls,
        "tasks_short": result.short_tasks,
    }
    return questions, result.drops, result.usage, extra


def _embedder_step(ctx: _Context) -> None:
    """Fine-tune the embedder on the train questions → their chunks (nothing of validation or test)."""
    from teacherforge.datagen.embedder_finetune import finetune_embedder, training_triples

    tune = ctx.dg.embedder_finetune

    def body(record: Any) -> None:
        train = ctx.layout.questions("train")
        if len(train) < tune.min_questions:
            raise ValueError(
                f"datagen.embedder_finetune: the run has {len(train)} train questions, fewer than "
                f"datagen.embedder_finetune.min_questions={tune.min_questions}; add documents, set "
                "datagen.embedder_finetune.enabled=false, or lower min_questions"
            )
        triples = training_triples(train, ctx.chunks, tune.hard_negatives, retrieval=ctx.config.retrieval)
        summary = finetune_embedder(
            ctx.config.retrieval.embedder,
            triples,
            ctx.layout.tuned_embedder,
            epochs=tune.epochs,
            batch_size=tune.batch_size,
            learning_rate=tune.learning_rate,
            seed=ctx.config.seed,
            max_seq_length=tune.max_seq_length,
            progress=ctx.progress,
        )
        record.counts.update(
            {
                "pairs": summary["pairs"],
                "hard_negatives": summary["hard_negatives"],
                "steps": summary["steps"],
                "train_loss": round(summary["train_loss"], 4),
            }
        )
        record.extra["weights_sha256"] = summary["weights_sha256"]

    ctx.step(ctx.declared["embedder"], body)


def _paraphrase_step(ctx: _Context) -> None:
    from teacherforge.datagen.paraphrase import index_rows, paraphrase_chunks

    pc = ctx.dg.paraphrase

    def body(record: Any) -> None:
        result = paraphrase_chunks(
            ctx.chunks,
            ctx.backend,
            ctx.embedder,
            styles=pc.styles,
            params=_generation_params(ctx.config.seed, pc.max_new_tokens, pc.temperature),
            min_similarity=pc.min_similarity,
            max_retries=pc.max_retries,
            batch_size=ctx.dg.batch_size,
            max_chunks=pc.max_chunks,
            progress=ctx.progress,
        )
        atomic_write_jsonl(ctx.layout.paraphrases, result.rows)
        record.counts.update(
            {
                **result.counts(len(ctx.chunks)),
                "prompts_sent": result.prompts_sent,
                "generate_calls": result.generate_calls,
            }
        )
        record.extra["drops"] = dict(sorted(result.drops.items()))
        record.extra["tokens"] = dict(result.usage)
        record.extra["estimated_cost_usd"] = estimated_cost(result.usage, ctx.dg.llm)

    ctx.step(ctx.declared["paraphrases"], body)
    _index_step(ctx, "index_paraphrased", lambda: index_rows(read_jsonl(ctx.layout.paraphrases), ctx.chunks))


# ----------------------------------------------------------------------------- entry point
def run_datagen(config: Config, progress: bool = True, print_summary: bool = True) -> dict[str, Any]:
    """Run the datagen stage on ``config`` (see the module docstring) and return its summary.

    The summary has ``run_dir``, ``status`` (``skipped`` when every step was already done),
    ``seconds``, per-step ``steps`` (status ``done``/``skipped``, counts, drops by reason, tokens,
    cost, time), ``outputs`` (paths), ``tokens``, ``estimated_cost_usd``, ``llm_calls`` made by
    this run, ``cache_hits``, ``executor`` and ``partial`` (some corpus files failed to load).
    The manifest's ``datagen`` entry keeps the summary of the last run that did some work.
    """
    started = time.perf_counter()
    with RunDir(config.run_path) as run:
        ctx = _Context(config, run, progress)
        try:
            _chunk_step(ctx)
            _questions_step(ctx)
            if config.datagen.embedder_finetune.enabled:
                _embedder_step(ctx)
            _index_step(ctx, "index", lambda: ctx.chunks)
            if config.datagen.paraphrase.enabled:
                _paraphrase_step(ctx)
            stats = ctx.cache_stats()
        finally:
            ctx.close()
        summary = _summary(ctx, run, stats, time.perf_counter() - started)
        if summary["status"] == "done":
            run.set("datagen", {k: v for k, v in summary.items() if k != "steps"})
    if print_summary:
        print(format_summary(summary))
    return summary


def _summary(ctx: _Context, run: RunDir, stats: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    tokens: Counter = Counter()
    cost = 0.0
    for step in ctx.steps.values():
        tokens.update(step.get("tokens") or {})
        cost += step.get("estimated_cost_usd") or 0.0
    outputs = {Path(p).name: p for step in ctx.declared.values() for p in step.outputs if Path(p).exists()}
    chunk_counts = ctx.steps["chunk"].get("counts") or {}
    return {
        "run_dir": str(run.path),
        "status": "skipped" if all(s["status"] == "skipped" for s in ctx.steps.values()) else "done",
        "seconds": round(seconds, 3),
        "steps": ctx.steps,
        "outputs": outputs,
        "tokens": dict(tokens),
        "estimated_cost_usd": round(cost, 6),
        "llm_calls": stats["backend_calls"],
        "llm_completions": stats["misses"],
        "cache_hits": stats["hits"],
        "executor": ctx.config.executor.kind,
        "partial": bool(chunk_counts.get("load_failures")),
        "chunks": chunk_counts.get("chunks"),
        "questions": (ctx.steps["questions"].get("counts") or {}).get("questions"),
        "question_drops": ctx.steps["questions"].get("drops") or {},
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The one-screen summary printed at the end of a datagen run."""
    from teacherforge.datagen.corpus_changes import changes_line
    from teacherforge.datagen.load_report import counts_line

    lines = [f"teacherforge datagen: {summary['run_dir']}  ({summary['seconds']:.1f} s)"]
    for name, step in summary["steps"].items():
        counts = step.get("counts") or {}
        shown = ", ".join(
            f"{k}={v}" for k, v in counts.items() if not k.startswith(("chunks_", "difficulty_"))
        )
        secs = step.get("seconds")
        lines.append(f"  {name:<18} {step['status']:<8} {'' if secs is None else f'{secs:7.1f}s'}  {shown}")
        if step.get("drops"):
            drops = ", ".join(f"{k}={v}" for k, v in step["drops"].items() if v)
            if drops:
                lines.append(f"  {'':<18} dropped: {drops}")
    tokens = summary.get("tokens") or {}
    lines.append(
        f"  tokens: prompt {tokens.get('prompt_tokens', 0):,} / completion "
        f"{tokens.get('completion_tokens', 0):,} (cached completions {tokens.get('cached_completions', 0):,})"
        f"; est. cost ${summary['estimated_cost_usd']:.4f}; LLM calls this run {summary['llm_calls']}"
        f" ({summary['llm_completions']} completions, {summary['cache_hits']} cache hits)"
    )
    chunk = summary["steps"].get("chunk") or {}
    if chunk.get("files"):
        lines.append(f"  files: {counts_line(chunk['files'])}")
        lines += [f"    {line}" for line in chunk.get("problems") or []]
    if chunk.get("changes"):
        lines.append(f"  changes since the last build: {changes_line(chunk['changes'])}")
    choice = (summary["steps"].get("index") or {}).get("retrieval_choice")
    if choice:
        best = next(row for row in choice["table"] if row["setting"] == choice["chosen"])
        lines.append(
            f"  retrieval: auto chose {choice['chosen']} (validation answer@5 {best['answer@5']:.3f}, "
            f"answer@1 {best['answer@1']:.3f}, {choice['questions']} questions; table in the manifest)"
        )
    if chunk.get("languages"):
        lines.append("  languages: " + ", ".join(f"{k} {v}" for k, v in chunk["languages"].items()))
        lines += [f"  WARNING: {line}" for line in chunk.get("warnings") or []]
    if summary.get("partial"):
        lines.append(
            f"  PARTIAL: some corpus files failed to load; every file with its reason: "
            f"{RunLayout(summary['run_dir']).load_report}"
        )
    lines.append("  outputs: " + ", ".join(Path(p).name for p in summary["outputs"].values()))
    lines.append(f"  manifest: {RunLayout(summary['run_dir']).manifest}")
    return "\n".join(lines)


def read_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The datagen totals recorded in a run dir's manifest (``{}`` when datagen never finished)."""
    return dict(RunDir.load_manifest(run_dir).get("datagen", {}))
