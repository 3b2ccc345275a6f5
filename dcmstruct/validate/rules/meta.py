"""Rules: the file meta group (PS3.10 7.1 Table 7.1-1) and the transfer syntax it names.

The element index ends the meta group at the first element of another group. What the writer
meant as its meta group is what (0002,0000) announces; :func:`meta_group` puts both views
together (once per file) for the rules below.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata
from dcmstruct.model import Kind, Stream, vr_code
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import index_rule, rule, screen
from dcmstruct.validate.rules.container import file_heads, first_kinds, top_elements
from dcmstruct.wording import count

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.validate.batch import Batch

GROUP_LENGTH = 0x00020000
VERSION = 0x00020001
MEDIA_STORAGE_SOP_CLASS = 0x00020002
MEDIA_STORAGE_SOP_INSTANCE = 0x00020003
TRANSFER_SYNTAX = 0x00020010
IMPLEMENTATION_CLASS = 0x00020012
SOP_CLASS = 0x00080016
SOP_INSTANCE = 0x00080018
# PS3.10 7.1 Table 7.1-1: the Type 1 elements of the file meta group besides (0002,0000).
REQUIRED = (VERSION, MEDIA_STORAGE_SOP_CLASS, MEDIA_STORAGE_SOP_INSTANCE, TRANSFER_SYNTAX,
            IMPLEMENTATION_CLASS)  # fmt: skip
VERSION_VALUE = b"\x00\x01"  # PS3.10 7.1: OB 00H 01H
_UID_BYTES = 256  # a UI value has at most 64 characters; read no more than this of one


class MetaGroup(NamedTuple):
    """The file meta group of one file, as walked and as announced."""

    elements: tuple[int, ...]  # the leading run of top-level group 0002 elements
    members: frozenset[int]  # what the writer put in it: ``elements`` + any 0002 element
    # inside the span (0002,0000) announces
    intruders: tuple[int, ...]  # elements of other groups inside that span
    end: int  # one past the last byte of ``elements`` (0 if there are none)
    group_length: int | None  # the (0002,0000) node
    announced: int | None  # its value
    truncated: bool  # the file ends inside the meta group

    @property
    def start(self) -> int | None:
        return self.elements[0] if self.elements else None


_CACHE: weakref.WeakKeyDictionary[Context, MetaGroup] = weakref.WeakKeyDictionary()


def meta_group(ctx: Context) -> MetaGroup:
    """The meta group of ``ctx``'s file, computed once per Context (O(top-level nodes))."""
    cached = _CACHE.get(ctx)
    if cached is None:
        cached = _CACHE[ctx] = _meta_group(ctx)
    return cached


def _meta_group(ctx: Context) -> MetaGroup:
    c = ctx.columns
    top = [
        i
        for i in ctx.children(-1)
        if int(c.kind[i]) == Kind.ELEMENT and int(c.stream[i]) == Stream.FILE
    ]
    # The meta group as walked: group 0002 elements from the start, up to the first element of
    # another group. (If the index did not recognise a meta group, e.g. one written big endian,
    # a leading run of group 0002 is still taken as the meta group rather than as misplaced.)
    n = 0
    while n < len(top) and int(c.tag[top[n]]) >> 16 == 0x0002:
        n += 1
    elements = tuple(top[:n])
    members = set(elements)
    group_length = next((i for i in elements if int(c.tag[i]) == GROUP_LENGTH), None)
    announced = None if group_length is None else _u32(ctx, group_length)
    intruders: tuple[int, ...] = ()
    actual_end = max((int(c.end[i]) for i in elements), default=0)
    if group_length is not None and announced is not None:
        announced_end = int(c.end[group_length]) + announced
        if announced_end > actual_end:
            # Does the announced span end exactly at the end of a later element? Then the
            # writer put those elements in its meta group; the group length is consistent.
            span: list[int] = []
            for i in top[n:]:
                if int(c.offset[i]) >= announced_end:
                    break
                span.append(i)
                if int(c.end[i]) == announced_end:
                    others = tuple(j for j in span if int(c.tag[j]) >> 16 != 0x0002)
                    if others:
                        intruders = others
                        members.update(j for j in span if int(c.tag[j]) >> 16 == 0x0002)
                    break
    truncated = ctx.index.dataset_offset is None and any(
        f.code in ("FILE_TRUNCATED", "TRAILING_BYTES") and f.stream == Stream.FILE
        for f in ctx.index.faults
    )
    return MetaGroup(
        elements, frozenset(members), intruders, actual_end, group_length, announced, truncated
    )


def _u32(ctx: Context, node: int) -> int | None:
    """A 4-byte unsigned value, in the byte order it was read in (None if it is not 4 bytes)."""
    if int(ctx.columns.length[node]) != 4:
        return None
    # A meta group written big endian (which the index reads as such, META_NOT_EXPLICIT_LE)
    # has its group length big endian too: dcmstruct.values.little_endian knows.
    return ctx.uint(node, 4)


def uid_value(ctx: Context, node: int) -> str:
    """A UI value without its NUL/space padding, as read (not yet safe to print)."""
    raw = ctx.value_bytes(node, _UID_BYTES) or b""
    return raw.decode("latin-1").strip(" \0")


def _shown(uid: str) -> str:
    """A UID from the file, quoted for a message: control characters escaped."""
    return f"'{terminal_safe(uid)}'"


def _name(tag: int) -> str:
    return f"({format_tag(tag)}) {specdata.keyword(tag) or ''}".rstrip()


def _empty(ctx: Context, node: int) -> str | None:
    """Why a required meta element's value counts as empty, if it does: no bytes at all, or
    (for a UID) nothing but padding. A value cut short by the end of the file is not empty."""
    c = ctx.columns
    length = int(c.length[node])
    if length == 0:
        return "its value length is 0"
    if length < 0 or int(ctx.columns.tag[node]) == VERSION:
        return None
    raw = ctx.value_bytes(node, _UID_BYTES)
    if raw is None or len(raw) < min(length, _UID_BYTES):
        return None
    if not raw.strip(b" \0"):
        return f"its {count(length, 'byte')} {'is' if length == 1 else 'are all'} padding"
    return None


def _has_prefix(ctx: Context) -> bool:
    kinds = ctx.columns.kind[:2]
    return bool(np.any(kinds == Kind.PREFIX))


# -- batch screens ---------------------------------------------------------------------------

_OB = vr_code("OB")
_PADDING = (0x20, 0x00)  # what uid_value strips
_UID_WIDTH = 64  # PS3.5 9.1: a UID has at most 64 characters; longer values are flagged
# The meta elements the screens look up, ascending: the group length, then REQUIRED.
_SLOTS = np.array((GROUP_LENGTH, *REQUIRED), dtype=np.int64)
_GL, _VERSION, _CLASS, _INSTANCE = 0, 1, 2, 3


class _BatchMeta(NamedTuple):
    """The meta group of each file of a batch as :func:`meta_group` walks it (its
    ``elements``: the run), as columns for the screens."""

    rows: npt.NDArray[np.int64]  # the run's rows, ascending
    slot: npt.NDArray[np.int64]  # per run row: its tag's place in _SLOTS, or -1
    run: npt.NDArray[np.bool_]  # per row of the batch: in its file's run
    has_run: npt.NDArray[np.bool_]  # per file
    # Per slot and file: the run's first row with that tag, or -1 (sorted(members) finds the
    # same one when members is the run).
    first: npt.NDArray[np.int64]
    # Per file: (0002,0000) may announce other than the run's length (a 4-byte value that
    # differs, or that cannot be read here as meta_group reads it: big endian, cut short).
    differs: npt.NDArray[np.bool_]
    # Per file: ... may announce more. Only then does meta_group take in later elements, so
    # where this is False ``members`` is the run itself.
    longer: npt.NDArray[np.bool_]


def _batch_meta(batch: Batch) -> _BatchMeta:
    return batch.shared(_walk_batch_meta)


def _walk_batch_meta(batch: Batch) -> _BatchMeta:
    c = batch.columns
    files_n = len(batch)
    top = top_elements(batch)
    rows, tags, files = top.rows, top.tags, top.files
    if c.stream.any():  # an inflated data set: meta_group walks the file stream only
        keep = c.stream[rows] == Stream.FILE
        rows, tags, files = rows[keep], tags[keep], files[keep]
    meta = (tags >> 16) == 0x0002
    others = rows[~meta]
    rows, tags, files = rows[meta], tags[meta], files[meta]
    # The run ends at each file's first top-level element of another group: an element is in
    # it when as many of those lie before it as before the file's start (none).
    in_run = np.searchsorted(others, rows) == np.searchsorted(others, batch.base[files])
    rows, tags, files = rows[in_run], tags[in_run], files[in_run]
    run = np.zeros(len(c), dtype=np.bool_)
    run[rows] = True
    slot = np.minimum(np.searchsorted(_SLOTS, tags), len(_SLOTS) - 1)
    slot[_SLOTS[slot] != tags] = -1
    hit = slot >= 0
    first = np.full((len(_SLOTS), files_n), len(c), dtype=np.int64)
    np.minimum.at(first, (slot[hit], files[hit]), rows[hit])
    first[first == len(c)] = -1
    end = np.zeros(files_n, dtype=np.int64)
    np.maximum.at(end, files, c.end[rows])

    gl_files = np.flatnonzero(first[_GL] >= 0)
    gl = first[_GL, gl_files]
    gl_files, gl = gl_files[c.length[gl] == 4], gl[c.length[gl] == 4]
    at = c.offset[gl]
    heads = file_heads(batch)
    head = heads.take(gl_files, at, 12).astype(np.int64)
    # meta_group reads the value little endian when the tag was written so
    # (dcmstruct.values.little_endian), and only when all 4 bytes are there. Read here only
    # after an 8-byte header (short explicit or implicit); any other value is flagged.
    readable = (
        (c.value_offset[gl] == at + 8)
        & (c.end[gl] == at + 12)
        & heads.has(gl_files, at, 12)
        & (head[:, 0] == 0x02)
        & (head[:, 1] == 0x00)
    )
    announced = head[:, 8] | (head[:, 9] << 8) | (head[:, 10] << 16) | (head[:, 11] << 24)
    actual = end[gl_files] - c.end[gl]
    differs = np.zeros(files_n, dtype=np.bool_)
    differs[gl_files[~readable | (announced != actual)]] = True
    longer = np.zeros(files_n, dtype=np.bool_)
    longer[gl_files[~readable | (announced > actual)]] = True
    return _BatchMeta(rows, slot, run, batch.files_with(rows), first, differs, longer)


index_rule(
    "META_NOT_EXPLICIT_LE",
    "error",
    "PS3.10 7.1",
    summary="File meta group not encoded Explicit VR Little Endian",
    why="""\
PS3.10 7.1 requires the file meta group in Explicit VR Little Endian whatever the data set's
transfer syntax, so that every reader can find (0002,0010) before knowing anything else.
A meta group written Implicit VR or big endian (a writer that used the data set's encoding
for everything) is rejected by strict readers or misread (tag and length bytes taken for a
VR, a group length of 176 read as 2952790016), and then the whole data set may be misread.
dcmstruct reads the meta group in the encoding it is in, so the rest is checked. The finding
covers the first meta element's 8-byte header.""",
    example="""\
00000084  02 00 00 00 04 00 00 00 ac 00 00 00   (0002,0000) implicit: no 'UL', 32-bit length""",
    module=__name__,
)

index_rule(
    "TRANSFER_SYNTAX_UNKNOWN",
    "error",
    "PS3.5 10; PS3.6 Table A-1",
    summary="(0002,0010) names no known transfer syntax (parsing then falls back to detection, "
    "and says so)",
    why="""\
The transfer syntax UID tells a reader how the data set is encoded (PS3.5 10). A UID that is
not a transfer syntax of PS3.6 Table A-1 (a typo, a SOP Class UID in its place, a private
syntax) makes standard readers give up ("unsupported transfer syntax") or guess; a PACS
rejects the object. dcmstruct detects the encoding from the data set's first bytes. The
finding covers the value of (0002,0010). An empty value names nothing: that is
META_REQUIRED_MISSING's.""",
    example="""\
(0002,0010) UI '1.2.3.4.5'               not a transfer syntax UID""",
    module=__name__,
)


@rule(
    "META_GROUP_LENGTH_MISSING",
    "error",
    "PS3.10 7.1 Table 7.1-1",
    summary="(0002,0000) absent",
    why="""\
(0002,0000) File Meta Information Group Length is Type 1 (PS3.10 Table 7.1-1). Readers use it
to find where the meta group ends and the data set (possibly of another encoding) begins;
without it dcmtk warns and reads group 0002 tags one by one (which goes wrong when the data
set's first element cannot be read as Explicit VR Little Endian), and readers that need it
(streaming parsers, some C and Java toolkits) fail. The
finding is empty (length 0), where (0002,0000) belongs: at the first meta element.""",
    example="""\
00000084  02 00 01 00 4f 42 00 00 02 00 00 00 00 01   (0002,0001) first: no (0002,0000)""",
)
def meta_group_length_missing(ctx: Context) -> Iterator[Finding]:
    meta = meta_group(ctx)
    if meta.start is None or meta.group_length is not None:
        return
    start = int(ctx.columns.offset[meta.start])
    yield ctx.finding(
        "META_GROUP_LENGTH_MISSING",
        "no (0002,0000) File Meta Information Group Length: the meta group starts with "
        f"({format_tag(int(ctx.columns.tag[meta.start]))})",
        offset=start, length=0, tag=GROUP_LENGTH, stream=Stream.FILE,
    )  # fmt: skip


@screen("META_GROUP_LENGTH_MISSING")
def _screen_group_length_missing(batch: Batch) -> npt.NDArray[np.bool_]:
    """Exact: the check finds a meta group (the leading run of top-level group 0002
    elements) without (0002,0000), as this does."""
    meta = _batch_meta(batch)
    flags: npt.NDArray[np.bool_] = meta.has_run & (meta.first[_GL] < 0)
    return flags


@rule(
    "META_GROUP_LENGTH_MISMATCH",
    "error",
    "PS3.10 7.1 Table 7.1-1",
    summary="(0002,0000) value differs from the byte length of the group that follows it",
    why="""\
(0002,0000) gives the number of bytes from the end of its own value to the end of the last
meta element (PS3.10 Table 7.1-1). Readers that trust it (dcmtk by default, many C and Java
toolkits) jump that many bytes and start the data set there: too short and they read meta
elements with the data set's transfer syntax, too long and they skip the first data set
elements or start in the middle of one; readers that stop at the first non-0002 tag
(pydicom) then disagree with them about the file's content. The finding covers the 4-byte value.""",
    example="""\
(0002,0000) UL 190        <- the group after it holds 176 bytes""",
)
def meta_group_length_mismatch(ctx: Context) -> Iterator[Finding]:
    meta = meta_group(ctx)
    gl = meta.group_length
    if gl is None or meta.announced is None or meta.intruders:
        return
    c = ctx.columns
    gl_end = int(c.end[gl])
    actual = meta.end - gl_end
    if actual == meta.announced:
        return
    if meta.truncated and gl_end + meta.announced > ctx.index.size:
        return  # the file ends inside the meta group: FILE_TRUNCATED says so
    yield ctx.finding(
        "META_GROUP_LENGTH_MISMATCH",
        f"(0002,0000) says {count(meta.announced, 'byte')}, the group holds {actual}",
        node=gl, offset=int(c.value_offset[gl]), length=4,
    )  # fmt: skip


@screen("META_GROUP_LENGTH_MISMATCH")
def _screen_group_length_mismatch(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs (0002,0000) in the run with a 4-byte value other than the run's
    length; a value read otherwise than little endian or cut short is flagged too."""
    return _batch_meta(batch).differs.copy()


@rule(
    "META_REQUIRED_MISSING",
    "error",
    "PS3.10 7.1 Table 7.1-1",
    summary=(
        "One of (0002,0001) (0002,0002) (0002,0003) (0002,0010) (0002,0012) absent, or present "
        "with an empty value"
    ),
    why="""\
These meta elements are Type 1 (PS3.10 Table 7.1-1): present, with a value. Without
(0002,0010) a reader must guess the transfer syntax; without (0002,0002)/(0002,0003) media
applications (DICOMDIR builders, PACS import) cannot tell what object the file holds without
parsing the data set and reject or misfile it; (0002,0001) and (0002,0012) are checked by
strict importers. An element present with an empty value (length 0, or a UID of nothing but
padding) is as good as absent, and readers that test for presence only are misled by it.
One finding per missing element, empty (length 0), where it belongs in tag order; one per
empty element, covering that element. A file whose data set directly follows 'DICM' (no meta
group at all) gets one finding at the data set's start.""",
    example="""\
(0002,0003) UI '1.2.826.0.1.3680043.10.1455.4.1'
(0002,0012) UI '1.2.826.0.1.3680043.10.1455.1'   <- no (0002,0010) between them
(0002,0002) UI ''  (length 0)                     <- present, but empty""",
)
def meta_required_missing(ctx: Context) -> Iterator[Finding]:
    meta = meta_group(ctx)
    c = ctx.columns
    if meta.start is None:
        start = ctx.index.dataset_offset
        if _has_prefix(ctx) and start is not None:
            yield ctx.finding(
                "META_REQUIRED_MISSING",
                f"no file meta group: the data set starts at {start:#x}, right after 'DICM' "
                "(no (0002,0001) (0002,0002) (0002,0003) (0002,0010) (0002,0012))",
                offset=start, length=0, stream=Stream.FILE,
            )  # fmt: skip
        return
    members = sorted(meta.members, key=lambda i: int(c.offset[i]))
    tags = {int(c.tag[i]) for i in members}
    last_tag = max(tags)
    last_end = max(int(c.end[i]) for i in members)
    for tag in REQUIRED:
        if tag in tags:
            node = next(i for i in members if int(c.tag[i]) == tag)
            why = _empty(ctx, node)
            if why is not None:
                yield ctx.finding(
                    "META_REQUIRED_MISSING",
                    f"{_name(tag)} is present but empty ({why}): it is Type 1, a value is required",
                    node=node,
                )
            continue
        if meta.truncated and tag > last_tag:
            continue
        after = next((i for i in members if int(c.tag[i]) > tag), None)
        where = int(c.offset[after]) if after is not None else last_end
        message = f"({format_tag(tag)}) is missing from the file meta group"
        elsewhere = _elsewhere(ctx, tag, meta)
        if elsewhere is not None:
            message += f" (it appears after the meta group, at {elsewhere:#x})"
        yield ctx.finding(
            "META_REQUIRED_MISSING", message, offset=where, length=0, tag=tag, stream=Stream.FILE
        )


@screen("META_REQUIRED_MISSING")
def _screen_required_missing(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs: no meta group but 'DICM' in the first two nodes; or a required tag
    absent from the run, or one there of length 0 or (not the version) whose first byte is
    padding; or (0002,0000) announcing more than the run (then members may differ)."""
    meta = _batch_meta(batch)
    c = batch.columns
    kinds = first_kinds(batch)
    prefix = (kinds[0] == Kind.PREFIX) | (kinds[1] == Kind.PREFIX)
    flags: npt.NDArray[np.bool_] = meta.longer | (~meta.has_run & prefix)
    flags |= meta.has_run & (meta.first[_VERSION:] < 0).any(axis=0)
    rows = meta.rows[meta.slot >= _VERSION]
    files = batch.file[rows]
    length = c.length[rows]
    value_at = c.value_offset[rows]
    heads = file_heads(batch)
    first = heads.take(files, value_at, 1)[:, 0]
    # All padding (what _empty calls empty) starts with padding; unread bytes may too.
    padded = (
        (length > 0)
        & (c.tag[rows] != VERSION)
        & (~heads.has(files, value_at, 1) | (first == _PADDING[0]) | (first == _PADDING[1]))
    )
    flags[files[(length == 0) | padded]] = True
    return flags


def _elsewhere(ctx: Context, tag: int, meta: MetaGroup) -> int | None:
    c = ctx.columns
    for i in ctx.children(-1):
        if int(c.tag[i]) == tag and int(c.kind[i]) == Kind.ELEMENT and i not in meta.members:
            return int(c.offset[i])
    return None


@rule(
    "META_VERSION_INVALID",
    "warning",
    "PS3.10 7.1 Table 7.1-1",
    summary="(0002,0001) is not OB 00\\01",
    why="""\
(0002,0001) File Meta Information Version is OB with the two bytes 00H 01H (PS3.10 Table
7.1-1). Most readers ignore the value, but strict importers and validators flag or reject
other values, and a wrong VR here often shows a writer that
encodes the whole meta group wrongly. The finding covers the value (or the VR bytes, when
the value is right but the VR is not OB).""",
    example="""\
(0002,0001) OB 00\\02                   <- expected 00\\01""",
)
def meta_version_invalid(ctx: Context) -> Iterator[Finding]:
    meta = meta_group(ctx)
    c = ctx.columns
    node = next((i for i in sorted(meta.members) if int(c.tag[i]) == VERSION), None)
    if node is None:
        return
    n = ctx.node(node)
    raw = ctx.value_bytes(node, 16)
    vr_ok = n.vr == "OB" or not n.vr_explicit
    if raw is None:
        yield ctx.finding(
            "META_VERSION_INVALID",
            "(0002,0001) has undefined length, expected OB 00\\01",
            node=node, offset=n.offset, length=n.end - n.offset,
        )  # fmt: skip
        return
    if n.length == 0:
        return  # present but empty: META_REQUIRED_MISSING says so
    vr = terminal_safe(n.vr or "??")  # as read: any two bytes of the file
    if raw != VERSION_VALUE or (n.length or 0) != 2:
        shown = "\\".join(f"{b:02X}" for b in raw[:8]) + ("..." if (n.length or 0) > 8 else "")
        yield ctx.finding(
            "META_VERSION_INVALID",
            f"(0002,0001) is {vr} {shown or '(empty)'}, expected OB 00\\01",
            node=node, offset=n.value_offset, length=n.end - (n.value_offset or n.offset),
        )  # fmt: skip
    elif not vr_ok:
        yield ctx.finding(
            "META_VERSION_INVALID",
            f"(0002,0001) has VR {vr}, expected OB",
            node=node, offset=n.offset + 4, length=2,
        )  # fmt: skip


@screen("META_VERSION_INVALID")
def _screen_version_invalid(batch: Batch) -> npt.NDArray[np.bool_]:
    """The run's first (0002,0001) is cleared only if it has length 0, or is 00H 01H of
    length 2 with VR OB or implicit: what the check accepts; (0002,0000) announcing more than
    the run is flagged (members may then hold another (0002,0001))."""
    meta = _batch_meta(batch)
    c = batch.columns
    files = np.flatnonzero(meta.first[_VERSION] >= 0)
    rows = meta.first[_VERSION, files]
    length = c.length[rows]
    value_at = c.value_offset[rows]
    heads = file_heads(batch)
    got = heads.take(files, value_at, 2)
    right = (
        (length == 2)
        & (c.end[rows] - value_at == 2)
        & heads.has(files, value_at, 2)
        & (got[:, 0] == VERSION_VALUE[0])
        & (got[:, 1] == VERSION_VALUE[1])
        & ((c.vr[rows] == _OB) | ~c.vr_explicit[rows])
    )
    flags = meta.longer.copy()
    flags[files[~(((length == 0) & (value_at >= 0)) | right)]] = True
    return flags


MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


# After these the data set was not read to its end: an element it lacks may just be unread.
_DATA_SET_CUT = frozenset({"DATASET_MISSING", "DEFLATE_STREAM_INVALID", "FILE_TRUNCATED"})


def _data_set_read_whole(ctx: Context) -> bool:
    return not any(f.code in _DATA_SET_CUT for f in ctx.index.faults)


def _directory(ctx: Context, meta_by_tag: dict[int, int]) -> bool:
    """Is this a DICOMDIR (Media Storage Directory Storage, PS3.10 8)?"""
    m = meta_by_tag.get(MEDIA_STORAGE_SOP_CLASS)
    return m is not None and uid_value(ctx, m) == MEDIA_STORAGE_DIRECTORY


@rule(
    "META_UID_MISMATCH",
    "error",
    "PS3.10 7.1 Table 7.1-1",
    summary=(
        "(0002,0002)/(0002,0003) differ from (0008,0016)/(0008,0018), or the data set lacks the "
        "element they must equal (the message says which)"
    ),
    why="""\
Media Storage SOP Class/Instance UID must equal the data set's SOP Class/Instance UID (PS3.10
Table 7.1-1). Archives, DICOMDIR builders and de-duplicating importers key on the meta values
without parsing the data set; a mismatch (typically after a tool edited the data set and
left the meta group alone) files the object under the wrong UID, makes it look like a
duplicate or hides it from queries. Values are compared without their NUL/space padding.
The message says which case it is: the two values differ, the data set has no (0008,0016)/
(0008,0018) at all (a DICOMDIR needs none), or the data set's element is empty. An empty
(0002,0002)/(0002,0003) is META_REQUIRED_MISSING's, not a mismatch.
The finding covers the meta element's value.""",
    example="""\
(0002,0003) UI '1.2.826.0.1.3680043.10.1455.4.1'
(0008,0018) UI '1.2.826.0.1.3680043.10.1455.4.2'    <- differs""",
)
def meta_uid_mismatch(ctx: Context) -> Iterator[Finding]:
    meta = meta_group(ctx)
    c = ctx.columns
    by_tag: dict[int, int] = {}
    for i in sorted(meta.members):
        by_tag.setdefault(int(c.tag[i]), i)
    for meta_tag, ds_tag in ((MEDIA_STORAGE_SOP_CLASS, SOP_CLASS),
                             (MEDIA_STORAGE_SOP_INSTANCE, SOP_INSTANCE)):  # fmt: skip
        m = by_tag.get(meta_tag)
        if m is None or int(c.length[m]) < 0:
            continue  # absent: META_REQUIRED_MISSING
        mv = uid_value(ctx, m)
        if not mv:
            continue  # empty: META_REQUIRED_MISSING, and nothing to compare
        d = ctx.find_top(ds_tag)
        said = f"({format_tag(meta_tag)}) is {_shown(mv)}"
        if d is None:
            # A DICOMDIR has no SOP Class/Instance in its data set; any other file must.
            if _directory(ctx, by_tag) or not _data_set_read_whole(ctx):
                continue
            message = f"{said}, but the data set has no ({format_tag(ds_tag)})"
        elif int(c.length[d]) < 0:
            continue
        else:
            dv = uid_value(ctx, d)
            if mv == dv:
                continue
            if not dv:
                message = f"{said}, but the data set's ({format_tag(ds_tag)}) is empty"
            else:
                message = f"{said}, ({format_tag(ds_tag)}) is {_shown(dv)}: they differ"
        value_offset = int(c.value_offset[m])
        yield ctx.finding(
            "META_UID_MISMATCH", message,
            node=m, offset=value_offset, length=int(c.end[m]) - value_offset,
        )  # fmt: skip


@screen("META_UID_MISMATCH")
def _screen_uid_mismatch(batch: Batch) -> npt.NDArray[np.bool_]:
    """The run's first (0002,0002)/(0002,0003) of defined length is cleared only when the
    first top-level (0008,0016)/(0008,0018) is in the file stream with the same bytes (so
    the same value once stripped); (0002,0000) announcing more than the run is flagged."""
    meta = _batch_meta(batch)
    c = batch.columns
    top = top_elements(batch)
    wanted = (top.tags == SOP_CLASS) | (top.tags == SOP_INSTANCE)
    pair = (top.tags[wanted] == SOP_INSTANCE).astype(np.int64)
    data_set = np.full((2, len(batch)), len(c), dtype=np.int64)
    np.minimum.at(data_set, (pair, top.files[wanted]), top.rows[wanted])
    pair, files = np.nonzero(meta.first[_CLASS : _INSTANCE + 1] >= 0)
    m = meta.first[_CLASS + pair, files]
    keep = c.length[m] >= 0
    pair, files, m = pair[keep], files[keep], m[keep]
    d = data_set[pair, files]
    found = d < len(c)
    d = np.where(found, d, m)
    m_at, d_at = c.value_offset[m], c.value_offset[d]
    size = c.end[m] - m_at
    heads = file_heads(batch)
    comparable = (
        found
        & (c.stream[d] == Stream.FILE)
        & (c.end[d] - d_at == size)
        & (size >= 0)
        & (size <= _UID_WIDTH)
        & heads.has(files, m_at, size)
        & heads.has(files, d_at, size)
    )
    same = (
        (heads.take(files, m_at, _UID_WIDTH) == heads.take(files, d_at, _UID_WIDTH))
        | (np.arange(_UID_WIDTH) >= size[:, None])
    ).all(axis=1)
    flags = meta.longer.copy()
    flags[files[~(comparable & same)]] = True
    return flags


@rule(
    "META_CONTAINS_NON_META",
    "error",
    "PS3.10 7.1",
    summary="An element of a group other than 0002 inside the file meta group",
    why="""\
The file meta group holds group 0002 only (PS3.10 7.1). A writer that puts a data set
element (often (0008,0005) or (0008,0016)) inside it and counts it in (0002,0000) makes
readers disagree: those that trust the group length read the element as part of the meta
group, in Explicit VR Little Endian, and never see it in the data set; those that stop at the
first non-0002 tag read it as the data set's first element, maybe in the wrong encoding.
Detected when (0002,0000) announces a span that ends exactly at the end of an element of
another group; the finding covers that element.""",
    example="""\
(0002,0000) UL 194        <- counts (0008,0005) too
(0002,0013) SH 'DCMSTRUCT_0_1'
(0008,0005) CS 'ISO_IR 100'          <- inside the announced meta group""",
)
def meta_contains_non_meta(ctx: Context) -> Iterator[Finding]:
    meta = meta_group(ctx)
    if not meta.intruders or meta.group_length is None or meta.announced is None:
        return
    c = ctx.columns
    end = int(c.end[meta.group_length]) + meta.announced
    for i in meta.intruders:
        yield ctx.finding(
            "META_CONTAINS_NON_META",
            f"({format_tag(int(c.tag[i]))}) is inside the file meta group: (0002,0000) "
            f"announces it runs to {end:#x}",
            node=i,
        )


@screen("META_CONTAINS_NON_META")
def _screen_contains_non_meta(batch: Batch) -> npt.NDArray[np.bool_]:
    """Intruders need (0002,0000) to announce more than the run's length (flagged too when
    its value cannot be read here as the check reads it)."""
    return _batch_meta(batch).longer.copy()


@rule(
    "META_ELEMENT_IN_DATASET",
    "error",
    "PS3.10 7.1",
    summary="A group 0002 element after the file meta group",
    why="""\
Group 0002 belongs in the file meta group only (PS3.10 7.1); it is never part of a data set
and must not appear in items. A reader that has already switched to the data set's transfer
syntax may misread it; toolkits disagree on what to do with it (move it into the meta group,
drop it, or keep it and write it again in the wrong place), and it has no place in a network
transfer either (PS3.7 carries no group 0002 in the data set). The finding covers the element.""",
    example="""\
(0008,0060) CS 'CT'
(0002,0010) UI '1.2.840.10008.1.2.1'    <- in the data set""",
)
def meta_element_in_dataset(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    hits = np.flatnonzero((c.kind == Kind.ELEMENT) & ((c.tag >> 16) == 0x0002))
    if hits.size == 0:
        return
    meta = meta_group(ctx)
    for i in hits.tolist():
        if i in meta.members:
            continue
        where = "inside an item" if int(c.depth[i]) > 0 else "in the data set"
        if meta.elements:
            where += f", after the file meta group ended at {meta.end:#x}"
        yield ctx.finding(
            "META_ELEMENT_IN_DATASET", f"({format_tag(int(c.tag[i]))}) {where}", node=i
        )


@screen("META_ELEMENT_IN_DATASET")
def _screen_element_in_dataset(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding is a group 0002 element outside the members, which hold the whole run:
    so one outside the run."""
    c = batch.columns
    return batch.files_with(batch.elements & ((c.tag >> 16) == 0x0002) & ~_batch_meta(batch).run)
