"""The record every reward scores: one episode of the search environment.

A :class:`Trajectory` holds what the model saw and did (its turns, their search queries and
the chunk ids each search retrieved, the final answer) next to the gold data of the
question. The environment and the rollout driver build it; rewards, the replay command and
the GRPO logs read it. ``to_json``/``from_json`` give the JSONL form that rollouts are saved
in; ``from_json`` names the offending field (``turns[2].retrieved[0].rank``) on a bad record.

Pure standard library: this package must not import torch, faiss, numpy or gymnasium.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RetrievedRef:
    """One retrieved chunk of one search: its (original) chunk id, 1-based rank, score and text.

    Hits from the paraphrased index map back to the original chunk id, so rewards work the
    same on both indexes; ``text`` is what the model was shown (the paraphrase, for those
    hits), ``""`` when the record did not keep it (rollouts saved before it was recorded).
    """

    chunk_id: str
    rank: int
    score: float
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``{"chunk_id", "rank", "score"}``, plus ``"text"`` when there is one."""
        record: dict[str, Any] = {"chunk_id": self.chunk_id, "rank": self.rank, "score": self.score}
        if self.text:
            record["text"] = self.text
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any], where: str = "retrieved") -> RetrievedRef:
        """Build from the JSON form (``text`` optional); a bad record raises ``ValueError``
        naming ``where.<field>``."""
        _check_keys(record, {"chunk_id", "rank", "score", "text"}, {"chunk_id", "rank"}, where)
        return cls(
            chunk_id=_str(record["chunk_id"], f"{where}.chunk_id"),
            rank=_int(record["rank"], f"{where}.rank"),
            score=_float(record.get("score", 0.0), f"{where}.score"),
            text=_str(record.get("text", ""), f"{where}.text"),
        )


@dataclass(frozen=True)
class Turn:
    """One model turn: its raw text, the search query if it searched, and what came back.

    ``malformed`` is the reason when the environment rejected the turn (no tag, two
    actions, empty or over-long query, unclosed tag), else ``None``.
    """

    text: str
    query: str | None = None
    retrieved: tuple[RetrievedRef, ...] = ()
    malformed: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.retrieved, tuple):
            object.__setattr__(self, "retrieved", tuple(self.retrieved))

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``{"text", "query", "retrieved": [...], "malformed"}``."""
        return {
            "text": self.text,
            "query": self.query,
            "retrieved": [ref.to_json() for ref in self.retrieved],
            "malformed": self.malformed,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any], where: str = "turn") -> Turn:
        """Build from the JSON form; a bad record raises ``ValueError`` naming ``where.<field>``."""
        _check_keys(record, {"text", "query", "retrieved", "malformed"}, {"text"}, where)
        retrieved = _list(record.get("retrieved") or [], f"{where}.retrieved")
        return cls(
            text=_str(record["text"], f"{where}.text"),
            query=_opt_str(record.get("query"), f"{where}.query"),
            retrieved=tuple(
                RetrievedRef.from_json(_mapping(r, f"{where}.retrieved[{i}]"), f"{where}.retrieved[{i}]")
                for i, r in enumerate(retrieved)
            ),
            malformed=_opt_str(record.get("malformed"), f"{where}.malformed"),
        )


@dataclass(frozen=True)
class Trajectory:
    """One episode: the question with its gold data, the model's turns and its final answer.

    ``final_answer`` is ``None`` when the episode ended without an ``<answer>`` (turn budget
    exhausted); ``completion`` is everything the model wrote, turns joined; ``metadata``
    carries extras such as ``reward_total`` (the total the trajectory was scored with when
    it was saved) or the policy step.
    """

    question: str
    gold_answer: str
    gold_chunk_ids: tuple[str, ...]
    turns: tuple[Turn, ...] = ()
    final_answer: str | None = None
    completion: str = ""
    max_turns: int = 4
    question_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.gold_chunk_ids, tuple):
            object.__setattr__(self, "gold_chunk_ids", tuple(self.gold_chunk_ids))
        if not isinstance(self.turns, tuple):
            object.__setattr__(self, "turns", tuple(self.turns))

    # convenience views used by several rewards -------------------------------------------
    @property
    def queries(self) -> list[str]:
        """The search queries of the episode, in order (turns without a query skipped)."""
        return [t.query for t in self.turns if t.query is not None]

    @property
    def well_formed(self) -> bool:
        """Whether the episode ended with an answer and no turn was malformed."""
        return self.final_answer is not None and not any(t.malformed for t in self.turns)

    def to_json(self) -> dict[str, Any]:
        """The JSONL record of this trajectory (the format rollouts are saved in)."""
        return {
            "question": self.question,
            "gold_answer": self.gold_answer,
            "gold_chunk_ids": list(self.gold_chunk_ids),
            "turns": [t.to_json() for t in self.turns],
            "final_answer": self.final_answer,
            "completion": self.completion,
            "max_turns": self.max_turns,
            "question_id": self.question_id,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Trajectory:
        """Build a trajectory from its JSON record.

        Unknown keys, missing required keys (``question``, ``gold_answer``,
        ``gold_chunk_ids``) and wrongly typed values raise ``ValueError`` naming the field,
        e.g. ``trajectory field 'turns[1].retrieved[0].rank': expected an integer, got 'x'``.

        >>> traj = Trajectory("Who?", "Byron", ("c1",), turns=(Turn("<search>who</search>", query="who"),))
        >>> Trajectory.from_json(traj.to_json()) == traj
        True
        >>> Trajectory.from_json({"question": "Who?", "gold_answer": "Byron"})
        Traceback (most recent call last):
        ...
        ValueError: trajectory field 'gold_chunk_ids' is missing (required: ['gold_answer', 'gold_chunk_ids', 'question'])
        """
        where = "trajectory"
        if not isinstance(record, Mapping):
            raise ValueError(f"trajectory record must be a JSON object, got {type(record).__name__}")
        _check_keys(
            record,
            {f for f in cls.__dataclass_fields__},
            {"question", "gold_answer", "gold_chunk_ids"},
            where,
        )
        gold_ids = _list(record["gold_chunk_ids"], "gold_chunk_ids")
        turns = _list(record.get("turns") or [], "turns")
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ValueError(_bad("metadata", "a JSON object", metadata))
        return cls(
            question=_str(record["question"], "question"),
            gold_answer=_str(record["gold_answer"], "gold_answer"),
            gold_chunk_ids=tuple(_str(c, f"gold_chunk_ids[{i}]") for i, c in enumerate(gold_ids)),
            turns=tuple(
                Turn.from_json(_mapping(t, f"turns[{i}]"), f"turns[{i}]") for i, t in enumerate(turns)
            ),
            final_answer=_opt_str(record.get("final_answer"), "final_answer"),
            completion=_str(record.get("completion") or "", "completion"),
            max_turns=_int(record.get("max_turns", 4), "max_turns"),
            question_id=_str(record.get("question_id") or "", "question_id"),
            metadata=dict(metadata),
        )


def as_trajectory(value: Trajectory | Mapping[str, Any]) -> Trajectory:
    """Return ``value`` as a :class:`Trajectory` (a JSON dict is parsed with ``from_json``)."""
    if isinstance(value, Trajectory):
        return value
    if isinstance(value, Mapping):
        return Trajectory.from_json(value)
    raise TypeError(f"expected a Trajectory or its JSON dict, got {type(value).__name__}")


# validation helpers ------------------------------------------------------------------------
def _bad(where: str, expected: str, value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"trajectory field {where!r}: expected {expected}, got {shown}"


def _check_keys(record: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(record, Mapping):
        raise ValueError(_bad(where, "a JSON object", record))
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise ValueError(f"trajectory field {where!r}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(record))
    if missing:
        name = missing[0] if where == "trajectory" else f"{where}.{missing[0]}"
        raise ValueError(f"trajectory field {name!r} is missing (required: {sorted(required)})")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(_bad(where, "a JSON object", value))
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(_bad(where, "a list", value))
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(_bad(where, "a string", value))
    return value


def _opt_str(value: Any, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(_bad(where, "an integer", value))
    return value


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(_bad(where, "a finite number", value))
    return float(value)
