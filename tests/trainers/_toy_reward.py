"""A toy reward whose rewarded behaviour a random policy finds at once: upper-case letters in its turns.

Random tokens give a spread of scores inside every GRPO group, so the reward rises only if
sampling is diverse, advantages point the right way and the loss mask covers the model's tokens.
"""

from __future__ import annotations


def uppercase_share(traj) -> float:
    """Share of the model-written characters (all turns) that are ASCII upper-case letters."""
    text = "".join(turn.text for turn in traj.turns)
    return sum("A" <= ch <= "Z" for ch in text) / len(text) if text else 0.0
