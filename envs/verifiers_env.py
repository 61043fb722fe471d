"""The search task as a `verifiers <https://github.com/PrimeIntellect-ai/verifiers>`_ environment.

verifiers 0.4 builds an environment from three plugins named by one id: a ``Taskset`` (the
questions), a ``Harness`` (the program that calls the model) and an ``Env`` (how one task
becomes one episode). Here the taskset is the run dir's question split, the harness is a
one-call chat loop run in-process (no sandbox, nothing installed), and the env plays the
user, as verifiers' own TextArena environment does, in the configured ``env.protocol``:

- ``tags``: each reply is parsed with our tag protocol; a search is answered with one
  ``<information>`` block of hits as a user message (a malformed turn with our corrective block);
- ``tools``: every chat call declares the search tool (``tools=[search_tool(...)]``) under the
  tools system prompt, and the server's chat template renders it. The reply's structured
  ``tool_calls`` are checked by the rules of :mod:`~teacherforge.envs.tool_calls`
  (:func:`~teacherforge.envs.tool_calls.tool_action`); a search is answered with a ``tool``
  message holding the numbered hits, a malformed turn with the corrective text (a ``tool``
  message per call, a user message when the reply made no call).

Either way an answer or ``env.max_turns`` turns end the episode.
The finished episode is scored once by the configured rubric, and each component lands on
the trace as its own reward with its configured weight (``trace.reward`` is the rubric's
total); reward errors and the episode's retrieval facts are trace metrics and ``trace.info``.

Everything is assembled by :func:`~teacherforge.envs.task.build_task`, as for the Gymnasium
environment, GRPO and evaluation, so the three see one task. Each episode is scored as a
group of one (verifiers runs the samples of a prompt as independent episodes).

Usage (``pip install 'teacherforge[verifiers]'``)::

    from teacherforge.envs.verifiers_env import load_environment
    env = load_environment("runs/quickstart", split="train", config="configs/quickstart.yaml")

verifiers imports plugins by a top-level module name: the installed module ``teacherforge_search``
(:data:`PLUGIN_ID`) re-exports this one, for ``vf-eval`` and prime-rl.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

try:
    import verifiers.v1 as vf
    from openai import AsyncOpenAI
    from pydantic import Field
    from verifiers.v1.dialects.chat import message_to_wire
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ModuleNotFoundError(
        f"teacherforge.envs.verifiers_env needs verifiers>=0.4 ({exc}); pip install 'teacherforge[verifiers]'",
        name=exc.name,
    ) from None

from teacherforge.config import load_config
from teacherforge.envs.episode import SearchEpisode
from teacherforge.envs.prompts import build_messages
from teacherforge.envs.protocol import ParsedAction
from teacherforge.envs.task import SearchTask, build_task
from teacherforge.envs.tool_calls import malformed_result, tool_action, tool_result
from teacherforge.types import Hit

#: The verifiers plugin id of this environment (``--env.taskset.id``).
PLUGIN_ID = "teacherforge_search"

__all__ = ["SearchEnvironment", "SearchHarness", "SearchTaskset", "load_environment"]


class SearchTasksetConfig(vf.TasksetConfig):
    """Which run dir, split and index the taskset serves, and the TeacherForge config read."""

    run_dir: str | None = None
    """The data-generation run directory (``questions.json``, ``index/``); required (the
    verifiers CLI builds a default config before it reads the flags, so no field may be)."""
    split: str = "train"
    """The question split (``train``/``validation``/``test``)."""
    index: str = "original"
    """The index searched: ``original`` or ``paraphrased``."""
    config: str | None = None
    """A TeacherForge config (preset name or YAML path) for ``env.*``, ``retrieval.*`` and
    ``rewards.*``; the defaults when unset."""
    overrides: list[str] = Field(default_factory=list)
    """``key.path=value`` overrides of that config, as ``--set`` takes them."""


class QuestionData(vf.TaskData):
    """One question: ``id`` is its question id, ``prompt``/``system_prompt`` its first turn,
    ``tools`` the tools every chat call declares (``env.protocol: tools``; ``None`` with tags)."""

    tools: list[dict[str, Any]] | None = None


class SearchQuestion(vf.Task[QuestionData, vf.State, vf.TaskConfig]):
    """One question of the taskset (scored by :class:`SearchEnvironment`, which holds the episode)."""


class SearchTaskset(vf.Taskset[SearchQuestion, SearchTasksetConfig]):
    """The run dir's questions of one split, each opening with our system prompt."""

    def __init__(self, config: SearchTasksetConfig) -> None:
        super().__init__(config)
        if not config.run_dir:
            raise ValueError(
                "taskset.run_dir: no run directory given; set --env.taskset.run-dir (a teacherforge datagen run dir)"
            )
        settings = load_config(config.config, list(config.overrides))
        #: The search task (retriever, questions, rubric, prompts), built once; a missing run
        #: dir, split or index raises its one-line error here.
        self.search: SearchTask = build_task(settings, config.run_dir, split=config.split, index=config.index)

    def load(self) -> Iterator[SearchQuestion]:
        search = self.search
        for question in search.questions:
            system, user = build_messages(question.question, search.system_prompt)
            data = QuestionData(
                id=question.id,
                name=question.id,
                prompt=user.content,
                system_prompt=system.content,
                tools=search.tools,
            )
            yield SearchQuestion(data, self.config.task)


class SearchHarness(vf.Harness[vf.HarnessConfig]):
    """One chat completion per segment, run in-process through the rollout's interception
    endpoint (so every call is recorded on the trace), declaring the task's ``tools`` when it
    has any; the env supplies the next turn (user or tool messages)."""

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_RESUME = True
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(
        self,
        ctx: vf.ModelContext,
        trace: vf.Trace,
        runtime: vf.Runtime,
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: vf.TaskData,
    ) -> vf.ProgramResult:
        system, prompt = self.resolve_prompt(data)
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        if isinstance(prompt, str):
            messages.append({"role": "user", "content": prompt})
        else:
            messages += [message_to_wire(m) for m in prompt or []]
        tools = getattr(data, "tools", None)  # QuestionData's (a resumed segment's copy keeps it)
        declared: dict[str, Any] = {"tools": tools} if tools else {}
        async with AsyncOpenAI(base_url=endpoint, api_key=secret, max_retries=0) as client:
            await client.chat.completions.create(model=ctx.model, messages=messages, **declared)
        return vf.ProgramResult(exit_code=0, stdout="", stderr="")


class SearchEnvConfig(vf.EnvConfig):
    """The environment's one seat; its harness runs in-process, so a local runtime suffices."""

    agent: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())


class SearchEnvironment(vf.Env[SearchEnvConfig]):
    """One search episode per task: the agent writes turns, this env answers them with our
    protocol (see the module docstring) and scores the finished episode with the rubric."""

    async def run(self, task: vf.Task, agents: vf.Agents) -> None:
        search: SearchTask = self.taskset.search
        episode = SearchEpisode(search, search.question(task.data.id), {"index": search.index})
        tools = search.config.protocol == "tools"
        async with agents.agent.interaction(task) as interaction:
            segment = await interaction.turn()
            while not segment.terminated:
                reply = _reply(segment)
                parsed = tool_turn(reply, search) if tools else episode.parse(segment.last_reply)
                hits = search.search([parsed.query])[0] if parsed.kind == "search" else None
                observation = episode.advance(parsed, hits)  # the tag block; unused with tools
                if episode.done:
                    break
                answer = tool_answer(reply, parsed, hits, search) if tools else observation.strip()
                segment = await interaction.turn(answer)
        record_episode(interaction.trace, episode, search)


def _reply(segment: vf.Segment) -> vf.AssistantMessage:
    """The segment's last assistant message (the harness makes one call per segment)."""
    replies = [m for m in segment.messages if isinstance(m, vf.AssistantMessage)]
    return replies[-1] if replies else vf.AssistantMessage(content="")


def tool_turn(reply: vf.AssistantMessage, search: SearchTask) -> ParsedAction:
    """``reply`` (an assistant message of an OpenAI-compatible server) as one turn of the tools
    protocol: its structured ``tool_calls`` checked by
    :func:`~teacherforge.envs.tool_calls.tool_action`, the answer read from its content. The
    turn's text is the content with each call as the Qwen2.5 and Hermes templates render it
    (``<tool_call>{"name": ..., "arguments": ...}</tool_call>``, the arguments as sent)."""
    calls = reply.tool_calls or []
    rendered = [
        f'<tool_call>\n{{"name": {json.dumps(call.name)}, "arguments": {call.arguments}}}\n</tool_call>'
        for call in calls
    ]
    text = "\n".join(part for part in (reply.content, *rendered) if part)
    flat = [{"name": call.name, "arguments": call.arguments} for call in calls]
    return tool_action(text, flat, search.tags, search.config.max_query_chars)


def tool_answer(
    reply: vf.AssistantMessage, parsed: ParsedAction, hits: list[Hit] | None, search: SearchTask
) -> list[dict[str, Any]]:
    """What the env says to a tools-protocol turn that did not end the episode: the numbered
    ``hits`` of a search, or the corrective text of a malformed turn, as a ``tool`` message
    answering each of ``reply``'s calls (a user message when it made none). The text is at most
    ``env.max_observation_chars`` characters; the server's chat template renders the message."""
    room = search.config.max_observation_chars
    if parsed.kind == "search":
        content = tool_result(hits or [], room)
    else:
        content = malformed_result(parsed.malformed or "", search.tags, search.config.max_query_chars, room)
    ids = [call.id for call in reply.tool_calls or [] if call.id]
    if not ids:
        return [{"role": "user", "content": content}]
    return [{"role": "tool", "tool_call_id": call_id, "content": content} for call_id in ids]


def record_episode(trace: vf.Trace, episode: SearchEpisode, search: SearchTask) -> None:
    """Score a finished ``episode`` once and record it on ``trace``: each rubric component a
    reward with its weight, failed components as ``error/<name>`` metrics, the malformed
    turn count and gold retrieval as metrics, the episode's info under ``info["teacherforge"]``.
    An episode the run cut short (a verifiers limit or error) is recorded unscored."""
    if episode.done:
        search.score([episode])
        weights = search.rubric.weights
        for name, score in episode.breakdown.items():
            if name in weights:
                trace.record_reward(name, score, weights[name])
            else:
                trace.record_metric(name, score)
    info = episode.info()
    trace.record_metrics(
        {"malformed_turns": info["malformed_turns"], "gold_retrieved": float(info["gold_retrieved"])}
    )
    trace.info["teacherforge"] = info


def load_environment(
    run_dir: str | os.PathLike[str],
    split: str = "train",
    index: str = "original",
    config: str | None = None,
    overrides: Sequence[str] = (),
    **env: Any,
) -> vf.Env:
    """The verifiers environment over ``run_dir``'s ``split`` questions, searching ``index``.

    ``config`` (a TeacherForge preset name or YAML path; defaults otherwise) and its
    ``overrides`` (``key.path=value``) give the protocol, retrieval and rubric settings;
    ``env`` sets other fields of the verifiers env config (e.g. ``agent={"max_turns": 8}``).
    The run dir, split and index are checked here: a missing one raises a one-line error.
    """
    taskset = {
        "id": PLUGIN_ID,
        "run_dir": os.fspath(run_dir),
        "split": split,
        "index": index,
        "config": config,
        "overrides": list(overrides),
    }
    return vf.load_environment(vf.resolve_env_config({**env, "taskset": taskset}))
