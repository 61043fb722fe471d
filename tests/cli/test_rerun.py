"""``teacherforge run`` on a tiny run dir, then again: a finished run does nothing, and a changed
key reruns exactly the stages that read it and those downstream of an output that changed.

Tiny everything (:mod:`tests.cli._tinyrun`): the toy corpus and embedder of the datagen tests,
cloze questions, the oracle teacher, a random 2-layer model as student and policy.
"""

from __future__ import annotations

import pytest

from teacherforge.cli.pipeline import run_pipeline
from teacherforge.config import load_config
from teacherforge.workspace import read_json
from tests.cli._tinyrun import STAGES, tiny_overrides, use_toy_embedder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from teacherforge.models import save_random_model

    return save_random_model(tmp_path_factory.mktemp("tiny") / "model")


def _steps(run_dir) -> dict[str, dict]:
    manifest = run_dir / "manifest.json"
    return {s["name"]: s for s in read_json(manifest)["steps"]} if manifest.exists() else {}


def _run(tmp_path, model_dir, stages: list[str], *extra: str) -> dict[str, str]:
    """Run the pipeline; the status of every stage, and of every manifest step (``done`` when it
    ran again, ``skipped`` when its record stayed as it was)."""
    config = load_config(None, [*tiny_overrides(tmp_path, model_dir), f"stages=[{','.join(stages)}]", *extra])
    before = _steps(config.run_path)
    results = run_pipeline(config, echo=lambda _: None)
    after = _steps(config.run_path)
    assert {s["status"] for s in after.values()} == {"done"}
    statuses = {name: summary["status"] for name, summary in results.items()}
    for name, step in after.items():
        statuses[f"step:{name}"] = "skipped" if before.get(name) == step else "done"
    return statuses


def _expect(stages: list[str], steps: list[str], ran: set[str]) -> dict[str, str]:
    names = stages + [f"step:{s}" for s in steps]
    return {name: "done" if name.removeprefix("step:") in ran else "skipped" for name in names}


@pytest.mark.parametrize("with_grpo", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_rerun_does_nothing_and_a_changed_key_reruns_exactly_its_readers(
    tmp_path, model_dir, monkeypatch, with_grpo
):
    use_toy_embedder(monkeypatch)
    stages = [s for s in STAGES if with_grpo or s != "grpo"]
    steps = ["chunk", "index", "questions", "teacher", "quality", "dataset", "sft", "eval"]
    steps += ["grpo_warm_start", "grpo"] if with_grpo else []
    models = ["eval.models=[teacher,sft,grpo]"] if with_grpo else ["eval.models=[teacher,sft]"]

    def run(*extra: str) -> dict[str, str]:
        return _run(tmp_path, model_dir, stages, *models, *extra)

    assert run() == _expect(stages, steps, set(stages) | set(steps))
    assert run() == _expect(stages, steps, set()), "a finished run does nothing"

    # read by the SFT stage alone: SFT reruns, and evaluation, which reads its adapter
    assert run("sft.learning_rate=0.01") == _expect(stages, steps, {"sft", "eval"})

    # read by every stage that searches (the teacher, the warm start, GRPO and evaluation) and
    # not by the index build; the teacher's new records rerun quality, the dataset and SFT
    searched = run("sft.learning_rate=0.01", "retrieval.top_k=1")
    assert searched == _expect(
        stages, steps, (set(stages) | set(steps)) - {"datagen", "chunk", "index", "questions"}
    )
    assert _steps(tmp_path / "run")["teacher"]["config"]["retrieval.top_k"] == 1
    assert _steps(tmp_path / "run")["sft"]["config"]["sft.learning_rate"] == 0.01
