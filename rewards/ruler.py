"""A relative group judge (after OpenPipe's RULER): one LLM call scores a whole group.

GRPO normalises rewards within a group, so a judge only has to be consistent inside one: the
``ruler`` reward shows the judge the question and the N trajectories of one prompt (their
shared beginning shown once, each trajectory's own part after it) and asks for one score in
[0, 1] per trajectory, relative to the others, as ``{"scores": [...]}``. No reference answer
is shown: the judge needs no labels.

The reply is read leniently (:func:`parse_group_scores`): a JSON object or list anywhere in
it, else ``N: score`` or ``trajectory N ... score`` lines; scores are clipped to [0, 1]. A
trajectory the reply gives no score, a reply with none, and a judge that raises (an
unreachable backend) get the configured fallback (a number, or ``"f1"``: token F1 of the
answer to the reference), counted in the reward's ``stats`` and logged. Replies are cached
by the exact prompt, so a replayed or retried group costs no second call.

Like :mod:`~teacherforge.rewards.judge`, this module knows no LLM backend: it takes
``ask(system, user) -> reply``; :func:`teacherforge.envs.task.rubric_of` injects the
configured judge LLM. The registered ``ruler`` has no judge and scores every group by its
fallback (counted and logged), so presets load anywhere; composing the rubric from a config
without a judge LLM is an error there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import MutableMapping, Sequence
from typing import Any

from teacherforge.rewards.answer import f1
from teacherforge.rewards.judge import AskFn
from teacherforge.rewards.registry import GroupRewardFn, register_reward
from teacherforge.rewards.trajectory import Trajectory

logger = logging.getLogger(__name__)

#: The ``fallback`` that scores a trajectory by the token F1 of its answer to the reference.
F1_FALLBACK = "f1"
#: Characters of each retrieved hit shown to the judge.
HIT_CHARS = 200

RULER_SYSTEM = (
    "You compare several attempts by a search agent at the same question. Each attempt may search "
    "a document index (the hits it got are shown under each search) and ends with a final answer. "
    "Score every attempt between 0 and 1 relative to the others: a correct answer supported by what "
    "its searches found beats a wrong, unsupported or missing one; among equally good answers, the "
    "attempt that got there more directly scores higher; equally good attempts get equal scores. "
    'Reply with JSON only: {"scores": [s1, s2, ...]}, one number per attempt, in the order given.'
)
_LINE = re.compile(
    r"^[ \t*#>-]*(?:trajectory|attempt)?[ \t#]*(\d+)\b[^\d\n]*?(-?\d+(?:\.\d*)?|-?\.\d+)", re.I | re.M
)
_ID_KEYS = ("trajectory", "trajectory_id", "attempt", "id", "index")


def render_trajectory(traj: Trajectory) -> str:
    """What the judge sees of one trajectory: its turns, the hits of each search (clipped to
    :data:`HIT_CHARS`), rejected turns marked, and the final answer; one item per line.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> turns = (Turn("<search>pump</search>", query="pump", retrieved=(RetrievedRef("c1", 1, 0.9, "Pump 2 failed."),)),)
    >>> print(render_trajectory(Trajectory("q", "a", (), turns=turns)), end="")
    <search>pump</search>
      [1] Pump 2 failed.
    (no final answer)
    >>> render_trajectory(Trajectory("q", "a", (), final_answer="Ada"))
    'Final answer: Ada\\n'
    """
    lines = []
    for turn in traj.turns:
        lines.append(turn.text)
        lines += [
            f"  [{ref.rank}] {' '.join((ref.text or ref.chunk_id).split())[:HIT_CHARS]}"
            for ref in turn.retrieved
        ]
        if turn.malformed:
            lines.append(f"  (turn rejected: {turn.malformed})")
    lines.append("(no final answer)" if traj.final_answer is None else f"Final answer: {traj.final_answer}")
    return "".join(f"{line}\n" for line in lines)


def shared_prefix(texts: Sequence[str]) -> str:
    """The whole lines every text begins with (``""`` for fewer than two texts).

    >>> shared_prefix(["a\\nb\\nc\\n", "a\\nb\\nd\\n"]), shared_prefix(["ab\\n", "ac\\n"]), shared_prefix(["a\\n"])
    ('a\\nb\\n', '', '')
    """
    if len(texts) < 2:
        return ""
    shared = []
    for row in zip(*(text.splitlines(keepends=True) for text in texts)):
        if not row[0].endswith("\n") or any(line != row[0] for line in row):
            break
        shared.append(row[0])
    return "".join(shared)


def group_prompt(trajs: Sequence[Trajectory]) -> tuple[str, str]:
    """The ``(system, user)`` prompt judging ``trajs`` (one group: the samples of one question).

    The question, the beginning shared by every trajectory (shown once), then each
    trajectory's own part, numbered from 1, and the reply format.

    >>> a, b = Trajectory("Who?", "x", (), final_answer="Ada"), Trajectory("Who?", "x", (), final_answer=None)
    >>> print(group_prompt([a, b])[1])
    Question: Who?
    <BLANKLINE>
    Trajectory 1:
    Final answer: Ada
    <BLANKLINE>
    Trajectory 2:
    (no final answer)
    <BLANKLINE>
    Score the 2 trajectories relative to each other; reply {"scores": [...]} with 2 numbers in [0, 1].
    """
    texts = [render_trajectory(traj) for traj in trajs]
    prefix = shared_prefix(texts)
    parts = [f"Question: {trajs[0].question}\n"]
    if prefix:
        parts.append(f"Shared beginning of every trajectory:\n{prefix}")
    for i, text in enumerate(texts, start=1):
        parts.append(f"Trajectory {i}:\n{text[len(prefix) :] or '(the shared beginning only)'}")
    n = len(trajs)
    parts.append(
        f"Score the {n} trajectories relative to each other; reply "
        f'{{"scores": [...]}} with {n} numbers in [0, 1].'
    )
    return RULER_SYSTEM, "\n".join(part.rstrip("\n") + "\n" for part in parts).rstrip("\n")


def parse_group_scores(text: str, n: int) -> list[float | None]:
    """The scores of trajectories 1..``n`` in a judge reply, clipped to [0, 1]; ``None`` where missing.

    Reads every JSON value in the reply (``{"scores": [...]}``, a bare list, a list of
    ``{"trajectory_id", "score"}`` objects, ``{"1": score, ...}``) and the lines such as
    ``2: 0.7`` or ``Trajectory 2 ... 0.7`` (the first number after the id), and keeps the
    reading that scores the most trajectories (the first of equals), so a stray ``[1]`` in
    the judge's reasoning does not hide its answer.

    >>> parse_group_scores('Sure. {"scores": [0.9, 1.4, -1]}', 3)
    [0.9, 1.0, 0.0]
    >>> parse_group_scores('Hit [1] helps. {"scores": [0.2, 0.8]}', 2)
    [0.2, 0.8]
    >>> parse_group_scores("Trajectory 2: 0.25\\nTrajectory 1 gets 0.75", 3)
    [0.75, 0.25, None]
    """
    decoder = json.JSONDecoder()
    readings = []
    for match in re.finditer(r"[\[{]", text):
        try:
            readings.append(_scores_in(decoder.raw_decode(text, match.start())[0], n))
        except ValueError:
            continue
    lines = ((int(i), float(score)) for i, score in _LINE.findall(text))
    readings.append({i - 1: score for i, score in lines if 1 <= i <= n})
    best = max(readings, key=len)
    return [None if i not in best else min(1.0, max(0.0, best[i])) for i in range(n)]


def _scores_in(value: Any, n: int) -> dict[int, float]:
    """0-based index -> score of a decoded JSON reply (entries out of range dropped)."""
    if isinstance(value, dict) and "scores" in value:
        value = value["scores"]
    if isinstance(value, dict):
        pairs = [(_id_of(key), _score_of(item)) for key, item in value.items()]
    elif isinstance(value, list):
        pairs = [(_item_id(item, i + 1), _score_of(item)) for i, item in enumerate(value)]
    else:
        return {}
    return {i - 1: s for i, s in pairs if i is not None and 1 <= i <= n and s is not None}


def _item_id(item: Any, position: int) -> int | None:
    if isinstance(item, dict):
        for key in _ID_KEYS:
            if key in item:
                return _id_of(item[key])
    return position


def _id_of(value: Any) -> int | None:
    digits = re.search(r"\d+", str(value))
    return int(digits.group()) if digits else None


def _score_of(item: Any) -> float | None:
    return _number(item.get("score")) if isinstance(item, dict) else _number(item)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def make_group_judge(
    ask: AskFn | None = None,
    fallback: float | str = F1_FALLBACK,
    cache: MutableMapping[str, str] | None = None,
) -> GroupRewardFn:
    """The ``ruler`` reward: ``fn(trajs) -> scores`` from one ``ask(system, user)`` call per group.

    ``fallback`` scores what the judge does not (a number in [0, 1], or ``"f1"``); ``cache``
    maps a hash of the exact prompt to the reply (default a new dict); only replies with at
    least one readable score are kept, so a retried group asks again after a garbled one.
    ``ask=None`` (no judge) scores every group by the fallback. ``fn.stats`` counts
    ``calls`` (to ``ask``), ``cache_hits``, ``fallbacks`` (trajectories scored by the
    fallback) and ``partial`` (replies that scored only some trajectories); the first
    fallback is logged as a warning, later ones at DEBUG.

    >>> ruler = make_group_judge(lambda system, user: '{"scores": [0.2, 1.0]}')
    >>> group = [Trajectory("Who?", "Ada", (), final_answer=a) for a in ("Bob", "Ada")]
    >>> ruler(group), ruler(group), ruler.stats["calls"], ruler.stats["cache_hits"]
    ([0.2, 1.0], [0.2, 1.0], 1, 1)
    """
    if ask is not None and not callable(ask):
        raise TypeError(f"ask must be callable (system, user) -> reply text, got {type(ask).__name__}")
    if fallback != F1_FALLBACK and (_number(fallback) is None or not 0.0 <= float(fallback) <= 1.0):
        raise ValueError(f"ruler fallback must be a number in [0, 1] or {F1_FALLBACK!r}, got {fallback!r}")
    replies: MutableMapping[str, str] = {} if cache is None else cache
    stats = {"calls": 0, "cache_hits": 0, "fallbacks": 0, "partial": 0}

    def fallback_score(traj: Trajectory) -> float:
        return f1(traj) if fallback == F1_FALLBACK else float(fallback)

    def judged(system: str, user: str, n: int) -> tuple[list[float | None], str]:
        """The judge's scores (``None`` where missing) and, when all are missing, why."""
        key = hashlib.sha256(f"{system}\0{user}".encode()).hexdigest()
        if key in replies:
            stats["cache_hits"] += 1
            return parse_group_scores(replies[key], n), "the cached reply has no score"
        if ask is None:
            return [None] * n, "no judge LLM was given (ask=None)"
        stats["calls"] += 1
        try:
            reply = str(ask(system, user))
        except Exception as exc:  # an unreachable backend: every sample falls back, counted
            return [None] * n, f"the judge raised {type(exc).__name__}: {exc}"
        scores = parse_group_scores(reply, n)
        if any(s is not None for s in scores):
            replies[key] = reply
        return scores, f"no score could be read from the reply {reply[:80]!r}"

    def ruler(trajs: Sequence[Trajectory]) -> list[float]:
        trajs = list(trajs)
        if not trajs:
            return []
        scores, why = judged(*group_prompt(trajs), len(trajs))
        missing = [i for i, score in enumerate(scores) if score is None]
        if missing:
            if len(missing) < len(trajs):
                stats["partial"] += 1
                why = f"the reply scored {len(trajs) - len(missing)} of {len(trajs)} trajectories"
            log = logger.warning if stats["fallbacks"] == 0 else logger.debug
            stats["fallbacks"] += len(missing)
            log(
                "ruler: %s; %d trajectories of a group of %d (question_id=%r) scored by the fallback %r "
                "(counted in stats['fallbacks']; later fallbacks are logged at DEBUG)",
                why,
                len(missing),
                len(trajs),
                trajs[0].question_id,
                fallback,
            )
        return [fallback_score(traj) if score is None else score for traj, score in zip(trajs, scores)]

    ruler.bounds = (0.0, 1.0)  # type: ignore[attr-defined]
    ruler.scope = "group"  # type: ignore[attr-defined]
    ruler.stats = stats  # type: ignore[attr-defined]
    return ruler


#: The registered ``ruler`` without a judge: every group scored by the F1 fallback, counted and
#: logged; :func:`teacherforge.envs.task.rubric_of` injects the configured judge LLM instead.
ruler = register_reward("ruler", bounds=(0.0, 1.0), scope="group", factory=make_group_judge)(
    make_group_judge()
)
