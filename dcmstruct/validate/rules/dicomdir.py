"""Rules: the DICOMDIR's transfer syntax (PS3.10 8.6) and its record offsets (PS3.10 8;
PS3.3 F.3.2.1, Table F.3-3).

A DICOMDIR is the file of the Media Storage Directory SOP Class (1.2.840.10008.1.3.10); it is
encoded Explicit VR Little Endian, whatever the transfer syntaxes of the files it lists.

Four UL attributes link the directory records, which are the items of the Directory Record
Sequence (0004,1220): (0004,1200) and (0004,1202) name the first and last record of the root
directory entity; in each record, (0004,1400) names the next record of the same entity and
(0004,1420) the first record of the entity below it. Each is "the number of bytes starting
with the first byte of the File Meta Information", which includes the 128-byte preamble and
the 'DICM' prefix: an absolute file offset, pointing at the first byte of the record's item tag
(FFFE,E000). 0 means "none". (0004,1410) Record In-use Flag is a US flag, not an offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import member
from dcmstruct.model import UNDEFINED, Kind, Stream
from dcmstruct.ranges import nearest
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.uids import EXPLICIT_VR_LITTLE_ENDIAN
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import rule, screen
from dcmstruct.validate.rules.container import file_heads, top_elements
from dcmstruct.validate.rules.meta import (
    MEDIA_STORAGE_DIRECTORY,
    MEDIA_STORAGE_SOP_CLASS,
    SOP_CLASS,
    TRANSFER_SYNTAX,
    meta_group,
    uid_value,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.validate.batch import Batch

ROOT_FIRST = 0x00041200  # Offset of the First Directory Record of the Root Directory Entity
ROOT_LAST = 0x00041202  # Offset of the Last Directory Record of the Root Directory Entity
DIRECTORY_RECORD_SEQUENCE = 0x00041220
NEXT_RECORD = 0x00041400  # Offset of the Next Directory Record
LOWER_LEVEL = 0x00041420  # Offset of Referenced Lower-Level Directory Entity
RULE = "DICOMDIR_OFFSET_INVALID"
NOT_EXPLICIT_LE = "DICOMDIR_NOT_EXPLICIT_LE"


def _name(tag: int) -> str:
    return f"({format_tag(tag)}) {specdata.keyword(tag) or ''}".rstrip()


def _directory_by(ctx: Context) -> str | None:
    """Which element says the file is a DICOMDIR: '(0002,0002)', '(0008,0016)' or None."""
    c = ctx.columns
    for i in sorted(meta_group(ctx).members):
        if (
            int(c.tag[i]) == MEDIA_STORAGE_SOP_CLASS
            and uid_value(ctx, i) == MEDIA_STORAGE_DIRECTORY
        ):
            return "(0002,0002)"
    node = ctx.find_top(SOP_CLASS)
    if node is not None and uid_value(ctx, node) == MEDIA_STORAGE_DIRECTORY:
        return "(0008,0016)"
    return None


@rule(
    NOT_EXPLICIT_LE,
    "error",
    "PS3.10 8.6",
    summary=(
        "A DICOMDIR (Media Storage Directory SOP Class) whose transfer syntax is not Explicit VR "
        "Little Endian"
    ),
    why=(
        "PS3.10 8.6 requires the DICOMDIR in Explicit VR Little Endian, whatever the transfer\n"
        "syntaxes of the files it lists, so that any application that reads the media can read\n"
        "its directory without support for another encoding. An Implicit VR, big-endian\n"
        "(retired), deflated or compressed DICOMDIR relies on support a media reader does not\n"
        "have to offer: importers and viewers may refuse it or list nothing, and the file-set\n"
        "is unusable although every file in it is fine. The finding covers the value of\n"
        "(0002,0010); when (0002,0010) is absent, empty or unknown, it covers the header of the\n"
        "data set's first element, whose bytes show the encoding. A DICOMDIR whose (0002,0010)\n"
        "says Explicit VR Little Endian but whose bytes are not is TRANSFER_SYNTAX_MISMATCH's."
    ),
    example=(
        "(0002,0002) UI 1.2.840.10008.1.3.10    # Media Storage Directory Storage\n"
        "(0002,0010) UI 1.2.840.10008.1.2       # Implicit VR Little Endian: expected "
        "1.2.840.10008.1.2.1"
    ),
)
def check_dicomdir_transfer_syntax(ctx: Context) -> Iterator[Finding]:
    by = _directory_by(ctx)
    if by is None:
        return
    c = ctx.columns
    index = ctx.index
    ts = index.transfer_syntax
    dicomdir = f"this file is a DICOMDIR ({by} is Media Storage Directory Storage)"
    expected = f"expected Explicit VR Little Endian ({EXPLICIT_VR_LITTLE_ENDIAN})"
    if ts is not None:
        if ts.uid == EXPLICIT_VR_LITTLE_ENDIAN:
            return
        node = next(
            (i for i in sorted(meta_group(ctx).members) if int(c.tag[i]) == TRANSFER_SYNTAX), None
        )
        if node is None:
            return
        value_offset = int(c.value_offset[node])
        yield ctx.finding(
            NOT_EXPLICIT_LE,
            f"(0002,0010) is {ts.name} ({ts.uid}), but {dicomdir}: {expected}",
            node=node,
            offset=value_offset,
            length=int(c.end[node]) - value_offset,
        )
        return
    # No known transfer syntax: the encoding the data set was read in is all there is.
    enc = index.dataset_encoding
    start = index.dataset_offset
    if enc is None or start is None or (enc.explicit_vr and enc.little_endian):
        return
    declared = index.transfer_syntax_uid
    if declared is None:
        said = "there is no (0002,0010)"
    elif not declared:
        said = "(0002,0010) is empty"
    else:
        said = f"(0002,0010) '{terminal_safe(declared)}' names no known transfer syntax"
    yield ctx.finding(
        NOT_EXPLICIT_LE,
        f"{said} and the data set is encoded {enc.name}, but {dicomdir}: {expected}",
        offset=start,
        length=min(8, index.size - start),
        stream=Stream.FILE,
    )


def _may_be_directory(batch: Batch) -> npt.NDArray[np.bool_]:
    """Per file: may :func:`_directory_by` find it a DICOMDIR? It reads top-level (0002,0002)
    and (0008,0016) only, and a value that strips (spaces, NULs) to the 20-character UID has
    at least 20 bytes and starts with the UID or with padding."""
    c = batch.columns
    uid = np.frombuffer(MEDIA_STORAGE_DIRECTORY.encode("ascii"), dtype=np.uint8)
    top = top_elements(batch)
    wanted = (top.tags == MEDIA_STORAGE_SOP_CLASS) | (top.tags == SOP_CLASS)
    rows, files = top.rows[wanted], top.files[wanted]
    at = c.value_offset[rows]
    long = (at >= 0) & (c.length[rows] != UNDEFINED) & (c.end[rows] - at >= len(uid))
    rows, files, at = rows[long], files[long], at[long]
    heads = file_heads(batch)
    got = heads.take(files, at, len(uid))
    maybe = (
        (c.stream[rows] != Stream.FILE)
        | ~heads.has(files, at, len(uid))
        | (got[:, 0] == 0x20)
        | (got[:, 0] == 0x00)
        | (got == uid).all(axis=1)
    )
    return batch.files_with(rows[maybe])


@screen(NOT_EXPLICIT_LE)
def _screen_not_explicit_le(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs a file :func:`_directory_by` calls a DICOMDIR (see
    :func:`_may_be_directory`) whose transfer syntax is not known to be Explicit VR LE."""
    flags = _may_be_directory(batch)
    for f in np.flatnonzero(flags).tolist():
        ts = batch.indexes[f].transfer_syntax
        if ts is not None and ts.uid == EXPLICIT_VR_LITTLE_ENDIAN:
            flags[f] = False
    return flags


class _Directory:
    """The records of one DICOMDIR and where each of their offsets points."""

    def __init__(self, ctx: Context, sequence: int | None) -> None:
        c = ctx.columns
        self.ctx = ctx
        self.records: list[int] = []
        if sequence is not None:
            self.records = [k for k in ctx.children(sequence) if int(c.kind[k]) == Kind.ITEM]
        self.starts = sorted(int(c.offset[r]) for r in self.records)
        self.record_at = {int(c.offset[r]): r for r in self.records}
        self.sequence = sequence
        # Per record: its (0004,1400) and (0004,1420) element nodes, if present.
        self.links: dict[int, dict[int, int]] = {}
        for r in self.records:
            links: dict[int, int] = {}
            for k in ctx.children(r):
                tag = int(c.tag[k])
                if int(c.kind[k]) == Kind.ELEMENT and tag in (NEXT_RECORD, LOWER_LEVEL):
                    links.setdefault(tag, k)
            self.links[r] = links

    def where(self, value: int) -> str:
        """Why ``value`` is no record start, with the nearest one for a reader to compare."""
        if self.sequence is None:
            return "the file has no Directory Record Sequence (0004,1220)"
        near = nearest(self.starts, value)
        if near is None:
            return "the Directory Record Sequence (0004,1220) holds no record"
        return (
            "no item of the Directory Record Sequence (0004,1220) starts there "
            f"(the nearest starts at {near}, {near:#x})"
        )

    def pointer(self, node: int) -> tuple[int | None, Finding | None]:
        """The record ``node``'s offset points at (None: 0 or unreadable), or a finding."""
        value = self.ctx.uint(node, 4)
        if value is None or value == 0:
            return None, None
        record = self.record_at.get(value)
        if record is not None:
            return record, None
        c = self.ctx.columns
        tag = int(c.tag[node])
        return None, self.ctx.finding(
            RULE,
            f"{_name(tag)} is {value} ({value:#x}): {self.where(value)}; offsets count from "
            "the first byte of the file (the preamble) and point at a record's item tag",
            node=node,
            offset=int(c.value_offset[node]),
            length=4,
        )


@rule(
    RULE,
    "error",
    "PS3.10 8; PS3.3 F.3",
    summary=(
        "A DICOMDIR record offset ((0004,1200) (0004,1202) (0004,1400) (0004,1420)) does not "
        "point at the start of a Directory Record Sequence item"
    ),
    why=(
        "Media readers walk a DICOMDIR by its offsets, not by the order of the items: the root\n"
        "entity's first record, then each record's next and lower-level records. An offset\n"
        "that misses an item start (a DICOMDIR edited without recomputing the offsets, or\n"
        "counted from the meta group instead of the preamble) makes dcmtk and pydicom fail to\n"
        "load the file-set, or list the wrong patients and studies; a chain that loops back\n"
        "hangs naive readers; a last-record offset that disagrees with the chain makes\n"
        "appending writers corrupt the directory."
    ),
    example=(
        "(0004,1200) UL 396     # root's first record\n"
        "(0004,1220) SQ  item at 392 (FFFE,E000) ...   # 396 is 4 bytes into the item"
    ),
)
def check_dicomdir_offsets(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    top: dict[int, int] = {}
    for i in ctx.children(-1):
        tag = int(c.tag[i])
        if int(c.kind[i]) == Kind.ELEMENT and tag in (
            ROOT_FIRST,
            ROOT_LAST,
            DIRECTORY_RECORD_SEQUENCE,
        ):
            top.setdefault(tag, i)
    if not top:
        return
    if any(int(c.stream[i]) != Stream.FILE for i in top.values()):
        return  # a deflated data set: its offsets cannot count from the start of the file
    d = _Directory(ctx, top.get(DIRECTORY_RECORD_SEQUENCE))
    broken = False
    first: int | None = None
    last: int | None = None
    if ROOT_FIRST in top:
        first, problem = d.pointer(top[ROOT_FIRST])
        if problem is not None:
            broken = True
            yield problem
    if ROOT_LAST in top:
        last, problem = d.pointer(top[ROOT_LAST])
        if problem is not None:
            broken = True
            yield problem
    # Every record's own offsets, in file order.
    targets: dict[int, dict[int, int | None]] = {}
    for r in d.records:
        targets[r] = {}
        for tag, node in sorted(d.links[r].items(), key=lambda kv: int(c.offset[kv[1]])):
            target, problem = d.pointer(node)
            targets[r][tag] = target
            if problem is not None:
                broken = True
                yield problem
    # Walk the tree from the root: no record may be reached twice (a loop, or two entities
    # sharing a record), and the root chain must end at (0004,1202).
    seen: set[int] = set()
    root_end: int | None = None
    # (record, the element whose offset leads there, in the root entity)
    stack: list[tuple[int | None, int | None, bool]] = [(first, top.get(ROOT_FIRST), True)]
    while stack:
        record, via, is_root = stack.pop()
        while record is not None:
            if record in seen:
                if via is not None:
                    yield ctx.finding(
                        RULE,
                        f"{_name(int(c.tag[via]))} points at the record at "
                        f"{int(c.offset[record])}, which was already reached: the directory's "
                        "records form a loop or are shared between entities",
                        node=via,
                        offset=int(c.value_offset[via]),
                        length=4,
                    )
                broken = True
                break
            seen.add(record)
            if is_root:
                root_end = record
            links = d.links[record]
            lower = targets[record].get(LOWER_LEVEL)
            if lower is not None:
                stack.append((lower, links[LOWER_LEVEL], False))
            via = links.get(NEXT_RECORD)
            record = targets[record].get(NEXT_RECORD)
    if broken or ROOT_LAST not in top:
        return
    if root_end != last:
        node = top[ROOT_LAST]
        value = ctx.uint(node, 4)
        ends = (
            "is empty" if root_end is None else f"ends at the record at {int(c.offset[root_end])}"
        )
        yield ctx.finding(
            RULE,
            f"{_name(ROOT_LAST)} is {value}, but the root entity's chain from "
            f"{_name(ROOT_FIRST)} through (0004,1400) {ends}",
            node=node,
            offset=int(c.value_offset[node]),
            length=4,
        )


@screen(RULE)
def _screen_offsets(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check returns at once for a file with no top-level (0004,1200), (0004,1202) or
    (0004,1220): the files that have one are what this flags."""
    top = top_elements(batch)
    links = member(top.tags, (ROOT_FIRST, ROOT_LAST, DIRECTORY_RECORD_SEQUENCE))
    return batch.files_with(top.rows[links])
