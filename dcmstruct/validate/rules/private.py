"""Rules: private data elements and their creators (PS3.5 7.8.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct.arrays import first_and_count, member
from dcmstruct.model import Kind, vr_code
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import rule
from dcmstruct.validate.rules.encoding import ILLEGAL_GROUPS

if TYPE_CHECKING:
    import numpy.typing as npt

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
