"""Values that are offsets into the file, and where they point.

- Basic Offset Table (PS3.5 A.4): the first item of encapsulated Pixel Data holds 32-bit
  offsets, one per frame, counted from the first byte of the first fragment item after the
  Basic Offset Table, to the item tag of the frame's first fragment. Whether the first item
  is the table is :mod:`dcmstruct.pixeldata`'s decision (the validator's too): one that starts
  like a compressed frame is a fragment, and holds no offsets.
- Extended Offset Table (7FE0,0001) (PS3.3 C.7.6.3.1.8): 64-bit offsets counted the same way.
- DICOMDIR (PS3.3 F.3.2.1, Table F.3-3): (0004,1200), (0004,1202), (0004,1400), (0004,1420)
  are 32-bit offsets counted from the first byte of the file, preamble included, to a
  directory record's item tag (as ``validate/rules/dicomdir.py`` reads them).

The entry pointed to is the one under the cursor when the cursor is in the table's value,
else the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcmstruct.model import Kind, Stream
from dcmstruct.pixeldata import EXTENDED_OFFSET_TABLE
from dcmstruct.schema.layout import PIXEL_DATA
from dcmstruct.tui.pixels import first_item_is_table, pixel_of
from dcmstruct.tui.structure import Structure
from dcmstruct.values import little_endian

DICOMDIR_OFFSETS = {
    0x00041200: "first record of the root directory entity",
    0x00041202: "last record of the root directory entity",
    0x00041400: "next directory record",
    0x00041420: "first record of the lower-level entity",
}


@dataclass(frozen=True, slots=True)
class Pointer:
    """Entry ``entry`` of the table in node ``node`` holds ``value``; it points at byte
    ``target`` of ``stream`` (None: nowhere, ``problem`` says why)."""

    node: int
    entry: int
    count: int
    value: int
    stream: Stream
    target: int | None
    what: str  # "frame 3 (Basic Offset Table)", "next directory record"
    problem: str = ""


def _entry(structure: Structure, node: int, cursor: int, size: int) -> tuple[int, int]:
    """(entry under the cursor, number of entries) of a table of ``size``-byte values."""
    c = structure.index.columns
    start = int(c.value_offset[node])
    count = max(0, int(c.end[node]) - start) // size
    k = (cursor - start) // size if start <= cursor < start + count * size else 0
    return k, count


def _read(structure: Structure, node: int, entry: int, size: int) -> int | None:
    c = structure.index.columns
    a = int(c.value_offset[node]) + entry * size
    if a < 0 or a + size > int(c.end[node]):
        return None
    raw = structure.read(Stream(int(c.stream[node])), a, size)
    if len(raw) < size:
        return None  # the file no longer holds it
    return int.from_bytes(raw, "little" if little_endian(structure.index, node) else "big")


def _base_pointer(
    structure: Structure, node: int, entry: int, count: int, value: int, pixel: int, what: str
) -> Pointer:
    c = structure.index.columns
    stream = Stream(int(c.stream[node]))
    enc = pixel_of(structure, pixel).encapsulation
    base = None if enc is None else enc.base
    if base is None:
        return Pointer(node, entry, count, value, stream, None, what, "no fragment follows")
    target = base + value
    problem = ""
    if target >= int(c.end[pixel]):
        problem = f"past the end of the Pixel Data ({int(c.end[pixel]):#x})"
    else:
        at = structure.innermost(stream, target)
        if at < 0 or int(c.offset[at]) != target or int(c.kind[at]) != Kind.FRAGMENT:
            problem = "no fragment item starts there"
    return Pointer(node, entry, count, value, stream, target, what, problem)


def pointer_at(structure: Structure, node: int, cursor: int) -> Pointer | None:
    """The offset value at ``cursor`` in node ``node`` (or the node's first one), if the node
    is an offset table or a DICOMDIR offset."""
    if node < 0:
        return None
    c = structure.index.columns
    kind = int(c.kind[node])
    tag = int(c.tag[node])
    if int(c.value_offset[node]) < 0 or int(c.length[node]) < 0:
        return None
    if kind == Kind.FRAGMENT:
        parent = int(c.parent[node])
        if parent < 0 or int(c.tag[parent]) != PIXEL_DATA:
            return None
        if not first_item_is_table(structure, node):
            return None  # a fragment of image data, not the Basic Offset Table
        entry, count = _entry(structure, node, cursor, 4)
        if count == 0:
            return None
        value = _read(structure, node, entry, 4)
        if value is None:
            return None
        what = f"frame {entry + 1} of {count} (Basic Offset Table)"
        return _base_pointer(structure, node, entry, count, value, parent, what)
    if kind != Kind.ELEMENT:
        return None
    if tag == EXTENDED_OFFSET_TABLE:
        entry, count = _entry(structure, node, cursor, 8)
        if count == 0:
            return None
        value = _read(structure, node, entry, 8)
        if value is None:
            return None
        parent = int(c.parent[node])
        siblings = structure.children(parent)
        pixels = siblings[(c.tag[siblings] == PIXEL_DATA) & (c.kind[siblings] == Kind.ELEMENT)]
        what = f"frame {entry + 1} of {count} (Extended Offset Table)"
        stream = Stream(int(c.stream[node]))
        if not len(pixels):
            return Pointer(node, entry, count, value, stream, None, what, "no Pixel Data here")
        return _base_pointer(structure, node, entry, count, value, int(pixels[0]), what)
    if tag in DICOMDIR_OFFSETS:
        value = _read(structure, node, 0, 4)
        if value is None:
            return None
        stream = Stream(int(c.stream[node]))
        what = DICOMDIR_OFFSETS[tag]
        if stream != Stream.FILE:
            return Pointer(node, 0, 1, value, stream, None, what, "counts in the deflated file")
        if value == 0:
            return Pointer(node, 0, 1, value, stream, None, what, "0: there is none")
        problem = ""
        if value >= structure.index.size:
            problem = f"past the end of the file ({structure.index.size:,} bytes)"
        else:
            at = structure.innermost(Stream.FILE, value)
            if at < 0 or int(c.offset[at]) != value or int(c.kind[at]) != Kind.ITEM:
                problem = "no directory record (item) starts there"
        return Pointer(node, 0, 1, value, stream, value, what, problem)
    return None
