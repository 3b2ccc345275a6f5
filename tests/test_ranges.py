"""dcmstruct.ranges against sets of byte offsets built one by one, on random ranges."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dcmstruct.ranges import RangeSet, join, nearest


def _random_ranges(seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 40))
    starts = rng.integers(0, 200, size=count)
    lengths = rng.integers(-2, 12, size=count)  # some empty or reversed: they add nothing
    return list(zip(starts.tolist(), (starts + lengths).tolist(), strict=True))


def _bytes_of(ranges: list[tuple[int, int]]) -> set[int]:
    return {x for a, b in ranges for x in range(a, b)}


@pytest.mark.parametrize("seed", range(30))
def test_range_set_holds_exactly_the_bytes_of_its_ranges(seed: int) -> None:
    ranges = _random_ranges(seed)
    covered = _bytes_of(ranges)
    rs = RangeSet.of(ranges)
    assert _bytes_of(list(rs)) == covered
    # Sorted, disjoint, and never touching: a joined range is as long as it can be.
    pairs = list(rs)
    assert all(a < b for a, b in pairs)
    assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(pairs))
    for x in range(-3, 215):
        assert (x in rs) == (x in covered)
    rng = np.random.default_rng(seed + 1000)
    for _ in range(40):
        a = int(rng.integers(-5, 215))
        b = a + int(rng.integers(-2, 30))
        assert rs.mask(a, b) == [x in covered for x in range(a, b)]
        assert rs.overlaps(a, b) == any(x in covered for x in range(a, b))


def test_range_set_from_arrays_matches_of() -> None:
    ranges = _random_ranges(7)
    starts = np.array([a for a, _ in ranges], dtype=np.int64)
    ends = np.array([b for _, b in ranges], dtype=np.int64)
    assert RangeSet.from_arrays(starts, ends) == RangeSet.of(ranges)


def test_touching_ranges_are_one() -> None:
    assert list(RangeSet.of([(10, 20), (0, 10), (20, 21)])) == [(0, 21)]
    assert list(RangeSet.of([(0, 10), (11, 12)])) == [(0, 10), (11, 12)]
    assert not RangeSet.of([]) and not RangeSet.of([(5, 5)]) and len(RangeSet()) == 0


@pytest.mark.parametrize("gap", [0, 3])
@pytest.mark.parametrize("seed", range(10))
def test_join_puts_each_range_in_the_piece_around_it(seed: int, gap: int) -> None:
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.integers(0, 300, size=int(rng.integers(0, 50))))
    ends = starts + rng.integers(0, 15, size=len(starts))  # empty ranges are kept
    piece_starts, piece_ends, piece_of = join(starts, ends, gap)
    assert len(piece_of) == len(starts)
    assert np.all(piece_starts[piece_of] <= starts) and np.all(ends <= piece_ends[piece_of])
    # Pieces are further apart than ``gap``; a piece's bytes are its ranges' and the gaps
    # of at most ``gap`` between them.
    assert np.all(piece_starts[1:] > piece_ends[:-1] + gap)
    for k in range(len(piece_starts)):
        members = np.flatnonzero(piece_of == k)
        assert starts[members[0]] == piece_starts[k]
        assert ends[members].max() == piece_ends[k]


def test_nearest() -> None:
    assert nearest([], 5) is None
    assert nearest([10, 20, 40], 14) == 10
    assert nearest([10, 20, 40], 15) == 10  # the lower of two as close
    assert nearest([10, 20, 40], 16) == 20
    assert nearest([10, 20, 40], 99) == 40 and nearest([10, 20, 40], -1) == 10


@pytest.mark.parametrize("seed", range(10))
def test_index_read_ranges_gives_each_ranges_bytes(seed: int) -> None:
    # ElementIndex.read_ranges joins ranges (with join) to read them in few pieces: whatever
    # the joining, each range must come back as exactly its bytes, zeros past the end.
    from dcmstruct.index import index_bytes
    from dcmstruct.model import Stream

    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=300_000, dtype=np.uint8).tobytes()
    index = index_bytes(data)
    count = int(rng.integers(1, 60))
    starts = rng.integers(0, len(data) + 10, size=count).astype(np.int64)
    sizes = rng.integers(0, 3000, size=count).astype(np.int64)
    streams = np.full(count, int(Stream.FILE), dtype=np.uint8)
    buffer, where = index.read_ranges(streams, starts, sizes)
    for k in range(count):
        a, n = int(starts[k]), int(sizes[k])
        expected = data[a : a + n].ljust(n, b"\0")
        assert buffer[int(where[k]) : int(where[k]) + n].tobytes() == expected
