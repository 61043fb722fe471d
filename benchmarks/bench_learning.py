"""Does training teach? Held-out F1 of each training path against training minutes, on the bundled report.

Paths, all with the embedded SmolLM2-135M (``--smoke``: a tiny random model, a slice of the report):

(a) SFT student on the oracle teacher's dataset, scored in **fixed** mode (top-k context in the prompt);
(b) warm start (SFT on scripted search episodes, environment text masked), scored in **agentic** mode;
(c) GRPO from the warm start, scored in **agentic** mode;
(d) one feedback round after (a) (``teacherforge loop``: failures of the kept SFT student mined on
    training questions, derived questions answered by the teacher, training continued from (a)'s
    adapter on the new dataset version), scored in **fixed** mode against (a).

Protocol: data generation splits the questions by chunk; training uses the train split only.
Checkpoints along each path are scored on the **validation** split, which chooses the checkpoint
kept (best validation F1); the **test** split (seeded, never trained on, >= 40 questions) is
scored once per kept model. References: the base model on the same questions, and the oracle
teacher (gold answers: F1 1.0 by construction). Differences between two models on the same
questions come with a paired bootstrap 95% interval; a "rose"/"improved" claim needs an interval
that excludes 0. Cloze questions quote the sentence they come from, so a policy that copies the
question into the search box finds it; the agentic paths are therefore also scored on the
hand-written question-form set (``examples/apollo13/questions_handwritten.jsonl``, gold = any
chunk containing the answer string; all 67 of them chose the retrieval default, nothing here
tunes on them).

Writes ``<out>/report.md``, ``<out>/learning.json``, ``<out>/learning.png`` (default out:
``benchmarks/results/learning``; ``--smoke`` writes to a temporary folder only).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchkit

from teacherforge.config import Config, load_config
from teacherforge.trainers.metrics import bootstrap_ci, change_word, difference_ci, paired_difference_ci
from teacherforge.trainers.selection import candidates

HANDWRITTEN = benchkit.REPO / "examples" / "apollo13" / "questions_handwritten.jsonl"
MIN_TEST = 40
FINAL_COLUMNS = (
    "model",
    "mode",
    "questions",
    "n",
    "step",
    "f1",
    "f1_low",
    "f1_high",
    "gold_hit",
    "well_formed",
    "searches",
)
CURVE_COLUMNS = (
    "model",
    "mode",
    "step",
    "minutes",
    "f1",
    "f1_low",
    "f1_high",
    "gold_hit",
    "well_formed",
    "searches",
)


@dataclass(frozen=True)
class Sizes:
    """How long each path trains and how many questions score it."""

    model: str = "smollm2-135m"
    sft_steps: int = 40
    sft_every: int = 10
    warm_steps: int = 30
    warm_every: int = 10
    grpo_steps: int = 16
    grpo_every: int = 8
    grpo_batch: int = 8  # 2 questions x group 4 per step (the demo's 1 question is its smoke size)
    loop_steps: int = 20  # SFT steps of the feedback round, continuing from (a)'s kept adapter
    loop_mined: int = 160  # training questions whose failures the round mines
    validation: int = 48
    min_test: int = MIN_TEST
    handwritten: int = 67
    overrides: tuple[str, ...] = ()


SMOKE = Sizes(
    model="",  # a tiny random model, built at run time
    sft_steps=2,
    sft_every=1,
    warm_steps=2,
    warm_every=1,
    grpo_steps=2,
    grpo_every=1,
    loop_steps=1,
    loop_mined=8,
    validation=4,
    min_test=4,
    handwritten=4,
)


@dataclass
class Scored:
    """One model scored on one question set in one mode: per-question values, in question order."""

    label: str
    mode: str
    questions: str
    f1: list[float]
    gold_hit: list[float]
    well_formed: list[float]
    searches: list[float]
    minutes: float = 0.0
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, samples: int = 1000) -> dict[str, Any]:
        """Means with the F1 interval."""
        ci = bootstrap_ci(self.f1, samples)
        return {
            "model": self.label,
            "mode": self.mode,
            "questions": self.questions,
            "n": len(self.f1),
            "step": self.step,
            "minutes": round(self.minutes, 2),
            "f1": round(ci.mean, 3),
            "f1_low": round(ci.low, 3),
            "f1_high": round(ci.high, 3),
            "gold_hit": _mean(self.gold_hit),
            "well_formed": _mean(self.well_formed),
            "searches": _mean(self.searches),
            **self.extra,
        }


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 3) if values else math.nan


def bench_config(run_dir: Path, sizes: Sizes, smoke: bool) -> Config:
    """The quickstart settings on a run dir of its own, with a test split large enough to report on."""
    overrides = [
        f"run_dir={run_dir}",
        "name=bench_learning",
        "datagen.split_ratios=[0.75,0.1,0.15]",
        "sft.report_to=none",
        "grpo.report_to=none",
        "sft.eval=false",
        f"sft.model={sizes.model}",
        f"grpo.model={sizes.model}",
        f"grpo.batch_size={sizes.grpo_batch}",
        *sizes.overrides,
    ]
    if smoke:
        # a 30,000-character slice: larger held-out shares so each split has questions to measure
        overrides += [
            "datagen.paraphrase.enabled=false",
            "quality.embedding_check=false",
            "datagen.split_ratios=[0.6,0.2,0.2]",
        ]
    return load_config("quickstart", overrides)


def build_data(config: Config, corpus: Path | None) -> None:
    """Data generation, oracle teacher, post-processing and the chat dataset (finished steps are reused)."""
    from teacherforge.cli.pipeline import run_pipeline

    config = dataclasses.replace(config, stages=["datagen", "teacher", "quality", "dataset"])
    if corpus is not None:
        config = dataclasses.replace(config, datagen=dataclasses.replace(config.datagen, corpus=str(corpus)))
    run_pipeline(config, echo=lambda line: None)


def check_splits(config: Config, sizes: Sizes) -> dict[str, list[dict]]:
    """The validation and test questions; stops when a split is too small or overlaps training chunks."""
    from teacherforge.run import RunLayout

    questions = [q.to_json() for q in RunLayout(config.run_path).questions(None)]
    by_split = {s: [q for q in questions if q["split"] == s] for s in ("train", "validation", "test")}
    train_chunks = {c for q in by_split["train"] for c in (q.get("source_chunk_ids") or [q["chunk_id"]])}
    for split in ("validation", "test"):
        overlap = [
            q["id"]
            for q in by_split[split]
            if set(q.get("source_chunk_ids") or [q["chunk_id"]]) & train_chunks
        ]
        if overlap:
            sys.exit(
                f"bench_learning: {len(overlap)} {split} questions share chunks with the train split ({overlap[:3]})"
            )
    if len(by_split["test"]) < sizes.min_test:
        sys.exit(
            f"bench_learning: the test split has {len(by_split['test'])} questions, fewer than the "
            f"{sizes.min_test} to report on; raise datagen.split_ratios' test share"
        )
    if len(by_split["validation"]) < min(sizes.validation, 4):
        sys.exit(
            f"bench_learning: the validation split has {len(by_split['validation'])} questions; need >= 4"
        )
    return {"validation": by_split["validation"][: sizes.validation], "test": by_split["test"]}


def handwritten_questions(config: Config, limit: int) -> list[dict]:
    """The hand-written question-form set, each pointed at every chunk whose text contains its answer."""
    from teacherforge.run import RunLayout
    from teacherforge.workspace import read_jsonl

    chunks = RunLayout(config.run_path).chunk_list()
    out = []
    for q in read_jsonl(HANDWRITTEN):
        homes = [c.chunk_id for c in chunks if q["answer"].lower() in c.text.lower()]
        if homes:
            out.append(
                {
                    **q,
                    "chunk_id": homes[0],
                    "source_chunk_ids": homes,
                    "split": "test",
                    "difficulty": "medium",
                }
            )
    return out[:limit]


def score(
    label: str,
    model: Any,
    tokenizer: Any,
    mode: str,
    name: str,
    questions: list[dict],
    retriever: Any,
    config: Config,
) -> Scored:
    """Greedy answers of a loaded model (or the oracle when ``model`` is None) to ``questions``."""
    from teacherforge.llm import TransformersBackend
    from teacherforge.trainers.eval_models import oracle_backend
    from teacherforge.trainers.evaluate import generation_params, predict_agentic, predict_fixed
    from teacherforge.trainers.metrics import f1_score

    backend = (
        oracle_backend(questions, agentic=mode == "agentic")
        if model is None
        else TransformersBackend(model, tokenizer, batch_size=16)
    )
    predict = predict_fixed if mode == "fixed" else predict_agentic
    preds = predict(backend, label, questions, retriever, config, generation_params(config))
    answers = {q["id"]: q["answer"] for q in questions}
    return Scored(
        label,
        mode,
        name,
        f1=[f1_score(p.answer, answers[p.question_id]) for p in preds],
        gold_hit=[float(p.gold_hit) for p in preds],
        well_formed=[float(p.well_formed) for p in preds],
        searches=[float(p.searches) for p in preds],
    )


def load(model_name: str, adapter: Path | None = None) -> tuple[Any, Any]:
    from teacherforge.models import load_causal_lm

    return load_causal_lm(model_name, adapter=str(adapter) if adapter else None)


def along_path(
    label: str,
    mode: str,
    model_name: str,
    points: list[Any],
    minutes_at: Any,
    sets: dict,
    ctx: dict,
) -> tuple[list[Scored], Scored]:
    """Score each checkpoint (:func:`~teacherforge.trainers.selection.candidates`) on validation;
    return the curve and the best one (ties: later step)."""
    curve = []
    for step, adapter in ((c.step, c.path) for c in points):
        model, tok = load(model_name, adapter)
        s = score(label, model, tok, mode, "validation", sets["validation"], ctx["retriever"], ctx["config"])
        s.step, s.minutes, s.extra["adapter"] = step, minutes_at(step), str(adapter)
        curve.append(s)
        print(f"  {label} step {step}: validation F1 {_mean(s.f1)}  ({s.minutes:.1f} min)", flush=True)
    best = max(curve, key=lambda s: (sum(s.f1), s.step))
    return curve, best


def sft_path(config: Config, sizes: Sizes, sets: dict, ctx: dict, out: Path) -> tuple[list[Scored], Scored]:
    """(a) LoRA SFT on the teacher dataset (the ``sft`` settings), checkpoints every ``sft_every`` steps."""
    from teacherforge.run import RunLayout
    from teacherforge.trainers.sft import training_settings
    from teacherforge.trainers.sft_common import train_sft
    from teacherforge.workspace import read_jsonl

    rows = read_jsonl(RunLayout(config.run_path).dataset_split("train"))
    settings = training_settings(config) | {
        "max_steps": sizes.sft_steps,
        "save_steps": sizes.sft_every,
        "report_to": "none",
    }
    result = train_sft(sizes.model, rows, out, **settings)
    minutes = lambda step: result.train_runtime_s / 60 * step / sizes.sft_steps  # noqa: E731
    points = candidates(out, sizes.sft_steps)
    curve, best = along_path("sft", "fixed", sizes.model, points, minutes, sets, ctx)
    return curve, best


def warm_path(config: Config, sizes: Sizes, sets: dict, ctx: dict, out: Path) -> tuple[list[Scored], Scored]:
    """(b) the warm start (the ``grpo.warm_start_*`` settings), checkpoints every ``warm_every`` steps."""
    from teacherforge.envs import RolloutDriver, build_task
    from teacherforge.trainers import grpo, warm_start

    plan = grpo.check_grpo_config(config)
    model, tok = load(sizes.model)
    task = build_task(config, retriever=ctx["retriever"], questions=plan.questions, rubric=plan.rubric)
    driver = RolloutDriver(task, tokenizer=tok)
    rows, dropped, _ = warm_start.warm_start_rows(config, plan.questions, driver, tok)
    print(f"  warm start: {len(rows)} examples, dropped {dropped}", flush=True)
    result = warm_start.train_warm_start(
        config, model, tok, rows, out, steps=sizes.warm_steps, save_steps=sizes.warm_every
    )
    minutes = lambda step: result.train_runtime_s / 60 * step / sizes.warm_steps  # noqa: E731
    points = candidates(out, sizes.warm_steps)
    curve, best = along_path("warm start", "agentic", sizes.model, points, minutes, sets, ctx)
    return curve, best


def grpo_path(
    config: Config, sizes: Sizes, sets: dict, ctx: dict, out: Path, warm: Path
) -> tuple[list[Scored], Scored, list[dict]]:
    """(c) GRPO from the chosen warm-start adapter; checkpoints every ``grpo_every`` steps."""
    from teacherforge.trainers import grpo
    from teacherforge.workspace import read_jsonl

    settings = dict(output_dir=str(out), max_steps=sizes.grpo_steps, save_steps=sizes.grpo_every)
    gconfig = dataclasses.replace(
        config, grpo=dataclasses.replace(config.grpo, trajectories_per_step=0, **settings)
    )
    plan = grpo.check_grpo_config(gconfig)
    grpo.train_grpo(gconfig, plan, adapter=warm)
    log = read_jsonl(plan.outputs.grpo_log)
    cumulative = [0.0]
    for record in log:
        cumulative.append(cumulative[-1] + float(record.get("step_time_s") or 0.0))
    minutes = lambda step: cumulative[min(step, len(cumulative) - 1)] / 60  # noqa: E731
    curve, best = along_path(
        "grpo",
        "agentic",
        sizes.model,
        candidates(out, sizes.grpo_steps),
        minutes,
        sets,
        ctx,
    )
    return curve, best, log


def loop_path(config: Config, sizes: Sizes, kept: Scored) -> tuple[Path, dict[str, Any]]:
    """(d) One feedback round from the kept SFT adapter; returns the round's adapter and its result.

    The round mines ``loop_mined`` training questions, evaluates on the validation split (the round's
    own report) and continues training from ``kept`` for ``loop_steps`` steps.
    """
    import shutil

    from teacherforge.cli.feedback import run_round
    from teacherforge.run import RunLayout

    adapter = RunLayout(config.run_path).training_dir("sft").adapter
    if adapter.exists():
        shutil.rmtree(adapter)
    shutil.copytree(kept.extra["adapter"], adapter)
    rconfig = dataclasses.replace(
        config,
        sft=dataclasses.replace(config.sft, max_steps=sizes.loop_steps, save_steps=sizes.loop_steps),
        eval=dataclasses.replace(
            config.eval,
            split="validation",
            modes=["fixed"],
            max_questions=sizes.loop_mined,
            bootstrap_samples=200,
        ),
        loop=dataclasses.replace(config.loop, rounds=1, retrain=["sft"], init="continue", student="sft"),
    )
    result = run_round(rconfig, config.run_path, 1)
    added = result.added
    print(
        f"  round 1: {result.failures} failures → {result.new_questions} new questions, "
        f"{added.get('kept', 0)} kept; {result.stopped or 'retrained'}",
        flush=True,
    )
    return RunLayout(Path(result.run_dir)).training_dir("sft").adapter, result.to_json()


def compare(a: Scored, b: Scored, samples: int = 2000) -> dict[str, Any]:
    """Paired F1 difference ``a - b`` on the same questions, with its interval and the honest word."""
    diff = paired_difference_ci(a.f1, b.f1, samples)
    return {
        "a": a.label,
        "b": b.label,
        "mode": a.mode,
        "questions": a.questions,
        "n": len(a.f1),
        "difference": round(diff.mean, 3),
        "low": round(diff.low, 3),
        "high": round(diff.high, 3),
        "verdict": change_word(diff, "better", "worse"),
    }


def reward_trend(log: list[dict]) -> dict[str, Any]:
    """Late third minus early third of the GRPO training reward, with a bootstrap interval over steps."""
    rewards = [float(r["reward"]) for r in log if r.get("reward") is not None]
    third = max(len(rewards) // 3, 1)
    diff = difference_ci(rewards[-third:], rewards[:third], 2000)
    return {
        "steps": len(rewards),
        "early": _mean(rewards[:third]),
        "late": _mean(rewards[-third:]),
        "difference": round(diff.mean, 3),
        "low": round(diff.low, 3),
        "high": round(diff.high, 3),
        "verdict": change_word(diff),
    }


def plot(curves: dict[str, list[Scored]], references: dict[str, float], path: Path) -> None:
    """Validation F1 (95% CI) against training minutes, one line per path, references dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, curve in curves.items():
        rows = [c.row() for c in curve]
        ax.errorbar(
            [r["minutes"] for r in rows],
            [r["f1"] for r in rows],
            yerr=[[r["f1"] - r["f1_low"] for r in rows], [r["f1_high"] - r["f1"] for r in rows]],
            marker="o",
            capsize=3,
            label=f"{label} ({curve[0].mode})",
        )
    for i, (label, value) in enumerate(references.items()):
        ax.axhline(value, linestyle="--", color=f"C{len(curves) + i}", label=label)
    ax.set_xlabel("training minutes (2-core CPU)")
    ax.set_ylabel("validation F1")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(result: dict[str, Any]) -> str:
    """The report: what changed (with intervals), the held-out table, the checkpoint curves."""
    lines = ["# Does it learn? (bench_learning)", "", benchkit.machine_report(), "", result["protocol"], ""]
    lines += ["## What changed (test split scored once; paired 95% bootstrap intervals)", ""]
    for c in result["comparisons"]:
        lines.append(
            f"- {c['a']} vs {c['b']} ({c['mode']}, {c['questions']}, n={c['n']}): F1 {c['difference']:+.3f} "
            f"[{c['low']:+.3f}, {c['high']:+.3f}] — {c['verdict']}"
        )
    t = result["reward_trend"]
    if t:
        lines.append(
            f"- GRPO training reward, late vs early third of {t['steps']} steps: {t['early']} → {t['late']} "
            f"({t['difference']:+.3f} [{t['low']:+.3f}, {t['high']:+.3f}]) — {t['verdict']}"
        )
    lines += ["", "## Held-out scores of the kept models", ""]
    lines += _table(result["final"], FINAL_COLUMNS)
    lines += ["", "## Checkpoints on the validation split (choose the kept model)", ""]
    lines += _table(result["curves"], CURVE_COLUMNS)
    return "\n".join(lines) + "\n"


def _table(rows: list[dict], columns: Sequence[str]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return out + ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]


def run(sizes: Sizes, work: Path, smoke: bool) -> dict[str, Any]:
    """The whole benchmark; returns the result written to ``learning.json``."""
    from teacherforge.run import RunLayout

    started = time.perf_counter()
    corpus = None
    if smoke:
        sizes = Sizes(**{**SMOKE.__dict__, "model": str(benchkit.tiny_causal_lm(work / "tiny_model"))})
        corpus = work / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        (corpus / "report.md").write_text(
            benchkit.APOLLO_REPORT.read_text(encoding="utf-8")[:30_000], encoding="utf-8"
        )
    config = bench_config(work / "run", sizes, smoke)
    build_data(config, corpus)
    sets = check_splits(config, sizes)
    sets["handwritten"] = handwritten_questions(config, sizes.handwritten)
    ctx = {
        "config": config,
        "retriever": RunLayout(config.run_path).retriever(config.retrieval.index, config.retrieval),
    }

    def test_scores(
        label: str, mode: str, names: Sequence[str], kept: Scored | None = None
    ) -> dict[str, Scored]:
        """Score the base model (``kept`` None) or a kept checkpoint once on the named sets."""
        model, tok = load(sizes.model, Path(kept.extra["adapter"]) if kept else None)
        out = {
            n: score(label, model, tok, mode, n, sets[n], ctx["retriever"], config) for n in names if sets[n]
        }
        for s in out.values():
            s.step = kept.step if kept else 0
        return out

    base_fixed = test_scores("base", "fixed", ["test"])
    base_agentic = test_scores("base", "agentic", ["test", "handwritten"])
    oracle = {
        "test": score("oracle teacher", None, None, "fixed", "test", sets["test"], ctx["retriever"], config)
    }
    final: list[Scored] = [*base_fixed.values(), *base_agentic.values(), *oracle.values()]

    print("(a) SFT student", flush=True)
    sft_curve, sft_best = sft_path(config, sizes, sets, ctx, work / "sft")
    sft_test = test_scores("sft", "fixed", ["test"], sft_best)
    comparisons = [compare(sft_test["test"], base_fixed["test"])]

    print("(b) warm start", flush=True)
    warm_curve, warm_best = warm_path(config, sizes, sets, ctx, work / "warm_start")
    warm_test = test_scores("warm start", "agentic", ["test", "handwritten"], warm_best)
    comparisons += [compare(warm_test[n], base_agentic[n]) for n in warm_test]

    print("(c) GRPO from the warm start", flush=True)
    warm_adapter = Path(warm_best.extra["adapter"])
    grpo_curve, grpo_best, log = grpo_path(config, sizes, sets, ctx, work / "grpo", warm_adapter)
    grpo_test = test_scores("grpo", "agentic", ["test", "handwritten"], grpo_best)
    comparisons += [compare(grpo_test[n], warm_test[n]) for n in grpo_test]
    final += [*sft_test.values(), *warm_test.values(), *grpo_test.values()]

    print("(d) one feedback round after the SFT student", flush=True)
    round_adapter, round_result = loop_path(config, sizes, sft_best)
    if round_adapter.is_dir():
        kept = Scored("feedback round 1", "fixed", "validation", [], [], [], [], step=sizes.loop_steps)
        kept.extra["adapter"] = str(round_adapter)
        loop_test = test_scores("feedback round 1", "fixed", ["test"], kept)
        comparisons.append(compare(loop_test["test"], sft_test["test"]))
        final += list(loop_test.values())

    curves = {"sft": sft_curve, "warm start": warm_curve, "grpo": grpo_curve}
    return {
        "protocol": (
            f"Validation ({len(sets['validation'])} questions) chose each kept checkpoint; test "
            f"({len(sets['test'])} cloze questions, split by chunk, seed {config.seed}) and the hand-written "
            f"set ({len(sets['handwritten'])} question-form questions) scored them once. Model "
            f"{sizes.model or 'tiny random'}; oracle teacher F1 is 1.0 by construction."
        ),
        "sizes": sizes.__dict__,
        "comparisons": comparisons,
        "reward_trend": reward_trend(log),
        "feedback_round": {k: v for k, v in round_result.items() if k != "metrics"},
        "final": [s.row() for s in final],
        "curves": [s.row() for c in curves.values() for s in c],
        "seconds": round(time.perf_counter() - started, 1),
        "_curves": curves,
        "_references": {"base fixed (test)": _mean(base_fixed["test"].f1)},
    }


def main() -> int:
    parser = benchkit.parser(__doc__)
    parser.add_argument("--out", type=Path, default=benchkit.REPO / "benchmarks" / "results" / "learning")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    for name in ("sft_steps", "warm_steps", "grpo_steps"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(Sizes(), name))
    args = parser.parse_args()
    report = benchkit.Report("bench_learning", args.smoke)
    with tempfile.TemporaryDirectory(prefix="bench_learning_") as tmp:
        out = Path(tmp) / "out" if args.smoke else args.out
        work = Path(tmp)  # run dir, checkpoints: gone with the run; the report stays in ``out``
        out.mkdir(parents=True, exist_ok=True)
        sizes = Sizes(
            sft_steps=args.sft_steps,
            warm_steps=args.warm_steps,
            grpo_steps=args.grpo_steps,
            overrides=tuple(args.set),
        )
        result = run(sizes, work, args.smoke)
        plot(result.pop("_curves"), result.pop("_references"), out / "learning.png")
        (out / "learning.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (out / "report.md").write_text(markdown(result), encoding="utf-8")
        columns = FINAL_COLUMNS
        report.add(
            benchkit.Table(
                "held-out F1 of each training path (test split, scored once)",
                columns,
                tuple(tuple(r[c] for c in columns) for r in result["final"]),
                setup=result["protocol"],
                notes=tuple(
                    f"{c['a']} vs {c['b']} ({c['mode']}, {c['questions']}): {c['difference']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] {c['verdict']}"
                    for c in result["comparisons"]
                ),
                headline=tuple(
                    (
                        f"F1 {c['a']} vs {c['b']} ({c['mode']}, {c['questions']})",
                        f"{c['difference']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]",
                    )
                    for c in result["comparisons"]
                ),
            )
        )
        report.save()
        print(f"\nreport: {out / 'report.md'}  ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
