"""Which bytes the viewer's privacy mask hides: what :mod:`dcmstruct.privacy` classifies as
identifying (PS3.15 Table E.1-1, generated into ``specs/deid_profile.tsv``; private
attributes; the File Meta Information's AE titles), so the mask, ``dcmstruct phi`` and
``dcmstruct redact`` agree on what identifies a patient.

One difference, on purpose: UIDs (the table's action U) stay visible unless asked for. They
are what one follows through a broken file (references, the meta group against the data set),
and the viewer shows them, it does not send them.

Masking hides value bytes only: tags, VRs and lengths stay visible, as they are the structure
being debugged. Hidden whole: bytes that form no element (unparsed, trailing), a branch nested
past the index's depth limit (either may hold any value), the preamble (it may hold anything,
PS3.10 7.1), and the file bytes of a deflated data set (they encode every value in it: the
mask goes by what bytes encode, not where they sit). So is every value inside an item of a
masked sequence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dcmstruct import specdata
from dcmstruct.arrays import distinct, member
from dcmstruct.index import ElementIndex
from dcmstruct.model import UNDEFINED, Kind, Stream, vr_code
from dcmstruct.privacy import identifying
from dcmstruct.ranges import RangeSet


def identifying_tags(tags: npt.NDArray[np.int64], *, uids: bool = False) -> npt.NDArray[np.int64]:
    """Of ``tags``, the distinct ones whose values the mask hides (UIDs only with ``uids``)."""
    out = []
    for tag in distinct(tags).tolist():
        if not identifying(tag):
            continue
        entry = specdata.deid_entry(tag)
        if not uids and entry is not None and entry.basic == "U":
            continue
        out.append(tag)
    return np.array(out, dtype=np.int64)


_SQ = vr_code("SQ")


def masked_nodes(index: ElementIndex) -> npt.NDArray[np.bool_]:
    """Per node: are its value bytes hidden? An identifying or private element, or anything
    inside one (an item of a masked sequence and all it holds)."""
    c = index.columns
    n = len(c)
    is_element = c.kind == Kind.ELEMENT
    tag = c.tag.astype(np.int64)
    group = (tag >> 16) & 0xFFFF
    # Odd groups below 0009 are illegal (PS3.5 7.8.1) but may hold anything: hidden as well.
    private = is_element & (group & 1 == 1)
    direct = is_element & member(tag, identifying_tags(tag[is_element]))
    # Bytes that form no element may be the remains of any value, a patient's name included.
    unparsed = (c.kind == Kind.TRAILING) | (c.kind == Kind.PREAMBLE)
    hidden: npt.NDArray[np.bool_] = np.asarray(private | direct | unparsed, dtype=np.bool_)
    if n == 0 or not hidden.any():
        return hidden
    # Inherit down the tree: each vectorised pass pushes the mask one tree level further
    # (items and their elements share a data-set depth, so depth cannot order the passes);
    # it stops when nothing changes, after at most the tree's height in passes.
    parent = c.parent.astype(np.int64)
    has_parent = np.flatnonzero(parent >= 0)
    while True:
        inherited = hidden[parent[has_parent]] & ~hidden[has_parent]
        if not inherited.any():
            return hidden
        hidden[has_parent[inherited]] = True


def masked_ranges(index: ElementIndex, hidden: npt.NDArray[np.bool_]) -> dict[int, RangeSet]:
    """Per stream: the byte ranges to hide. A sequence's own value is its items' headers and
    elements: only the values inside it are hidden (by the nodes inside it), so the items
    stay readable as structure."""
    c = index.columns
    trailing = hidden & (c.kind == Kind.TRAILING)
    has_value = trailing | (
        hidden
        & (c.value_offset >= 0)
        & (c.length != UNDEFINED)
        & (c.vr != _SQ)
        & ((c.kind == Kind.ELEMENT) | (c.kind == Kind.FRAGMENT))
    )
    # Past the nesting limit nothing is recorded: the bytes of such a branch can hold any
    # value, so the branch's whole value is hidden.
    deep = np.zeros(len(c), dtype=np.bool_)
    for fault in index.faults:
        if fault.code == "NESTING_TOO_DEEP" and 0 <= fault.node < len(c):
            deep[fault.node] = True
    has_value |= deep & (c.value_offset >= 0)
    # An element with items under it (an SQ read as UN, say) shows them as nodes.
    whole = trailing | (c.kind == Kind.PREAMBLE)
    has_value |= c.kind == Kind.PREAMBLE
    out: dict[int, RangeSet] = {}
    rows = np.flatnonzero(has_value)
    for stream in distinct(c.stream[rows].astype(np.int64)).tolist():
        sel = rows[c.stream[rows] == stream]
        # Unparsed bytes and the preamble have no value field: all of them are hidden.
        starts = np.where(whole[sel], c.offset[sel], c.value_offset[sel])
        ends = c.end[sel]
        if stream == Stream.FILE and index.deflated and index.dataset_offset is not None:
            starts = np.append(starts, index.dataset_offset)
            ends = np.append(ends, index.size)
        out[int(stream)] = RangeSet.from_arrays(starts, ends)
    if index.deflated and index.dataset_offset is not None and Stream.FILE not in out:
        out[int(Stream.FILE)] = RangeSet.from_arrays(
            np.array([index.dataset_offset]), np.array([index.size])
        )
    return out
