"""``SearchEnv``: the Gymnasium search environment (``teacherforge/Search-v0``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium import spaces

from teacherforge.config import Config, EnvConfig, RetrievalConfig, RewardsConfig
from teacherforge.envs.episode import SearchEpisode
from teacherforge.envs.protocol import CHARSET, to_charset
from teacherforge.envs.task import SearchIndex, SearchTask, build_task
from teacherforge.records import Question
from teacherforge.run import RunLayout

#: Longest action the action space samples (longer actions are still accepted by ``step``).
MAX_ACTION_CHARS = 4096


class SearchEnv(gym.Env[str, str]):
    """Answer a question about a private corpus by searching it, in text turns.

    ## Description
    Each episode asks one question from a data-generation run (``questions.json``). The
    agent (a language model) writes turns: ``<think>…</think>`` (optional) followed by
    exactly one action, ``<search>query</search>`` or ``<answer>…</answer>``. A search
    returns the top-k chunks of the run's index inside ``<information>…</information>``; an
    answer ends the episode. Tag names and the system prompt template are configurable
    (:class:`~teacherforge.config.EnvConfig`).

    With ``env.protocol: tools`` (``tokenizer`` required, its chat template must support tools)
    the search is a native tool call of the ``search`` tool the chat template declares, a turn
    without a tool call is the answer, and each observation is the chat template's rendering of
    the end of the model's message, a ``tool`` message and the next assistant header
    (:mod:`teacherforge.envs.tool_calls`).

    ## Action Space
    ``Text(max_length=4096, min_length=0, charset=CHARSET)``: one model turn. ``CHARSET``
    is every printable Basic Multilingual Plane character plus tab and newline; ``step``
    accepts any string (longer, or with other characters, which are normalised into the
    charset before parsing).

    ## Observation Space
    ``Text(max_length=max_observation_chars, min_length=0, charset=CHARSET)``. ``reset``
    returns the full first prompt (system prompt and question, rendered with the
    tokenizer's chat template, or ChatML without one); ``step`` returns the text to append
    after the turn: an ``<information>`` block with numbered hits, an ``<information>``
    block with a short corrective message after a malformed turn, or ``""`` once the
    episode is over.

    ## Rewards
    0.0 on every step but the last; the last step returns the rubric's weighted total on
    the episode's :class:`~teacherforge.rewards.Trajectory` (default rubric:
    ``load_rubric("autodidact")``: F1, exact match, format, ``retrieval_match`` and a ``search_cost``
    guard), scored
    as a group of one, and ``info["reward_breakdown"]`` maps each component to its
    unweighted score. Totals lie within ``rubric.bounds``.

    ## Episode End
    Terminated after an ``<answer>`` turn. Truncated when ``max_turns`` turns have been
    used without an answer; malformed turns (no tag, two actions, empty query, query over
    ``max_query_chars`` characters, unclosed tag; with tools also a tool call that is not valid
    JSON, an unknown tool or two calls) count against the budget.

    ## Arguments
    ``gymnasium.make("teacherforge/Search-v0", run_dir=..., index="original", split="train",
    top_k=3, max_turns=4)``

    - ``task``: a :class:`~teacherforge.envs.task.SearchTask` (from
      :func:`~teacherforge.envs.task.build_task`); the arguments below build one otherwise.
    - ``run_dir``: data-generation run directory (``questions.json``, ``index/``,
      ``index_paraphrased/``); not needed when ``retriever`` and ``questions`` are given.
    - ``index``: ``"original"`` or ``"paraphrased"`` (hits map back to original chunk ids).
    - ``split``: question split (``train``/``validation``/``test``); ignored for injected questions.
    - ``top_k``: hits per search (default 3); ``max_turns`` overrides the field of ``config``.
    - ``config``: an :class:`~teacherforge.config.EnvConfig` (defaults otherwise).
    - ``retriever``: any object with ``search(queries, k) -> list[list[Hit]]``.
    - ``questions``: question records (``questions.json`` form) or :class:`Question` objects.
    - ``rubric``: a :class:`~teacherforge.rewards.Rubric`, a preset name or a YAML path.
    - ``tokenizer``: renders the first prompt with its chat template (and, with tools, every observation).
    - ``render_mode``: ``None`` or ``"ansi"`` (``render()`` returns the transcript).

    ``reset(seed=..., options={"question_id": ...})`` picks the question with
    ``self.np_random`` (deterministic per seed) unless ``question_id`` names one.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None = None,
        index: str | None = None,
        split: str | None = None,
        top_k: int | None = None,
        max_turns: int | None = None,
        *,
        task: SearchTask | None = None,
        config: EnvConfig | None = None,
        retriever: SearchIndex | None = None,
        questions: Sequence[Mapping[str, Any] | Question] | None = None,
        rubric: Any = None,
        tokenizer: Any = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not supported; use None or 'ansi'")
        self.render_mode = render_mode
        if task is None:
            task = _task_from_arguments(
                run_dir, index, split, top_k, max_turns, config, retriever, questions, rubric
            )
        elif any(
            v is not None
            for v in (run_dir, index, split, top_k, max_turns, config, retriever, questions, rubric)
        ):
            raise ValueError("SearchEnv: give either task=, or the arguments that build one, not both")
        self.task = task
        self.tokenizer = tokenizer
        self.chat = task.tool_chat(tokenizer)  # env.protocol: tools (None with tags)
        self.action_space = spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self.observation_space = spaces.Text(task.config.max_observation_chars, min_length=0, charset=CHARSET)
        self._episode: SearchEpisode | None = None
        self._prompt = ""

    @property
    def rubric(self) -> Any:
        """The task's rubric (``rubric.bounds`` bounds every reward)."""
        return self.task.rubric

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode; ``options={"question_id": ...}`` picks the question."""
        super().reset(seed=seed)
        task = self.task
        question_id = (options or {}).get("question_id")
        if question_id is not None:
            question = task.question(question_id)
        else:
            question = task.questions[int(self.np_random.integers(len(task.questions)))]
        prompt = task.prompt(question, self.tokenizer)
        if len(prompt) > task.config.max_observation_chars:
            raise ValueError(
                f"question {question.id!r}: the first prompt has {len(prompt)} characters, over "
                f"env.max_observation_chars={task.config.max_observation_chars}; raise that limit"
            )
        self._episode = SearchEpisode(task, question, {"index": task.index}, self.chat)
        self._prompt = prompt
        return prompt, self._episode.info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one model turn; see the class docstring for what comes back."""
        episode = self._episode
        if episode is None or episode.done:
            raise gym.error.ResetNeeded("call reset() before step() (the episode is over or not started)")
        if not isinstance(action, str):
            raise TypeError(f"action must be a str (one model turn), got {type(action).__name__}")
        parsed = episode.parse(action)
        hits = self.task.search([parsed.query])[0] if parsed.kind == "search" else None
        observation = episode.advance(parsed, hits)
        if episode.done:
            self.task.score([episode])
        reward = episode.reward if episode.done else 0.0
        return observation, reward, episode.terminated, episode.truncated, episode.info()

    @property
    def episode(self) -> SearchEpisode | None:
        """The current episode (its trajectory, turns and score), or ``None`` before ``reset``."""
        return self._episode

    def render(self) -> str | None:
        """``"ansi"`` mode: the transcript so far (prompt, turns and observations)."""
        if self.render_mode != "ansi":
            return None
        turns = self._episode.transcript if self._episode is not None else []
        return to_charset(self._prompt + "".join(turns))


def _task_from_arguments(
    run_dir: str | os.PathLike[str] | None,
    index: str | None,
    split: str | None,
    top_k: int | None,
    max_turns: int | None,
    config: EnvConfig | None,
    retriever: SearchIndex | None,
    questions: Sequence[Mapping[str, Any] | Question] | None,
    rubric: Any,
) -> SearchTask:
    """The task ``SearchEnv``'s keyword arguments describe (``gymnasium.make`` passes them)."""
    if (retriever is None or questions is None) and run_dir is None:
        raise ValueError("SearchEnv needs run_dir=..., or both retriever= and questions=")
    env = config or EnvConfig()
    overrides = {"split": split, "max_turns": max_turns}
    env = dataclasses.replace(env, **{k: v for k, v in overrides.items() if v is not None})
    retrieval = {"index": index, "top_k": top_k}
    full = Config(
        env=env,
        retrieval=RetrievalConfig(**{k: v for k, v in retrieval.items() if v is not None}),
        rewards=RewardsConfig(preset=os.fspath(rubric))
        if isinstance(rubric, (str, os.PathLike))
        else RewardsConfig(),
    )
    chosen = None if rubric is None or isinstance(rubric, (str, os.PathLike)) else rubric
    if retriever is None:  # no retrieval config given: the index searches as it was built
        retriever = RunLayout(run_dir).retriever(full.retrieval.index)
    return build_task(full, run_dir, rubric=chosen, retriever=retriever, questions=questions)
