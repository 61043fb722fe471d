"""Split assignment by chunk: deterministic, disjoint, proportional, order-independent, stable as the corpus grows."""

from __future__ import annotations

import pytest

from teacherforge.datagen.splits import assign_splits, split_of


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 101, 4000])
def test_every_chunk_gets_exactly_one_split_in_proportion(n):
    ids = [f"doc-{i}" for i in range(n)]
    splits = assign_splits(ids, [0.8, 0.1, 0.1], seed=3)
    assert set(splits) == set(ids)
    counts = [list(splits.values()).count(s) for s in ("train", "validation", "test")]
    if n >= 3:
        assert min(counts) >= 1
    if n >= 1000:  # within 5 binomial standard deviations of the shares
        for count, share in zip(counts, (0.8, 0.1, 0.1)):
            assert abs(count - share * n) < 5 * (n * share * (1 - share)) ** 0.5


def test_a_zero_share_stays_empty():
    assert set(assign_splits([f"c{i}" for i in range(20)], [0.5, 0.5, 0.0]).values()) == {
        "train",
        "validation",
    }


def test_a_chunk_keeps_its_split_when_the_corpus_grows_or_shrinks():
    ids = [f"doc-{i}" for i in range(300)]
    before = assign_splits(ids, [0.8, 0.1, 0.1], seed=5)
    grown = assign_splits(ids + [f"new-{i}" for i in range(100)], [0.8, 0.1, 0.1], seed=5)
    shrunk = assign_splits(ids[50:], [0.8, 0.1, 0.1], seed=5)
    assert all(grown[cid] == split for cid, split in before.items())
    assert all(before[cid] == split for cid, split in shrunk.items())


def test_deterministic_order_independent_and_seeded():
    ids = [f"doc-{i}" for i in range(50)]
    a = assign_splits(ids, [0.6, 0.2, 0.2], seed=1)
    assert a == assign_splits(list(reversed(ids)), [0.6, 0.2, 0.2], seed=1)
    assert a != assign_splits(ids, [0.6, 0.2, 0.2], seed=2)


def test_a_question_may_not_span_splits():
    with pytest.raises(ValueError, match="span splits"):
        split_of(["a", "b"], {"a": "train", "b": "test"})
