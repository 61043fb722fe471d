"""The evaluation report: ``metrics.json``, ``results.jsonl``, PNG plots and a one-screen ``summary.md``.

The file names are :class:`~teacherforge.run.ReportDir`'s; the training curves come from the
logs in the SFT and GRPO output directories (:class:`~teacherforge.run.TrainingDir`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teacherforge.run import ReportDir, TrainingDir
from teacherforge.workspace import (
    atomic_path,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    read_jsonl,
)

ORACLE_NOTE = (
    "The teacher is an **oracle** (gold answers with retrieved sources), a ceiling for the "
    "pipeline, not a model: ratios to it measure how close a student gets to perfect answers."
)


def write_report(
    report: ReportDir, rows: Sequence[dict], result: dict[str, Any], sft: TrainingDir, grpo: TrainingDir
) -> dict[str, Path]:
    """Write every report file atomically (training curves from the ``sft``/``grpo`` logs when
    present); return their paths by kind."""
    report.path.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": report.metrics, "results": report.results, "summary": report.summary}
    atomic_write_json(paths["metrics"], result)
    atomic_write_jsonl(paths["results"], rows)
    paths.update(_plots(report, result, sft, grpo))
    atomic_write_text(paths["summary"], summary_markdown(result, paths))
    return paths


def summary_markdown(result: dict[str, Any], paths: dict[str, Path]) -> str:
    """A short Markdown summary: one table per mode, the leak check, where the files are."""
    lines = [f"# Evaluation on the {result.get('split', '?')} split", ""]
    lines += headline(result)
    if result.get("oracle_teacher"):
        lines += [ORACLE_NOTE, ""]
    for mode, models in result["metrics"].items():
        lines += [
            f"## {mode} retrieval" if mode == "fixed" else "## agentic search",
            "",
            "| model | n | EM [95% CI] | F1 [95% CI] | grounded | gold hit | searches | well-formed | similarity "
            "| refusals | F1 / teacher |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, m in models.items():
            lines.append(
                f"| {label} | {m['n']} | {_ci(m['exact_match'])} | {_ci(m['f1'])} | {m.get('grounded', 0.0):.2f} "
                f"| {m['retrieval_hit_rate']:.2f} "
                f"| {m['mean_searches']:.2f} | {m['well_formed']:.2f} | {m['similarity']['mean']:.2f} "
                f"| {m['refusal_rate']:.2f} "
                f"| {_num(m.get('ratio_to_teacher', {}).get('f1'))} |"
            )
        lines.append("")
    leak = result.get("leak_check", {})
    if leak.get("checked"):
        verdict = (
            f"**LEAK: {len(leak['leaked_chunks'])} held-out chunk(s) in the SFT data**"
            if leak["leak"]
            else "no leak"
        )
        lines.append(f"Leak check (held-out chunks vs SFT training data): {verdict}.")
    else:
        lines.append(f"Leak check not run: {leak.get('reason', 'no SFT dataset')}.")
    lines += ["", "Files: " + ", ".join(f"`{p.name}`" for k, p in paths.items() if k != "summary"), ""]
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> list[str]:
    """The summary's first lines: what changed against the base model, with paired 95% intervals.

    A change is called "improved"/"worse" only when the interval of the paired F1 difference
    excludes 0; smoke runs are labelled as such, not presented as results.
    """
    lines = []
    smoke = result.get("smoke_runs", {})
    for mode, models in result.get("comparisons", {}).items():
        for label, c in models.items():
            d = c["f1_difference"]
            f1 = result["metrics"][mode][label]["f1"]["mean"]
            base_f1 = result["metrics"][mode][c["vs"]]["f1"]["mean"]
            verdict = f"{c['change']}; {smoke[label]}" if label in smoke else c["change"]
            lines.append(
                f"- **{label}** ({mode}): F1 {f1:.2f} vs {c['vs']} {base_f1:.2f}, difference {d['mean']:+.2f} "
                f"[95% CI {d['low']:+.2f}, {d['high']:+.2f}], n={d['n']} — {verdict}"
            )
    if smoke:
        lines.append(
            "- Smoke runs show the pipeline works end to end, not that it teaches: `make bench-learning` "
            "trains each path long enough to measure it (validation chooses, test reports)."
        )
    return [*lines, ""] if lines else []


def _plots(report: ReportDir, result: dict[str, Any], sft: TrainingDir, grpo: TrainingDir) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: dict[str, Path] = {}
    modes = list(result["metrics"].items())
    if modes:
        fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), squeeze=False)
        for ax, (mode, models) in zip(axes[0], modes):
            labels = list(models)
            for offset, metric in ((-0.2, "exact_match"), (0.2, "f1")):
                means = [models[m][metric]["mean"] for m in labels]
                errors = [
                    [mean - models[m][metric]["low"] for m, mean in zip(labels, means)],
                    [models[m][metric]["high"] - mean for m, mean in zip(labels, means)],
                ]
                ax.bar(
                    [i + offset for i in range(len(labels))],
                    means,
                    width=0.4,
                    yerr=errors,
                    capsize=3,
                    label=metric,
                )
            ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{mode} mode (95% bootstrap CI)")
            ax.legend()
        fig.tight_layout()
        paths["metrics_plot"] = _save(fig, report.metrics_plot)
        plt.close(fig)
    curves = training_curves(sft, grpo)
    if curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, (steps, values) in curves.items():
            ax.plot(steps, values, marker="o", label=name)
        ax.set_xlabel("step")
        ax.set_title("training curves")
        ax.legend()
        fig.tight_layout()
        paths["training_plot"] = _save(fig, report.training_plot)
        plt.close(fig)
    return paths


def training_curves(sft: TrainingDir, grpo: TrainingDir) -> dict[str, tuple[list[float], list[float]]]:
    """``{name: (steps, values)}``: the GRPO reward and the SFT loss per step, where logged."""
    curves = {}
    if grpo.grpo_log.exists():
        rows = [r for r in read_jsonl(grpo.grpo_log) if "reward" in r]
        curves["GRPO reward"] = ([r["step"] for r in rows], [r["reward"] for r in rows])
    if sft.sft_log.exists():
        rows = [r for r in read_jsonl(sft.sft_log) if "loss" in r]
        curves["SFT loss"] = ([r["step"] for r in rows], [r["loss"] for r in rows])
    return curves


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def _ci(interval: dict[str, float]) -> str:
    return f"{interval['mean']:.2f} [{interval['low']:.2f}, {interval['high']:.2f}]"


def _num(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"
