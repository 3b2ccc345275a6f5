"""The element index: a tolerant, iterative walk of a DICOM file's structure.

It reads headers with the :mod:`struct` formats derived from the construct schemas
(:mod:`dcmstruct.schema.element`), keeps its own stack instead of recursing, never trusts a
length field for an allocation and never copies a value. Every structural fault becomes a
:class:`~dcmstruct.model.Fault` with its offset, and the walk resumes where it safely can:
bounded by the enclosing container's length, or re-synchronised on the next plausible element.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from dcmstruct import specdata
from dcmstruct.model import (
    NO_TAG,
    UNDEFINED,
    Columns,
    Fault,
    Kind,
    Node,
    Stream,
    vr_code,
)
from dcmstruct.schema.element import (
    ENCODINGS,
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    ITEM,
    ITEM_DELIMITER,
    ITEM_GROUP,
    LONG_LENGTH_VRS,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
    Encoding,
    format_tag,
)
from dcmstruct.source import Source, inflate
from dcmstruct.wording import count

DEFAULT_MAX_DEPTH = 128
# A million stray delimiters are one problem, not a million: past this many faults of one code
# in one file, the rest are counted, not kept (memory stays bounded by the file's size).
FAULTS_PER_CODE = 1000
# A deflated data set may inflate to at most this many times the file's size (or 64 MiB,
# whichever is larger) before the index stops inflating and records a fault.
DEFAULT_INFLATE_RATIO = 256

PREAMBLE_LENGTH = 128  # PS3.10 7.1
PREFIX = b"DICM"
TRANSFER_SYNTAX_UID = 0x00020010

_VALID_VRS: frozenset[bytes] = frozenset(v.encode("ascii") for v in specdata.VR_CODES)
# Finds positions whose bytes 4-5 are a VR code: candidates for an explicit VR header.
_EXPLICIT_CANDIDATE = re.compile(b"(?=.{4}(?:" + b"|".join(sorted(_VALID_VRS)) + b"))", re.DOTALL)
# Groups no element of a file's data set can have: 0000 is the command group of DIMSE
# messages (PS3.7), FFFF is illegal (PS3.5 7.8.1). At a header position they mean garbage:
# a zero run, FF padding, or text.
_GARBAGE_GROUPS = frozenset({0x0000, 0xFFFF})
_RESYNC_WINDOW = 1 << 22  # bytes searched for the next plausible element before giving up
_RELEASE_EVERY = 16 << 20  # bytes walked between two releases of the mapped pages
_ZERO_PROBE = 1 << 20  # bytes of a garbage run looked at to call it a zero run


class FrameKind:
    DATASET = 0  # the top-level data set
    META = 1  # the file meta group: ends at the first tag of another group
    ITEM = 2
    SEQUENCE = 3
    FRAGMENTS = 4  # encapsulated pixel data (PS3.5 A.4)


@dataclass(slots=True)
class Frame:
    """An open container on the walker's stack."""

    kind: int
    node: int  # the node that opened it (-1 for the top level)
    end: int  # one past its last byte: its defined end, or its parent's limit
    defined: bool  # it has a defined length (its end is its own, not borrowed)
    enc: Encoding
    depth: int  # depth of the nodes directly inside it
    hidden: bool = False  # deeper than the depth limit: walked, but nothing recorded


@dataclass
class ElementIndex:
    """Nodes in file order plus the faults met while parsing them."""

    path: str | None
    size: int
    columns: Columns
    faults: list[Fault]
    sources: dict[Stream, Source]
    transfer_syntax: specdata.TransferSyntax | None
    transfer_syntax_uid: str | None
    dataset_encoding: Encoding | None
    dataset_offset: int | None  # where the data set after the meta group starts
    deflated: bool = False
    _children: dict[int, list[int]] | None = field(default=None, repr=False)
    _by_start: dict[Stream, tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.columns)

    def node(self, i: int) -> Node:
        return self.columns.node(i)

    def __iter__(self) -> Iterator[Node]:
        for i in range(len(self.columns)):
            yield self.columns.node(i)

    def value(self, i: int) -> memoryview | None:
        """The value bytes of node ``i`` as a view into the mapped file: never a copy."""
        c = self.columns
        start = int(c.value_offset[i])
        if start < 0 or int(c.length[i]) == UNDEFINED:
            return None
        src = self.sources[Stream(int(c.stream[i]))]
        return memoryview(src.buf)[start : int(c.end[i])]

    def value_bytes(self, i: int, limit: int) -> bytes | None:
        """At most ``limit`` bytes of node ``i``'s value, copied (None: no defined value).
        Only what a caller asks for is copied, never the whole value."""
        view = self.value(i)
        if view is None:
            return None
        try:
            return bytes(view[:limit])
        finally:
            view.release()

    def children(self, i: int) -> list[int]:
        """Indices of the nodes whose parent is ``i`` (-1: the top level)."""
        if self._children is None:
            kids: dict[int, list[int]] = {}
            for child, parent in enumerate(self.columns.parent.tolist()):
                kids.setdefault(parent, []).append(child)
            self._children = kids
        return self._children.get(i, [])

    def find(self, offset: int, stream: Stream = Stream.FILE) -> int | None:
        """The innermost node whose bytes hold ``offset``, if any: a binary search."""
        c = self.columns
        if self._by_start is None:
            self._by_start = {}
            for s in np.unique(c.stream).tolist():
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

    def close(self) -> None:
        for src in self.sources.values():
            src.close()

    def __enter__(self) -> ElementIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Fields of a row of the table, in order.
F_KIND, F_OFFSET, F_END, F_TAG, F_VR, F_VR_EXPLICIT, F_LENGTH, F_VALUE_OFFSET = range(8)
F_DEPTH, F_PARENT, F_STREAM = range(8, 11)
_WIDTH = 11


class _Table:
    """Row builder: one flat ``array('q')`` while walking (one ``extend`` per node, no Python
    object per node), numpy columns at the end (a zero-copy view, then one cast per column)."""

    def __init__(self) -> None:
        self.rows = array("q")
        self.hidden = False  # inside a branch deeper than the depth limit: record nothing

    def __len__(self) -> int:
        return len(self.rows) // _WIDTH

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
        rows = self.rows
        rows.extend(
            (kind, offset, end, tag, vr, vr_explicit, length, value_offset, depth, parent, stream)
        )
        return len(rows) // _WIDTH - 1

    def get(self, node: int, field: int) -> int:
        return self.rows[node * _WIDTH + field]

    def set_end(self, node: int, end: int) -> None:
        if node >= 0:
            self.rows[node * _WIDTH + F_END] = end

    def freeze(self) -> Columns:
        table = np.frombuffer(self.rows, dtype=np.int64).reshape(-1, _WIDTH)
        return Columns(
            kind=table[:, F_KIND].astype(np.uint8),
            offset=table[:, F_OFFSET].copy(),
            end=table[:, F_END].copy(),
            tag=table[:, F_TAG].copy(),
            vr=table[:, F_VR].astype(np.uint16),
            vr_explicit=table[:, F_VR_EXPLICIT].astype(np.bool_),
            length=table[:, F_LENGTH].copy(),
            value_offset=table[:, F_VALUE_OFFSET].copy(),
            depth=table[:, F_DEPTH].astype(np.int32),
            parent=table[:, F_PARENT].astype(np.int32),
            stream=table[:, F_STREAM].astype(np.uint8),
        )


def _implicit_vr(tag: int) -> int:
    """The VR an implicit VR reader assumes for ``tag`` (PS3.5 A.1), packed; UN if unknown."""
    entry = specdata.lookup(tag)
    if entry is None or not entry.vrs or entry.vrs[0] == "NONE":
        return _UN
    # PS3.5 A.1 c: in Implicit VR Little Endian, OB-or-OW data (pixel, overlay, waveform) is OW.
    if entry.vrs == ("OB", "OW"):
        return _OW
    return vr_code(entry.vrs[0])


_UN = vr_code("UN")
_OW = vr_code("OW")
_SQ = vr_code("SQ")
_OB = vr_code("OB")
_IMPLICIT_VR_CACHE: dict[int, int] = {}
_VR_CODES: dict[bytes, int] = {vr: vr_code(vr) for vr in _VALID_VRS}
_ELEMENT = int(Kind.ELEMENT)


class _Walker:
    def __init__(self, src: Source, max_depth: int, max_inflated: int) -> None:
        self.src = src
        self.buf = src.buf
        self.size = src.size
        self.max_depth = max_depth
        self.max_inflated = max_inflated
        self.t = _Table()
        self.faults: list[Fault] = []
        self.stream = Stream.FILE
        self.sources: dict[Stream, Source] = {Stream.FILE: src}
        self.ts: specdata.TransferSyntax | None = None
        self.ts_uid: str | None = None
        self.dataset_encoding: Encoding | None = None
        self.dataset_offset: int | None = None
        self.deflated = False
        self.hidden = False
        self.cuts: set[tuple[Stream, int]] = set()
        self.fault_counts: dict[str, int] = {}
        self.first_unlisted: dict[str, tuple[int, Stream]] = {}

    # -- recording -------------------------------------------------------------------------

    def fault(self, code: str, offset: int, length: int, node: int, message: str) -> None:
        if self.hidden:
            return
        count = self.fault_counts.get(code, 0) + 1
        self.fault_counts[code] = count
        if count <= FAULTS_PER_CODE:
            self.faults.append(Fault(code, offset, length, node, message, self.stream))
        elif count == FAULTS_PER_CODE + 1:
            self.first_unlisted[code] = (offset, self.stream)

    def summarise_unlisted(self) -> None:
        """One fault per code that was cut off, saying how many more there were."""
        for code, (offset, stream) in self.first_unlisted.items():
            more = self.fault_counts[code] - FAULTS_PER_CODE
            self.faults.append(
                Fault(
                    code,
                    offset,
                    0,
                    -1,
                    f"{more} more {code} faults from here on are not listed (the first "
                    f"{FAULTS_PER_CODE} are)",
                    stream,
                )
            )

    def trailing(self, start: int, end: int, depth: int, parent: int) -> int:
        return self.t.add(
            Kind.TRAILING, start, end, NO_TAG, 0, False, -2, -1, depth, parent, self.stream
        )

    # -- the whole file --------------------------------------------------------------------

    def run(self) -> None:
        buf, size = self.buf, self.size
        if size == 0:
            self.fault(
                "FILE_TOO_SHORT",
                0,
                0,
                -1,
                "the file is empty; expected a 128-byte preamble, 'DICM' and a file meta group",
            )
            return
        pos = self.container_start()
        if pos is None:
            return
        pos = self.walk_meta(pos)
        if pos >= size:
            if pos == size and not self.faults:
                self.fault(
                    "DATASET_MISSING",
                    pos,
                    0,
                    -1,
                    "no data set follows the file meta group; expected at least one data element",
                )
            return
        self.dataset_offset = pos
        enc = self.choose_encoding(pos)
        if self.ts is not None and self.ts.deflated and enc is not None:
            self.walk_deflated(pos)
            return
        if enc is None:
            enc = EXPLICIT_LE
        self.dataset_encoding = enc
        del buf
        self.walk(pos, [Frame(FrameKind.DATASET, -1, size, False, enc, 0)])

    def container_start(self) -> int | None:
        """Preamble and prefix (PS3.10 7.1); returns where the meta group should start."""
        buf, size = self.buf, self.size
        if size >= PREAMBLE_LENGTH + 4 and buf[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] == PREFIX:
            self.t.add(Kind.PREAMBLE, 0, 128, NO_TAG, 0, False, -2, -1, 0, -1, 0)
            self.t.add(Kind.PREFIX, 128, 132, NO_TAG, 0, False, -2, -1, 0, -1, 0)
            return PREAMBLE_LENGTH + 4
        if buf[0:4] == PREFIX:
            self.fault("PREAMBLE_MISSING", 0, 4, -1, "'DICM' at offset 0: no 128-byte preamble")
            self.t.add(Kind.PREFIX, 0, 4, NO_TAG, 0, False, -2, -1, 0, -1, 0)
            return 4
        if self.plausible_start(0):
            self.fault(
                "PREAMBLE_MISSING",
                0,
                0,
                -1,
                "no preamble and no 'DICM' prefix: the file starts with a bare data set",
            )
            return 0
        if size < PREAMBLE_LENGTH + 4 or not self.plausible_start(PREAMBLE_LENGTH + 4):
            # Neither a preamble nor a bare data set at 0: a few stray bytes before a data set?
            for start in range(1, min(size - 8, PREAMBLE_LENGTH)):
                if self.plausible_start(start):
                    self.fault(
                        "PREAMBLE_MISSING",
                        0,
                        start,
                        -1,
                        f"no preamble and no 'DICM' prefix: a bare data set at {start:#x}, "
                        f"after {count(start, 'stray byte')}",
                    )
                    self.trailing(0, start, 0, -1)
                    return start
        if size < PREAMBLE_LENGTH + 4:
            self.fault(
                "FILE_TOO_SHORT",
                0,
                size,
                -1,
                f"{size} bytes cannot hold a 128-byte preamble, 'DICM' and a meta group",
            )
            self.trailing(0, size, 0, -1)
            return None
        got = bytes(buf[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4])
        self.fault("PREFIX_NOT_DICM", 128, 4, -1, f"bytes 128-131 are {got!r}, expected b'DICM'")
        self.t.add(Kind.PREAMBLE, 0, 128, NO_TAG, 0, False, -2, -1, 0, -1, 0)
        self.t.add(Kind.PREFIX, 128, 132, NO_TAG, 0, False, -2, -1, 0, -1, 0)
        return PREAMBLE_LENGTH + 4

    def plausible_start(self, pos: int) -> bool:
        """Do the bytes at ``pos`` look like the first element of a meta group or data set?"""
        if pos + 8 > self.size:
            return False
        group_le = self.buf[pos] | self.buf[pos + 1] << 8
        group_be = self.buf[pos] << 8 | self.buf[pos + 1]
        return (group_le in (0x0002, 0x0008) or group_be == 0x0008) and any(
            self.header_fits(pos, enc, self.size) for enc in ENCODINGS
        )

    def header_fits(self, pos: int, enc: Encoding, limit: int) -> bool:
        """Does an element header of encoding ``enc`` at ``pos`` have a VR and length that fit?"""
        if pos + 8 > limit:
            return False
        if enc.explicit_vr:
            vr = bytes(self.buf[pos + 4 : pos + 6])
            if vr not in _VALID_VRS:
                return False
            if vr in LONG_LENGTH_VRS:
                if pos + 12 > limit:
                    return False
                length = enc.u32.unpack_from(self.buf, pos + 8)[0]
                return bool(length == UNDEFINED_LENGTH or pos + 12 + length <= limit)
            return bool(pos + 8 + enc.u16.unpack_from(self.buf, pos + 6)[0] <= limit)
        length = enc.u32.unpack_from(self.buf, pos + 4)[0]
        return bool(length == UNDEFINED_LENGTH or pos + 8 + length <= limit)

    def walk_meta(self, pos: int) -> int:
        """The file meta group (PS3.10 7.1): group 0002, Explicit VR Little Endian."""
        if pos + 8 > self.size:
            if pos < self.size:
                self.fault(
                    "FILE_TRUNCATED",
                    pos,
                    self.size - pos,
                    -1,
                    f"the file ends {count(self.size - pos, 'byte')} into the file meta group",
                )
                self.trailing(pos, self.size, 0, -1)
            else:
                self.fault("DATASET_MISSING", pos, 0, -1, "the file ends after the prefix")
            return self.size
        enc = EXPLICIT_LE
        group = self.buf[pos] | self.buf[pos + 1] << 8
        if (
            group == 0x0002
            and not self.header_fits(pos, EXPLICIT_LE, self.size)
            and self.header_fits(pos, IMPLICIT_LE, self.size)
        ):
            enc = IMPLICIT_LE
            self.fault(
                "META_NOT_EXPLICIT_LE",
                pos,
                8,
                -1,
                "the file meta group is encoded Implicit VR Little Endian, "
                "PS3.10 requires Explicit VR Little Endian",
            )
        if group != 0x0002:
            return pos
        pos = self.walk(pos, [Frame(FrameKind.META, -1, self.size, False, enc, 0)])
        self.read_transfer_syntax()
        return pos

    def read_transfer_syntax(self) -> None:
        t = self.t
        for i in range(len(t)):
            if t.get(i, F_TAG) == TRANSFER_SYNTAX_UID and t.get(i, F_LENGTH) >= 0:
                value_offset, end = t.get(i, F_VALUE_OFFSET), t.get(i, F_END)
                raw = bytes(self.buf[value_offset:end])
                self.ts_uid = raw.rstrip(b"\0 ").decode("ascii", "replace")
                self.ts = specdata.transfer_syntax(self.ts_uid)
                cut = end - value_offset < t.get(i, F_LENGTH)  # FILE_TRUNCATED says it already
                if self.ts is None and not cut:
                    self.fault(
                        "TRANSFER_SYNTAX_UNKNOWN",
                        value_offset,
                        end - value_offset,
                        i,
                        f"(0002,0010) '{self.ts_uid}' names no known transfer syntax; "
                        "the encoding was detected from the data set",
                    )
                return

    def detect(self, pos: int, limit: int) -> Encoding | None:
        """The encoding whose reading of the first element at ``pos`` is plausible."""
        buf = self.buf
        if pos + 8 > limit:
            return None
        le = buf[pos] | buf[pos + 1] << 8
        be = buf[pos] << 8 | buf[pos + 1]
        explicit = bytes(buf[pos + 4 : pos + 6]) in _VALID_VRS
        # The smaller reading of the group number is the likelier one (0008 vs 0800).
        little = le <= be
        if explicit:
            enc = EXPLICIT_LE if little else EXPLICIT_BE
            return enc if self.header_fits(pos, enc, limit) else None
        return IMPLICIT_LE if little and self.header_fits(pos, IMPLICIT_LE, limit) else None

    def choose_encoding(self, pos: int) -> Encoding | None:
        """The encoding of the data set: what (0002,0010) names, unless the bytes disagree."""
        ts = self.ts
        if ts is not None and ts.deflated:
            return EXPLICIT_LE
        declared: Encoding | None = None
        if ts is not None:
            if not ts.explicit_vr:
                declared = IMPLICIT_LE
            else:
                declared = EXPLICIT_LE if ts.little_endian else EXPLICIT_BE
        detected = self.detect(pos, self.size)
        if declared is None:
            return detected or EXPLICIT_LE
        if (
            detected is not None
            and detected is not declared
            and not self.header_fits(pos, declared, self.size)
        ):
            self.fault(
                "TRANSFER_SYNTAX_MISMATCH",
                pos,
                8,
                -1,
                f"(0002,0010) is {ts.name if ts else '?'}, so the data set should be "
                f"{declared.name}, "
                f"but it is encoded {detected.name}; read as {detected.name}",
            )
            return detected
        return declared

    def walk_deflated(self, pos: int) -> None:
        """PS3.5 A.5: the data set is a raw deflate stream; index the inflated bytes."""
        result = inflate(self.src, pos, max_inflated=self.max_inflated)
        if result.error is not None or result.source is None:
            # A zlib-wrapped stream (header 78 xx) is a common encoder mistake.
            if self.buf[pos] == 0x78:
                wrapped = inflate(self.src, pos, wbits=15, max_inflated=self.max_inflated)
                if wrapped.error is None and wrapped.source is not None:
                    self.fault(
                        "DEFLATE_STREAM_INVALID",
                        pos,
                        2,
                        -1,
                        "the data set is zlib-wrapped (RFC 1950 header 78xx); PS3.5 A.5 "
                        "requires a raw RFC 1951 stream",
                    )
                    self.index_inflated(wrapped.source, pos, wrapped.consumed)
                    return
            if self.detect(pos, self.size) is not None:
                self.fault(
                    "DEFLATE_STREAM_INVALID",
                    pos,
                    self.size - pos,
                    -1,
                    "the transfer syntax is deflated but the data set is stored uncompressed; "
                    "read as Explicit VR Little Endian",
                )
                self.dataset_encoding = EXPLICIT_LE
                self.walk(pos, [Frame(FrameKind.DATASET, -1, self.size, False, EXPLICIT_LE, 0)])
                return
            self.fault(
                "DEFLATE_STREAM_INVALID",
                pos,
                self.size - pos,
                -1,
                f"the deflated data set cannot be inflated: {result.error}",
            )
            if result.source is not None:
                result.source.close()
            self.trailing(pos, self.size, 0, -1)
            return
        if result.capped:
            self.fault(
                "DEFLATE_STREAM_INVALID",
                pos,
                self.size - pos,
                -1,
                f"the data set inflates to more than {self.max_inflated} bytes; "
                "indexed up to that limit",
            )
        elif not result.complete:
            self.fault(
                "DEFLATE_STREAM_INVALID",
                pos,
                self.size - pos,
                -1,
                "the deflate stream is truncated: the file ends before its final block",
            )
        # Capped: the stream did not end where inflation stopped, so nothing "follows" it.
        self.index_inflated(result.source, pos, None if result.capped else result.consumed)

    def index_inflated(self, inflated: Source, pos: int, consumed: int | None) -> None:
        self.deflated = True
        self.dataset_encoding = EXPLICIT_LE
        self.sources[Stream.INFLATED] = inflated
        end_of_stream = self.size if consumed is None else pos + consumed
        outer = (self.src, self.buf, self.size)
        self.src, self.buf, self.size = inflated, inflated.buf, inflated.size
        self.stream = Stream.INFLATED
        enc = self.detect(0, self.size) or EXPLICIT_LE
        self.walk(0, [Frame(FrameKind.DATASET, -1, self.size, False, enc, 0)])
        self.src, self.buf, self.size = outer
        self.stream = Stream.FILE
        if end_of_stream < self.size:
            extra = self.size - end_of_stream
            why = ""
            if extra == 8 and int.from_bytes(self.buf[self.size - 4 : self.size], "little") == (
                inflated.size & 0xFFFFFFFF
            ):
                why = " (a gzip CRC-32 and size trailer, which PS3.5 A.5's raw stream has not)"
            self.fault(
                "TRAILING_BYTES",
                end_of_stream,
                extra,
                -1,
                f"{count(extra, 'byte')} follow the end of the deflate stream{why}; expected the "
                "file to end there",
            )
            self.trailing(end_of_stream, self.size, 0, -1)

    # -- the walk ----------------------------------------------------------------------------

    def walk(self, pos: int, stack: list[Frame]) -> int:
        """Walk from ``pos`` until ``stack`` is empty; return where the walk stopped."""
        buf = self.buf
        t = self.t
        add = t.add
        stream = int(self.stream)
        vr_codes = _VR_CODES
        implicit_cache = _IMPLICIT_VR_CACHE
        release = getattr(buf, "madvise", None)
        released = 0
        while stack:
            if pos - released > _RELEASE_EVERY and release is not None:
                # Touching one header maps the cached pages around it too ("fault-around"):
                # over thousands of fragments that is most of the file counted as our memory.
                # Unmapping what the walk has passed keeps the footprint flat; a later read of
                # a value maps its pages again from the page cache.
                upto = pos - pos % mmap.PAGESIZE
                release(mmap.MADV_DONTNEED, released, upto - released)
                released = upto
            f = stack[-1]
            t.hidden = self.hidden = f.hidden
            limit = f.end
            if pos >= limit:
                self.close(f, pos, stack, at_limit=True)
                continue
            enc = f.enc
            fk = f.kind
            if fk == FrameKind.SEQUENCE or fk == FrameKind.FRAGMENTS:
                pos = self.in_sequence(f, pos, stack)
                continue

            # A data set: the top level, the meta group or an item.
            if pos + 8 > limit:
                self.leftover(f, pos, stack)
                pos = limit
                continue
            # The common case, inlined: a header that fits, a short value that fits. Anything
            # else (long VRs, sequences, faults) goes through element().
            if enc.explicit_vr:
                group, elem, vr, length = enc.short.unpack_from(buf, pos)
                vrc = vr_codes.get(vr, -1) if vr not in LONG_LENGTH_VRS else -1
            else:
                group, elem, length = enc.implicit.unpack_from(buf, pos)
                tag = group << 16 | elem
                vrc = implicit_cache.get(tag, -1)
                if vrc in (_SQ, _UN):
                    vrc = -1
            if fk == FrameKind.META and group != 0x0002:
                stack.pop()
                continue
            if group == ITEM_GROUP:
                pos = self.group_fffe(f, pos, stack)
                continue
            end = pos + 8 + length
            if vrc >= 0 and end <= limit and length != UNDEFINED_LENGTH:
                add(
                    _ELEMENT, pos, end, group << 16 | elem, vrc, enc.explicit_vr, length,
                    pos + 8, f.depth, f.node, stream,
                )  # fmt: skip
                pos = end
                continue
            pos = self.element(f, pos, stack)
        return pos

    def in_sequence(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        """The next item, delimiter or stray element in a sequence or fragment list."""
        buf = self.buf
        add = self.t.add
        stream = int(self.stream)
        enc = f.enc
        fk = f.kind
        limit = f.end
        if pos + 8 > limit:
            self.leftover(f, pos, stack)
            return limit
        group, elem, length = enc.implicit.unpack_from(buf, pos)
        tag = group << 16 | elem
        if tag == ITEM:
            pos = self.open_item(f, pos, length, stack)
        elif tag == SEQUENCE_DELIMITER:
            node = add(
                Kind.SEQUENCE_DELIMITER, pos, pos + 8, tag, 0, False, length, pos + 8,
                f.depth, f.node, stream,
            )  # fmt: skip
            self.check_delimiter_length(pos, length, node)
            pos += 8
            if f.defined:
                self.fault(
                    "DELIMITER_IN_DEFINED_LENGTH",
                    pos - 8,
                    8,
                    node,
                    "a Sequence Delimitation Item inside a sequence of defined length",
                )
            else:
                self.close(f, pos, stack)
        elif tag == ITEM_DELIMITER:
            node = add(
                Kind.ITEM_DELIMITER, pos, pos + 8, tag, 0, False, length, pos + 8,
                f.depth, f.node, stream,
            )  # fmt: skip
            self.fault(
                "STRAY_DELIMITER",
                pos,
                8,
                node,
                "an Item Delimitation Item directly inside a sequence, with no item open",
            )
            pos += 8
        else:
            what = (
                "fragments of encapsulated Pixel Data"
                if fk == FrameKind.FRAGMENTS
                else "a sequence"
            )
            if f.defined:
                self.fault(
                    "ENCAPSULATED_NOT_ITEM" if fk == FrameKind.FRAGMENTS else "ITEM_EXPECTED",
                    pos,
                    limit - pos,
                    f.node,
                    f"({format_tag(tag)}) where an item (FFFE,E000) was expected in "
                    f"{what}; the rest of its defined length is skipped",
                )
                self.trailing(pos, limit, f.depth, f.node)
                pos = limit
            elif fk == FrameKind.SEQUENCE and tag <= self.t.get(f.node, F_TAG):
                # Not the next element of the enclosing data set either (its tag would be
                # greater than the sequence's): an element where an item should be.
                self.fault(
                    "ITEM_EXPECTED",
                    pos,
                    8,
                    f.node,
                    f"({format_tag(tag)}) where an item (FFFE,E000) or a Sequence Delimitation "
                    f"Item was expected in {what}; read as an element and skipped",
                )
                return self.element(f, pos, stack)
            else:
                self.fault(
                    "ENCAPSULATED_NOT_ITEM"
                    if fk == FrameKind.FRAGMENTS
                    else "SEQUENCE_DELIMITER_MISSING",
                    pos,
                    8,
                    f.node,
                    f"({format_tag(tag)}) where an item or a Sequence Delimitation "
                    f"Item was expected in {what}; closed it here, and the element "
                    "is read as the next one of the enclosing data set",
                )
                self.close(f, pos, stack)
        return pos

    def element(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        """One data element at ``pos`` in data set frame ``f``; returns where the next starts."""
        buf = self.buf
        enc = f.enc
        limit = f.end
        explicit = enc.explicit_vr
        group = enc.u16.unpack_from(buf, pos)[0]
        if group in _GARBAGE_GROUPS:
            return self.garbage(f, pos, f"group {group:04X} is not used in files")
        if explicit:
            group, elem, vr, length = enc.short.unpack_from(buf, pos)
            if vr in LONG_LENGTH_VRS:
                if pos + 12 > limit:
                    self.leftover(f, pos, stack)
                    return limit
                short_length = length  # bytes 6-7: reserved in the long form
                length = enc.long.unpack_from(buf, pos)[4]
                header = 12
                if short_length and self.short_form_instead(
                    pos, group << 16 | elem, short_length, length, limit, enc
                ):
                    self.fault(
                        "LENGTH_FIELD_FORM_WRONG",
                        pos + 6,
                        2,
                        len(self.t),
                        f"({format_tag(group << 16 | elem)}) {vr.decode()} needs 2 reserved "
                        "bytes and a 32-bit length (PS3.5 Table 7.1-1), but is written with a "
                        f"16-bit length {short_length}",
                    )
                    length, header = short_length, 8
                # Other nonzero reserved bytes are the validator's (RESERVED_BYTES_NONZERO).
            elif vr in _VALID_VRS:
                header = 8
            else:
                return self.bad_vr(f, pos, group << 16 | elem, vr, stack)
            vrc = (vr[0] << 8) | vr[1]
        else:
            group, elem, length = enc.implicit.unpack_from(buf, pos)
            header = 8
            tag = group << 16 | elem
            vrc = _IMPLICIT_VR_CACHE.get(tag, -1)
            if vrc < 0:
                vrc = _IMPLICIT_VR_CACHE[tag] = _implicit_vr(tag)
            if length != UNDEFINED_LENGTH and pos + 8 + length > limit:
                # A single explicit VR element inside an implicit data set (PS3.5 A.1)?
                vr = bytes(buf[pos + 4 : pos + 6])
                if vr in _VALID_VRS and self.header_fits(
                    pos, EXPLICIT_LE if enc.little_endian else EXPLICIT_BE, limit
                ):
                    self.fault(
                        "TRANSFER_SYNTAX_MISMATCH",
                        pos,
                        8,
                        len(self.t),
                        f"({format_tag(tag)}) is encoded with an explicit VR '{vr.decode()}' "
                        "inside an Implicit VR data set",
                    )
                    f.enc = EXPLICIT_LE if enc.little_endian else EXPLICIT_BE
                    pos = self.element(f, pos, stack)
                    f.enc = enc
                    return pos
        return self.finish_element(f, pos, group << 16 | elem, vrc, explicit, header, length, stack)

    def finish_element(
        self,
        f: Frame,
        pos: int,
        tag: int,
        vrc: int,
        explicit: bool,
        header: int,
        length: int,
        stack: list[Frame],
    ) -> int:
        limit = f.end
        value_offset = pos + header
        if length == UNDEFINED_LENGTH:
            node = self.t.add(
                Kind.ELEMENT, pos, limit, tag, vrc, explicit, UNDEFINED, value_offset,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            return self.open_undefined(f, node, tag, vrc, explicit, value_offset, stack)
        end = value_offset + length
        if end > limit and limit == self.size and self.implausible(f, pos, tag, header, explicit):
            # Text or junk after the last element reads as a header with a huge length: calling
            # it a truncated element would send the user looking for missing bytes.
            return self.garbage(f, pos, "its header reads as an element that cannot be")
        if end > limit:
            # A sequence's items are walked up to the limit instead: their own headers say more
            # than a resync guess would.
            end = self.overrun(f, tag, length, pos, header, explicit, limit, resync=vrc != _SQ)
        node = self.t.add(
            Kind.ELEMENT, pos, end, tag, vrc, explicit, length, value_offset,
            f.depth, f.node, self.stream,
        )  # fmt: skip
        enc = f.enc
        if vrc == _UN:
            # Implicit VR, unknown tag: a sequence if its value reads as items. Explicit UN of a
            # tag the dictionary calls SQ (or a private one) that reads as items: a sequence
            # written by a reader that did not know the tag, in Implicit VR LE (PS3.5 6.2.2).
            if explicit:
                enc = IMPLICIT_LE
                if _implicit_vr(tag) not in (_SQ, _UN):
                    return end
            if not self.starts_with_item(value_offset, end, enc):
                return end
        elif vrc != _SQ:
            return end
        self.push(stack, Frame(FrameKind.SEQUENCE, node, end, True, enc, f.depth + 1, f.hidden))
        return value_offset

    def starts_with_item(self, pos: int, end: int, enc: Encoding) -> bool:
        """Implicit VR, unknown tag, defined length: does the value read as a sequence of items?"""
        if pos + 8 > end:
            return False
        group, elem, length = enc.implicit.unpack_from(self.buf, pos)
        return bool(
            (group << 16 | elem) == ITEM and (length == UNDEFINED_LENGTH or pos + 8 + length <= end)
        )

    def open_undefined(
        self,
        f: Frame,
        node: int,
        tag: int,
        vrc: int,
        explicit: bool,
        value_offset: int,
        stack: list[Frame],
    ) -> int:
        """An element of undefined length: a sequence, UN (CP-246) or encapsulated pixel data."""
        if tag == PIXEL_DATA and vrc != _SQ:
            self.push(
                stack, Frame(FrameKind.FRAGMENTS, node, f.end, False, f.enc, f.depth + 1, f.hidden)
            )
        elif vrc == _UN:
            # PS3.5 6.2.2: UN of undefined length holds Implicit VR Little Endian (CP-246).
            enc = IMPLICIT_LE
            if explicit and self.explicit_content(value_offset, f.end, f.enc):
                self.fault(
                    "UN_UNDEFINED_CONTENT_NOT_IMPLICIT",
                    value_offset + 8,
                    8,
                    node,
                    f"({format_tag(tag)}) UN of undefined length holds {f.enc.name} items; "
                    "PS3.5 6.2.2 requires Implicit VR Little Endian. Read as written",
                )
                enc = f.enc
            self.push(
                stack, Frame(FrameKind.SEQUENCE, node, f.end, False, enc, f.depth + 1, f.hidden)
            )
        elif vrc == _SQ or not explicit:
            self.push(
                stack, Frame(FrameKind.SEQUENCE, node, f.end, False, f.enc, f.depth + 1, f.hidden)
            )
        else:
            self.fault(
                "UNDEFINED_LENGTH_NOT_ALLOWED",
                value_offset - 4,
                4,
                node,
                f"({format_tag(tag)}) {_vr_str(vrc)} has undefined length (FFFFFFFFH); only SQ, UN "
                "and encapsulated Pixel Data may",
            )
            nxt = self.peek_tag(value_offset, f.enc, f.end)
            if nxt in (ITEM, SEQUENCE_DELIMITER):
                # Laid out as a sequence: read it as one so the items are not lost.
                self.push(
                    stack,
                    Frame(FrameKind.SEQUENCE, node, f.end, False, f.enc, f.depth + 1, f.hidden),
                )
            elif node >= 0:
                self.t.set_end(node, value_offset)
        return value_offset

    def explicit_content(self, pos: int, limit: int, enc: Encoding) -> bool:
        """Does the first element of the first item at ``pos`` read as explicit VR only?"""
        if pos + 16 > limit or self.peek_tag(pos, enc, limit) != ITEM:
            return False
        first = pos + 8
        return self.header_fits(first, enc, limit) and not self.header_fits(
            first, IMPLICIT_LE, limit
        )

    def peek_tag(self, pos: int, enc: Encoding, limit: int) -> int | None:
        if pos + 4 > limit:
            return None
        group, elem = struct.unpack_from("<HH" if enc.little_endian else ">HH", self.buf, pos)
        return int(group << 16 | elem)

    def overrun(
        self,
        f: Frame,
        tag: int,
        length: int,
        pos: int,
        header: int,
        explicit: bool,
        limit: int,
        *,
        resync: bool,
    ) -> int:
        """A defined length that runs past its container: resynchronise, or clamp to the limit.

        The fault points at the length field: 16-bit at +6 in the short explicit form (PS3.5
        Table 7.1-2), 32-bit at +8 in the long form (Table 7.1-1) and at +4 in implicit VR.
        """
        value_offset = pos + header
        if header == 12:
            field_at, field_size = pos + 8, 4
        elif explicit:
            field_at, field_size = pos + 6, 2
        else:
            field_at, field_size = pos + 4, 4
        node = len(self.t)
        where = self.container_name(f)
        found = None
        if resync and tag != PIXEL_DATA:
            found = self.resync(value_offset, limit, f, after_tag=tag, confirm=True)
        if found is not None:
            self.fault(
                "VALUE_OVERRUNS_PARENT",
                field_at,
                field_size,
                node,
                f"({format_tag(tag)}) value length {length} runs {value_offset + length - limit} "
                f"bytes past the end of {where}; re-synchronised at the next plausible element "
                f"at {found:#x}",
            )
            return found
        if not self.first_cut(limit):
            return limit
        truncated = limit == self.size and not (f.kind == FrameKind.ITEM and f.defined)
        hostile = length >= self.size
        code = "FILE_TRUNCATED" if truncated and not hostile else "VALUE_OVERRUNS_PARENT"
        self.fault(
            code,
            field_at,
            field_size,
            node,
            f"({format_tag(tag)}) value length {length} runs {value_offset + length - limit} "
            f"bytes past the end of {where}; the value is cut at {limit:#x}",
        )
        return limit

    def container_name(self, f: Frame) -> str:
        if f.kind == FrameKind.ITEM:
            return "its item"
        if f.kind in (FrameKind.SEQUENCE, FrameKind.FRAGMENTS):
            return "its sequence"
        return "the file" if self.stream == Stream.FILE else "the inflated data set"

    def resync(
        self, start: int, limit: int, f: Frame, *, after_tag: int, confirm: bool
    ) -> int | None:
        """The next offset in [start, limit) where a plausible element header starts.

        Plausible: its tag is greater than ``after_tag`` (data sets are sorted, PS3.5 7.1), its
        VR (explicit) is a VR code, its length fits in ``limit``; with ``confirm``, the element
        after it must be plausible too, or it must end exactly at ``limit``. The search covers at
        most ``_RESYNC_WINDOW`` bytes.
        """
        enc = f.enc
        stop = min(limit - 8, start + _RESYNC_WINDOW)
        if stop < start:
            return None
        tagfmt = struct.Struct("<HH" if enc.little_endian else ">HH")
        if enc.explicit_vr:
            candidates: Iterator[int] = (
                m.start() for m in _EXPLICIT_CANDIDATE.finditer(self.buf, start, stop + 8)
            )
        else:
            candidates = self.implicit_candidates(start, stop, limit, after_tag, enc)
        for cand in candidates:
            group, elem = tagfmt.unpack_from(self.buf, cand)
            tag = group << 16 | elem
            if tag <= after_tag or group == ITEM_GROUP:
                continue
            if not enc.explicit_vr and specdata.lookup(tag) is None:
                continue
            if not self.header_fits(cand, enc, limit):
                continue
            if not confirm:
                return cand
            nxt = self.element_end(cand, enc)
            if nxt == limit or (
                nxt is not None
                and nxt < limit
                and self.header_fits(nxt, enc, limit)
                and (self.peek_tag(nxt, enc, limit) or 0) > tag
            ):
                return cand
        return None

    def implicit_candidates(
        self, start: int, stop: int, limit: int, after_tag: int, enc: Encoding
    ) -> Iterator[int]:
        """Offsets in [start, stop] whose implicit VR header has an ascending tag and a length
        that fits: numpy over 64 KiB chunks, so a long garbage run costs no Python per byte."""
        little = enc.little_endian
        chunk = 1 << 16
        for base in range(start, stop + 1, chunk):
            top = min(stop, base + chunk - 1)
            view = memoryview(self.buf)[base : top + 8]
            raw = np.frombuffer(view, dtype=np.uint8)
            at = np.arange(top - base + 1)
            group, element = _u16(raw, at, little), _u16(raw, at + 2, little)
            lo, hi = _u16(raw, at + 4, little), _u16(raw, at + 6, little)
            length = (lo | (hi << 16)) if little else ((lo << 16) | hi)
            tag = (group.astype(np.int64) << 16) | element
            fits = (length == UNDEFINED_LENGTH) | (base + at + 8 + length.astype(np.int64) <= limit)
            plausible = (tag > after_tag) & (group != ITEM_GROUP) & (group != 0) & (group != 0xFFFF)
            hits = (np.flatnonzero(plausible & fits) + base).tolist()
            del raw
            view.release()
            yield from hits

    def element_end(self, pos: int, enc: Encoding) -> int | None:
        """Where the element whose header is at ``pos`` ends, if its length is defined."""
        if enc.explicit_vr:
            vr = bytes(self.buf[pos + 4 : pos + 6])
            if vr in LONG_LENGTH_VRS:
                length = enc.u32.unpack_from(self.buf, pos + 8)[0]
                return None if length == UNDEFINED_LENGTH else pos + 12 + length
            return pos + 8 + int(enc.u16.unpack_from(self.buf, pos + 6)[0])
        length = enc.u32.unpack_from(self.buf, pos + 4)[0]
        return None if length == UNDEFINED_LENGTH else pos + 8 + length

    def short_form_instead(
        self, pos: int, tag: int, short_length: int, long_length: int, limit: int, enc: Encoding
    ) -> bool:
        """A long-form VR whose header reads better in the short form (PS3.5 Table 7.1-2)?

        Only when the 16-bit reading ends where a plausible next element (or the container)
        starts and the 32-bit reading does not: nonzero reserved bytes alone are not enough.
        """
        short_end = pos + 8 + short_length
        if short_end > limit:
            return False
        if short_end < limit and not (
            self.header_fits(short_end, enc, limit)
            and (self.peek_tag(short_end, enc, limit) or 0) > tag
        ):
            return False
        if long_length == UNDEFINED_LENGTH:
            return False
        long_end = pos + 12 + long_length
        return long_end > limit or (long_end < limit and not self.header_fits(long_end, enc, limit))

    def long_form_instead(self, f: Frame, pos: int) -> int | None:
        """Was the element just before ``pos`` a short-form VR written in the long form?

        Read in the short form, its reserved bytes 0000H became a zero length and its 32-bit
        length became the start of a "next element" with no valid VR: the one at ``pos``.
        """
        t = self.t
        last = len(t) - 1
        if last < 0 or t.get(last, F_KIND) != Kind.ELEMENT or t.get(last, F_END) != pos:
            return None
        start = t.get(last, F_OFFSET)
        if (
            t.get(last, F_LENGTH) != 0
            or not t.get(last, F_VR_EXPLICIT)
            or t.get(last, F_VALUE_OFFSET) != start + 8
            or t.get(last, F_PARENT) != f.node
            or pos + 4 > f.end
        ):
            return None
        length = int(f.enc.u32.unpack_from(self.buf, pos)[0])
        end = pos + 4 + length
        if length == UNDEFINED_LENGTH or end > f.end:
            return None
        if end < f.end and not self.header_fits(end, f.enc, f.end):
            return None
        rows = t.rows
        base = last * _WIDTH
        rows[base + F_LENGTH] = length
        rows[base + F_VALUE_OFFSET] = pos + 4
        rows[base + F_END] = end
        vr = _vr_str(t.get(last, F_VR))
        self.fault(
            "LENGTH_FIELD_FORM_WRONG",
            start + 6,
            6,
            last,
            f"({format_tag(t.get(last, F_TAG))}) {vr} takes a 16-bit length (PS3.5 Table "
            f"7.1-2), but is written with 2 reserved bytes and a 32-bit length {length}",
        )
        return end

    def bad_vr(self, f: Frame, pos: int, tag: int, vr: bytes, stack: list[Frame]) -> int:
        """Explicit VR bytes that are no VR code: implicit VR here, or a damaged header."""
        enc = f.enc
        limit = f.end
        fixed = self.long_form_instead(f, pos)
        if fixed is not None:
            return fixed
        if tag <= self.last_tag(f):
            # Neither a VR nor an ascending tag: no element starts here.
            return self.garbage(f, pos, f"no VR, and ({format_tag(tag)}) does not ascend")
        implicit = IMPLICIT_LE if enc.little_endian else None
        node = len(self.t)
        if (
            implicit is not None
            and self.header_fits(pos, implicit, limit)
            and (specdata.lookup(tag) is not None or tag & 0x10000)
        ):
            self.fault(
                "TRANSFER_SYNTAX_MISMATCH",
                pos,
                8,
                node,
                f"({format_tag(tag)}) is encoded Implicit VR (bytes 4-5 {vr!r} are no VR) "
                f"inside an {enc.name} data set",
            )
            length = implicit.u32.unpack_from(self.buf, pos + 4)[0]
            vrc = _implicit_vr(tag)
            return self.finish_element(f, pos, tag, vrc, False, 8, length, stack)
        invalid = f"({format_tag(tag)}) VR bytes {vr!r} are not a VR code of PS3.5 6.2"
        # Guess the header form from the bytes that would be a long form's reserved field.
        if bytes(self.buf[pos + 6 : pos + 8]) == b"\0\0" and pos + 12 <= limit:
            length = enc.u32.unpack_from(self.buf, pos + 8)[0]
            if length == UNDEFINED_LENGTH or pos + 12 + length <= limit:
                self.fault("INVALID_VR", pos + 4, 2, node, invalid)
                return self.finish_element(f, pos, tag, vr_code(vr), True, 12, length, stack)
        length = enc.u16.unpack_from(self.buf, pos + 6)[0]
        if pos + 8 + length <= limit:
            self.fault("INVALID_VR", pos + 4, 2, node, invalid)
            return self.finish_element(f, pos, tag, vr_code(vr), True, 8, length, stack)
        # Neither header form gives a length that fits: not an element with a bad VR, but
        # bytes that are no element at all.
        return self.garbage(f, pos, f"no VR, and no length that fits at {pos:#x}")

    def group_fffe(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        """An item or delimiter met where a data element was expected."""
        enc = f.enc
        group, elem, length = enc.implicit.unpack_from(self.buf, pos)
        tag = group << 16 | elem
        t = self.t
        if tag == ITEM_DELIMITER:
            node = t.add(
                Kind.ITEM_DELIMITER, pos, pos + 8, tag, 0, False, length, pos + 8,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            self.check_delimiter_length(pos, length, node)
            if f.kind == FrameKind.ITEM and not f.defined:
                self.close(f, pos + 8, stack)
            elif f.kind == FrameKind.ITEM:
                self.fault(
                    "DELIMITER_IN_DEFINED_LENGTH", pos, 8, node,
                    "an Item Delimitation Item inside an item of defined length",
                )  # fmt: skip
            else:
                self.fault(
                    "STRAY_DELIMITER", pos, 8, node,
                    "an Item Delimitation Item where no item is open; expected a data element",
                )  # fmt: skip
            return pos + 8
        if tag == SEQUENCE_DELIMITER:
            if (
                f.kind == FrameKind.ITEM
                and not f.defined
                and len(stack) >= 2
                and not stack[-2].defined
            ):
                self.fault(
                    "ITEM_DELIMITER_MISSING",
                    pos,
                    0,
                    f.node,
                    "the item has no Item Delimitation Item before the sequence's delimiter",
                )
                self.close(f, pos, stack)
                return pos
            node = t.add(
                Kind.SEQUENCE_DELIMITER, pos, pos + 8, tag, 0, False, length, pos + 8,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            if f.kind == FrameKind.ITEM:
                self.fault(
                    "DELIMITER_IN_DEFINED_LENGTH", pos, 8, node,
                    "a Sequence Delimitation Item inside an item of defined length",
                )  # fmt: skip
            else:
                self.fault(
                    "STRAY_DELIMITER", pos, 8, node,
                    "a Sequence Delimitation Item where no sequence is open; expected a data "
                    "element",
                )  # fmt: skip
            return pos + 8
        if (
            tag == ITEM
            and f.kind == FrameKind.ITEM
            and not f.defined
            and len(stack) >= 2
            and stack[-2].kind == FrameKind.SEQUENCE
        ):
            # The next item of the same sequence: this one was never closed.
            self.fault(
                "ITEM_DELIMITER_MISSING",
                pos,
                8,
                f.node,
                f"the undefined-length item at {self.t.get(f.node, F_OFFSET):#x} is not closed "
                "by an Item Delimitation Item before the next item starts",
            )
            self.close(f, pos, stack)
            return pos
        if tag == ITEM:
            self.fault(
                "ITEM_OUTSIDE_SEQUENCE",
                pos,
                8,
                len(t),
                "an Item (FFFE,E000) directly inside a data set, not in a sequence; read as one",
            )
            return self.open_item(f, pos, length, stack)
        # Some other FFFE element: no VR in any encoding (PS3.5 7.5); read its length and go on.
        end = pos + 8 + (0 if length == UNDEFINED_LENGTH else length)
        if end > f.end:
            end = f.end
        t.add(
            Kind.ELEMENT, pos, end, tag, 0, False,
            UNDEFINED if length == UNDEFINED_LENGTH else length, pos + 8,
            f.depth, f.node, self.stream,
        )  # fmt: skip
        return max(end, pos + 8)

    def check_delimiter_length(self, pos: int, length: int, node: int) -> None:
        if length != 0:
            self.fault(
                "DELIMITER_NONZERO_LENGTH",
                pos + 4,
                4,
                node,
                f"a delimitation item's length is {length:#010x}, expected 00000000H",
            )

    def open_item(self, f: Frame, pos: int, length: int, stack: list[Frame]) -> int:
        """An item of a sequence, or a fragment of encapsulated pixel data."""
        limit = f.end
        fragments = f.kind == FrameKind.FRAGMENTS
        kind = Kind.FRAGMENT if fragments else Kind.ITEM
        value_offset = pos + 8
        if length == UNDEFINED_LENGTH:
            node = self.t.add(
                kind, pos, limit, ITEM, 0, False, UNDEFINED, value_offset,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            if fragments:
                self.fault(
                    "FRAGMENT_UNDEFINED_LENGTH",
                    pos + 4,
                    4,
                    node,
                    "a pixel data fragment has undefined length (FFFFFFFFH)",
                )
                if node >= 0:
                    self.t.set_end(node, value_offset)
                return value_offset
            self.push(stack, Frame(FrameKind.ITEM, node, limit, False, f.enc, f.depth, f.hidden))
            return value_offset
        end = value_offset + length
        node = len(self.t)
        if end > limit and not self.first_cut(limit):
            end = limit
        if end > limit:
            where = self.container_name(f) if f.defined else "its container"
            if f.defined:
                code = "ITEM_OVERRUNS_SEQUENCE"
            elif limit == self.size:
                code = "FILE_TRUNCATED"
            else:
                code = "VALUE_OVERRUNS_PARENT"
            self.fault(
                code,
                pos + 4,
                4,
                node,
                f"{'fragment' if fragments else 'item'} length {length} runs "
                f"{end - limit} bytes past the end of {where}; cut at {limit:#x}",
            )
            end = limit
        # Past the depth limit nothing is recorded and add() returns -1: the frame must hold
        # that, not the row number the item would have had.
        node = self.t.add(
            kind, pos, end, ITEM, 0, False, length, value_offset, f.depth, f.node, self.stream
        )
        if not fragments:
            self.push(stack, Frame(FrameKind.ITEM, node, end, True, f.enc, f.depth, f.hidden))
            return value_offset
        return end

    def push(self, stack: list[Frame], frame: Frame) -> None:
        inner = frame.depth + (1 if frame.kind == FrameKind.ITEM else 0)
        if inner > self.max_depth and not frame.hidden:
            frame.hidden = True
            if not self.hidden:
                node = frame.node
                self.faults.append(
                    Fault(
                        "NESTING_TOO_DEEP",
                        self.t.get(node, F_OFFSET),
                        8,
                        node,
                        f"nesting deeper than {self.max_depth} levels: the contents of this "
                        "branch are walked but not recorded",
                        self.stream,
                    )
                )
        stack.append(frame)

    def leftover(self, f: Frame, pos: int, stack: list[Frame]) -> None:
        """Fewer bytes than a header before the frame's limit."""
        limit = f.end
        n = limit - pos
        if f.defined:
            code = "SEQUENCE_LENGTH_MISMATCH" if f.kind == FrameKind.SEQUENCE else "TRAILING_BYTES"
            msg = (
                f"{count(n, 'byte')} at the end of a defined-length {_FRAME_NAMES[f.kind]} form "
                "no element; expected the container to end with its last element"
            )
        elif f.kind in (FrameKind.DATASET, FrameKind.META) and self.partial_header(f, pos):
            code = "FILE_TRUNCATED"
            msg = f"the file ends {count(n, 'byte')} into an element header"
        elif f.kind in (FrameKind.DATASET, FrameKind.META):
            code = "TRAILING_BYTES"
            msg = (
                f"{count(n, 'byte')} after the last element form no element; expected the "
                "file to end with its last element"
            )
        else:
            code = "FILE_TRUNCATED"
            msg = f"the file ends {count(n, 'byte')} into a {_FRAME_NAMES[f.kind]} header"
        node = self.trailing(pos, limit, f.depth, f.node)
        if self.first_cut(limit) or not f.defined:
            self.fault(code, pos, n, node, msg)

    def implausible(self, f: Frame, pos: int, tag: int, header: int, explicit: bool) -> bool:
        """Is the element header at ``pos`` one no writer would produce?"""
        if explicit:
            # PS3.5 7.1.2: the reserved bytes of the long form are 0000H.
            return header == 12 and bytes(self.buf[pos + 6 : pos + 8]) != b"\0\0"
        if specdata.lookup(tag) is not None:
            return False
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 0 or element < 0x1000:
            return True  # an unknown standard tag, or a private one in a reserved range
        creator = (group << 16) | (element >> 8)
        t = self.t
        for i in range(len(t) - 1, max(-1, len(t) - 4097), -1):
            if t.get(i, F_PARENT) == f.node and t.get(i, F_TAG) == creator:
                return False
        return True  # a private element whose creator is not in its data set

    def last_tag(self, f: Frame) -> int:
        """The tag of the last element recorded directly in frame ``f`` (-1 if none)."""
        t = self.t
        for i in range(len(t) - 1, -1, -1):
            parent = t.get(i, F_PARENT)
            if parent == f.node and t.get(i, F_KIND) == Kind.ELEMENT:
                return t.get(i, F_TAG)
            if parent < f.node:
                break
        return -1

    def partial_header(self, f: Frame, pos: int) -> bool:
        """Do the (fewer than 8, or 8-11) bytes at ``pos`` start like the next element's header?"""
        n = min(f.end, self.size) - pos
        if n < 4:
            return False
        group, elem = struct.unpack_from("<HH" if f.enc.little_endian else ">HH", self.buf, pos)
        tag = group << 16 | elem
        if group in _GARBAGE_GROUPS or tag <= self.last_tag(f):
            return False
        return not f.enc.explicit_vr or n < 6 or bytes(self.buf[pos + 4 : pos + 6]) in _VALID_VRS

    def garbage(self, f: Frame, pos: int, why: str) -> int:
        """Bytes at ``pos`` that are no element: re-synchronise, or the rest is trailing."""
        limit = f.end
        # From pos + 1: a header one byte off (VL 3 with 4 bytes written) is the common slip.
        nxt = self.resync(pos + 1, limit, f, after_tag=self.last_tag(f), confirm=True)
        stop = limit if nxt is None else nxt
        node = self.trailing(pos, stop, f.depth, f.node)
        # Classify from at most the first MiB: the run may be gigabytes (never copy it whole).
        probe = memoryview(self.buf)[pos : min(stop, pos + _ZERO_PROBE)]
        zeros = not np.frombuffer(probe, dtype=np.uint8).any()
        probe.release()
        if zeros and stop - pos > _ZERO_PROBE:
            what = "byte (the first MiB all zero)"
        else:
            what = "zero byte" if zeros else "byte"
        self.fault(
            "TRAILING_BYTES",
            pos,
            stop - pos,
            node,
            f"{count(stop - pos, what)} at {pos:#x} form no element ({why})"
            + (f"; re-synchronised at {nxt:#x}" if nxt is not None else ""),
        )
        return stop

    def first_cut(self, limit: int) -> bool:
        """Is this the first thing cut short at ``limit``?

        One truncation or one bad length cuts every open container at the same offset; it is
        one fault, reported where it is first met, not once per nesting level.
        """
        key = (self.stream, limit)
        if key in self.cuts:
            return False
        self.cuts.add(key)
        return True

    def close(self, f: Frame, pos: int, stack: list[Frame], *, at_limit: bool = False) -> None:
        """Pop frame ``f`` (the top of ``stack``), which ends at ``pos``.

        ``at_limit``: the walk reached the frame's limit; an undefined-length item or sequence
        that gets there was never closed by its delimiter.
        """
        stack.pop()
        self.t.set_end(f.node, pos)
        if not at_limit or f.defined or f.kind in (FrameKind.DATASET, FrameKind.META):
            return
        if not self.first_cut(f.end):
            return
        if f.end == self.size:
            code = "FILE_TRUNCATED"
        elif f.kind == FrameKind.ITEM:
            code = "ITEM_DELIMITER_MISSING"
        else:
            code = "SEQUENCE_DELIMITER_MISSING"
        what = "item" if f.kind == FrameKind.ITEM else "sequence"
        self.fault(
            code,
            pos,
            0,
            f.node,
            f"the undefined-length {what} at {self.t.get(f.node, F_OFFSET):#x} is not closed "
            f"before the end of {'the file' if f.end == self.size else 'its container'}",
        )


_FRAME_NAMES = {
    FrameKind.DATASET: "data set",
    FrameKind.META: "file meta group",
    FrameKind.ITEM: "item",
    FrameKind.SEQUENCE: "sequence",
    FrameKind.FRAGMENTS: "pixel data",
}


def _u16(raw: np.ndarray, at: np.ndarray, little: bool) -> np.ndarray:
    """The 16-bit words at every offset in ``at`` (vectorised header reads for resync)."""
    a, b = raw[at].astype(np.uint32), raw[at + 1].astype(np.uint32)
    word: np.ndarray = a | (b << 8) if little else (a << 8) | b
    return word


def _vr_str(code: int) -> str:
    return bytes(((code >> 8) & 0xFF, code & 0xFF)).decode("latin-1") if code else "??"


def index_source(
    src: Source,
    *,
    path: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_inflated: int | None = None,
) -> ElementIndex:
    """Index the bytes of ``src``. Never raises on any content."""
    if max_inflated is None:
        max_inflated = max(64 << 20, src.size * DEFAULT_INFLATE_RATIO)
    w = _Walker(src, max_depth, max_inflated)
    w.run()
    w.summarise_unlisted()
    return ElementIndex(
        path=path,
        size=src.size,
        columns=w.t.freeze(),
        faults=w.faults,
        sources=w.sources,
        transfer_syntax=w.ts,
        transfer_syntax_uid=w.ts_uid,
        dataset_encoding=w.dataset_encoding,
        dataset_offset=w.dataset_offset,
        deflated=w.deflated,
    )


def index_file(
    path: str | os.PathLike[str],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_inflated: int | None = None,
) -> ElementIndex:
    """Index the file at ``path`` through a read-only mmap."""
    return index_source(
        Source.open(path), path=os.fspath(path), max_depth=max_depth, max_inflated=max_inflated
    )


def index_bytes(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> ElementIndex:
    return index_source(Source.from_bytes(data), max_depth=max_depth)
