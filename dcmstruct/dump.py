"""Writers for ``dcmstruct dump``: a human text tree and the JSON Lines of the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from dcmstruct import specdata
from dcmstruct.index import ElementIndex
from dcmstruct.model import NO_TAG, UNDEFINED, Kind, Stream, vr_text
from dcmstruct.schema.element import format_tag
from dcmstruct.values import short_value


def jsonl_records(index: ElementIndex) -> Iterator[dict[str, object]]:
    """One dict per node, in file order, with exactly the contract's fields (and ``stream``)."""
    c = index.columns
    kinds = c.kind.tolist()
    offsets = c.offset.tolist()
    ends = c.end.tolist()
    tags = c.tag.tolist()
    vrs = c.vr.tolist()
    lengths = c.length.tolist()
    value_offsets = c.value_offset.tolist()
    depths = c.depth.tolist()
    streams = c.stream.tolist()
    labels = [k.label for k in Kind]
    for i in range(len(kinds)):
        kind = kinds[i]
        tag = tags[i]
        has_tag = tag != NO_TAG
        length = lengths[i]
        rec: dict[str, object] = {
            "kind": labels[kind],
            "offset": offsets[i],
            "end": ends[i],
            "tag": format_tag(tag) if has_tag else None,
            "vr": vr_text(vrs[i]),
            "length": None if length == UNDEFINED or length < -1 else length,
            "value_offset": value_offsets[i] if value_offsets[i] >= 0 else None,
            "depth": depths[i],
            "keyword": specdata.keyword(tag) if has_tag and kind == Kind.ELEMENT else None,
        }
        if streams[i] == Stream.INFLATED:
            rec["stream"] = "inflated"
        yield rec


_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode


def write_jsonl(index: ElementIndex, out: TextIO) -> None:
    """:func:`jsonl_records`, encoded. The same text as ``json`` would write for each record
    (``tests/test_dump.py`` checks), made with string formatting and per-value caches because
    encoding a dict per node dominated the command's time on large files."""
    c = index.columns
    labels = [_ENCODE(k.label) for k in Kind]
    tag_json: dict[int, str] = {NO_TAG: "null"}
    keyword_json: dict[int, str] = {}
    vr_json: dict[int, str] = {}
    element = int(Kind.ELEMENT)
    lines: list[str] = []
    for kind, offset, end, tag, vr, length, value_offset, depth, stream in zip(
        c.kind.tolist(), c.offset.tolist(), c.end.tolist(), c.tag.tolist(), c.vr.tolist(),
        c.length.tolist(), c.value_offset.tolist(), c.depth.tolist(), c.stream.tolist(),
        strict=True,
    ):  # fmt: skip
        tj = tag_json.get(tag)
        if tj is None:
            tj = tag_json[tag] = _ENCODE(format_tag(tag))
        if kind == element:
            kw = keyword_json.get(tag)
            if kw is None:
                kw = keyword_json[tag] = _ENCODE(specdata.keyword(tag))
        else:
            kw = "null"
        vj = vr_json.get(vr)
        if vj is None:
            vj = vr_json[vr] = _ENCODE(vr_text(vr))
        lj = "null" if length < 0 else str(length)
        voj = "null" if value_offset < 0 else str(value_offset)
        tail = ', "stream": "inflated"}' if stream == Stream.INFLATED else "}"
        lines.append(
            f'{{"kind": {labels[kind]}, "offset": {offset}, "end": {end}, "tag": {tj}, '
            f'"vr": {vj}, "length": {lj}, "value_offset": {voj}, "depth": {depth}, '
            f'"keyword": {kw}{tail}\n'
        )
        if len(lines) >= 4096:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))


def write_text(index: ElementIndex, out: TextIO, *, width: int = 48) -> None:
    """A tree like ``dcdump -v``, with hex offsets a person can jump to and faults in place."""
    faults_by_node: dict[int, list[int]] = {}
    loose: list[int] = []
    for n, fault in enumerate(index.faults):
        # A fault of no particular node is shown after the node that holds its offset.
        holder = fault.node if fault.node >= 0 else index.find(fault.offset, fault.stream)
        if holder is not None:
            faults_by_node.setdefault(holder, []).append(n)
        else:
            loose.append(n)
    ts = index.transfer_syntax
    head = f"# {index.path or '<bytes>'}: {index.size} bytes, {len(index)} nodes"
    if index.transfer_syntax_uid:
        head += f", transfer syntax {index.transfer_syntax_uid}"
        head += f" ({ts.name})" if ts else " (unknown)"
    out.write(head + "\n")
    for n in loose:
        _write_fault(index, n, out, "")
    inflated_announced = False
    for i, node in enumerate(index):
        if node.stream == Stream.INFLATED and not inflated_announced:
            out.write("# inflated data set (offsets count from its first inflated byte)\n")
            inflated_announced = True
        indent = "  " * node.depth
        prefix = f"{node.offset:08x}{'*' if node.stream == Stream.INFLATED else ' '} {indent}"
        kind = node.kind
        if kind in (Kind.PREAMBLE, Kind.PREFIX, Kind.TRAILING):
            out.write(f"{prefix}[{kind.label}] {node.end - node.offset} bytes\n")
        else:
            tag = format_tag(node.tag) if node.tag is not None else "?"
            length = "undefined" if node.length is None else str(node.length)
            if kind == Kind.ELEMENT:
                keyword = specdata.keyword(node.tag) if node.tag is not None else None
                vr = node.vr or "--"
                line = f"{prefix}({tag}) {vr} {length:>9}  {keyword or '?'}"
                value = short_value(index, i, width)
                if value:
                    line += f"  [{value}]"
            else:
                line = f"{prefix}({tag}) {kind.label} {length}"
            out.write(line + "\n")
        for n in faults_by_node.get(i, ()):
            _write_fault(index, n, out, indent)


def _write_fault(index: ElementIndex, n: int, out: TextIO, indent: str) -> None:
    fault = index.faults[n]
    star = "*" if fault.stream == Stream.INFLATED else " "
    out.write(f"{fault.offset:08x}{star} {indent}!! {fault.code}: {fault.message}\n")
