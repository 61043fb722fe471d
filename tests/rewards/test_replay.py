"""Replay: rescoring saved trajectories through the CLI and the library."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from _rewardgen import answer, episode, search

from teacherforge.cli import main
from teacherforge.rewards import load_rubric
from teacherforge.rewards.replay import load_trajectories, replay
from teacherforge.rewards.stats import spearman

REZERO_YAML = Path(__file__).resolve().parents[2] / "configs" / "rewards" / "rezero.yaml"


def _trajectories():
    originals = [2.0, 0.1, 1.2, 0.6]
    trajs = [
        episode(search("crew", "g"), answer("Jim Lovell"), final_answer="Jim Lovell"),
        episode(search("crew", "x"), search("crew", "x")),
        episode(search("who", "x"), search("commander apollo", "g"), answer("Lovell"), final_answer="Lovell"),
        episode(answer("Fred Haise"), final_answer="Fred Haise"),
    ]
    return [
        dataclasses.replace(t, metadata={"reward_total": total}, question_id=f"q{i}")
        for i, (t, total) in enumerate(zip(trajs, originals))
    ]


@pytest.fixture()
def jsonl(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    path.write_text("".join(json.dumps(t.to_json()) + "\n" for t in _trajectories()) + "\n", encoding="utf-8")
    return path


def test_replay_report_values():
    trajs = _trajectories()
    rubric = load_rubric("rezero")
    report = replay(trajs, rubric)
    assert report.n == 4 and report.n_with_original == 4
    assert report.component_means["retrieval_match"] == 0.5
    assert report.total_mean == pytest.approx(sum(rubric(t).total for t in trajs) / 4)
    expected = spearman([rubric(t).total for t in trajs], [2.0, 0.1, 1.2, 0.6])
    assert report.rank_agreement == pytest.approx(expected)
    pairs = {(a, b) for a, b, _ in report.correlations}
    assert ("f1", "format") in pairs and len(pairs) == len(rubric.names) * (len(rubric.names) - 1) // 2
    assert report.diagnostics["n"] == 4


def test_cli_text_output(jsonl, capsys):
    assert main(["rewards", "replay", "--trajectories", str(jsonl), "--rewards", str(REZERO_YAML)]) == 0
    out = capsys.readouterr().out
    assert "replayed 4 trajectories" in out
    assert "retrieval_match" in out and "retry" in out
    assert "rank agreement with the original total (Spearman, n=4)" in out


def test_cli_json_output_and_weight_override(jsonl, capsys, tmp_path):
    out_file = tmp_path / "report.json"
    code = main(
        [
            "rewards",
            "replay",
            "--trajectories",
            str(jsonl),
            "--rewards",
            "autodidact",
            "--weight",
            "format=0",
            "--weight",
            "retry=0.5",
            "--json",
            "--out",
            str(out_file),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["weights"]["format"] == 0.0 and report["weights"]["retry"] == 0.5
    assert report["n"] == 4 and -1.0 <= report["rank_agreement"] <= 1.0
    assert report["component_means"]["exact_match"] == 0.25
    assert {"a", "b", "pearson"} == set(report["correlations"][0])
    assert json.loads(out_file.read_text(encoding="utf-8")) == report


def test_cli_broken_line_names_file_and_line(jsonl, capsys):
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    lines.insert(2, '{"question": "q", "gold_answer": "a"')
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["rewards", "replay", "--trajectories", str(jsonl), "--rewards", "rezero"]) == 1
    err = capsys.readouterr().err.strip()
    assert f"{jsonl}:3: not valid JSON" in err
    assert len(err.splitlines()) == 1


def test_invalid_record_names_file_line_and_field(jsonl):
    record = _trajectories()[0].to_json()
    record["turns"][0]["retrieved"][0]["rank"] = "first"
    jsonl.write_text(
        json.dumps(_trajectories()[1].to_json()) + "\n" + json.dumps(record) + "\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r":2: trajectory field 'turns\[0\]\.retrieved\[0\]\.rank'"):
        load_trajectories(jsonl)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trajectories", "missing.jsonl", "--rewards", "rezero"], "missing.jsonl not found"),
        (["--rewards", "nope"], "unknown rewards preset 'nope'"),
        (["--rewards", "rezero", "--weight", "f1"], "expected NAME=NUMBER"),
        (["--rewards", "rezero", "--weight", "f9=1"], "unknown reward 'f9'"),
    ],
)
def test_cli_bad_input_is_one_line(jsonl, capsys, args, message):
    if "--trajectories" not in args:
        args = ["--trajectories", str(jsonl), *args]
    assert main(["rewards", "replay", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_empty_file_and_no_original_totals(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no trajectories"):
        load_trajectories(empty)
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps(episode(final_answer="x").to_json()) + "\n", encoding="utf-8")
    assert main(["rewards", "replay", "--trajectories", str(plain), "--rewards", "autodidact"]) == 0
    assert "rank agreement: n/a" in capsys.readouterr().out


def test_cli_reads_the_rubric_from_the_config(jsonl, capsys, tmp_path):
    """``--config``/``--set`` choose the rubric as for training; ``--rewards``/``--weight`` are aliases."""
    config = tmp_path / "run.yaml"
    config.write_text("rewards:\n  preset: rezero\n  weights: {format: 0.0}\n", encoding="utf-8")
    base = ["rewards", "replay", "--trajectories", str(jsonl), "--json", "--config", str(config)]
    assert main([*base, "--set", "rewards.weights.retry=0.25"]) == 0
    weights = json.loads(capsys.readouterr().out)["weights"]
    assert weights["format"] == 0.0 and weights["retry"] == 0.25 and "retrieval_match" in weights
    assert main([*base, "--rewards", "autodidact", "--weight", "f1=2"]) == 0
    weights = json.loads(capsys.readouterr().out)["weights"]
    assert "retry" not in weights and weights["f1"] == 2.0 and weights["format"] == 0.0


def test_per_group_components_rescore_the_saved_groups():
    """Records of one question in one step form a group; other records are other groups."""
    from teacherforge.rewards import Rubric
    from teacherforge.rewards.replay import rescore

    seen = []

    def group_size(trajs):
        seen.append(sorted((t.question_id, t.metadata.get("step")) for t in trajs))
        return [1.0 / len(trajs)] * len(trajs)

    group_size.scope, group_size.bounds = "group", (0.0, 1.0)
    keys = [("q0", 1), ("q1", 1), ("q0", 1), ("q0", 2), ("q0", 1)]
    trajs = [dataclasses.replace(episode(), question_id=q, metadata={"step": s}) for q, s in keys]
    results = rescore(trajs, Rubric({"size": 1.0}, rewards={"size": group_size}))
    assert [r.total for r in results] == pytest.approx([1 / 3, 1.0, 1 / 3, 1.0, 1 / 3])
    assert seen == [[("q0", 1)] * 3, [("q1", 1)], [("q0", 2)]]
