"""Evaluate models inside the RAG loop: the teacher and the students, same retriever, same prompts.

Two modes (``eval.modes``):

* ``fixed`` — the top-k chunks for the question are put in the prompt (as the SFT path trains);
* ``agentic`` — the model searches through the environment's rollout driver (as GRPO trains).

Every model sees the same held-out questions, the same retriever and greedy decoding with
the same budget. Metrics per model and mode: exact match, token F1, retrieval recall@k
(fixed) or gold-chunk hit rate (agentic), mean searches, answer–reference embedding
similarity, refusal rate; bootstrap intervals for the headline numbers and the
student/teacher ratio of each. :func:`run_eval` writes ``report/``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacherforge.config import Config
from teacherforge.llm import LLMBackend
from teacherforge.rag import is_refusal, rag_prompt, relevance_cutoff, select_hits
from teacherforge.records import Question
from teacherforge.rewards import RetrievedRef, Trajectory, Turn, groundedness, is_gold_hit, retrieved_gold
from teacherforge.run import RunLayout
from teacherforge.trainers.eval_models import EvalModel, build_model_backend, resolve_models
from teacherforge.trainers.metrics import (
    bootstrap_ci,
    change_word,
    exact_match_score,
    f1_score,
    paired_difference_ci,
    ratio,
    similarity_stats,
)
from teacherforge.types import GenerationParams
from teacherforge.workspace import RunDir, Step, config_slice, skipped_summary

log = logging.getLogger(__name__)
HEADLINE = ("exact_match", "f1")
#: The mode each trained student learned to answer in (``eval.native_modes_only``).
NATIVE_MODE = {"sft": "fixed", "grpo": "agentic"}


@dataclass(frozen=True)
class Prediction:
    """One model's answer to one question in one mode, with what it retrieved."""

    question_id: str
    model: str
    mode: str
    answer: str | None
    retrieved_ids: tuple[str, ...]
    searches: int
    gold_hit: bool
    well_formed: bool = True  # agentic: ended with an answer and no malformed turn
    grounded: float = 0.0  # share of the answer the retrieved text supports (rewards.groundedness)


def generation_params(config: Config) -> GenerationParams:
    """Greedy decoding with the environment's per-turn budget: what every evaluated model gets."""
    return GenerationParams(max_new_tokens=config.env.max_new_tokens, temperature=0.0, seed=config.seed)


def split_questions(config: Config, split: str, limit: int = 0) -> list[dict[str, Any]]:
    """The questions of ``split`` (the first ``limit``; 0 = all) as JSON records."""
    questions = [q.to_json() for q in RunLayout(config.run_path).questions(split)]  # validated records
    return questions[:limit] if limit else questions


def f1_per_question(
    backend: LLMBackend, mode: str, questions: Sequence[dict], retriever: Any, config: Config
) -> list[float]:
    """Token F1 of ``backend``'s answers to ``questions`` in ``mode`` (fixed or agentic), in order."""
    predict = predict_fixed if mode == "fixed" else predict_agentic
    predictions = predict(backend, "scored", questions, retriever, config, generation_params(config))
    by_id = {q["id"]: q["answer"] for q in questions}
    return [f1_score(p.answer, by_id[p.question_id]) for p in predictions]


def adapter_scorer(config: Config, base_model: str, mode: str, split: str, limit: int) -> Any:
    """``score(adapter_dir) -> mean F1`` of ``base_model`` + that adapter on ``split`` in ``mode``.

    Used to choose checkpoints on the validation split (:mod:`teacherforge.trainers.selection`).
    """
    from teacherforge.llm import TransformersBackend
    from teacherforge.models import load_causal_lm

    questions = split_questions(config, split, limit)
    retriever = RunLayout(config.run_path).retriever(config.retrieval.index, config.retrieval)

    def score(adapter: Any) -> float:
        model, tokenizer = load_causal_lm(base_model, adapter=str(adapter))
        values = f1_per_question(TransformersBackend(model, tokenizer), mode, questions, retriever, config)
        return sum(values) / len(values)

    return score


def load_eval_questions(config: Config) -> list[dict[str, Any]]:
    """The held-out questions of the run dir; refuses the training split unless allowed."""
    split = config.eval.split
    if split == "train" and not config.eval.allow_train_split:
        raise ValueError(
            "eval.split is 'train': evaluating on training questions measures memorisation; "
            "use validation/test, or set eval.allow_train_split=true (CLI: --allow-train-split)"
        )
    return split_questions(config, split, config.eval.max_questions)


def fixed_prompts(
    questions: Sequence[dict], retriever: Any, config: Config
) -> tuple[list[Any], list[list[Any]]]:
    """The RAG prompt of every question and the hits in it, selected as the teacher's are (the
    ``retrieval.min_score`` cut-off) from the evaluation's top-k (:attr:`Config.eval_top_k`)."""
    k = config.eval_top_k
    cutoff = relevance_cutoff(getattr(retriever, "kind", config.retrieval.kind), config.retrieval.min_score)
    raw = retriever.search([q["question"] for q in questions], k)
    hits = [select_hits(h, k, cutoff) for h in raw]
    return [rag_prompt(q["question"], [hit.text for hit in h]) for q, h in zip(questions, hits)], hits


def predict_fixed(
    backend: LLMBackend,
    model: str,
    questions: Sequence[dict],
    retriever: Any,
    config: Config,
    params: GenerationParams,
) -> list[Prediction]:
    """Answer every question with the teacher's context selection in the prompt (one batched generate).

    The prompt and the source selection (top-k plus the relevance cut-off) are the teacher's
    and the SFT dataset's, so the student is evaluated on exactly what it was trained on.
    """
    prompts, hits = fixed_prompts(questions, retriever, config)
    completions = backend.generate(prompts, params)
    predictions = []
    for q, shown, c in zip(questions, hits, completions):
        ids = tuple(hit.chunk_id for hit in shown)
        gold = Question.from_json(q).gold_chunk_ids
        # the context as one search whose hits are numbered as the prompt numbers them ([1], [2], ...)
        refs = tuple(RetrievedRef(h.chunk_id, rank, h.score, h.text) for rank, h in enumerate(shown, 1))
        found = any(is_gold_hit(ref, gold) for ref in refs)
        answer = c.text.strip()
        context = Trajectory(q["question"], q["answer"], gold, (Turn("", q["question"], refs),), answer)
        predictions.append(
            Prediction(q["id"], model, "fixed", answer, ids, 0, found, grounded=groundedness(context))
        )
    return predictions


def predict_agentic(
    backend: LLMBackend,
    model: str,
    questions: Sequence[dict],
    retriever: Any,
    config: Config,
    params: GenerationParams,
) -> list[Prediction]:
    """Answer every question by searching through the rollout driver (episodes in lockstep) on
    the search task over ``retriever`` (evaluation's top-k, the configured rubric)."""
    from teacherforge.envs.driver import RolloutDriver
    from teacherforge.envs.task import build_task

    task = build_task(config, retriever=retriever, questions=questions, top_k=config.eval_top_k)
    driver = RolloutDriver(task, tokenizer=getattr(backend, "tokenizer", None))
    predictions = []
    for q, episode in zip(questions, driver.run(backend, questions, params)):
        traj = episode.trajectory
        ids = tuple(dict.fromkeys(ref.chunk_id for turn in traj.turns for ref in turn.retrieved))
        searches = sum(1 for turn in traj.turns if turn.query is not None)
        predictions.append(
            Prediction(
                q["id"],
                model,
                "agentic",
                traj.final_answer,
                ids,
                searches,
                retrieved_gold(traj),
                traj.well_formed,
                groundedness(traj),
            )
        )
    return predictions


def score(
    questions: Sequence[dict], predictions: Sequence[Prediction], embedder: Any
) -> list[dict[str, Any]]:
    """Per-question rows: the prediction with EM, F1, similarity to the reference and refusal flag."""
    by_id = {q["id"]: q for q in questions}
    answers = [p.answer or "" for p in predictions]
    references = [by_id[p.question_id]["answer"] for p in predictions]
    sims = [0.0] * len(predictions)
    if embedder is not None and predictions:
        vectors = embedder.encode(answers + references)
        n = len(predictions)
        sims = [float(vectors[i] @ vectors[n + i]) for i in range(n)]
    rows = []
    for p, ref, sim in zip(predictions, references, sims):
        q = by_id[p.question_id]
        rows.append(
            {
                **dataclasses.asdict(p),
                "question": q["question"],
                "reference": ref,
                "difficulty": q.get("difficulty", "unknown"),
                "exact_match": exact_match_score(p.answer, ref),
                "f1": f1_score(p.answer, ref),
                "similarity": sim if p.answer else 0.0,
                "refusal": float(p.answer is None or is_refusal(p.answer)),
            }
        )
    return rows


def aggregate(rows: Sequence[dict], teacher: str, samples: int, seed: int) -> dict[str, Any]:
    """Metrics per (mode, model), per difficulty, with bootstrap intervals and ratios to the teacher."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["mode"], row["model"])].append(row)
    result: dict[str, Any] = {}
    for (mode, model), items in groups.items():
        entry: dict[str, Any] = {"n": len(items)}
        for metric in HEADLINE:
            entry[metric] = bootstrap_ci([r[metric] for r in items], samples, seed=seed).to_json()
        entry["retrieval_hit_rate"] = _mean([float(r["gold_hit"]) for r in items])
        entry["mean_searches"] = _mean([r["searches"] for r in items])
        entry["well_formed"] = _mean([float(r["well_formed"]) for r in items])
        entry["grounded"] = _mean([r["grounded"] for r in items])
        entry["refusal_rate"] = _mean([r["refusal"] for r in items])
        entry["similarity"] = similarity_stats([r["similarity"] for r in items])
        by_difficulty: dict[str, list[dict]] = defaultdict(list)
        for r in items:
            by_difficulty[r["difficulty"]].append(r)
        entry["by_difficulty"] = {
            d: {
                "n": len(v),
                "exact_match": _mean([r["exact_match"] for r in v]),
                "f1": _mean([r["f1"] for r in v]),
            }
            for d, v in sorted(by_difficulty.items())
        }
        result.setdefault(mode, {})[model] = entry
    for models in result.values():
        reference = models.get(teacher)
        for entry in models.values():
            if reference is not None:
                entry["ratio_to_teacher"] = {
                    m: ratio(entry[m]["mean"], reference[m]["mean"]) for m in HEADLINE
                } | {
                    "retrieval_hit_rate": ratio(entry["retrieval_hit_rate"], reference["retrieval_hit_rate"]),
                    "similarity": ratio(entry["similarity"]["mean"], reference["similarity"]["mean"]),
                }
    return result


def compare_to_base(
    rows: Sequence[dict], base: str, samples: int, seed: int, skip: Sequence[str] = ()
) -> dict[str, Any]:
    """Each student's F1 minus the base model's on the same questions, per mode, with a paired CI.

    Models in ``skip`` (the teacher, a reference rather than a student) are not compared.

    ``change`` is "improved"/"worse" only when the interval excludes 0, else "no significant change".
    """
    by_key = {(r["mode"], r["model"], r["question_id"]): r["f1"] for r in rows}
    out: dict[str, Any] = {}
    for mode, model in dict.fromkeys((r["mode"], r["model"]) for r in rows):
        if model == base or model in skip:
            continue
        ids = [qid for (m, name, qid) in by_key if m == mode and name == base]
        pairs = [
            (by_key[(mode, model, q)], by_key[(mode, base, q)]) for q in ids if (mode, model, q) in by_key
        ]
        if not pairs:
            continue
        diff = paired_difference_ci([a for a, _ in pairs], [b for _, b in pairs], samples, seed=seed)
        out.setdefault(mode, {})[model] = {
            "vs": base,
            "f1_difference": diff.to_json(),
            "change": change_word(diff, "improved", "worse"),
        }
    return out


def leak_check(config: Config, questions: Sequence[dict]) -> dict[str, Any]:
    """Whether any held-out question's chunk appears in the SFT training data.

    A held-out chunk that is the *source* of a training example is a leak (its facts were
    trained on); one that only appears in a training example's retrieved *context* is
    reported separately (the student saw its text, not a question about it).
    """
    from teacherforge.workspace import read_jsonl

    train = RunLayout(config.run_path).dataset_split("train")
    if not train.exists():
        return {"checked": False, "reason": f"{train} does not exist"}
    rows = read_jsonl(train)
    sources = {cid for row in rows for cid in (row.get("metadata") or {}).get("source_chunk_ids", [])}
    contexts = {cid for row in rows for cid in (row.get("metadata") or {}).get("context_chunk_ids", [])}
    held_out = {cid for q in questions for cid in (q.get("source_chunk_ids") or [q["chunk_id"]])}
    leaked = sorted(held_out & sources)
    return {
        "checked": True,
        "train_examples": len(rows),
        "held_out_chunks": len(held_out),
        "leaked_chunks": leaked,
        "leak": bool(leaked),
        "context_only_chunks": sorted((held_out & contexts) - sources),
    }


def evaluate(
    config: Config, models: Sequence[EvalModel], questions: Sequence[dict], retriever: Any, embedder: Any
) -> tuple[list[dict], dict[str, Any]]:
    """Run every model in every mode on ``questions``; return per-question rows and aggregates."""
    params = generation_params(config)
    cache = RunLayout(config.run_path).cache
    rows: list[dict] = []
    timings: dict[str, float] = {}
    for model in models:
        for mode in config.eval.modes:
            if config.eval.native_modes_only and NATIVE_MODE.get(model.name, mode) != mode:
                continue
            backend = build_model_backend(
                model, questions, cache if model.role == "teacher" else None, agentic=mode == "agentic"
            )
            start = time.perf_counter()
            if mode == "fixed":
                preds = predict_fixed(backend, model.label, questions, retriever, config, params)
            else:
                preds = predict_agentic(backend, model.label, questions, retriever, config, params)
            timings[f"{mode}/{model.label}"] = time.perf_counter() - start
            rows.extend(score(questions, preds, embedder))
    teacher = next(m.label for m in models if m.role == "teacher")
    summary = aggregate(rows, teacher, config.eval.bootstrap_samples, config.seed)
    base = next((m.label for m in models if m.name == "base"), None)
    warm = " after the warm start, whose gain this is" if config.grpo.warm_start else ""
    smoke = {
        m.label: f"smoke run ({config.grpo.max_steps} GRPO steps{warm}): too short to measure GRPO"
        for m in models
        if m.name == "grpo" and config.grpo.smoke
    }
    return rows, {
        "metrics": summary,
        "comparisons": compare_to_base(rows, base, config.eval.bootstrap_samples, config.seed, [teacher])
        if base
        else {},
        "smoke_runs": smoke,
        "teacher": teacher,
        "seconds": timings,
        "oracle_teacher": any(m.oracle for m in models),
    }


def eval_step(config: Config, models: Sequence[EvalModel]) -> Step:
    """What evaluation reads and writes: the config keys and files of its fingerprint.

    Every ``eval`` key but the train-split permission, the ``env`` keys (agentic mode), the
    search-time retrieval keys, the seed, the teacher (kind; its LLM's answer-changing fields),
    the students' base models and the GRPO labels (smoke run, steps, warm start); the questions,
    the searched index, the adapters of the evaluated students and the training split (leak
    check). Outputs: the report's metrics, per-question results and summary.
    """
    from teacherforge.config.retrieval import SEARCH_KEYS

    layout = RunLayout(config.run_path.resolve())
    keys = [f"eval.{f.name}" for f in dataclasses.fields(config.eval) if f.name != "allow_train_split"]
    keys += ["seed", "env", *(f"retrieval.{k}" for k in SEARCH_KEYS), "teacher.kind", "sft.model"]
    keys += ["grpo.model", "grpo.smoke", "grpo.max_steps", "grpo.warm_start"]
    settings = config_slice(config, *keys)
    if config.teacher.kind == "llm":
        settings["teacher.llm"] = config.teacher.llm.answer_settings()
    inputs = [layout.questions_file, layout.index_dir(config.retrieval.index)]
    inputs += [Path(m.llm.adapter).resolve() for m in models if m.llm is not None and m.llm.adapter]
    if layout.dataset_split("train").is_file():
        inputs.append(layout.dataset_split("train"))
    report = layout.report
    return Step("eval", settings, inputs, [report.metrics, report.results, report.summary])


def run_eval(config: Config) -> dict[str, Any]:
    """The ``eval`` stage: evaluate, then write ``report/`` (metrics.json, results.jsonl, plots, summary.md).

    Skipped when already done (:func:`eval_step`). With ``report_to: mlflow`` the summary is
    also logged to the run's MLflow store (:func:`~teacherforge.trainers.tracking.log_evaluation`),
    which is opened first so that an unusable store fails before anything is evaluated.
    """
    from teacherforge.trainers.report import write_report
    from teacherforge.trainers.tracking import eval_store, log_evaluation

    questions = load_eval_questions(config)
    models = resolve_models(config)
    layout = RunLayout(config.run_path)
    declared = eval_step(config, models)
    with RunDir(config.run_path) as run:
        done = run.done(declared)
        if done is not None:
            return skipped_summary(done)
        store = eval_store(config)
        retriever = layout.retriever(config.retrieval.index, config.retrieval)
        with run.step(declared) as step:
            rows, result = evaluate(config, models, questions, retriever, retriever.embedder)
            result["leak_check"] = leak_check(config, questions)
            result["split"] = config.eval.split
            paths = write_report(
                layout.report,
                rows,
                result,
                layout.training_dir("sft", config.sft.output_dir),
                layout.training_dir("grpo", config.grpo.output_dir),
            )
            step.outputs.update({k: str(v.relative_to(run.path)) for k, v in paths.items()})
            step.counts.update({"questions": len(questions), "models": len(models), "rows": len(rows)})
            summary = {
                "status": "done",
                "questions": len(questions),
                "models": len(models),
                "summary": str(paths["summary"]),
            }
            step.extra["summary"] = summary
    if store is not None:
        log_evaluation(store, config.name, result)
    print(paths["summary"].read_text(encoding="utf-8"))
    return summary


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
