"""Where a file's identifying bytes are, and what PS3.15's confidentiality profile does to each.

One classification for every reader above the index: ``dcmstruct phi`` lists it, ``redact``
overwrites it, the viewer's mask and ``dump --mask`` hide it, and ``validate`` quotes no value
of what :func:`identifying` names. For each
node of the index it gives the action that applies (PS3.15 E.1.1 action codes: D, Z, X, U, C
and their combinations; K, kept, is not listed) and why:

* an attribute of PS3.15 Table E.1-1 (``specs/deid_profile.tsv``), at any depth, the Basic
  Profile's action or an option's (PS3.15 E.3);
* every private attribute, creators included (Table E.1-1: private attributes are removed; no
  safe-private list, Table E.3.10-1, is available here, so Retain Safe Private keeps none);
* everything inside a sequence that is removed, emptied or replaced by a dummy (X, Z, D);
* the File Meta Information's AE titles (0002,0016-0018), which name the sending and receiving
  sites (the File Meta Information is outside Table E.1-1, but these are identifying);
* the preamble's bytes when any is not zero (PS3.10 7.1: it may hold anything);
* bytes that form no element (they may hold anything), and the value of a SQ or UN element
  that may be a sequence the index could not read as items (cut short or broken);
* Pixel Data whose Burned In Annotation (0028,0301) is YES or absent: its pixels may show text
  (PS3.15 E.3.1, Clean Pixel Data Option); no de-identification of values removes that;
* the bytes of a deflated data set in the file (PS3.5 A.5): they encode every value inside it.

A range covers the value bytes, or the whole element where the action removes it (X): the
contract of ``dcmstruct phi``. Ranges of nodes in a deflated data set count from the start of
the inflated stream, as the index's offsets do there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import distinct, member
from dcmstruct.model import NO_TAG, UNDEFINED, Kind, Stream, vr_code
from dcmstruct.ranges import RangeSet
from dcmstruct.schema.layout import LONG_HEADER, PIXEL_DATA, format_tag

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.index import ElementIndex

#: The options of PS3.15 E.3 that ``phi`` and ``redact`` accept (Table E.1-1's columns).
OPTIONS = specdata.DEID_OPTIONS

BURNED_IN_ANNOTATION = 0x00280301
# File Meta elements outside Table E.1-1 that identify: the AE titles name the sending and
# receiving sites; Private Information (PS3.10 7.1) may hold anything.
_META_EXTRA = {
    0x00020016: ("D", "Source Application Entity Title: names a site"),
    0x00020017: ("D", "Sending Application Entity Title: names a site"),
    0x00020018: ("D", "Receiving Application Entity Title: names a site"),
    0x00020102: ("X", "Private Information: may hold anything"),
}
_PREAMBLE_LENGTH = 128  # PS3.10 7.1
_SQ_CODE = vr_code("SQ")
_UN_CODE = vr_code("UN")


def private(tag: int) -> bool:
    """An odd group: private (PS3.5 7.8), or one of the odd groups no one may use (0001-0007,
    FFFF), which may hold anything just as well."""
    return bool((tag >> 16) & 1)


def identifying(tag: int | None) -> bool:
    """Is an element with ``tag`` identifying under the Basic Profile: in Table E.1-1, private,
    or one of the File Meta elements beyond the table (:data:`_META_EXTRA`)? A finding about
    one never quotes its value in a log."""
    if tag is None:
        return False
    return private(tag) or specdata.deid_entry(tag) is not None or tag in _META_EXTRA


def identifying_path(path: str) -> bool:
    """Does a finding's ``path`` (``0009,1001[0]/0008,0104``) run through an identifying
    element? A value inside a private or removed sequence is as identifying as its container."""
    for step in path.split("/"):
        text = step.split("[", 1)[0]
        try:
            tag = int(text.replace(",", ""), 16)
        except ValueError:
            continue
        if identifying(tag):
            return True
    return False


# From the first quote to the last: a value that holds a quote itself is still covered whole.
_QUOTED = re.compile(r"'.*'", re.DOTALL)
NOT_SHOWN = "'(value not shown)'"


def without_values(message: str) -> str:
    """``message`` with what it quotes (the rules quote values in single quotes) not shown."""
    return _QUOTED.sub(NOT_SHOWN, message)


class Mark(NamedTuple):
    """One identifying range: where, which node (-1: none), what the profile does, and why."""

    offset: int
    length: int
    stream: Stream
    node: int
    tag: int | None
    action: str
    reason: str
    inside: bool = False  # marked for being inside a removed element, not for what it is


def classify(index: ElementIndex, options: Collection[str] = ()) -> list[Mark]:
    """Every identifying range of ``index``, in node order (see the module's text).
    ``options``: names of :data:`OPTIONS` in force; an unknown one is a ``ValueError``."""
    chosen = frozenset(options)
    unknown = sorted(chosen - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(unknown)}")
    return list(_marks(index, chosen))


def _marks(index: ElementIndex, options: frozenset[str]) -> Iterator[Mark]:
    c = index.columns
    kinds = c.kind.tolist()
    tags = c.tag.tolist()
    parents = c.parent.tolist()
    removed: dict[int, str] = {}  # node -> the tag text of the removed element it is in
    inflated = False
    # A header cut short by the end of the file: a tag, a VR, part of a length; no value.
    cut_headers = {
        f.node
        for f in index.faults
        if f.code == "FILE_TRUNCATED"
        and 0 <= f.node < len(c)
        and kinds[f.node] == Kind.TRAILING
        and int(c.end[f.node]) - int(c.offset[f.node]) < LONG_HEADER  # no value field
    }
    unread = set(np.flatnonzero(unread_sequences(index)).tolist())
    for i, kind in enumerate(kinds):
        parent = parents[i]
        outer = removed.get(parent) if parent >= 0 else None
        if outer is not None:
            removed[i] = outer
            # Fragments and unparsed bytes too: an icon's encapsulated pixels, the remains of a
            # broken item, go with the removed sequence that holds them.
            if kind in (Kind.ELEMENT, Kind.FRAGMENT, Kind.TRAILING):
                inflated |= int(c.stream[i]) == Stream.INFLATED
                nested = _mark(
                    index, i, "X", f"inside {outer}, which is removed or replaced", whole=True
                )
                yield nested._replace(inside=True)
            continue
        if kind == Kind.PREAMBLE:
            mark = _preamble(index, i)
            if mark is not None:
                yield mark
        elif kind == Kind.TRAILING:
            if _all_zero(index, i) or i in cut_headers:
                continue  # padding (a deflate stream's NUL), or a cut header: they hold nothing
            inflated |= int(c.stream[i]) == Stream.INFLATED
            yield _mark(index, i, "X", "bytes that form no element can hold anything", whole=True)
        elif kind == Kind.ELEMENT:
            tag = tags[i]
            judged = _judge(index, i, tag, options)
            if judged is None and i in unread:
                judged = "X", _UNREAD_REASON
            if judged is None:
                continue
            action, reason = judged
            whole = action == "X"
            # A sequence the profile removes, empties or replaces with a dummy: all it holds
            # goes with it. Not under X/Z/U*, which names what happens inside (UIDs replaced,
            # each judged), nor C: pixel data to clean keeps its fragments.
            cleaned = action == "C" and tag != PIXEL_DATA  # nothing here can clean: emptied
            if whole or ((action in _EMPTIED or cleaned) and _holds_items(index, i)):
                removed[i] = format_tag(tag)
            mark = _mark(index, i, action, reason, whole=whole)
            if mark.length > 0:
                inflated |= mark.stream == Stream.INFLATED
                yield mark
    yield from _unrecorded(index)
    if inflated and index.deflated and index.dataset_offset is not None:
        start = index.dataset_offset
        yield Mark(
            start,
            index.size - start,
            Stream.FILE,
            -1,
            None,
            "X",
            "the deflated data set (PS3.5 A.5): its bytes encode the identifying values in it",
        )


# Actions that leave nothing of a sequence's content: it is emptied or replaced by a dummy.
_EMPTIED = frozenset({"D", "Z", "X/Z", "X/D", "Z/D", "X/Z/D"})


def _unrecorded(index: ElementIndex) -> Iterator[Mark]:
    """What the index did not record (past its node limit, or nested past its depth limit):
    it may hold anything, a name included."""
    c = index.columns
    for fault in index.faults:
        if fault.code == "NODE_LIMIT_EXCEEDED" and fault.length > 0:
            yield Mark(
                fault.offset, fault.length, fault.stream, -1, None, "X",
                "bytes the index did not record (its node limit): they may hold anything",
            )  # fmt: skip
        elif fault.code == "NESTING_TOO_DEEP" and 0 <= fault.node < len(c):
            start, end = int(c.value_offset[fault.node]), int(c.end[fault.node])
            if 0 <= start < end:
                yield Mark(
                    start, end - start, Stream(int(c.stream[fault.node])), -1, None, "X",
                    "a branch nested past the index's depth limit: it may hold anything",
                )  # fmt: skip


_UNREAD_REASON = (
    "a value that may be a sequence the index could not read (cut short or broken): "
    "it may hold anything"
)
_ITEM_STARTS = (b"\xfe\xff\x00\xe0", b"\xff\xfe\xe0\x00")  # (FFFE,E000), either byte order


def unread_sequences(index: ElementIndex) -> npt.NDArray[np.bool_]:
    """Per node: is it an element whose value may be a sequence the index did not read as
    items? A SQ, or a UN (PS3.5 6.2.2) that the dictionary calls SQ or whose value starts with
    an item tag, with value bytes and no node inside: its length runs past the end of its
    stream, or its items are broken. Whatever its tag, such a value can hold any attribute."""
    c = index.columns
    n = len(c)
    out = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return out
    has_child = np.zeros(n, dtype=np.bool_)
    parents = c.parent[c.parent >= 0]
    has_child[parents] = True
    vr = c.vr
    rows = np.flatnonzero(
        (c.kind == Kind.ELEMENT)
        & ((vr == _SQ_CODE) | (vr == _UN_CODE))
        & ~has_child
        & (c.value_offset >= 0)
        & (c.end > c.value_offset)
    )
    for node in rows.tolist():
        if int(vr[node]) == _SQ_CODE or specdata.dictionary_vr(int(c.tag[node])) == "SQ":
            out[node] = True
        else:
            out[node] = (index.value_bytes(node, 4) or b"") in _ITEM_STARTS
    return out


def _holds_items(index: ElementIndex, node: int) -> bool:
    """Is the element a sequence (or a UN value read as one): are there nodes inside it?"""
    return bool(len(index.children(node, array=True)))


def _judge(
    index: ElementIndex, node: int, tag: int, options: frozenset[str]
) -> tuple[str, str] | None:
    """The action and reason for an element that is not inside a removed one, if any."""
    if tag == NO_TAG:
        return None
    if private(tag):
        why = "a private attribute: removed (PS3.15 E.1-1)"
        if "retain_safe_private" in options:
            why += "; no safe-private list (Table E.3.10-1) is available, so none is kept"
        return "X", why
    entry = specdata.deid_entry(tag)
    if entry is not None:
        action = entry.action(options)
        if action == "K":
            return None
        name = entry.name or format_tag(tag)
        return action, f"{name} (PS3.15 E.1-1)"
    extra = _META_EXTRA.get(tag)
    if extra is not None and int(index.columns.parent[node]) < 0:
        return extra[0], f"{extra[1]} (File Meta Information, outside Table E.1-1)"
    if tag == PIXEL_DATA and int(index.columns.parent[node]) < 0:
        burned = _burned_in(index)
        if burned != "NO":
            # Never the value itself: whatever a file puts there must not reach a log.
            said = {None: "absent", "YES": "YES"}.get(burned, "not NO")
            return "C", (
                f"Burned In Annotation (0028,0301) is {said}: the pixels may show identifying "
                "text (PS3.15 E.3.1 Clean Pixel Data)"
            )
    return None


def _burned_in(index: ElementIndex) -> str | None:
    """The top level's Burned In Annotation value, stripped (None: absent)."""
    c = index.columns
    rows = np.flatnonzero((c.tag == BURNED_IN_ANNOTATION) & (c.parent < 0))
    if not len(rows):
        return None
    raw = index.value_bytes(int(rows[0]), 16) or b""
    return raw.strip(b" \0").decode("latin-1").upper()


def _mark(index: ElementIndex, node: int, action: str, reason: str, *, whole: bool) -> Mark:
    c = index.columns
    start, end = int(c.offset[node]), int(c.end[node])
    if not whole:
        value = int(c.value_offset[node])
        start = value if value >= 0 else end  # no value field: nothing to cover
    tag = int(c.tag[node])
    return Mark(
        start,
        max(0, end - start),
        Stream(int(c.stream[node])),
        node,
        None if tag == NO_TAG else tag,
        action,
        reason,
    )


def _all_zero(index: ElementIndex, node: int) -> bool:
    """Are a node's bytes all zero? Judged on its first 64 KiB: a longer run is listed anyway."""
    c = index.columns
    start, end = int(c.offset[node]), int(c.end[node])
    if end - start > _ZERO_JUDGED:
        return False
    return not any(index.read(Stream(int(c.stream[node])), start, end - start))


_ZERO_JUDGED = 1 << 16


def _preamble(index: ElementIndex, node: int) -> Mark | None:
    raw = index.read(Stream.FILE, 0, _PREAMBLE_LENGTH)
    if not any(raw):
        return None
    return Mark(
        0,
        len(raw),
        Stream.FILE,
        node,
        None,
        "Z",
        "the preamble (PS3.10 7.1) can hold anything, and some of its bytes are not zero",
    )


# -- the mask: which bytes a viewer or a dump hides --------------------------------------------
#
# What the mask hides is what is classified above, with one difference, on purpose: UIDs (the
# table's action U) stay visible unless asked for. They are what one follows through a broken
# file (references, the meta group against the data set), and a viewer shows them, it does not
# send them. Masking hides value bytes only: tags, VRs and lengths stay visible, as they are the
# structure being debugged. Hidden whole: bytes that form no element, a branch nested past the
# index's depth limit (either may hold any value), the preamble, and the file bytes of a
# deflated data set (they encode every value in it: the mask goes by what bytes encode, not
# where they sit). So is every value inside an item of a masked sequence.


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


def burned_in_warning(index: ElementIndex, node: int) -> str | None:
    """Why the pixels of ``node`` may identify (it is the top level's Pixel Data and Burned In
    Annotation (0028,0301) is YES or absent), or None."""
    c = index.columns
    if not 0 <= node < len(c) or int(c.tag[node]) != PIXEL_DATA or int(c.parent[node]) >= 0:
        return None
    judged = _judge(index, node, PIXEL_DATA, frozenset())
    return None if judged is None else judged[1]


def masked_nodes(index: ElementIndex, *, uids: bool = False) -> npt.NDArray[np.bool_]:
    """Per node: are its value bytes hidden? An identifying or private element, or anything
    inside one (an item of a masked sequence and all it holds)."""
    c = index.columns
    n = len(c)
    is_element = c.kind == Kind.ELEMENT
    tag = c.tag.astype(np.int64)
    # Private elements among them: every odd group (see private()).
    direct = is_element & member(tag, identifying_tags(tag[is_element], uids=uids))
    direct |= unread_sequences(index)
    # Pixels that may show burned-in text are identifying too (PS3.15 E.3.1).
    for node in np.flatnonzero(is_element & (tag == PIXEL_DATA) & (c.parent < 0)).tolist():
        direct[node] = burned_in_warning(index, node) is not None
    # Bytes that form no element may be the remains of any value, a patient's name included.
    unparsed = (c.kind == Kind.TRAILING) | (c.kind == Kind.PREAMBLE)
    hidden: npt.NDArray[np.bool_] = np.asarray(direct | unparsed, dtype=np.bool_)
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
        & ((c.vr != _SQ_CODE) | unread_sequences(index))
        & ((c.kind == Kind.ELEMENT) | (c.kind == Kind.FRAGMENT))
    )
    # Past the nesting limit nothing is recorded: the bytes of such a branch can hold any
    # value, so the branch's whole value is hidden.
    deep = np.zeros(len(c), dtype=np.bool_)
    for fault in index.faults:
        if fault.code == "NESTING_TOO_DEEP" and 0 <= fault.node < len(c):
            deep[fault.node] = True
    has_value |= deep & (c.value_offset >= 0)
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
