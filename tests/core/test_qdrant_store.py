"""Qdrant as the dense store (``retrieval.store: qdrant``): same results as FAISS flat, save/load,
server mode, the CLI, and bad input (unreachable server, unwritable output) in one line.

Real qdrant-client local mode and real FAISS throughout. Server mode runs against an in-memory
Qdrant standing in for the server (the network is the boundary replaced); an unreachable server
is a real closed port on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from qdrant_client import QdrantClient

import teacherforge.retrieval.qdrant_store as qdrant_module
from teacherforge.cli import main
from teacherforge.config import ConfigError, RetrievalConfig
from teacherforge.retrieval import Retriever, dense
from teacherforge.retrieval.qdrant_store import QdrantStore
from teacherforge.types import Chunk
from tests.datagen._datagen_fakes import HashEmbedder, make_corpus


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class RandomEmbedder:
    """A random unit vector per text (seeded by the text): no two rows tie on a score."""

    name = path = "random-text"
    dim = 32
    cache_enabled = False

    @property
    def identity(self) -> dict:
        return {"name": self.name, "dim": self.dim, "normalize": True, "weights_sha256": None}

    def encode(self, texts):
        seeds = [int(hashlib.md5(t.encode()).hexdigest()[:8], 16) for t in texts]
        return _unit(np.stack([np.random.default_rng(s).standard_normal(self.dim) for s in seeds]))


@pytest.fixture(scope="module")
def chunks() -> list[Chunk]:
    """24 short chunks over a small vocabulary (BM25 has overlaps to rank), two sentences each."""
    rng = np.random.default_rng(0)
    words = [
        "valve",
        "tank",
        "pump",
        "fuel",
        "cell",
        "oxygen",
        "battery",
        "probe",
        "sensor",
        "heater",
        "fan",
        "wire",
    ]
    return [
        Chunk(
            f"c{i}", f"d{i % 3}", "s", f"{' '.join(rng.choice(words, 6))}. {' '.join(rng.choice(words, 5))}."
        )
        for i in range(24)
    ]


def _hits(retriever: Retriever, queries: list[str], k: int, kind: str) -> list[list[tuple[str, int]]]:
    return [[(h.chunk_id, h.rank) for h in hits] for hits in retriever.search(queries, k, kind=kind)]


def _scores(retriever: Retriever, queries: list[str], k: int, kind: str) -> np.ndarray:
    return np.array([[h.score for h in hits] for hits in retriever.search(queries, k, kind=kind)])


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])  # local mode searches exactly either way
def test_qdrant_local_search_equals_faiss_flat_on_the_same_vectors(index_type: str) -> None:
    rng = np.random.default_rng(3)
    base, queries = _unit(rng.standard_normal((300, 48))), _unit(rng.standard_normal((12, 48)))
    flat = dense.build_index(base, RetrievalConfig())
    payloads = [{"chunk_id": f"c{i}", "text": f"t{i}"} for i in range(300)]
    store = QdrantStore.build(base, payloads, RetrievalConfig(store="qdrant", index_type=index_type))
    assert (store.d, store.ntotal) == (flat.d, flat.ntotal) == (48, 300)
    for k in (1, 5, 17, 300):
        f_scores, f_rows = flat.search(queries, k)
        q_scores, q_rows = store.search(queries, k)
        assert q_rows.shape == (12, k) and q_rows.dtype == np.int64
        np.testing.assert_array_equal(q_rows, f_rows)
        np.testing.assert_allclose(q_scores, f_scores, atol=1e-5)
    point = store.client.retrieve(store.collection, [7], with_payload=True)[0]
    assert point.payload == {"chunk_id": "c7", "text": "t7"}  # the payload holds the row's chunk


@pytest.mark.parametrize(
    "settings",
    [{"kind": "hybrid"}, {"kind": "hybrid", "hybrid_fusion": "rrf"}, {"kind": "hybrid", "unit": "sentence"}],
    ids=["minmax", "rrf", "sentence-rows"],
)
def test_retriever_results_equal_across_stores(chunks: list[Chunk], settings: dict) -> None:
    embedder = RandomEmbedder()
    faiss_side = Retriever.build(chunks, RetrievalConfig(**settings), embedder=embedder)
    qdrant_side = Retriever.build(chunks, RetrievalConfig(**settings, store="qdrant"), embedder=embedder)
    assert isinstance(qdrant_side.index, QdrantStore)
    queries = ["fuel cell heater", "oxygen tank valve", "probe", "wire fan sensor battery"]
    for kind in ("dense", "hybrid", "bm25"):
        for k in (1, 4, 24):
            assert _hits(qdrant_side, queries, k, kind) == _hits(faiss_side, queries, k, kind), (kind, k)
            np.testing.assert_allclose(
                _scores(qdrant_side, queries, k, kind), _scores(faiss_side, queries, k, kind), atol=1e-5
            )


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_save_load_round_trip_twice_in_one_process(chunks: list[Chunk], tmp_path: Path) -> None:
    embedder = RandomEmbedder()
    built = Retriever.build(chunks, RetrievalConfig(kind="hybrid", store="qdrant"), embedder=embedder)
    out = built.save(tmp_path / "index")
    assert {p.name for p in out.iterdir()} == {"retriever.json", "ids.json", "chunks.jsonl", "qdrant", "bm25"}
    meta = json.loads((out / "retriever.json").read_text())
    assert meta["store"] == {
        "name": "qdrant",
        "collection": built.index.collection,
        "url": "",
        "distance": "dot",
    }
    assert meta["config"]["store"] == "qdrant"
    before = _tree(out)
    queries = ["fuel cell heater", "oxygen tank valve"]
    # no config: the manifest says which store; two loads of one folder in one process do not collide
    first, second = Retriever.load(out, embedder=embedder), Retriever.load(out, embedder=embedder)
    for loaded in (first, second):
        assert loaded.config.store == "qdrant" and len(loaded) == len(chunks)
        for kind in ("dense", "hybrid"):
            assert loaded.search(queries, 5, kind=kind) == built.search(queries, 5, kind=kind)
    assert _tree(out) == before  # loading changes no byte (downstream fingerprints hash the folder)
    assert first.save(tmp_path / "again") and Retriever.load(tmp_path / "again", embedder=embedder).search(
        queries, 3
    ) == built.search(queries, 3)


def test_a_failed_save_keeps_the_previous_index(
    chunks: list[Chunk], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = RandomEmbedder()
    built = Retriever.build(chunks, RetrievalConfig(kind="dense", store="qdrant"), embedder=embedder)
    out = built.save(tmp_path / "index")
    before = _tree(out)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(QdrantClient, "upsert", full_disk)
    with pytest.raises(OSError, match="No space left"):
        built.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"] and _tree(out) == before


def test_the_store_is_a_build_setting_on_both_sides(chunks: list[Chunk], tmp_path: Path) -> None:
    embedder = RandomEmbedder()
    qdrant_dir = Retriever.build(chunks, RetrievalConfig(kind="dense", store="qdrant"), embedder).save(
        tmp_path / "q"
    )
    faiss_dir = Retriever.build(chunks, RetrievalConfig(kind="dense"), embedder).save(tmp_path / "f")
    assert (faiss_dir / "index.faiss").is_file() and not (faiss_dir / "qdrant").exists()
    with pytest.raises(ConfigError, match=r"retrieval\.store: the index was built with 'qdrant'.*'faiss'"):
        Retriever.load(qdrant_dir, RetrievalConfig(kind="dense"), embedder=embedder)
    with pytest.raises(ConfigError, match=r"retrieval\.store: the index was built with 'faiss'.*'qdrant'"):
        Retriever.load(faiss_dir, RetrievalConfig(kind="dense", store="qdrant"), embedder=embedder)
    assert Retriever.load(
        qdrant_dir, RetrievalConfig(kind="dense", store="qdrant", top_k=2), embedder=embedder
    )


def test_a_missing_local_store_is_an_unreadable_index(chunks: list[Chunk], tmp_path: Path) -> None:
    embedder = RandomEmbedder()
    out = Retriever.build(chunks, RetrievalConfig(kind="dense", store="qdrant"), embedder).save(
        tmp_path / "i"
    )
    for path in sorted((out / "qdrant").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (out / "qdrant").rmdir()
    with pytest.raises(FileNotFoundError, match=r"unreadable retriever index .*qdrant.*rebuild it with"):
        Retriever.load(out, embedder=embedder)


@pytest.fixture()
def stand_in_server(monkeypatch: pytest.MonkeyPatch) -> QdrantClient:
    """An in-memory Qdrant that every ``connect(url)`` returns, as a server would hold one collection set."""
    server = QdrantClient(":memory:")
    monkeypatch.setattr(qdrant_module, "connect", lambda url: server)
    return server


@pytest.mark.filterwarnings("ignore:Local mode performs exact")  # the stand-in ignores server search params
def test_server_mode_keeps_the_collection_on_the_server(
    chunks: list[Chunk], tmp_path: Path, stand_in_server: QdrantClient
) -> None:
    embedder = RandomEmbedder()
    config = RetrievalConfig(kind="hybrid", store="qdrant", qdrant_url="http://qdrant.test:6333")
    built = Retriever.build(chunks, config, embedder=embedder)
    out = built.save(tmp_path / "index")
    assert not (out / "qdrant").exists()  # nothing local: the manifest names the server's collection
    record = json.loads((out / "retriever.json").read_text())["store"]
    assert record["url"] == "http://qdrant.test:6333" and stand_in_server.collection_exists(
        record["collection"]
    )
    loaded = Retriever.load(out, embedder=embedder)
    queries = ["fuel cell heater", "oxygen tank valve"]
    faiss_side = Retriever.build(chunks, dataclasses.replace(config, store="faiss"), embedder=embedder)
    assert _hits(loaded, queries, 5, "hybrid") == _hits(faiss_side, queries, 5, "hybrid")
    # the same rows again: the complete collection is reused, not uploaded a second time
    stand_in_server.set_payload(record["collection"], {"marker": 1}, points=[0])
    Retriever.build(chunks, config, embedder=embedder)
    assert stand_in_server.retrieve(record["collection"], [0])[0].payload["marker"] == 1
    stand_in_server.delete_collection(record["collection"])
    with pytest.raises(FileNotFoundError, match=r"no collection teacherforge-.*rebuild it"):
        Retriever.load(out, embedder=embedder)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's one error line (the corpus summary line before it is fine; no traceback)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture()
def toy_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The hashing embedder in place of the model for in-process CLI runs; returns a small corpus."""
    import teacherforge.retrieval.retriever as retriever_module

    monkeypatch.setattr(retriever_module, "Embedder", HashEmbedder)
    make_corpus(tmp_path / "corpus")
    return tmp_path / "corpus"


def _index(corpus: Path, out: Path, *overrides: str) -> int:
    sets = [
        a
        for o in ("datagen.chunking.size=250", "datagen.chunking.min_chars=20", *overrides)
        for a in ("--set", o)
    ]
    return main(["index", "--corpus", str(corpus), "--out", str(out), *sets])


def test_cli_index_and_search_with_qdrant(toy_cli: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "index"
    assert _index(toy_cli, out, "retrieval.store=qdrant") == 0
    assert (out / "qdrant").is_dir() and not (out / "index.faiss").exists()
    capsys.readouterr()
    assert main(["search", "--index", str(out), "--k", "3", "--json", "Battery subsystem report"]) == 0
    hits = json.loads(capsys.readouterr().out)
    expected = Retriever.load(out).search(["Battery subsystem report"], 3)[0]
    assert hits == [h.to_json() for h in expected] and "Battery" in hits[0]["text"]


def test_unreachable_server_is_one_line_and_writes_nothing(toy_cli: Path, tmp_path: Path, capsys) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    out = tmp_path / "index"
    assert _index(toy_cli, out, "retrieval.store=qdrant", f"retrieval.qdrant_url={url}") == 1
    line = _one_error_line(capsys)
    assert f"retrieval.qdrant_url: the Qdrant server at {url} failed" in line and "refused" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]  # no index, no temp sibling


def test_loading_from_an_unreachable_server_is_a_connection_error(
    chunks: list[Chunk], tmp_path: Path, stand_in_server: QdrantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = RandomEmbedder()
    url = f"http://127.0.0.1:{_closed_port()}"
    config = RetrievalConfig(kind="dense", store="qdrant", qdrant_url=url)
    out = Retriever.build(chunks, config, embedder=embedder).save(tmp_path / "index")
    monkeypatch.undo()  # the real client again: the server has gone away
    with pytest.raises(ConnectionError, match=rf"^retrieval\.qdrant_url: the Qdrant server at {url} failed"):
        Retriever.load(out, embedder=embedder)


def test_unwritable_output_is_one_line_and_writes_nothing(toy_cli: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert _index(toy_cli, blocker / "index", "retrieval.store=qdrant") == 1
    assert "a-file/index: cannot write the index there" in _one_error_line(capsys)
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert _index(toy_cli, locked / "index", "retrieval.store=qdrant") == 1
    line = _one_error_line(capsys)
    assert "locked/index: cannot write the index there" in line and "Permission denied" in line
    assert list(locked.iterdir()) == []


def test_config_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"retrieval\.store: 'milvus' is not allowed"):
        RetrievalConfig(store="milvus")
    with pytest.raises(ConfigError, match=r"retrieval\.index_type: ivf is a FAISS index"):
        RetrievalConfig(store="qdrant", index_type="ivf")
    with pytest.raises(ConfigError, match=r"retrieval\.qdrant_url: 'localhost:6333' is not an http\(s\) URL"):
        RetrievalConfig(store="qdrant", qdrant_url="localhost:6333")
    assert RetrievalConfig(store="qdrant", index_type="hnsw").build_settings()["store"] == "qdrant"
    assert "store" not in RetrievalConfig().build_settings()  # faiss fingerprints stay as they were
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"^retrieval\.store: qdrant needs the qdrant extra: pip install"):
        RetrievalConfig(store="qdrant")
    assert RetrievalConfig().store == "faiss"
