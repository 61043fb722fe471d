"""Shared fixtures-in-code for the GRPO tests: a small real run dir, a tiny random SmolLM2, a scripted policy.

Also runnable as a script (the SIGTERM test starts it in a subprocess):
``python grpo_testkit.py RUN_DIR MODEL_DIR OUT_DIR [key=value ...]`` runs ``run_grpo`` with the
scripted policy and exits 130 when a signal stopped it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from teacherforge.types import Chunk, Completion, GenerationParams

CHUNKS = [
    ("apollo-0", "Apollo 13 launched on April 11, 1970 from Kennedy Space Center with a crew of three."),
    ("apollo-1", "The commander of Apollo 13 was James Lovell, a veteran of Gemini and Apollo 8."),
    ("apollo-2", "Oxygen tank number 2 in the service module failed at 55 hours 54 minutes into the flight."),
    ("apollo-3", "The crew used the lunar module Aquarius as a lifeboat while returning to Earth."),
    ("apollo-4", "Carbon dioxide scrubbers from the command module were adapted with a square canister fix."),
    ("apollo-5", "The command module Odyssey splashed down in the Pacific Ocean on April 17, 1970."),
    ("apollo-6", "Fred Haise served as lunar module pilot and Jack Swigert as command module pilot."),
    ("apollo-7", "A review board found damaged thermostatic switches inside the oxygen tank heater."),
    ("apollo-8", "The recovery ship was the USS Iwo Jima, which picked up the astronauts near Samoa."),
    ("apollo-9", "Mission control in Houston was led by flight director Gene Kranz during the crisis."),
    ("apollo-10", "The planned landing site was the Fra Mauro highlands, later visited by Apollo 14."),
    ("apollo-11", "The S-IVB third stage was deliberately crashed into the Moon as a seismic experiment."),
]
QUESTIONS = [
    ("q0", "apollo-1", "Who was the commander of Apollo 13?", "James Lovell", "train"),
    ("q1", "apollo-2", "Which oxygen tank failed in the service module?", "oxygen tank number 2", "train"),
    ("q2", "apollo-3", "Which lunar module served as a lifeboat?", "Aquarius", "train"),
    ("q3", "apollo-5", "Where did the command module Odyssey splash down?", "Pacific Ocean", "train"),
    ("q4", "apollo-8", "What was the recovery ship?", "USS Iwo Jima", "train"),
    ("q5", "apollo-9", "Who was the flight director during the crisis?", "Gene Kranz", "train"),
    ("q6", "apollo-10", "What was the planned landing site?", "Fra Mauro highlands", "train"),
    ("q7", "apollo-0", "When did Apollo 13 launch?", "April 11, 1970", "train"),
    ("q8", "apollo-6", "Who was the command module pilot?", "Jack Swigert", "validation"),
    ("q9", "apollo-7", "What did the review board find damaged?", "thermostatic switches", "validation"),
]
ANSWERS = {q: a for _, _, q, a, _ in QUESTIONS}
REWARDS = {"retrieval_match": 1.0, "f1": 1.0, "format": 0.2}


def make_run_dir(path: Path) -> Path:
    """A real datagen-style run dir: chunks.jsonl, questions.json and a bm25 ``index/`` over the chunks."""
    from tests.envs._envkit import question_records, write_run_dir

    corpus = [Chunk(cid, "apollo.md", "apollo.md", text) for cid, text in CHUNKS]
    return write_run_dir(path, question_records(QUESTIONS), corpus=corpus)


def make_tiny_model(path: Path) -> Path:
    """A randomly initialised 2-layer, hidden-64 model from the SmolLM2 config, with the real tokenizer."""
    from teacherforge.models import save_random_model

    return save_random_model(path)


def grpo_overrides(run_dir: Path, model_dir: Path, out_dir: Path, **extra: Any) -> list[str]:
    """``--set`` style overrides for a tiny, fast GRPO run on the test run dir."""
    values = {
        "run_dir": str(run_dir),
        "grpo.model": str(model_dir),
        "grpo.output_dir": str(out_dir),
        "grpo.num_generations": 4,
        "grpo.batch_size": 8,
        "grpo.max_steps": 2,
        "grpo.save_steps": 2,
        "grpo.learning_rate": 5e-3,
        "grpo.warm_start": False,
        "grpo.report_to": "none",
        "grpo.trajectories_per_step": 3,
        "grpo.lora.r": 4,
        "grpo.lora.alpha": 8,
        "env.max_turns": 3,
        "env.max_new_tokens": 16,
        "retrieval.kind": "bm25",  # as make_run_dir builds the index
        "retrieval.top_k": 2,
        "env.max_observation_chars": 400,
        "rewards.preset": "null",
    }
    values.update(extra)
    out = [f"{k}={v}" for k, v in values.items()]
    out += [f"rewards.weights.{name}={w}" for name, w in REWARDS.items()]
    return out


_USER = re.compile(r"user\n(.*?)<\|im_end\|>", re.S)


class ScriptedPolicy:
    """A backend that plays three behaviours, chosen by batch position and seed, so rewards vary in a group.

    0: search with the question's words, then answer the gold answer; 1: answer at once, wrongly;
    2: search for something unrelated, then answer "I do not know". Token ids are left empty, so
    the driver tokenizes the text (real tokenizer ids, masks over real ``<information>`` tokens).
    """

    identity = "scripted-grpo-policy"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def generate(self, prompts: Sequence[Any], params: GenerationParams) -> list[Completion]:
        if self.delay_s:
            time.sleep(self.delay_s)
        self.calls += 1
        out = []
        for position, prompt in enumerate(prompts):
            text = str(prompt)
            question = _USER.findall(text)[-1].strip()
            after = text.split("<|im_start|>assistant", 1)[-1]
            for sample in range(params.n):
                if "<information>" in after:
                    good = "weather" not in after
                    answer = ANSWERS.get(question, "?") if good else "I do not know"
                    turn = f"<think>found it</think>\n<answer>{answer}</answer>"
                else:
                    behaviour = (position + sample + (params.seed or 0)) % 3
                    if behaviour == 0:
                        turn = f"<think>search</think>\n<search>{question.rstrip('?')}</search>"
                    elif behaviour == 1:
                        turn = "<think>easy</think>\n<answer>the moon</answer>"
                    else:
                        turn = "<think>search</think>\n<search>weather forecast tomorrow</search>"
                out.append(Completion(text=turn, finish_reason="stop"))
        return out


def scripted_factory(delay_s: float = 0.0):
    """A ``backend_factory`` for :func:`teacherforge.trainers.grpo.build_grpo_trainer`."""
    policy = ScriptedPolicy(delay_s)

    @contextlib.contextmanager
    def factory(trainer: Any) -> Iterator[ScriptedPolicy]:
        yield policy

    return factory


def read_log(out_dir: Path) -> list[dict]:
    """The records of ``grpo_log.jsonl``."""
    return [
        json.loads(line) for line in (out_dir / "grpo_log.jsonl").read_text().splitlines() if line.strip()
    ]


def main(argv: Sequence[str]) -> int:
    """Subprocess entry: run the GRPO stage with the scripted policy (slowed down) and report."""
    from teacherforge.config import load_config
    from teacherforge.trainers.grpo import run_grpo

    run_dir, model_dir, out_dir, *extra = argv
    overrides = grpo_overrides(Path(run_dir), Path(model_dir), Path(out_dir)) + list(extra)
    summary = run_grpo(load_config(None, overrides), backend_factory=scripted_factory(delay_s=0.3))
    return 130 if summary.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
