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
import numpy.typing as npt

from dcmstruct import specdata
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
I64 = npt.NDArray[np.int64]
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


NONE = -1  # a link's target: the link is absent or 0
MISSING = -2  # a link's target: no record starts at its value


@dataclass
class _Links:
    """One link tag of every record, by the record's position in file order: its element
    node (-1: none), the value it holds, and the position of the record that starts there
    (or :data:`NONE`, :data:`MISSING`)."""

    node: list[int]
    value: list[int]
    target: list[int]


class _Walk:
    """Resolves offsets to records; remembers which records were reached.

    The link values of all records are read at once (column operations and one gathered
    read) and turned into record positions the same way, so the walk itself is a loop over
    lists: a directory of 200,000 images is walked in a tenth of a second or so."""

    def __init__(self, index: ElementIndex, sequence: int) -> None:
        c = index.columns
        self.index = index
        kids = index.children(sequence, array=True)
        items = kids[c.kind[kids] == Kind.ITEM]
        self.records = items.tolist()
        self.offsets = c.offset[items]  # ascending: items are in file order
        self.starts = self.offsets.tolist()
        self.seen = bytearray(len(self.records))  # by position
        rows = np.flatnonzero(
            (c.kind == Kind.ELEMENT) & ((c.tag == NEXT_RECORD) | (c.tag == LOWER_LEVEL))
        )
        # Node numbers grow in file order, so an item's position is where its number sorts.
        positions = np.searchsorted(items, c.parent[rows])
        if len(items):
            in_record = items[np.minimum(positions, len(items) - 1)] == c.parent[rows]
        else:
            in_record = np.zeros(len(rows), dtype=np.bool_)
        at = c.value_offset[rows]
        keep = in_record & (at >= 0) & (c.end[rows] - at >= 4)  # a value of 4 bytes to read
        rows, positions = rows[keep], positions[keep]
        values = np.zeros(len(rows), dtype=np.int64)
        if len(rows):
            raw = index.gather(c.stream[rows], c.value_offset[rows], 4)
            order = "<u4" if little_endian(index, int(rows[0])) else ">u4"
            values = raw.copy().view(order).ravel().astype(np.int64)
        self.links = {
            tag: self._links(rows, values, positions, c.tag[rows] == tag)
            for tag in (NEXT_RECORD, LOWER_LEVEL)
        }

    def _links(
        self, rows: I64, values: I64, positions: I64, of_tag: npt.NDArray[np.bool_]
    ) -> _Links:
        n = len(self.records)
        node = np.full(n, -1, dtype=np.int64)
        value = np.zeros(n, dtype=np.int64)
        rows, values, positions = rows[of_tag], values[of_tag], positions[of_tag]
        # The first of each tag in a record counts: keep the first row of each position.
        order = np.argsort(positions, kind="stable")
        rows, values, positions = rows[order], values[order], positions[order]
        first = np.ones(len(rows), dtype=np.bool_)
        first[1:] = positions[1:] != positions[:-1]
        node[positions[first]] = rows[first]
        value[positions[first]] = values[first]
        return _Links(node.tolist(), value.tolist(), self.targets(node, value).tolist())

    def targets(self, node: I64, value: I64) -> I64:
        """The position of the record each ``value`` points at, :data:`NONE` or
        :data:`MISSING`."""
        n = len(self.records)
        at = np.minimum(np.searchsorted(self.offsets, value), max(n - 1, 0))
        hit = (self.offsets[at] == value) if n else np.zeros(len(value), dtype=np.bool_)
        out: I64 = np.where(hit, at, MISSING)
        out[(node < 0) | (value == 0)] = NONE
        return out

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

    def note(self, node: int, tag: int, value: int, target: int) -> Note:
        """Why the offset element ``node`` (holding ``value``) leads to no new record."""
        where = int(self.index.columns.value_offset[node])
        said = f"({format_tag(tag)}) {_LINKS.get(tag, '')} at {where:#x} is {value:#x}"
        if target == MISSING:
            return Note(where, f"{said}: {self._miss(value)}")
        return Note(
            where, f"{said}: that record is in the tree already (a loop, or shared): not followed"
        )


def record_count(index: ElementIndex) -> int:
    """How many items the top-level Directory Record Sequence holds (0: none, or no
    sequence): what :func:`read_directory` will walk."""
    sequence = _top(index, RECORD_SEQUENCE)
    if sequence is None:
        return 0
    kids = index.children(sequence, array=True)
    return int(np.count_nonzero(index.columns.kind[kids] == Kind.ITEM))


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
    root = -1 if first is None else first
    root_value = _link(index, first)
    root_target = int(walk.targets(np.array([root]), np.array([root_value]))[0])
    # Each chain of an entity is walked in a loop; the entities below wait on a stack, so
    # neither the depth of the tree nor a hostile file can exhaust the Python stack.
    pending: list[tuple[int, int, int, int, list[Record | Note]]] = [
        (root, ROOT_FIRST, root_value, root_target, entries)
    ]
    seen, records, starts = walk.seen, walk.records, walk.starts
    after, below = walk.links[NEXT_RECORD], walk.links[LOWER_LEVEL]
    last_of_root: int | None = None
    while pending:
        link, tag, value, target, into = pending.pop()
        while target != NONE:
            if target == MISSING or seen[target]:
                into.append(walk.note(link, tag, value, target))
                break
            seen[target] = 1
            entry = Record(records[target], starts[target])
            into.append(entry)
            if into is entries:
                last_of_root = target
            if below.target[target] != NONE:
                pending.append(
                    (
                        below.node[target],
                        LOWER_LEVEL,
                        below.value[target],
                        below.target[target],
                        entry.children,
                    )
                )
            link, tag, value, target = (
                after.node[target],
                NEXT_RECORD,
                after.value[target],
                after.target[target],
            )
    last = _top(index, ROOT_LAST)
    value = _link(index, last)
    if last is not None and value and last_of_root is not None:
        end = starts[last_of_root]
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
    seen, starts = walk.seen, walk.starts
    unreached = [Record(r, starts[k]) for k, r in enumerate(walk.records) if not seen[k]]
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
    return Locator(base)(parts)


class Locator:
    """:func:`locate` for many File IDs below one directory.

    A component found as written costs one ``stat``. One that is not is looked up in a
    listing of its directory, made once and kept: a tree of records whose names changed case
    (or whose files are gone) would otherwise scan a directory of 100,000 images once per
    record labelled. The listing holds a name per case-folded name (None: several)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._listings: dict[Path, dict[str, str | None] | None] = {}

    def __call__(self, parts: list[str]) -> Path | None:
        if not parts or not all(_safe(p) for p in parts):
            return None
        here = self.base
        for part in parts:
            exact = here / part
            if exact.exists():
                here = exact
                continue
            match = self._listing(here)
            name = None if match is None else match.get(part.casefold())
            if name is None:
                return None
            here = here / name
        return here if here.is_file() else None

    def _listing(self, directory: Path) -> dict[str, str | None] | None:
        if directory in self._listings:
            return self._listings[directory]
        listing: dict[str, str | None] = {}
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    key = entry.name.casefold()
                    listing[key] = None if key in listing else entry.name
        except OSError:
            self._listings[directory] = None
            return None
        self._listings[directory] = listing
        return listing
