"""The verifiers environment over a real run dir: real verifiers episodes (its interception
server, our in-process harness) against a scripted OpenAI-compatible server on 127.0.0.1, in the
tag protocol and in the tools protocol (structured ``tool_calls`` answered by ``tool`` messages)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("verifiers")

import verifiers.v1 as vf
from _envkit import question_records, write_run_dir
from _tool_tokenizers import tool_tokenizer

from teacherforge.config import load_config
from teacherforge.envs import SearchEnv, build_task, format_information, format_malformed, rubric_of
from teacherforge.envs.tool_calls import malformed_result, search_tool, tool_result
from teacherforge.envs.verifiers_env import PLUGIN_ID, SearchEnvironment, load_environment
from tests.cli._tinyrun import use_toy_embedder

OVERRIDES = ["retrieval.kind=bm25", "retrieval.top_k=2", "env.max_turns=3"]
SEARCH = "<think>who built it</think><search>who built the lighthouse</search>"
RIGHT, WRONG = "<answer>Tomas Reyl</answer>", "<answer>Ada Brenn</answer>"
TOOLS = [*OVERRIDES, "env.protocol=tools"]
QUERY = "who built the lighthouse"


def calling(*arguments: str, content: str | None = "<think>who built it</think>") -> dict:
    """An assistant message calling the search tool once per ``arguments`` (JSON strings)."""
    calls = [
        {"id": f"call-{i}", "type": "function", "function": {"name": "search", "arguments": a}}
        for i, a in enumerate(arguments, start=1)
    ]
    return {"role": "assistant", "content": content, "tool_calls": calls}


SEARCH_CALL = calling(json.dumps({"query": QUERY}))
PLAIN_ANSWER = "<think>found it</think> Tomas Reyl"


class ScriptedModel:
    """An OpenAI-compatible chat server on 127.0.0.1 whose n-th reply of a conversation is
    ``script[n]`` (a text, or a whole assistant message with ``tool_calls``); it keeps every
    request body it got."""

    def __init__(self) -> None:
        self.script: list[str | dict] = []
        self.requests: list[dict] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                model.requests.append(body)
                turn = sum(m["role"] == "assistant" for m in body["messages"])
                message = model.script[turn]
                if isinstance(message, str):
                    message = {"role": "assistant", "content": message}
                reply = {
                    "id": f"scripted-{len(model.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                            "message": message,
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.context = vf.ModelContext(
            model="scripted",
            client=vf.EvalClientConfig(
                base_url=f"http://127.0.0.1:{self.server.server_port}/v1", api_key_var="TF_SCRIPTED_KEY"
            ),
        )

    def play(self, env: vf.Env, question_id: str, replies: list[str | dict]) -> vf.Trace:
        """One real episode of ``env`` on ``question_id``, the model answering ``replies``."""
        self.script, self.requests = replies, []
        task = next(t for t in env.taskset if t.data.id == question_id)

        async def episode() -> vf.Episode:
            async with env.serving():
                return await env.run_episode(task, self.context)

        result = asyncio.run(episode())
        assert result.ok and not result.errors, result.errors
        (trace,) = result.traces
        return trace


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModel]:
    scripted = ScriptedModel()
    thread = threading.Thread(target=scripted.server.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run dir with a BM25 index (the toy embedder: no model to load)."""
    with pytest.MonkeyPatch.context() as patch:
        use_toy_embedder(patch)
        return write_run_dir(tmp_path_factory.mktemp("vf") / "run")


@pytest.fixture(scope="module")
def env(run_dir: Path) -> vf.Env:
    return load_environment(str(run_dir), overrides=OVERRIDES)


@pytest.fixture(scope="module")
def tool_env(run_dir: Path) -> vf.Env:
    return load_environment(str(run_dir), overrides=TOOLS)


def _contents(trace: vf.Trace, role: str) -> list[str]:
    return [m.content for m in trace.messages if m.role == role]


def test_load_environment_serves_the_run_dirs_split_through_the_plugin_id(env, run_dir) -> None:
    task = build_task(load_config(None, OVERRIDES), run_dir)
    assert isinstance(env, vf.Env) and isinstance(env, SearchEnvironment)
    assert env.config.taskset.id == PLUGIN_ID and env.taskset.search.config.max_turns == 3
    tasks = list(env.taskset)
    assert [t.data.id for t in tasks] == [r["id"] for r in question_records() if r["split"] == "train"]
    assert tasks[0].data.prompt == "Who built the lighthouse of Velmora?"
    assert tasks[0].data.system_prompt == task.system_prompt
    held = load_environment(str(run_dir), split="test", overrides=OVERRIDES)
    assert [t.data.id for t in held.taskset] == ["q8", "q9"]


def test_rewards_come_per_component_with_our_rubrics_scores_and_weights(env, model, run_dir) -> None:
    trace = model.play(env, "q0", [SEARCH, RIGHT])
    config = load_config(None, OVERRIDES)
    task = build_task(config, run_dir)
    gym = SearchEnv(task=task)  # the same turns through our Gymnasium env
    gym.reset(options={"question_id": "q0"})
    for turn in (SEARCH, RIGHT):
        gym.step(turn)
    rubric = rubric_of(config)
    (expected,) = rubric.score_group([gym.episode.trajectory()])
    assert set(trace.rewards) == set(rubric.weights) and len(rubric.weights) > 1
    for name, weight in rubric.weights.items():
        assert trace.rewards[name].score == pytest.approx(expected.breakdown[name]), name
        assert trace.rewards[name].weight == weight, name
    assert trace.reward == pytest.approx(expected.total)
    hits = task.search(["who built the lighthouse"])[0]
    block = format_information(hits, task.tags, task.config.max_observation_chars).strip()
    assert _contents(trace, "user")[1:] == [block]  # the search answered by one information block
    assert _contents(trace, "assistant") == [SEARCH, RIGHT]
    assert trace.info["teacherforge"]["gold_retrieved"] and trace.metrics["gold_retrieved"] == 1.0


def test_a_right_answer_scores_higher_than_a_wrong_one(env, model) -> None:
    right = model.play(env, "q0", [SEARCH, RIGHT])
    wrong = model.play(env, "q0", [SEARCH, WRONG])
    assert right.reward > wrong.reward
    assert (right.rewards["f1"].score, wrong.rewards["f1"].score) == (1.0, 0.0)


def test_a_malformed_turn_gets_our_corrective_block_and_is_counted(env, model) -> None:
    trace = model.play(env, "q0", ["I think it was Tomas Reyl.", RIGHT])
    search = env.taskset.search
    block = format_malformed(
        "no_tag", search.tags, search.config.max_query_chars, search.config.max_observation_chars
    ).strip()
    assert _contents(trace, "user")[1:] == [block]
    assert model.requests[-1]["messages"][-1] == {"role": "user", "content": block}
    assert trace.metrics["malformed_turns"] == 1.0
    assert trace.info["teacherforge"]["turns"][0]["malformed"] == "no_tag"


def test_the_turn_budget_is_env_max_turns(env, model) -> None:
    trace = model.play(env, "q1", [SEARCH] * 5)
    assert len(_contents(trace, "assistant")) == 3 and len(model.requests) == 3
    info = trace.info["teacherforge"]
    assert (info["turn"], info["max_turns"], info["final_answer"]) == (3, 3, None)
    assert trace.rewards["f1"].score == 0.0  # the truncated episode is still scored


def test_a_missing_run_dir_or_split_fails_in_one_line(tmp_path, run_dir, monkeypatch) -> None:
    with pytest.raises(FileNotFoundError, match=r"run `teacherforge datagen`") as missing:
        load_environment(str(tmp_path / "nowhere"), overrides=OVERRIDES)
    use_toy_embedder(monkeypatch)
    only_train = write_run_dir(
        tmp_path / "train_only", [r for r in question_records() if r["split"] == "train"]
    )
    with pytest.raises(ValueError, match=r"no questions in split 'test'") as split:
        load_environment(str(only_train), split="test", overrides=OVERRIDES)
    with pytest.raises(ValueError, match=r"set --env\.taskset\.run-dir") as unset:
        load_environment("", overrides=OVERRIDES)
    for error in (missing, split, unset):
        assert "\n" not in str(error.value)


def test_tools_protocol_declares_the_tool_and_answers_a_search_call_with_a_tool_message(
    tool_env, env, model, run_dir
) -> None:
    trace = model.play(tool_env, "q0", [SEARCH_CALL, PLAIN_ANSWER])
    config = load_config(None, TOOLS)
    task = build_task(config, run_dir)
    first, second = model.requests
    assert first["tools"] == second["tools"] == [search_tool(task.tags, task.config.max_query_chars, 2)]
    system = first["messages"][0]["content"]
    assert system == task.system_prompt != env.taskset.search.system_prompt  # the tools prompt
    hits = task.search([QUERY])[0]
    result = tool_result(hits, task.config.max_observation_chars)
    assert (
        result.startswith("[1] The lighthouse of Velmora was built in 1847") and "<information>" not in result
    )
    assert second["messages"][-2]["tool_calls"] == SEARCH_CALL["tool_calls"]
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call-1", "content": result}
    assert _contents(trace, "tool") == [result] and _contents(trace, "user")[1:] == []
    info = trace.info["teacherforge"]
    assert (info["queries"], info["final_answer"], info["malformed_turns"]) == ([QUERY], "Tomas Reyl", 0)
    assert info["turns"][0]["chunk_ids"] == [h.chunk_id for h in hits] and info["gold_retrieved"]
    # the same turns through our Gymnasium env, the calls rendered and parsed by a chat template
    gym = SearchEnv(task=task, tokenizer=tool_tokenizer("qwen"))
    gym.reset(options={"question_id": "q0"})
    gym.step(gym.chat.assistant_text("<think>who built it</think>", QUERY))
    gym.step(PLAIN_ANSWER)
    rubric = rubric_of(config)
    (expected,) = rubric.score_group([gym.episode.trajectory()])
    assert gym.episode.info()["queries"] == [QUERY] and len(rubric.weights) > 1
    for name, weight in rubric.weights.items():
        assert (trace.rewards[name].score, trace.rewards[name].weight) == (
            pytest.approx(expected.breakdown[name]),
            weight,
        ), name
    assert trace.reward == pytest.approx(expected.total) and trace.rewards["f1"].score == 1.0


def test_tools_protocol_corrects_bad_arguments_with_a_tool_message_and_uses_the_turn(tool_env, model) -> None:
    bad = calling('{"query": "lighthouse"')  # not valid JSON
    trace = model.play(tool_env, "q0", [bad, SEARCH_CALL, PLAIN_ANSWER])
    search = tool_env.taskset.search
    correction = malformed_result(
        "bad_tool_call", search.tags, search.config.max_query_chars, search.config.max_observation_chars
    )
    assert correction.startswith("Invalid turn: the tool call is not a JSON object")
    assert model.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call-1",
        "content": correction,
    }
    info = trace.info["teacherforge"]
    assert [t["malformed"] for t in info["turns"]] == ["bad_tool_call", None, None]
    assert (info["turn"], info["queries"], trace.metrics["malformed_turns"]) == (3, [QUERY], 1.0)


UNKNOWN_TOOL = calling(json.dumps({"query": QUERY}))
UNKNOWN_TOOL["tool_calls"][0]["function"]["name"] = "lookup"


@pytest.mark.parametrize(
    ("reply", "reason", "answered"),
    [
        (
            calling('{"query": "a"}', '{"query": "b"}'),
            "two_actions",
            [("tool", "call-1"), ("tool", "call-2")],
        ),
        (UNKNOWN_TOOL, "unknown_tool", [("tool", "call-1")]),
        (calling('{"query": "  "}', content=None), "empty_query", [("tool", "call-1")]),
        (calling(json.dumps({"query": "x" * 600})), "query_too_long", [("tool", "call-1")]),
        ("<think>only thinking</think>", "no_tag", [("user", None)]),
    ],
)
def test_tools_protocol_rejects_what_toolchat_rejects(tool_env, model, reply, reason, answered) -> None:
    trace = model.play(tool_env, "q1", [reply, PLAIN_ANSWER])
    assert trace.info["teacherforge"]["turns"][0]["malformed"] == reason
    search = tool_env.taskset.search
    correction = malformed_result(
        reason, search.tags, search.config.max_query_chars, search.config.max_observation_chars
    )
    # what followed the model's reply in the next request: the corrective text, per call
    sent = model.requests[1]["messages"][len(model.requests[0]["messages"]) + 1 :]
    assert [(m["role"], m.get("tool_call_id")) for m in sent] == answered
    assert [m["content"] for m in sent] == [correction] * len(answered)
