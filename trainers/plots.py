"""Reward curves from a GRPO log: a PNG plot and a text summary (also usable by the eval stage).

:func:`reward_summary` reads ``grpo_log.jsonl`` records and says whether the reward rose
(mean of the last third of steps vs the first third, "rose" only when the bootstrap interval
of the difference excludes 0, else "no significant change"); :func:`plot_reward_curve` draws the
mean reward (± std band), retrieval hit rate and per-component rewards per step;
:func:`write_reward_report` does both for an output directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teacherforge.run import TrainingDir
from teacherforge.workspace import atomic_path, atomic_write_text, read_jsonl

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """A one-line bar chart of ``values`` (``·`` for missing ones).

    >>> sparkline([0.0, 0.5, 1.0, None])
    '▁▅█·'
    """
    present = [v for v in values if v is not None]
    if not present:
        return "·" * len(values)
    low, high = min(present), max(present)
    span = high - low or 1.0
    return "".join("·" if v is None else _BARS[round((v - low) / span * (len(_BARS) - 1))] for v in values)


def reward_summary(records: Sequence[dict[str, Any]], key: str = "reward") -> dict[str, Any]:
    """First/last/best value, the early vs late means (first and last third of steps) and the change.

    ``late_minus_early`` is the difference of the thirds' means with a 95% bootstrap interval
    over steps; ``rose`` is true only when that interval lies above 0, and ``change`` says
    "rose", "fell" or "no significant change".

    >>> s = reward_summary([{"step": i, "reward": 0.1 * (i > 5)} for i in range(9)])
    >>> s["rose"], s["early_mean"], s["late_mean"], s["change"]
    (True, 0.0, 0.1, 'rose')
    >>> reward_summary([{"step": 1, "reward": 0.1}, {"step": 2, "reward": 0.4}])["change"]
    'not measured'
    """
    from teacherforge.trainers.metrics import change_word, difference_ci

    values = [r.get(key) for r in records]
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"steps": len(records), "rose": None, "curve": sparkline(values)}
    third = max(len(present) // 3, 1)
    early, late = present[:third], present[-third:]
    diff = difference_ci(late, early, samples=2000)
    return {
        "steps": len(records),
        "first": present[0],
        "last": present[-1],
        "best": max(present),
        "early_mean": round(sum(early) / len(early), 4),
        "late_mean": round(sum(late) / len(late), 4),
        "late_minus_early": {k: round(v, 4) for k, v in diff.to_json().items()},
        "rose": diff.low > 0,
        "change": change_word(diff),
        "curve": sparkline(values),
    }


def summary_text(records: Sequence[dict[str, Any]]) -> str:
    """A few lines describing the reward curve and the retrieval/search statistics."""
    s = reward_summary(records)
    if s.get("rose") is None:
        return f"no rewards logged ({s['steps']} steps)\n"
    hits = reward_summary(records, "retrieval_hit_rate")
    zero = reward_summary(records, "frac_reward_zero_std")
    d = s["late_minus_early"]
    interval = (
        f"difference {d['mean']:+.3f}, 95% CI [{d['low']:+.3f}, {d['high']:+.3f}]"
        if d["low"] == d["low"]  # NaN when a third holds one step
        else f"difference {d['mean']:+.3f}; too few steps for an interval"
    )
    lines = [
        f"steps: {s['steps']}",
        f"reward: {s['curve']}  first {s['first']:.3f}  last {s['last']:.3f}  best {s['best']:.3f}",
        f"early mean (first third) {s['early_mean']:.3f} → late mean (last third) {s['late_mean']:.3f}: "
        f"{s['change']} ({interval})",
    ]
    if hits.get("rose") is not None:
        lines.append(f"retrieval hit rate: {hits['curve']}  {hits['first']:.2f} → {hits['last']:.2f}")
    if zero.get("rose") is not None:
        lines.append(
            f"groups with zero reward std: {zero['early_mean']:.2f} early → {zero['late_mean']:.2f} late"
        )
    return "\n".join(lines) + "\n"


def plot_reward_curve(
    records: Sequence[dict[str, Any]], path: str | os.PathLike[str], components: Sequence[str] | None = None
) -> Path:
    """Draw reward (± std), per-component rewards and retrieval hit rate per step into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    comps = (
        components
        if components is not None
        else sorted({k[len("rewards/") :] for r in records for k in r if k.startswith("rewards/")})
    )
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    reward = [r.get("reward") or 0.0 for r in records]
    std = [r.get("reward_std") or 0.0 for r in records]
    top.plot(steps, reward, marker="o", label="reward (weighted total)")
    top.fill_between(
        steps, [m - s for m, s in zip(reward, std)], [m + s for m, s in zip(reward, std)], alpha=0.2
    )
    top.set_ylabel("reward")
    top.legend(loc="best")
    top.grid(alpha=0.3)
    for name in comps:
        bottom.plot(steps, [r.get(f"rewards/{name}") or 0.0 for r in records], label=name)
    bottom.plot(
        steps, [r.get("retrieval_hit_rate") or 0.0 for r in records], "k--", label="retrieval hit rate"
    )
    bottom.set_xlabel("step")
    bottom.set_ylabel("component mean")
    bottom.legend(loc="best", fontsize="small")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return target


def write_reward_report(output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``reward_curve.png`` and ``reward_curve.txt`` next to ``grpo_log.jsonl``; return paths and the curve."""
    out = TrainingDir(Path(output_dir))
    records = read_jsonl(out.grpo_log) if out.grpo_log.exists() else []
    if not records:
        return {}
    atomic_write_text(out.reward_text, summary_text(records))
    plot = plot_reward_curve(records, out.reward_plot)
    summary = reward_summary(records)
    return {
        "plot": str(plot),
        "report": str(out.reward_text),
        "curve": summary["curve"],
        "reward_rose": summary.get("rose"),
    }
