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


# comparing presets ------------------------------------------------------------------------
def _played():
    """Honest and hacked episodes played through the environment's state machine."""
    from test_hacking_guards import ATTACKS, honest, play

    trajs = [honest()] + [play(*turns) for turns, _ in ATTACKS.values()]
    return [dataclasses.replace(t, question_id=f"q{i}") for i, t in enumerate(trajs)]


def test_compare_presets_on_played_episodes():
    from teacherforge.rewards import list_presets
    from teacherforge.rewards.replay import compare_presets
    from teacherforge.rewards.stats import mean, ranks, std

    trajs = _played()
    rubrics = {name: load_rubric(name) for name in list_presets()}
    cmp = compare_presets(trajs, rubrics, top=3)
    totals = {name: [rubric(t).total for t in trajs] for name, rubric in rubrics.items()}
    assert cmp.n == len(trajs) and list(cmp.means) == list(rubrics)
    for name in rubrics:
        assert cmp.means[name] == pytest.approx(mean(totals[name]))
        assert cmp.stds[name] == pytest.approx(std(totals[name])) and cmp.stds[name] > 0
    assert len(cmp.agreement) == len(rubrics) * (len(rubrics) - 1) // 2
    for a, b, r in cmp.agreement:
        assert r == pytest.approx(spearman(totals[a], totals[b]))
    # the largest gap, recomputed by brute force over every trajectory and pair
    ranked = {name: ranks(values) for name, values in totals.items()}
    gaps = sorted(
        (max(abs(ranked[a][i] - ranked[b][i]) for a, b, _ in cmp.agreement), -i) for i in range(len(trajs))
    )
    assert len(cmp.disagreements) == 3
    top = cmp.disagreements[0]
    assert (top.rank_gap, -top.index) == gaps[-1] and top.question_id == f"q{top.index}"
    a, b = top.presets
    assert abs(top.ranks[a] - top.ranks[b]) == top.rank_gap
    assert [d.rank_gap for d in cmp.disagreements] == sorted(
        (d.rank_gap for d in cmp.disagreements), reverse=True
    )
    json.dumps(cmp.to_json())


def test_compare_presets_agreeing_rubrics_and_the_table():
    from teacherforge.rewards import Rubric
    from teacherforge.rewards.replay import compare_presets, format_comparison

    trajs = _trajectories()
    same = compare_presets(trajs, {"f1": Rubric({"f1": 1.0}), "f1x2": Rubric({"f1": 2.0})})
    assert same.agreement[0][2] == pytest.approx(1.0) and same.disagreements == []
    assert same.means["f1x2"] == pytest.approx(2 * same.means["f1"])
    cmp = compare_presets(trajs, {"rezero": load_rubric("rezero"), "em": Rubric({"exact_match": 1.0})})
    table = format_comparison(cmp, source="rollouts.jsonl").splitlines()
    assert table[0] == "compared 2 rubrics on 4 trajectories from rollouts.jsonl"
    assert table[2].split() == ["rezero", f"{cmp.means['rezero']:.3f}", f"{cmp.stds['rezero']:.3f}"]
    r = cmp.agreement[0][2]
    assert any(line.split() == ["rezero", "+1.00", f"{r:+.2f}"] for line in table)
    assert any(line.startswith("largest disagreements") for line in table)
    with pytest.raises(ValueError, match="at least one trajectory"):
        compare_presets([], {"em": Rubric({"exact_match": 1.0})})


def test_replay_text_report_names_the_hacking_patterns():
    from teacherforge.rewards.replay import format_report

    out = format_report(replay(_played(), load_rubric("autodidact")))
    assert "hacking patterns (trajectories): empty_answer 1, malformed_tags 2, context_paste 1" in out


def test_cli_compares_every_packaged_preset(jsonl, capsys):
    from teacherforge.rewards import list_presets

    assert main(["rewards", "replay", "--trajectories", str(jsonl), "--compare-presets", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    trajs = load_trajectories(jsonl)
    for name in list_presets():  # each preset's mean is its rubric's mean total on these trajectories
        expected = sum(load_rubric(name)(t).total for t in trajs) / len(trajs)
        assert report["means"][name] == pytest.approx(expected)
    assert main(["rewards", "replay", "--trajectories", str(jsonl), "--compare-presets"]) == 0
    assert f"compared {len(list_presets())} rubrics on 4 trajectories" in capsys.readouterr().out
