"""The marker segments at the start of a compressed frame: JPEG (ITU-T T.81 Annex B), JPEG-LS
(ITU-T T.87 Annex C) and JPEG 2000 codestreams (ISO/IEC 15444-1 Annex A), as encapsulated
Pixel Data carries them (PS3.5 A.4).

:func:`scan` reads the headers of ``data`` (the bytes of a fragment, or of a frame), each
segment parsed with its schema from :mod:`dcmstruct.schema.codestream`, and stops at the
entropy-coded data: JPEG's is searched for the next marker only up to a budget of 0xFF bytes
(a progressive frame has more than one scan), then the end is looked at for EOI; a JPEG 2000
tile-part is skipped whole by the length its SOT gives. It never raises: a segment cut short,
a length past the end, a codestream with no SOI, are :class:`Note` s with their offsets.

>>> s = scan(bytes.fromhex("ffd8 ffc0000b 08 0002 0003 01 011100 ffd9"))
>>> [(x.offset, x.name) for x in s.segments]
[(0, 'SOI'), (2, 'SOF0'), (15, 'EOI')]
>>> s.size
(2, 3, 1, 8)
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from construct import ConstructError

from dcmstruct.schema.codestream import (
    BOX_HEADER_FORMAT,
    EXTENDED_BOX_LENGTH_FORMAT,
    JP2_SIGNATURE,
    MARKER_FORMAT,
    PSOT_AT,
    SEGMENT_LENGTH_FORMAT,
    CodingStyleDefault,
    FrameHeader,
    ImageAndTileSize,
    LsPreset,
    NumberOfLines,
    QuantizationDefault,
    RestartInterval,
    ScanHeader,
    StartOfTile,
)

JPEG = "JPEG"
JPEG_LS = "JPEG-LS"
JPEG_2000 = "JPEG 2000"

SOI = 0xFFD8
EOI = 0xFFD9
SOS = 0xFFDA
SOF55 = 0xFFF7  # T.87 C.2.2: the JPEG-LS frame header
SOC = 0xFF4F
SIZ = 0xFF51
SOT = 0xFF90
SOD = 0xFF93
EOC = 0xFFD9  # 15444-1 A.4.4: the same code as JPEG's EOI

# Work caps: a hostile fragment of 0xFF00 pairs costs at most this many steps.
MAX_SEGMENTS = 512
MAX_ENTROPY_MARKS = 16384  # 0xFF bytes looked at in entropy-coded data, all scans together
# A jp2c box holds a codestream (15444-1 I.5.4), not another JP2 file; one that does is still
# followed, this many files deep, as a viewer of broken files would want.
MAX_JP2_NESTING = 8
_TAIL = 8  # bytes at the end searched for EOI/EOC (the marker, then padding to even length)

# T.81 Table B.1 (with T.87 Table C.1 for F7/F8).
_SOF = {0xC0 + k: f"SOF{k}" for k in (0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15)}
_JPEG_NAMES: dict[int, str] = {
    **{0xFF00 | code: name for code, name in _SOF.items()},
    0xFFC4: "DHT",
    0xFFC8: "JPG",
    0xFFCC: "DAC",
    **{0xFFD0 + k: f"RST{k}" for k in range(8)},
    SOI: "SOI",
    EOI: "EOI",
    SOS: "SOS",
    0xFFDB: "DQT",
    0xFFDC: "DNL",
    0xFFDD: "DRI",
    0xFFDE: "DHP",
    0xFFDF: "EXP",
    **{0xFFE0 + k: f"APP{k}" for k in range(16)},
    SOF55: "SOF55",
    0xFFF8: "LSE",
    0xFFFE: "COM",
    0xFF01: "TEM",
}
# T.81 B.1.1.3: markers with no length: TEM, RSTm, SOI, EOI.
_STANDALONE = {0xFF01, SOI, EOI, *range(0xFFD0, 0xFFD8)}

# 15444-1 Table A.2.
_J2K_NAMES: dict[int, str] = {
    SOC: "SOC",
    0xFF50: "CAP",
    SIZ: "SIZ",
    0xFF52: "COD",
    0xFF53: "COC",
    0xFF55: "TLM",
    0xFF57: "PLM",
    0xFF58: "PLT",
    0xFF59: "CPF",
    0xFF5C: "QCD",
    0xFF5D: "QCC",
    0xFF5E: "RGN",
    0xFF5F: "POC",
    0xFF60: "PPM",
    0xFF61: "PPT",
    0xFF63: "CRG",
    0xFF64: "COM",
    SOT: "SOT",
    0xFF91: "SOP",
    0xFF92: "EPH",
    SOD: "SOD",
    EOC: "EOC",
}
_J2K_STANDALONE = {SOC, SOD, EOC, 0xFF92}

Fields = tuple[tuple[str, int], ...]


def _sof(c: Any) -> Fields:
    return (
        ("precision", c.precision),
        ("rows", c.lines),
        ("columns", c.samples_per_line),
        ("components", c.components),
    )


def _sos(c: Any) -> Fields:
    return (("components", c.components), ("Ss", c.ss), ("Se", c.se))


def _siz(c: Any) -> Fields:
    first = c.component[0].ssiz if c.component else 0
    return (
        ("rows", c.ysiz - c.yosiz),
        ("columns", c.xsiz - c.xosiz),
        ("components", c.components),
        ("precision", (first & 0x7F) + 1),
        ("signed", first >> 7),
        ("tile rows", c.ytsiz),
        ("tile columns", c.xtsiz),
    )


def _cod(c: Any) -> Fields:
    return (
        ("progression", c.progression),
        ("layers", c.layers),
        ("mct", c.mct),
        ("levels", c.levels),
        ("reversible", c.transform),
    )


def _sot(c: Any) -> Fields:
    return (("tile", c.tile), ("Psot", c.psot), ("part", c.part), ("parts", c.parts))


# Which schema reads which segment, and which of its fields are shown.
_JPEG_FIELDS: dict[int, tuple[Any, Callable[[Any], Fields]]] = {
    **{0xFF00 | code: (FrameHeader, _sof) for code in _SOF},
    SOF55: (FrameHeader, _sof),
    SOS: (ScanHeader, _sos),
    0xFFDD: (RestartInterval, lambda c: (("interval", c.interval),)),
    0xFFDC: (NumberOfLines, lambda c: (("lines", c.lines),)),
    0xFFF8: (LsPreset, lambda c: (("id", c.id),)),
}
_J2K_FIELDS: dict[int, tuple[Any, Callable[[Any], Fields]]] = {
    SIZ: (ImageAndTileSize, _siz),
    0xFF52: (CodingStyleDefault, _cod),
    0xFF5C: (QuantizationDefault, lambda c: (("style", c.sqcd & 0x1F), ("guard", c.sqcd >> 5))),
    SOT: (StartOfTile, _sot),
}


class Segment(NamedTuple):
    offset: int  # of the marker's 0xFF byte, counted like ``base``
    marker: int  # 0xFFD8, ...
    name: str
    length: int | None  # the segment's length field; None: a marker with no segment
    fields: Fields = ()

    def field(self, name: str) -> int | None:
        return dict(self.fields).get(name)


class Note(NamedTuple):
    offset: int
    text: str
    fault: bool = True  # False: said for information (a frame going on in the next fragment)


@dataclass
class Scan:
    family: str | None  # JPEG, JPEG-LS, JPEG 2000; None: neither starts the data
    segments: list[Segment] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    ended: bool = False  # EOI / EOC seen

    @property
    def size(self) -> tuple[int, int, int, int] | None:
        """(rows, columns, components, precision) from the frame header (SOFn, SOF55) or SIZ;
        None if there is none or it was not read whole."""
        for s in self.segments:
            if s.marker == SIZ or (s.marker in _JPEG_FIELDS and _JPEG_FIELDS[s.marker][1] is _sof):
                values = (s.field(k) for k in ("rows", "columns", "components", "precision"))
                rows, columns, components, precision = values
                if None not in (rows, columns, components, precision):
                    return rows or 0, columns or 0, components or 0, precision or 0
        return None

    def note(self, offset: int, text: str, fault: bool = True) -> None:
        self.notes.append(Note(offset, text, fault))


_FILL = re.compile(rb"\xff+")  # T.81 B.1.1.2: fill bytes


def family_of(head: bytes) -> str | None:
    """JPEG (SOI) or JPEG 2000 (SOC then SIZ, 15444-1 A.3), from a codestream's first bytes.
    JPEG-LS shares JPEG's SOI: only its SOF55 tells it apart."""
    if head[:2] == b"\xff\xd8":
        return JPEG
    if head[:2] == b"\xff\x4f":
        return JPEG_2000
    return None


def scan(
    data: bytes,
    *,
    base: int = 0,
    total: int | None = None,
    whole: bool = True,
    continues: str | None = None,
) -> Scan:
    """The marker segments of ``data``, at offsets ``base + position``.

    ``total``: the length of what ``data`` was read from (a fragment longer than the bytes
    read): a segment past the end of ``data`` but within ``total`` is not read, not a fault.
    ``whole``: ``data`` is a whole codestream, so it must end with EOI/EOC; False for the
    first fragment of a frame that goes on in the next ones. ``continues``: ``data`` is a
    later fragment of a codestream of this family: it starts inside entropy-coded data.
    """
    total = len(data) if total is None else max(total, len(data))
    if continues is not None:
        out = Scan(continues)
        if continues == JPEG_2000:
            _tail_end(data, base, out, total, whole, start=0, what="tile-part data")
        else:
            _jpeg(data, base, out, total, whole, start=0, entropy=True)
        return out
    out = Scan(None)
    at = _jp2(data, base, out) if data.startswith(JP2_SIGNATURE) else 0
    if at is None:
        return out
    out.family = family_of(data[at : at + 2])
    if out.family is None:
        head = data[at : at + 4].hex(" ")
        out.note(
            base + at,
            f"no SOI (FF D8) or SOC (FF 4F) at the start ({head or 'no bytes'}):"
            " not a JPEG, JPEG-LS or JPEG 2000 codestream",
        )
    elif out.family == JPEG:
        _jpeg(data, base, out, total, whole, start=at, entropy=False)
    else:
        _j2k(data, base, out, total, whole, at)
    return out


def _jp2(data: bytes, base: int, out: Scan) -> int | None:
    """15444-1 Annex I: a JP2 file is boxes; the codestream is the Contiguous Codestream box
    ('jp2c'). Its boxes are walked (at most :data:`MAX_SEGMENTS`, all files together) to that
    one; where its codestream starts, or None if it is not read. A JP2 file in a jp2c box (it
    may nest thousands deep) is walked in this same loop: at most :data:`MAX_JP2_NESTING`."""
    walked = at = 0
    for depth in range(MAX_JP2_NESTING + 1):
        if not data.startswith(JP2_SIGNATURE, at):
            return at
        file_at = at
        if depth == 1:
            out.note(
                base + at,
                "the codestream box (jp2c) holds another JP2 file, not a codestream"
                " (15444-1 I.5.4)",
            )
        elif depth == MAX_JP2_NESTING:
            break
        box: Segment | None = None
        while walked < MAX_SEGMENTS and at + _BOX.size <= len(data):
            walked += 1
            size, kind = box_header(data, at)
            start = at + _BOX.size
            if size == 1 and start + _XL_BOX.size <= len(data):  # I.4: XLBox follows TBox
                size, start = extended_box_length(data, at), start + _XL_BOX.size
            if kind == b"jp2c":
                box = Segment(base + at, 0, "jp2c box", size)
                break
            if size == 0 or size < start - at:
                break  # 0: the last box, up to the end; less than its header: broken
            at += size
        if box is None:
            out.note(
                base + file_at, "a JP2 file whose codestream box (jp2c) is not among the bytes read"
            )
            return None
        out.segments.append(box)
        at = start
    out.note(base + at, f"JP2 files nested more than {MAX_JP2_NESTING} deep: not read further")
    return None


# The fast reads of markers, lengths and box headers, in formats derived from their schemas.
_MARKER = struct.Struct(MARKER_FORMAT)
_LENGTH = struct.Struct(SEGMENT_LENGTH_FORMAT)
_BOX = struct.Struct(BOX_HEADER_FORMAT)
_XL_BOX = struct.Struct(EXTENDED_BOX_LENGTH_FORMAT)


def marker_at(data: bytes, at: int) -> int:
    """The marker at ``at`` (:data:`~dcmstruct.schema.codestream.Marker`)."""
    value: int = _MARKER.unpack_from(data, at)[0]
    return value


def length_at(data: bytes, at: int) -> int:
    """The segment length at ``at`` (:data:`~dcmstruct.schema.codestream.SegmentLength`)."""
    value: int = _LENGTH.unpack_from(data, at)[0]
    return value


def box_header(data: bytes, at: int) -> tuple[int, bytes]:
    """LBox and TBox of the box at ``at`` (:data:`~dcmstruct.schema.codestream.BoxHeader`)."""
    size, kind = _BOX.unpack_from(data, at)
    return size, kind


def extended_box_length(data: bytes, at: int) -> int:
    """XLBox of the box at ``at``
    (:data:`~dcmstruct.schema.codestream.ExtendedBoxLength`)."""
    value: int = _XL_BOX.unpack_from(data, at + _BOX.size)[0]
    return value


def _segment(
    data: bytes,
    at: int,
    base: int,
    out: Scan,
    total: int,
    names: dict[int, str],
    schemas: dict[int, tuple[Any, Callable[[Any], Fields]]],
) -> int | None:
    """Read the marker segment at ``at``; where the next marker is, or None to stop."""
    marker = marker_at(data, at)
    name = names.get(marker, f"marker {marker:04X}")
    if at + 4 > len(data):
        if at + 4 <= total:
            out.note(base + at, f"{name}: the scan stops here (the rest is not read)", False)
        else:
            out.note(base + at, f"{name} is cut short: its length field is past the end")
        out.segments.append(Segment(base + at, marker, name, None))
        return None
    length = length_at(data, at + 2)
    if length < 2:
        out.note(base + at + 2, f"{name} has length {length}: a length counts its own 2 bytes")
        out.segments.append(Segment(base + at, marker, name, length))
        return None
    end = at + 2 + length
    fields: Fields = ()
    body = data[at + 2 : end]
    known = schemas.get(marker)
    if known is not None:
        schema, pick = known
        try:
            fields = pick(schema.parse(body))
        except (ConstructError, IndexError, ValueError):
            if end <= len(data):  # whole, but too short for its own parameters
                out.note(base + at, f"{name} of length {length} is too short for its parameters")
    out.segments.append(Segment(base + at, marker, name, length, fields))
    if end > len(data):
        if end <= total:
            out.note(base + at, f"{name}: the scan stops here (the rest is not read)", False)
        else:
            out.note(
                base + at,
                f"{name} of length {length} runs {end - total:,} bytes past the end"
                f" (ends at {base + end:#x}, the data at {base + total:#x})",
            )
        return None
    return end


def _jpeg(
    data: bytes, base: int, out: Scan, total: int, whole: bool, *, start: int, entropy: bool
) -> None:
    at = start
    marks = [0]  # 0xFF bytes looked at in entropy-coded data
    if entropy:
        found = _next_marker(data, at, out, marks)
        if found is None:
            _ran_out(data, base, out, total, whole, at, marks)
            return
        at = found
    elif len(data) >= start + 2:
        out.segments.append(Segment(base + start, SOI, "SOI", None))
        at = start + 2
    while len(out.segments) < MAX_SEGMENTS:
        if at >= len(data):
            if whole and at >= total:
                out.note(base + at, "the data ends without EOI (FF D9)")
            elif at < total:
                out.note(base + at, "the scan stops here (the rest is not read)", False)
            return
        if data[at] != 0xFF:
            out.note(base + at, f"expected a marker (FF xx), found {data[at]:02X}")
            return
        if at + 1 >= len(data):
            out.note(base + at, "a marker is cut short by the end of the data")
            return
        marker = marker_at(data, at)
        code = marker & 0xFF
        if code == 0xFF:  # T.81 B.1.1.2: fill bytes may precede a marker
            # A run of them is passed in one step (one at a time, a MiB of them took 0.2 s and
            # counted toward no limit); the last FF is the marker's.
            run = _FILL.match(data, at)
            assert run is not None
            at = run.end() - 1
            if at + 1 >= len(data):
                out.note(base + at, "fill bytes (FF) run to the end of the data")
                return
            continue
        if marker == SOF55:
            out.family = JPEG_LS
        if code == 0x00:
            out.note(base + at, "FF 00 where a marker was expected")
            return
        if marker in _STANDALONE:
            out.segments.append(Segment(base + at, marker, _JPEG_NAMES.get(marker, "?"), None))
            if marker == EOI:
                out.ended = True
                _after_end(data, base, out, total, at + 2)
                return
            if marker == SOI:
                out.note(base + at, "a second SOI inside the codestream")
            at += 2
            continue
        nxt = _segment(data, at, base, out, total, _JPEG_NAMES, _JPEG_FIELDS)
        if nxt is None:
            return
        at = nxt
        if marker == SOS:
            found = _next_marker(data, at, out, marks)
            if found is None:
                _ran_out(data, base, out, total, whole, at, marks)
                return
            at = found
    out.note(base + at, f"more than {MAX_SEGMENTS} segments: the scan stops")


def _next_marker(data: bytes, at: int, out: Scan, marks: list[int]) -> int | None:
    """The next marker after entropy-coded data from ``at`` (T.81 B.1.1.5: an 0xFF there is
    followed by 0x00, or by RSTm; T.87 A.1: by a byte below 0x80). None: none within the
    budget or the data."""
    ls = out.family == JPEG_LS
    while marks[0] < MAX_ENTROPY_MARKS:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            return None
        marks[0] += 1
        code = data[at + 1]
        if code == 0xFF or code == 0x00 or (ls and code < 0x80) or 0xD0 <= code <= 0xD7:
            at += 1
            continue
        return at
    return None


def _ran_out(
    data: bytes, base: int, out: Scan, total: int, whole: bool, at: int, marks: list[int]
) -> None:
    """No marker found after entropy-coded data: the work cap, or the end of the data."""
    if marks[0] >= MAX_ENTROPY_MARKS:
        out.note(
            base + at,
            f"entropy-coded data is not searched for markers past {MAX_ENTROPY_MARKS:,} FF bytes",
            False,
        )
    _tail_end(data, base, out, total, whole, start=at, what="entropy-coded data")


def _tail_end(
    data: bytes, base: int, out: Scan, total: int, whole: bool, *, start: int, what: str
) -> None:
    """Look for EOI / EOC among the last bytes only (then at most a pad byte)."""
    if len(data) < total:
        out.note(base + len(data), f"{what}: the scan stops here (the rest is not read)", False)
        return
    tail_at = max(start, len(data) - _TAIL)
    found = data.rfind(b"\xff\xd9", tail_at)
    if found >= 0 and (len(data) - found <= 3 or not data[found + 2 :].strip(b"\x00")):
        name = "EOC" if out.family == JPEG_2000 else "EOI"
        out.segments.append(Segment(base + found, EOI, name, None))
        out.ended = True
    elif whole:
        name = "EOC (FF D9)" if out.family == JPEG_2000 else "EOI (FF D9)"
        out.note(base + len(data), f"the data ends inside {what}, without {name}")
    else:
        out.note(base + len(data), f"{what} goes on in the next fragment", False)


def _after_end(data: bytes, base: int, out: Scan, total: int, at: int) -> None:
    """After EOI / EOC: nothing, or the one byte that pads the item to even length (PS3.5
    A.4; written 00 or FF), or zeros."""
    after = total - at
    if after > 1 and (len(data) < total or data[at:].strip(b"\x00")):
        out.note(base + at, f"{after:,} bytes after the end of the codestream")


def _j2k(data: bytes, base: int, out: Scan, total: int, whole: bool, start: int) -> None:
    out.segments.append(Segment(base + start, SOC, "SOC", None))
    at = start + 2
    if data[at : at + 2] != b"\xff\x51":
        out.note(base + at, "SIZ does not follow SOC (15444-1 A.3)")
    tile_start: int | None = None
    psot = 0
    while len(out.segments) < MAX_SEGMENTS:
        if at >= len(data):
            if at < total:
                out.note(base + at, "the scan stops here (the rest is not read)", False)
            elif whole:
                out.note(base + at, "the data ends without EOC (FF D9)")
            return
        if at + 1 >= len(data) or data[at] != 0xFF:
            found = "the end of the data" if at + 1 >= len(data) else f"{data[at]:02X}"
            out.note(base + at, f"expected a marker (FF xx), found {found}")
            return
        marker = marker_at(data, at)
        name = _J2K_NAMES.get(marker, f"marker {marker:04X}")
        if marker in _J2K_STANDALONE:
            out.segments.append(Segment(base + at, marker, name, None))
            if marker == EOC:
                out.ended = True
                _after_end(data, base, out, total, at + 2)
                return
            if marker == SOD:
                # A.4.2: the tile-part ends Psot bytes after the first byte of its SOT
                # (0: at EOC). Each SOD needs a SOT of its own.
                if tile_start is None:
                    out.note(base + at, "SOD without a SOT before it")
                    return
                sot, tile_start = tile_start, None
                end = sot + psot
                if psot and end < at + 2:
                    # Followed, it would lead back to this SOD, or before it.
                    out.note(
                        base + sot + PSOT_AT,
                        f"SOT's Psot {psot:,} ends the tile-part at {base + end:#x}, before its"
                        f" data at {base + at + 2:#x} (15444-1 A.4.2: Psot counts from the SOT"
                        " marker, SOD included): the data is taken to run to the end",
                    )
                    psot = 0
                if psot == 0:
                    _tail_end(data, base, out, total, whole, start=at + 2, what="tile-part data")
                    return
                at = end
                if at > total and not whole:
                    out.note(base + sot, "tile-part data goes on in the next fragment", False)
                    return
                if at > total:
                    out.note(
                        base + sot,
                        f"SOT's Psot {psot:,} runs {at - total:,} bytes past the end",
                    )
                    return
                continue
            at += 2
            continue
        nxt = _segment(data, at, base, out, total, _J2K_NAMES, _J2K_FIELDS)
        if nxt is None:
            return
        if marker == SOT:
            tile_start, psot = at, out.segments[-1].field("Psot") or 0
        at = nxt
    out.note(base + at, f"more than {MAX_SEGMENTS} segments: the scan stops")
