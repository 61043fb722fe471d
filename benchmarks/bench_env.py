"""Search environment overhead and batched rollout speed-up, on a real MiniLM index.

1. Env search step vs raw ``Embedder.encode`` + FAISS search of the same queries, one query
   at a time, alternating query by query (goal: env ≤ 1.10× raw). The embedding cache is
   off on both sides. A third row times the env with an instant stub retriever: the env's
   own cost per step (parsing, observation, info), whose ratio does not depend on the load.
2. ``RolloutDriver`` with 64 episodes in lockstep vs the same 64 episodes run one after
   another, against a FakeBackend with a fixed latency per ``generate`` call (as a GPU
   server has) and the real retriever (goal: ≥ 10×). The two runs must give the same
   episodes (:func:`lockstep_mismatches`); ``tests/envs/test_driver_real.py`` runs this
   comparison at these defaults.

Run: ``python benchmarks/bench_env.py [--queries 200] [--episodes 64] [--latency 0.05] [--smoke]``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import benchkit
import numpy as np
import torch

from teacherforge.config import EnvConfig, RetrievalConfig
from teacherforge.envs import Episode, RolloutDriver, SearchEnv, SearchTask
from teacherforge.llm import FakeBackend
from teacherforge.retrieval import Retriever
from teacherforge.rewards import load_rubric
from teacherforge.types import Chunk, GenerationParams

#: The driver comparison's conditions (the test runs it at these): episodes, turns, latency.
EPISODES, TURNS, LATENCY_S = 64, 3, 0.05
#: Retrieval scores of the lockstep and one-by-one runs may differ by this much (float32
#: rounding of a batched MiniLM forward pass); everything else must be identical.
SCORE_TOL = 1e-5


def build(n_chunks: int) -> tuple[Retriever, list[Chunk]]:
    """A dense retriever over the first ``n_chunks`` 800-character slices of the Apollo 13 report."""
    chunks = benchkit.apollo_slices(800, n_chunks)
    retriever = Retriever.build(chunks, RetrievalConfig(kind="dense"))
    retriever.embedder.cache_enabled = False  # both sides pay for every encode
    return retriever, chunks


def make_queries(chunks: list[Chunk], n: int) -> list[str]:
    words = [c.text.split() for c in chunks]
    return [" ".join(words[i % len(words)][(i * 7) % 40 :][:7]) for i in range(n)]


class _StubRetriever:
    """Returns fixed hits instantly: isolates the environment's own cost per step."""

    def __init__(self, hits):
        self.hits = hits

    def search(self, queries, k):
        return [self.hits[:k] for _ in queries]


def bench_search(
    retriever: Retriever, chunks: list[Chunk], n: int, rounds: int, top_k: int
) -> tuple[float, float, float]:
    """Median seconds per query: raw encode + FAISS, env step (real retriever), env step
    (stub retriever: the env's own overhead). Raw and env alternate query by query, so
    load changes on a shared machine hit both sides alike."""
    queries = make_queries(chunks, n)
    questions = [
        {"id": f"q{i}", "chunk_id": c.chunk_id, "question": c.text[:80], "answer": "x"}
        for i, c in enumerate(chunks[:16])
    ]
    env = SearchEnv(retriever=retriever, questions=questions, top_k=top_k, max_turns=8)
    stub = SearchEnv(
        retriever=_StubRetriever(retriever.search(["oxygen tank"], top_k)[0]),
        questions=questions,
        top_k=top_k,
        max_turns=8,
    )
    embedder, index = retriever.embedder, retriever.index
    embedder.encode(["warm up"])
    raw_times, env_times, stub_times = [], [], []

    def env_step(e: SearchEnv, query: str) -> float:
        start = time.perf_counter()
        _, _, terminated, truncated, _ = e.step(f"<search>{query}</search>")
        if terminated or truncated:
            e.reset()
        return time.perf_counter() - start

    env.reset(seed=0)
    stub.reset(seed=0)
    for r in range(rounds):
        for i, q in enumerate(queries):
            start = time.perf_counter()
            index.search(embedder.encode([q]), top_k)
            raw = time.perf_counter() - start
            if (i + r) % 2:
                raw_times.append(raw)
                env_times.append(env_step(env, q))
            else:
                env_times.append(env_step(env, q))
                raw_times.append(raw)
            stub_times.append(env_step(stub, q))
    return statistics.median(raw_times), statistics.median(env_times), statistics.median(stub_times)


def _split_scores(value: Any, scores: list[float]) -> Any:
    """``value`` with every ``score``/``scores`` entry replaced by ``None``; the scores go to ``scores``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("score", "scores"):
                scores.extend(item if isinstance(item, list) else [item])
                out[key] = None
            else:
                out[key] = _split_scores(item, scores)
        return out
    if isinstance(value, list):
        return [_split_scores(item, scores) for item in value]
    return value


def lockstep_mismatches(
    batched: Sequence[Episode], sequential: Sequence[Episode], score_tol: float = SCORE_TOL
) -> list[str]:
    """Where the lockstep episodes differ from the one-by-one ones (empty: the same episodes).

    Texts, queries, chunk ids, ranks, rewards and info must be identical. Retrieval scores
    are compared within ``score_tol``: the embedder encodes a turn's queries in one batched
    forward pass, and a query's float32 vector depends on the shape of that batch (padding
    length, matrix sizes) in its last bits, so its cosine scores do too (by ~1e-7).
    """
    problems = []
    if len(batched) != len(sequential):
        return [f"{len(batched)} lockstep episodes vs {len(sequential)} one by one"]
    for i, (a, b) in enumerate(zip(batched, sequential)):
        a_scores: list[float] = []
        b_scores: list[float] = []
        fields = ("trajectory", "completion_text", "reward", "reward_breakdown", "info")
        a_rec = _split_scores(json.loads(json.dumps([_field(a, f) for f in fields])), a_scores)
        b_rec = _split_scores(json.loads(json.dumps([_field(b, f) for f in fields])), b_scores)
        for name, x, y in zip(fields, a_rec, b_rec):
            if x != y:
                problems.append(f"episode {i}: {name} differs")
        if len(a_scores) != len(b_scores) or not np.allclose(a_scores, b_scores, rtol=0, atol=score_tol):
            problems.append(f"episode {i}: retrieval scores differ by more than {score_tol}")
    return problems


def _field(episode: Episode, name: str) -> Any:
    value = getattr(episode, name)
    return value.to_json() if name == "trajectory" else value


def bench_driver(
    retriever: Retriever,
    chunks: list[Chunk],
    episodes: int = EPISODES,
    latency: float = LATENCY_S,
    turns: int = TURNS,
) -> tuple[float, float, float]:
    """Seconds for ``episodes`` rollouts one by one and in lockstep, and the largest score
    difference between the two. Each episode has ``turns`` turns: searches, then an answer.
    Raises ``AssertionError`` listing the mismatches when the two runs' episodes differ."""
    questions = [
        {
            "id": f"q{i}",
            "chunk_id": chunks[i % len(chunks)].chunk_id,
            "question": f"Question {i}: " + " ".join(chunks[i % len(chunks)].text.split()[:8]),
            "answer": "oxygen",
        }
        for i in range(episodes)
    ]

    def responder(prompt, sample_index):
        text = prompt if isinstance(prompt, str) else prompt[-1].content
        tail = text.split("<|im_start|>assistant")[-1]
        number = text.split("Question ", 1)[1].split(":", 1)[0]
        turn = tail.count("</information>")
        if turn < turns - 1:
            return f"<think>look it up</think><search>question {number} part {turn} oxygen tank</search>"
        return "<answer>oxygen</answer>"

    task = SearchTask(
        EnvConfig(max_turns=turns + 1), retriever, questions, load_rubric("autodidact"), top_k=3
    )
    params = GenerationParams(max_new_tokens=64)
    driver = RolloutDriver(task)
    start = time.perf_counter()
    sequential = [driver.run(FakeBackend(responder, delay_s=latency), [q], params)[0] for q in questions]
    t_seq = time.perf_counter() - start
    start = time.perf_counter()
    batched = driver.run(FakeBackend(responder, delay_s=latency), questions, params)
    t_batch = time.perf_counter() - start
    problems = lockstep_mismatches(batched, sequential)
    assert not problems, "lockstep != sequential: " + "; ".join(problems[:5])
    gap = max(
        (
            abs(x.score - y.score)
            for a, b in zip(batched, sequential)
            for ta, tb in zip(a.trajectory.turns, b.trajectory.turns)
            for x, y in zip(ta.retrieved, tb.retrieved)
        ),
        default=0.0,
    )
    return t_seq, t_batch, gap


def main(argv: Sequence[str] | None = None) -> None:
    """Run both measurements and print their tables."""
    parser = benchkit.parser(__doc__)
    parser.add_argument("--chunks", type=int, default=200, help="index size (800-char chunks)")
    parser.add_argument("--queries", type=int, default=200, help="queries per round in the search benchmark")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    parser.add_argument("--episodes", type=int, default=EPISODES, help="episodes in the driver benchmark")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--latency", type=float, default=LATENCY_S, help="seconds per generate call")
    args = parser.parse_args(argv)
    if args.smoke:
        args.chunks, args.queries, args.rounds, args.episodes, args.latency = 20, 8, 1, 4, 0.001
    np.random.seed(0)
    torch.set_num_threads(args.threads)
    report = benchkit.Report("bench_env", args.smoke)
    retriever, chunks = build(args.chunks)
    raw, env, own = bench_search(retriever, chunks, args.queries, args.rounds, top_k=3)
    report.add(
        benchkit.Table(
            "Search env step vs raw encode + FAISS",
            ("measurement", "ms per query", "ratio", "goal"),
            (
                ("raw encode + FAISS (baseline)", round(raw * 1e3, 2), 1.0, ""),
                ("SearchEnv.step search", round(env * 1e3, 2), round(env / raw, 2), "<= 1.10"),
                (
                    "env own cost (stub retriever)",
                    round(own * 1e3, 3),
                    round((raw + own) / raw, 3),
                    "<= 1.10",
                ),
            ),
            setup=(
                f"{len(chunks)} Apollo 13 chunks of 800 chars, dense MiniLM flat index, top_k 3, no embedding "
                f"cache, {args.queries} queries x {args.rounds} interleaved rounds (median), "
                f"{args.threads} torch thread(s)"
            ),
            headline=(
                (
                    "env search step vs raw encode + FAISS, one query at a time",
                    f"{env / raw:.2f}× (env's own cost {(raw + own) / raw:.3f}×)",
                ),
            ),
        )
    )
    t_seq, t_batch, gap = bench_driver(retriever, chunks, args.episodes, args.latency)
    report.add(
        benchkit.Table(
            "Batched rollouts: RolloutDriver lockstep vs one by one",
            ("run", "seconds", "speed-up", "goal"),
            (
                ("one by one (baseline)", round(t_seq, 2), 1.0, ""),
                ("lockstep (RolloutDriver)", round(t_batch, 2), round(t_seq / t_batch, 1), ">= 10x"),
            ),
            setup=(
                f"{args.episodes} episodes x {TURNS} turns (searches, then an answer), scripted backend "
                f"with {args.latency * 1e3:.0f} ms per generate call, the dense retriever above"
            ),
            notes=(
                f"same episodes in both runs; largest retrieval-score difference {gap:.1e} "
                f"(batched MiniLM float32 rounding; tolerance {SCORE_TOL})",
            ),
            headline=(
                (
                    f"{args.episodes} episodes in lockstep vs one by one ({args.latency * 1e3:.0f} ms/generate)",
                    f"{t_seq / t_batch:.1f}×",
                ),
            ),
        )
    )
    report.save()


if __name__ == "__main__":
    main()
