"""``teacherforge export model``: a trained student as one plain Hugging Face model directory.

Loads the base model with the LoRA adapter ``train sft`` / ``train grpo`` saved, folds the adapter
into the weights (:func:`~teacherforge.trainers.sft.merge_adapter`: float32, safetensors) and
writes the model, its tokenizer and ``README.md`` — a model card with Hugging Face front matter
(``base_model``, ``library_name``, ``tags``, ``license`` from ``dataset.license``) and the
provenance: adapter and its content hash, dataset version, the model's figures from the run's
evaluation report, how to load it — to ``--out`` (default ``<run dir>/export/<model>/``). The
card is composed before anything is loaded and everything is written in a temp dir renamed
into place, so a failed export leaves the previous one (or nothing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from teacherforge.cli.args import add_config_arguments, config_from_args

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge export model``."""
    parser.add_argument(
        "--model", choices=("sft", "grpo"), default="sft", help="which trained student (default sft)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="export directory (replaced); default <run dir>/export/<model>/"
    )
    add_config_arguments(parser, config_required=False)


def run(args: argparse.Namespace) -> int:
    """Merge, save with the card and print a one-line summary."""
    import shutil
    import tempfile

    from huggingface_hub.constants import REPOCARD_NAME

    from teacherforge.run import RunLayout
    from teacherforge.trainers.eval_models import resolve_model
    from teacherforge.trainers.sft import merge_adapter
    from teacherforge.workspace import replace_dir

    config = config_from_args(args)
    model = resolve_model(args.model, config)  # not trained: one line naming `teacherforge train <model>`
    assert model.llm is not None and model.llm.adapter is not None
    layout = RunLayout(config.run_path)
    out = Path(args.out) if args.out else layout.model_export(args.model)
    started = time.perf_counter()
    card = model_card(
        args.model, model.llm.model, Path(model.llm.adapter), layout, config.dataset.license, out
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        merged = merge_adapter(model.llm.model, Path(model.llm.adapter), staging / "model")
        (merged / REPOCARD_NAME).write_text(card, encoding="utf-8")
        merged.chmod(0o755)  # the temp dir it was made in is private
        replace_dir(merged, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(
        f"exported {args.model} ({model.llm.model} + {model.llm.adapter}, merged) in "
        f"{time.perf_counter() - started:.1f}s -> {out} ({size / 2**20:.1f} MiB: safetensors, tokenizer, README.md)",
        file=sys.stderr,
    )
    return 0


def model_card(stage: str, base: str, adapter: Path, layout: Any, license: str, out: Path) -> str:
    """The ``README.md`` of the export of ``stage``: YAML front matter, then provenance, figures, usage."""
    import yaml

    from teacherforge.workspace import RunDir, Step, step_record, utc_now

    manifest = RunDir.load_manifest(layout.root)
    run = RunDir(layout.root)
    label, adapter_hash = next(iter(run.fingerprint(Step("export", {}, [adapter.resolve()], []))[1].items()))
    evaluated = step_record(manifest, "eval") or {}
    front = {
        "base_model": base,
        "library_name": "transformers",
        "license": license,
        "pipeline_tag": "text-generation",
        "tags": ["teacherforge", "rag", stage, "lora-merged"],
    }
    dataset = manifest.get("dataset") or {}
    weights = next((adapter / name for name in WEIGHT_FILES if (adapter / name).is_file()), None)
    lines = [
        f"# {layout.root.name}: {stage} student, merged",
        "",
        f"`{base}` with the LoRA adapter of `teacherforge train {stage}` folded into its weights, exported by "
        f"`teacherforge export model --model {stage}` on {utc_now()}.",
        "",
        "## Provenance",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{base}` |",
        f"| adapter | `{adapter}` (content hash `{adapter_hash}`) |",
    ]
    if weights is not None:
        from teacherforge.models import file_sha256

        lines.append(f"| adapter weights sha256 | `{file_sha256(weights)}` |")
    lines.append(
        f"| dataset version | `{dataset.get('version', 'none built')}`"
        + (f" (parent `{dataset['parent']}`) |" if dataset.get("parent") else " |")
    )
    lines += [
        "",
        *_eval_section(stage, layout, evaluated, label, adapter_hash),
        "",
        *_usage(out, stage, layout.root),
    ]
    return f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n" + "\n".join(lines) + "\n"


def _eval_section(stage: str, layout: Any, evaluated: dict, label: str, adapter_hash: str) -> list[str]:
    """The model's rows of ``report/metrics.json`` (or why there are none)."""
    from teacherforge.workspace import read_json

    title = "## Evaluation"
    path = layout.report.metrics
    if not path.is_file():
        return [title, "", f"Not evaluated: run `teacherforge eval` (writes `{path}`)."]
    report = read_json(path)
    rows = {mode: models[stage] for mode, models in report.get("metrics", {}).items() if stage in models}
    if not rows:
        return [title, "", f"`{path}` has no figures for `{stage}`; add it to `eval.models` and rerun."]
    seen = (evaluated.get("inputs") or {}).get(label)
    stale = seen is not None and seen != adapter_hash
    lines = [
        title,
        "",
        f"From `{path}` (split `{report.get('split', '?')}`, teacher `{report.get('teacher', '?')}`, "
        f"finished {evaluated.get('finished_at', '?')})"
        + (": **the adapter changed since; rerun `teacherforge eval`**." if stale else "."),
        "",
        "| mode | questions | exact match [95% CI] | F1 [95% CI] | F1 / teacher | retrieval hit rate |",
        "|---|---|---|---|---|---|",
    ]
    for mode, m in rows.items():
        ratio = (m.get("ratio_to_teacher") or {}).get("f1")
        lines.append(
            f"| {mode} | {m.get('n')} | {_ci(m.get('exact_match'))} | {_ci(m.get('f1'))} | "
            f"{'n/a' if ratio is None else f'{ratio:.2f}'} | {m.get('retrieval_hit_rate', float('nan')):.3f} |"
        )
    return lines


def _ci(stat: Any) -> str:
    if not isinstance(stat, dict):
        return "n/a"
    return f"{stat['mean']:.3f} [{stat['low']:.3f}, {stat['high']:.3f}]"


def _usage(out: Path, stage: str, run_dir: Path) -> list[str]:
    mode = "with the retrieved chunks in the system prompt" if stage == "sft" else "by searching"
    return [
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'model = AutoModelForCausalLM.from_pretrained("{out}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{out}")',
        "```",
        "",
        f"It was trained to answer {mode}; `teacherforge serve rag --model {stage} --run-dir {run_dir}` "
        "serves it behind the run's index as an OpenAI-compatible `/v1/chat/completions`.",
    ]
