"""The ``openai`` backend against ``transformers serve``: an OpenAI-compatible server nobody here
wrote, running the embedded SmolLM2 on 127.0.0.1, as vLLM and Ollama users run theirs.

One server for the module (about 10 s to start). It differs from the stdlib test server of
``test_openai_backend.py`` in ways the backend must absorb: it ignores ``n`` (one choice per
request, so the backend asks again), keeps the stop string in the text (the backend cuts it,
as OpenAI does), returns no logprobs, and answers a model name it does not serve with HTTP 400
and a ``{"detail": ...}`` body rather than OpenAI's ``{"error": ...}``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from teacherforge.cli.pipeline import run_pipeline
from teacherforge.config import load_config
from teacherforge.llm.openai_backend import OpenAIBackend
from teacherforge.run import RunLayout
from teacherforge.types import GenerationParams, Message
from teacherforge.workspace import read_json, read_jsonl
from tests.cli._tinyrun import use_toy_embedder
from tests.datagen._datagen_fakes import make_corpus
from tests.serve._serving import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """``(base_url, model)`` of a ``transformers serve`` process pinned to the embedded model."""
    pytest.importorskip("fastapi")
    pytest.importorskip("openai")  # transformers serve builds its responses from openai's types
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("no `transformers` command beside this Python")
    from teacherforge.models import llm_path

    model = llm_path()
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [exe, "serve", "--host", "127.0.0.1", "--port", str(port), model],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"transformers serve not up after {START_TIMEOUT_S} s: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield f"{base}/v1", model
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_chat_and_text_prompts_with_n_samples_and_stop_strings(served) -> None:
    base_url, model = served
    backend = OpenAIBackend(base_url, model, concurrency=2)
    chat = (Message("user", "Repeat exactly: one. two. three."),)
    params = GenerationParams(max_new_tokens=16, temperature=0.7, n=2, stop=(".",), seed=1)
    samples = backend.generate([chat], params)
    assert len(samples) == 2  # the server returns one choice: the backend asked again
    for sample in samples:
        assert sample.text.strip() and "." not in sample.text  # cut at the stop string, which is dropped
        assert sample.prompt_tokens > 0 and sample.completion_tokens > 0
        assert sample.finish_reason == "stop"
    [text] = backend.generate(["The first month of the year is"], GenerationParams(max_new_tokens=6))
    assert text.text.strip() and text.finish_reason in ("stop", "length")


def test_a_model_the_server_does_not_serve_is_one_line(served) -> None:
    base_url, _ = served
    with pytest.raises(RuntimeError, match=r"HTTP 400 after 1 attempt") as info:
        OpenAIBackend(base_url, "no-such-model").generate(["x"], GenerationParams(max_new_tokens=2))
    assert "\n" not in str(info.value)


def _run(tmp_path, monkeypatch, served, *overrides: str) -> RunLayout:
    """Datagen and the stages in ``overrides`` on the datagen tests' toy corpus; ``LLM`` in an
    override is replaced by the settings of the served model."""
    base_url, model = served
    use_toy_embedder(monkeypatch)
    make_corpus(tmp_path / "corpus")
    llm = ["backend=openai", f"base_url={base_url}", f"model={model}", "use_cache=false"]
    expanded = [o.replace("LLM", item) for o in overrides for item in (llm if "LLM" in o else [""])]
    config = load_config(
        None,
        [
            f"run_dir={tmp_path / 'run'}",
            f"datagen.corpus={tmp_path / 'corpus'}",
            "datagen.split_ratios=[1.0,0.0,0.0]",
            "datagen.paraphrase.enabled=false",
            "retrieval.kind=bm25",
            "retrieval.top_k=2",
            *expanded,
        ],
    )
    run_pipeline(config, echo=lambda _: None)
    return RunLayout(config.run_path)


def _step(layout: RunLayout, name: str) -> dict:
    return next(s for s in read_json(layout.manifest)["steps"] if s["name"] == name)


def test_question_generation_through_the_server(served, tmp_path, monkeypatch) -> None:
    """Every prompt's reply is parsed into questions or counted as a named drop (the 135M model
    often writes no valid JSON: the count, not the model's skill, is under test)."""
    layout = _run(
        tmp_path,
        monkeypatch,
        served,
        "stages=[datagen]",
        "datagen.generator=llm",
        "datagen.max_chunks=1",
        "datagen.max_new_tokens=48",
        "datagen.max_retries=0",
        "datagen.min_answer_similarity=-1",
        "datagen.llm.LLM",
    )
    step = _step(layout, "questions")
    assert step["counts"]["prompts_sent"] == 1
    assert step["tokens"]["completion_tokens"] > 0
    assert step["counts"]["questions"] + sum(step["drops"].values()) >= 1
    assert len(read_json(layout.questions_file)) == step["counts"]["questions"]


def test_teacher_and_judge_through_the_server(served, tmp_path, monkeypatch) -> None:
    """The RAG teacher answers two cloze questions through the server; the judge reward asks it."""
    layout = _run(
        tmp_path,
        monkeypatch,
        served,
        "stages=[datagen,teacher]",
        "datagen.generator=cloze",
        "teacher.kind=llm",
        "teacher.max_new_tokens=24",
        "teacher.max_questions=2",
        "teacher.splits=[train]",
        "teacher.llm.LLM",
    )
    records = read_jsonl(layout.teacher)
    assert len(records) == 2 and all(r["response"].strip() for r in records)
    assert all(r["metadata"]["model"].startswith("openai:http://127.0.0.1:") for r in records)

    from teacherforge.envs.task import rubric_of
    from teacherforge.rewards import Trajectory

    base_url, model = served
    judged = load_config(
        None,
        [
            "rewards.preset=null",
            "rewards.weights={judge: 1.0}",
            "rewards.judge.backend=openai",
            f"rewards.judge.base_url={base_url}",
            f"rewards.judge.model={model}",
        ],
    )
    record = records[0]
    trajectory = Trajectory(record["input"], record["response"], (), final_answer=record["response"])
    [result] = rubric_of(judged).score_group([trajectory])
    # a verdict, or a reply the 135M judge worded past reading, counted as the component's error
    assert result.breakdown["judge"] in (0.0, 1.0)
    assert result.errors in ({}, {"judge": 1})
