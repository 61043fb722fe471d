"""Registry (names, dotted paths, user registration) and YAML presets."""

from __future__ import annotations

import pytest
from _rewardgen import episode

from teacherforge.rewards import (
    UnknownRewardError,
    f1,
    get_reward,
    known_rewards,
    list_presets,
    load_rubric,
    register_reward,
    unregister_reward,
)

BUILTINS = {
    "retrieval_match",
    "retrieval_rank",
    "exact_match",
    "f1",
    "judge",
    "format",
    "retry",
    "search_diversity",
    "search_efficiency",
    "search_cost",
    "info_gain",
    "redundancy",
    "groundedness",
}


def test_builtins_are_registered():
    assert set(known_rewards()) >= BUILTINS
    assert get_reward("f1") is f1


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError) as info:
        get_reward("f2")
    message = str(info.value)
    assert "unknown reward 'f2'" in message
    for name in BUILTINS:
        assert name in message
    assert isinstance(info.value, ValueError)


def test_dotted_paths():
    fn = get_reward("_user_rewards:answer_length")
    assert fn(episode(final_answer="abc")) == 3.0
    assert get_reward("_user_rewards:Scorers.answered")(episode(final_answer="")) == 1.0
    with pytest.raises(UnknownRewardError, match="has no attribute"):
        get_reward("_user_rewards:missing")
    with pytest.raises(UnknownRewardError, match="cannot import module"):
        get_reward("no_such_module_xyz:fn")
    with pytest.raises(UnknownRewardError, match="not callable"):
        get_reward("_user_rewards:NOT_CALLABLE")


def test_register_reward_decorator():
    @register_reward("test_answered", bounds=(0.0, 1.0))
    def answered(traj):
        return float(traj.final_answer is not None)

    try:
        assert get_reward("test_answered") is answered and answered.bounds == (0.0, 1.0)
        with pytest.raises(ValueError, match="already registered"):
            register_reward("test_answered")(lambda t: 0.0)
        with pytest.raises(ValueError, match="bounds"):
            register_reward("test_bad_bounds", bounds=(1.0, 0.0))
        with pytest.raises(TypeError, match="needs a name"):
            register_reward(answered)
        with pytest.raises(ValueError, match="built-in"):
            unregister_reward("f1")
    finally:
        unregister_reward("test_answered")
    assert "test_answered" not in known_rewards()


@pytest.mark.parametrize("preset", ["autodidact", "rezero"])
def test_presets_load_and_include_retrieval_match(preset):
    assert preset in list_presets()
    rubric = load_rubric(preset)
    assert "retrieval_match" in rubric.weights
    assert rubric.on_error == "zero"
    penalties = sum(w for w in rubric.weights.values() if w < 0)  # the search_cost hacking guard
    assert penalties < 0 and rubric.bounds[0] == pytest.approx(penalties) and rubric.bounds[1] > 1.0
    result = rubric(episode(final_answer="Jim Lovell"))
    assert set(result.breakdown) == set(rubric.weights)


def test_rezero_adds_search_behaviour_rewards():
    weights = load_rubric("rezero").weights
    assert {"retry", "search_diversity", "search_efficiency"} <= set(weights)
    # correctness dominates in both presets
    for preset in ("autodidact", "rezero"):
        w = load_rubric(preset).weights
        assert w["f1"] == max(w.values())


def test_overrides_on_error_and_injected_rewards():
    rubric = load_rubric(
        "autodidact",
        overrides={"format": 0.0, "judge": 2.0},
        on_error="raise",
        rewards={"judge": lambda t: 0.5},
    )
    assert rubric.weights["format"] == 0.0 and rubric.weights["judge"] == 2.0
    assert rubric.on_error == "raise"
    with pytest.raises(ValueError, match="injected"):
        load_rubric("autodidact", overrides={"judge": 1.0})


def test_load_from_yaml_path_and_dict(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("weights:\n  f1: 1.0\n  _user_rewards:answer_length: -0.01\n", encoding="utf-8")
    rubric = load_rubric(path)
    assert rubric(episode(final_answer="Jim Lovell")).total == pytest.approx(1.0 - 0.1)
    assert load_rubric({"weights": {"f1": 2}}).weights == {"f1": 2.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weights:\n  f2: 1.0\n", "weights.f2: unknown reward 'f2'; known rewards:"),
        ("weights:\n  f1: high\n", "weights.f1: weight of reward 'f1' must be a finite number"),
        ("weights: {}\n", "'weights' must be a non-empty mapping"),
        ("weight:\n  f1: 1\n", "unknown key(s) ['weight']"),
        ("weights:\n  f1: 1\non_error: skip\n", "on_error must be one of"),
        ("- f1\n", "expected a mapping"),
        ("weights: [\n", "invalid YAML"),
    ],
)
def test_bad_yaml_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_rubric(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_unknown_preset_lists_presets():
    with pytest.raises(FileNotFoundError, match="autodidact"):
        load_rubric("no_such_preset")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_rubric("missing/dir/x.yaml")


def test_packaged_presets():
    assert {"autodidact", "rezero", "search_r1", "stepsearch"} <= set(list_presets())
    search_r1 = load_rubric("search_r1").weights
    assert search_r1["exact_match"] == 1.0 and all(
        abs(w) < 0.5 for n, w in search_r1.items() if n != "exact_match"
    )
    stepsearch = load_rubric("stepsearch")
    assert stepsearch.weights["info_gain"] > 0 > stepsearch.weights["redundancy"]


def test_params_configure_a_component():
    """``params`` builds a component with its factory's settings: the discounted info gain of
    a hit at the second search is gamma, the plain sum 1."""
    from _rewardgen import search

    traj = episode(search("crew", "x"), search("commander", "g"), final_answer="Jim Lovell")
    base = {"weights": {"info_gain": 1.0, "retry": 1.0}}
    assert load_rubric(base)(traj).breakdown["info_gain"] == 1.0
    rubric = load_rubric({**base, "params": {"info_gain": {"aggregate": "discounted", "gamma": 0.5}}})
    assert rubric(traj).breakdown["info_gain"] == 0.5
    assert load_rubric({**base, "params": {"retry": {"cap": 1}}})(traj).breakdown["retry"] == 1.0
    assert load_rubric("stepsearch")(traj).breakdown["info_gain"] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            "params:\n  info_gain: {gama: 0.5}\n",
            "params.info_gain: reward 'info_gain': unknown parameter(s) ['gama']",
        ),
        (
            "params:\n  info_gain: {aggregate: mean}\n",
            "params.info_gain: aggregate must be one of ['sum', 'discounted']",
        ),
        ("params:\n  info_gain: {gamma: 1.5}\n", "params.info_gain: gamma must be a number in (0, 1]"),
        ("params:\n  f1: {x: 1}\n", "params.f1: reward 'f1' takes no parameters"),
        ("params:\n  redundancy: {aggregate: sum}\n", "params.redundancy: 'redundancy' has no weight"),
        ("params:\n  info_gain: discounted\n", "params.info_gain: expected a mapping"),
        ("params: [info_gain]\n", "'params' must be a mapping"),
    ],
)
def test_bad_params_name_file_and_key(tmp_path, params, message):
    path = tmp_path / "bad.yaml"
    path.write_text("weights:\n  f1: 1.0\n  info_gain: 0.5\n" + params, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_rubric(path)
    assert str(path) in str(info.value) and message in str(info.value)
