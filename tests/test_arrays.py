"""dcmstruct.arrays against numpy.unique, on random columns (it replaces numpy.unique only to
keep numpy.ma out of start-up)."""

from __future__ import annotations

import numpy as np
import pytest

from dcmstruct.arrays import (
    distinct,
    distinct_inverse,
    distinct_pairs_inverse,
    first_and_count,
    member,
)


@pytest.mark.parametrize("seed", range(20))
def test_against_numpy_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(-5, 50 if seed % 2 else 1 << 40, size=int(rng.integers(0, 300)))
    expected, inverse = np.unique(values, return_inverse=True)
    got, got_inverse = distinct_inverse(values)
    assert np.array_equal(got, expected) and np.array_equal(got_inverse, inverse.reshape(-1))
    assert np.array_equal(distinct(values), expected)
    _, first, counts = np.unique(values, return_index=True, return_counts=True)
    got, got_first, got_counts = first_and_count(values)
    assert np.array_equal(got, expected)
    assert np.array_equal(got_first, first) and np.array_equal(got_counts, counts)
    other = rng.integers(0, 3, size=len(values))
    pairs, pair_inverse = distinct_pairs_inverse(values, other)
    rows = np.unique(np.stack([values, other], axis=1), axis=0)
    assert pairs == [tuple(r) for r in rows.tolist()]
    assert [pairs[k] for k in pair_inverse.tolist()] == list(
        zip(values.tolist(), other.tolist(), strict=True)
    )


@pytest.mark.parametrize("seed", range(10))
def test_member_against_numpy_isin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1 << 33, size=200)
    allowed = [*rng.choice(values, size=int(rng.integers(0, 20))).tolist(), -1, 7]
    assert np.array_equal(member(values, allowed), np.isin(values, allowed))
    small = rng.integers(0, 10, size=(4, 5)).astype(np.uint16)
    assert np.array_equal(member(small, [3, 4]), np.isin(small, [3, 4]))
    assert not member(values, []).any()
