"""Reward-hacking diagnostics: do reward components track answer length, search count or repeats?

A policy that games a reward often shows it in simple behaviour statistics first: answers
that grow (F1 recall hacking), searches that multiply (retry hacking), queries that repeat.
:func:`hacking_diagnostics` reports those statistics for a batch overall and, per reward
component, among samples that score high vs low on it, plus each component's correlation
with them. It also counts the trajectories that show a known hacking pattern, by name
(:func:`hacking_flags`: empty answers, malformed tags, pasted context, answers that hold the
reference only as a substring, repeated searches, search floods). :func:`flatten_diagnostics`
turns the report into ``{"hacking/...": float}`` for a metrics logger (the GRPO trainer logs
it; the pattern counts as ``hacking/flag/<name>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from teacherforge.rewards.answer import normalize_answer
from teacherforge.rewards.grounding import answer_support, retrieved_texts
from teacherforge.rewards.rubric import ERROR_PREFIX, RubricResult
from teacherforge.rewards.search import count_near_duplicates
from teacherforge.rewards.stats import mean, pearson, std
from teacherforge.rewards.trajectory import Trajectory

FEATURES = ("answer_length", "search_count", "repeated_queries")
#: The hacking patterns :func:`hacking_flags` names.
FLAGS = (
    "empty_answer",
    "malformed_tags",
    "context_paste",
    "substring_only",
    "repeated_search",
    "search_flood",
)
#: Searches from which an episode is a search flood.
FLOOD_SEARCHES = 5
#: A pasted context: at least this many answer tokens, and this many times the reference's ...
PASTE_MIN_TOKENS, PASTE_RATIO = 20, 5
#: ... of which at least this share occurs in the retrieved text (when the hits' texts are recorded).
PASTE_SUPPORT = 0.8
_TAG = re.compile(r"</?[A-Za-z][\w-]*>")


def behaviour_features(traj: Trajectory) -> dict[str, float]:
    """Per-trajectory behaviour statistics.

    ``answer_length`` is the final answer's length in characters (0 without an answer),
    ``search_count`` the number of searches, ``repeated_queries`` the number of queries that
    near-duplicate an earlier one (token Jaccard >= 0.8).

    >>> from teacherforge.rewards import Turn
    >>> behaviour_features(Trajectory("q", "a", (), final_answer="Byron",
    ...     turns=(Turn("", query="bridge"), Turn("", query="Bridge?"))))
    {'answer_length': 5.0, 'search_count': 2.0, 'repeated_queries': 1.0}
    """
    queries = traj.queries
    return {
        "answer_length": float(len(traj.final_answer or "")),
        "search_count": float(len(queries)),
        "repeated_queries": float(count_near_duplicates(queries)),
    }


def hacking_flags(traj: Trajectory) -> list[str]:
    """The hacking patterns ``traj`` shows, by name, in :data:`FLAGS` order.

    - ``empty_answer``: an answer that normalises to nothing (``""``, ``"the"``, ``"[1]"``)
      when the reference does not;
    - ``malformed_tags``: a malformed turn (mismatched, nested or missing tags) or a tag left
      inside the final answer;
    - ``context_paste``: an answer of at least :data:`PASTE_MIN_TOKENS` tokens and
      :data:`PASTE_RATIO` times the reference's, mostly copied from the retrieved text (by
      length alone when the hits' texts were not recorded);
    - ``substring_only``: not an exact match, but the reference occurs in the answer as a
      whole-word substring (and the answer is no pasted context);
    - ``repeated_search``: a query near-duplicates an earlier one (token Jaccard >= 0.8);
    - ``search_flood``: :data:`FLOOD_SEARCHES` searches or more.

    >>> from teacherforge.rewards import Turn
    >>> turns = (Turn("", query="builder"), Turn("", query="Builder?"), Turn("<answer>x</b>", malformed="x"))
    >>> hacking_flags(Trajectory("Who built it?", "Ada Byron", (), turns, final_answer="It was Ada Byron, I think"))
    ['malformed_tags', 'substring_only', 'repeated_search']
    """
    answer = normalize_answer(traj.final_answer)
    reference = normalize_answer(traj.gold_answer)
    tokens = answer.split()
    texts = retrieved_texts(traj)
    paste = len(tokens) >= max(PASTE_MIN_TOKENS, PASTE_RATIO * len(reference.split())) and (
        not texts or answer_support(traj.final_answer, texts) >= PASTE_SUPPORT
    )
    shown = {
        "empty_answer": traj.final_answer is not None and not answer and bool(reference),
        "malformed_tags": any(t.malformed for t in traj.turns) or bool(_TAG.search(traj.final_answer or "")),
        "context_paste": paste,
        "substring_only": (
            not paste and bool(reference) and answer != reference and f" {reference} " in f" {answer} "
        ),
        "repeated_search": count_near_duplicates(traj.queries) > 0,
        "search_flood": len(traj.queries) >= FLOOD_SEARCHES,
    }
    return [name for name in FLAGS if shown[name]]


def hacking_diagnostics(
    trajs: Sequence[Trajectory],
    breakdowns: Sequence[Mapping[str, float] | RubricResult],
) -> dict[str, Any]:
    """Behaviour statistics overall and per reward component for one batch.

    ``breakdowns`` holds one rubric breakdown (or :class:`RubricResult`) per trajectory;
    ``reward_errors/*`` entries are skipped. Returns::

        {"n": int,
         "overall": {feature: {"mean", "std", "min", "max"}, "answered_rate",
                     "repeated_query_rate"},
         "flag": {pattern: trajectories showing it (hacking_flags), for every FLAGS name},
         "components": {name: {"mean": float,
                               "high": {"n", feature...}, "low": {"n", feature...},
                               "corr": {feature: pearson or None}}}}

        where a sample is "high" on a component when its score is at least the midpoint
        of the batch's min and max score for that component (no split when all equal:
        ``high``/``low`` are ``None``).

    >>> from teacherforge.rewards import Turn
    >>> trajs = [Trajectory("q", "a", (), final_answer="a"),
    ...          Trajectory("q", "a", (), final_answer="a very long answer")]
    >>> report = hacking_diagnostics(trajs, [{"f1": 1.0}, {"f1": 0.4}])
    >>> report["components"]["f1"]["high"]["answer_length"], report["components"]["f1"]["corr"]["answer_length"]
    (1.0, -1.0)
    """
    if len(trajs) != len(breakdowns):
        raise ValueError(f"hacking_diagnostics: {len(trajs)} trajectories but {len(breakdowns)} breakdowns")
    rows = [behaviour_features(t) for t in trajs]
    scores = [dict(b.breakdown if isinstance(b, RubricResult) else b) for b in breakdowns]
    columns = {f: [row[f] for row in rows] for f in FEATURES}
    overall: dict[str, Any] = {f: _summary(columns[f]) for f in FEATURES}
    overall["answered_rate"] = mean([float(t.final_answer is not None) for t in trajs])
    overall["repeated_query_rate"] = mean([float(v > 0) for v in columns["repeated_queries"]])
    names = [n for n in dict.fromkeys(k for s in scores for k in s) if not n.startswith(ERROR_PREFIX)]
    components: dict[str, Any] = {}
    for name in names:
        values = [float(s.get(name, 0.0)) for s in scores]
        components[name] = {
            "mean": mean(values),
            **_split(values, rows),
            "corr": {f: pearson(values, columns[f]) for f in FEATURES},
        }
    flags = [hacking_flags(t) for t in trajs]
    flag = {name: sum(name in shown for shown in flags) for name in FLAGS}
    return {"n": len(trajs), "overall": overall, "flag": flag, "components": components}


def flatten_diagnostics(report: Mapping[str, Any], prefix: str = "hacking") -> dict[str, float]:
    """Flatten a :func:`hacking_diagnostics` report to ``{"prefix/a/b": float}``, dropping ``None``s.

    >>> flatten_diagnostics({"n": 2, "components": {"f1": {"corr": {"answer_length": None, "search_count": 0.5}}}})
    {'hacking/n': 2.0, 'hacking/components/f1/corr/search_count': 0.5}
    """
    flat: dict[str, float] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            flat[path] = float(node)

    walk(report, prefix)
    return flat


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "mean": mean(values),
        "std": std(values),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


def _split(values: Sequence[float], rows: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    if not values or min(values) == max(values):
        return {"high": None, "low": None}
    midpoint = (min(values) + max(values)) / 2
    groups: dict[str, list[Mapping[str, float]]] = {"high": [], "low": []}
    for value, row in zip(values, rows):
        groups["high" if value >= midpoint else "low"].append(row)
    return {
        side: {"n": len(members), **{f: mean([m[f] for m in members]) for f in FEATURES}}
        for side, members in groups.items()
    }
