"""The element index: nodes in file order (numpy columns) plus the faults met parsing them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal, overload

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import distinct
from dcmstruct.index.table import Table
from dcmstruct.index.window import WINDOW, window_start
from dcmstruct.model import UNDEFINED, Columns, Fault, Node, Stream
from dcmstruct.ranges import join
from dcmstruct.schema.layout import Encoding
from dcmstruct.source import Source

if TYPE_CHECKING:
    import numpy.typing as npt

_MERGE_GAP = 1 << 16  # ranges closer than this are read in one piece


class _ReadCache:
    """The last window read from a source. One tuple attribute, replaced whole, so threads that
    share an index (the TUI's workers) never see a window and an offset that do not match."""

    __slots__ = ("current", "src")

    def __init__(self, src: Source) -> None:
        self.src = src
        self.current: tuple[bytes, int] = (b"", 0)

    def get(self, pos: int, n: int) -> bytes:
        buf, base = self.current
        src = self.src
        end = min(pos + n, src.size)  # a read past the end gets what there is: a hit too
        if base <= pos and end <= base + len(buf):
            return buf[pos - base : end - base]
        if n > WINDOW or src.buf is not None:
            return src.read(pos, n)
        # As the walk's window: a small file is read whole, once.
        start = window_start(pos, src.size)
        data = src.read(start, WINDOW)
        self.current = (data, start)
        return data[pos - start : pos - start + n]


@dataclass
class ElementIndex:
    """Nodes in file order plus the faults met while parsing them.

    Values are read from the file on demand (:meth:`value_bytes`), never held: the index of a
    500 MB image is its headers, not its pixels.
    """

    path: str | None
    size: int
    rows: Table  # as the walk appended them; ``columns`` is their numpy view, made on demand
    faults: list[Fault]
    sources: dict[Stream, Source]
    transfer_syntax: specdata.TransferSyntax | None
    transfer_syntax_uid: str | None
    dataset_encoding: Encoding | None
    dataset_offset: int | None  # where the data set after the meta group starts
    deflated: bool = False
    _children: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = field(
        default=None, repr=False
    )
    _by_start: dict[Stream, tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)
    _reads: dict[Stream, _ReadCache] = field(default_factory=dict, repr=False)

    @cached_property
    def columns(self) -> Columns:
        """The nodes as numpy columns (views of :attr:`rows`, made on first use: a batch of
        small files screened together reads their rows at once, and most never need their own
        columns)."""
        return self.rows.freeze()

    def __len__(self) -> int:
        return len(self.rows)

    def node(self, i: int) -> Node:
        return self.columns.node(i)

    def __iter__(self) -> Iterator[Node]:
        for i in range(len(self.columns)):
            yield self.columns.node(i)

    def read(self, stream: Stream, offset: int, n: int) -> bytes:
        """At most ``n`` bytes of ``stream`` at ``offset`` (raises ``SourceChanged`` if the file
        on disk no longer has them). Small reads in file order come from one cached window, so
        reading every value of a file costs a read per window, not a system call per value."""
        cache = self._reads.get(stream)
        if cache is None:
            src = self.sources.get(stream)
            if src is None:
                return b""
            cache = self._reads[stream] = _ReadCache(src)
        return cache.get(offset, n)

    def keep_window(self, data: bytes, base: int) -> None:
        """Start the file stream's read cache with bytes ``[base, base + len(data))`` the walk
        has just read: the rules' first reads of a small file then cost no system call."""
        src = self.sources.get(Stream.FILE)
        if src is not None and src.buf is None and data:
            cache = self._reads[Stream.FILE] = _ReadCache(src)
            cache.current = (data, base)

    def read_ranges(
        self,
        streams: npt.NDArray[np.uint8],
        starts: npt.NDArray[np.int64],
        sizes: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """The bytes of many ranges, read in few pieces (ranges closer than 64 KiB are read
        together, so the values of a data set cost a read per piece, not one per value):
        one buffer, and where each range starts in it. Ranges may overlap."""
        where = np.zeros(len(starts), dtype=np.int64)
        pieces: list[bytes] = []
        base = 0
        for stream in distinct(streams.astype(np.int64)).tolist():
            rows = np.flatnonzero(streams == stream)
            order = np.argsort(starts[rows], kind="stable")
            rows = rows[order]
            s, e = starts[rows], starts[rows] + sizes[rows]
            piece_start, piece_end, piece_of = join(s, e, _MERGE_GAP)
            piece_base = np.zeros(len(piece_start), dtype=np.int64)
            for k, (a, b) in enumerate(zip(piece_start.tolist(), piece_end.tolist(), strict=True)):
                data = self.read(Stream(stream), a, b - a)
                data += bytes(b - a - len(data))  # past the stream's end: zeros, never used
                piece_base[k] = base
                pieces.append(data)
                base += len(data)
            where[rows] = piece_base[piece_of] + (s - piece_start[piece_of])
        return np.frombuffer(b"".join(pieces) + b"\0", dtype=np.uint8), where

    def gather(
        self, streams: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], n: int
    ) -> npt.NDArray[np.uint8]:
        """The ``n`` bytes at each offset, as rows of a 2-D array (zeros past a stream's end)."""
        buffer, where = self.read_ranges(streams, offsets, np.full(len(offsets), n, np.int64))
        rows: npt.NDArray[np.uint8] = buffer[where[:, None] + np.arange(n)]
        return rows

    def value_bytes(self, i: int, limit: int) -> bytes | None:
        """At most ``limit`` bytes of node ``i``'s value, copied (None: no defined value).
        Only what a caller asks for is read, never the whole value."""
        c = self.columns
        start = int(c.value_offset[i])
        if start < 0 or int(c.length[i]) == UNDEFINED:
            return None
        n = min(limit, int(c.end[i]) - start)
        return self.read(Stream(int(c.stream[i])), start, n)

    def value(self, i: int, limit: int = 1 << 26) -> bytes | None:
        """Deprecated: :meth:`value_bytes` with a limit of 64 MiB."""
        return self.value_bytes(i, limit)

    @overload
    def children(self, i: int) -> list[int]: ...
    @overload
    def children(self, i: int, *, array: Literal[True]) -> npt.NDArray[np.int64]: ...
    def children(self, i: int, *, array: bool = False) -> list[int] | npt.NDArray[np.int64]:
        """Indices of the nodes whose parent is ``i`` (-1: the top level), in file order: a
        list, or with ``array=True`` a read-only view of the one child table (no copy, so a
        top level of a million nodes costs nothing to ask for; its length is the count).

        The table is every node ordered by parent, built once on first use (a stable sort of
        the parent column, 16 bytes a node)."""
        if self._children is None:
            parent = self.columns.parent.astype(np.int64)
            order = np.argsort(parent, kind="stable")
            order.flags.writeable = False
            # parent -1 sorts first; bounds[k] is where the children of node k - 1 begin.
            counts = np.bincount(parent + 1, minlength=len(parent) + 1)
            bounds = np.concatenate(([0], np.cumsum(counts)))
            self._children = (order, bounds)
        order, bounds = self._children
        k = i + 1
        if k < 0 or k + 1 >= len(bounds):
            return order[:0] if array else []
        kids = order[bounds[k] : bounds[k + 1]]
        return kids if array else kids.tolist()

    def find(self, offset: int, stream: Stream = Stream.FILE) -> int | None:
        """The innermost node whose bytes hold ``offset``, if any: a binary search."""
        c = self.columns
        if self._by_start is None:
            self._by_start = {}
            for s in distinct(c.stream.astype(np.int64)).tolist():
                rows = np.flatnonzero(c.stream == s)
                order = rows[np.argsort(c.offset[rows], kind="stable")]
                self._by_start[Stream(s)] = (c.offset[order], order)
        sorted_rows = self._by_start.get(stream)
        if sorted_rows is None:
            return None
        starts, order = sorted_rows
        k = int(np.searchsorted(starts, offset, side="right")) - 1
        node = int(order[k]) if k >= 0 else -1
        # The last node starting at or before ``offset`` holds it, or one of its ancestors does
        # (children never reach past their parents: the index clamps them).
        while node >= 0 and int(c.end[node]) <= offset:
            node = int(c.parent[node])
        return node if node >= 0 else None

    def changed(self) -> str | None:
        """Why the file on disk is no longer what was indexed, if it is not (see
        :meth:`dcmstruct.source.Source.changed`)."""
        src = self.sources.get(Stream.FILE)
        return None if src is None else src.changed()

    def check_unchanged(self) -> None:
        src = self.sources.get(Stream.FILE)
        if src is not None:
            src.check_unchanged()

    def close(self) -> None:
        for src in self.sources.values():
            src.close()

    def __enter__(self) -> ElementIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
