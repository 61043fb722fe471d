"""The noise curriculum: schedules, the share of noisy hits actually served, resumable draws, bad settings."""

from __future__ import annotations

import itertools

import pytest

from teacherforge.config import ConfigError, NoiseConfig, RetrievalConfig, load_config
from teacherforge.envs.curriculum import NoisyRetriever, noise_probability
from teacherforge.retrieval import Retriever
from teacherforge.types import Chunk
from tests.datagen._datagen_fakes import HashEmbedder

WORDS = [
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "iris",
    "juniper",
    "kelp",
    "lumen",
]
CHUNKS = [
    Chunk(f"d-{i}", "d", "d.md", f"Record {i}: {WORDS[i % 12]} {WORDS[(i * 5) % 12]} near marker{i}.")
    for i in range(40)
]
QUERIES = [f"marker{i} {WORDS[i % 12]}" for i in range(40)] * 5  # 200 searches


def _index(chunks: list[Chunk]) -> Retriever:
    return Retriever.build(chunks, RetrievalConfig(kind="bm25", bm25_stemmer="none"), embedder=HashEmbedder())


def test_schedules_move_from_start_to_end() -> None:
    linear = NoiseConfig(
        source="distractors", schedule="linear", start=0.2, end=0.6, start_step=10, end_step=20
    )
    assert [noise_probability(s, linear) for s in (0, 10, 15, 20, 50)] == pytest.approx(
        [0.2, 0.2, 0.4, 0.6, 0.6]
    )
    exp = NoiseConfig(source="distractors", schedule="exponential", start=0.0, end=1.0, end_step=10)
    values = [noise_probability(s, exp) for s in range(11)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    assert all(a < b for a, b in itertools.pairwise(values)) and values[5] < 0.5  # slow start, fast end
    assert noise_probability(99, NoiseConfig(source="distractors", schedule="constant", start=0.3)) == 0.3


@pytest.mark.parametrize("step", [0, 5, 10])
def test_served_distractor_share_follows_the_schedule(step: int) -> None:
    noise = NoiseConfig(source="distractors", schedule="linear", start=0.0, end=0.8, end_step=10)
    clean = _index(CHUNKS)
    noisy = NoisyRetriever(clean, noise, seed=3)
    noisy.set_step(step)
    results = noisy.search(QUERIES, 3)
    expected = noise_probability(step, noise)
    stats = noisy.stats()
    assert stats["noise/probability"] == pytest.approx(expected)
    # counted independently: hits that are not what the clean index returns for that query
    truth = clean.search(QUERIES, 3)
    swapped = sum(h.chunk_id != t.chunk_id for hs, ts in zip(results, truth) for h, t in zip(hs, ts))
    served = sum(len(hs) for hs in results)
    # 600 hits: 4 standard deviations of a binomial share at most 0.082
    assert abs(swapped / served - expected) < 0.082 and stats["noise/served_share"] >= swapped / served - 1e-9


def test_served_paraphrase_share_follows_the_schedule() -> None:
    paraphrases = [Chunk(c.chunk_id, c.doc_id, c.source, "In other words: " + c.text) for c in CHUNKS]
    noise = NoiseConfig(source="paraphrased", schedule="constant", start=0.5)
    noisy = NoisyRetriever(_index(CHUNKS), noise, seed=1, noisy=_index(paraphrases))
    results = noisy.search(QUERIES, 2)
    share = sum(h.text.startswith("In other words") for hs in results for h in hs) / sum(map(len, results))
    assert abs(share - 0.5) < 0.15  # per query: 200 draws, 4 standard deviations
    assert noisy.stats()["noise/served_share"] == pytest.approx(share)
    assert [h.chunk_id for h in results[0]][:1] == ["d-0"]  # paraphrased hits keep the original ids


def test_draws_depend_on_the_step_not_on_the_history() -> None:
    noise = NoiseConfig(source="distractors", schedule="linear", start=0.0, end=1.0, end_step=4)
    clean = _index(CHUNKS)
    straight, resumed = NoisyRetriever(clean, noise, seed=7), NoisyRetriever(clean, noise, seed=7)
    for step in range(3):
        straight.set_step(step)
        straight.search(QUERIES[:20], 3)
    straight.set_step(3)
    resumed.set_step(3)  # as after --resume at step 3
    assert straight.search(QUERIES[:20], 3) == resumed.search(QUERIES[:20], 3)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.noise.end=1.5", r"env.noise.end"),
        ("env.noise.start=-0.1", r"env.noise.start"),
        ("env.noise.end_step=2", r"env.noise.end_step: 2 is before env.noise.start_step 5"),
        ("env.noise.schedule=cosine", r"env.noise.schedule"),
    ],
)
def test_bad_curriculum_settings_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["env.noise.source=distractors", "env.noise.start_step=5", override])
