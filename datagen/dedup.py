"""Exact and near-duplicate removal of records (datasketch MinHash LSH over word shingles).

A record's key text is its question plus its answer. *Exact* duplicates have the same
normalised key; *near* duplicates have an estimated Jaccard similarity of word 3-shingles at
or above the threshold (MinHash, 128 permutations, LSH for candidate pairs, then the MinHash
estimate confirms). The first record of every group is kept, so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from teacherforge.datagen.validation import normalize, words

NUM_PERM = 128


@dataclass(frozen=True)
class DedupResult:
    """Indices kept, and for every removed index the index of the record it duplicates."""

    kept: tuple[int, ...]
    exact: dict[int, int]
    near: dict[int, int]


def shingles(text: str, n: int = 3) -> set[str]:
    """Word ``n``-grams of ``text`` (the whole text when it is shorter).

    >>> sorted(shingles("a b c d"))
    ['a b c', 'b c d']
    """
    tokens = words(text)
    if len(tokens) <= n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def deduplicate(texts: Sequence[str], threshold: float = 0.9, seed: int = 1) -> DedupResult:
    """Find exact and near duplicates among ``texts``; keep the first of each group.

    >>> r = deduplicate(["Which pump failed? Pump 2.", "which pump  failed? pump 2.", "Who built it? Byron."])
    >>> r.kept, r.exact
    ((0, 2), {1: 0})
    """
    from datasketch import MinHash, MinHashLSH

    kept: list[int] = []
    exact: dict[int, int] = {}
    near: dict[int, int] = {}
    first_by_key: dict[str, int] = {}
    # LSH only proposes candidates (its band count needs a threshold below ~0.95); the MinHash
    # estimate then decides against the real threshold.
    lsh = MinHashLSH(threshold=min(threshold, 0.85), num_perm=NUM_PERM)
    hashes: dict[int, MinHash] = {}
    for i, text in enumerate(texts):
        key = normalize(text)
        if key in first_by_key:
            exact[i] = first_by_key[key]
            continue
        first_by_key[key] = i
        mh = MinHash(num_perm=NUM_PERM, seed=seed)
        for gram in shingles(text):
            mh.update(gram.encode("utf-8"))
        matches = [int(j) for j in lsh.query(mh) if hashes[int(j)].jaccard(mh) >= threshold]
        if matches:
            near[i] = min(matches)
            continue
        lsh.insert(str(i), mh)
        hashes[i] = mh
        kept.append(i)
    return DedupResult(kept=tuple(kept), exact=exact, near=near)
