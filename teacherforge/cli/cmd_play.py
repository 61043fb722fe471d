"""``teacherforge env play``: play the search environment by hand (reward experiments).

Reads turns from standard input, one per line (a line ending in ``\\`` continues on the
next one), so it also works with piped input. Shortcuts: ``/search QUERY`` and
``/answer TEXT`` wrap the text in the protocol tags; ``/quit`` stops. Every observation is
printed; when the episode ends the reward breakdown (unweighted score and weight per
component), the gold answer and the gold chunks are shown.

The episode is the configured search task's (``--config``/``--set``: ``retrieval.index`` and
``retrieval.top_k``, ``env.*``, ``rewards.*``), as GRPO trains on it; ``--index``, ``--top-k``
and the other flags are aliases of single ``--set`` overrides.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from teacherforge.cli.args import add_config_arguments, alias_overrides, config_from_args

ALIASES = {
    "index": "retrieval.index",
    "split": "env.split",
    "seed": "seed",
    "top_k": "retrieval.top_k",
    "max_turns": "env.max_turns",
    "rewards": "rewards.preset",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``teacherforge env play``: the config's, plus aliases of a few of its keys."""
    parser.add_argument(
        "--index",
        choices=("original", "paraphrased"),
        help="alias of --set retrieval.index=…: the index searched",
    )
    parser.add_argument(
        "--split",
        choices=("train", "validation", "test"),
        help="alias of --set env.split=…: the question split",
    )
    parser.add_argument("--question-id", default=None, help="play this question (default: drawn by the seed)")
    parser.add_argument("--seed", type=int, help="alias of --set seed=N: the seed of the question draw")
    parser.add_argument("--top-k", type=int, help="alias of --set retrieval.top_k=N: hits per search")
    parser.add_argument("--max-turns", type=int, help="alias of --set env.max_turns=N: the turn budget")
    parser.add_argument(
        "--rewards",
        metavar="PRESET_OR_YAML",
        help="alias of --set rewards.preset=…: the rubric scoring the episode",
    )
    add_config_arguments(parser, config_required=False)


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
    """Play one episode of the configured search task with turns read from stdin."""
    from teacherforge.envs.search_env import SearchEnv
    from teacherforge.envs.task import build_task
    from teacherforge.run import RunLayout

    config = config_from_args(args, alias_overrides(args, ALIASES))
    layout = RunLayout(config.run_path)
    env = SearchEnv(task=build_task(config, layout), render_mode="ansi")
    chunks = layout.chunk_map() if layout.chunks.is_file() else {}
    options = {"question_id": args.question_id} if args.question_id else None
    observation, info = env.reset(seed=config.seed, options=options)
    print(
        f"question {info['question_id']} ({config.env.split}, index {config.retrieval.index}); "
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
    print(f"input ended before the episode did (turn {env.episode.info()['turn']}/{config.env.max_turns})")
    return 0
