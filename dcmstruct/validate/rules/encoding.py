"""Rules: how elements are encoded (PS3.5 7.1, 7.2, 6.2): VRs, lengths, order, groups."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import distinct, distinct_inverse, member
from dcmstruct.model import Kind, Stream, vr_code, vr_text
from dcmstruct.schema.layout import format_tag
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import FINDINGS_PER_RULE, index_rule, rule, screen
from dcmstruct.wording import count

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.validate.batch import Batch

index_rule(
    "TRANSFER_SYNTAX_MISMATCH",
    "error",
    "PS3.5 7.1.1-7.1.3, A.1-A.3",
    summary="The data set is not encoded as (0002,0010) says (implicit vs explicit VR, byte "
    "order), in whole or for single elements.",
    why="A reader that trusts (0002,0010) reads VR bytes as a length (or the reverse) and "
    "either stops or reads garbage; readers that sniff the encoding recover silently, which "
    "is why such files 'open everywhere but here'. dcmstruct reads what is there and says so.",
    example="(0002,0010) = 1.2.840.10008.1.2.1 (explicit VR LE), then\n"
    "08 00 16 00 1a 00 00 00 31 2e 32 ...   (0008,0016), no VR, 32-bit length: implicit",
    module=__name__,
)

index_rule(
    "VALUE_OVERRUNS_PARENT",
    "error",
    "PS3.5 7.1.1, 7.5.1",
    summary="A value length runs past the end of the item, sequence or file that holds it "
    "(including hostile lengths such as 0xFFFFFFF0).",
    why="Readers that trust the length allocate or skip that many bytes: they crash, hang, or "
    "silently drop the rest of the container. The finding points at the length field and says "
    "where parsing resumed (re-synchronised on the next plausible element, or cut at the end "
    "of the container).",
    example="(0008,1030) LO, VL 0xFFF0 in an item with 20 bytes left",
    module=__name__,
)

index_rule(
    "INVALID_VR",
    "error",
    "PS3.5 6.2, 7.1.2",
    summary="The two VR bytes of an explicit VR element are not a VR code of the standard.",
    why="Without a VR the length field's form (16 or 32 bits) is unknown, so every reader has to "
    "guess where the element ends; most give up on the rest of the file.",
    example="10 00 10 00 'Pn' 08 00 ...   (0010,0010) with VR 'Pn'",
    module=__name__,
)

index_rule(
    "UNDEFINED_LENGTH_NOT_ALLOWED",
    "error",
    "PS3.5 7.1.1-7.1.3",
    summary="Undefined length (FFFFFFFFH) on a VR that may not have it (only SQ, UN, and OB/OW "
    "Pixel Data when encapsulated).",
    why="An undefined length is only meaningful where a delimiter closes the value; on any "
    "other VR a reader cannot know where the value ends.",
    example="(0008,1030) UT, VL FFFFFFFFH",
    module=__name__,
)

index_rule(
    "LENGTH_FIELD_FORM_WRONG",
    "error",
    "PS3.5 7.1.2 Table 7.1-1",
    summary="A VR that needs 2 reserved bytes and a 32-bit length written with a 16-bit length, "
    "or the reverse.",
    why="The header is 8 bytes where 12 are expected (or the reverse), so a strict reader "
    "misplaces every element that follows. dcmstruct reads the form that makes the next "
    "element line up and reports the mismatch on the length field.",
    example="e0 7f 10 00 'OB' 0a 00 ...   (7FE0,0010) OB with a 16-bit length 10",
    module=__name__,
)

index_rule(
    "UN_UNDEFINED_CONTENT_NOT_IMPLICIT",
    "error",
    "PS3.5 6.2.2",
    summary="UN with undefined length whose content is not Implicit VR Little Endian.",
    why="A reader that does not know the tag treats UN of undefined length as a sequence in "
    "Implicit VR Little Endian (CP-246); explicit VR content makes it read VR bytes as lengths.",
    example="(0008,1140) UN undefined length, first item element: 08 00 50 11 'UI' 04 00 ...",
    module=__name__,
)


_SQ = vr_code("SQ")


@rule(
    "ODD_VALUE_LENGTH",
    "error",
    "PS3.5 7.1.1",
    summary="A defined value length is odd.",
    why="Every value field has even length (padded as its VR says). Odd lengths misalign "
    "readers that assume it, and some toolkits 'fix' the file by padding, changing it.",
    example="(0010,0010) PN, VL 11: 'DOE^JOHN^A' + no padding",
)
def odd_value_length(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    # A sequence's length is odd only through an odd element inside it: that one is the fault.
    idx = np.flatnonzero(
        (c.kind == Kind.ELEMENT) & (c.length >= 0) & (c.length % 2 == 1) & (c.vr != _SQ)
    )
    for i in idx.tolist():
        at, size = ctx.length_field(i)
        yield ctx.finding(
            "ODD_VALUE_LENGTH",
            f"VL {int(c.length[i])} is odd; values are padded to even length",
            node=i,
            offset=at,
            length=size,
        )


@screen("ODD_VALUE_LENGTH")
def _screen_odd_value_length(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own condition as a mask over the batch: exact."""
    c = batch.columns
    odd = (c.length >= 0) & ((c.length & 1) == 1)  # & 1 costs a fraction of % 2
    return batch.files_with(batch.elements & odd & (c.vr != _SQ))


def _tag_order_findings(ctx: Context) -> dict[str, list[Finding]]:
    """Both order rules, as column operations over every data set at once.

    In each data set, in file order: a tag seen before in it is a DUPLICATE_TAG; else a tag
    below the greatest one before it is TAGS_NOT_ASCENDING (the message names that one).
    """
    out: dict[str, list[Finding]] = {"DUPLICATE_TAG": [], "TAGS_NOT_ASCENDING": []}
    nodes, keys = ctx.dataset_elements
    n = len(nodes)
    if n < 2:
        return out
    tags = ctx.columns.tag[nodes]
    # Data set number (0, 1, ...) per row: rows are grouped by data set, in file order.
    first_of_set = np.concatenate(([True], keys[1:] != keys[:-1]))
    set_no = np.cumsum(first_of_set) - 1
    # Duplicates: sorted by (data set, tag, row), every row after the first of its pair.
    by_tag = np.lexsort((np.arange(n), tags, set_no))
    same = (set_no[by_tag][1:] == set_no[by_tag][:-1]) & (tags[by_tag][1:] == tags[by_tag][:-1])
    duplicate = np.zeros(n, dtype=np.bool_)
    duplicate[by_tag[1:][same]] = True
    # The greatest tag before each row in its data set: a running maximum that a later data
    # set cannot inherit (its rows carry a larger set number in the high bits).
    shifted = (set_no << 33) + tags
    running = np.maximum.accumulate(shifted)
    before = np.concatenate(([-1], running[:-1]))
    has_before = ~first_of_set
    previous = np.where(has_before, before - (set_no << 33), -1)
    descending = has_before & ~duplicate & (tags < previous)
    for row in np.flatnonzero(duplicate)[: FINDINGS_PER_RULE + 1].tolist():
        out["DUPLICATE_TAG"].append(
            ctx.finding(
                "DUPLICATE_TAG",
                f"({format_tag(int(tags[row]))}) appears a second time in this data set",
                node=int(nodes[row]),
                length=8,
            )
        )
    for row in np.flatnonzero(descending)[: FINDINGS_PER_RULE + 1].tolist():
        out["TAGS_NOT_ASCENDING"].append(
            ctx.finding(
                "TAGS_NOT_ASCENDING",
                f"({format_tag(int(tags[row]))}) follows ({format_tag(int(previous[row]))}); "
                "tags must increase",
                node=int(nodes[row]),
                length=8,
            )
        )
    return out


@rule(
    "TAGS_NOT_ASCENDING",
    "error",
    "PS3.5 7.1",
    summary="Tags in a data set or item are not in strictly increasing order.",
    why="Readers that stop at the first tag past the one they want (or merge sorted streams) "
    "miss elements; dcmtk reorders silently and so changes the file when it writes it back.",
    example="(0010,0020) LO PatientID, then (0010,0010) PN PatientName",
)
def tags_not_ascending(ctx: Context) -> Iterator[Finding]:
    yield from _order_findings(ctx)["TAGS_NOT_ASCENDING"]


@rule(
    "DUPLICATE_TAG",
    "error",
    "PS3.5 7.1",
    summary="The same tag twice in one data set or item.",
    why="Readers disagree on which one wins (pydicom keeps the last, dcmtk the first), so two "
    "systems show different values for the same file.",
    example="(0010,0010) PN 'DOE^A' ... (0010,0010) PN 'DOE^B' in the same data set",
)
def duplicate_tag(ctx: Context) -> Iterator[Finding]:
    yield from _order_findings(ctx)["DUPLICATE_TAG"]


_ORDER: WeakKeyDictionary[Context, dict[str, list[Finding]]] = WeakKeyDictionary()


def _order_findings(ctx: Context) -> dict[str, list[Finding]]:
    """Both order rules' findings, computed once per file."""
    cached = _ORDER.get(ctx)
    if cached is None:
        cached = _ORDER[ctx] = _tag_order_findings(ctx)
    return cached


def _screen_order(batch: Batch) -> npt.NDArray[np.bool_]:
    """Files where some element's tag is not above the one before it in its data set.

    A data set whose consecutive tags all increase is strictly increasing throughout: no tag
    in it repeats and none is below an earlier one, so neither order rule finds anything
    there. Every element is taken, keyed by ``batch.dataset_key``: the check's data sets (the
    top level, the meta group, each item) get the same keys and the same rows in file order;
    elements under anything else only form extra groups of their own (more flags, never fewer).
    """
    return batch.shared(_order_stalls)


def _order_stalls(batch: Batch) -> npt.NDArray[np.bool_]:
    rows = np.flatnonzero(batch.elements)
    order = np.argsort(batch.dataset_key[rows], kind="stable")
    rows = rows[order]
    keys = batch.dataset_key[rows]
    tags = batch.columns.tag[rows]
    stalls = (keys[1:] == keys[:-1]) & (tags[1:] <= tags[:-1])
    return batch.files_with(rows[1:][stalls])


@screen("TAGS_NOT_ASCENDING")
def _screen_tags_not_ascending(batch: Batch) -> npt.NDArray[np.bool_]:
    """A tag below the greatest before it needs a tag not above the one just before it."""
    return _screen_order(batch)


@screen("DUPLICATE_TAG")
def _screen_duplicate_tag(batch: Batch) -> npt.NDArray[np.bool_]:
    """A tag seen twice in a data set needs a tag not above the one just before it."""
    return _screen_order(batch)


@cache
def _value_sizes() -> dict[int, int]:
    """The size of one value of each VR code (packed) that has a size above one byte."""
    sizes: dict[int, int] = {}
    for code in specdata.VR_CODES:
        info = specdata.vr_info(code)
        if info is not None and info.value_size and info.value_size > 1:
            b = code.encode("ascii")
            sizes[(b[0] << 8) | b[1]] = info.value_size
    return sizes


@cache
def _value_size_table() -> npt.NDArray[np.int64]:
    """:func:`_value_sizes` by packed VR code (all 65536 of them), 1 where a VR has none."""
    table = np.ones(1 << 16, dtype=np.int64)
    for code, size in _value_sizes().items():
        table[code] = size
    return table


@rule(
    "VL_NOT_MULTIPLE_OF_VALUE_SIZE",
    "error",
    "PS3.5 6.2 Table 6.2-1",
    summary="A value length is not a multiple of the VR's value size (US, UL, FL, FD, AT, SS, "
    "SL, SV, UV, OW, OF, OD, OL, OV).",
    why="The last value is cut in the middle: readers either drop it, read past the value, or "
    "refuse the element.",
    example="(0028,0010) US, VL 3",
)
def vl_not_multiple(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    sizes = _value_sizes()
    idx = np.flatnonzero((c.kind == Kind.ELEMENT) & (c.length > 0) & member(c.vr, list(sizes)))
    for i in idx.tolist():
        size = sizes[int(c.vr[i])]
        length = int(c.length[i])
        if length % size:
            at, field = ctx.length_field(i)
            yield ctx.finding(
                "VL_NOT_MULTIPLE_OF_VALUE_SIZE",
                f"VL {length} is not a multiple of {size}, the size of one "
                f"{vr_text(int(c.vr[i]))} value",
                node=i,
                offset=at,
                length=field,
            )


@screen("VL_NOT_MULTIPLE_OF_VALUE_SIZE")
def _screen_vl_not_multiple(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own condition as a mask (VRs without a size divide by 1): exact."""
    c = batch.columns
    size = _value_size_table()[c.vr]
    return batch.files_with(batch.elements & (c.length > 0) & (c.length % size != 0))


@rule(
    "RESERVED_BYTES_NONZERO",
    "warning",
    "PS3.5 7.1.2",
    summary="The 2 reserved bytes after a long-form VR are not 0000H.",
    why="The standard reserves them for future use and requires 0000H; some readers use them "
    "to sniff the header form and then misread the length.",
    example="e0 7f 10 00 'OW' 20 20 00 02 00 00   (reserved bytes 2020H)",
)
def reserved_bytes_nonzero(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    idx = np.flatnonzero(
        (c.kind == Kind.ELEMENT) & c.vr_explicit & (c.value_offset - c.offset == 12)
    )
    # The two reserved bytes of every long-form header, read together.
    reserved_bytes = ctx.index.gather(c.stream[idx], c.offset[idx] + 6, 2)
    for k in np.flatnonzero(reserved_bytes.any(axis=1)).tolist():
        i = int(idx[k])
        at = int(c.offset[i]) + 6
        reserved = reserved_bytes[k].tobytes()
        if reserved != b"\0\0":
            yield ctx.finding(
                "RESERVED_BYTES_NONZERO",
                f"reserved bytes are {reserved.hex().upper()}H, expected 0000H",
                node=i,
                offset=at,
                length=2,
            )


# A file's candidates in one stream spread wider than this are gathered one by one, not read
# as one span: a big file's first long-form header and its pixel data's may be far apart.
_SPAN = 1 << 16
_STREAMS = tuple(Stream)


@screen("RESERVED_BYTES_NONZERO")
def _screen_reserved_bytes_nonzero(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own test on the same bytes (zeros past a stream's end, as its gather
    reads them): exact. One read per file and stream covers its long-form headers."""
    c = batch.columns
    flags = np.zeros(len(batch), dtype=np.bool_)
    rows = np.flatnonzero(batch.elements & c.vr_explicit & (c.value_offset - c.offset == 12))
    if not len(rows):
        return flags
    at = c.offset[rows] + 6
    streams = c.stream[rows]
    # Rows are in table order, so each file's rows of one stream mostly form one run (a run
    # that comes back later only costs a read of its own).
    piece = batch.file[rows] * 2 + streams
    new = np.r_[True, piece[1:] != piece[:-1]]
    firsts = np.flatnonzero(new)
    piece_of = np.cumsum(new) - 1
    lo = np.minimum.reduceat(at, firsts)
    hi = np.maximum.reduceat(at, firsts) + 2
    parts: list[bytes] = []
    where: list[int] = []
    size = 0
    for f, stream, a, b, first, last in zip(
        batch.file[rows[firsts]].tolist(),
        streams[firsts].tolist(),
        lo.tolist(),
        hi.tolist(),
        firsts.tolist(),
        [*firsts[1:].tolist(), len(rows)],
        strict=True,
    ):
        index = batch.indexes[f]
        if b - a > _SPAN:
            flags[f] |= bool(index.gather(streams[first:last], at[first:last], 2).any())
            data = b""
        else:
            # Through the index's read cache: a small file's bytes are there already.
            data = index.read(_STREAMS[stream], a, b - a)
            data += bytes(b - a - len(data))  # past the stream's end: zeros, as gather reads
        where.append(size - a)
        parts.append(data)
        size += len(data)
    buffer = np.frombuffer(b"".join(parts) + b"\0\0", dtype=np.uint8)
    narrow = (hi - lo <= _SPAN)[piece_of]
    # Rows of wide pieces point at the two zeros after the buffer's end.
    pos = np.where(narrow, np.asarray(where, dtype=np.int64)[piece_of] + at, size)
    flags[batch.file[rows[(buffer[pos] | buffer[pos + 1]) != 0]]] = True
    return flags


@rule(
    "GROUP_LENGTH_MISMATCH",
    "warning",
    "PS3.5 7.2",
    summary="A (retired) group length (gggg,0000) outside group 0002 has the wrong value.",
    why="Group lengths are retired but still honoured by some readers to skip whole groups: a "
    "wrong one makes them skip too little or too much.",
    example="(0008,0000) UL 100, while the group 0008 elements after it take 120 bytes",
)
def group_length_mismatch(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    nodes, keys = ctx.dataset_elements
    tags = c.tag[nodes]
    groups = tags >> 16
    rows = np.flatnonzero(((tags & 0xFFFF) == 0) & (groups != 0x0002) & (c.length[nodes] == 4))
    for row in rows.tolist():
        i = int(nodes[row])
        said = ctx.uint(i)
        if said is None:
            continue
        # The group runs on while the data set and the group number stay the same.
        last = row
        while (
            last + 1 < len(nodes)
            and keys[last + 1] == keys[row]
            and groups[last + 1] == groups[row]
        ):
            last += 1
        actual = int(c.end[nodes[last]]) - int(c.end[i])
        if said != actual:
            yield ctx.finding(
                "GROUP_LENGTH_MISMATCH",
                f"({format_tag(int(tags[row]))}) says {count(said, 'byte')}, the group holds "
                f"{actual}",
                node=i,
                offset=int(c.value_offset[i]),
                length=4,
            )


@screen("GROUP_LENGTH_MISMATCH")
def _screen_group_length_mismatch(batch: Batch) -> npt.NDArray[np.bool_]:
    """Files with a 4-byte (gggg,0000) element outside group 0002: every finding is on one."""
    c = batch.columns
    candidates = ((c.tag & 0xFFFF) == 0) & ((c.tag >> 16) != 0x0002) & (c.length == 4)
    return batch.files_with(batch.elements & candidates)


ILLEGAL_GROUPS = frozenset({0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})
_ILLEGAL_BY_BITS = frozenset({0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})


@rule(
    "ILLEGAL_GROUP",
    "error",
    "PS3.5 7.8.1",
    summary="An element in group 0001, 0003, 0005, 0007 or FFFF.",
    why="These odd groups may not be used, not even as private groups; readers that map "
    "private groups by number misattribute them.",
    example="(0003,0010) LO 'ACME' ...",
)
def illegal_group(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    groups = c.tag >> 16
    idx = np.flatnonzero((c.kind == Kind.ELEMENT) & member(groups, list(ILLEGAL_GROUPS)))
    for i in idx.tolist():
        yield ctx.finding(
            "ILLEGAL_GROUP",
            f"({format_tag(int(c.tag[i]))}) is in group {int(groups[i]):04X}, which may "
            "not be used",
            node=i,
            length=4,
        )


@screen("ILLEGAL_GROUP")
def _screen_illegal_group(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own condition as a mask: exact."""
    groups = batch.columns.tag >> 16
    if ILLEGAL_GROUPS == _ILLEGAL_BY_BITS:
        # g | 6 == 7 holds for exactly 1, 3, 5 and 7: a fraction of member()'s cost.
        illegal = ((groups | 6) == 7) | (groups == 0xFFFF)
    else:
        illegal = member(groups, ILLEGAL_GROUPS)
    return batch.files_with(batch.elements & illegal)


@rule(
    "UNKNOWN_STANDARD_TAG",
    "info",
    "PS3.6 6",
    summary="An even-group tag that the data dictionary (DICOM 2024c) does not know.",
    why="A standard tag unknown to the dictionary is either newer than it, a typo in a "
    "generator, or a private element written into a standard group; readers treat it as UN.",
    example="(0008,0017) in a file: no such attribute in PS3.6",
)
def unknown_standard_tag(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    even = (c.tag >> 16) % 2 == 0
    idx = np.flatnonzero(
        (c.kind == Kind.ELEMENT) & even & ((c.tag & 0xFFFF) != 0) & ((c.tag >> 16) != 0xFFFE)
    )
    # One dictionary look-up per distinct tag, not per element.
    found, which = distinct_inverse(c.tag[idx])
    unknown = np.array([specdata.lookup(int(t)) is None for t in found.tolist()], dtype=bool)
    for i in idx[unknown[which]].tolist():
        tag = int(c.tag[i])
        yield ctx.finding(
            "UNKNOWN_STANDARD_TAG",
            f"({format_tag(tag)}) is not in the DICOM {specdata.EDITION} data dictionary",
            node=i,
            length=4,
        )


@cache
def _known_tags() -> npt.NDArray[np.int64]:
    """The dictionary's ordinary tags, sorted: each of them has an entry."""
    return np.asarray(specdata.known_tags(), dtype=np.int64)


@screen("UNKNOWN_STANDARD_TAG")
def _screen_unknown_standard_tag(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's candidates whose tag has no dictionary entry: exact. The ordinary tags are
    matched as a column; only the few others (repeating groups, unknown ones) are looked up."""
    c = batch.columns
    tag = c.tag
    candidates = (
        batch.elements & ((tag & 0x10000) == 0) & ((tag & 0xFFFF) != 0) & ((tag >> 16) != 0xFFFE)
    )
    known = _known_tags()
    at = np.minimum(np.searchsorted(known, tag), len(known) - 1)
    rows = np.flatnonzero(candidates & (known[at] != tag))
    if not len(rows):
        return np.zeros(len(batch), dtype=np.bool_)
    unknown = [t for t in distinct(tag[rows]).tolist() if specdata.lookup(int(t)) is None]
    return batch.files_with(rows[member(tag[rows], unknown)])
