"""What the user has selected in the hex pane, and the units one key selects: the value, the
element, the item or the frame under the cursor. Plain Python over the :class:`Structure`
(no Textual), so it is tested without a screen.

A frame of encapsulated pixel data is not one run of bytes: its fragments' values are
separated by item headers (PS3.5 A.4). The selection spans them all on screen, and its
``pieces`` are the fragments' values alone, so that what is copied or saved is the frame's
codestream as a decoder reads it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from dcmstruct.model import UNDEFINED, Kind, Stream
from dcmstruct.pixeldata import PIXEL_TAGS
from dcmstruct.schema.layout import format_tag
from dcmstruct.tui.pixels import pixel_of
from dcmstruct.tui.structure import Structure

READ = 1 << 20  # bytes read at a time when a selection is copied or saved


class Unit(Enum):
    BYTES = "bytes"
    VALUE = "value"
    ELEMENT = "element"
    ITEM = "item"
    FRAME = "frame"


@dataclass(frozen=True, slots=True)
class Selection:
    """Bytes [start, end) of a stream, as the user selected them; ``pieces`` are the (start,
    stop) runs that make its content (the whole range unless it is an encapsulated frame)."""

    stream: Stream
    start: int
    end: int
    unit: Unit = Unit.BYTES
    what: str = ""
    pieces: tuple[tuple[int, int], ...] = ()
    node: int = -1  # VALUE: the element whose value this is (for copying it decoded)

    @property
    def runs(self) -> tuple[tuple[int, int], ...]:
        return self.pieces or ((self.start, self.end),)

    @property
    def size(self) -> int:
        return sum(b - a for a, b in self.runs)

    def describe(self) -> str:
        """Where and how much first: a narrow status line cuts the end."""
        span = f"{self.start:#x}-{self.end - 1:#x}, {self.size:,} bytes"
        return f"{span}: {self.what}" if self.what else span

    def chunks(self, structure: Structure, limit: int | None = None) -> Iterator[bytes]:
        """The content, a MiB at a time (never the whole of a big frame at once); at most
        ``limit`` bytes. Stops early if the file ends sooner now."""
        left = self.size if limit is None else min(limit, self.size)
        for a, b in self.runs:
            pos = a
            while pos < b and left > 0:
                n = min(READ, b - pos, left)
                data = structure.read(self.stream, pos, n)
                if not data:
                    return
                yield data
                pos += len(data)
                left -= len(data)

    def content(self, structure: Structure, limit: int) -> bytes:
        return b"".join(self.chunks(structure, limit))

    def hides(self, structure: Structure) -> bool:
        """Whether a byte of it is masked (then nothing of it may leave the screen)."""
        return structure.masking and any(structure.hides(self.stream, a, b) for a, b in self.runs)


def byte_range(stream: Stream, anchor: int, cursor: int) -> Selection:
    """The bytes from ``anchor`` to ``cursor``, both included, in either order."""
    return Selection(stream, min(anchor, cursor), max(anchor, cursor) + 1)


def _label(structure: Structure, node: int) -> str:
    c = structure.index.columns
    kind = Kind(int(c.kind[node]))
    if kind == Kind.ELEMENT:
        tag = int(c.tag[node])
        keyword = structure.index.node(node).keyword or ""
        path = structure.path(node) if int(c.depth[node]) else f"({format_tag(tag)})"
        return f"{path} {keyword}".rstrip()
    return structure.path(node)


def _enclosing(structure: Structure, node: int, kinds: tuple[Kind, ...]) -> int:
    while node >= 0 and Kind(int(structure.kind[node])) not in kinds:
        node = int(structure.parent[node])
    return node


def units_at(structure: Structure, stream: Stream, offset: int) -> list[Selection]:
    """The value, element, item and frame holding byte ``offset``, innermost first; each only
    where there is one."""
    node = structure.innermost(stream, offset)
    if node < 0:
        return []
    c = structure.index.columns
    out: list[Selection] = []
    holder = _enclosing(structure, node, (Kind.ELEMENT, Kind.FRAGMENT))
    if holder >= 0:
        start = int(c.value_offset[holder])
        end = int(c.end[holder])
        if start >= 0 and int(c.length[holder]) != UNDEFINED and end > start:
            what = f"value of {_label(structure, holder)}"
            out.append(Selection(stream, start, end, Unit.VALUE, what, node=holder))
    element = _enclosing(structure, node, (Kind.ELEMENT,))
    if element >= 0:
        what = f"element {_label(structure, element)}"
        out.append(
            Selection(stream, int(c.offset[element]), int(c.end[element]), Unit.ELEMENT, what)
        )
    item = _enclosing(structure, node, (Kind.ITEM, Kind.FRAGMENT))
    if item >= 0:
        what = f"item {structure.path(item)}"
        out.append(Selection(stream, int(c.offset[item]), int(c.end[item]), Unit.ITEM, what))
    frame = _frame(structure, stream, node, offset)
    if frame is not None:
        out.append(frame)
    return out


def _frame(structure: Structure, stream: Stream, node: int, offset: int) -> Selection | None:
    """The frame of pixel data holding byte ``offset``, if the pixel data says which it is."""
    c = structure.index.columns
    pixel = node
    while pixel >= 0 and not (
        int(c.kind[pixel]) == Kind.ELEMENT and int(c.tag[pixel]) in PIXEL_TAGS
    ):
        pixel = int(c.parent[pixel])
    if pixel < 0:
        return None
    pd = pixel_of(structure, pixel)
    name = f"({format_tag(int(c.tag[pixel]))})"
    enc = pd.encapsulation
    if enc is None:
        layout = pd.native
        value = int(c.value_offset[pixel])
        if layout is None or value < 0 or layout.frame_bits % 8:
            return None  # frames that start inside a byte (1 bit) are no byte range
        per_frame = layout.frame_bits // 8
        k = (offset - value) // per_frame if offset >= value else -1
        if not 0 <= k < layout.frames:
            return None
        start = value + k * per_frame
        end = min(start + per_frame, int(c.end[pixel]))
        return Selection(stream, start, end, Unit.FRAME, f"frame {k + 1} of {name}")
    fmap = pd.frame_map()
    if not len(fmap) or node == pixel:
        return None
    # Fragments are listed in walk order, so by node number: found by bisection.
    fragment = _enclosing(structure, node, (Kind.FRAGMENT,))
    position = bisect.bisect_left(enc.fragments, fragment)
    if position >= len(enc.fragments) or enc.fragments[position] != fragment:
        return None  # the Basic Offset Table, or no fragment
    frame = fmap.frame_holding(position)
    if frame is None:
        return None
    parts = fmap.fragments_of(frame)
    frags = enc.fragments[parts.start : parts.stop]
    pieces = tuple(
        (int(c.value_offset[f]), int(c.end[f])) for f in frags if int(c.value_offset[f]) >= 0
    )
    if not pieces:
        return None
    start, end = int(c.offset[frags[0]]), int(c.end[frags[-1]])
    what = f"frame {frame + 1} of {name}, {len(frags)} fragment(s)"
    return Selection(stream, start, end, Unit.FRAME, what, pieces)


def next_unit(units: list[Selection], current: Selection | None) -> Selection | None:
    """The unit after ``current`` (the first if ``current`` is none of them)."""
    if not units:
        return None
    for k, unit in enumerate(units):
        if current is not None and (unit.start, unit.end, unit.unit) == (
            current.start,
            current.end,
            current.unit,
        ):
            return units[(k + 1) % len(units)]
    return units[0]
