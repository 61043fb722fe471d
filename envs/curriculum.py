"""A noise curriculum over searches (after ZeroSearch): serve more noisy results as training goes on.

A policy trained only on clean top-k results learns to trust the first hit. A curriculum makes
searches harder by training step: with probability ``p(step)`` a search is served from the
paraphrased index (``source: paraphrased``, per query; its hits keep the original chunk ids but
carry paraphrased text) or each hit is swapped for a random other chunk (``source:
distractors``, per hit). ``p`` follows the schedule from ``start`` at ``start_step`` to ``end``
at ``end_step`` (:func:`noise_probability`). The draws are seeded by (seed, step, call), so a
resumed run serves what an uninterrupted one would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from teacherforge.config import NoiseConfig
from teacherforge.types import Hit

#: ZeroSearch's exponential schedule: ``(EXP_BASE ** t - 1) / (EXP_BASE - 1)`` of the way at progress ``t``.
EXP_BASE = 10.0


def noise_probability(step: int, noise: NoiseConfig) -> float:
    """The probability of a noisy search at training ``step`` (0 before ``start_step``'s progress starts).

    >>> cfg = NoiseConfig(source="distractors", schedule="linear", start=0.0, end=0.5, start_step=0, end_step=10)
    >>> [noise_probability(s, cfg) for s in (0, 5, 10, 20)]
    [0.0, 0.25, 0.5, 0.5]
    >>> round(noise_probability(5, NoiseConfig(source="distractors", schedule="exponential", end=1.0, end_step=10)), 3)
    0.24
    """
    if noise.schedule == "constant":
        return noise.start
    span = max(1, noise.end_step - noise.start_step)
    progress = min(1.0, max(0.0, (step - noise.start_step) / span))
    if noise.schedule == "exponential":
        progress = (EXP_BASE**progress - 1.0) / (EXP_BASE - 1.0)
    return noise.start + (noise.end - noise.start) * progress


class NoisyRetriever:
    """A search index that serves noise with the curriculum's probability at the current step.

    ``clean`` is the task's retriever (it must expose ``chunks`` for distractors); ``noisy`` the
    paraphrased index (``source: paraphrased``). :meth:`set_step` moves the schedule and resets
    the step's counts: ``served`` hits and ``noisy`` hits (text other than the chunk's own).
    """

    def __init__(self, clean: Any, noise: NoiseConfig, seed: int, noisy: Any = None) -> None:
        if noise.source == "paraphrased" and noisy is None:
            raise ValueError("env.noise.source=paraphrased needs the paraphrased index")
        self.clean = clean
        self.noisy = noisy
        self.noise = noise
        self.seed = seed
        self.texts = {c.chunk_id: c.text for c in getattr(clean, "chunks", ())}
        self.ids = list(self.texts)  # what a distractor is drawn from
        self.step = 0
        self.calls = 0
        self.served = 0
        self.noisy_hits = 0

    @property
    def probability(self) -> float:
        """The noise probability at the current step."""
        return noise_probability(self.step, self.noise)

    def set_step(self, step: int) -> None:
        """Move to training ``step``: its probability, fresh draws and counts."""
        self.step, self.calls, self.served, self.noisy_hits = step, 0, 0, 0

    def stats(self) -> dict[str, float]:
        """``noise/probability`` and ``noise/served_share`` (noisy hits / hits served) of the step so far."""
        share = self.noisy_hits / self.served if self.served else 0.0
        return {"noise/probability": self.probability, "noise/served_share": share}

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The clean hits of every query, with the step's share of noise in them."""
        queries = list(queries)
        rng = random.Random(f"{self.seed}:{self.step}:{self.calls}")
        self.calls += 1
        p = self.probability
        results = self.clean.search(queries, k)
        if self.noise.source == "paraphrased":
            chosen = [i for i in range(len(queries)) if rng.random() < p]
            if chosen:
                for i, hits in zip(chosen, self.noisy.search([queries[i] for i in chosen], k)):
                    results[i] = hits
                    # a paraphrase is noise; a chunk without an accepted one is served as it is
                    self.noisy_hits += sum(h.text != self.texts.get(h.chunk_id, h.text) for h in hits)
        else:
            results = [self._distract(hits, p, rng) for hits in results]
        self.served += sum(len(hits) for hits in results)
        return results

    def _distract(self, hits: list[Hit], p: float, rng: random.Random) -> list[Hit]:
        """``hits`` with each one swapped, with probability ``p``, for a random chunk (under its rank)."""
        out = []
        for hit in hits:
            if self.ids and rng.random() < p:
                other = rng.choice(self.ids)
                hit = Hit(chunk_id=other, score=0.0, rank=hit.rank, text=self.texts[other])
                self.noisy_hits += 1
            out.append(hit)
        return out

    def __getattr__(self, name: str) -> Any:
        if name in ("clean", "noisy", "noise"):  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.clean, name)
