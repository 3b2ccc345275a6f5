"""Build DICOM byte strings from readable Python: fixtures, the bundled sample, benchmarks.

Every header is written by the construct header schemas of :mod:`dcmstruct.schema.element`;
values are encoded here by VR (PS3.5 6.2). Lengths are computed unless a spec overrides them,
which is how fault fixtures are made: ``E("0010,0010", "PN", "DOE^JOHN", length=7)`` writes a
header that lies. :class:`Raw` inserts bytes verbatim where no schema can describe them.

    ds = [E("0008,0016", "UI", CT_IMAGE_STORAGE), E("0010,0010", "PN", "ANON^A")]
    data = part10(ds, transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dcmstruct import specdata
from dcmstruct.schema.deflate import DEFLATE_LEVEL
from dcmstruct.schema.element import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    ITEM,
    ITEM_DELIMITER,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
    Encoding,
    header_schema,
    item_header_schema,
)
from dcmstruct.schema.layout import RAW_DEFLATE_WBITS
from dcmstruct.uids import (  # noqa: F401 - re-exported: fixtures name them from here
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_BASELINE,
    RLE_LOSSLESS,
)

# The implementation UID root under which this project's synthetic files are made.
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1455.1"
IMPLEMENTATION_VERSION = "DCMSTRUCT_0_1"


def parse_tag(tag: int | str) -> int:
    """``0x00100010``, ``"0010,0010"`` or a keyword such as ``"PatientName"``."""
    if isinstance(tag, int):
        return tag
    text = tag.strip("() ")
    if "," in text:
        group, element = text.split(",")
        return int(group, 16) << 16 | int(element, 16)
    found = specdata.tag_for_keyword(text)
    if found is None:
        raise ValueError(f"unknown tag or keyword {tag!r}")
    return found


@dataclass
class Raw:
    """Bytes written verbatim: a fault no schema describes (garbage, a half header)."""

    data: bytes


@dataclass
class Item:
    """PS3.5 7.5.1: an item holding a data set."""

    elements: list[E | Raw] = field(default_factory=list)
    undefined: bool = False  # write FFFFFFFFH and an Item Delimitation Item
    length: int | None = None  # override the length field (fault fixtures)
    delimiter: bool = True  # with ``undefined``: write the delimiter (False: a fault fixture)
    delimiter_length: int = 0


@dataclass
class Seq:
    """PS3.5 7.5: a sequence of items, of defined or undefined length."""

    items: list[Item | Raw] = field(default_factory=list)
    undefined: bool = False
    delimiter: bool = True
    delimiter_length: int = 0


@dataclass
class Frags:
    """PS3.5 A.4: encapsulated pixel data: a Basic Offset Table and fragments."""

    fragments: list[bytes]
    offsets: list[int] | None = None  # Basic Offset Table entries; None = an empty table
    auto_offsets: bool = False  # fill the table with the offset of every fragment
    delimiter: bool = True
    extra: list[Raw] = field(default_factory=list)  # written after the fragments (faults)


@dataclass
class E:
    """One data element (PS3.5 7.1). ``vr=None``: the dictionary's VR."""

    tag: int | str
    vr: str | None = None
    value: object = b""
    length: int | None = None  # override the length field
    reserved: int = 0  # the two reserved bytes of the long form (PS3.5 7.1.2)
    long_form: bool | None = None  # force the 32-bit (True) or 16-bit (False) header form

    @property
    def tag_int(self) -> int:
        return parse_tag(self.tag)

    @property
    def vr_code(self) -> str:
        if self.vr is not None:
            return self.vr
        vr = specdata.dictionary_vr(self.tag_int)
        if vr is None:
            raise ValueError(f"{self.tag}: no dictionary VR, give one")
        return vr


_NUMBER_FORMATS = {
    "US": "H", "SS": "h", "UL": "I", "SL": "i", "UV": "Q", "SV": "q",
    "FL": "f", "FD": "d", "OW": "H", "OL": "I", "OV": "Q", "OF": "f", "OD": "d",
}  # fmt: skip


def encode_value(vr: str, value: object, little_endian: bool = True) -> bytes:
    """The value field of ``vr`` for a Python value, padded to even length (PS3.5 6.2, 7.1.1)."""
    if isinstance(value, np.ndarray):
        # Arrays are written in the data set's byte order, whatever their own.
        dtype = value.dtype.newbyteorder("<" if little_endian else ">")
        return _pad(vr, value.astype(dtype, copy=False).tobytes())
    if isinstance(value, bytes | bytearray | memoryview):
        return _pad(vr, bytes(value))
    if isinstance(value, np.generic):
        value = value.item()
    order = "<" if little_endian else ">"
    if vr == "AT":
        tags = [parse_tag(t) for t in _as_list(value)]  # type: ignore[arg-type]
        return b"".join(struct.pack(order + "HH", t >> 16, t & 0xFFFF) for t in tags)
    if vr in _NUMBER_FORMATS:
        values = [v.item() if isinstance(v, np.generic) else v for v in _as_list(value)]
        return struct.pack(f"{order}{len(values)}{_NUMBER_FORMATS[vr]}", *values)
    if isinstance(value, str):
        return _pad(vr, value.encode("latin-1"))
    if isinstance(value, int | float):
        return _pad(vr, _number_text(value).encode("ascii"))
    if isinstance(value, list | tuple):
        text = "\\".join(v if isinstance(v, str) else _number_text(v) for v in value)
        return _pad(vr, text.encode("latin-1"))
    raise TypeError(f"cannot encode {type(value).__name__} as {vr}")


def _number_text(v: object) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _pad(vr: str, data: bytes) -> bytes:
    if len(data) % 2 == 0:
        return data
    info = specdata.vr_info(vr)
    pad = info.padding if info is not None and info.padding else b"\0"
    return data + pad


class Writer:
    """Writes elements, items and sequences of one encoding with the header schemas."""

    def __init__(self, encoding: Encoding) -> None:
        self.enc = encoding

    def header(self, tag: int, vr: str | None, length: int, *, reserved: int = 0,
               long_form: bool | None = None) -> bytes:  # fmt: skip
        group, element = tag >> 16, tag & 0xFFFF
        if vr is None or not self.enc.explicit_vr:
            return bytes(
                item_header_schema(self.enc).build(
                    dict(group=group, element=element, length=length)
                )
            )
        vr_bytes = vr.encode("latin-1")
        if long_form is None:
            return bytes(
                header_schema(self.enc).build(
                    dict(
                        group=group, element=element, vr=vr_bytes, reserved=reserved, length=length
                    )
                )
            )
        # A header form the VR does not call for (a fault fixture): the schema's Switch cannot
        # write it, the formats derived from the schema can.
        if long_form:
            return self.enc.long.pack(group, element, vr_bytes, reserved, length)
        return self.enc.short.pack(group, element, vr_bytes, length)

    def element(self, e: E | Raw) -> bytes:
        if isinstance(e, Raw):
            return e.data
        tag = e.tag_int
        vr = e.vr_code
        value = e.value
        if isinstance(value, Seq):
            # PS3.5 6.2.2 (CP-246): the items of a sequence written as UN are Implicit VR LE.
            inner = Writer(IMPLICIT_LE) if vr == "UN" else self
            body = b"".join(inner.item(i) for i in value.items)
            if value.undefined and value.delimiter:
                body += inner.header(SEQUENCE_DELIMITER, None, value.delimiter_length)
            length = UNDEFINED_LENGTH if value.undefined else len(body)
        elif isinstance(value, Frags):
            body = self.fragments(value)
            length = UNDEFINED_LENGTH
        else:
            body = encode_value(vr, value, self.enc.little_endian)
            length = len(body)
        if e.length is not None:
            length = e.length
        return self.header(tag, vr, length, reserved=e.reserved, long_form=e.long_form) + body

    def item(self, item: Item | Raw) -> bytes:
        if isinstance(item, Raw):
            return item.data
        body = self.dataset(item.elements)
        if item.undefined and item.delimiter:
            body += self.header(ITEM_DELIMITER, None, item.delimiter_length)
        length = UNDEFINED_LENGTH if item.undefined else len(body)
        if item.length is not None:
            length = item.length
        return self.header(ITEM, None, length) + body

    def fragments(self, frags: Frags) -> bytes:
        offsets = frags.offsets
        if frags.auto_offsets:
            offsets, at = [], 0
            for frag in frags.fragments:
                offsets.append(at)
                at += 8 + len(frag)
        order = "<" if self.enc.little_endian else ">"
        table = struct.pack(f"{order}{len(offsets or [])}I", *(offsets or []))
        out = [self.header(ITEM, None, len(table)), table]
        for frag in frags.fragments:
            out += [self.header(ITEM, None, len(frag)), frag]
        out += [r.data for r in frags.extra]
        if frags.delimiter:
            out.append(self.header(SEQUENCE_DELIMITER, None, 0))
        return b"".join(out)

    def dataset(self, elements: Iterable[E | Raw]) -> bytes:
        return b"".join(self.element(e) for e in elements)


def encoding_for(transfer_syntax: str) -> Encoding:
    ts = specdata.transfer_syntax(transfer_syntax)
    if ts is None or ts.deflated or (ts.explicit_vr and ts.little_endian):
        return EXPLICIT_LE
    return IMPLICIT_LE if not ts.explicit_vr else EXPLICIT_BE


def file_meta(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    *,
    extra: Sequence[E | Raw] = (),
    group_length: int | None = None,
) -> list[E | Raw]:
    """PS3.10 7.1 Table 7.1-1: the file meta elements, with (0002,0000) computed."""
    body: list[E | Raw] = [
        E(0x00020001, "OB", b"\x00\x01"),
        E(0x00020002, "UI", sop_class_uid),
        E(0x00020003, "UI", sop_instance_uid),
        E(0x00020010, "UI", transfer_syntax),
        E(0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
        E(0x00020013, "SH", IMPLEMENTATION_VERSION),
        *extra,
    ]
    size = len(Writer(EXPLICIT_LE).dataset(body))
    return [E(0x00020000, "UL", size if group_length is None else group_length), *body]


def part10(
    dataset: Sequence[E | Raw],
    *,
    transfer_syntax: str = EXPLICIT_VR_LITTLE_ENDIAN,
    meta: Sequence[E | Raw] | None = None,
    preamble: bytes = bytes(128),
    prefix: bytes = b"DICM",
    encoding: Encoding | None = None,
) -> bytes:
    """A whole Part 10 file (PS3.10 7.1). SOP class/instance in the meta group come from the
    data set's (0008,0016)/(0008,0018) unless ``meta`` is given."""
    if meta is None:
        values = {e.tag_int: e.value for e in dataset if isinstance(e, E)}
        meta = file_meta(
            str(values.get(0x00080016, "")), str(values.get(0x00080018, "")), transfer_syntax
        )
    head = preamble + prefix + Writer(EXPLICIT_LE).dataset(meta)
    body = Writer(encoding or encoding_for(transfer_syntax)).dataset(dataset)
    ts = specdata.transfer_syntax(transfer_syntax)
    if ts is not None and ts.deflated:
        deflater = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, RAW_DEFLATE_WBITS)
        body = deflater.compress(body) + deflater.flush()
        if len(body) % 2:
            body += b"\0"  # PS3.5 A.5: an odd-length deflate stream gets one NUL pad byte
    return head + body


# -- DICOMDIR (PS3.3 F.3, PS3.10 8) ---------------------------------------------------------

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass
class DirectoryRecord:
    """A directory record (PS3.3 F.3.2.2) named ``name``; ``next`` and ``lower`` name the
    records its (0004,1400) and (0004,1420) point at."""

    name: str
    kind: str  # (0004,1430) Directory Record Type
    keys: list[E | Raw] = field(default_factory=list)
    next: str | None = None
    lower: str | None = None


def dicomdir(
    records: Sequence[DirectoryRecord],
    root: str | None,
    *,
    bend: Callable[[dict[str, int], dict[str, int]], None] | None = None,
) -> tuple[bytes, dict[str, int]]:
    """A DICOMDIR (Explicit VR Little Endian, PS3.10 8.6) holding ``records`` in this order,
    its root entity starting at ``root``, and where each record's item starts (absolute file
    offsets, the preamble counted: PS3.3 F.3.2.1).

    The offsets are found by laying the file out once with all of them 0 (UL values: their
    size does not change) and measuring each item. The last record of the root is the end of
    its chain. ``bend(offsets, starts)`` may change an offset before the file is written:
    ``offsets`` maps ``"root.first"``, ``"root.last"``, ``"NAME.next"`` and ``"NAME.lower"``
    to values."""
    by_name = {r.name: r for r in records}

    def dataset(offsets: dict[str, int]) -> list[E | Raw]:
        items: list[Item | Raw] = [
            Item(
                [
                    E(0x00041400, "UL", offsets.get(f"{r.name}.next", 0)),
                    E(0x00041410, "US", 0xFFFF),
                    E(0x00041420, "UL", offsets.get(f"{r.name}.lower", 0)),
                    E(0x00041430, "CS", r.kind),
                    *r.keys,
                ]
            )
            for r in records
        ]
        return [
            E(0x00041130, "CS", "DCMSTRUCT"),
            E(0x00041200, "UL", offsets.get("root.first", 0)),
            E(0x00041202, "UL", offsets.get("root.last", 0)),
            E(0x00041212, "US", 0),
            E(0x00041220, "SQ", Seq(items)),
        ]

    meta = file_meta(
        MEDIA_STORAGE_DIRECTORY, "1.2.826.0.1.3680043.10.1455.8", EXPLICIT_VR_LITTLE_ENDIAN
    )
    writer = Writer(EXPLICIT_LE)
    draft = dataset({})
    at = 128 + 4 + len(writer.dataset(meta)) + len(writer.dataset(draft[:-1]))
    at += len(writer.header(0x00041220, "SQ", 0))
    starts: dict[str, int] = {}
    sequence = draft[-1]
    assert isinstance(sequence, E) and isinstance(sequence.value, Seq)
    for r, item in zip(records, sequence.value.items, strict=True):
        starts[r.name] = at
        at += len(writer.item(item))
    offsets: dict[str, int] = {}
    if root is not None:
        offsets["root.first"] = starts[root]
        last, seen = root, {root}
        while (following := by_name[last].next) is not None and following not in seen:
            seen.add(following)
            last = following
        offsets["root.last"] = starts[last]
    for r in records:
        if r.next is not None:
            offsets[f"{r.name}.next"] = starts[r.next]
        if r.lower is not None:
            offsets[f"{r.name}.lower"] = starts[r.lower]
    if bend is not None:
        bend(offsets, starts)
    return part10(dataset(offsets), meta=meta), starts
