"""``teacherforge env play``: play the search environment by hand (reward experiments).

Reads turns from standard input, one per line (a line ending in ``\\`` continues on the
next one), so it also works with piped input. Shortcuts: ``/search QUERY`` and
``/answer TEXT`` wrap the text in the protocol tags; ``/quit`` stops. Every observation is
printed; when the episode ends the reward breakdown (unweighted score and weight per
component), the gold answer and the gold chunks are shown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge env play``."""
    parser.add_argument("--run-dir", required=True, help="data-generation run directory")
    parser.add_argument(
        "--index",
        choices=("original", "paraphrased"),
        default="original",
        help="which index the searches use",
    )
    parser.add_argument(
        "--split",
        default="train",
        choices=("train", "validation", "test"),
        help="question split to draw from",
    )
    parser.add_argument("--question-id", default=None, help="play this question (default: drawn by --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the question draw")
    parser.add_argument("--top-k", type=int, default=None, help="hits per search (default: env config)")
    parser.add_argument("--max-turns", type=int, default=None, help="turn budget (default: env config)")
    parser.add_argument("--rewards", default="autodidact", help="rubric preset name or YAML path")


def read_turns(stream: TextIO, interactive: bool = False) -> Iterator[str]:
    """Turns typed on ``stream``: one per line, ``\\`` at the end of a line continues it.

    >>> import io
    >>> list(read_turns(io.StringIO("a\\\\\\nb\\n/search x\\n")))
    ['a\\nb', '<search>x</search>']
    """
    pending: list[str] = []
    while True:
        if interactive:
            print("... " if pending else "turn> ", end="", flush=True)
        line = stream.readline()
        if not line:
            if pending:
                yield _expand("\n".join(pending))
            return
        line = line.rstrip("\n")
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield _expand("\n".join(pending))
        pending = []


def _expand(text: str) -> str:
    for command, tag in (("/search ", "search"), ("/answer ", "answer")):
        if text.startswith(command):
            return f"<{tag}>{text[len(command) :]}</{tag}>"
    return text


def _summary(env: Any, reward: float, info: dict[str, Any], chunks: dict[str, Any]) -> str:
    rubric = env.rubric
    lines = [
        f"episode over after {info['turn']} turn(s): reward {reward:.4f} "
        f"(bounds {tuple(round(b, 4) for b in rubric.bounds)})"
    ]
    lines.append(f"  {'component':<22} {'score':>7} {'weight':>7} {'weighted':>9}")
    for name, score in info["reward_breakdown"].items():
        weight = rubric.weights.get(name)
        if weight is None:
            lines.append(f"  {name:<22} {score:>7.3f}")
        else:
            lines.append(f"  {name:<22} {score:>7.3f} {weight:>7.3f} {weight * score:>9.3f}")
    gold = (
        "not retrieved"
        if not info["gold_retrieved"]
        else f"turn {info['gold_turn']}, rank {info['gold_rank']}"
    )
    lines.append(f"queries: {info['queries']}")
    lines.append(f"gold chunk retrieved: {gold}")
    lines.append(f"final answer: {info['final_answer']!r}   gold answer: {info['gold_answer']!r}")
    for chunk_id in info["gold_chunk_ids"]:
        chunk = chunks.get(chunk_id)
        text = " ".join(chunk.text.split())[:300] if chunk is not None else "(not in chunks.jsonl)"
        lines.append(f"gold chunk {chunk_id}: {text}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Play one episode with turns read from stdin."""
    import dataclasses
    from pathlib import Path

    from teacherforge.config import EnvConfig
    from teacherforge.envs.rundir import load_chunks
    from teacherforge.envs.search_env import SearchEnv

    config = EnvConfig(index=args.index, split=args.split)
    changes = {k: v for k, v in (("top_k", args.top_k), ("max_turns", args.max_turns)) if v is not None}
    config = dataclasses.replace(config, **changes)
    env = SearchEnv(args.run_dir, config=config, rubric=args.rewards, render_mode="ansi")
    chunks_path = Path(args.run_dir) / "chunks.jsonl"
    chunks = load_chunks(args.run_dir) if chunks_path.is_file() else {}
    options = {"question_id": args.question_id} if args.question_id else None
    observation, info = env.reset(seed=args.seed, options=options)
    print(
        f"question {info['question_id']} ({args.split}, index {args.index}); "
        f"one turn per line, /search Q, /answer A, /quit\n"
    )
    print(observation, flush=True)
    interactive = sys.stdin.isatty()
    for turn in read_turns(sys.stdin, interactive):
        if turn.strip() == "/quit":
            print("stopped before the episode ended")
            return 0
        observation, reward, terminated, truncated, info = env.step(turn)
        last = info["turns"][-1]
        status = f"malformed: {last['malformed']}" if last["malformed"] else last["kind"]
        print(f"[turn {info['turn']}/{info['max_turns']}: {status}]")
        if last["kind"] == "search":
            hits = ", ".join(f"{c} ({s:.3f})" for c, s in zip(last["chunk_ids"], last["scores"]))
            print(f"[retrieved: {hits or 'nothing'}]")
        if observation:
            print(observation, flush=True)
        if terminated or truncated:
            if truncated:
                print("[out of turns: truncated]")
            print(_summary(env, reward, info, chunks))
            return 0
    print(f"input ended before the episode did (turn {env.episode.info()['turn']}/{config.max_turns})")
    return 0
