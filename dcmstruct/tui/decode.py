"""The inspector's text: an element's header and its value decoded by VR, and the numbers the
bytes at the cursor would be. Pure functions of the index, so they are tested without a screen.

Values are read from the file through :meth:`Structure.value_bytes` (a bounded ``pread``), never
more than :data:`MAX_READ` bytes of them: a 2 GB pixel data element costs what its first bytes
cost. A value the file no longer holds (it shrank on disk) comes back short or empty, and is
shown as far as it goes.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

import numpy as np

from dcmstruct import specdata
from dcmstruct.model import UNDEFINED, Kind, Stream
from dcmstruct.pixeldata import read_uints
from dcmstruct.schema.layout import PIXEL_DATA, format_tag
from dcmstruct.tui.pixels import first_item_is_table, pixel_of
from dcmstruct.tui.structure import Structure
from dcmstruct.values import (
    NUMERIC_DTYPES,
    decode_numbers,
    decode_tags,
    little_endian,
    split_values,
)

MAX_READ = 4096  # bytes of a value read for the inspector
MAX_VALUES = 64  # values listed for a multi-valued element
CODESTREAM_BYTES = 1 << 16  # bytes of a fragment read for its frame header

_KIND_NAMES = {
    Kind.PREAMBLE: "Preamble",
    Kind.PREFIX: "Prefix",
    Kind.ELEMENT: "Element",
    Kind.ITEM: "Item",
    Kind.ITEM_DELIMITER: "Item Delimitation Item",
    Kind.SEQUENCE_DELIMITER: "Sequence Delimitation Item",
    Kind.FRAGMENT: "Fragment",
    Kind.TRAILING: "Unparsed bytes",
}


@dataclass(frozen=True, slots=True)
class Line:
    """One row of the inspector: a label, a value, and a dimmer note (a UID's name, a unit)."""

    label: str
    text: str
    note: str = ""


def kind_name(kind: Kind) -> str:
    return _KIND_NAMES[kind]


def describe(structure: Structure, node: int) -> list[Line]:
    """Where node ``node`` is and what its header says."""
    index = structure.index
    n = index.node(node)
    lines = [Line("Kind", kind_name(n.kind))]
    if n.tag is not None:
        lines.append(Line("Tag", f"({format_tag(n.tag)})", n.keyword or ""))
    if n.vr is not None:
        info = specdata.vr_info(n.vr)
        how = "explicit" if n.vr_explicit else "implicit (dictionary)"
        lines.append(Line("VR", n.vr, f"{info.name if info else 'not a VR'}, {how}"))
    if int(index.columns.length[node]) == UNDEFINED:
        lines.append(Line("Length", "undefined", "FFFFFFFFH"))
    elif n.length is not None:
        lines.append(Line("Length", f"{n.length:,}", f"{n.length:#x}"))
    stream = "" if n.stream == Stream.FILE else " (inflated)"
    lines.append(Line("Offset", f"{n.offset:#010x}{stream}", f"{n.offset:,}"))
    lines.append(Line("End", f"{n.end:#010x}", f"{n.end - n.offset:,} bytes in all"))
    if n.value_offset is not None:
        header = f"header {n.value_offset - n.offset} bytes"
        lines.append(Line("Value at", f"{n.value_offset:#010x}", header))
    lines.append(Line("Depth", str(n.depth)))
    return lines


def decode(structure: Structure, node: int) -> list[Line]:
    """Node ``node``'s value decoded according to its VR (PS3.5 6.2), at most
    :data:`MAX_VALUES` values of it."""
    index = structure.index
    n = index.node(node)
    if n.kind == Kind.PREFIX:
        return [Line("Value", _raw_text(_read(structure, node) or b""))]
    if n.kind in (Kind.PREAMBLE, Kind.TRAILING):
        data = _read(structure, node, 64) or b""
        return [Line("Bytes", _hex(data, n.end - n.offset))]
    if n.kind == Kind.ITEM:
        count = structure.child_count(node)
        return [Line("Contents", f"{count:,} nodes")]
    if n.kind == Kind.FRAGMENT:
        return _fragment(structure, node)
    if n.kind != Kind.ELEMENT:
        return []
    if n.vr == "SQ" or (structure.child_count(node) and n.tag != 0x7FE00010):
        kids = structure.children(node)
        items = int(np.count_nonzero(index.columns.kind[kids] == Kind.ITEM))
        return [Line("Items", f"{items:,}")]
    if n.tag == PIXEL_DATA and n.length is None:
        # The fragments as the validator counts them (dcmstruct.pixeldata's one decision of
        # whether the first item is the Basic Offset Table).
        enc = pixel_of(structure, node).encapsulation
        count = 0 if enc is None else len(enc.fragments)
        where = (
            "after the Basic Offset Table"
            if enc is not None and enc.bot is not None
            else ("no Basic Offset Table: the first item is a fragment")
        )
        return [Line("Fragments", f"{count:,}", f"encapsulated (PS3.5 A.4), {where}")]
    value = _read(structure, node)
    if value is None:
        return []
    data = value
    total = n.end - (n.value_offset or n.end)
    vr = n.vr or "UN"
    info = specdata.vr_info(vr)
    if info is not None and info.is_string:
        return _strings(vr, data, total)
    if vr == "AT":
        return _tags(data, little_endian(index, node))
    if vr in NUMERIC_DTYPES:
        return _numbers(vr, data, total, little_endian(index, node))
    return [Line("Bytes", _hex(data, total))]


def _read(structure: Structure, node: int, limit: int = MAX_READ) -> bytes | None:
    if int(structure.kind[node]) in (Kind.PREAMBLE, Kind.PREFIX, Kind.TRAILING):
        return structure.node_bytes(node, limit)
    return structure.value_bytes(node, limit)


def _strings(vr: str, data: bytes, total: int) -> list[Line]:
    text = data.decode("latin-1").rstrip("\0 " if vr != "UI" else "\0")
    values = split_values(vr, text)
    lines: list[Line] = []
    for i, value in enumerate(values[:MAX_VALUES]):
        shown, note = _string_value(vr, value)
        lines.append(Line(f"[{i}]" if len(values) > 1 else "Value", shown, note))
    if len(values) > MAX_VALUES:
        lines.append(Line("…", f"{len(values) - MAX_VALUES:,} more values"))
    if total > len(data):
        lines.append(Line("…", f"{total - len(data):,} more bytes not read"))
    return lines


def _string_value(vr: str, value: str) -> tuple[str, str]:
    """The value as shown (control characters made visible) and what it means."""
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in value)
    if vr == "UI":
        return shown, specdata.uid_name(value) or ""
    if vr == "DA":
        return shown, _date(value.strip())
    if vr == "TM":
        return shown, _time(value.strip())
    if vr == "DT":
        return shown, _datetime(value.strip())
    if vr == "AS":
        return shown, _age(value.strip())
    if vr == "PN":
        groups = value.split("=")
        parts = groups[0].split("^")
        names = ("family", "given", "middle", "prefix", "suffix")
        note = ", ".join(f"{k}={v}" for k, v in zip(names, parts, strict=False) if v)
        return shown, note
    return shown, ""


def _date(text: str) -> str:
    """PS3.5 Table 6.2-1 DA: YYYYMMDD."""
    if "-" in text:
        return "a range: " + " to ".join(_date(t) or "open" for t in text.split("-", 1))
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date().isoformat()
    except ValueError:
        return "not a valid DA (YYYYMMDD)" if text else ""


def _time(text: str) -> str:
    """PS3.5 Table 6.2-1 TM: HH[MM[SS[.F{1-6}]]]."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6) or (frac and not frac.isdigit()):
        return "not a valid TM (HHMMSS.FFFFFF)" if text else ""
    hh, mm, ss = int(whole[0:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
    if hh > 23 or mm > 59 or ss > 60:
        return "not a valid TM (HHMMSS.FFFFFF)"
    out = f"{hh:02d}" + (f":{mm:02d}" if len(whole) >= 4 else "")
    out += f":{ss:02d}" if len(whole) == 6 else ""
    return out + (f".{frac}" if frac else "")


def _datetime(text: str) -> str:
    """PS3.5 Table 6.2-1 DT: YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]."""
    zone = ""
    for sign in "+-":
        if sign in text[4:]:
            at = text.index(sign, 4)
            text, zone = text[:at], text[at:]
    digits, _, frac = text.partition(".")
    if not digits.isdigit() or len(digits) not in (4, 6, 8, 10, 12, 14):
        return "not a valid DT"
    out = digits[0:4]
    for sep, a, b in (("-", 4, 6), ("-", 6, 8), ("T", 8, 10), (":", 10, 12), (":", 12, 14)):
        if len(digits) >= b:
            out += sep + digits[a:b]
    if frac:
        out += "." + frac
    if zone:
        out += f" UTC{zone[:3]}:{zone[3:]}"
    return out


def _age(text: str) -> str:
    units = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}
    if len(text) == 4 and text[:3].isdigit() and text[3] in units:
        return f"{int(text[:3])} {units[text[3]]}"
    return "not a valid AS (nnnD/W/M/Y)" if text else ""


def _numbers(vr: str, data: bytes, total: int, little: bool) -> list[Line]:
    decoded = decode_numbers(vr, data, little)
    size = decoded.dtype.itemsize
    values = decoded[:MAX_VALUES].tolist()
    count = total // size
    single = vr in ("FL", "OF")  # float32: repr() would show the float64 it widens to
    lines = [
        Line(f"[{i}]" if count > 1 else "Value", _num(v, single)) for i, v in enumerate(values)
    ]
    if count > len(values):
        lines.append(Line("…", f"{count - len(values):,} more values", f"{count:,} in all"))
    if total % size:
        lines.append(Line("!", f"{total % size} bytes left over", f"{vr} values are {size} bytes"))
    return lines


def _tags(data: bytes, little: bool) -> list[Line]:
    tags = decode_tags(data[: MAX_VALUES * 4], little).tolist()
    return [
        Line(f"[{i}]", f"({format_tag(tag)})", specdata.keyword(tag) or "")
        for i, tag in enumerate(tags)
    ]


def _fragment(structure: Structure, node: int) -> list[Line]:
    index = structure.index
    if not first_item_is_table(structure, node):
        n = index.node(node)
        data = _read(structure, node) or b""
        return [Line("Bytes", _hex(data[:32], (n.length or 0))), *_codestream(structure, node)]
    # PS3.5 A.4: the Basic Offset Table (the first item, unless it starts like a frame: the
    # one decision of dcmstruct.pixeldata): its entry count from its length, its first values.
    count = (index.node(node).length or 0) // 4
    offsets = read_uints(index, structure, node, 4, MAX_VALUES)
    lines = [Line("Offsets", f"{count:,}" if count else "none", "Basic Offset Table entries")]
    lines += [Line(f"[{i}]", f"{v:#x}", f"{v:,}") for i, v in enumerate(offsets)]
    if count > len(offsets):
        lines.append(Line("…", f"{count - len(offsets):,} more entries"))
    return lines


def _codestream(structure: Structure, node: int) -> list[Line]:
    """What a fragment that starts a JPEG, JPEG-LS or JPEG 2000 codestream says of its frame
    (its frame header, read from the fragment's first bytes); ``p`` lists its segments."""
    # Imported here: the schemas behind the scan are not needed before a fragment is looked at.
    from dcmstruct.codestream import family_of, scan

    head = structure.value_bytes(node, CODESTREAM_BYTES) or b""
    if family_of(head) is None:
        return []
    c = structure.index.columns
    # total: the fragment's length, so a segment running past the bytes read is not a fault.
    total = max(len(head), int(c.end[node]) - int(c.value_offset[node]))
    found = scan(head, base=int(c.value_offset[node]), total=total, whole=False)
    size = found.size
    shape = "" if size is None else f"{size[1]}x{size[0]}, {size[2]} component(s), {size[3]} bits"
    faults = sum(1 for note in found.notes if note.fault)
    note = f"{len(found.segments)} segments" + (f", {faults} fault(s)" if faults else "")
    return [
        Line("Codestream", found.family or "?", "p lists its marker segments"),
        Line("Frame", shape or "no frame header in the first bytes", note),
    ]


def _hex(data: bytes, total: int) -> str:
    shown = data[:32]
    text = " ".join(f"{b:02x}" for b in shown)
    return text + (f" … ({total:,} bytes)" if total > len(shown) else "")


def _raw_text(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in data)


# -- the data inspector: the bytes at the cursor as numbers -------------------------------------

_TYPES = (
    ("u8", "B"),
    ("i8", "b"),
    ("u16", "H"),
    ("i16", "h"),
    ("u32", "I"),
    ("i32", "i"),
    ("f32", "f"),
    ("f64", "d"),
)


CURSOR_BYTES = 8  # the widest type read at the cursor


def cursor_numbers(data: bytes) -> list[tuple[str, str, str]]:
    """(type, little endian reading, big endian reading) of ``data``, the bytes at the cursor
    (fewer than 8 near the end of the stream)."""
    rows: list[tuple[str, str, str]] = []
    for name, code in _TYPES:
        width = struct.calcsize(code)
        if len(data) < width:
            rows.append((name, "—", "—"))
            continue
        le = struct.unpack_from("<" + code, data)[0]
        be = struct.unpack_from(">" + code, data)[0]
        rows.append((name, _num(le, code == "f"), _num(be, code == "f")))
    return rows


def _num(v: int | float, single: bool = False) -> str:
    if isinstance(v, float):
        return f"{v:.7g}" if single else repr(v)
    return str(v)
