"""What every part of the walker shares: the open containers, the stream, the rows, the faults,
and the small header reads that the walk, recovery and container detection all make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dcmstruct import specdata
from dcmstruct.index.faults import FaultCode, FaultLog
from dcmstruct.index.table import NodeLimit, Table
from dcmstruct.index.window import Window
from dcmstruct.model import NO_TAG, Kind, Stream, vr_code
from dcmstruct.safetext import safe_bytes
from dcmstruct.schema.layout import (
    HEADER,
    IMPLICIT_HEADER,
    IMPLICIT_LENGTH_AT,
    LONG_HEADER,
    LONG_LENGTH_AT,
    LONG_LENGTH_VRS,
    SHORT_HEADER,
    SHORT_LENGTH_AT,
    TAG_SIZE,
    UNDEFINED_LENGTH,
    VR_AT,
    Encoding,
    guess_encoding,
)
from dcmstruct.source import Source
from dcmstruct.wording import count

VALID_VRS: frozenset[bytes] = frozenset(v.encode("ascii") for v in specdata.VR_CODES)
VR_CODES: dict[bytes, int] = {vr: vr_code(vr) for vr in VALID_VRS}
UN = vr_code("UN")
OW = vr_code("OW")
SQ = vr_code("SQ")


# Beyond any offset: a walk with no pause (Walker.walk), a container with no end yet (bulk).
NO_PAUSE = 1 << 62


class FrameKind:
    DATASET = 0  # the top-level data set
    META = 1  # the file meta group: ends at the first tag of another group
    ITEM = 2
    SEQUENCE = 3
    FRAGMENTS = 4  # encapsulated pixel data (PS3.5 A.4)


FRAME_NAMES = {
    FrameKind.DATASET: "data set",
    FrameKind.META: "file meta group",
    FrameKind.ITEM: "item",
    FrameKind.SEQUENCE: "sequence",
    FrameKind.FRAGMENTS: "pixel data",
}


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
    setup: tuple[Any, ...] | None = None  # the walk's per-frame locals (walker.Walker.walk)


_IMPLICIT_VR_CACHE: dict[int, int] = {}


def implicit_vr(tag: int) -> int:
    """The VR an implicit VR reader assumes for ``tag`` (PS3.5 A.1), packed; UN if unknown."""
    vrc = _IMPLICIT_VR_CACHE.get(tag)
    if vrc is None:
        vr = specdata.implicit_vr(tag)
        vrc = _IMPLICIT_VR_CACHE[tag] = UN if vr is None else vr_code(vr)
    return vrc


def vr_str(code: int) -> str:
    """A packed VR as text for a message: escaped, since an invalid VR may be any two bytes."""
    return safe_bytes(bytes(((code >> 8) & 0xFF, code & 0xFF))) if code else "??"


class WalkerBase:
    """State and shared reads; the walk, recovery and container parts build on it."""

    def __init__(self, src: Source, max_depth: int, max_inflated: int, max_nodes: int) -> None:
        self.src = src
        self.win = Window(src)
        self.size = src.size
        self.max_depth = max_depth
        self.max_inflated = max_inflated
        self.t = Table(max_nodes)
        self.log = FaultLog()
        self.stream = Stream.FILE
        self.sources: dict[Stream, Source] = {Stream.FILE: src}
        self.ts: specdata.TransferSyntax | None = None
        self.ts_uid: str | None = None
        self.dataset_encoding: Encoding | None = None
        self.dataset_offset: int | None = None
        self.deflated = False
        self.hidden = False

    # -- recording -------------------------------------------------------------------------

    def fault(self, code: FaultCode, offset: int, length: int, node: int, message: str) -> None:
        if not self.hidden:
            self.log.add(code, offset, length, node, message, self.stream)

    def stop_at_limit(self, stop: NodeLimit) -> None:
        """The table is full (or memory ran out): the walk ended at ``stop.offset``."""
        stream = Stream(stop.stream)
        size = self.sources[stream].size if stream in self.sources else self.size
        rest = max(0, size - stop.offset)
        why = (
            "memory ran out" if stop.memory else f"the index holds its limit of {stop.nodes} nodes"
        )
        self.log.add(
            FaultCode.NODE_LIMIT_EXCEEDED,
            stop.offset,
            rest,
            -1,
            f"{why} (about 61 bytes each; raise it with --max-nodes): the {count(rest, 'byte')} "
            f"from here on {'is' if rest == 1 else 'are'} not indexed or checked",
            stream,
        )

    def first_cut(self, limit: int) -> bool:
        return self.log.first_cut(self.stream, limit)

    def trailing(self, start: int, end: int, depth: int, parent: int) -> int:
        return self.t.add(
            Kind.TRAILING, start, end, NO_TAG, 0, False, -2, -1, depth, parent, self.stream
        )

    def last_tag(self, f: Frame) -> int:
        """The tag of the last element recorded directly in frame ``f`` (-1 if none)."""
        t = self.t
        for i in range(len(t) - 1, -1, -1):
            parent = t.parent(i)
            if parent == f.node and t.kind(i) == Kind.ELEMENT:
                return t.tag(i)
            if parent < f.node:
                break
        return -1

    # -- small reads -----------------------------------------------------------------------

    def header_fits(self, pos: int, enc: Encoding, limit: int) -> bool:
        """Does an element header of encoding ``enc`` at ``pos`` have a VR and length that fit?"""
        if pos + HEADER > limit:
            return False
        win = self.win
        if enc.explicit_vr:
            vr = win.get(pos + VR_AT, 2)
            if vr not in VALID_VRS:
                return False
            if vr in LONG_LENGTH_VRS:
                if pos + LONG_HEADER > limit:
                    return False
                length = win.unpack(enc.u32, pos + LONG_LENGTH_AT)[0]
                return bool(length == UNDEFINED_LENGTH or pos + LONG_HEADER + length <= limit)
            short = win.unpack(enc.u16, pos + SHORT_LENGTH_AT)[0]
            return bool(pos + SHORT_HEADER + short <= limit)
        length = win.unpack(enc.u32, pos + IMPLICIT_LENGTH_AT)[0]
        return bool(length == UNDEFINED_LENGTH or pos + IMPLICIT_HEADER + length <= limit)

    def peek_tag(self, pos: int, enc: Encoding, limit: int) -> int | None:
        if pos + TAG_SIZE > limit:
            return None
        group, elem = self.win.unpack(enc.tag, pos)
        return int(group << 16 | elem)

    def element_end(self, pos: int, enc: Encoding) -> int | None:
        """Where the element whose header is at ``pos`` ends, if its length is defined."""
        win = self.win
        if enc.explicit_vr:
            if win.get(pos + VR_AT, 2) in LONG_LENGTH_VRS:
                length = win.unpack(enc.u32, pos + LONG_LENGTH_AT)[0]
                return None if length == UNDEFINED_LENGTH else pos + LONG_HEADER + int(length)
            return pos + SHORT_HEADER + int(win.unpack(enc.u16, pos + SHORT_LENGTH_AT)[0])
        length = win.unpack(enc.u32, pos + IMPLICIT_LENGTH_AT)[0]
        return None if length == UNDEFINED_LENGTH else pos + IMPLICIT_HEADER + int(length)

    def detect(self, pos: int, limit: int) -> Encoding | None:
        """The encoding whose reading of the first element at ``pos`` is plausible."""
        if pos + HEADER > limit:
            return None
        enc = guess_encoding(self.win.get(pos, HEADER))
        return enc if enc is not None and self.header_fits(pos, enc, limit) else None

    def container_name(self, f: Frame) -> str:
        if f.kind == FrameKind.ITEM:
            return "its item"
        if f.kind in (FrameKind.SEQUENCE, FrameKind.FRAGMENTS):
            return "its sequence"
        return "the file" if self.stream == Stream.FILE else "the inflated data set"

    def walk_deflated(self, pos: int) -> None:
        raise NotImplementedError

    # -- parts defined by the walk (declared here so recovery and detection can call them) ---

    def walk(self, pos: int, stack: list[Frame], pause: int = NO_PAUSE) -> int:
        raise NotImplementedError

    def walk_dataset(self, pos: int, enc: Encoding) -> None:
        raise NotImplementedError

    def element(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        raise NotImplementedError

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
        raise NotImplementedError
