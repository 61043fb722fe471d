"""CLI: ``teacherforge ask --model M --run-dir D "question"`` — one agentic episode, traced.

Prints each turn's thinking, query, the retrieved chunk ids with scores and a snippet, the
answer, and — when the question is one of the run dir's questions — the reward breakdown.
``M`` is ``base``, ``sft``, ``grpo``, ``teacher``, an HF id, a path or ``<backend>:<model>``.
"""

from __future__ import annotations

import argparse
import re

from teacherforge.cli.args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="the question to ask")
    parser.add_argument(
        "--model", default="base", help="base, sft, grpo, teacher, HF id, path or backend:model"
    )
    add_config_arguments(parser, default_config="quickstart")
    parser.add_argument("--index", choices=("original", "paraphrased"), default=None, help="which index")


def run(args: argparse.Namespace) -> int:
    from teacherforge.envs.driver import RolloutDriver
    from teacherforge.envs.task import build_task
    from teacherforge.records import Question
    from teacherforge.run import RunLayout
    from teacherforge.trainers.eval_models import build_model_backend, resolve_model
    from teacherforge.types import GenerationParams

    if not args.run_dir:
        raise ValueError("--run-dir is required: the run directory with index/ and questions.json")
    config = config_from_args(args, [f"retrieval.index={args.index}"] if args.index else [])
    layout = RunLayout(config.run_path)
    known = {q.question.strip(): q for q in layout.questions(None)}
    question = known.get(args.question.strip()) or Question(
        "ask", "(none)", args.question, "(no reference answer)", source_chunk_ids=("(none)",)
    )
    record = question.to_json()
    model = resolve_model(args.model, config)
    backend = build_model_backend(model, [record], None, agentic=True)
    task = build_task(config, layout, questions=[question])
    driver = RolloutDriver(task, tokenizer=getattr(backend, "tokenizer", None))
    episode = driver.run(backend, [question], GenerationParams(max_new_tokens=config.env.max_new_tokens))[0]
    chunks = layout.chunk_map()
    print(f"question: {args.question}\nmodel: {model.label}\n")
    for i, turn in enumerate(episode.trajectory.turns, 1):
        thinking = " ".join(re.findall(r"<think>(.*?)</think>", turn.text, flags=re.S)).strip()
        print(f"turn {i}")
        if thinking:
            print(f"  thinking: {thinking}")
        if turn.malformed:
            print(f"  malformed: {turn.malformed}: {turn.text[:200]!r}")
        if turn.query is not None:
            print(f"  search: {turn.query}")
            for ref in turn.retrieved:
                text = chunks[ref.chunk_id].text if ref.chunk_id in chunks else ""
                print(
                    f"    [{ref.rank}] {ref.chunk_id}  score {ref.score:.3f}  {' '.join(text.split())[:100]}"
                )
    print(f"\nanswer: {episode.trajectory.final_answer}")
    if question.id != "ask":
        print(f"gold answer: {question.answer}  (gold chunks {', '.join(question.gold_chunk_ids)})")
        print(f"reward: {episode.reward:.3f}")
        for name, value in sorted(episode.reward_breakdown.items()):
            print(f"  {name}: {value:.3f}")
    return 0
