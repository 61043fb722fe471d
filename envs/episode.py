"""One episode's state machine, shared by :class:`SearchEnv` and the rollout driver.

Three names for an episode, each a different thing:

- :class:`SearchEpisode` (here): an episode in progress — the question, the turns so far,
  the turn budget — and, once scored, its reward;
- :class:`~teacherforge.envs.driver.Episode`: a finished rollout of the driver, ready for a
  trainer (its trajectory, token ids, environment mask, logprobs and reward);
- :class:`~teacherforge.rewards.Trajectory`: the plain record rewards score and rollouts are
  saved as (JSONL).

A caller parses a turn (:meth:`SearchEpisode.parse`), runs the search if the turn is one (the
env one query at a time, the driver all live episodes' queries in one batch) and hands the
hits to :meth:`SearchEpisode.advance`, which records the turn and returns the observation.
Scoring is the caller's job too, once the episode is over: the task's rubric scores a whole
group of episodes at once (:meth:`~teacherforge.envs.task.SearchTask.score`) and records the
result with :meth:`SearchEpisode.record_score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from teacherforge.envs.protocol import ParsedAction, format_information, format_malformed, parse_action
from teacherforge.records import Question
from teacherforge.rewards import RetrievedRef, RubricResult, Trajectory, Turn, is_gold_hit
from teacherforge.types import Hit

if TYPE_CHECKING:
    from teacherforge.envs.task import SearchTask
    from teacherforge.envs.tool_calls import ToolChat


class SearchEpisode:
    """State of one search episode of ``task`` on ``question`` (no I/O: searching and scoring
    are the caller's job). ``chat`` is the task's tool-call protocol (:meth:`SearchTask.tool_chat`)
    with ``env.protocol: tools``, ``None`` with tags.

    ``transcript`` holds what follows the first prompt: each turn's text and each non-empty
    observation, in order. ``reward``, ``breakdown`` and ``errors`` are filled by
    :meth:`record_score` once the episode is over (an answer terminates it; running out of
    turns truncates it).
    """

    def __init__(
        self, task: SearchTask, question: Question, metadata: dict | None = None, chat: ToolChat | None = None
    ) -> None:
        self.question = question
        self.config = task.config
        self.tags = task.tags
        self.chat = chat
        self.metadata = dict(metadata or {})
        self.turns: list[Turn] = []
        self.transcript: list[str] = []
        self.final_answer: str | None = None
        self.terminated = False
        self.truncated = False
        self.scored = False
        self.reward = 0.0
        self.breakdown: dict[str, float] = {}
        self.errors: dict[str, int] = {}
        self.gold_turn: int | None = None
        self.gold_rank: int | None = None

    @property
    def done(self) -> bool:
        """True once the episode terminated or was truncated."""
        return self.terminated or self.truncated

    def parse(self, text: str) -> ParsedAction:
        """Parse one model turn with this episode's protocol (tags, or ``chat``'s tool calls)."""
        if self.chat is not None:
            return self.chat.parse(text)
        return parse_action(text, self.tags, self.config.max_query_chars)

    def advance(self, action: ParsedAction, hits: Sequence[Hit] | None = None) -> str:
        """Record ``action`` (with ``hits`` when it is a search) and return the observation.

        The observation is the ``<information>`` block of the search results or of a
        corrective message (with ``chat``: the end of the model's message and a ``tool``
        message), and ``""`` once the episode is over.
        """
        if self.done:
            raise RuntimeError("the episode is over; reset the environment before stepping again")
        if action.kind == "search":
            if hits is None:
                raise ValueError("a search turn needs its hits")
            refs = tuple(RetrievedRef(h.chunk_id, int(h.rank), float(h.score), h.text) for h in hits)
            self.turns.append(Turn(action.text, query=action.query, retrieved=refs))
            gold_ranks = [r.rank for r in refs if is_gold_hit(r, self.question.gold_chunk_ids)]
            if gold_ranks and self.gold_turn is None:
                self.gold_turn, self.gold_rank = len(self.turns), min(gold_ranks)
            if self.chat is not None:
                observation = self.chat.information(hits)
            else:
                observation = format_information(hits, self.tags, self.config.max_observation_chars)
        elif action.kind == "answer":
            self.turns.append(Turn(action.text))
            self.final_answer = action.answer
            self.terminated = True
            observation = ""
        else:
            self.turns.append(Turn(action.text, malformed=action.malformed))
            if self.chat is not None:
                observation = self.chat.malformed(action.malformed or "")
            else:
                observation = format_malformed(
                    action.malformed or "",
                    self.tags,
                    self.config.max_query_chars,
                    self.config.max_observation_chars,
                )
        if not self.terminated and len(self.turns) >= self.config.max_turns:
            self.truncated = True
        if self.done:
            observation = ""
        self.transcript += [action.text, observation] if observation else [action.text]
        return observation

    def record_score(self, result: RubricResult) -> None:
        """Keep the rubric's result for this finished episode (its reward and breakdown)."""
        if not self.done:
            raise RuntimeError("an episode is scored once it is over")
        self.reward = float(result.total)
        self.breakdown = dict(result.breakdown)
        self.errors = dict(result.errors)
        self.scored = True

    def trajectory(self) -> Trajectory:
        """The episode so far as a :class:`~teacherforge.rewards.Trajectory` (JSONL-ready)."""
        metadata = dict(self.metadata)
        if self.scored:
            metadata["reward_total"] = self.reward
        if self.done:
            metadata["truncated"] = self.truncated
        return Trajectory(
            question=self.question.question,
            gold_answer=self.question.answer,
            gold_chunk_ids=self.question.gold_chunk_ids,
            turns=tuple(self.turns),
            final_answer=self.final_answer,
            completion="\n".join(t.text for t in self.turns),
            max_turns=self.config.max_turns,
            question_id=self.question.id,
            metadata=metadata,
        )

    def info(self) -> dict[str, Any]:
        """A fresh ``info`` dict: question, gold data, per-turn queries and hits, gold
        retrieval, turn count and (once over) ``reward_breakdown``."""
        turns = [
            {
                "turn": i,
                "kind": "search" if t.query is not None else ("malformed" if t.malformed else "answer"),
                "query": t.query,
                "malformed": t.malformed,
                "chunk_ids": [r.chunk_id for r in t.retrieved],
                "ranks": [r.rank for r in t.retrieved],
                "scores": [r.score for r in t.retrieved],
            }
            for i, t in enumerate(self.turns, start=1)
        ]
        return {
            "question_id": self.question.id,
            "question": self.question.question,
            "gold_answer": self.question.answer,
            "gold_chunk_ids": list(self.question.gold_chunk_ids),
            "turn": len(self.turns),
            "max_turns": self.config.max_turns,
            "queries": [t.query for t in self.turns if t.query is not None],
            "turns": turns,
            "malformed_turns": sum(t.malformed is not None for t in self.turns),
            "gold_retrieved": self.gold_turn is not None,
            "gold_turn": self.gold_turn,
            "gold_rank": self.gold_rank,
            "final_answer": self.final_answer,
            "reward_breakdown": dict(self.breakdown),
            "reward_errors": dict(self.errors),
        }
