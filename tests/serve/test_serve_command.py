"""``teacherforge serve retriever`` reads its settings from the config (``serve.*``, ``retrieval.*``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from teacherforge.cli import main
from teacherforge.config import RetrievalConfig
from teacherforge.retrieval import Retriever
from teacherforge.types import Chunk

TEXTS = [
    "The ferry leaves the harbour at dawn.",
    "Lighthouse keepers log the weather.",
    "Nets dry on the pier.",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run dir holding only a hybrid ``index/`` (built with the real MiniLM, weight 0.4)."""
    root = tmp_path_factory.mktemp("run")
    chunks = [Chunk(f"c{i}", "doc", "doc.md", text) for i, text in enumerate(TEXTS)]
    Retriever.build(chunks, RetrievalConfig(kind="hybrid", hybrid_dense_weight=0.4)).save(root / "index")
    return root


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What the command hands to ``uvicorn.run`` (the server is not started)."""
    captured: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs))
    return captured


def test_serve_applies_config_and_aliases(run_dir: Path, served: dict) -> None:
    argv = ["serve", "retriever", "--run-dir", str(run_dir), "--port", "9123"]
    argv += [
        "--set",
        "serve.max_batch=2",
        "--set",
        "retrieval.hybrid_dense_weight=0.9",
        "--set",
        "retrieval.top_k=1",
    ]
    assert main(argv) == 0
    assert served["host"] == "127.0.0.1" and served["port"] == 9123
    app = served["app"]
    assert app.state.batcher.retriever.config.hybrid_dense_weight == 0.9  # search-time: the config's
    with TestClient(app) as client:
        too_many = client.post("/retrieve", json={"queries": ["ferry", "nets", "weather"]})
        assert too_many.status_code == 413 and "the limit is 2" in too_many.json()["detail"]
        assert client.post("/retrieve", json={"queries": ["ferry"], "topk": 1}).status_code == 200


def test_serve_refuses_a_config_built_differently(run_dir: Path, served: dict, capsys) -> None:
    argv = ["serve", "retriever", "--index", str(run_dir / "index"), "--set", "retrieval.kind=dense"]
    assert main(argv) == 1 and not served
    err = capsys.readouterr().err
    assert "retrieval.kind: the index was built with 'hybrid' but the config says 'dense'" in err
