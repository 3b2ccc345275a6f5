"""Rules: private data elements and their creators (PS3.5 7.8.1)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dcmstruct.model import Kind, vr_code
from dcmstruct.schema.element import format_tag
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import rule
from dcmstruct.validate.rules.encoding import ILLEGAL_GROUPS

_LO = vr_code("LO")


def _private_group(group: int) -> bool:
    return group % 2 == 1 and group not in ILLEGAL_GROUPS


def _creators(ctx: Context, nodes: list[int]) -> dict[tuple[int, int], int]:
    """(group, block) -> creator node, for the creators (gggg,0010-00FF) of one data set."""
    tags = ctx.tags
    out: dict[tuple[int, int], int] = {}
    for i in nodes:
        tag = tags[i]
        group, element = tag >> 16, tag & 0xFFFF
        if _private_group(group) and 0x0010 <= element <= 0x00FF:
            out.setdefault((group, element), i)
    return out


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
    tags = ctx.tags
    for _owner, nodes in ctx.datasets():
        creators = _creators(ctx, nodes)
        # One finding per block without a creator, at its first element: a vendor's block of
        # fifty elements is one missing creator, not fifty faults.
        orphans: dict[tuple[int, int], list[int]] = {}
        for i in nodes:
            tag = tags[i]
            group, element = tag >> 16, tag & 0xFFFF
            if _private_group(group) and element >= 0x1000:
                block = element >> 8
                if (group, block) not in creators:
                    orphans.setdefault((group, block), []).append(i)
        for (group, block), members in orphans.items():
            first = members[0]
            others = f" and {len(members) - 1} more of its block" if len(members) > 1 else ""
            yield ctx.finding(
                "PRIVATE_CREATOR_MISSING",
                f"({format_tag(tags[first])}){others} have no private creator "
                f"({group:04X},00{block:02X}) in their data set",
                node=first,
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
    tags = ctx.tags
    for _owner, nodes in ctx.datasets():
        seen: dict[tuple[int, str], int] = {}
        for (group, _block), i in sorted(_creators(ctx, nodes).items()):
            tag = tags[i]
            vr = int(c.vr[i])
            if bool(c.vr_explicit[i]) and vr != _LO:
                yield ctx.finding(
                    "PRIVATE_CREATOR_INVALID",
                    f"private creator ({format_tag(tag)}) has VR {ctx.node(i).vr}, expected LO",
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
            first = seen.get((group, name))
            if first is not None:
                yield ctx.finding(
                    "PRIVATE_CREATOR_INVALID",
                    f"private creator ({format_tag(tag)}) '{name}' is already reserved by "
                    f"({format_tag(int(c.tag[first]))})",
                    node=i,
                )
            else:
                seen[(group, name)] = i


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
    private = (group % 2 == 1) & ~np.isin(group, list(ILLEGAL_GROUPS))
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
