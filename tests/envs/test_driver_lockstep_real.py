"""Lockstep == one by one with the real dense retriever, at ``benchmarks/bench_env.py``'s conditions.

The scripted-backend test (``test_driver.py``) uses a keyword retriever, whose scores do not
depend on the batch. With MiniLM they do, in the last float32 bits: a query's vector depends on
the shape of the batched forward pass it was encoded in. This test runs the benchmark's own
comparison (64 episodes, 3 turns, 50 ms per generate call, 200-chunk dense index), so the
benchmark and the test cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dense_index():
    return bench_env.build(200)


def test_lockstep_equals_one_by_one_at_the_benchmarks_conditions(dense_index):
    retriever, chunks = dense_index
    assert (bench_env.EPISODES, bench_env.TURNS, bench_env.LATENCY_S) == (64, 3, 0.05)
    _, _, gap = bench_env.bench_driver(retriever, chunks)  # raises, listing them, if episodes differ
    assert gap <= bench_env.SCORE_TOL


def test_the_comparison_catches_a_real_difference(dense_index):
    retriever, chunks = dense_index
    from teacherforge.config import EnvConfig
    from teacherforge.envs import RolloutDriver, SearchTask
    from teacherforge.llm import FakeBackend
    from teacherforge.rewards import load_rubric
    from teacherforge.types import GenerationParams

    question = {"id": "q0", "chunk_id": chunks[0].chunk_id, "question": "oxygen tank?", "answer": "x"}
    backend = FakeBackend(["<search>oxygen tank</search>", "<answer>x</answer>"])
    driver = RolloutDriver(
        SearchTask(EnvConfig(max_turns=3), retriever, [question], load_rubric("autodidact"), top_k=3)
    )
    [episode] = driver.run(backend, [question], GenerationParams())
    assert bench_env.lockstep_mismatches([episode], [episode]) == []
    turn = episode.trajectory.turns[0]
    moved = dataclasses.replace(turn.retrieved[0], score=turn.retrieved[0].score + 1e-3)
    other_turn = dataclasses.replace(turn, retrieved=(moved, *turn.retrieved[1:]))
    other = dataclasses.replace(
        episode,
        trajectory=dataclasses.replace(episode.trajectory, turns=(other_turn, *episode.trajectory.turns[1:])),
    )
    assert bench_env.lockstep_mismatches([episode], [other]) == [
        "episode 0: retrieval scores differ by more than 1e-05"
    ]
    renamed = dataclasses.replace(episode, completion_text=episode.completion_text + " ")
    assert bench_env.lockstep_mismatches([episode], [renamed]) == ["episode 0: completion_text differs"]
