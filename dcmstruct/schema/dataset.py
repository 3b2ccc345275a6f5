"""Data elements, items, sequences and data sets for one encoding (PS3.5 7.1, 7.5).

The grammar is recursive (an element may hold a sequence of items holding data sets), so it is
made per encoding by :func:`grammar` with ``LazyBound`` links. It describes well-formed files;
the tolerant reader of arbitrary bytes is :mod:`dcmstruct.index`, which uses the header schemas
of :mod:`dcmstruct.schema.element` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from construct import (
    Bytes,
    Check,
    Computed,
    Construct,
    FixedSized,
    If,
    IfThenElse,
    LazyBound,
    Struct,
    Switch,
    this,
)

from dcmstruct import specdata
from dcmstruct.schema.element import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    ITEM,
    ITEM_DELIMITER,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
    Encoding,
    delimiter,
    header_schema,
    is_tag,
    item_header_schema,
)
from dcmstruct.schema.layout import items_follow
from dcmstruct.schema.pixel import encapsulated_pixel_data
from dcmstruct.schema.repeat import RepeatUntilTag


def _tag(ctx: Any) -> int:
    return int(ctx.group) << 16 | int(ctx.element)


def _implicit_vr(ctx: Any) -> bytes | None:
    # PS3.5 7.1.3 / A.1: in implicit VR the VR comes from the data dictionary.
    vr = specdata.implicit_vr(_tag(ctx))
    return vr.encode("ascii") if vr else None


def _value_form(ctx: Any, encoding: Encoding) -> str:
    """Which value layout follows the header (PS3.5 7.1.1, 7.5, A.4, 6.2.2)."""
    vr = ctx.vr
    if ctx.length == UNDEFINED_LENGTH:
        if _tag(ctx) == PIXEL_DATA and vr != b"SQ":
            return "encapsulated"  # PS3.5 A.4
        if vr == b"UN":
            return "un_sequence"  # PS3.5 6.2.2, CP-246: content is Implicit VR Little Endian
        return "sequence"  # PS3.5 7.5.2 (also undefined-length unknown elements in implicit VR)
    if vr == b"SQ":
        return "defined_sequence"  # PS3.5 7.5.1
    # A value of unknown VR that reads as items is a sequence (PS3.5 6.2.2, A.1): an unknown tag
    # in Implicit VR, or UN for a tag the dictionary calls SQ (or does not know), which a writer
    # that did not know the tag sent in Implicit VR Little Endian.
    if vr is None or (vr == b"UN" and specdata.implicit_vr(_tag(ctx)) in (None, "SQ")):
        inner = encoding if vr is None else IMPLICIT_LE
        if _peek_items(ctx, inner):
            return "defined_sequence" if inner is encoding else "un_defined_sequence"
    return "bytes"


def _peek_items(ctx: Any, inner: Encoding) -> bool:
    if getattr(ctx, "_building", False):
        # Building: the value object says which form it was parsed (or made) in.
        return not isinstance(ctx.value, bytes | bytearray)
    stream = ctx._io
    pos = stream.tell()
    head = stream.read(8)
    stream.seek(pos)
    return items_follow(head, inner, ctx.length)


@dataclass(frozen=True)
class Grammar:
    """The recursive schemas of one encoding."""

    encoding: Encoding
    element: Construct
    item: Construct
    dataset: Construct
    dataset_until_delimiter: Construct
    undefined_length_sequence: Construct
    encapsulated_pixel_data: Construct


@cache
def grammar(encoding: Encoding) -> Grammar:
    """Element, item, sequence and data set schemas for ``encoding``."""
    big = not encoding.little_endian
    g: dict[str, Construct] = {}
    element = LazyBound(lambda: g["element"])
    item = LazyBound(lambda: g["item"])

    # A data set fills its container: the rest of the file, or a defined-length item.
    dataset = RepeatUntilTag(element, lambda tag: False, big)
    # PS3.5 7.5.2: an undefined-length item's data set runs until an Item Delimitation Item.
    until_delimiter = RepeatUntilTag(
        element, lambda tag: tag in (ITEM_DELIMITER, SEQUENCE_DELIMITER), big
    )
    # PS3.5 7.5.2 Table 7.5-3: items until a Sequence Delimitation Item.
    undefined_sequence = Struct(
        "items" / RepeatUntilTag(item, lambda tag: tag == SEQUENCE_DELIMITER, big),
        "delimiter" / delimiter(encoding, SEQUENCE_DELIMITER),
    )
    # PS3.5 7.5.1: a defined-length sequence's value is exactly its items.
    defined_sequence = Struct(
        "items" / FixedSized(this._.length, RepeatUntilTag(item, lambda tag: False, big))
    )
    pixel = encapsulated_pixel_data(encoding)
    if encoding is IMPLICIT_LE:
        un_sequence: Construct = undefined_sequence
        un_defined_sequence: Construct = defined_sequence
    else:
        un_sequence = LazyBound(lambda: grammar(IMPLICIT_LE).undefined_length_sequence)
        un_defined_sequence = Struct(
            "items"
            / FixedSized(
                this._.length,
                RepeatUntilTag(
                    LazyBound(lambda: grammar(IMPLICIT_LE).item), lambda tag: False, False
                ),
            )
        )

    vr_field = [] if encoding.explicit_vr else ["vr" / Computed(_implicit_vr)]
    g["element"] = Struct(
        *header_schema(encoding).subcons,  # PS3.5 7.1.2 (explicit) or 7.1.3 (implicit)
        *vr_field,
        "value"
        / Switch(
            lambda ctx: _value_form(ctx, encoding),
            {
                "bytes": Bytes(this.length),  # PS3.5 7.1.1 Value Field, even length
                "defined_sequence": defined_sequence,
                "sequence": undefined_sequence,
                "un_sequence": un_sequence,
                "un_defined_sequence": un_defined_sequence,
                "encapsulated": pixel,
            },
        ),
    )
    # PS3.5 7.5.1 Table 7.5-1: an item holds one data set, of defined or undefined length.
    g["item"] = Struct(
        *item_header_schema(encoding).subcons,
        Check(is_tag(ITEM)),
        "dataset"
        / IfThenElse(
            this.length == UNDEFINED_LENGTH,
            until_delimiter,
            FixedSized(this.length, dataset),
        ),
        "delimiter" / If(this.length == UNDEFINED_LENGTH, delimiter(encoding, ITEM_DELIMITER)),
    )
    return Grammar(
        encoding=encoding,
        element=g["element"],
        item=g["item"],
        dataset=dataset,
        dataset_until_delimiter=until_delimiter,
        undefined_length_sequence=undefined_sequence,
        encapsulated_pixel_data=pixel,
    )


# Module-level constants for library users, one per encoding (PS3.5 A.1, A.2, A.3).
ExplicitVRLittleEndian = grammar(EXPLICIT_LE)
ImplicitVRLittleEndian = grammar(IMPLICIT_LE)
ExplicitVRBigEndian = grammar(EXPLICIT_BE)

DataElement = ExplicitVRLittleEndian.element
Item = ExplicitVRLittleEndian.item
DataSetToEnd = ExplicitVRLittleEndian.dataset
DataSetUntilDelimiter = ExplicitVRLittleEndian.dataset_until_delimiter
UndefinedLengthSequence = ExplicitVRLittleEndian.undefined_length_sequence
