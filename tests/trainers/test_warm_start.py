"""Warm start: synthetic search episodes from questions.json with the real env, and the SFT run."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grpo_testkit as kit

from teacherforge.config import load_config
from teacherforge.rewards import retrieved_gold
from teacherforge.trainers import grpo, warm_start


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("warm")
    return kit.make_run_dir(root / "run"), kit.make_tiny_model(root / "model")


def test_doctests() -> None:
    assert doctest.testmod(warm_start).failed == 0


def test_derive_query_drops_question_words() -> None:
    assert warm_start.derive_query("Who was the commander of Apollo 13?") == "commander Apollo 13"
    assert warm_start.derive_query("Who?") == "Who"  # nothing left: the plain question


def test_derive_query_uses_the_quoted_passage_and_fits_the_turn() -> None:
    cloze = 'What name fills the blank? "The crew moved into ____ after the oxygen tank failed."'
    assert warm_start.derive_query(cloze) == "crew moved after oxygen tank failed"
    long = "Which " + " ".join(f"word{i}" for i in range(30)) + "?"
    assert len(warm_start.derive_query(long).split()) == warm_start.MAX_QUERY_WORDS
    assert not {"mission", "report", "document"} & set(warm_start._STOPWORDS)  # no corpus vocabulary


def test_synthetic_episodes_hold_real_information(assets) -> None:
    from transformers import AutoTokenizer

    from teacherforge.envs import RolloutDriver, build_task

    run_dir, model_dir = assets
    config = load_config(None, kit.grpo_overrides(run_dir, model_dir, run_dir / "grpo"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    task = build_task(config, run_dir)
    retriever = task.retriever
    driver = RolloutDriver(task, tokenizer=tokenizer)
    questions = list(task.questions)  # the train split
    episodes = warm_start.synthetic_episodes(driver, questions, 12)
    assert len(episodes) == 12
    chunks = dict(kit.CHUNKS)
    hits = [retrieved_gold(e.trajectory) for e in episodes]
    assert sum(hits) >= 8 and hits == sorted(hits, reverse=True)  # gold-hit episodes come first
    for episode in episodes:
        text = episode.completion_text
        assert text.index("<search>") < text.index("<information>") < text.index("<answer>")
        question = episode.trajectory.question
        assert f"<answer>{kit.ANSWERS[question]}</answer>" in text
    # the information block is what the retriever really returns for the derived query
    first = episodes[0].completion_text
    query = first.split("<search>")[1].split("</search>")[0]
    top = retriever.search([query], k=config.retrieval.top_k)[0][0]
    assert chunks[top.chunk_id][:40] in first


def test_run_warm_start_trains_adapter_and_reports_shares(assets, tmp_path: Path) -> None:
    run_dir, model_dir = assets
    config = load_config(
        None,
        kit.grpo_overrides(
            run_dir,
            model_dir,
            tmp_path / "out",
            **{
                "grpo.warm_start": True,
                "grpo.warm_start_steps": 2,
                "grpo.warm_start_examples": 8,
                "grpo.warm_start_batch_size": 4,
                "grpo.warm_start_max_length": 0,
                "grpo.warm_start_eval_questions": 2,
                "env.max_new_tokens": 32,
                "env.max_turns": 2,
            },
        ),
    )
    plan = grpo.check_grpo_config(config)
    summary = warm_start.run_warm_start(config, plan)
    assert Path(summary["adapter"], "adapter_config.json").is_file()
    assert summary["examples"] + sum(summary["dropped"].values()) == 8 and summary["held_out"] == 2
    assert 0.0 <= summary["well_formed_before"] <= 1.0 and 0.0 <= summary["well_formed_after"] <= 1.0
