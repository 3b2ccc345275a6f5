"""Data element headers for each encoding (PS3.5 7.1) and the fast path derived from them.

The header schemas below are the one definition of how a tag, VR and value length are laid
out. The indexer does not parse with construct element by element (too slow for files with
100,000+ elements); it uses :mod:`struct` formats that :func:`fixed_format` derives from these
very schemas, and ``tests/test_schema_fastpath.py`` checks both agree on random bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

from construct import (
    Array,
    Bytes,
    Check,
    Construct,
    Container,
    FormatField,
    If,
    IfThenElse,
    Int16ub,
    Int16ul,
    Int32ub,
    Int32ul,
    Pass,
    Renamed,
    Struct,
    Switch,
    this,
)

from dcmstruct import specdata

# PS3.5 7.5 Table 7.5-1..3: the three data elements of group FFFE that structure sequences.
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
ITEM_GROUP = 0xFFFE
# PS3.6 6: (7FE0,0010) Pixel Data, the one element that may hold fragments (PS3.5 A.4).
PIXEL_DATA = 0x7FE00010
# PS3.5 7.1.1: a value length of FFFFFFFFH means "undefined length".
UNDEFINED_LENGTH = 0xFFFFFFFF

# PS3.5 7.1.2 Table 7.1-1: VRs written with two reserved bytes and a 32-bit length.
LONG_LENGTH_VRS: frozenset[bytes] = frozenset(v.encode("ascii") for v in specdata.LONG_LENGTH_VRS)


def _explicit_header(u16: Construct, u32: Construct) -> Construct:
    long_reserved = {vr: u16 for vr in sorted(LONG_LENGTH_VRS)}
    long_length: dict[bytes | None, Construct] = {vr: u32 for vr in sorted(LONG_LENGTH_VRS)}
    long_length[None] = u32
    return Struct(
        "group" / u16,  # PS3.5 7.1.1 Data Element Tag, group number
        "element" / u16,  # PS3.5 7.1.1 Data Element Tag, element number
        # PS3.5 7.1.2: two single-byte characters; items and delimiters carry none (PS3.5 7.5).
        "vr" / If(this.group != ITEM_GROUP, Bytes(2)),
        # PS3.5 7.1.2 Table 7.1-1: reserved 0000H for the long-form VRs only.
        "reserved" / Switch(this.vr, long_reserved, Pass),
        # PS3.5 7.1.2 Table 7.1-1 (32-bit) / Table 7.1-2 (16-bit); items: 32-bit (PS3.5 7.5).
        "length" / Switch(this.vr, long_length, u16),
    )


def _implicit_header(u16: Construct, u32: Construct) -> Construct:
    return Struct(
        "group" / u16,  # PS3.5 7.1.3 Table 7.1-3
        "element" / u16,
        "length" / u32,  # always 32-bit; FFFFFFFFH = undefined length
    )


# PS3.5 7.5 Table 7.5-1..3: items, item delimiters and sequence delimiters have a tag and a
# 32-bit length in every transfer syntax (no VR), in the data set's byte order.
ItemHeaderLE = _implicit_header(Int16ul, Int32ul)
ItemHeaderBE = _implicit_header(Int16ub, Int32ub)
# PS3.5 A.2 Explicit VR Little Endian / A.1 Implicit VR Little Endian / A.3 Explicit VR Big Endian
ExplicitVRLittleEndianHeader = _explicit_header(Int16ul, Int32ul)
ImplicitVRLittleEndianHeader = _implicit_header(Int16ul, Int32ul)
ExplicitVRBigEndianHeader = _explicit_header(Int16ub, Int32ub)


class HeaderForm(Enum):
    """Which of the three header layouts of PS3.5 7.1 an element uses."""

    SHORT = "short"  # explicit VR, 16-bit length (Table 7.1-2)
    LONG = "long"  # explicit VR, reserved + 32-bit length (Table 7.1-1)
    IMPLICIT = "implicit"  # no VR, 32-bit length (Table 7.1-3); also items and delimiters


def fixed_format(schema: Construct, context: Mapping[str, Any]) -> str:
    """Derive the :mod:`struct` format of a flat header schema for one context.

    ``If`` and ``Switch`` are resolved against ``context`` (e.g. ``{"group": 8, "vr": b"CS"}``),
    so the same schema yields the short, long and implicit formats. Raises ``TypeError`` on a
    construct that has no fixed layout, so a schema change that breaks the fast path fails loudly.
    """
    ctx = Container(context)
    order = ""
    parts: list[str] = []

    def walk(sc: Construct) -> None:
        nonlocal order
        while isinstance(sc, Renamed):
            sc = sc.subcon
        if isinstance(sc, Struct):
            for sub in sc.subcons:
                walk(sub)
        elif isinstance(sc, FormatField):
            fmt = sc.fmtstr
            if fmt[0] in "<>":
                if order and order != fmt[0]:
                    raise TypeError("mixed byte order in one header")
                order = fmt[0]
                fmt = fmt[1:]
            parts.append(fmt)
        elif isinstance(sc, IfThenElse):  # construct's If(...) is an IfThenElse with Pass
            cond = sc.condfunc(ctx) if callable(sc.condfunc) else sc.condfunc
            walk(sc.thensubcon if cond else sc.elsesubcon)
        elif isinstance(sc, Switch):
            key = sc.keyfunc(ctx) if callable(sc.keyfunc) else sc.keyfunc
            walk(sc.cases.get(key, sc.default))
        elif isinstance(sc, Array) and isinstance(sc.count, int):
            for _ in range(sc.count):
                walk(sc.subcon)
        elif sc is Pass:
            pass
        elif type(sc).__name__ == "Bytes" and isinstance(getattr(sc, "length", None), int):
            parts.append(f"{sc.length}s")
        else:
            raise TypeError(f"no fixed layout for {sc!r}")

    walk(schema)
    return (order or "<") + "".join(parts)


def tag_format(header: Construct) -> struct.Struct:
    """The :mod:`struct` format of a header's leading ``group`` and ``element`` fields."""
    fields = header.subcons[:2]
    names = [sc.name for sc in fields]
    if names != ["group", "element"]:
        raise TypeError(f"a header must start with group and element, not {names}")
    return struct.Struct(fixed_format(Struct(*fields), {}))


@dataclass(frozen=True)
class Encoding:
    """One data set encoding of PS3.5 7.1 / Annex A, with its schemas and derived fast path."""

    name: str
    explicit_vr: bool
    little_endian: bool
    header: Construct
    item_header: Construct

    @cached_property
    def short(self) -> struct.Struct:
        """group, element, VR, 16-bit length (explicit VR only)."""
        return _formats(self)[HeaderForm.SHORT]

    @cached_property
    def long(self) -> struct.Struct:
        """group, element, VR, reserved, 32-bit length (explicit VR only)."""
        return _formats(self)[HeaderForm.LONG]

    @cached_property
    def implicit(self) -> struct.Struct:
        """group, element, 32-bit length: implicit VR headers, items and delimiters."""
        return _formats(self)[HeaderForm.IMPLICIT]

    @cached_property
    def tag(self) -> struct.Struct:
        """group, element: the first two fields every header of this encoding starts with."""
        return tag_format(self.item_header)

    @cached_property
    def u16(self) -> struct.Struct:
        return struct.Struct("<H" if self.little_endian else ">H")

    @cached_property
    def u32(self) -> struct.Struct:
        return struct.Struct("<I" if self.little_endian else ">I")


_FORMAT_CACHE: dict[str, dict[HeaderForm, struct.Struct]] = {}


def _formats(enc: Encoding) -> dict[HeaderForm, struct.Struct]:
    cached = _FORMAT_CACHE.get(enc.name)
    if cached is None:
        item = fixed_format(enc.item_header, {"group": ITEM_GROUP})
        if enc.explicit_vr:
            short = fixed_format(enc.header, {"group": 0x0008, "vr": b"CS"})
            long = fixed_format(enc.header, {"group": 0x0008, "vr": b"OB"})
        else:
            short = long = fixed_format(enc.header, {"group": 0x0008})
        cached = {
            HeaderForm.SHORT: struct.Struct(short),
            HeaderForm.LONG: struct.Struct(long),
            HeaderForm.IMPLICIT: struct.Struct(item),
        }
        _FORMAT_CACHE[enc.name] = cached
    return cached


EXPLICIT_LE = Encoding(
    "Explicit VR Little Endian", True, True, ExplicitVRLittleEndianHeader, ItemHeaderLE
)
IMPLICIT_LE = Encoding(
    "Implicit VR Little Endian", False, True, ImplicitVRLittleEndianHeader, ItemHeaderLE
)
EXPLICIT_BE = Encoding(
    "Explicit VR Big Endian", True, False, ExplicitVRBigEndianHeader, ItemHeaderBE
)
ENCODINGS = (EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE)


def header_form(encoding: Encoding, group: int, vr: bytes | None) -> HeaderForm:
    """The header layout an element uses (PS3.5 7.1.2, 7.5)."""
    if not encoding.explicit_vr or group == ITEM_GROUP or vr is None:
        return HeaderForm.IMPLICIT
    return HeaderForm.LONG if vr in LONG_LENGTH_VRS else HeaderForm.SHORT


def is_tag(tag: int) -> Any:
    """A construct expression: the parsed group and element equal ``tag``."""
    return (this.group == tag >> 16) & (this.element == tag & 0xFFFF)


def delimiter(encoding: Encoding, tag: int) -> Construct:
    """PS3.5 7.5.2 Table 7.5-2/7.5-3: an item or sequence delimitation item (length 0 if valid)."""
    return Struct(*encoding.item_header.subcons, Check(is_tag(tag)))


def tag_int(group: int, element: int) -> int:
    return (group << 16) | element


def format_tag(tag: int) -> str:
    """``GGGG,EEEE`` in upper-case hex, as the output contract writes tags."""
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"
