"""The verifiers environment over a real run dir: real verifiers episodes (its interception
server, our in-process harness) against a scripted OpenAI-compatible server on 127.0.0.1."""

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

from teacherforge.config import load_config
from teacherforge.envs import SearchEnv, build_task, format_information, format_malformed, rubric_of
from teacherforge.envs.verifiers_env import PLUGIN_ID, SearchEnvironment, load_environment
from tests.cli._tinyrun import use_toy_embedder

OVERRIDES = ["retrieval.kind=bm25", "retrieval.top_k=2", "env.max_turns=3"]
SEARCH = "<think>who built it</think><search>who built the lighthouse</search>"
RIGHT, WRONG = "<answer>Tomas Reyl</answer>", "<answer>Ada Brenn</answer>"


class ScriptedModel:
    """An OpenAI-compatible chat server on 127.0.0.1 whose n-th reply of a conversation is
    ``script[n]``; it keeps every request body it got."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                model.requests.append(body)
                turn = sum(m["role"] == "assistant" for m in body["messages"])
                reply = {
                    "id": f"scripted-{len(model.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": model.script[turn]},
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

    def play(self, env: vf.Env, question_id: str, replies: list[str]) -> vf.Trace:
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
