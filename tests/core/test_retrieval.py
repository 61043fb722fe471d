"""Retriever and Embedder on a small real corpus (a few Apollo 13 paragraphs) with the real MiniLM.

One session-scoped Embedder is shared by every test here; a tiny hashing embedder stands in
where the model does not matter (identity checks, row collapsing, call counting).
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import re
from pathlib import Path

import numpy as np
import pytest

import teacherforge.retrieval.dense as dense_module
import teacherforge.retrieval.embedder as embedder_module
import teacherforge.retrieval.retriever as retriever_module
from teacherforge.config import ChunkingConfig, ConfigError, RetrievalConfig
from teacherforge.datagen.chunking import chunk_documents
from teacherforge.datagen.loaders import Document
from teacherforge.retrieval import Embedder, Retriever
from teacherforge.types import Chunk

KINDS = ("dense", "bm25", "hybrid")


class HashEmbedder:
    """Deterministic bag-of-words embedder (test double): same words → same vector."""

    def __init__(self, name: str = "hash", dim: int = 64) -> None:
        self.name, self._dim = name, dim
        self.model_calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def identity(self) -> dict:
        return {"name": self.name, "dim": self._dim, "normalize": True, "weights_sha256": None}

    def encode(self, texts):
        self.model_calls += 1
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, hash(word) % self._dim] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real embedded MiniLM, shared by the session."""
    return Embedder("minilm", batch_size=32)


@pytest.fixture(scope="session")
def small_chunks(apollo_text: str) -> list[Chunk]:
    """~20 chunks: the summary and the first sections of the report."""
    start = apollo_text.index("# 1.0 SUMMARY")
    text = apollo_text[start : start + 9000]
    document = Document(doc_id="mission_report.md", source="mission_report.md", text=text, metadata={})
    return chunk_documents([document], ChunkingConfig(size=500, overlap=0)).chunks


@pytest.fixture(scope="session")
def hybrid(small_chunks: list[Chunk], embedder: Embedder) -> Retriever:
    return Retriever.build(small_chunks, RetrievalConfig(kind="hybrid"), embedder=embedder)


# Whole sentences, each in exactly one chunk (generic sentences such as "Other supplements will be
# published as the need is identified." are not rank 1 for MiniLM, so they are not used).
PHRASES = (
    "During S-II stage boost, an automatic shutdown of the center engine occurred because of a divergent "
    "dynamic structural condition associated with that engine.",
    "The landing point was reported as 2l degrees 38 minutes 24 seconds south latitude and l65 degrees "
    "2l minutes 42 seconds west longitude.",
    "Apollo l3 was the thirteenth in a series of missions using Apollo specification flight hardware and was "
    "to be the third lunar landing.",
    "The S-IvB impact was intended to provide seismological data sensed by the instrument left on the moon "
    "during Apollo l2.",
    "The resultant landing at earth would have been at 152 hours in the Indian Ocean, with lunar module "
    "systems intended to support the crew for the remaining 90 hours.",
)


def _phrases(chunks: list[Chunk]) -> list[tuple[str, str]]:
    """(exact phrase, the one chunk_id whose text contains it)."""
    picked = []
    for phrase in PHRASES:
        owners = [c.chunk_id for c in chunks if phrase in c.text]
        assert len(owners) == 1, (phrase, owners)
        picked.append((phrase, owners[0]))
    return picked


def test_embedder_gives_384d_unit_float32_and_caches(embedder: Embedder) -> None:
    vectors = embedder.encode(["oxygen tank 2 failed", "the crew returned safely", "oxygen tank 2 failed"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    calls = embedder.model_calls
    again = embedder.encode(["the crew returned safely"])
    assert embedder.model_calls == calls  # served from the cache
    assert np.array_equal(again[0], vectors[1])
    identity = embedder.identity
    assert identity["name"] == "minilm" and identity["dim"] == 384 and identity["normalize"] is True
    assert re.fullmatch(r"[0-9a-f]{16}", identity["weights_sha256"])


def test_embedding_cache_save_and_load(embedder: Embedder, tmp_path: Path) -> None:
    embedder.encode(["lunar module lifeboat"])
    count = embedder.save_cache(tmp_path / "emb")
    fresh = Embedder("minilm")
    assert fresh.load_cache(tmp_path / "emb") == count
    calls = fresh.model_calls
    assert np.array_equal(fresh.encode(["lunar module lifeboat"]), embedder.encode(["lunar module lifeboat"]))
    assert fresh.model_calls == calls == 0


@pytest.mark.parametrize("kind", KINDS)
def test_exact_phrase_is_rank_1_in_every_kind(
    hybrid: Retriever, small_chunks: list[Chunk], kind: str
) -> None:
    phrases = _phrases(small_chunks)
    results = hybrid.search([p for p, _ in phrases], 3, kind=kind)
    for (phrase, chunk_id), hits in zip(phrases, results):
        assert hits[0].chunk_id == chunk_id, (kind, phrase, [h.chunk_id for h in hits])
        assert phrase in hits[0].text
        assert [h.rank for h in hits] == [1, 2, 3]
        assert hits[0].score >= hits[1].score >= hits[2].score


def test_bm25_kind_built_alone(small_chunks: list[Chunk], embedder: Embedder) -> None:
    retriever = Retriever.build(small_chunks, RetrievalConfig(kind="bm25"), embedder=embedder)
    phrase, chunk_id = _phrases(small_chunks)[0]
    assert retriever.search([phrase], 1)[0][0].chunk_id == chunk_id
    dense_only = Retriever.build(small_chunks, RetrievalConfig(kind="dense"), embedder=embedder)
    with pytest.raises(ValueError, match="no BM25 index"):
        dense_only.search([phrase], 1, kind="bm25")


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_gives_identical_results(
    hybrid: Retriever, embedder: Embedder, kind: str, tmp_path: Path
) -> None:
    retriever = Retriever.build(
        hybrid.chunks, dataclasses.replace(hybrid.config, kind=kind), embedder=embedder
    )
    out = retriever.save(tmp_path / "index")
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(
        ["retriever.json", "ids.json", "chunks.jsonl", "index.faiss"] + (["bm25"] if kind != "dense" else [])
    )
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temp dirs left behind
    meta = json.loads((out / "retriever.json").read_text())
    assert meta["kind"] == kind and meta["embedder"] == embedder.identity
    assert meta["fusion"]["dense_weight"] == retriever.config.hybrid_dense_weight
    assert json.loads((out / "ids.json").read_text()) == retriever.chunk_ids
    loaded = Retriever.load(out)  # embedder=None: built from the recorded name
    queries = ["What caused the oxygen tank to fail?", "recovery ship", "Lovell Haise Swigert"]
    assert loaded.kind == kind and loaded.chunks == retriever.chunks
    assert loaded.search(queries, 5) == retriever.search(queries, 5)
    # saving again over an existing index replaces it atomically
    retriever.save(out)
    assert Retriever.load(out, embedder=embedder).search(queries, 2) == retriever.search(queries, 2)


def test_save_refuses_to_overwrite_a_non_index_dir(hybrid: Retriever, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a retriever index"):
        hybrid.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_missing_or_broken_index_dir_is_file_not_found(hybrid: Retriever, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope"))):
        Retriever.load(tmp_path / "nope")
    out = hybrid.save(tmp_path / "index")
    (out / "index.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(FileNotFoundError, match="unreadable retriever index"):
        Retriever.load(out)
    (out / "index.faiss").unlink()
    with pytest.raises(FileNotFoundError, match="teacherforge index"):
        Retriever.load(out)


def test_mismatched_embedder_is_refused(
    small_chunks: list[Chunk], embedder: Embedder, tmp_path: Path
) -> None:
    fake = HashEmbedder()
    built = Retriever.build(small_chunks[:5], RetrievalConfig(kind="dense"), embedder=fake)
    out = built.save(tmp_path / "fake_index")
    with pytest.raises(ValueError, match=r"built with embedder 'hash'.*teacherforge index") as info:
        Retriever.load(out, embedder=embedder)
    assert "\n" not in str(info.value) and str(out) in str(info.value)
    assert Retriever.load(out, embedder=HashEmbedder()).search(["oxygen"], 2)
    with pytest.raises(ValueError, match="dim 64"):
        Retriever.load(out, embedder=HashEmbedder(dim=32))
    # a different model under the same name (weights hash differs) is refused too
    real = Retriever.build(small_chunks[:5], RetrievalConfig(kind="dense"), embedder=embedder).save(
        tmp_path / "real"
    )
    meta = json.loads((real / "retriever.json").read_text())
    meta["embedder"]["weights_sha256"] = "0" * 16
    (real / "retriever.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="weights 0000000000000000"):
        Retriever.load(real)


def test_search_time_settings_given_at_load_apply(small_chunks: list[Chunk], tmp_path: Path) -> None:
    """An index built with hybrid weight A and top-k 5 searches with weight B and top-k 2 when the
    config says so; without a config it searches as built."""
    built_a = RetrievalConfig(kind="hybrid", hybrid_dense_weight=0.0, top_k=5)
    config_b = RetrievalConfig(kind="hybrid", hybrid_dense_weight=1.0, top_k=2)
    out = Retriever.build(small_chunks, built_a, embedder=HashEmbedder()).save(tmp_path / "index")
    fresh_b = Retriever.build(small_chunks, config_b, embedder=HashEmbedder())
    queries = ["oxygen tank pressure", "recovery ship crew", "service module"]
    as_built = Retriever.load(out, embedder=HashEmbedder())
    loaded_b = Retriever.load(out, config_b, embedder=HashEmbedder())
    assert as_built.config.hybrid_dense_weight == 0.0 and loaded_b.config.hybrid_dense_weight == 1.0
    assert loaded_b.search(queries, 4) == fresh_b.search(queries, 4)
    assert loaded_b.search(queries, 4) != as_built.search(queries, 4)
    assert [len(h) for h in loaded_b.search(queries)] == [2, 2, 2]  # top_k of the config
    assert [len(h) for h in as_built.search(queries)] == [5, 5, 5]


def test_ann_search_knobs_given_at_load_apply(tmp_path: Path) -> None:
    chunks = [
        Chunk(chunk_id=f"c{i}", doc_id="d", source="d", text=f"word{i} topic{i % 7}") for i in range(100)
    ]
    for index_type, knob, value in (("hnsw", "hnsw_ef_search", 9), ("ivf", "ivf_nprobe", 1)):
        built = RetrievalConfig(kind="dense", index_type=index_type, ivf_nlist=2)  # 2 lists: nprobe 1 < 2
        out = Retriever.build(chunks, built, embedder=HashEmbedder()).save(tmp_path / index_type)
        loaded = Retriever.load(out, dataclasses.replace(built, **{knob: value}), embedder=HashEmbedder())
        faiss_index = loaded.index
        assert (faiss_index.hnsw.efSearch if index_type == "hnsw" else faiss_index.nprobe) == value


def test_build_time_mismatch_fails_naming_key_values_and_fix(
    small_chunks: list[Chunk], tmp_path: Path
) -> None:
    built = RetrievalConfig(kind="hybrid", index_type="flat")
    out = Retriever.build(small_chunks, built, embedder=HashEmbedder()).save(tmp_path / "index")
    for key, value, shown in (("kind", "dense", "'hybrid'"), ("index_type", "hnsw", "'flat'")):
        with pytest.raises(ConfigError) as info:
            Retriever.load(out, dataclasses.replace(built, **{key: value}), embedder=HashEmbedder())
        message = str(info.value)
        assert "\n" not in message and str(out) in message
        assert f"retrieval.{key}: the index was built with {shown} but the config says {value!r}" in message
        assert "rebuild the index (`teacherforge datagen`" in message
        assert f"set retrieval.{key}={shown.strip(chr(39))}" in message
    # keys that do not shape this index (HNSW degree of a flat index) are not compared
    assert Retriever.load(out, dataclasses.replace(built, hnsw_m=8), embedder=HashEmbedder())


def test_run_layout_loads_with_the_config_settings_cached_per_settings(
    small_chunks: list[Chunk], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one loader of a run dir's index passes the config's settings and caches per settings."""
    from teacherforge.run import RunLayout

    monkeypatch.setattr(retriever_module, "Embedder", lambda name, *args: _NamedHashEmbedder(name))
    built = RetrievalConfig(kind="hybrid", hybrid_dense_weight=0.4)
    Retriever.build(small_chunks, built, embedder=_NamedHashEmbedder("hash")).save(tmp_path / "index")
    layout = RunLayout(tmp_path)
    weighted = dataclasses.replace(built, hybrid_dense_weight=0.9)
    first = layout.retriever("original", weighted)
    assert first.config.hybrid_dense_weight == 0.9
    assert layout.retriever("original", dataclasses.replace(built, hybrid_dense_weight=0.9)) is first
    assert layout.retriever("original", built).config.hybrid_dense_weight == 0.4
    with pytest.raises(ConfigError, match=r"retrieval\.kind"):
        layout.retriever("original", dataclasses.replace(built, kind="bm25"))


class _NamedHashEmbedder(HashEmbedder):
    """The hashing double under the name ``Retriever.load`` asks for (no weights on disk)."""

    path = ""


def test_repeated_chunk_ids_collapse_to_one_hit() -> None:
    base = [
        Chunk(chunk_id=f"c{i}", doc_id="d", source="d", text=f"topic{i} oxygen tank report") for i in range(6)
    ]
    paraphrases = [
        Chunk(chunk_id="c0", doc_id="d", source="d", text=f"oxygen tank oxygen tank variant {j}")
        for j in range(5)
    ]
    for kind in KINDS:
        retriever = Retriever.build(base + paraphrases, RetrievalConfig(kind=kind), embedder=HashEmbedder())
        hits = retriever.search(["oxygen tank"], 4)[0]
        ids = [h.chunk_id for h in hits]
        assert len(ids) == 4 and len(set(ids)) == 4, (kind, ids)
        assert [h.rank for h in hits] == [1, 2, 3, 4]
        assert ids[0] == "c0"  # its best row wins
        assert len(retriever.search(["oxygen tank"], 50)[0]) == 6  # never more hits than distinct chunks


def test_one_encode_and_one_faiss_call_per_batch(small_chunks: list[Chunk]) -> None:
    fake = HashEmbedder()
    retriever = Retriever.build(small_chunks, RetrievalConfig(kind="hybrid"), embedder=fake)

    class CountingIndex:
        def __init__(self, index):
            self.index, self.d, self.calls = index, index.d, 0

        def search(self, x, k):
            self.calls += 1
            return self.index.search(x, k)

    retriever.index = CountingIndex(retriever.index)
    for kind in ("dense", "hybrid"):
        before = fake.model_calls
        retriever.index.calls = 0
        assert len(retriever.search([f"query {i} about oxygen" for i in range(17)], 3, kind=kind)) == 17
        assert fake.model_calls - before == 1 and retriever.index.calls == 1


def test_search_edge_cases(hybrid: Retriever) -> None:
    assert hybrid.search([], 3) == []
    with pytest.raises(ValueError, match="k must be"):
        hybrid.search(["x"], 0)
    hits = hybrid.search(["zzzz qqqq", ""], 2, kind="bm25")  # no known words: still k hits, score 0
    assert [len(h) for h in hits] == [2, 2] and hits[0][0].score == 0.0
    assert len(hybrid.search(["oxygen"], None)[0]) == hybrid.config.top_k


def test_module_doctests() -> None:
    assert doctest.testmod(retriever_module).failed == 0
    assert doctest.testmod(dense_module).failed == 0
    assert doctest.testmod(embedder_module).failed == 0


def test_identifier_tokens_find_codes_single_digits_and_dates(tmp_path: Path) -> None:
    texts = [
        "Pump 3 failed during the test run on Mar.9 in the aft bay.",
        "Pump 7 failed during the test run on Mar.3 in the aft bay.",
    ]
    chunks = [Chunk(chunk_id=f"c{i}", doc_id="d", source="d", text=t) for i, t in enumerate(texts)]
    for tokenizer, found in (("words", False), ("identifiers", True)):
        config = RetrievalConfig(kind="bm25", bm25_tokenizer=tokenizer, bm25_stemmer="none")
        retriever = Retriever.build(chunks, config, embedder=HashEmbedder())
        top = [hits[0].chunk_id for hits in retriever.search(["pump 7 failed", "the run on Mar.3"], 1)]
        assert (top == ["c1", "c1"]) is found  # words drop "7" and "3": a tie, the first row wins
    out = retriever.save(tmp_path / "index")  # the tokenizer travels with the index
    loaded = Retriever.load(out, embedder=HashEmbedder())
    assert loaded.bm25.tokenizer == "identifiers" and loaded.search(["pump 7"], 1)[0][0].chunk_id == "c1"
    with pytest.raises(
        ConfigError, match=re.escape("retrieval.bm25_tokenizer: the index was built with 'identifiers'")
    ):
        Retriever.load(out, dataclasses.replace(config, bm25_tokenizer="words"), embedder=HashEmbedder())


def test_reciprocal_rank_fusion_ranks_agreement_first(small_chunks: list[Chunk], tmp_path: Path) -> None:
    built = Retriever.build(small_chunks, RetrievalConfig(kind="hybrid"), embedder=HashEmbedder())
    out = built.save(tmp_path / "index")
    rrf = Retriever.load(out, RetrievalConfig(kind="hybrid", hybrid_fusion="rrf"), embedder=HashEmbedder())
    for phrase, chunk_id in _phrases(small_chunks)[:3]:
        hits = rrf.search([phrase], 5)[0]
        assert hits[0].chunk_id == chunk_id and all(0.0 <= h.score <= 1.0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    with pytest.raises(ConfigError, match=re.escape("retrieval.hybrid_fusion")):
        RetrievalConfig(hybrid_fusion="sum")


def test_sentence_windows_match_one_sentence_and_return_its_window(tmp_path: Path) -> None:
    text = (
        "The harbour froze in January. Boats stayed at the quay for weeks. "
        "The ferry company hired an icebreaker named Polar Wren. It cleared the channel by March. "
        "Trade resumed in April."
    )
    chunks = [
        Chunk("h-1", "h", "h.md", text, start_char=100, end_char=100 + len(text)),
        Chunk("g-1", "g", "g.md", "Gulls nested on the pier roofs. Fishermen sold cod at dawn."),
    ]
    config = RetrievalConfig(kind="bm25", bm25_stemmer="none", unit="sentence", window=1)
    retriever = Retriever.build(chunks, config, embedder=HashEmbedder())
    assert len(retriever) == 7  # one row per sentence
    hit = retriever.search(["which icebreaker did the ferry company hire"], 1)[0][0]
    # the matched sentence and one sentence each side, as the chunk spells them; the chunk's id
    assert hit.chunk_id == "h-1"
    assert hit.text == (
        "Boats stayed at the quay for weeks. The ferry company hired an icebreaker named Polar Wren. "
        "It cleared the channel by March."
    )
    row = next(r for r in retriever.chunks if r.text == hit.text)
    assert text[row.start_char - 100 : row.end_char - 100] == hit.text
    # two sentences of one chunk match: still one hit per chunk
    assert [h.chunk_id for h in retriever.search(["harbour channel"], 3)[0]] == ["h-1", "g-1"]
    saved = retriever.save(tmp_path / "index")
    loaded = Retriever.load(saved, embedder=HashEmbedder())
    assert loaded.search(["icebreaker Polar Wren"], 1)[0][0].text == hit.text
    with pytest.raises(ConfigError, match=r"retrieval.unit"):
        Retriever.load(saved, dataclasses.replace(config, unit="chunk"), embedder=HashEmbedder())
