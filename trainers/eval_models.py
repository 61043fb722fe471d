"""Which models an evaluation compares, and how each becomes an LLM backend.

Names in ``eval.models``: ``teacher`` (the configured RAG teacher; an ``oracle`` teacher is
labelled as such everywhere), ``base`` (the student's base model, no adapter), ``sft`` and
``grpo`` (the base model plus the adapter that stage saved in the run dir), any HF model
id / local path, or ``<backend>:<model>`` (``openai:gpt-4o-mini``, ``custom:pkg.module:factory``). With ``eval.models`` empty, every model that exists is compared.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from teacherforge.config import Config, LLMConfig
from teacherforge.config.llm import BACKENDS
from teacherforge.llm import FakeBackend, LLMBackend, build_backend
from teacherforge.run import TRAINING_STAGES, RunLayout
from teacherforge.types import Prompt

ORACLE_LABEL = "teacher (oracle)"


@dataclass(frozen=True)
class EvalModel:
    """One model under evaluation: a display ``label``, its ``role`` and how to build it."""

    label: str
    role: str  # teacher | student
    oracle: bool = False
    llm: LLMConfig | None = None
    name: str = ""  # what it was resolved from: teacher, base, sft, grpo, an id or a path


def trained_adapter(stage: str, config: Config) -> Path:
    """The adapter training ``stage`` (``sft`` or ``grpo``) saves for ``config`` (its output dir
    override respected)."""
    output_dir = getattr(config, stage).output_dir
    return RunLayout(config.run_path).training_dir(stage, output_dir).adapter


def resolve_models(config: Config) -> list[EvalModel]:
    """The models ``config.eval.models`` names (or every available one), teacher first."""
    names = list(config.eval.models) or ["teacher", "base"] + [
        name for name in TRAINING_STAGES if trained_adapter(name, config).is_dir()
    ]
    models = [resolve_model(name, config) for name in names]
    if not any(m.role == "teacher" for m in models):
        raise ValueError(
            "eval.models must include 'teacher': every metric is reported as student/teacher ratio"
        )
    return models


def resolve_model(name: str, config: Config) -> EvalModel:
    """One model by name: teacher, base, sft, grpo, ``<backend>:<model>``, an HF id or a path."""
    return dataclasses.replace(_resolve(name, config), name=name)


def _resolve(name: str, config: Config) -> EvalModel:
    if name == "teacher":
        if config.teacher.kind == "oracle":
            return EvalModel(ORACLE_LABEL, "teacher", oracle=True)
        return EvalModel(f"teacher ({config.teacher.llm.model})", "teacher", llm=config.teacher.llm)
    if name == "base":
        return EvalModel(
            f"base ({config.sft.model})", "student", llm=LLMConfig(model=config.sft.model, use_cache=False)
        )
    if name in TRAINING_STAGES:
        adapter = trained_adapter(name, config)
        if not adapter.is_dir():
            raise FileNotFoundError(
                f"model {name!r}: {adapter} does not exist; run `teacherforge train {name}` first"
            )
        base = config.sft.model if name == "sft" else config.grpo.model
        return EvalModel(name, "student", llm=LLMConfig(model=base, adapter=str(adapter), use_cache=False))
    backend, sep, model = name.partition(":")
    if sep and backend in BACKENDS:  # e.g. openai:gpt-4o-mini, custom:pkg.module:factory
        return EvalModel(name, "student", llm=LLMConfig(backend=backend, model=model, use_cache=False))
    return EvalModel(name, "student", llm=LLMConfig(model=name, use_cache=False))


def build_model_backend(
    model: EvalModel, questions: Sequence[dict], cache_path: Path | None, agentic: bool
) -> LLMBackend:
    """The backend of ``model``; an oracle answers from the gold answers of ``questions``."""
    if model.oracle:
        return oracle_backend(questions, agentic)
    assert model.llm is not None
    return build_backend(dataclasses.replace(model.llm), cache_path=cache_path)


def oracle_backend(questions: Sequence[dict], agentic: bool) -> FakeBackend:
    """A scripted policy that knows the gold answers: it searches the question once, then answers.

    In fixed-context mode (no search protocol in the prompt) it answers at once. It is a
    ceiling for the pipeline, not a model, and reports label it ``teacher (oracle)``.
    """
    by_question = sorted(((q["question"], q["answer"]) for q in questions), key=lambda qa: -len(qa[0]))

    def respond(prompt: Prompt, sample_index: int) -> str:
        text = prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)
        question, answer = next(((q, a) for q, a in by_question if q in text), ("", "unknown"))
        if not agentic:
            return answer
        after_question = text[text.rfind(question) + len(question) :] if question else text
        if "<information>" in after_question:
            return f"<answer>{answer}</answer>"
        return f"<search>{_query(question)}</search>"

    return FakeBackend(respond, identity="oracle")


def _query(question: str) -> str:
    return re.sub(r"[?\s]+$", "", question)
