"""Encapsulated pixel data (PS3.5 A.4): Basic Offset Table item, fragments, sequence delimiter."""

from __future__ import annotations

from construct import Array, Bytes, Check, Construct, Int32ub, Int32ul, Struct, this

from dcmstruct.schema.element import (
    EXPLICIT_LE,
    ITEM,
    SEQUENCE_DELIMITER,
    Encoding,
    delimiter,
    is_tag,
    item_header_schema,
)
from dcmstruct.schema.layout import RLE_MAX_SEGMENTS
from dcmstruct.schema.repeat import RepeatUntilTag


def basic_offset_table(encoding: Encoding) -> Construct:
    """PS3.5 A.4 Table A.4-1: the first item, holding 32-bit offsets to each frame's first fragment
    (measured from the first byte of the first fragment's item tag), or empty."""
    return Struct(
        *item_header_schema(encoding).subcons,
        Check(is_tag(ITEM)),
        Check(this.length % 4 == 0),
        "offsets" / Array(this.length // 4, Int32ul if encoding.little_endian else Int32ub),
    )


def fragment(encoding: Encoding) -> Construct:
    """PS3.5 A.4: one item holding (part of) a compressed frame."""
    return Struct(
        *item_header_schema(encoding).subcons, Check(is_tag(ITEM)), "value" / Bytes(this.length)
    )


def encapsulated_pixel_data(encoding: Encoding) -> Construct:
    """PS3.5 A.4: the value of an undefined-length (7FE0,0010)."""
    return Struct(
        "offset_table" / basic_offset_table(encoding),
        "fragments"
        / RepeatUntilTag(
            fragment(encoding),
            lambda tag: tag == SEQUENCE_DELIMITER,
            not encoding.little_endian,
        ),
        "delimiter" / delimiter(encoding, SEQUENCE_DELIMITER),
    )


BasicOffsetTable = basic_offset_table(EXPLICIT_LE)
Fragment = fragment(EXPLICIT_LE)
EncapsulatedPixelData = encapsulated_pixel_data(EXPLICIT_LE)


# PS3.5 G.5: the 64-byte header at the start of each RLE Lossless frame's fragment: the number
# of segments (1 to 15), then 15 offsets to each segment from the start of the header, unused
# ones zero. Always little endian (PS3.5 G.5: "stored as 32-bit unsigned integers, LE").
RleHeader = Struct(
    "segments" / Int32ul,
    "offsets" / Array(RLE_MAX_SEGMENTS, Int32ul),
)
