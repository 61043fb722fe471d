"""The batched rollout driver: N search episodes in lockstep against any LLM backend.

Episodes follow the Search-R1 layout: one assistant message in which model turns and
``<information>`` blocks interleave. Each turn, the live episodes' texts (prompt plus
completion so far) go to the backend in ONE ``generate`` call that stops at ``</search>``
or ``</answer>``; their search queries go to the retriever in ONE ``search`` call; each
episode then advances through the same :class:`~teacherforge.envs.episode.SearchEpisode`
state machine :class:`~teacherforge.envs.SearchEnv` uses.

With a tokenizer, every episode also carries token ids: the model's own completion ids
(``Completion.completion_token_ids``, mask 1, with their logprobs) and the tokenized
``<information>`` blocks the environment inserted (mask 0, logprob 0.0). The prompt of a
later turn is the raw text, so a backend re-tokenises it; token boundaries between a model
turn and the following block may differ slightly from what the model saw (as in Search-R1).

With ``env.protocol: tools`` the episode is a chat instead (:mod:`teacherforge.envs.tool_calls`):
a turn ends at the model's end-of-turn token (no stop strings), and what the environment
inserts is the chat template's rendering of a ``tool`` message and the next assistant header
(mask 0); the end-of-turn token the model wrote stays a model token (mask 1), as TRL's own
tool loop keeps it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from teacherforge.envs.episode import SearchEpisode
from teacherforge.envs.protocol import ParsedAction, close_open_action
from teacherforge.envs.task import SearchTask
from teacherforge.records import Question, as_questions
from teacherforge.rewards import Trajectory
from teacherforge.types import Completion, GenerationParams
from teacherforge.workspace import atomic_write_jsonl


@dataclass(frozen=True)
class Episode:
    """One finished rollout of the driver, ready for a trainer and for ``teacherforge rewards replay``
    (the in-progress state is a :class:`SearchEpisode`, the scored record a :class:`Trajectory`).

    ``completion_ids`` interleave model tokens and environment tokens in order;
    ``env_mask`` is 1 on model-written tokens and 0 on environment-inserted
    ``<information>`` tokens; ``logprobs`` has one entry per completion token (0.0 on
    environment tokens) or is ``None`` when the backend gave none. Without a tokenizer
    every id tuple is empty and only the texts and the trajectory are filled.
    ``completion_text`` is the assistant message as the model saw it (model turns and
    ``<information>`` blocks). ``reward`` and ``reward_breakdown`` are the rubric's result,
    computed once when the episode's group ended.
    """

    trajectory: Trajectory
    prompt_text: str
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    env_mask: tuple[int, ...]
    logprobs: tuple[float, ...] | None
    reward: float
    reward_breakdown: dict[str, float]
    info: dict[str, Any]
    completion_text: str = ""


@dataclass
class _Tokens:
    """The token buffers of one live episode (prompt, completion, mask, logprobs)."""

    prompt_text: str
    prompt_ids: tuple[int, ...] = ()
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] | None = field(default_factory=list)


def save_trajectories(path: str | os.PathLike[str], episodes: Sequence[Episode]) -> int:
    """Write the episodes' trajectories as JSONL (atomically), the format ``teacherforge
    rewards replay --trajectories`` reads; returns the number written."""
    return atomic_write_jsonl(path, (e.trajectory.to_json() for e in episodes))


def _encode(tokenizer: Any, text: str) -> list[int]:
    if not text:
        return []
    return list(tokenizer.encode(text, add_special_tokens=False))


class RolloutDriver:
    """Run search episodes in lockstep with one ``generate`` and one ``search`` call per turn.

    Args:
        task: the :class:`~teacherforge.envs.task.SearchTask` (retriever, top-k, settings,
            prompts, rubric).
        tokenizer: a Hugging Face tokenizer; renders the prompt with its chat template and
            tokenizes the environment's blocks. ``None``: ChatML text, no token ids.

    Running N episodes together gives the same episodes as running them one by one, except
    that a dense retriever's scores may differ in their last float32 bits (~1e-7): the
    embedder encodes a turn's queries in one batched forward pass whose shape depends on
    the batch (``benchmarks/bench_env.py``'s ``lockstep_mismatches`` compares them so).
    """

    def __init__(self, task: SearchTask, tokenizer: Any = None) -> None:
        self.task = task
        self.tokenizer = tokenizer
        self.chat = task.tool_chat(tokenizer)  # env.protocol: tools (None with tags)
        self.generate_calls = 0
        self.search_calls = 0

    def prompt_text(self, question: Question) -> str:
        """The chat-templated first prompt of ``question`` (same text as ``SearchEnv.reset``)."""
        return self.task.prompt(question, self.tokenizer)

    def run(
        self, backend: Any, questions: Sequence[Mapping[str, Any] | Question], params: GenerationParams
    ) -> list[Episode]:
        """Roll out ``params.n`` episodes per question; episode ``q * n + i`` is sample ``i``
        of question ``q``, and the ``n`` samples of a question are scored as one group.
        ``params.max_new_tokens`` applies per turn; the closing action tags are added to
        ``params.stop``."""
        episodes: list[SearchEpisode] = []
        tokens: list[_Tokens] = []
        for q in as_questions(questions):
            prompt = self.prompt_text(q)
            prompt_ids = tuple(_encode(self.tokenizer, prompt)) if self.tokenizer is not None else ()
            for i in range(params.n):
                metadata = {"index": self.task.index, "sample_index": i}
                episodes.append(SearchEpisode(self.task, q, metadata, self.chat))
                tokens.append(_Tokens(prompt, prompt_ids))
        protocol_stops = (
            self.task.tags.stop_strings if self.chat is None else ()
        )  # tools: the EOS ends a turn
        stop = tuple(dict.fromkeys((*params.stop, *protocol_stops)))
        turn_params = dataclasses.replace(params, n=1, stop=stop)
        while live := [i for i, e in enumerate(episodes) if not e.done]:
            prompts = [tokens[i].prompt_text + "".join(episodes[i].transcript) for i in live]
            completions = backend.generate(prompts, turn_params)
            self.generate_calls += 1
            if len(completions) != len(live):
                raise RuntimeError(
                    f"backend {getattr(backend, 'identity', backend)!r} returned {len(completions)} completions "
                    f"for {len(live)} prompts"
                )
            turns = [self._add_model_turn(episodes[i], tokens[i], c) for i, c in zip(live, completions)]
            queries = [a.query for a, _ in turns if a.kind == "search"]
            hits = iter(self.task.search(queries) if queries else [])
            if queries:
                self.search_calls += 1
            for i, (action, written) in zip(live, turns):
                observation = episodes[i].advance(action, next(hits) if action.kind == "search" else None)
                self._add_env_block(tokens[i], observation.removeprefix(written))
        for start in range(0, len(episodes), params.n):
            self.task.score(episodes[start : start + params.n])
        return [self._finish(e, t) for e, t in zip(episodes, tokens)]

    # ------------------------------------------------------------------ helpers
    def _restore_stop(self, completion: Completion) -> tuple[str, str, bool]:
        """The turn text, the closing text the model wrote but the backend cut off (``""`` when
        none), and whether the completion's token ids already contain it.

        Tags: with a tokenizer and token ids that decode to the text plus more, the ids tell
        which stop string ended the turn (a backend such as ``TransformersBackend`` keeps
        its tokens in the ids and cuts it from the text) or that none did (EOS, length).
        Otherwise a ``"stop"`` finish closes the action left open at the end of the text
        (:func:`close_open_action`); such a backend cannot tell an EOS from a stop string.
        The closing tag is part of the turn text.

        Tools: a ``"stop"`` finish is the model's end-of-turn token (:attr:`ToolChat.turn_end`),
        which is not part of the turn text; the ids contain it when they end with it.
        """
        raw = completion.text
        if completion.finish_reason != "stop":
            return raw, "", False
        ids = list(completion.completion_token_ids)
        if self.chat is not None:
            end = self.chat.turn_end
            end_ids = _encode(self.tokenizer, end)
            return raw, end, bool(ids) and ids[-len(end_ids) :] == end_ids
        tags = self.task.tags
        if self.tokenizer is not None and ids:
            decoded = str(self.tokenizer.decode(ids, skip_special_tokens=True))
            if decoded.startswith(raw):
                rest = decoded[len(raw) :]
                stop = next((s for s in tags.stop_strings if rest.startswith(s)), "")
                return raw + stop, stop, True
        closed = close_open_action(raw, tags)
        return closed, closed[len(raw) :], False

    def _add_model_turn(
        self, episode: SearchEpisode, tokens: _Tokens, completion: Completion
    ) -> tuple[ParsedAction, str]:
        """Parse the turn and add its tokens (mask 1); returns the action and the end-of-turn
        text the model wrote that the tools protocol's observation repeats (``""`` with tags)."""
        text, closing, ids_have_closing = self._restore_stop(completion)
        action = episode.parse(text)
        if self.tokenizer is not None:
            ids = list(completion.completion_token_ids) or _encode(self.tokenizer, completion.text)
            logprobs = completion.logprobs
            suffix = [] if ids_have_closing else _encode(self.tokenizer, closing)
            tokens.ids += ids + suffix
            tokens.mask += [1] * (len(ids) + len(suffix))
            if tokens.logprobs is not None and logprobs is not None and len(logprobs) == len(ids):
                tokens.logprobs += [*map(float, logprobs), *([0.0] * len(suffix))]
            else:
                tokens.logprobs = None
        return action, closing if self.chat is not None else ""

    def _add_env_block(self, tokens: _Tokens, observation: str) -> None:
        if observation and self.tokenizer is not None:
            ids = _encode(self.tokenizer, observation)
            tokens.ids += ids
            tokens.mask += [0] * len(ids)
            if tokens.logprobs is not None:
                tokens.logprobs += [0.0] * len(ids)

    def _finish(self, episode: SearchEpisode, tokens: _Tokens) -> Episode:
        has_ids = self.tokenizer is not None
        return Episode(
            trajectory=episode.trajectory(),
            prompt_text=tokens.prompt_text,
            prompt_ids=tokens.prompt_ids,
            completion_ids=tuple(tokens.ids),
            env_mask=tuple(tokens.mask),
            logprobs=tuple(tokens.logprobs) if has_ids and tokens.logprobs is not None else None,
            reward=episode.reward,
            reward_breakdown=dict(episode.breakdown),
            info=episode.info(),
            completion_text="".join(episode.transcript),
        )
