"""What the viewer needs from an index, precomputed once: children, byte ownership, faults,
and the one way the viewer reads the file's bytes.

Everything here is plain Python and numpy (no Textual), so it is built in the loading worker
and tested without a screen. Lookups are ``searchsorted`` over per-stream sorted offsets: the
cost of rendering a row or following the cursor does not grow with the number of nodes.

Bytes are read with ``pread`` (:meth:`Source.read`), never through a map of the file: another
process may cut the file short while it is shown, and a map would turn the next look at a
byte past the new end into SIGBUS. :meth:`Structure.read` never raises: a short read (the file
shrank) lowers what the stream can still give, and later reads stop there.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from dcmstruct.dicomdir import FILE_ID
from dcmstruct.index import ElementIndex
from dcmstruct.model import UNDEFINED, Kind, Stream
from dcmstruct.ranges import RangeSet
from dcmstruct.schema.layout import HeaderForm
from dcmstruct.source import SourceChanged
from dcmstruct.tui.filechange import FileChange, detect, size_now

I64 = npt.NDArray[np.int64]


class Part(IntEnum):
    """What a byte is, for colouring: a part of an element's header, its value, or no element."""

    UNPARSED = 0  # held by no node, or by a ``trailing`` node: bytes that form no element
    PREAMBLE = 1
    PREFIX = 2
    TAG = 3
    VR = 4
    RESERVED = 5  # the 2 reserved bytes of the explicit long form (PS3.5 7.1.2)
    LENGTH = 6
    VALUE = 7
    DEFLATED = 8  # the compressed data set of a deflated file (its nodes are in the inflated one)


# Header layouts relative to a node's first byte (PS3.5 7.1.2, 7.1.3, 7.5).
_EXPLICIT_LONG = ((4, Part.TAG), (6, Part.VR), (8, Part.RESERVED), (12, Part.LENGTH))
_EXPLICIT_SHORT = ((4, Part.TAG), (6, Part.VR), (8, Part.LENGTH))
_IMPLICIT = ((4, Part.TAG), (8, Part.LENGTH))
_NO_HEADER: tuple[tuple[int, Part], ...] = ()

_WHOLE = {Kind.PREAMBLE: Part.PREAMBLE, Kind.PREFIX: Part.PREFIX, Kind.TRAILING: Part.UNPARSED}


@dataclass(frozen=True, slots=True)
class Mark:
    """A byte range to flag (a fault or a finding), in one stream."""

    stream: Stream
    offset: int
    length: int


@dataclass
class StreamMap:
    """The nodes of one stream in offset order, and its marked bytes."""

    stream: Stream
    size: int  # as indexed
    order: I64  # node indices, by offset
    starts: I64  # their offsets
    marks: RangeSet = field(default_factory=RangeSet)
    # Bytes that can still be read: ``size`` until the file shrinks on disk.
    readable: int = -1

    def __post_init__(self) -> None:
        if self.readable < 0:
            self.readable = self.size


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive bytes [start, stop) held by one node (-1: none) as its innermost node."""

    start: int
    stop: int
    node: int


class Structure:
    """An index plus the lookups the viewer makes on every keystroke and every row drawn."""

    def __init__(self, index: ElementIndex) -> None:
        self.index = index
        c = index.columns
        self.offset = c.offset
        self.end = c.end
        self.depth = c.depth
        self.parent = c.parent
        self.kind = c.kind
        # The index's child table, built here in the loading worker rather than on the first
        # keystroke that asks for children.
        index.children(-1, array=True)
        self.streams: dict[Stream, StreamMap] = {}
        for stream, src in index.sources.items():
            members = np.flatnonzero(c.stream == stream)
            # Pre-order walk: offsets ascend; shallower first when two start at one offset.
            order = members[np.lexsort((c.depth[members], c.offset[members]))].astype(np.int64)
            self.streams[stream] = StreamMap(stream, src.size, order, c.offset[order])
        self.marks: list[Mark] = []
        self.marked_nodes: set[int] = set()
        self.set_marks([Mark(f.stream, f.offset, f.length) for f in index.faults])
        self.mark_nodes(f.node for f in index.faults)
        # The privacy mask (PS3.15 Basic Profile, see dcmstruct.privacy): computed on first use.
        self.masking = False
        self.mask_uids = False  # the mask hides UIDs too (set before the mask is first used)
        self._hidden: npt.NDArray[np.bool_] | None = None
        self._hidden_ranges: dict[Stream, RangeSet] = {}
        self.change: FileChange | None = None  # how the file changed on disk, once it did
        self._numbers: npt.NDArray[np.int32] | None = None  # items' positions, for paths

    # -- tree ------------------------------------------------------------------------------

    def path(self, node: int) -> str:
        """The node's structure path, as ``validate`` writes it (``5200,9230[17]/0020,9111[0]/
        0020,9057``); the items' numbers are counted once, on first use."""
        from dcmstruct.paths import item_numbers, node_path

        if self._numbers is None:
            self._numbers = item_numbers(self.index.columns)
        return node_path(self.index.columns, self._numbers, node)

    def children(self, node: int) -> I64:
        """Indices of the nodes directly inside ``node`` (-1: the top level), in file order
        (a read-only view of the index's child table)."""
        return self.index.children(node, array=True)

    def child_count(self, node: int) -> int:
        return len(self.index.children(node, array=True))

    def ancestors(self, node: int) -> list[int]:
        """``node``'s enclosing nodes, outermost first (not ``node`` itself)."""
        chain: list[int] = []
        p = int(self.parent[node])
        while p >= 0 and len(chain) <= len(self.parent):
            chain.append(p)
            p = int(self.parent[p])
        chain.reverse()
        return chain

    # -- reading -----------------------------------------------------------------------------

    def read(self, stream: Stream, offset: int, n: int) -> bytes:
        """Bytes [offset, offset + n) of ``stream``: fewer near its end, or past where the file
        ends now if it shrank on disk. Never raises."""
        sm = self.streams.get(stream)
        if sm is None or offset < 0:
            return b""
        src = self.index.sources[stream]
        for _ in range(2):
            want = min(n, sm.readable - offset)
            if want <= 0:
                return b""
            try:
                return src.read(offset, want)
            except SourceChanged:
                # Cut short on disk: read on up to where it ends now.
                sm.readable = min(sm.readable, size_now(src))
            except OSError:
                return b""  # an I/O error here; other bytes may still be readable
        return b""

    def value_bytes(self, node: int, limit: int) -> bytes | None:
        """At most ``limit`` bytes of node ``node``'s value (None: it has no defined value)."""
        c = self.index.columns
        start = int(c.value_offset[node])
        if start < 0 or int(c.length[node]) == UNDEFINED:
            return None
        return self.read(Stream(int(c.stream[node])), start, min(limit, int(c.end[node]) - start))

    def node_bytes(self, node: int, limit: int) -> bytes:
        """At most ``limit`` bytes of node ``node`` from its first byte (header included)."""
        c = self.index.columns
        start = int(c.offset[node])
        return self.read(Stream(int(c.stream[node])), start, min(limit, int(c.end[node]) - start))

    def check_file(self) -> FileChange | None:
        """Look at the file on disk again: how it changed since it was indexed, if it did.
        What can still be read follows the size it has now."""
        src = self.index.sources.get(Stream.FILE)
        if src is None:
            return None
        change = detect(src)
        if change is not None:
            sm = self.streams.get(Stream.FILE)
            if sm is not None:
                sm.readable = min(sm.size, change.now)
            self.change = change
        return change

    # -- bytes -------------------------------------------------------------------------------

    def innermost(self, stream: Stream, offset: int) -> int:
        """The innermost node holding byte ``offset`` of ``stream``, -1 if none does."""
        found = self.index.find(offset, stream)
        return -1 if found is None else found

    def _up(self, node: int, offset: int) -> int:
        # The last node starting at or before ``offset`` is the innermost holder if it reaches
        # that far; otherwise one of its ancestors is (nodes nest: the indexer clamps children).
        end, parent = self.end, self.parent
        while node >= 0 and int(end[node]) <= offset:
            node = int(parent[node])
        return node

    def runs(self, stream: Stream, start: int, stop: int) -> list[Run]:
        """Split [start, stop) into runs of bytes with the same innermost node."""
        sm = self.streams.get(stream)
        if sm is None or start >= stop:
            return [Run(start, stop, -1)] if start < stop else []
        starts, order, end = sm.starts, sm.order, self.end
        count = len(starts)
        k = int(np.searchsorted(starts, start, side="right")) - 1
        node = self._up(int(order[k]) if k >= 0 else -1, start)
        out: list[Run] = []
        x = start
        big = stop + 1
        while x < stop:
            nxt = int(starts[k + 1]) if k + 1 < count else big
            node_end = int(end[node]) if node >= 0 else big
            y = min(stop, nxt, node_end)
            out.append(Run(x, y, node))
            x = y
            while k + 1 < count and int(starts[k + 1]) <= x:
                k += 1
            node = self._up(int(order[k]) if k >= 0 else -1, x)
        return out

    def header_layout(self, node: int) -> tuple[tuple[int, Part], ...]:
        """(end relative to the node's first byte, part) for each field of its header."""
        kind = Kind(int(self.kind[node]))
        if kind != Kind.ELEMENT:
            if kind in (Kind.ITEM, Kind.FRAGMENT, Kind.ITEM_DELIMITER, Kind.SEQUENCE_DELIMITER):
                return _IMPLICIT
            return _NO_HEADER
        form = self.index.columns.header_form(node)
        if form == HeaderForm.IMPLICIT:
            return _IMPLICIT
        return _EXPLICIT_LONG if form == HeaderForm.LONG else _EXPLICIT_SHORT

    def parts(self, stream: Stream, start: int, stop: int) -> list[tuple[int, Part, int]]:
        """Per byte of [start, stop): (innermost node, part, depth)."""
        out: list[tuple[int, Part, int]] = []
        deflated_from = self._deflated_from(stream)
        for run in self.runs(stream, start, stop):
            node = run.node
            if node < 0:
                part = Part.UNPARSED
                if deflated_from is not None and run.start >= deflated_from:
                    part = Part.DEFLATED
                out.extend((node, part, 0) for _ in range(run.stop - run.start))
                continue
            depth = int(self.depth[node])
            whole = _WHOLE.get(Kind(int(self.kind[node])))
            if whole is not None:
                out.extend((node, whole, depth) for _ in range(run.stop - run.start))
                continue
            base = int(self.offset[node])
            layout = self.header_layout(node)
            for x in range(run.start, run.stop):
                rel = x - base
                part = Part.VALUE
                for field_end, field_part in layout:
                    if rel < field_end:
                        part = field_part
                        break
                out.append((node, part, depth))
        return out

    def _deflated_from(self, stream: Stream) -> int | None:
        if stream != Stream.FILE or not self.index.deflated:
            return None
        return self.index.dataset_offset

    # -- faults and findings ------------------------------------------------------------------

    def set_marks(self, marks: Iterable[Mark]) -> None:
        """Replace the marked byte ranges; a zero-length mark flags the byte at its offset."""
        self.marks = list(marks)
        for sm in self.streams.values():
            sm.marks = RangeSet.of(
                (m.offset, m.offset + max(1, m.length)) for m in self.marks if m.stream == sm.stream
            )

    def mark_nodes(self, nodes: Iterable[int]) -> None:
        self.marked_nodes = {n for n in nodes if 0 <= n < len(self.parent)}
        holders: set[int] = set()
        for n in self.marked_nodes:
            holders.update(self.ancestors(n))
        self.nodes_holding_marks = holders - self.marked_nodes

    def marked(self, stream: Stream, start: int, stop: int) -> list[bool]:
        """Per byte of [start, stop): is it inside a mark?"""
        sm = self.streams.get(stream)
        if sm is None:
            return [False] * max(0, stop - start)
        return sm.marks.mask(start, stop)

    # -- the privacy mask ---------------------------------------------------------------------

    def set_masking(self, on: bool) -> None:
        """Hide (or show) the values of identifying and private elements."""
        if on and self._hidden is None:
            from dcmstruct.privacy import masked_nodes, masked_ranges

            hidden = masked_nodes(self.index, uids=self.mask_uids)
            # The viewer's mask is stricter than PS3.15 here: a DICOMDIR's Referenced File IDs
            # are file names, often made from the patient's name.
            c = self.index.columns
            hidden = hidden | ((c.tag == FILE_ID) & (c.kind == int(Kind.ELEMENT)))
            ranges = masked_ranges(self.index, hidden)
            self._hidden_ranges = {Stream(s): r for s, r in ranges.items()}
            self._hidden = hidden
        self.masking = on

    def hidden(self, node: int) -> bool:
        """Is node ``node``'s value masked now?"""
        return (
            self.masking
            and self._hidden is not None
            and 0 <= node < len(self._hidden)
            and bool(self._hidden[node])
        )

    def hidden_bytes(self, stream: Stream, start: int, stop: int) -> list[bool]:
        """Per byte of [start, stop): is it masked now?"""
        if not self.masking or stream not in self._hidden_ranges:
            return [False] * max(0, stop - start)
        return self._hidden_ranges[stream].mask(start, stop)

    def hides(self, stream: Stream, start: int, stop: int) -> bool:
        """Does [start, stop) hold a masked byte now?"""
        if not self.masking or stream not in self._hidden_ranges:
            return False
        # An empty range asks about the byte it stands on (a zero-length finding's).
        return self._hidden_ranges[stream].overlaps(start, max(stop, start + 1))


def find_tag(structure: Structure, tag: int, after: tuple[int, int]) -> tuple[int, int, int]:
    """The first element with ``tag`` after position ``after`` = (stream, offset), wrapping.

    Returns (node, its number among the matches counting from 1, the number of matches);
    node -1 if there is none.
    """
    c = structure.index.columns
    hits = np.flatnonzero((c.tag == tag) & (c.kind == Kind.ELEMENT))
    if hits.size == 0:
        return -1, 0, 0
    keys = list(zip(c.stream[hits].tolist(), c.offset[hits].tolist(), strict=True))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    ranked = [keys[i] for i in order]
    pos = bisect.bisect_right(ranked, after)
    if pos == len(ranked):
        pos = 0
    return int(hits[order[pos]]), pos + 1, len(ranked)


def next_position(
    positions: Sequence[tuple[int, int]], here: tuple[int, int], forward: bool
) -> int:
    """Index of the first position after (or last before) ``here`` in sorted ``positions``,
    wrapping around; -1 if there are none."""
    if not positions:
        return -1
    if forward:
        pos = bisect.bisect_right(positions, here)
        return pos if pos < len(positions) else 0
    pos = bisect.bisect_left(positions, here) - 1
    return pos if pos >= 0 else len(positions) - 1
