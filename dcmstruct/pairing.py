"""Two files side by side: each node's counterpart in the other file, and the differences of
:mod:`dcmstruct.diff` in an order both files can be walked in.

Nodes are matched as :func:`dcmstruct.diff.compare` matches them, by path with item indices
(:func:`dcmstruct.diff.node_keys`; this module adds no alignment of its own). A byte of one
file leads to the innermost node holding it, that node to its path (a delimiter to its item or
sequence, the prefix to the prefix), and the path to the node of the other file; the other
file's cursor goes to the same place in that node: the same byte of the value, or of the
header, as far as the other node reaches. A path the other file lacks leads nowhere: the other
side keeps its place.

Each difference is a :class:`Stop` with a sort key on each side: where its node starts in that
file, or, for a node one file only has, where it would be in the other (after the last node
before it that both files have). Stops are in A's order; ``n`` / ``N`` move by the key of the
side the user is on.

Plain Python over the index (no Textual): built once in a worker, then asked on every cursor
move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct.diff import Difference, aligned, node_keys
from dcmstruct.model import UNDEFINED, Columns, Kind, Stream

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex

A, B = 0, 1
SIDE_NAMES = ("A", "B")
Position = tuple[Stream, int]
# (stream, offset, rank): rank -1 puts a one-sided difference before what starts where it
# would be, 0 is a node of this side.
Key = tuple[int, int, int]
_WINDOW = 1 << 20  # bytes of a value read at a time
_PREFIX = "prefix"  # the "DICM" prefix: in both files at 128, no path of diff's


class Cancelled(Exception):
    """The pairing was stopped before it was done (the viewer closed)."""


class Stop(NamedTuple):
    """One difference, as the viewer visits it."""

    difference: Difference
    nodes: tuple[int, int]  # the node on each side, -1 on the side that lacks it
    at: tuple[Position | None, Position | None]  # where each side's cursor goes
    keys: tuple[Key, Key]  # its place in each file's order


class Follow(NamedTuple):
    """Where a byte of one side leads on the other."""

    node: int  # the innermost node holding the byte (-1: none)
    path: str | None  # the path it is matched by (None: no node, or one without a path)
    other: int  # the node with that path on the other side (-1: none)
    at: Position | None  # where the other side's cursor goes (None: it stays)


class Pairing:
    """Both files' nodes matched by path, and their differences as stops."""

    def __init__(
        self,
        a: ElementIndex,
        b: ElementIndex,
        *,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        def tick() -> None:
            if cancelled():
                raise Cancelled

        self.indexes = (a, b)
        self.keys = (node_keys(a, tick=tick), node_keys(b, tick=tick))
        differences = list(aligned(a, self.keys[A], b, self.keys[B], tick=tick))
        # Followed, but not compared (diff leaves the prefix out).
        for side, index in enumerate(self.indexes):
            for node in _prefix_nodes(index):
                self.keys[side][_PREFIX] = node
        self.paths = tuple({n: p for p, n in keys.items()} for keys in self.keys)
        anchors = (self._anchors(A, differences), self._anchors(B, differences))
        stops = [self._stop(d, anchors) for d in differences]
        stops.sort(key=lambda s: s.keys[A])
        self.stops = stops
        self.by_node: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for k, stop in enumerate(stops):
            for side in (A, B):
                if stop.nodes[side] >= 0:
                    self.by_node[side][stop.nodes[side]] = k
        # Built here, in the worker: the viewer's thread only reads them.
        for index in self.indexes:
            index.find(0)

    # -- building ----------------------------------------------------------------------------

    def _anchors(self, side: int, differences: list[Difference]) -> dict[int, Key]:
        """For each node of the other side that this side lacks (an added or removed one),
        where it would be on this side: just before what follows the last node before it
        that both sides have."""
        other = 1 - side
        lacking = {
            (d.a_node, d.b_node)[other]
            for d in differences
            if (d.a_node, d.b_node)[side] < 0 and (d.a_node, d.b_node)[other] >= 0
        }
        if not lacking:
            return {}
        here, there = self.indexes[side].columns, self.indexes[other].columns
        paths, keys = self.paths[other], self.keys[side]
        out: dict[int, Key] = {}
        last: Key = (int(Stream.FILE), 0, -1)
        count = len(there)
        # Nodes are numbered in the order the walk met them: the order of the file, a
        # container before what it holds.
        for node in range(count):
            if node in lacking:
                out[node] = last
            path = paths.get(node)
            mine = keys.get(path, -1) if path is not None else -1
            if mine >= 0:
                holds = node + 1 < count and int(there.parent[node + 1]) == node
                inside = int(here.value_offset[mine])
                # After a container both have: what it holds starts at its value, not after
                # its end (an element missing as an item's first was placed past the item).
                at = inside if holds and inside >= 0 else int(here.end[mine])
                last = (int(here.stream[mine]), at, -1)
        return out

    def _stop(self, d: Difference, anchors: tuple[dict[int, Key], dict[int, Key]]) -> Stop:
        nodes = (d.a_node, d.b_node)
        at: list[Position | None] = []
        keys: list[Key] = []
        for side, place in ((A, d.a), (B, d.b)):
            if place is not None:
                at.append((place.stream, place.offset))
                keys.append((int(place.stream), place.offset, 0))
            else:
                at.append(None)
                keys.append(anchors[side].get(nodes[1 - side], (int(Stream.FILE), 0, -1)))
        return Stop(d, nodes, (at[A], at[B]), (keys[A], keys[B]))

    # -- asking ------------------------------------------------------------------------------

    def node_at(self, side: int, stream: Stream, offset: int) -> int:
        """The innermost node of ``side`` holding byte ``offset`` of ``stream`` (-1: none)."""
        found = self.indexes[side].find(offset, stream)
        return -1 if found is None else found

    def path_of(self, side: int, node: int) -> tuple[int, str | None]:
        """The node ``node`` is matched by (itself, or for a delimiter its item or sequence)
        and its path; (-1, None) if none."""
        parent = self.indexes[side].columns.parent
        while node >= 0:
            path = self.paths[side].get(node)
            if path is not None:
                return node, path
            node = int(parent[node])
        return -1, None

    def follow(self, side: int, stream: Stream, offset: int) -> Follow:
        """Where byte ``offset`` of ``stream`` on ``side`` leads on the other side."""
        node = self.node_at(side, stream, offset)
        matched, path = self.path_of(side, node)
        if path is None:
            return Follow(node, None, -1, None)
        other = self.keys[1 - side].get(path, -1)
        if other < 0:
            return Follow(node, path, -1, None)
        if matched != node:
            # A delimiter: the other side's own delimiter of that item or sequence, if any.
            other = self._delimiter(side, node, other)
        return Follow(node, path, other, self._same_place(side, node, offset, other))

    def _delimiter(self, side: int, node: int, other: int) -> int:
        kind = int(self.indexes[side].columns.kind[node])
        there = self.indexes[1 - side]
        kids = there.children(other, array=True)
        if len(kids) and int(there.columns.kind[int(kids[-1])]) == kind:
            return int(kids[-1])
        return other

    def _same_place(self, side: int, node: int, offset: int, other: int) -> Position:
        """The byte of ``other`` at the place ``offset`` has in ``node``: in the value, the
        same byte of the value; in the header, the same byte of the header; as far as
        ``other`` reaches."""
        here, there = self.indexes[side].columns, self.indexes[1 - side].columns
        stream = Stream(int(there.stream[other]))
        start, end = int(there.offset[other]), int(there.end[other])
        value_here, value_there = _value_start(here, node), _value_start(there, other)
        if value_here is not None and value_there is not None and offset >= value_here:
            target = value_there + (offset - value_here)
            return stream, max(value_there, min(target, end - 1)) if end > value_there else start
        head_end = value_there if value_there is not None else end
        target = start + (offset - int(here.offset[node]))
        return stream, max(start, min(target, head_end - 1))

    def stop_at(self, side: int, node: int) -> int:
        """The innermost difference holding ``node`` of ``side`` (-1: none)."""
        parent = self.indexes[side].columns.parent
        while node >= 0:
            k = self.by_node[side].get(node)
            if k is not None:
                return k
            node = int(parent[node])
        return -1

    def next_stop(self, side: int, position: Position, direction: int) -> int | None:
        """The first difference after (direction 1) or the last before (-1) ``position`` in
        the order of ``side``'s file; None if there is none that way."""
        here: Key = (int(position[0]), position[1], 0)
        found = [
            (stop.keys[side], k)
            for k, stop in enumerate(self.stops)
            if (stop.keys[side] > here if direction > 0 else stop.keys[side] < here)
        ]
        if not found:
            return None
        return min(found)[1] if direction > 0 else max(found)[1]

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "value": 0, "encoding": 0}
        for stop in self.stops:
            out[stop.difference.change] += 1
        return out


def first_unequal(
    a: ElementIndex,
    i: int,
    b: ElementIndex,
    j: int,
    *,
    tick: Callable[[], None] | None = None,
) -> int | None:
    """Where the values of node ``i`` of ``a`` and node ``j`` of ``b`` first differ, counted
    from the start of each value (the length of the shorter if one is the start of the
    other); None if they are the same bytes or either has no defined value. Read a window
    at a time: a pixel data element is never held whole."""
    ca, cb = a.columns, b.columns
    start_a, start_b = int(ca.value_offset[i]), int(cb.value_offset[j])
    if start_a < 0 or start_b < 0 or UNDEFINED in (int(ca.length[i]), int(cb.length[j])):
        return None
    size_a, size_b = int(ca.end[i]) - start_a, int(cb.end[j]) - start_b
    stream_a, stream_b = Stream(int(ca.stream[i])), Stream(int(cb.stream[j]))
    common = min(size_a, size_b)
    for pos in range(0, common, _WINDOW):
        if tick is not None:
            tick()
        n = min(_WINDOW, common - pos)
        x = np.frombuffer(a.read(stream_a, start_a + pos, n), np.uint8)
        y = np.frombuffer(b.read(stream_b, start_b + pos, n), np.uint8)
        m = min(len(x), len(y))
        unequal = np.flatnonzero(x[:m] != y[:m])
        if len(unequal):
            return pos + int(unequal[0])
        if m < n:
            return pos + m  # one file ends sooner than its index says (it shrank)
    return None if size_a == size_b else common


def _prefix_nodes(index: ElementIndex) -> list[int]:
    return [int(i) for i in np.flatnonzero(index.columns.kind == Kind.PREFIX)]


def _value_start(c: Columns, node: int) -> int | None:
    """Where ``node``'s value starts, if it has a header before it."""
    start = int(c.value_offset[node])
    if start < 0 or int(c.kind[node]) in (Kind.PREAMBLE, Kind.PREFIX, Kind.TRAILING):
        return None
    return start


__all__ = [
    "SIDE_NAMES",
    "A",
    "B",
    "Cancelled",
    "Follow",
    "Pairing",
    "Position",
    "Stop",
    "first_unequal",
]
