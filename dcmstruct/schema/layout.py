"""The byte layout as the fast paths read it: struct formats, field positions and the tags and
numbers of PS3.5 and PS3.10, with no construct import (a command's start-up does not pay for
building schemas it does not parse with).

This module is the fast path's copy of facts whose definition is the construct schemas of
:mod:`dcmstruct.schema.element`, :mod:`~dcmstruct.schema.file` and
:mod:`~dcmstruct.schema.pixel`; ``tests/test_schema_fastpath.py`` derives every format here from
those schemas (``fixed_format``) and fails if one differs. Field positions are not written by
hand anywhere else: they come from the sizes of these formats.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum

from dcmstruct import specdata

# PS3.5 7.5 Table 7.5-1..3: the three data elements of group FFFE that structure sequences.
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
ITEM_GROUP = 0xFFFE
# PS3.6 6: (7FE0,0010) Pixel Data, the one element that may hold fragments (PS3.5 A.4).
PIXEL_DATA = 0x7FE00010
# PS3.10 7.1 Table 7.1-1: (0002,0010) Transfer Syntax UID.
TRANSFER_SYNTAX_UID = 0x00020010
# PS3.5 7.1.1: a value length of FFFFFFFFH means "undefined length".
UNDEFINED_LENGTH = 0xFFFFFFFF
# PS3.10 7.1: a 128-byte File Preamble, then the four-byte DICOM Prefix.
PREAMBLE_LENGTH = 128
PREFIX = b"DICM"
# PS3.5 A.5: RFC 1951 raw deflate (negative window bits: no zlib header or checksum).
RAW_DEFLATE_WBITS = -15

# PS3.5 7.1.2 Table 7.1-1: VRs written with two reserved bytes and a 32-bit length.
LONG_LENGTH_VRS: frozenset[bytes] = frozenset(v.encode("ascii") for v in specdata.LONG_LENGTH_VRS)


class HeaderForm(Enum):
    """Which of the three header layouts of PS3.5 7.1 an element uses."""

    SHORT = "short"  # explicit VR, 16-bit length (Table 7.1-2)
    LONG = "long"  # explicit VR, reserved + 32-bit length (Table 7.1-1)
    IMPLICIT = "implicit"  # no VR, 32-bit length (Table 7.1-3); also items and delimiters


# The header formats of PS3.5 Tables 7.1-1, 7.1-2, 7.1-3 and 7.5-1..3 in little-endian order
# (a big-endian encoding uses the same fields with ">"): group, element, [VR, [reserved,]]
# length. Checked against the construct schemas by tests/test_schema_fastpath.py.
_SHORT = "HH2sH"
_LONG = "HH2sHL"
_IMPLICIT = "HHL"  # also items and delimiters, in every encoding

# Where the fields are, from the formats' sizes.
TAG_SIZE = struct.calcsize("<HH")  # the VR follows the tag
VR_AT = TAG_SIZE
SHORT_LENGTH_AT = struct.calcsize("<HH2s")  # the 16-bit length of the short form
LONG_LENGTH_AT = struct.calcsize("<HH2sH")  # the 32-bit length of the long form
IMPLICIT_LENGTH_AT = TAG_SIZE  # the 32-bit length of implicit VR headers, items, delimiters
SHORT_HEADER = struct.calcsize("<" + _SHORT)
LONG_HEADER = struct.calcsize("<" + _LONG)
IMPLICIT_HEADER = struct.calcsize("<" + _IMPLICIT)
LENGTH_32_SIZE = struct.calcsize("<L")  # a 32-bit length field (long form, implicit, items)
RESERVED_AT = SHORT_LENGTH_AT  # the long form's reserved bytes sit where the short length does
# The smallest header: a short explicit VR header, an implicit one, an item or a delimiter.
HEADER = min(SHORT_HEADER, IMPLICIT_HEADER)

# PS3.5 G.5: an RLE fragment's header: the segment count, then 15 segment offsets (always LE).
RLE_MAX_SEGMENTS = 15
RLE_HEADER_FORMAT = "<" + "L" * (1 + RLE_MAX_SEGMENTS)


@dataclass(frozen=True)
class Encoding:
    """One data set encoding of PS3.5 7.1 / Annex A, and its header formats."""

    name: str
    explicit_vr: bool
    little_endian: bool
    short: struct.Struct = field(init=False, repr=False, compare=False)
    long: struct.Struct = field(init=False, repr=False, compare=False)
    implicit: struct.Struct = field(init=False, repr=False, compare=False)
    tag: struct.Struct = field(init=False, repr=False, compare=False)
    u16: struct.Struct = field(init=False, repr=False, compare=False)
    u32: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        order = "<" if self.little_endian else ">"
        # Implicit VR has no VR: its element headers are the implicit form whatever the table.
        short = _SHORT if self.explicit_vr else _IMPLICIT
        long = _LONG if self.explicit_vr else _IMPLICIT
        for name, fmt in (
            ("short", short),  # group, element, VR, 16-bit length (explicit VR only)
            ("long", long),  # group, element, VR, reserved, 32-bit length (explicit VR only)
            ("implicit", _IMPLICIT),  # group, element, 32-bit length; items and delimiters
            ("tag", "HH"),
            ("u16", "H"),
            ("u32", "L"),
        ):
            object.__setattr__(self, name, struct.Struct(order + fmt))

    def __hash__(self) -> int:
        return hash(self.name)


EXPLICIT_LE = Encoding("Explicit VR Little Endian", True, True)
IMPLICIT_LE = Encoding("Implicit VR Little Endian", False, True)
EXPLICIT_BE = Encoding("Explicit VR Big Endian", True, False)
ENCODINGS = (EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE)


def header_form(encoding: Encoding, group: int, vr: bytes | None) -> HeaderForm:
    """The header layout an element uses (PS3.5 7.1.2, 7.5)."""
    if not encoding.explicit_vr or group == ITEM_GROUP or vr is None:
        return HeaderForm.IMPLICIT
    return HeaderForm.LONG if vr in LONG_LENGTH_VRS else HeaderForm.SHORT


def dataset_encoding(ts: specdata.TransferSyntax | None) -> Encoding | None:
    """How the data set of a file with transfer syntax ``ts`` is encoded (PS3.5 10, Annex A):
    None when ``ts`` is unknown (the reader must detect it). A deflated data set is Explicit
    VR Little Endian once inflated (PS3.5 A.5). The index and ``Part10File`` both decide with
    this one function."""
    if ts is None:
        return None
    if not ts.explicit_vr:
        return IMPLICIT_LE  # PS3.5 A.1
    return EXPLICIT_LE if ts.little_endian else EXPLICIT_BE  # PS3.5 A.2, A.3


_VR_BYTES = frozenset(v.encode("ascii") for v in specdata.VR_CODES)


def guess_encoding(head: bytes) -> Encoding | None:
    """The encoding the first element header of a data set (``head``, 6 or more bytes) reads
    in, when (0002,0010) does not say: explicit VR if bytes 4-5 are a VR code (PS3.5 7.1.2),
    little endian if that reading of the group number is the smaller (0008 rather than 0800);
    None for implicit VR big endian, which does not exist. The index (which then also checks
    that the header fits) and ``Part10File`` both guess with this one function."""
    if len(head) < VR_AT + 2:
        return None
    little = (head[0] | head[1] << 8) <= (head[0] << 8 | head[1])
    if head[VR_AT : VR_AT + 2] in _VR_BYTES:
        return EXPLICIT_LE if little else EXPLICIT_BE
    return IMPLICIT_LE if little else None


def items_follow(head: bytes, encoding: Encoding, room: int) -> bool:
    """Do the first bytes of a value (``head``, 8 or more) read as an item header whose length
    fits in ``room`` bytes? Then a value of unknown VR (Implicit VR, or UN) is a sequence of
    items (PS3.5 6.2.2, A.1): the index and the schemas decide it with this one test."""
    if len(head) < IMPLICIT_HEADER or room < IMPLICIT_HEADER:
        return False
    group, element, length = encoding.implicit.unpack_from(head)
    return bool(
        (group << 16 | element) == ITEM
        and (length == UNDEFINED_LENGTH or IMPLICIT_HEADER + length <= room)
    )


def tag_int(group: int, element: int) -> int:
    return (group << 16) | element


def format_tag(tag: int) -> str:
    """``GGGG,EEEE`` in upper-case hex, as the output contract writes tags."""
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"
