"""The index's row builder: a node is appended as two packed rows, frozen into numpy columns.

Memory per node is the budget that bounds the index on hostile files (a 48 MB file can hold
6,000,000 empty items): 40 bytes of 64-bit fields (offset, end, tag, length, value offset) and
16 bytes of 32-bit fields (parent, depth, VR, kind and flags) while walking; freezing keeps both
as zero-copy column views and adds 5 bytes of narrow columns, so an index costs about 61 bytes
per node and never needs two copies of its table at once. Past ``max_nodes`` rows, :meth:`add`
raises :class:`NodeLimit` and the walk stops with a fault instead of growing.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct.limits import DEFAULT_MAX_NODES
from dcmstruct.model import Columns

if TYPE_CHECKING:
    import numpy.typing as npt

# 64-bit fields, then 32-bit fields, in row order.
BIG_FIELDS = _BIG = 5  # 64-bit fields per row
SMALL_FIELDS = _SMALL = 4  # 32-bit fields per row
B_OFFSET, B_END, B_TAG, B_LENGTH, B_VALUE_OFFSET = range(_BIG)
S_PARENT, S_DEPTH, S_VR, S_FLAGS = range(_SMALL)
_KIND_MASK = 0x0F
EXPLICIT_BIT = 0x10
STREAM_SHIFT = 5


class NodeLimit(Exception):
    """The table holds ``max_nodes`` rows (or memory ran out): the walk must stop."""

    def __init__(self, nodes: int, offset: int, stream: int, *, memory: bool = False) -> None:
        super().__init__(nodes)
        self.nodes = nodes
        self.offset = offset  # where the node that did not fit starts
        self.stream = stream
        self.memory = memory


class Table:
    """Rows in file order: ``add`` returns the new row's number (-1 while ``hidden``)."""

    __slots__ = ("big", "hidden", "max_nodes", "small")

    def __init__(self, max_nodes: int = DEFAULT_MAX_NODES) -> None:
        self.big = array("q")
        self.small = array("i")
        self.max_nodes = max_nodes
        self.hidden = False  # inside a branch deeper than the depth limit: record nothing

    def __len__(self) -> int:
        return len(self.small) // _SMALL

    def room(self) -> int:
        """Rows that may still be added before the cap (the walk's inlined appends count down
        from this, then call :meth:`add`, which raises at the cap)."""
        return self.max_nodes - len(self.small) // _SMALL

    def add(
        self,
        kind: int,
        offset: int,
        end: int,
        tag: int,
        vr: int,
        vr_explicit: bool,
        length: int,
        value_offset: int,
        depth: int,
        parent: int,
        stream: int,
    ) -> int:
        if self.hidden:
            return -1
        n = len(self.small) // _SMALL
        if n >= self.max_nodes:
            raise NodeLimit(n, offset, stream)
        try:
            self.big.extend((offset, end, tag, length, value_offset))
            self.small.extend(
                (parent, depth, vr, kind | (EXPLICIT_BIT if vr_explicit else 0)
                 | stream << STREAM_SHIFT)
            )  # fmt: skip
        except MemoryError:
            del self.big[n * _BIG :]
            del self.small[n * _SMALL :]
            raise NodeLimit(n, offset, stream, memory=True) from None
        return n

    # -- reading and amending rows -----------------------------------------------------------

    def offset(self, i: int) -> int:
        return self.big[i * _BIG + B_OFFSET]

    def end(self, i: int) -> int:
        return self.big[i * _BIG + B_END]

    def tag(self, i: int) -> int:
        return self.big[i * _BIG + B_TAG]

    def length(self, i: int) -> int:
        return self.big[i * _BIG + B_LENGTH]

    def value_offset(self, i: int) -> int:
        return self.big[i * _BIG + B_VALUE_OFFSET]

    def parent(self, i: int) -> int:
        return self.small[i * _SMALL + S_PARENT]

    def vr(self, i: int) -> int:
        return self.small[i * _SMALL + S_VR]

    def kind(self, i: int) -> int:
        return self.small[i * _SMALL + S_FLAGS] & _KIND_MASK

    def vr_explicit(self, i: int) -> bool:
        return bool(self.small[i * _SMALL + S_FLAGS] & EXPLICIT_BIT)

    def set_end(self, i: int, end: int) -> None:
        if i >= 0:
            self.big[i * _BIG + B_END] = end

    def set_value(self, i: int, length: int, value_offset: int, end: int) -> None:
        base = i * _BIG
        self.big[base + B_LENGTH] = length
        self.big[base + B_VALUE_OFFSET] = value_offset
        self.big[base + B_END] = end

    # -- the columns -------------------------------------------------------------------------

    def freeze(self) -> Columns:
        """The rows as numpy columns: the wide fields are views of the rows, not copies."""
        n = min(len(self.big) // _BIG, len(self.small) // _SMALL)
        return columns_of(
            np.frombuffer(self.big, dtype=np.int64, count=n * _BIG),
            np.frombuffer(self.small, dtype=np.int32, count=n * _SMALL),
        )


def columns_of(big: npt.NDArray[np.int64], small: npt.NDArray[np.int32]) -> Columns:
    """Packed rows (one table's, or several tables' one after the other) as numpy columns:
    the wide fields are views of ``big``, not copies."""
    n = len(small) // _SMALL
    wide = big[: n * _BIG].reshape(n, _BIG)
    narrow = small[: n * _SMALL].reshape(n, _SMALL)
    # The flags fit in a byte: cast first, so the temporaries are a byte a node, not four.
    flags = narrow[:, S_FLAGS].astype(np.uint8)
    return Columns(
        kind=flags & np.uint8(_KIND_MASK),
        offset=wide[:, B_OFFSET],
        end=wide[:, B_END],
        tag=wide[:, B_TAG],
        vr=narrow[:, S_VR].astype(np.uint16),
        vr_explicit=(flags & EXPLICIT_BIT) != 0,
        length=wide[:, B_LENGTH],
        value_offset=wide[:, B_VALUE_OFFSET],
        depth=narrow[:, S_DEPTH],
        parent=narrow[:, S_PARENT],
        stream=flags >> np.uint8(STREAM_SHIFT),
    )


def joined_columns(tables: list[Table]) -> Columns:
    """The rows of several tables one after the other, as columns (one copy of each table's
    rows; parents stay each table's own row numbers)."""
    rows = [min(len(t.big) // _BIG, len(t.small) // _SMALL) for t in tables]
    big = b"".join(memoryview(t.big)[: n * _BIG] for t, n in zip(tables, rows, strict=True))
    small = b"".join(memoryview(t.small)[: n * _SMALL] for t, n in zip(tables, rows, strict=True))
    return columns_of(np.frombuffer(big, dtype=np.int64), np.frombuffer(small, dtype=np.int32))
