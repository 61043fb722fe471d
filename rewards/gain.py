"""Gain beyond plain RAG (after s3): does the agent's searching beat retrieving once with the question?

The ``gain_beyond_rag`` reward is the answer quality a frozen generator reaches with the
context the agent searched minus the quality it reaches with the naive top-k context, the
hits of the question itself used as the query. It rewards a searcher for finding what plain
retrieval misses, and is 0 when plain retrieval already found it.

The generator here is extractive, so the reward needs no model: the answer quality of a
context is 1.0 when the reference answer occurs in it (:func:`~teacherforge.rewards.retrieval.holds_answer`
on the joined texts), else 0.0. The agent's context is the text of every hit it retrieved
(:attr:`RetrievedRef.text`); the naive context is ``metadata["naive_context"]``, the texts
that :class:`teacherforge.envs.SearchTask` records on each episode when its rubric weights
this reward (one batched search over the question pool), so the reward stays a pure
function of the trajectory and replays without an index.
"""

from __future__ import annotations

from collections.abc import Sequence

from teacherforge.rewards.grounding import retrieved_texts
from teacherforge.rewards.registry import register_reward
from teacherforge.rewards.retrieval import holds_answer
from teacherforge.rewards.trajectory import Trajectory

#: ``Trajectory.metadata`` key of the naive top-k context: the texts of the question's own hits.
NAIVE_CONTEXT_KEY = "naive_context"


def context_quality(texts: Sequence[str], reference: str) -> float:
    """The extractive generator's answer quality with context ``texts``: 1.0 when the reference
    answer occurs in them (case-insensitive), else 0.0.

    >>> context_quality(["The bridge opened in 1932.", "Rain."], "1932"), context_quality(["Rain."], "1932")
    (1.0, 0.0)
    """
    return float(holds_answer("\n".join(texts), reference))


def naive_context(traj: Trajectory) -> list[str]:
    """``metadata["naive_context"]`` of a trajectory; ``ValueError`` when it is missing or not a list of texts."""
    texts = traj.metadata.get(NAIVE_CONTEXT_KEY)
    if texts is None:
        raise ValueError(
            f"gain_beyond_rag needs metadata[{NAIVE_CONTEXT_KEY!r}] (question_id={traj.question_id!r}): the "
            "search task records it when its rubric weights gain_beyond_rag; trajectories saved by another "
            "rubric cannot be scored by it"
        )
    if (
        isinstance(texts, str)
        or not isinstance(texts, Sequence)
        or not all(isinstance(t, str) for t in texts)
    ):
        raise ValueError(f"metadata[{NAIVE_CONTEXT_KEY!r}] must be a list of texts, got {texts!r:.80}")
    return list(texts)


@register_reward("gain_beyond_rag", bounds=(-1.0, 1.0))
def gain_beyond_rag(traj: Trajectory) -> float:
    """Answer quality with the searched context minus answer quality with the naive top-k context
    (:func:`context_quality` of each): +1 when the agent found what plain retrieval missed, 0 when
    both or neither hold the reference, -1 when plain retrieval held it and the agent did not.

    Raises ``ValueError`` without ``metadata["naive_context"]`` or when a retrieved hit has no
    recorded text (a rollout saved before hit texts were kept).

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> turn = Turn("", query="opening year", retrieved=(RetrievedRef("c4", 1, 0.8, "The bridge opened in 1932."),))
    >>> gain_beyond_rag(Trajectory("When?", "1932", (), turns=(turn,), metadata={"naive_context": ["Rain."]}))
    1.0
    >>> gain_beyond_rag(Trajectory("When?", "1932", (), metadata={"naive_context": ["Opened in 1932."]}))
    -1.0
    """
    naive = naive_context(traj)
    if any(not ref.text for turn in traj.turns for ref in turn.retrieved):
        raise ValueError(
            f"gain_beyond_rag needs the text of every retrieved hit (question_id={traj.question_id!r}); "
            "this trajectory was saved without them"
        )
    return context_quality(retrieved_texts(traj), traj.gold_answer) - context_quality(naive, traj.gold_answer)
