"""Data element headers for each encoding (PS3.5 7.1) as construct schemas.

The header schemas below are the one definition of how a tag, VR and value length are laid
out. The indexer does not parse with construct element by element (too slow for files with
100,000+ elements); it uses the :mod:`struct` formats of :mod:`dcmstruct.schema.layout`, and
``tests/test_schema_fastpath.py`` derives those formats from these very schemas with
:func:`fixed_format` and checks both agree, also on random bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
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

from dcmstruct.schema.layout import (
    ENCODINGS,
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    ITEM,
    ITEM_DELIMITER,
    ITEM_GROUP,
    LONG_LENGTH_VRS,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
    Encoding,
    HeaderForm,
    format_tag,
    header_form,
    tag_int,
)

__all__ = [
    "ENCODINGS",
    "EXPLICIT_BE",
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "ITEM",
    "ITEM_DELIMITER",
    "ITEM_GROUP",
    "LONG_LENGTH_VRS",
    "PIXEL_DATA",
    "SEQUENCE_DELIMITER",
    "UNDEFINED_LENGTH",
    "Encoding",
    "ExplicitVRBigEndianHeader",
    "ExplicitVRLittleEndianHeader",
    "HeaderForm",
    "ImplicitVRLittleEndianHeader",
    "ItemHeaderBE",
    "ItemHeaderLE",
    "delimiter",
    "fixed_format",
    "format_tag",
    "header_form",
    "header_schema",
    "is_tag",
    "item_header_schema",
    "tag_int",
]


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


def header_schema(encoding: Encoding) -> Construct:
    """The data element header schema of ``encoding`` (PS3.5 A.1, A.2, A.3)."""
    return _HEADERS[encoding.name][0]


def item_header_schema(encoding: Encoding) -> Construct:
    """The item and delimitation item header schema of ``encoding`` (PS3.5 7.5)."""
    return _HEADERS[encoding.name][1]


_HEADERS: dict[str, tuple[Construct, Construct]] = {
    EXPLICIT_LE.name: (ExplicitVRLittleEndianHeader, ItemHeaderLE),
    IMPLICIT_LE.name: (ImplicitVRLittleEndianHeader, ItemHeaderLE),
    EXPLICIT_BE.name: (ExplicitVRBigEndianHeader, ItemHeaderBE),
}


def is_tag(tag: int) -> Any:
    """A construct expression: the parsed group and element equal ``tag``."""
    return (this.group == tag >> 16) & (this.element == tag & 0xFFFF)


def delimiter(encoding: Encoding, tag: int) -> Construct:
    """PS3.5 7.5.2 Table 7.5-2/7.5-3: an item or sequence delimitation item (length 0 if valid)."""
    return Struct(*item_header_schema(encoding).subcons, Check(is_tag(tag)))
