"""The string values of a file as one table, and the screens the value rules run over it.

A value rule asks the same question of every string value (too long? a forbidden byte? a
malformed date?). Asked value by value in Python that costs microseconds each, times each rule,
and a 100,000-element file spends seconds there. Instead every string value's bytes are
gathered once into one buffer (values of one VR and character set next to each other, each
followed by a newline), and each rule runs a *screen* over it: a regular expression or a numpy
operation, in C, that clears the values that certainly have no finding. Only the values a
screen cannot clear (normally none) go through the rule's exact check, value by value. A
screen is never laxer than its check: whatever it clears, the check would clear too
(``tests/test_value_screens.py`` checks that on every fixture and on generated values).

Some values always take the exact path: those of a multi-byte character set whose bytes can
look like delimiters (GBK, GB18030, ISO 2022 JIS X 0208/0212), values longer than the copy
limit, and values holding the separator byte itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct import specdata
from dcmstruct.model import Stream, vr_code
from dcmstruct.validate.grammar import Charset, CharsetKind

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.index import ElementIndex

SEPARATOR = 0x0A  # newline: after each value in the joined buffer


@dataclass
class StringTable:
    """String values in file order (row k is ``nodes[k]``), and their bytes joined by group."""

    nodes: npt.NDArray[np.int64]
    tags: npt.NDArray[np.int64]  # per row
    vr_codes: npt.NDArray[np.int64]  # per row, packed (dcmstruct.model.vr_code)
    charsets: list[Charset]  # distinct character sets; ``charset_of`` indexes it
    charset_of: npt.NDArray[np.int32]  # per row
    last: npt.NDArray[np.int16]  # per row: the value's last byte
    content: npt.NDArray[np.int64]  # per row: bytes of the value without its one padding byte
    slow: npt.NDArray[np.bool_]  # per row: always the exact check
    joined: bytes  # the contents, grouped by (VR, character set), each + SEPARATOR
    at: npt.NDArray[np.int64]  # per row: where its content starts in ``joined`` (-1: absent)
    groups: list[tuple[str, int, int, int]]  # (VR, charset index, start, stop) in ``joined``
    group_rows: list[npt.NDArray[np.int64]]  # the rows of each group, in ``joined`` order
    order: npt.NDArray[np.int64]  # every row, in ``joined`` order
    at_sorted: npt.NDArray[np.int64]  # ``at[order]``: ascending

    def __len__(self) -> int:
        return len(self.nodes)

    @cached_property
    def byte_group(self) -> npt.NDArray[np.int64]:
        """For each byte of ``joined``, the number of its group: screens over all groups at
        once look up a group's VR or character set per byte with it."""
        sizes = np.array([stop - start for _vr, _cs, start, stop in self.groups], dtype=np.int64)
        return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)

    def rows_of(self, positions: npt.NDArray[np.int64]) -> list[int]:
        """The rows whose content (or separator) holds each byte position of ``joined``."""
        k = np.searchsorted(self.at_sorted, positions, side="right") - 1
        return self.order[np.clip(k, 0, len(self.order) - 1)].tolist()  # type: ignore[no-any-return]

    def rows_at(self, group: int, positions: list[int]) -> list[int]:
        """The rows whose content (or separator) holds each byte position of ``joined``."""
        rows = self.group_rows[group]
        starts = self.at[rows]
        k = np.searchsorted(starts, np.asarray(positions, dtype=np.int64), side="right") - 1
        return rows[np.clip(k, 0, len(rows) - 1)].tolist()  # type: ignore[no-any-return]


def build(
    index: ElementIndex,
    nodes: npt.NDArray[np.int64],
    charset_of: npt.NDArray[np.int32],
    charsets: list[Charset],
    limit: int,
) -> StringTable:
    """Gather the values of ``nodes`` (string elements whose whole value lies in the file)."""
    c = index.columns
    starts = c.value_offset[nodes]
    sizes = c.end[nodes] - starts
    streams = c.stream[nodes]
    copied = np.minimum(sizes, limit)
    region, where = index.read_ranges(streams, starts, copied)
    last = last_bytes(region, where, copied, sizes)
    # The last byte of a value longer than the copy limit is read on its own (rare).
    for k in np.flatnonzero(copied < sizes).tolist():
        tail = index.read(Stream(int(streams[k])), int(starts[k] + sizes[k] - 1), 1)
        last[k] = tail[0] if tail else -1
    return assemble(
        nodes, c.tag[nodes], c.vr[nodes], sizes, copied, region, where, last, charset_of, charsets
    )


def last_bytes(
    region: npt.NDArray[np.uint8],
    where: npt.NDArray[np.int64],
    copied: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
) -> npt.NDArray[np.int16]:
    """Each value's last byte where it was copied whole (-1 where it was not: the caller reads
    that one on its own)."""
    last_pos = where + copied - 1
    picked = region[np.maximum(last_pos, 0)].astype(np.int16)
    out: npt.NDArray[np.int16] = np.where(copied == sizes, picked, np.int16(-1))
    return out


def assemble(
    nodes: npt.NDArray[np.int64],
    tags: npt.NDArray[np.int64],
    vrs: npt.NDArray[np.uint16],
    sizes: npt.NDArray[np.int64],
    copied: npt.NDArray[np.int64],
    region: npt.NDArray[np.uint8],
    where: npt.NDArray[np.int64],
    last: npt.NDArray[np.int16],
    charset_of: npt.NDArray[np.int32],
    charsets: list[Charset],
) -> StringTable:
    """The table of values whose first ``copied`` bytes are at ``where`` in ``region``: one
    file's (:func:`build`) or a batch's (rows of many files, ``nodes`` then being rows of the
    batch's table)."""
    n = len(nodes)
    padded = (last == 0x00) | (last == 0x20)
    content = np.where(copied == sizes, copied - padded, copied)
    masking = np.array([_masks(cs) for cs in charsets], dtype=np.bool_)
    slow = (copied < sizes) | masking[charset_of] if n else np.zeros(0, dtype=np.bool_)
    # Rows grouped by (VR, character set); each group's contents are contiguous in ``joined``.
    vr_codes = vrs.astype(np.int64)
    order = np.lexsort((np.arange(n), charset_of, vr_codes)) if n else np.zeros(0, np.int64)
    lengths = content[order]
    out_len = lengths + 1
    at_sorted = np.cumsum(out_len) - out_len
    total = int(out_len.sum()) if n else 0
    # Every output byte's source in ``region``; a separator slot points past its value and is
    # overwritten below.
    source = np.repeat(where[order] - at_sorted, out_len) + np.arange(total, dtype=np.int64)
    joined_arr = region[np.minimum(source, len(region) - 1)] if total else np.zeros(0, np.uint8)
    seps = at_sorted + lengths
    # A value holding the separator byte cannot be screened (it would split in two).
    inner = np.flatnonzero(joined_arr == SEPARATOR)
    if len(inner):
        owner = np.searchsorted(at_sorted, inner, side="right") - 1
        inner_rows = order[owner[inner != seps[owner]]]
        slow[inner_rows] = True
    joined_arr[seps] = SEPARATOR
    at = np.full(n, -1, dtype=np.int64)
    at[order] = at_sorted
    groups: list[tuple[str, int, int, int]] = []
    group_rows: list[npt.NDArray[np.int64]] = []
    if n:
        keys = vr_codes[order] << 32 | charset_of[order]
        bounds = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1], [True])))
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            row = int(order[a])
            start = int(at_sorted[a])
            stop = int(at_sorted[b - 1] + out_len[b - 1])
            groups.append(
                (_VR_NAMES.get(int(vr_codes[row]), ""), int(charset_of[row]), start, stop)
            )
            group_rows.append(order[a:b])
    return StringTable(
        nodes=nodes,
        tags=tags,
        vr_codes=vr_codes,
        charsets=charsets,
        charset_of=charset_of,
        last=last,
        content=content,
        slow=slow,
        joined=joined_arr.tobytes(),
        at=at,
        groups=groups,
        group_rows=group_rows,
        order=order,
        at_sorted=at_sorted,
    )


_VR_NAMES: dict[int, str] = {vr_code(v): v for v in specdata.VR_CODES}


def _masks(cs: Charset) -> bool:
    """Does ``cs`` need multi-byte masking before its bytes can be read as delimiters?"""
    return (cs.kind == CharsetKind.MULTI and cs.codec in ("gbk", "gb18030")) or (
        cs.kind == CharsetKind.ISO2022 and cs.g0_multibyte
    )


# -- screens ------------------------------------------------------------------------------------
# Each returns the rows its rule must check exactly. The patterns match one value's content
# followed by the separator; a group passes while the pattern keeps matching.


def unmatched(table: StringTable, patterns: dict[str, re.Pattern[bytes] | None]) -> set[int]:
    """Rows of VRs in ``patterns`` whose content the VR's pattern does not match whole (a None
    pattern: every row of that VR)."""
    out: set[int] = set()
    joined = table.joined
    for g, (vr, _cs, start, stop) in enumerate(table.groups):
        if vr not in patterns:
            continue
        pattern = patterns[vr]
        if pattern is None:
            out.update(table.group_rows[g].tolist())
            continue
        pos = start
        while pos < stop:
            m = pattern.match(joined, pos, stop)
            end = m.end() if m else pos
            if end >= stop:
                break
            # The value at ``end`` failed: check it exactly, go on after its separator.
            (row,) = table.rows_at(g, [end])
            out.add(row)
            nxt = joined.find(b"\n", end, stop)
            pos = stop if nxt < 0 else nxt + 1
    return out


def searched(table: StringTable, find: dict[tuple[str, int], re.Pattern[bytes] | None]) -> set[int]:
    """Rows of the (VR, charset) groups in ``find`` where the pattern finds anything (a None
    pattern: every row of the group)."""
    out: set[int] = set()
    joined = table.joined
    for g, (vr, cs, start, stop) in enumerate(table.groups):
        key = (vr, cs)
        if key not in find:
            continue
        pattern = find[key]
        if pattern is None:
            out.update(table.group_rows[g].tolist())
            continue
        pos = start
        while True:
            m = pattern.search(joined, pos, stop)
            if m is None:
                break
            (row,) = table.rows_at(g, [m.start()])
            out.add(row)
            nxt = joined.find(b"\n", m.start(), stop)
            if nxt < 0:
                break
            pos = nxt + 1
    return out


@cache
def repeat(component: bytes, multi: bool) -> re.Pattern[bytes]:
    """``(?:VALUE\\n)*`` where VALUE is one component, or components joined by 5CH."""
    value = component + (rb"(?:\\" + component + rb")*" if multi else b"")
    return re.compile(rb"(?:" + value + rb"\n)*")
