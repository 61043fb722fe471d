"""The training reward and the evaluation metric compare answers with one function: they agree."""

from __future__ import annotations

import pytest

from teacherforge.rewards import Trajectory, exact_match, f1
from teacherforge.rewards.answer import normalize_answer, strip_citations
from teacherforge.trainers.metrics import exact_match_score, f1_score

# (prediction, reference): citations in every form, punctuation, articles, case, Unicode, empties.
TRICKY = [
    ("Keeper's Stout [1].", "keepers stout"),
    ("keepers stout [1], [3]", "Keeper's Stout"),
    ("Keeper's Stout [2, 4]", "Keeper's Stout"),
    ("The dark ale [1] Keeper's Stout", "Keeper's Stout"),
    ("“Keeper’s Stout” — brewed in 1932 [12]", "Keeper's Stout, 1932"),
    ("An ale", "the ale"),
    ("ALE!!!", "ale"),
    ("[1]", ""),
    ("", ""),
    ("", "ale"),
    ("porter [1]", "stout"),
    ("stout stout stout", "stout"),
]


@pytest.mark.parametrize(("prediction", "reference"), TRICKY)
def test_reward_and_metric_agree(prediction, reference):
    traj = Trajectory("q", reference, (), final_answer=prediction)
    assert f1(traj) == pytest.approx(f1_score(prediction, reference))
    assert exact_match(traj) == exact_match_score(prediction, reference)


@pytest.mark.parametrize(("prediction", "reference"), TRICKY[:5])
def test_citation_markers_never_cost_a_point(prediction, reference):
    assert f1_score(prediction, reference) == f1_score(strip_citations(prediction), reference)
    assert normalize_answer(prediction) == normalize_answer(strip_citations(prediction))
    assert not {"1", "2", "3", "4", "12"} & set(normalize_answer(prediction).split())


def test_missing_answer_scores_zero_for_both():
    traj = Trajectory("q", "", (), final_answer=None)
    assert f1(traj) == f1_score(None, "") == 0.0
    assert exact_match(traj) == exact_match_score(None, "") == 0.0


def test_citations_are_stripped_not_scored_as_tokens():
    assert exact_match_score("Keeper's Stout [1], [3].", "keepers stout") == 1.0
    assert f1_score("Keeper's Stout [2, 4]", "Keeper's Stout") == 1.0
    assert strip_citations("a [1], [3]. b [2, 4] c") == "a. b c"
