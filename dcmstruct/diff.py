"""Two files compared by structure: nodes matched by path, differences in value kept apart from
differences in encoding.

A node's path is the validator's (``0008,1140[1]/0008,1155``, :func:`dcmstruct.paths.node_path`):
elements by tag, items and fragments by their index in their sequence. The second element of
the same tag in one data set (a duplicate) is ``TAG#2``; bytes that form no element are
``.../trailing[k]``; the preamble is ``preamble``. Each path present on one side only is
``added`` or ``removed`` (only the outermost: an added item's elements are not listed again).
A path present on both sides is compared:

* ``value``: the values differ once decoded (PS3.5 6.2): numbers as numbers in their own byte
  order, text without its padding (leading and trailing spaces where the VR makes them
  insignificant, trailing ones elsewhere; a UI's trailing NUL), and a UN value read as the VR
  the dictionary gives;
* ``encoding``: the same value in other bytes: explicit or implicit VR, byte order, the VR
  written (UN for the real one), the length form (defined or undefined), padding. So are a
  group length (gggg,0000) or Data Set Trailing Padding (FFFC,FFFC) on one side only or with
  other values, another Transfer Syntax UID (0002,0010), and another Implementation Class
  UID or Version Name (0002,0012-0013): they say how and by what the rest is written, not
  what it holds.

Values are read a window at a time (a pixel data element is compared a MiB at a time, never
held whole).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata
from dcmstruct.model import NO_TAG, UNDEFINED, Kind, Stream, vr_code, vr_text
from dcmstruct.paths import item_numbers, node_path
from dcmstruct.schema.layout import format_tag
from dcmstruct.values import (
    NUMERIC_DTYPES,
    decode_numbers,
    decoding_vr,
    little_endian,
    split_values,
)

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex

TRANSFER_SYNTAX_UID = 0x00020010
# Who wrote the file (PS3.10 7.1): a file re-encoded by another tool differs here, and
# nowhere in what it holds.
_WRITER = (0x00020012, 0x00020013)
TRAILING_PADDING = 0xFFFCFFFC
# VRs whose leading spaces are padding too (PS3.5 6.2: "leading and trailing spaces are
# non-significant"); the other text VRs lose their trailing padding only.
_BOTH_ENDS = frozenset({"AE", "CS", "DS", "IS", "LO", "SH", "DA", "DT", "TM", "AS", "UC"})
_WINDOW = 1 << 20
# Text values are compared whole up to this size, then byte for byte a window at a time.
_TEXT_WHOLE = 1 << 24
_SQ = vr_code("SQ")


class Side(NamedTuple):
    """Where a node is in one file."""

    offset: int
    length: int | None  # None: undefined length
    vr: str | None
    stream: Stream


class Difference(NamedTuple):
    change: str  # "added", "removed", "value", "encoding"
    path: str
    tag: int | None
    a: Side | None
    b: Side | None
    detail: str  # what differs, in words (an extension of the contract's record)
    a_node: int = -1
    b_node: int = -1


CHANGES = ("added", "removed", "value", "encoding")


def compare(
    a: ElementIndex,
    b: ElementIndex,
    *,
    ignore: Collection[int] = (),
    ignore_private: bool = False,
) -> Iterator[Difference]:
    """The differences of ``b`` from ``a``: ``a``'s order first, then what only ``b`` has."""

    def skipped(tag: int) -> bool:
        return tag in ignore or (ignore_private and bool((tag >> 16) & 1))

    yield from aligned(a, _keys(a, skipped), b, _keys(b, skipped))


def node_keys(index: ElementIndex, *, tick: Callable[[], None] | None = None) -> dict[str, int]:
    """Path -> node for every node :func:`compare` matches (no tag left out): what
    :func:`aligned` takes, and what a viewer of two files moves by. ``tick`` is called every
    few thousand nodes (a viewer's worker stops there by raising)."""
    return _keys(index, lambda tag: False, tick)


def aligned(
    a: ElementIndex,
    keys_a: dict[str, int],
    b: ElementIndex,
    keys_b: dict[str, int],
    *,
    tick: Callable[[], None] | None = None,
) -> Iterator[Difference]:
    """The differences of ``b`` from ``a`` given each side's path -> node (:func:`node_keys`,
    or what :func:`compare` computes with tags left out); ``tick`` as for :func:`node_keys`."""
    gone: set[int] = set()
    for k, (path, i) in enumerate(keys_a.items()):
        if tick is not None and not k % 4096:
            tick()
        if _inside(a, i, gone):
            continue
        j = keys_b.get(path)
        if j is None:
            gone.add(i)
            yield _one_side(a, i, path, "removed")
            continue
        found = _pair(a, i, b, j, path)
        if found is not None:
            yield found
    new: set[int] = set()
    for path, j in keys_b.items():
        if path in keys_a or _inside(b, j, new):
            continue
        new.add(j)
        yield _one_side(b, j, path, "added")


def _inside(index: ElementIndex, node: int, marked: set[int]) -> bool:
    """Is ``node`` inside one of ``marked`` (then it is marked too)?"""
    parent = int(index.columns.parent[node])
    if parent >= 0 and parent in marked:
        marked.add(node)
        return True
    return False


def _keys(
    index: ElementIndex, skipped: Callable[[int], bool], tick: Callable[[], None] | None = None
) -> dict[str, int]:
    """Path -> node, in file order, for every node that holds something (not delimiters, not
    the prefix), and not what ``skipped`` leaves out with all it holds."""
    c = index.columns
    numbers = item_numbers(c)
    kinds = c.kind.tolist()
    tags = c.tag.tolist()
    parents = c.parent.tolist()
    out: dict[str, int] = {}
    left_out: set[int] = set()
    seen: dict[str, int] = {}
    for i, kind in enumerate(kinds):
        if tick is not None and not i % 4096:
            tick()
        parent = parents[i]
        if parent in left_out:
            left_out.add(i)
            continue
        if kind == Kind.PREAMBLE:
            out["preamble"] = i
            continue
        if kind == Kind.ELEMENT and skipped(tags[i]):
            left_out.add(i)
            continue
        if kind in (Kind.ELEMENT, Kind.ITEM, Kind.FRAGMENT):
            path = node_path(c, numbers, i)
        elif kind == Kind.TRAILING:
            base = node_path(c, numbers, parent) if parent >= 0 else ""
            path = f"{base}/trailing" if base else "trailing"
        else:
            continue
        count = seen.get(path, 0) + 1
        seen[path] = count
        if kind == Kind.TRAILING:
            path = f"{path}[{count - 1}]"
        elif count > 1:
            path = f"{path}#{count}"
        out[path] = i
    return out


def _side(index: ElementIndex, i: int) -> Side:
    c = index.columns
    length = int(c.length[i])
    kind = int(c.kind[i])
    if kind in (Kind.PREAMBLE, Kind.TRAILING):
        length = int(c.end[i]) - int(c.offset[i])
    return Side(
        int(c.offset[i]),
        None if length == UNDEFINED or length < 0 else length,
        vr_text(int(c.vr[i])),
        Stream(int(c.stream[i])),
    )


def _tag(index: ElementIndex, i: int) -> int | None:
    tag = int(index.columns.tag[i])
    return None if tag == NO_TAG else tag


def _one_side(index: ElementIndex, i: int, path: str, change: str) -> Difference:
    side = _side(index, i)
    tag = _tag(index, i)
    kind = Kind(int(index.columns.kind[i]))
    what = {Kind.ITEM: "an item", Kind.FRAGMENT: "a fragment", Kind.TRAILING: "unparsed bytes"}
    detail = what.get(kind, "an element")
    # How a file is written, not what it holds: one side only is an encoding difference.
    if tag is not None and kind == Kind.ELEMENT and _says_how(tag):
        return Difference(
            "encoding",
            path,
            tag,
            side if change == "removed" else None,
            side if change == "added" else None,
            f"{detail} only in {'A' if change == 'removed' else 'B'} (it says how the file is "
            "written)",
            i if change == "removed" else -1,
            i if change == "added" else -1,
        )
    a = side if change == "removed" else None
    b = side if change == "added" else None
    return Difference(
        change,
        path,
        tag,
        a,
        b,
        f"{detail} only in {'A' if change == 'removed' else 'B'}",
        i if change == "removed" else -1,
        i if change == "added" else -1,
    )


def _says_how(tag: int) -> bool:
    """A group length, trailing padding or the transfer syntax: how, not what."""
    return tag & 0xFFFF == 0 or tag in (TRAILING_PADDING, TRANSFER_SYNTAX_UID, *_WRITER)


def _pair(a: ElementIndex, i: int, b: ElementIndex, j: int, path: str) -> Difference | None:
    sa, sb = _side(a, i), _side(b, j)
    tag = _tag(a, i)
    kind = int(a.columns.kind[i])
    how: list[str] = []
    if (sa.length is None) != (sb.length is None):
        how.append("length form (defined / undefined)")
    if kind == Kind.ELEMENT:
        na, nb = a.node(i), b.node(j)
        if na.vr_explicit != nb.vr_explicit:
            how.append("explicit / implicit VR")
        elif sa.vr != sb.vr and na.vr_explicit:
            how.append(f"VR {sa.vr} / {sb.vr}")
        if little_endian(a, i) != little_endian(b, j):
            how.append("byte order")
    if kind in (Kind.ELEMENT, Kind.FRAGMENT, Kind.PREAMBLE, Kind.TRAILING) and _has_value(a, i):
        same_bytes = _same_bytes(a, i, b, j)
        if not same_bytes:
            if _same_value(a, i, b, j):
                if not how:
                    how.append("padding or spelling of the same value")
            elif tag is not None and _says_how(tag):
                how.append("value (it says how the file is written)")
            else:
                return Difference("value", path, tag, sa, sb, "the values differ", i, j)
    elif kind == Kind.ELEMENT and not _has_value(a, i) and _has_value(b, j):
        return Difference("value", path, tag, sa, sb, "the values differ", i, j)
    if how:
        return Difference("encoding", path, tag, sa, sb, "; ".join(how), i, j)
    return None


def _has_value(index: ElementIndex, i: int) -> bool:
    c = index.columns
    if int(c.kind[i]) in (Kind.PREAMBLE, Kind.TRAILING):
        return True
    return (
        int(c.value_offset[i]) >= 0
        and int(c.length[i]) != UNDEFINED
        and (int(c.vr[i]) != _SQ or not len(index.children(i, array=True)))
    )


def _span(index: ElementIndex, i: int) -> tuple[Stream, int, int]:
    c = index.columns
    kind = int(c.kind[i])
    start = int(c.offset[i]) if kind in (Kind.PREAMBLE, Kind.TRAILING) else int(c.value_offset[i])
    return Stream(int(c.stream[i])), start, int(c.end[i])


def _same_bytes(a: ElementIndex, i: int, b: ElementIndex, j: int) -> bool:
    (stream_a, start_a, end_a), (stream_b, start_b, end_b) = _span(a, i), _span(b, j)
    if end_a - start_a != end_b - start_b:
        return False
    for pos in range(0, end_a - start_a, _WINDOW):
        n = min(_WINDOW, end_a - start_a - pos)
        if a.read(stream_a, start_a + pos, n) != b.read(stream_b, start_b + pos, n):
            return False
    return True


def _vr(index: ElementIndex, i: int) -> str:
    c = index.columns
    return decoding_vr(int(c.tag[i]), vr_text(int(c.vr[i])) or "")


def _same_value(a: ElementIndex, i: int, b: ElementIndex, j: int) -> bool:
    kind = int(a.columns.kind[i])
    if kind != Kind.ELEMENT:
        return False  # no decoding: the bytes are the value
    vr_a, vr_b = _vr(a, i), _vr(b, j)
    info_a, info_b = specdata.vr_info(vr_a), specdata.vr_info(vr_b)
    if info_a is not None and info_b is not None and info_a.is_string and info_b.is_string:
        text_a, text_b = _text(a, i, vr_a), _text(b, j, vr_b)
        return text_a is not None and text_a == text_b
    if vr_a in NUMERIC_DTYPES and vr_b in NUMERIC_DTYPES:
        return _same_numbers(a, i, vr_a, b, j, vr_b)
    return False  # other bytes, and nothing to decode them with: another value


def _text(index: ElementIndex, i: int, vr: str) -> list[str] | None:
    _, start, end = _span(index, i)
    if end - start > _TEXT_WHOLE:
        return None
    raw = index.value_bytes(i, end - start) or b""
    values = split_values(vr, raw.decode("latin-1"))
    if vr == "UI":
        return [v.rstrip("\0 ") for v in values]
    if vr in _BOTH_ENDS:
        return [v.strip(" \0") for v in values]
    return [v.rstrip(" \0") for v in values]


def _same_numbers(a: ElementIndex, i: int, vr_a: str, b: ElementIndex, j: int, vr_b: str) -> bool:
    kind_a, kind_b = np.dtype(NUMERIC_DTYPES[vr_a]), np.dtype(NUMERIC_DTYPES[vr_b])
    if kind_a.kind != kind_b.kind or kind_a.itemsize != kind_b.itemsize:
        return False
    (stream_a, start_a, end_a), (stream_b, start_b, end_b) = _span(a, i), _span(b, j)
    if end_a - start_a != end_b - start_b:
        return False
    little_a, little_b = little_endian(a, i), little_endian(b, j)
    window = _WINDOW - _WINDOW % kind_a.itemsize
    for pos in range(0, end_a - start_a, window):
        n = min(window, end_a - start_a - pos)
        raw_a, raw_b = a.read(stream_a, start_a + pos, n), b.read(stream_b, start_b + pos, n)
        if len(raw_a) != len(raw_b):
            return False
        va, vb = decode_numbers(vr_a, raw_a, little_a), decode_numbers(vr_b, raw_b, little_b)
        # Compared as little endian bytes: a NaN is equal to itself, -0.0 is not 0.0; a
        # partial last value (left out by the decoder) byte for byte.
        if (
            va.astype(va.dtype.newbyteorder("<")).tobytes()
            != vb.astype(vb.dtype.newbyteorder("<")).tobytes()
            or raw_a[va.nbytes :] != raw_b[vb.nbytes :]
        ):
            return False
    return True


def tag_text(tag: int | None) -> str | None:
    return None if tag is None else format_tag(tag)


__all__ = ["CHANGES", "Difference", "Side", "aligned", "compare", "node_keys", "tag_text"]
