"""Element paths, written and read: ``0008,1140[0]/0008,1155`` names a node by the tags of the
elements on its way down and the positions of the items (counted from 0).

The validator writes every finding's path with :func:`node_path`; :mod:`dcmstruct.dataset`
reads paths (and keywords instead of tags) with :func:`parse` and :func:`resolve`, so a finding's
path given back to ``ds[...]`` finds the node it was about.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import distinct, member
from dcmstruct.index import ElementIndex
from dcmstruct.model import Columns, Kind
from dcmstruct.schema.layout import format_tag
from dcmstruct.wording import count

if TYPE_CHECKING:
    import numpy.typing as npt

_CONTAINED = (Kind.ITEM, Kind.FRAGMENT)


def item_numbers(columns: Columns) -> npt.NDArray[np.int32]:
    """For each node, its position among the items (or fragments) of its sequence, from 0;
    -1 for other nodes. One pass of numpy, 4 bytes a node."""
    c = columns
    numbers = np.full(len(c), -1, dtype=np.int32)
    items = np.flatnonzero((c.kind == Kind.ITEM) | (c.kind == Kind.FRAGMENT))
    if len(items):
        parents = c.parent[items]
        order = np.argsort(parents, kind="stable")
        sorted_parents = parents[order]
        starts = np.flatnonzero(np.r_[True, sorted_parents[1:] != sorted_parents[:-1]])
        rank = np.arange(len(items)) - np.repeat(starts, np.diff(np.r_[starts, len(items)]))
        numbers[items[order]] = rank
    return numbers


def node_path(columns: Columns, numbers: npt.NDArray[np.int32], node: int) -> str:
    """``0008,1140[0]/0008,1155``: elements by tag, items by index, outermost first.
    ``numbers`` is :func:`item_numbers` of the same columns."""
    c = columns
    parts: list[str] = []
    i = node
    while i >= 0:
        kind = int(c.kind[i])
        if kind == Kind.ELEMENT:
            parts.append(format_tag(int(c.tag[i])))
        elif kind in _CONTAINED:
            parent = int(c.parent[i])
            number = max(0, int(numbers[i]))
            if parent >= 0:
                parts.append(f"{format_tag(int(c.tag[parent]))}[{number}]")
                i = int(c.parent[parent])
                continue
            parts.append(f"[{number}]")
        i = int(c.parent[i])
    return "/".join(reversed(parts))


# -- reading ---------------------------------------------------------------------------------

Key = str | int

# At most 9 digits an item index: int() of thousands of digits raises (and no sequence has
# a billion items).
_STEP = re.compile(r"(?P<key>[^\[\]]*)(?:\[(?P<item>\s*-?\d{1,9}\s*)\])?")


class Step(NamedTuple):
    """One step down a path: an element (by tag or keyword), then optionally one of its items."""

    key: str | int | None  # None: items of the container itself ("[0]" of a top-level item)
    item: int | None  # position among the items/fragments, from 0 (negative: from the end)
    text: str  # as written, for messages


def parse(key: Key) -> list[Step]:
    """The steps of ``key``: an int tag, ``"0010,0010"``, ``"(0010,0010)"``, a keyword, or a
    path of those joined by ``/`` with item positions, ``"300A,0010[0]/300A,0012"``.
    Raises ``KeyError`` for text that is not a path."""
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise KeyError(key)
    if isinstance(key, int):
        if not 0 <= key <= 0xFFFFFFFF:
            raise KeyError(f"{key:#x} is not a tag (a 32-bit group << 16 | element)")
        return [Step(key, None, format_tag(key))]
    steps: list[Step] = []
    for text in key.split("/"):
        m = _STEP.fullmatch(text.strip())
        name = m.group("key").strip() if m else ""
        if m is None or (not name and m.group("item") is None):
            raise KeyError(f"{key!r}: {text!r} is not an element (a keyword, GGGG,EEEE or a path)")
        item = None if m.group("item") is None else int(m.group("item"))
        steps.append(Step(name or None, item, text.strip()))
    return steps


def resolve(index: ElementIndex, steps: list[Step], *, quoted: bool = True) -> int:
    """The node ``steps`` lead to from the top level; ``KeyError`` (saying at which step the
    walk stopped, with close keywords) when there is none.

    Each step looks only at the children of the item reached so far (the index's child table:
    a view, no copy), so a path costs its steps, not the nodes of the file. ``quoted=False``:
    messages do not repeat the path (it is in view where it was typed)."""
    c = index.columns
    # A message names the whole key only when the step that failed is not all of it.
    shown = "/".join(s.text for s in steps)
    whole = quoted and (len(steps) > 1 or steps[0].item is not None)
    said = f"{shown!r}: " if whole else ""
    container = -1
    node = -1
    for n, step in enumerate(steps):
        if step.key is None:
            node = container
        else:
            where = "/".join(s.text for s in steps[:n])
            node = _element(index, container, step.key, said, where)
        if step.item is not None:
            kids = index.children(node, array=True)
            contained = kids[member(c.kind[kids], _CONTAINED)]
            if not -len(contained) <= step.item < len(contained):
                of = "the top level" if node < 0 else format_tag(int(c.tag[node]))
                has = count(len(contained), "item")
                what = "it" if node < 0 else "the sequence"
                raise KeyError(f"{said}item {step.item} of {of}: {what} has {has}")
            node = int(contained[step.item])
        if n + 1 < len(steps):
            if node < 0 or int(c.kind[node]) != Kind.ITEM:
                raise KeyError(
                    f"{said}{format_tag(int(c.tag[node]))} is not an item; "
                    "name one with [n] before going further in"
                )
            container = node
    return node


def find(index: ElementIndex, text: str, *, quoted: bool = True) -> int:
    """The node the path ``text`` names (see :func:`parse`); ``KeyError`` saying which step
    failed."""
    return resolve(index, parse(text), quoted=quoted)


def looks_like_path(text: str) -> bool:
    """Does ``text`` name one node by its path (a ``/`` or an item index), rather than a tag
    to look for anywhere?"""
    return "/" in text or "[" in text


# What a person types for a tag: 0010,0010, (0010,0010), 00100010 or 0010 0010.
_TYPED_TAG = re.compile(r"^\(?\s*([0-9a-f]{4})\s*[,\s]?\s*([0-9a-f]{4})\s*\)?$", re.IGNORECASE)


def typed_tag(text: str) -> int | None:
    """The tag ``text`` names as a person types it (the viewer's ``t``, ``diff --ignore``): a
    tag in any of the usual spellings, or a keyword in any case; None if it names none."""
    t = text.strip()
    m = _TYPED_TAG.match(t)
    if m:
        return int(m.group(1), 16) << 16 | int(m.group(2), 16)
    return specdata.tag_for_keyword(t, any_case=True) if t else None


def tag_of(key: str | int) -> int | None:
    """The tag ``key`` names by itself (an int, a tag as :func:`typed_tag` reads it, or a
    keyword in any case)."""
    if isinstance(key, int):
        return key
    return typed_tag(key)


def _element(index: ElementIndex, container: int, key: str | int, said: str, where: str) -> int:
    c = index.columns
    tag = tag_of(key)
    if tag is None and isinstance(key, str):
        # Not an exact keyword: match the keywords here regardless of case.
        present = {kw.lower(): kw for kw in keywords_in(index, container)}
        found = present.get(key.lower())
        if found is not None:
            tag = specdata.tag_for_keyword(found)
    if tag is not None:
        # Column operations, never a Python loop over the children: the top level of a flat
        # file can hold a million elements, an item a few (its children are the cheaper set).
        kids = index.children(container, array=True)
        rows = kids[c.tag[kids] == tag]
        rows = rows[c.kind[rows] == Kind.ELEMENT]
        if len(rows):
            return int(rows[0])
    where = f"in {where}" if where else "at the top level"
    if tag is not None:
        name = specdata.keyword(tag)
        label = format_tag(tag) + (f" {name}" if name else "")
        raise KeyError(f"{said}no element {label} {where}")
    import difflib  # here: only a miss needs it, and it costs start-up

    close = difflib.get_close_matches(str(key), keywords_in(index, container), n=3)
    hint = f"; close: {', '.join(close)}" if close else ""
    raise KeyError(f"{said}{key!r} is neither a keyword nor a tag GGGG,EEEE {where}{hint}")


def keywords_in(index: ElementIndex, container: int) -> list[str]:
    """The keywords of the elements directly in ``container`` (-1: the top level), sorted,
    each once."""
    c = index.columns
    kids = index.children(container, array=True)
    tags = distinct(c.tag[kids][c.kind[kids] == Kind.ELEMENT]).tolist()
    return sorted({kw for kw in map(specdata.keyword, tags) if kw})
