"""Rules: the DICOMDIR's record offsets (PS3.10 8; PS3.3 F.3.2.1, Table F.3-3).

Four UL attributes link the directory records, which are the items of the Directory Record
Sequence (0004,1220): (0004,1200) and (0004,1202) name the first and last record of the root
directory entity; in each record, (0004,1400) names the next record of the same entity and
(0004,1420) the first record of the entity below it. Each is "the number of bytes starting
with the first byte of the File Meta Information", which includes the 128-byte preamble and
the 'DICM' prefix: an absolute file offset, pointing at the first byte of the record's item tag
(FFFE,E000). 0 means "none". (0004,1410) Record In-use Flag is a US flag, not an offset.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from dcmstruct import specdata
from dcmstruct.model import Kind, Stream
from dcmstruct.schema.element import format_tag
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import rule

ROOT_FIRST = 0x00041200  # Offset of the First Directory Record of the Root Directory Entity
ROOT_LAST = 0x00041202  # Offset of the Last Directory Record of the Root Directory Entity
DIRECTORY_RECORD_SEQUENCE = 0x00041220
NEXT_RECORD = 0x00041400  # Offset of the Next Directory Record
LOWER_LEVEL = 0x00041420  # Offset of Referenced Lower-Level Directory Entity
RULE = "DICOMDIR_OFFSET_INVALID"


def _name(tag: int) -> str:
    return f"({format_tag(tag)}) {specdata.keyword(tag) or ''}".rstrip()


def _ul(ctx: Context, node: int) -> int | None:
    """The first 32-bit unsigned value of ``node``, in the data set's byte order."""
    raw = ctx.value_bytes(node, 4)
    if raw is None or len(raw) < 4:
        return None
    return int.from_bytes(raw, "little" if ctx.little_endian(node) else "big")


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
        if not self.starts:
            return "the Directory Record Sequence (0004,1220) holds no record"
        j = bisect.bisect_left(self.starts, value)
        near = [self.starts[x] for x in (j - 1, j) if 0 <= x < len(self.starts)]
        nearest = min(near, key=lambda s: abs(s - value))
        return (
            "no item of the Directory Record Sequence (0004,1220) starts there "
            f"(the nearest starts at {nearest}, {nearest:#x})"
        )

    def pointer(self, node: int) -> tuple[int | None, Finding | None]:
        """The record ``node``'s offset points at (None: 0 or unreadable), or a finding."""
        value = _ul(self.ctx, node)
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
        value = _ul(ctx, node)
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
