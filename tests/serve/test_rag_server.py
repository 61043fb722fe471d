"""``teacherforge serve rag``: the OpenAI-compatible RAG server, started for real on 127.0.0.1.

The client is our own :class:`~teacherforge.llm.OpenAIBackend`; the index is a real BM25 index
of a small run dir; the model is a scripted backend (the model is not what is tested here).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from teacherforge.cli import main
from teacherforge.cli.rag_server import RagAnswerer, create_app
from teacherforge.config import load_config
from teacherforge.llm import FakeBackend, OpenAIBackend
from teacherforge.rag import relevance_cutoff, select_hits
from teacherforge.run import RunLayout
from teacherforge.trainers.eval_models import oracle_backend
from teacherforge.types import GenerationParams, messages
from tests.cli._tinyrun import use_toy_embedder
from tests.datagen._sft_rundir import build_run_dir, teacher_responder
from tests.serve._serving import serving

QUESTION = "Which ship recovered the capsule?"
OVERRIDES = ["retrieval.kind=bm25", "retrieval.top_k=2", "retrieval.min_score=0.0", "env.max_turns=2"]


@pytest.fixture(scope="module", autouse=True)
def toy_embedder() -> Iterator[None]:
    """No embedding model to load: BM25 does not need one, the index loader asks for it anyway."""
    with pytest.MonkeyPatch.context() as patch:
        use_toy_embedder(patch)
        yield


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run_dir(tmp_path_factory.mktemp("rag") / "run")


@pytest.fixture(scope="module")
def config(run_dir: Path):
    return load_config(None, [f"run_dir={run_dir}", *OVERRIDES])


@pytest.fixture(scope="module")
def retriever(config):
    return RunLayout(config.run_path).retriever(config.retrieval.index, config.retrieval)


@pytest.fixture(scope="module")
def doc_ids(run_dir: Path) -> dict[str, str]:
    return {c.chunk_id: c.doc_id for c in RunLayout(run_dir).chunk_list()}


def expected_hits(retriever, config, question: str) -> list:
    """The hits evaluation's fixed mode puts in the prompt for ``question``."""
    cutoff = relevance_cutoff(retriever.kind, config.retrieval.min_score)
    return select_hits(retriever.search([question], config.eval_top_k)[0], config.eval_top_k, cutoff)


def test_fixed_mode_answers_our_openai_client_with_the_retrievers_sources(config, retriever, doc_ids):
    backend = FakeBackend(teacher_responder)  # repeats the first source's first sentence
    app = create_app(RagAnswerer(backend, retriever, config, "fixed", doc_ids), "sft", config.serve)
    hits = expected_hits(retriever, config, QUESTION)
    assert len(hits) == 2 and "Albatros" in hits[0].text
    with serving(app) as url:
        client = OpenAIBackend(f"{url}/v1", "sft", max_retries=0)
        (completion,) = client.generate([messages(("user", QUESTION))], GenerationParams(max_new_tokens=64))
        assert completion.text == f"{hits[0].text.split('. ')[0]} [1]."
        assert "Albatros" in completion.text
        body = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "sft",
                "messages": [{"role": "system", "content": "hi"}, {"role": "user", "content": QUESTION}],
            },
        ).json()
    assert body["object"] == "chat.completion" and body["model"] == "sft"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": completion.text}
    got = [(s["chunk_id"], s["rank"], s["score"]) for s in body["sources"]]
    assert got == [(h.chunk_id, h.rank, pytest.approx(h.score)) for h in hits]
    assert body["sources"][0]["doc_id"] == "orion" and "Albatros" in body["sources"][0]["text"]
    assert body["searches"] == 0
    system = backend.calls[-1][0].content  # the model saw evaluation's RAG prompt with those hits
    assert hits[0].text in system and hits[1].text in system


def test_agentic_mode_searches_and_returns_what_it_found(config, retriever, doc_ids, run_dir):
    known = RunLayout(run_dir).questions(None)
    asked = next(q for q in known if q.question == QUESTION)
    backend = oracle_backend([q.to_json() for q in known], agentic=True)  # searches once, then answers
    app = create_app(RagAnswerer(backend, retriever, config, "agentic", doc_ids), "grpo", config.serve)
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "grpo", "messages": [{"role": "user", "content": QUESTION}]},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert client.get("/health").json() == {
            "status": "ok",
            "model": "grpo",
            "mode": "agentic",
            "answered": 1,
        }
    assert body["choices"][0]["message"]["content"] == asked.answer == "Albatros"
    assert body["choices"][0]["finish_reason"] == "stop" and body["searches"] == 1
    found = retriever.search([QUESTION.rstrip("?")], config.eval_top_k)[0]  # the oracle's query
    assert [s["chunk_id"] for s in body["sources"]] == [h.chunk_id for h in found]
    assert asked.chunk_id in [s["chunk_id"] for s in body["sources"]]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}, "stream"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"model": "m", "messages": [{"role": "system", "content": "only a system message"}]}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user", "content": "x" * 3000}]}, "messages"),
        ('{"model": "m", "messages": [', None),  # malformed JSON
    ],
)
def test_bad_requests_get_an_openai_error_and_the_server_keeps_serving(
    config, retriever, doc_ids, payload, param
):
    app = create_app(
        RagAnswerer(FakeBackend(["ok"]), retriever, config, "fixed", doc_ids), "sft", config.serve
    )
    with TestClient(app) as client:
        if isinstance(payload, str):
            response = client.post(
                "/v1/chat/completions", content=payload, headers={"content-type": "application/json"}
            )
        else:
            response = client.post("/v1/chat/completions", json=payload)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        if param is not None:
            assert error["param"].startswith(param)
        ok = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "ok"
        assert client.get("/v1/models").json()["data"][0]["id"] == "sft"


def test_a_failing_model_is_a_500_in_openai_shape_and_a_one_line_client_error(config, retriever, doc_ids):
    def broken(prompt, index):
        raise RuntimeError("device lost")

    app = create_app(
        RagAnswerer(FakeBackend(broken), retriever, config, "fixed", doc_ids), "sft", config.serve
    )
    with serving(app) as url:
        with pytest.raises(
            RuntimeError, match=r"HTTP 500 after 1 attempt\(s\).*answering failed: RuntimeError: device lost"
        ):
            OpenAIBackend(f"{url}/v1", "sft", max_retries=0).generate(
                [messages(("user", "q"))], GenerationParams()
            )
        assert httpx.get(f"{url}/health").json()["status"] == "ok"


def _not_openai_app() -> FastAPI:
    app = FastAPI()
    replies = {
        "dict": {"result": "an answer, but not in OpenAI's shape"},
        "list": [1, 2, 3],
        "choice": {"choices": ["text"]},
        "content": {"choices": [{"index": 0, "message": {"content": ["not", "a", "string"]}}]},
    }

    @app.post("/{kind}/v1/chat/completions")
    def chat(kind: str):
        if kind == "html":
            return PlainTextResponse("<html>proxy login</html>")
        return replies[kind]

    return app


def test_our_openai_client_on_a_server_that_is_not_openai_fails_in_one_line():
    with serving(_not_openai_app()) as url:
        for kind in ("dict", "list", "choice", "content", "html"):
            client = OpenAIBackend(f"{url}/{kind}/v1", "m", max_retries=0)
            with pytest.raises(ValueError, match=r"llm\.base_url") as info:
                client.generate([messages(("user", "q"))], GenerationParams())
            assert f"{url}/{kind}/v1/chat/completions" in str(info.value) and "\n" not in str(info.value)


def test_serve_rag_for_an_untrained_student_is_one_line(run_dir: Path, capsys, monkeypatch):
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not serve"))
    assert main(["serve", "rag", "--model", "sft", "--run-dir", str(run_dir), *_sets()]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run `teacherforge train sft` first" in err[0], err
    assert "Traceback" not in err[0]
    assert not (run_dir / "export").exists()


def test_serve_rag_command_serves_the_configured_model_and_mode(run_dir: Path, monkeypatch, capsys):
    served: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    argv = [
        "serve",
        "rag",
        "--model",
        "teacher",
        "--run-dir",
        str(run_dir),
        "--port",
        "9124",
        "--mode",
        "agentic",
    ]
    assert main([*argv, *_sets(), "--set", "teacher.kind=oracle"]) == 0
    assert served["host"] == "127.0.0.1" and served["port"] == 9124
    assert "teacher (oracle) (agentic RAG" in capsys.readouterr().out
    with TestClient(served["app"]) as client:
        body = client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}
        ).json()
    assert body["choices"][0]["message"]["content"] == "Albatros" and body["searches"] == 1
    assert body["model"] == "teacher" and body["sources"][0]["doc_id"] == "orion"


def _sets() -> list[str]:
    return [arg for override in OVERRIDES for arg in ("--set", override)]
