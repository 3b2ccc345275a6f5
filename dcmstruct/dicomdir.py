"""The logical tree of a DICOMDIR: Patient / Study / Series / Image records (PS3.3 F.3, F.5),
found by following the record offsets, and the files they reference (PS3.10 8.2, 8.6).

A DICOMDIR is the file of the Media Storage Directory SOP Class (1.2.840.10008.1.3.10). Its
records are the items of the Directory Record Sequence (0004,1220), but their order there
means nothing: (0004,1200) names the first record of the root directory entity, each record's
(0004,1400) Offset of the Next Directory Record the next record of the same entity, and its
(0004,1420) Offset of Referenced Lower-Level Directory Entity the first record of the entity
below it. Each offset counts bytes from the first byte of the file (preamble included) to the
record item's tag; 0 means none (PS3.3 F.3.2.1, Table F.3-3).

The walk reads the three link values of each record it reaches and nothing else; keys and
file IDs are read when a record is shown. A fault (an offset that points past the end of the
file, into a record, between records, back to a record already reached) becomes a
:class:`Note` where it was met, with the offsets, never an exception; each record is visited
once, so a loop ends. Records that no offset leads to are listed apart, in file order.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import member
from dcmstruct.index import ElementIndex
from dcmstruct.model import Kind, Stream
from dcmstruct.schema.layout import format_tag
from dcmstruct.values import first_int, little_endian

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
MEDIA_STORAGE_SOP_CLASS = 0x00020002
ROOT_FIRST = 0x00041200
ROOT_LAST = 0x00041202
RECORD_SEQUENCE = 0x00041220
NEXT_RECORD = 0x00041400
IN_USE = 0x00041410
LOWER_LEVEL = 0x00041420
RECORD_TYPE = 0x00041430
FILE_ID = 0x00041500

# The keys that tell records of a type apart (PS3.3 F.5: Table F.5-1 Patient, F.5-2 Study,
# F.5-3 Series, F.5-4 Image), most telling first; other types show their instance.
KEYS: dict[str, tuple[str, ...]] = {
    "PATIENT": ("PatientID", "PatientName"),
    "STUDY": ("StudyDate", "StudyID", "StudyDescription", "StudyInstanceUID"),
    "SERIES": ("Modality", "SeriesNumber", "SeriesInstanceUID"),
    "IMAGE": ("InstanceNumber", "ReferencedSOPInstanceUIDInFile"),
}
OTHER_KEYS = ("InstanceNumber", "ReferencedSOPInstanceUIDInFile")
MASKED = "<masked>"
_VALUE_BYTES = 256  # a key is shown on one line: never read more of it
_SHOWN = 40  # characters of a key value shown

_LINKS = {
    ROOT_FIRST: "first record of the root",
    NEXT_RECORD: "next record",
    LOWER_LEVEL: "first lower-level record",
}


@dataclass
class Note:
    """Something wrong in the directory, where it was met: ``offset`` is the byte to look at
    (the value of the offset that points nowhere, or the record concerned)."""

    offset: int
    text: str


@dataclass
class Record:
    """A directory record: item node ``node`` of the Directory Record Sequence, starting at
    ``offset``, and the entity below it (records, and notes met following it)."""

    node: int
    offset: int
    children: list[Record | Note] = field(default_factory=list)


@dataclass
class Directory:
    """The root entity (records and notes in chain order), the records no offset reaches
    (file order), and notes about the directory as a whole."""

    entries: list[Record | Note]
    unreached: list[Record]
    notes: list[Note]
    sequence: int  # the Directory Record Sequence's node


def _top(index: ElementIndex, tag: int) -> int | None:
    c = index.columns
    kids = index.children(-1, array=True)
    rows = kids[(c.tag[kids] == tag) & (c.kind[kids] == Kind.ELEMENT)]
    return int(rows[0]) if len(rows) else None


def element(index: ElementIndex, item: int, tag: int) -> int | None:
    """The first element ``tag`` directly in ``item``."""
    c = index.columns
    kids = index.children(item, array=True)
    rows = kids[(c.tag[kids] == tag) & (c.kind[kids] == Kind.ELEMENT)]
    return int(rows[0]) if len(rows) else None


def text_value(index: ElementIndex, node: int) -> str:
    """A string value without its padding, as read (not yet safe to print)."""
    raw = index.value_bytes(node, _VALUE_BYTES) or b""
    return raw.decode("latin-1").strip(" \0")


def is_directory(index: ElementIndex) -> bool:
    """Is this a DICOMDIR: (0002,0002) says Media Storage Directory Storage, or the data set
    holds a Directory Record Sequence?"""
    sop = _top(index, MEDIA_STORAGE_SOP_CLASS)
    if sop is not None and text_value(index, sop) == MEDIA_STORAGE_DIRECTORY:
        return True
    return _top(index, RECORD_SEQUENCE) is not None


def _link(index: ElementIndex, node: int | None) -> int:
    """The offset element ``node`` holds (0: none, or no value to read)."""
    if node is None:
        return 0
    return first_int(index, node, 4) or 0


class _Walk:
    """Resolves offsets to records; remembers which records were reached.

    The link values of all records are read at once (column operations and one gathered
    read), so a directory of 100,000 images opens without a pause."""

    def __init__(self, index: ElementIndex, sequence: int) -> None:
        c = index.columns
        self.index = index
        kids = index.children(sequence, array=True)
        items = kids[c.kind[kids] == Kind.ITEM]
        self.records = items.tolist()
        self.starts = c.offset[items].tolist()  # ascending: items are in file order
        self.at = dict(zip(self.starts, self.records, strict=True))
        self.seen: set[int] = set()
        # record -> {link tag: (its element node, value)}; the first of each tag counts.
        self.links: dict[int, dict[int, tuple[int, int]]] = {}
        rows = np.flatnonzero(
            (c.kind == Kind.ELEMENT)
            & ((c.tag == NEXT_RECORD) | (c.tag == LOWER_LEVEL))
            & member(c.parent, self.records)
        )
        at = c.value_offset[rows]
        rows = rows[(at >= 0) & (c.end[rows] - at >= 4)]  # a value of 4 bytes to read
        if len(rows):
            raw = index.gather(c.stream[rows], c.value_offset[rows], 4)
            order = "<u4" if little_endian(index, int(rows[0])) else ">u4"
            values = raw.copy().view(order).ravel().tolist()
            for node, parent, tag, value in zip(
                rows.tolist(), c.parent[rows].tolist(), c.tag[rows].tolist(), values, strict=True
            ):
                self.links.setdefault(parent, {}).setdefault(tag, (node, value))

    def link(self, record: int, tag: int) -> tuple[int | None, int]:
        """The record's ``tag`` element and its value (None, 0: it has none)."""
        return self.links.get(record, {}).get(tag, (None, 0))

    def _miss(self, value: int) -> str:
        size = self.index.size
        if value >= size:
            return f"past the end of the file ({size:,} bytes)"
        k = bisect.bisect_right(self.starts, value) - 1
        if k >= 0:
            record = self.records[k]
            start = self.starts[k]
            if value < int(self.index.columns.end[record]):
                return f"{value - start} bytes into the record at {start:#x}"
        if not self.starts:
            return "the Directory Record Sequence holds no record"
        near = min(self.starts, key=lambda s: abs(s - value))
        return f"no record starts there (the nearest at {near:#x})"

    def follow(self, node: int | None, tag: int, value: int) -> tuple[int | None, Note | None]:
        """The record the offset element ``node`` (holding ``value``) points at, or a note why
        it points at none (no note for 0, "none")."""
        if node is None or value == 0:
            return None, None
        c = self.index.columns
        where = int(c.value_offset[node])
        said = f"({format_tag(tag)}) {_LINKS.get(tag, '')} at {where:#x} is {value:#x}"
        record = self.at.get(value)
        if record is None:
            return None, Note(where, f"{said}: {self._miss(value)}")
        if record in self.seen:
            return None, Note(
                where,
                f"{said}: that record is in the tree already (a loop, or shared): not followed",
            )
        return record, None


def read_directory(index: ElementIndex) -> Directory | None:
    """The DICOMDIR's record tree; None if there is no Directory Record Sequence at the top
    level. Never raises on content: faults become notes."""
    sequence = _top(index, RECORD_SEQUENCE)
    if sequence is None:
        return None
    c = index.columns
    walk = _Walk(index, sequence)
    notes: list[Note] = []
    entries: list[Record | Note] = []
    if int(c.stream[sequence]) != Stream.FILE:
        notes.append(
            Note(
                int(c.offset[sequence]),
                "the data set is deflated: record offsets count bytes of the file and cannot "
                "be followed; the records are listed in file order",
            )
        )
        return _finish(walk, entries, notes, sequence)
    first = _top(index, ROOT_FIRST)
    if first is None:
        notes.append(Note(int(c.offset[sequence]), "no (0004,1200): the root entity is unknown"))
    # Each chain of an entity is walked in a loop; the entities below wait on a stack, so
    # neither the depth of the tree nor a hostile file can exhaust the Python stack.
    pending: list[tuple[int | None, int, int, list[Record | Note]]] = [
        (first, ROOT_FIRST, _link(index, first), entries)
    ]
    last_of_root: int | None = None
    while pending:
        link, tag, value, into = pending.pop()
        record, note = walk.follow(link, tag, value)
        while True:
            if note is not None:
                into.append(note)
            if record is None:
                break
            walk.seen.add(record)
            entry = Record(record, int(c.offset[record]))
            into.append(entry)
            if into is entries:
                last_of_root = record
            lower, below = walk.link(record, LOWER_LEVEL)
            if lower is not None:
                pending.append((lower, LOWER_LEVEL, below, entry.children))
            after, value = walk.link(record, NEXT_RECORD)
            record, note = walk.follow(after, NEXT_RECORD, value)
    last = _top(index, ROOT_LAST)
    value = _link(index, last)
    if last is not None and value and last_of_root is not None:
        end = int(c.offset[last_of_root])
        if value != end:
            notes.append(
                Note(
                    int(c.value_offset[last]),
                    f"(0004,1202) last record of the root is {value:#x}, but the root's chain "
                    f"ends at the record at {end:#x}",
                )
            )
    return _finish(walk, entries, notes, sequence)


def _finish(
    walk: _Walk, entries: list[Record | Note], notes: list[Note], sequence: int
) -> Directory:
    c = walk.index.columns
    unreached = [Record(r, int(c.offset[r])) for r in walk.records if r not in walk.seen]
    return Directory(entries, unreached, notes, sequence)


# -- what a record says -------------------------------------------------------------------------


def record_type(index: ElementIndex, record: int) -> str:
    """(0004,1430) Directory Record Type ("" if absent), as read."""
    node = element(index, record, RECORD_TYPE)
    return "" if node is None else text_value(index, node)


def in_use(index: ElementIndex, record: int) -> bool:
    """(0004,1410) Record In-use Flag: 0000H is an inactive record (retired; absent: in use)."""
    node = element(index, record, IN_USE)
    return node is None or first_int(index, node, 2) != 0


def record_keys(
    index: ElementIndex, record: int, hidden: Callable[[int], bool]
) -> list[tuple[str, str]]:
    """(keyword, value) of the record's keys that are present: values cut to one line, and
    :data:`MASKED` for a value ``hidden`` says the privacy mask hides (not yet safe to print)."""
    keys = KEYS.get(record_type(index, record).upper(), OTHER_KEYS)
    out: list[tuple[str, str]] = []
    for keyword in keys:
        tag = specdata.tag_for_keyword(keyword)
        node = None if tag is None else element(index, record, tag)
        if node is None:
            continue
        value = MASKED if hidden(node) else text_value(index, node)
        if len(value) > _SHOWN:
            value = value[: _SHOWN - 1] + "…"
        out.append((keyword, value))
    return out


def file_id(index: ElementIndex, record: int) -> tuple[int, list[str]] | None:
    """The record's (0004,1500) Referenced File ID: its node and its components (PS3.10 8.2:
    a path relative to the DICOMDIR's directory, one value per directory level)."""
    node = element(index, record, FILE_ID)
    if node is None:
        return None
    return node, [part.strip(" \0") for part in text_value(index, node).split("\\")]


def _safe(part: str) -> bool:
    """A component that names an entry of one directory: no separator, no way up."""
    return bool(part) and part not in (".", "..") and not any(ch in part for ch in "/\\\0")


def locate(base: Path, parts: list[str]) -> Path | None:
    """The file the File ID ``parts`` names below ``base`` (the DICOMDIR's directory), if
    there is one: each component as written, else the one entry whose name matches it in
    any case (media copied to a case-sensitive file system often changes the case). None
    for a component that could leave ``base``."""
    if not parts or not all(_safe(p) for p in parts):
        return None
    here = base
    for part in parts:
        exact = here / part
        if exact.exists():
            here = exact
            continue
        try:
            with os.scandir(here) as entries:
                matches = [e.name for e in entries if e.name.casefold() == part.casefold()]
        except OSError:
            return None
        if len(matches) != 1:
            return None
        here = here / matches[0]
    return here if here.is_file() else None
