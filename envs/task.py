"""The search task: everything an episode needs, assembled once and handed to every consumer.

A :class:`SearchTask` holds the environment settings (protocol tags, turn budget, limits,
prompt template), the retriever with the index name and top-k it is searched with, the
question pool, the rubric, and what derives from them (the tags, the rendered system
prompt). :class:`~teacherforge.envs.SearchEnv`, the batched
:class:`~teacherforge.envs.RolloutDriver`, the warm start, GRPO, evaluation and ``ask`` all
take one, so none of them repeats that setup.

:func:`build_task` is the one factory from a config and a run directory; :func:`rubric_of`
composes the configured rubric and injects the judge LLM (for the ``judge`` and ``ruler``
rewards, :class:`LazyLLM`) where the rubric is built, so the judge works wherever the task goes.
When the rubric has ``gain_beyond_rag``, the task records each question's naive top-k context
on its episodes (:meth:`SearchTask.naive_context`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from teacherforge.config import Config, ConfigError, EnvConfig, LLMConfig
from teacherforge.envs.prompts import build_messages, render_prompt, render_system_prompt
from teacherforge.envs.protocol import Tags
from teacherforge.envs.tool_calls import ToolChat, search_tool
from teacherforge.records import Question, as_questions
from teacherforge.rewards.answer import Judge, make_judge_reward
from teacherforge.rewards.gain import NAIVE_CONTEXT_KEY
from teacherforge.rewards.judge import AskFn, make_llm_judge
from teacherforge.rewards.presets import read_preset, rubric_from_dict
from teacherforge.rewards.registry import configured_reward
from teacherforge.rewards.rubric import Rubric
from teacherforge.run import RunLayout
from teacherforge.types import GenerationParams, Hit, Message

if TYPE_CHECKING:
    from teacherforge.envs.episode import SearchEpisode

#: Greedy, short: a judge replies with one verdict word.
JUDGE_PARAMS = GenerationParams(max_new_tokens=8, temperature=0.0, n=1)
#: Greedy: the group judge replies with one score per sample of a group.
GROUP_JUDGE_PARAMS = GenerationParams(max_new_tokens=256, temperature=0.0, n=1)
#: The reward that compares the agent's context with the naive top-k one (the task records it).
GAIN_REWARD = "gain_beyond_rag"


class SearchIndex(Protocol):
    """What the environment needs from a retriever (``teacherforge.retrieval.Retriever`` or a test double)."""

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """Top-``k`` hits for each query, ranks 1..k, at most one hit per chunk id."""
        ...


@dataclass(frozen=True, eq=False)
class SearchTask:
    """One search task: settings, retriever, questions, rubric and the rendered prompts.

    ``config.protocol`` chooses how the model acts: ``tags`` (``<search>``/``<answer>`` tags in
    one assistant message) or ``tools`` (native tool calls through the chat template,
    :meth:`tool_chat`).

    Args:
        config: the environment's protocol settings (tag names, ``max_turns``, query and
            observation limits, ``max_new_tokens``, system prompt template, split).
        retriever: any object with ``search(queries, k) -> list[list[Hit]]``.
        questions: the question pool (:class:`Question` objects or ``questions.json`` records).
        rubric: scores finished episodes; anything with the :class:`Rubric` interface
            (``score_group``, ``weights``, ``bounds``, ``names``).
        index: the index name the retriever searches (``original``/``paraphrased``),
            recorded in each trajectory's metadata.
        top_k: hits per search, read at search time (:meth:`search`).

    ``tags`` and ``system_prompt`` are derived from the settings when the task is built.
    """

    config: EnvConfig
    retriever: SearchIndex
    questions: tuple[Question, ...]
    rubric: Any
    index: str = "original"
    top_k: int = 3
    tags: Tags = field(init=False)
    system_prompt: str = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"SearchTask.top_k must be an integer >= 1, got {self.top_k!r}")
        if not callable(getattr(self.rubric, "score_group", None)):
            raise TypeError(
                f"SearchTask.rubric must be a Rubric (with score_group), got {type(self.rubric).__name__}; "
                "build one with load_rubric(...) or rubric_of(config)"
            )
        object.__setattr__(self, "questions", tuple(as_questions(self.questions)))
        tags = Tags(
            self.config.think_tag, self.config.search_tag, self.config.answer_tag, self.config.information_tag
        )
        object.__setattr__(self, "tags", tags)
        prompt = render_system_prompt(
            self.config.system_prompt, tags, self.config.max_turns, self.top_k, self.config.protocol
        )
        object.__setattr__(self, "system_prompt", prompt)

    @property
    def tools(self) -> list[dict[str, Any]] | None:
        """The tools declared to the model: the search tool with ``env.protocol: tools``, else ``None``."""
        if self.config.protocol != "tools":
            return None
        return [search_tool(self.tags, self.config.max_query_chars, self.top_k)]

    def tool_chat(self, tokenizer: Any) -> ToolChat | None:
        """The tool-call protocol over ``tokenizer`` with ``env.protocol: tools`` (``None`` with
        tags); a one-line ``ValueError`` naming the model and the fix when its chat template
        has no tool support. The environment and the rollout driver call it when they are built."""
        if self.config.protocol != "tools":
            return None
        return ToolChat.build(tokenizer, self.tags, self.config, self.top_k)

    def prompt(self, question: Question, tokenizer: Any = None) -> str:
        """The first prompt of an episode on ``question``: system prompt and question, rendered
        with ``tokenizer``'s chat template (ChatML without one), declaring :attr:`tools`."""
        return render_prompt(build_messages(question.question, self.system_prompt), tokenizer, self.tools)

    def question(self, question_id: str) -> Question:
        """The question with id ``question_id``; an unknown id raises ``ValueError`` listing some."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise ValueError(
            f"unknown question_id {question_id!r}; this task has {len(self.questions)} questions "
            f"(split {self.config.split!r}), e.g. {[q.id for q in self.questions[:3]]}"
        )

    def search(self, queries: list[str]) -> list[list[Hit]]:
        """The top-:attr:`top_k` hits of each query."""
        return self.retriever.search(queries, k=self.top_k)

    def naive_context(self, question: Question) -> list[str]:
        """The texts of the top-:attr:`top_k` hits of ``question``'s own text: the plain-retrieval
        context ``gain_beyond_rag`` compares the agent's with. The whole question pool is searched
        in one batched call at the first use; a question outside the pool is searched alone."""
        contexts = self._naive_contexts
        if question.id not in contexts:
            contexts[question.id] = [hit.text for hit in self.search([question.question])[0]]
        return contexts[question.id]

    @cached_property
    def _naive_contexts(self) -> dict[str, list[str]]:
        hits = self.search([q.question for q in self.questions]) if self.questions else []
        return {q.id: [hit.text for hit in found] for q, found in zip(self.questions, hits)}

    def score(self, group: Sequence[SearchEpisode]) -> None:
        """Score finished episodes that form one group (the samples of one prompt) with the
        rubric, once, and record each result on its episode. When the rubric has the
        ``gain_beyond_rag`` component, each episode's metadata first gets its question's
        :meth:`naive_context` (``metadata["naive_context"]``), which its saved trajectory keeps."""
        if GAIN_REWARD in self.rubric.weights:
            for episode in group:
                episode.metadata[NAIVE_CONTEXT_KEY] = self.naive_context(episode.question)
        results = self.rubric.score_group([episode.trajectory() for episode in group])
        for episode, result in zip(group, results):
            episode.record_score(result)


def build_task(
    config: Config,
    run: RunLayout | str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    index: str | None = None,
    top_k: int | None = None,
    judge: Judge | None = None,
    rubric: Any = None,
    retriever: SearchIndex | None = None,
    questions: Sequence[Mapping[str, Any] | Question] | None = None,
) -> SearchTask:
    """The search task of ``config`` over the run directory ``run``.

    ``split`` (default ``env.split``) picks the questions and ``index`` (default
    ``retrieval.index``) the retriever, both loaded through :class:`RunLayout` (the retriever
    with the config's search-time ``retrieval`` settings); ``top_k``
    (default ``retrieval.top_k``) is the hits per search. The rubric is :func:`rubric_of`
    ``(config, judge)``. ``rubric``, ``retriever`` and ``questions`` replace what would be built or
    loaded (a test double, an already loaded index, an ad-hoc question); ``run`` may be
    ``None`` when both ``retriever`` and ``questions`` are given.
    """
    index = index or config.retrieval.index
    split = split or config.env.split
    if run is None and (retriever is None or questions is None):
        raise ValueError("build_task needs a run dir, or both retriever= and questions=")
    layout = run if isinstance(run, RunLayout) or run is None else RunLayout(run)
    return SearchTask(
        config=dataclasses.replace(config.env, split=split),
        retriever=retriever if retriever is not None else layout.retriever(index, config.retrieval),
        questions=tuple(questions if questions is not None else layout.questions(split)),
        rubric=rubric if rubric is not None else rubric_of(config, judge),
        index=index,
        top_k=top_k or config.retrieval.top_k,
    )


def rubric_of(config: Config, judge: Judge | None = None) -> Rubric:
    """The configured rubric: ``rewards.preset`` with ``rewards.weights`` overriding (or weights alone).

    The judge LLM ``rewards.judge`` is injected where the rubric is composed, and loads its
    model at its first call (:class:`LazyLLM`), so composing the rubric loads nothing: a
    ``judge`` component gets ``judge`` (default: a yes/no verdict of ``rewards.judge``); a
    ``ruler`` component gets the group judge (:func:`~teacherforge.rewards.ruler.make_group_judge`)
    asking ``rewards.judge``, built with the preset's ``params.ruler`` (``fallback``). Errors are
    :class:`ConfigError` naming the ``rewards`` key; an unknown preset raises
    ``FileNotFoundError`` listing the packaged ones.
    """
    rw = config.rewards
    try:
        if rw.preset:
            parsed, source = read_preset(rw.preset)
            overrides = dict(rw.weights) or None
        elif rw.weights:
            parsed, source, overrides = {"weights": dict(rw.weights)}, "rewards", None
        else:
            raise ConfigError("rewards: set rewards.preset or rewards.weights (reward name → weight)")
        weights = parsed.get("weights")
        names = (set(weights) if isinstance(weights, Mapping) else set()) | set(overrides or {})
        llm = LazyLLM(rw.judge) if rw.judge is not None else None
        injected: dict[str, Any] = {}
        if "judge" in names:
            if judge is None:
                judge = make_llm_judge(_judge_llm(llm, source, "judge").ask(JUDGE_PARAMS))
            injected["judge"] = make_judge_reward(judge)
        if "ruler" in names:
            parsed, settings = _take_params(parsed, "ruler", source)
            ask = _judge_llm(llm, source, "ruler").ask(GROUP_JUDGE_PARAMS)
            try:
                injected["ruler"] = configured_reward("ruler", {**settings, "ask": ask})
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: params.ruler: {exc}") from None
        return rubric_from_dict(
            parsed, source, overrides=overrides, on_error=rw.on_error, rewards=injected or None
        )
    except (KeyError, ValueError) as exc:
        message = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        raise ConfigError(message if message.startswith("rewards") else f"rewards: {message}") from None


def _judge_llm(llm: LazyLLM | None, source: str, name: str) -> LazyLLM:
    """The configured judge LLM, else a :class:`ConfigError` saying that ``name`` needs one."""
    if llm is None:
        raise ConfigError(
            f"rewards.judge: {source} weights the {name!r} reward but no judge LLM is configured; "
            "set rewards.judge.model (and rewards.judge.backend)"
        )
    return llm


def _take_params(parsed: Mapping[str, Any], name: str, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``parsed`` without ``params.<name>``, and those settings (``{}`` when absent)."""
    params = parsed.get("params")
    if not isinstance(params, Mapping) or name not in params:
        return dict(parsed), {}
    settings = params[name]
    if not isinstance(settings, Mapping):
        raise ValueError(f"{source}: params.{name}: expected a mapping of setting -> value, got {settings!r}")
    return {**parsed, "params": {k: v for k, v in params.items() if k != name}}, dict(settings)


class LazyLLM:
    """The judge LLM ``llm`` describes, built at the first call of any of its :meth:`ask` functions
    and shared by them (so a ``judge`` and a ``ruler`` component load one model)."""

    def __init__(self, llm: LLMConfig) -> None:
        self.llm = llm
        self._backend: Any = None

    def ask(self, params: GenerationParams) -> AskFn:
        """``ask(system, user) -> reply``: one chat turn of the LLM with ``params``."""

        def ask(system: str, user: str) -> str:
            if self._backend is None:
                from teacherforge.llm import build_backend

                self._backend = build_backend(self.llm)
            completions = self._backend.generate([(Message("system", system), Message("user", user))], params)
            if not completions:
                raise ValueError(
                    f"the judge backend {self.llm.backend}:{self.llm.model} returned no completion"
                )
            return str(completions[0].text)

        return ask
