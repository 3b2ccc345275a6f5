"""Marker segment headers of the codestreams encapsulated Pixel Data carries (PS3.5 A.4.1,
A.4.3, A.4.4): JPEG (ITU-T T.81 | ISO/IEC 10918-1 Annex B), JPEG-LS (ITU-T T.87 | ISO/IEC
14495-1 Annex C) and JPEG 2000 (ISO/IEC 15444-1 Annex A).

Every marker is two bytes, 0xFF then a code (T.81 B.1.1.2; 15444-1 A.1.1). A marker segment
is the marker, a 16-bit big-endian length that counts itself but not the marker (T.81 B.1.1.4
"Lp"; 15444-1 A.1.2 "Lxxx"), then parameters. The schemas below start at that length: the
scan (:mod:`dcmstruct.codestream`) reads the marker, then parses the segment with the schema of
its code. Only the parameters the viewer shows are named; the rest of a segment is skipped by
its length, never parsed.

The scan reads markers, lengths and JP2 box headers many times a fragment, with :mod:`struct`
formats derived here from their schemas (``*_FORMAT``, as :mod:`dcmstruct.schema.layout` does
for element headers); ``tests/test_codestream.py`` checks the two read the same.
"""

from __future__ import annotations

from construct import Array, Bytes, Construct, Int8ub, Int16ub, Int32ub, Int64ub, Struct, this

from dcmstruct.schema.element import fixed_format

# T.81 B.1.1.2, 15444-1 A.1.1: a marker, 0xFF then its code, read as one big-endian number.
Marker = Struct("marker" / Int16ub)

# T.81 B.1.1.4, 15444-1 A.1.2: the length field of every marker segment (it counts its own two
# bytes, not the marker).
SegmentLength = Struct("length" / Int16ub)

# T.81 B.2.2, Figure B.3 (SOF0..SOF15 but SOF4/8/12), and T.87 C.2.2 (SOF55, the same layout):
# Lf, P (sample precision), Y (lines), X (samples per line), Nf, then Nf x (C, H/V, Tq).
FrameHeader = Struct(
    "length" / Int16ub,
    "precision" / Int8ub,
    "lines" / Int16ub,
    "samples_per_line" / Int16ub,
    "components" / Int8ub,
    "component" / Array(this.components, Struct("id" / Int8ub, "hv" / Int8ub, "tq" / Int8ub)),
)

# T.81 B.2.3, Figure B.4 (SOS): Ls, Ns, Ns x (Cs, Td/Ta), Ss, Se, Ah/Al. T.87 C.2.3 keeps the
# layout with Ss = NEAR, Se = ILV (interleave mode) and the table byte as Tm (mapping table).
ScanHeader = Struct(
    "length" / Int16ub,
    "components" / Int8ub,
    "component" / Array(this.components, Struct("id" / Int8ub, "tables" / Int8ub)),
    "ss" / Int8ub,
    "se" / Int8ub,
    "ahal" / Int8ub,
)

# T.81 B.2.4.4 (DRI): Lr, Ri (restart interval, in MCUs).
RestartInterval = Struct("length" / Int16ub, "interval" / Int16ub)

# T.81 B.2.5 (DNL): Ld, NL (the number of lines, when the frame header said 0).
NumberOfLines = Struct("length" / Int16ub, "lines" / Int16ub)

# T.87 C.2.4.1 (LSE): Ll, ID (1: preset coding parameters, 2/3: mapping tables, 4: X and Y).
LsPreset = Struct("length" / Int16ub, "id" / Int8ub)

# 15444-1 A.5.1 (SIZ): Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz,
# then Csiz x (Ssiz: bit depth - 1, bit 7 set if signed; XRsiz, YRsiz: subsampling).
ImageAndTileSize = Struct(
    "length" / Int16ub,
    "rsiz" / Int16ub,
    "xsiz" / Int32ub,
    "ysiz" / Int32ub,
    "xosiz" / Int32ub,
    "yosiz" / Int32ub,
    "xtsiz" / Int32ub,
    "ytsiz" / Int32ub,
    "xtosiz" / Int32ub,
    "ytosiz" / Int32ub,
    "components" / Int16ub,
    "component"
    / Array(this.components, Struct("ssiz" / Int8ub, "xrsiz" / Int8ub, "yrsiz" / Int8ub)),
)

# 15444-1 A.6.1 (COD), Tables A.12, A.13, A.15: Lcod, Scod, SGcod (progression order, layers,
# multiple component transformation), SPcod (decomposition levels, code-block width and
# height exponents, code-block style, wavelet transformation: 0 irreversible 9-7, 1 reversible
# 5-3), then precinct sizes (not read).
CodingStyleDefault = Struct(
    "length" / Int16ub,
    "scod" / Int8ub,
    "progression" / Int8ub,
    "layers" / Int16ub,
    "mct" / Int8ub,
    "levels" / Int8ub,
    "xcb" / Int8ub,
    "ycb" / Int8ub,
    "cbstyle" / Int8ub,
    "transform" / Int8ub,
)

# 15444-1 A.6.4 (QCD), Table A.28: Lqcd, Sqcd (quantization style in the low 5 bits, guard
# bits in the high 3), then the step sizes (not read).
QuantizationDefault = Struct("length" / Int16ub, "sqcd" / Int8ub)

# 15444-1 A.4.2 (SOT), Table A.5: Lsot (always 10), Isot (tile index), Psot (bytes from the
# first byte of this SOT marker to the end of the tile-part's data; 0: up to EOC), TPsot
# (tile-part index), TNsot (tile-parts of the tile; 0: not said).
StartOfTile = Struct(
    "length" / Int16ub,
    "tile" / Int16ub,
    "psot" / Int32ub,
    "part" / Int8ub,
    "parts" / Int8ub,
)

# 15444-1 I.4: a JP2 box: LBox (its length, header included; 1: an 8-byte XLBox follows; 0: up
# to the end of the file), TBox (its type). I.5.1: the first box is the signature box.
BoxHeader = Struct("length" / Int32ub, "type" / Bytes(4))
# I.4: XLBox, the box's length as 64 bits, after TBox when LBox is 1.
ExtendedBoxLength = Struct("length" / Int64ub)
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def field_at(schema: Construct, name: str) -> int:
    """Where field ``name`` of a fixed-size ``schema`` starts: the sizes of the fields before."""
    at = 0
    for sub in schema.subcons:
        if sub.name == name:
            return at
        at += sub.sizeof()
    raise KeyError(name)


# The fast path's formats, from the schemas above.
MARKER_FORMAT = fixed_format(Marker, {})
SEGMENT_LENGTH_FORMAT = fixed_format(SegmentLength, {})
BOX_HEADER_FORMAT = fixed_format(BoxHeader, {})
EXTENDED_BOX_LENGTH_FORMAT = fixed_format(ExtendedBoxLength, {})
# Where a SOT's Psot is, from its marker: a fault about Psot points at the field.
PSOT_AT = Marker.sizeof() + field_at(StartOfTile, "psot")
