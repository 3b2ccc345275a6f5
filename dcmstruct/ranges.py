"""Sets of byte ranges: half-open ``[start, end)`` offsets of one stream, kept sorted and
disjoint, ranges that overlap or touch joined into one.

The viewer keeps its marked bytes (faults, findings) and its masked bytes (the privacy mask) as
range sets and asks, for every row it draws, which bytes of the row are in them: a binary
search over the ends, then the ranges that reach into the row. Built with numpy (a file can
have a million masked values), asked with :mod:`bisect` over lists (one row at a time, where
numpy's call overhead would dominate).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt


def join(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], gap: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Ranges sorted by start, joined where they overlap, touch or lie at most ``gap`` bytes
    apart: the joined ranges' starts and ends, and which joined range each given one is in.
    Empty ranges are kept (each is in the joined range around its offset)."""
    if len(starts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    reach = np.maximum.accumulate(ends)
    new = np.concatenate(([True], starts[1:] > reach[:-1] + gap))
    firsts = np.flatnonzero(new)
    piece_of: npt.NDArray[np.int64] = np.cumsum(new) - 1
    return starts[firsts], np.maximum.reduceat(ends, firsts), piece_of


def nearest(sorted_offsets: list[int], offset: int) -> int | None:
    """The offset of ``sorted_offsets`` closest to ``offset`` (the lower of two as close);
    None if there is none. For messages that say where a bad offset should have pointed."""
    j = bisect.bisect_left(sorted_offsets, offset)
    near = [sorted_offsets[x] for x in (j - 1, j) if 0 <= x < len(sorted_offsets)]
    return min(near, key=lambda s: abs(s - offset)) if near else None


class RangeSet:
    """Sorted, disjoint, non-touching byte ranges ``[start, end)``. Immutable once built."""

    __slots__ = ("ends", "starts")

    def __init__(self, starts: list[int] | None = None, ends: list[int] | None = None) -> None:
        """From ranges already sorted, disjoint and not touching (see :meth:`of` otherwise)."""
        self.starts: list[int] = starts or []
        self.ends: list[int] = ends or []

    @classmethod
    def of(cls, ranges: Iterable[tuple[int, int]]) -> RangeSet:
        """The set of bytes ``ranges`` cover, in any order; empty ranges add nothing."""
        pairs = list(ranges)
        flat = np.fromiter((x for pair in pairs for x in pair), np.int64, 2 * len(pairs))
        return cls.from_arrays(flat[0::2], flat[1::2])

    @classmethod
    def from_arrays(cls, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> RangeSet:
        """The set of bytes covered by ``[starts[k], ends[k])``, in any order."""
        keep = ends > starts
        starts, ends = starts[keep], ends[keep]
        order = np.argsort(starts, kind="stable")
        joined_starts, joined_ends, _ = join(starts[order], ends[order])
        return cls(joined_starts.tolist(), joined_ends.tolist())

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.starts, self.ends, strict=True)

    def __len__(self) -> int:
        return len(self.starts)

    def __bool__(self) -> bool:
        return bool(self.starts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RangeSet):
            return NotImplemented
        return self.starts == other.starts and self.ends == other.ends

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"

    def __contains__(self, offset: object) -> bool:
        if not isinstance(offset, int):
            return False
        k = bisect.bisect_right(self.ends, offset)
        return k < len(self.starts) and self.starts[k] <= offset

    def overlaps(self, start: int, stop: int) -> bool:
        """Does ``[start, stop)`` hold a byte of the set?"""
        k = bisect.bisect_right(self.ends, start)
        return k < len(self.starts) and self.starts[k] < stop and start < stop

    def mask(self, start: int, stop: int) -> list[bool]:
        """Per byte of ``[start, stop)``: is it in the set?"""
        out = [False] * max(0, stop - start)
        starts, ends = self.starts, self.ends
        k = bisect.bisect_right(ends, start)
        while k < len(starts) and starts[k] < stop:
            a, b = max(start, starts[k]), min(stop, ends[k])
            out[a - start : b - start] = [True] * (b - a)
            k += 1
        return out
