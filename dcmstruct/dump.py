"""Writers for ``dcmstruct dump``: a human text tree and the JSON Lines of the contract.

The text tree is for a terminal: every string from the file or its name (path, transfer
syntax UID, VR bytes, value previews, fault messages) goes through
:func:`~dcmstruct.safetext.terminal_safe`, so none can emit a control character. The JSON
Lines are left to the JSON encoder, which escapes them (``\\u001b``): that output is a contract.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

import numpy as np

from dcmstruct import specdata
from dcmstruct.index import ElementIndex
from dcmstruct.model import I8, NO_TAG, UNDEFINED, Columns, Kind, Stream, vr_text
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.values import short_value
from dcmstruct.wording import count

# Columns are turned into Python values this many nodes at a time, so the writers' memory is
# bounded by a chunk, not by the file's node count.
_CHUNK = 1 << 16


def fault_places(index: ElementIndex) -> dict[int, list[int]]:
    """Where each fault goes among the nodes: ``{k: [fault numbers]}`` to write before node k
    (``k == len(index)``: after the last node), so faults come in offset order among the nodes
    of their stream, each after the node that starts at its offset (PS3 contract: a fault is a
    line of its own, in offset order among the nodes)."""
    c = index.columns
    places: dict[int, list[int]] = {}
    if not index.faults:
        return places
    by_stream: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for stream in {int(f.stream) for f in index.faults}:
        rows = np.flatnonzero(c.stream == stream)
        by_stream[stream] = (rows, c.offset[rows])
    order = sorted(range(len(index.faults)), key=lambda n: (index.faults[n].offset, n))
    for n in order:
        fault = index.faults[n]
        rows, offsets = by_stream[int(fault.stream)]
        k = int(np.searchsorted(offsets, fault.offset, side="right"))
        if k < len(rows):
            at = int(rows[k])
        elif len(rows):
            at = int(rows[-1]) + 1  # after its stream's last node
        else:
            at = len(index)
        places.setdefault(at, []).append(n)
    return places


def _fault_record(index: ElementIndex, n: int) -> dict[str, object]:
    fault = index.faults[n]
    tag = None
    if fault.node >= 0 and int(index.columns.tag[fault.node]) != NO_TAG:
        tag = format_tag(int(index.columns.tag[fault.node]))
    rec: dict[str, object] = {
        "kind": "fault",
        "rule": str(fault.code),
        "offset": fault.offset,
        "length": fault.length,
        "tag": tag,
        "message": fault.message,
    }
    if fault.stream == Stream.INFLATED:
        rec["stream"] = "inflated"
    return rec


def _row_chunks(c: Columns) -> Iterator[Iterator[tuple[int, tuple[int, ...]]]]:
    """The writers' rows: per chunk of :data:`_CHUNK` nodes, ``(node, (kind, offset, end, tag,
    vr, length, value_offset, depth, stream))`` as Python ints, made a chunk at a time."""
    for base in range(0, len(c), _CHUNK):
        stop = min(len(c), base + _CHUNK)
        yield enumerate(
            zip(
                c.kind[base:stop].tolist(), c.offset[base:stop].tolist(),
                c.end[base:stop].tolist(), c.tag[base:stop].tolist(), c.vr[base:stop].tolist(),
                c.length[base:stop].tolist(), c.value_offset[base:stop].tolist(),
                c.depth[base:stop].tolist(), c.stream[base:stop].tolist(), strict=True,
            ),
            base,
        )  # fmt: skip


def jsonl_records(index: ElementIndex) -> Iterator[dict[str, object]]:
    """One dict per node and per fault, in file order, with exactly the contract's fields."""
    c = index.columns
    places = fault_places(index)
    labels = [k.label for k in Kind]
    for rows in _row_chunks(c):
        for i, (kind, offset, end, tag, vr, length, value_offset, depth, stream) in rows:
            for n in places.get(i, ()):
                yield _fault_record(index, n)
            has_tag = tag != NO_TAG
            rec: dict[str, object] = {
                "kind": labels[kind],
                "offset": offset,
                "end": end,
                "tag": format_tag(tag) if has_tag else None,
                "vr": vr_text(vr),
                "length": None if length == UNDEFINED or length < -1 else length,
                "value_offset": value_offset if value_offset >= 0 else None,
                "depth": depth,
                "keyword": specdata.keyword(tag) if has_tag and kind == Kind.ELEMENT else None,
            }
            if stream == Stream.INFLATED:
                rec["stream"] = "inflated"
            yield rec
    for n in places.get(len(c), ()):
        yield _fault_record(index, n)


_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode


def write_jsonl(index: ElementIndex, out: TextIO) -> None:
    """:func:`jsonl_records`, encoded. The same text as ``json`` would write for each record
    (``tests/test_dump.py`` checks), made a chunk of nodes at a time from the columns: what a
    line holds besides its five numbers depends only on its (tag, VR, kind, stream), so those
    parts are encoded once per combination and picked for every line with numpy, and a line is
    one f-string of them and its numbers."""
    c = index.columns
    places = fault_places(index)
    labels = [_ENCODE(k.label) for k in Kind]
    element = int(Kind.ELEMENT)
    inflated = int(Stream.INFLATED)
    for base in range(0, len(c), _CHUNK):
        stop = min(len(c), base + _CHUNK)
        part = slice(base, stop)
        key = (c.tag[part] << 21) | (c.vr[part].astype(np.int64) << 5)
        key |= (c.kind[part].astype(np.int64) << 1) | c.stream[part]
        keys, which = np.unique(key, return_inverse=True)
        parts = [
            _line_parts(labels[kind], k >> 21, (k >> 5) & 0xFFFF, kind == element, s == inflated)
            for k in keys.tolist()
            for kind, s in [((k >> 1) & 0xF, k & 1)]
        ]
        which = which.ravel()
        heads, middles, tails = (
            np.array([p[n] for p in parts], dtype=object)[which].tolist() for n in range(3)
        )
        lines = [
            f'{h}{o}, "end": {e}{m}{n}, "value_offset": {v}, "depth": {d}{t}'
            for h, o, e, m, n, v, d, t in zip(
                heads, c.offset[part].tolist(), c.end[part].tolist(), middles,
                _or_null(c.length[part]), _or_null(c.value_offset[part]),
                c.depth[part].tolist(), tails, strict=True,
            )
        ]  # fmt: skip
        if places:
            for i in sorted((i for i in places if base <= i < stop), reverse=True):
                faults = [_ENCODE(_fault_record(index, n)) + "\n" for n in places[i]]
                lines[i - base : i - base] = faults
        out.write("".join(lines))
    out.write("".join(_ENCODE(_fault_record(index, n)) + "\n" for n in places.get(len(c), ())))


def _or_null(column: I8) -> list[int | str]:
    """A column as Python values, ``null`` where it is negative (none applies, undefined):
    the JSON encoder's text for None."""
    values: list[int | str] = column.tolist()
    for i in np.flatnonzero(column < 0).tolist():
        values[i] = "null"
    return values


def _line_parts(
    kind: str, tag: int, vr: int, element: bool, inflated: bool
) -> tuple[str, str, str]:
    """The fixed parts of a node's JSON line: before its offset, between its end and length,
    and after its depth."""
    tag_json = "null" if tag == NO_TAG else _ENCODE(format_tag(tag))
    keyword = _ENCODE(specdata.keyword(tag)) if element and tag != NO_TAG else "null"
    tail = ', "stream": "inflated"}\n' if inflated else "}\n"
    return (
        '{"kind": ' + kind + ', "offset": ',
        f', "tag": {tag_json}, "vr": {_ENCODE(vr_text(vr))}, "length": ',
        f', "keyword": {keyword}{tail}',
    )


def write_text(index: ElementIndex, out: TextIO, *, width: int = 48, mask: bool = False) -> None:
    """A tree like ``dcdump -v``, with hex offsets a person can jump to and faults in place:
    in offset order among the nodes, indented like the node before them. ``mask``: no value of
    an identifying or private element (:func:`dcmstruct.privacy.masked_nodes`), and no value
    quoted in a fault message."""
    places = fault_places(index)
    hidden = None
    if mask:
        from dcmstruct.privacy import masked_nodes

        hidden = masked_nodes(index)
    ts = index.transfer_syntax
    where = terminal_safe(index.path) if index.path else "<bytes>"
    head = f"# {where}: {count(index.size, 'byte')}, {count(len(index), 'node')}"
    if index.transfer_syntax_uid:
        head += f", transfer syntax {terminal_safe(index.transfer_syntax_uid)}"
        head += f" ({ts.name})" if ts else " (unknown)"
    out.write(head + "\n")
    inflated_announced = False
    indent = ""
    for i, node in enumerate(index):
        for n in places.get(i, ()):
            _write_fault(index, n, out, indent, mask)
        if node.stream == Stream.INFLATED and not inflated_announced:
            out.write("# inflated data set (offsets count from its first inflated byte)\n")
            inflated_announced = True
        indent = "  " * node.depth
        prefix = f"{node.offset:08x}{'*' if node.stream == Stream.INFLATED else ' '} {indent}"
        kind = node.kind
        if kind in (Kind.PREAMBLE, Kind.PREFIX, Kind.TRAILING):
            out.write(f"{prefix}[{kind.label}] {count(node.end - node.offset, 'byte')}\n")
        else:
            tag = format_tag(node.tag) if node.tag is not None else "?"
            length = "undefined" if node.length is None else str(node.length)
            if kind == Kind.ELEMENT:
                keyword = specdata.keyword(node.tag) if node.tag is not None else None
                vr = terminal_safe(node.vr) if node.vr else "--"  # an invalid VR is raw bytes
                line = f"{prefix}({tag}) {vr} {length:>9}  {keyword or '?'}"
                value = short_value(index, i, width)
                if value and hidden is not None and hidden[i]:
                    line += "  [<masked>]"
                elif value:
                    line += f"  [{terminal_safe(value)}]"
            else:
                line = f"{prefix}({tag}) {kind.label} {length}"
            out.write(line + "\n")
    for n in places.get(len(index), ()):
        _write_fault(index, n, out, indent, mask)


def _write_fault(index: ElementIndex, n: int, out: TextIO, indent: str, mask: bool) -> None:
    fault = index.faults[n]
    star = "*" if fault.stream == Stream.INFLATED else " "
    message = terminal_safe(fault.message)  # built by the index, may quote the file's bytes
    if mask:
        from dcmstruct.privacy import without_values

        message = without_values(message)
    out.write(f"{fault.offset:08x}{star} {indent}!! {fault.code}: {message}\n")
