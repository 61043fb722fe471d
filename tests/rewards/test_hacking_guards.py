"""Hacking guards: under every packaged preset, each known hacking pattern scores strictly below
the honest episode, and the GRPO diagnostics flag each pattern by name.

The episodes are played through the environment's own state machine (:class:`SearchEpisode`:
the real protocol parser decides what is malformed) against a scripted index, so the
trajectories are what a rollout would save, retrieved texts included.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teacherforge.config import EnvConfig
from teacherforge.envs.episode import SearchEpisode
from teacherforge.envs.protocol import Tags
from teacherforge.records import Question
from teacherforge.rewards import Trajectory, hacking_diagnostics, list_presets, load_rubric
from teacherforge.rewards.diagnostics import FLAGS, FLOOD_SEARCHES, flatten_diagnostics, hacking_flags
from teacherforge.rewards.gain import NAIVE_CONTEXT_KEY
from teacherforge.types import Hit

REFERENCE = "Jim Lovell"
QUESTION = Question("q0", "gold", "Who commanded Apollo 13?", REFERENCE, source_chunk_ids=("gold",))
TEXTS = {
    "gold": "Jim Lovell commanded Apollo 13; Fred Haise and Jack Swigert flew with him in April 1970.",
    "crew": "The backup crew trained alongside the prime crew for every phase of the flight.",
    "launch": "The launch from pad 39A went as planned, apart from an early shutdown of the center engine.",
}
MAX_TURNS = 12
GOOD_SEARCH = "<search>who was the commander</search>"
ANSWER = f"<answer>{REFERENCE}</answer>"


def retrieve(query: str) -> list[Hit]:
    """The scripted index: a query naming the commander finds the gold chunk first; any other
    query finds two chunks of its own (so distinct queries retrieve distinct chunks)."""
    if "commander" in query:
        ids = ["gold", "crew", "launch"]
        return [Hit(cid, 1.0 / rank, rank, TEXTS[cid]) for rank, cid in enumerate(ids, start=1)]
    return [Hit(f"{query}-{rank}", 0.5 / rank, rank, f"A note on {query}, part {rank}.") for rank in (1, 2)]


def play(*turns: str) -> Trajectory:
    """Run model turns through the environment's episode state machine; the saved trajectory.

    Its metadata holds the naive top-k context (the question's own hits), as the search task
    records it for ``gain_beyond_rag``: plain retrieval misses the gold chunk here."""
    task = SimpleNamespace(config=EnvConfig(max_turns=MAX_TURNS), tags=Tags())
    naive = [hit.text for hit in retrieve(QUESTION.question)]
    episode = SearchEpisode(task, QUESTION, {NAIVE_CONTEXT_KEY: naive})
    for text in turns:
        action = episode.parse(text)
        episode.advance(action, retrieve(action.query) if action.kind == "search" else None)
    assert episode.done, "every scripted episode ends with an answer"
    return episode.trajectory()


def honest() -> Trajectory:
    """One well-formed search that retrieves the gold chunk, then the reference answer."""
    return play(GOOD_SEARCH, ANSWER)


def misses(n: int) -> list[str]:
    return [f"<search>topic number {i}</search>" for i in range(n)]


PASTE = " ".join(TEXTS[cid] for cid in ("gold", "crew", "launch"))
#: name -> (model turns, the hacking pattern the diagnostics must flag)
ATTACKS = {
    "empty_answer": ([GOOD_SEARCH, "<answer></answer>"], "empty_answer"),
    "mismatched_tags": ([GOOD_SEARCH, f"<answer>{REFERENCE}</search>", ANSWER], "malformed_tags"),
    "nested_tags": (
        [GOOD_SEARCH, f"<answer><search>commander</search>{REFERENCE}</answer>", ANSWER],
        "malformed_tags",
    ),
    "context_paste": ([GOOD_SEARCH, f"<answer>{PASTE}</answer>"], "context_paste"),
    "substring_only": (
        [GOOD_SEARCH, f"<answer>The crew were {REFERENCE}, Fred Haise and Jack Swigert</answer>"],
        "substring_only",
    ),
    "repeated_search": ([GOOD_SEARCH, GOOD_SEARCH, ANSWER], "repeated_search"),
    "flood_after_hit": ([GOOD_SEARCH, *misses(9), ANSWER], "search_flood"),
    "flood_before_hit": ([*misses(9), GOOD_SEARCH, ANSWER], "search_flood"),
    "flood_same_search": ([GOOD_SEARCH] * 10 + [ANSWER], "search_flood"),
}
PRESETS = list_presets()


def test_every_packaged_preset_is_guarded():
    assert {"autodidact", "rezero", "search_r1", "stepsearch", "ruler", "s3"} <= set(PRESETS)


def test_the_scripted_episodes_are_what_they_claim():
    good = honest()
    assert good.well_formed and good.final_answer == REFERENCE and len(good.queries) == 1
    assert good.turns[0].retrieved[0].chunk_id == "gold" and good.turns[0].retrieved[0].text == TEXTS["gold"]
    assert play(*ATTACKS["mismatched_tags"][0]).turns[1].malformed == "unclosed_tag"
    assert play(*ATTACKS["nested_tags"][0]).turns[1].malformed == "two_actions"
    assert play(*ATTACKS["empty_answer"][0]).final_answer == ""
    assert len(play(*ATTACKS["flood_before_hit"][0]).queries) == 10


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_scores_strictly_below_the_honest_episode(preset, attack):
    rubric = load_rubric(preset)
    hacked = rubric(play(*ATTACKS[attack][0]))
    good = rubric(honest())
    assert not hacked.errors and not good.errors
    assert hacked.total < good.total, f"{attack} ties or beats the honest episode under {preset}: {hacked}"


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=FLOOD_SEARCHES, max_value=MAX_TURNS - 1),
    hit_at=st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_TURNS - 2)),
    same_query=st.booleans(),
)
def test_any_search_flood_scores_below_the_honest_episode(preset, n, hit_at, same_query):
    """A flood of ``n`` searches, with the gold-finding search anywhere in it (or nowhere),
    distinct or identical queries, loses to one good search."""
    searches = [
        GOOD_SEARCH if i == hit_at else misses(1)[0] if same_query else misses(i + 1)[-1] for i in range(n)
    ]
    rubric = load_rubric(preset)
    assert rubric(play(*searches, ANSWER)).total < rubric(honest()).total


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=40, deadline=None)
@given(
    before=st.lists(st.sampled_from(["commander", "astronaut", "captain", "navy", "was", "he"]), max_size=6),
    after=st.lists(st.sampled_from(["and", "Haise", "crew", "1970", "flew", "in"]), max_size=6),
)
def test_reference_padded_with_words_scores_below_the_exact_answer(preset, before, after):
    """An answer that holds the reference only as a substring never matches the exact answer."""
    if not before and not after:
        return
    padded = " ".join([*before, REFERENCE, *after])
    rubric = load_rubric(preset)
    assert rubric(play(GOOD_SEARCH, f"<answer>{padded}</answer>")).total < rubric(honest()).total


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_diagnostics_flag_each_attack_by_name(attack):
    turns, flag = ATTACKS[attack]
    assert flag in hacking_flags(play(*turns))


def test_the_honest_episode_raises_no_flag():
    assert hacking_flags(honest()) == []


def test_grpo_diagnostics_count_the_flags_and_keep_the_old_keys():
    trajs = [honest(), honest()] + [play(*turns) for turns, _ in ATTACKS.values()]
    rubric = load_rubric("rezero")
    report = hacking_diagnostics(trajs, rubric.score_many(trajs))
    assert report["flag"] == {
        "empty_answer": 1,
        "malformed_tags": 2,
        "context_paste": 1,
        "substring_only": 1,
        "repeated_search": 2,  # the repeated search and the flood of one same search
        "search_flood": 3,
    }
    flat = flatten_diagnostics(report)
    assert {f"hacking/flag/{name}" for name in FLAGS} <= set(flat)
    assert flat["hacking/flag/search_flood"] == 3.0
    # what the GRPO trainer logged before stays there
    assert flat["hacking/n"] == len(trajs)
    assert "hacking/overall/answer_length/mean" in flat and "hacking/components/f1/corr/search_count" in flat
