"""Train/validation/test assignment by chunk, so no chunk's questions land in two splits.

Each chunk's split follows from a seeded hash of its own id alone: the hash maps the id to a
point in [0, 1) and the shares cut that interval in order (train, validation, test). So a
chunk keeps its split when chunks are added to or removed from the corpus (chunk ids are
content ids, :func:`teacherforge.datagen.chunking.chunk_id`): a re-run on a grown corpus
never moves a test chunk into train. The assignment depends only on the seed, the shares and
the chunk ids (not on their order). On a small corpus a non-empty share that drew no chunk
gets the chunk whose point lies nearest to its interval (taken from a split with more than
one), so every such share has at least one chunk when there are enough chunks. Later stages
reuse the assignment through each question's ``split`` field.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from teacherforge.records import SPLITS


def _point(seed: int, chunk_id: str) -> float:
    """The chunk's seeded position in [0, 1)."""
    digest = hashlib.sha256(f"{seed}\x00{chunk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(chunk_ids: Iterable[str], ratios: Sequence[float], seed: int = 0) -> dict[str, str]:
    """Map every chunk id to ``train``, ``validation`` or ``test`` (see the module docstring).

    >>> ids = [f"doc-{i}" for i in range(1000)]
    >>> splits = assign_splits(ids, [0.8, 0.1, 0.1], seed=0)
    >>> sorted(splits.values()).count("train"), splits == assign_splits(reversed(ids), [0.8, 0.1, 0.1])
    (804, True)
    >>> grown = assign_splits(ids + ["new-1", "new-2"], [0.8, 0.1, 0.1], seed=0)
    >>> all(grown[cid] == split for cid, split in splits.items())
    True
    """
    if len(ratios) != len(SPLITS):
        raise ValueError(f"split ratios: expected {len(SPLITS)} shares, got {list(ratios)}")
    total = sum(ratios)
    bounds = list(itertools.accumulate(r / total for r in ratios))
    points = {cid: _point(seed, cid) for cid in set(chunk_ids)}
    assignment = {
        cid: SPLITS[min(bisect.bisect_right(bounds, p), len(SPLITS) - 1)] for cid, p in points.items()
    }
    nonzero = [i for i, r in enumerate(ratios) if r > 0]
    if len(points) >= len(nonzero):
        for i in nonzero:
            if SPLITS[i] in assignment.values():
                continue
            sizes = Counter(assignment.values())
            low, high = (bounds[i - 1] if i else 0.0), bounds[i]
            donors = [cid for cid, split in assignment.items() if sizes[split] > 1]
            nearest = min(donors, key=lambda cid: (max(low - points[cid], points[cid] - high), cid))
            assignment[nearest] = SPLITS[i]
    return assignment


def split_of(source_chunk_ids: Sequence[str], assignment: Mapping[str, str]) -> str:
    """The split of a question over ``source_chunk_ids``; they must all share one split.

    >>> split_of(["a", "b"], {"a": "train", "b": "train"})
    'train'
    """
    splits = {assignment[cid] for cid in source_chunk_ids}
    if len(splits) != 1:
        raise ValueError(f"chunks {list(source_chunk_ids)} span splits {sorted(splits)}; a question may not")
    return splits.pop()
