"""Rules: private data elements and their creators (PS3.5 7.8.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct.arrays import first_and_count, member
from dcmstruct.model import Kind, Stream, vr_code
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import rule, screen
from dcmstruct.validate.rules.encoding import ILLEGAL_GROUPS

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.validate.batch import Batch

_LO = vr_code("LO")


def _private_group(group: int) -> bool:
    return group % 2 == 1 and group not in ILLEGAL_GROUPS


def _private(groups: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    private: npt.NDArray[np.bool_] = (groups % 2 == 1) & ~member(groups, list(ILLEGAL_GROUPS))
    return private


def _block_keys(
    keys: npt.NDArray[np.int64], groups: npt.NDArray[np.int64], blocks: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """One int per (data set, group, block): data set keys run from -2 up, below 2**31."""
    return ((keys + 2) << 24) | (groups << 8) | blocks


@rule(
    "PRIVATE_CREATOR_MISSING",
    "error",
    "PS3.5 7.8.1",
    summary="A private element (gggg,xxyy) with no creator (gggg,00xx) in the same data set.",
    why="Private elements are only identified by their creator: without it no reader can tell "
    "whose element it is, and de-identification profiles that keep known private tags drop or "
    "keep it blindly.",
    example="(0009,1001) LO 'X' with no (0009,0010) in the data set",
)
def private_creator_missing(ctx: Context) -> Iterator[Finding]:
    nodes, keys = ctx.dataset_elements
    tags = ctx.columns.tag[nodes]
    groups, elements = tags >> 16, tags & 0xFFFF
    private = _private(groups)
    creator = private & (elements >= 0x0010) & (elements <= 0x00FF)
    in_block = private & (elements >= 0x1000)
    creators = _block_keys(keys[creator], groups[creator], elements[creator])
    members = np.flatnonzero(in_block)
    wanted = _block_keys(keys[members], groups[members], elements[members] >> 8)
    orphans = members[~member(wanted, creators.tolist())]
    if not len(orphans):
        return
    # One finding per block without a creator, at its first element: a vendor's block of
    # fifty elements is one missing creator, not fifty faults.
    block = _block_keys(keys[orphans], groups[orphans], elements[orphans] >> 8)
    _, first, size = first_and_count(block)
    for k in np.argsort(orphans[first], kind="stable").tolist():
        row = int(orphans[first[k]])
        more = int(size[k]) - 1
        group, number = int(groups[row]), int(elements[row]) >> 8
        others = f" and {more} more of its block" if more else ""
        verb = "have" if more else "has"
        yield ctx.finding(
            "PRIVATE_CREATOR_MISSING",
            f"({format_tag(int(tags[row]))}){others} {verb} no private creator "
            f"({group:04X},00{number:02X}) in {'their' if more else 'its'} data set",
            node=int(nodes[row]),
            length=4,
        )


def _batch_private(
    batch: Batch,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The batch's rows that are elements of private groups, with their group and element
    numbers: found once per batch for the three screens that ask, then only these few rows
    are looked at."""
    return batch.shared(_private_rows)


def _private_rows(
    batch: Batch,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    tags = batch.columns.tag
    rows = np.flatnonzero(batch.elements & ((tags & 0x10000) != 0))  # odd groups
    groups = tags[rows] >> 16
    rows = rows[_private(groups)]
    return rows, tags[rows] >> 16, tags[rows] & 0xFFFF


@screen("PRIVATE_CREATOR_MISSING")
def _screen_private_creator_missing(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own test over the batch: a block member whose (data set, group, block) has
    no creator. ``batch.dataset_key`` keys each of the check's data sets by its own rows, so
    creators match as in the check; members outside them only add flags."""
    rows, groups, elements = _batch_private(batch)
    block_member = elements >= 0x1000
    if not block_member.any():
        return np.zeros(len(batch), dtype=np.bool_)
    creator = (elements >= 0x0010) & (elements <= 0x00FF)
    # Data set keys run from -2 * len(batch) up: shifted to start at -2, as _block_keys wants.
    keys = batch.dataset_key[rows] + 2 * len(batch) - 2
    have = _block_keys(keys[creator], groups[creator], elements[creator])
    wanted = _block_keys(keys[block_member], groups[block_member], elements[block_member] >> 8)
    return batch.files_with(rows[block_member][~member(wanted, have.tolist())])


@rule(
    "PRIVATE_CREATOR_INVALID",
    "error",
    "PS3.5 7.8.1; CP-1529",
    summary="A private creator that is not LO, is empty, or reserves the same identifier twice "
    "in one group.",
    why="Readers find a vendor's block by matching the creator string: an empty one matches "
    "nothing, and two blocks with one identifier make the vendor's elements ambiguous.",
    example="(0009,0010) LO 'ACME' and (0009,0011) LO 'ACME' in one data set",
)
def private_creator_invalid(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    nodes, keys = ctx.dataset_elements
    tags = c.tag[nodes]
    groups, elements = tags >> 16, tags & 0xFFFF
    rows = np.flatnonzero(_private(groups) & (elements >= 0x0010) & (elements <= 0x00FF))
    # Creators are few: a loop over them, in (data set, tag) order.
    seen: dict[tuple[int, int, str], int] = {}
    done: set[tuple[int, int]] = set()
    for row in rows[np.lexsort((tags[rows], keys[rows]))].tolist():
        i = int(nodes[row])
        tag = int(tags[row])
        group = tag >> 16
        owner = int(keys[row])
        if (owner, tag) in done:
            continue  # the same creator tag twice: DUPLICATE_TAG says it
        done.add((owner, tag))
        vr = int(c.vr[i])
        if bool(c.vr_explicit[i]) and vr != _LO:
            yield ctx.finding(
                "PRIVATE_CREATOR_INVALID",
                f"private creator ({format_tag(tag)}) has VR "
                f"{terminal_safe(ctx.node(i).vr or '')}, expected LO",  # maybe no VR code
                node=i,
                offset=int(c.offset[i]) + 4,
                length=2,
            )
            continue
        text = ctx.text(i)
        name = (text or "").strip(" \0")
        if not name:
            yield ctx.finding(
                "PRIVATE_CREATOR_INVALID",
                f"private creator ({format_tag(tag)}) is empty",
                node=i,
            )
            continue
        first = seen.get((owner, group, name))
        if first is not None:
            yield ctx.finding(
                "PRIVATE_CREATOR_INVALID",
                f"private creator ({format_tag(tag)}) '{terminal_safe(name)}' is already "
                f"reserved by ({format_tag(int(c.tag[first]))})",
                node=i,
            )
        else:
            seen[(owner, group, name)] = i


# Creator values up to this long are read whole, so their names are the check's own; of a
# longer one only the start is read (enough to tell it is not empty).
_CREATOR_PEEK = 64
_STREAMS = tuple(Stream)


@screen("PRIVATE_CREATOR_INVALID")
def _screen_private_creator_invalid(batch: Batch) -> npt.NDArray[np.bool_]:
    """Files with a creator whose VR was read and is not LO, one that reads as empty (no
    value, or spaces and NULs), or two in one (data set, group) with one name (or a name too
    long to compare): every finding of the check is one of these. The check reads each value
    up to its ``end``; the screen reads the same bytes (a prefix of them for long values)."""
    c = batch.columns
    rows, _, elements = _batch_private(batch)
    creators = rows[(elements >= 0x0010) & (elements <= 0x00FF)]
    flags = np.zeros(len(batch), dtype=np.bool_)
    if not len(creators):
        return flags
    flags[batch.file[creators[c.vr_explicit[creators] & (c.vr[creators] != _LO)]]] = True
    # No value (undefined length, none, or zero bytes) reads as empty.
    starts = c.value_offset[creators]
    sizes = c.end[creators] - starts
    blank = (c.length[creators] <= 0) | (starts < 0) | (sizes <= 0)
    flags[batch.file[creators[blank]]] = True
    owner_group = ((batch.dataset_key[creators] + 2 * len(batch)) << 16) | (c.tag[creators] >> 16)
    ordered = np.sort(owner_group)
    shared = member(owner_group, ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    names: dict[tuple[int, bytes], None] = {}
    keep = ~blank & ~flags[batch.file[creators]]
    for f, stream, start, size, key, in_shared in zip(
        batch.file[creators[keep]].tolist(),
        c.stream[creators[keep]].tolist(),
        starts[keep].tolist(),
        sizes[keep].tolist(),
        owner_group[keep].tolist(),
        shared[keep].tolist(),
        strict=True,
    ):
        if flags[f]:
            continue
        data = batch.indexes[f].read(_STREAMS[stream], start, min(size, _CREATOR_PEEK))
        name = data.strip(b" \0")
        if not name:
            flags[f] = True
        elif in_shared:
            if size > _CREATOR_PEEK or (key, name) in names:
                flags[f] = True
            names[(key, name)] = None
    return flags


@rule(
    "PRIVATE_TAG_RESERVED_RANGE",
    "error",
    "PS3.5 7.8.1",
    summary="An element (gggg,0001-000F) or (gggg,0100-0FFF) in a private group.",
    why="These element numbers are reserved in private groups: no creator can own them, so "
    "no reader can interpret them.",
    example="(0009,0005) LO 'X'",
)
def private_tag_reserved_range(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    group = c.tag >> 16
    element = c.tag & 0xFFFF
    private = (group % 2 == 1) & ~member(group, list(ILLEGAL_GROUPS))
    reserved = ((element >= 0x0001) & (element <= 0x000F)) | (
        (element >= 0x0100) & (element <= 0x0FFF)
    )
    for i in np.flatnonzero((c.kind == Kind.ELEMENT) & private & reserved).tolist():
        yield ctx.finding(
            "PRIVATE_TAG_RESERVED_RANGE",
            f"({format_tag(int(c.tag[i]))}) is in a range reserved in private groups "
            "((gggg,0001-000F) and (gggg,0100-0FFF))",
            node=i,
            length=4,
        )


@screen("PRIVATE_TAG_RESERVED_RANGE")
def _screen_private_tag_reserved_range(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own condition as a mask: exact."""
    rows, _, element = _batch_private(batch)
    reserved = ((element >= 0x0001) & (element <= 0x000F)) | (
        (element >= 0x0100) & (element <= 0x0FFF)
    )
    return batch.files_with(rows[reserved])
