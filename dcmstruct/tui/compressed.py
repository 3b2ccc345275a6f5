"""Compressed frames for the pixel preview: the marker segments of a fragment
(:mod:`dcmstruct.codestream`) and a frame decoded (:mod:`dcmstruct.codecs`, the optional
extra), each read with bounded reads of the fragments' values. Pure functions, no Textual:
the screen runs :func:`decoded_frame` in a worker thread.

Before a frame is decoded its size is taken from its own frame header (SOFn / SOF55 / SIZ),
since the decoder allocates what that header says, whatever Rows and Columns say: a frame
larger than the preview takes (:data:`MAX_PREVIEW_VALUES`) is not decoded."""

from __future__ import annotations

from dataclasses import dataclass

from dcmstruct.codecs import INSTALL, DecodeError, decode, decoder
from dcmstruct.codestream import JPEG, JPEG_2000, Scan, family_of, scan
from dcmstruct.tui.pixels import (
    F64,
    MAX_PREVIEW_VALUES,
    FragmentTable,
    decoded_pixels,
)

# A fragment's marker segments are looked for in its first bytes only.
SCAN_BYTES = 1 << 20
# A compressed frame longer than this is not read for the preview.
MAX_FRAME_BYTES = 256 << 20


def _value(table: FragmentTable, k: int, limit: int) -> tuple[bytes, int, int]:
    """Fragment ``k``'s value: at most ``limit`` bytes, where it starts, its length."""
    structure = table.structure
    node = int(table.nodes[k])
    c = structure.index.columns
    start = int(c.value_offset[node])
    length = max(0, int(c.end[node]) - start)
    return structure.read(table.info.stream, start, min(limit, length)), start, length


def fragment_scan(table: FragmentTable, k: int) -> Scan:
    """The marker segments of fragment ``k``: read as the start of its frame's codestream
    when it is the frame's first fragment, else as the codestream going on."""
    data, start, length = _value(table, k, SCAN_BYTES)
    frame = table.frame_of(k)
    if frame is None:  # which frame it is cannot be told: read it as it starts
        return scan(data, base=start, total=length, whole=False)
    parts = table.fragments_of(frame)
    last = k == parts[-1]
    if k == parts[0]:
        return scan(data, base=start, total=length, whole=last)
    head, _, _ = _value(table, parts[0], SCAN_BYTES)
    family = scan(head, whole=False).family or family_of(head)
    if family is None:
        out = Scan(None)
        out.note(start, "the frame's first fragment starts no codestream", True)
        return out
    return scan(data, base=start, total=length, whole=last, continues=family)


@dataclass
class Decoded:
    """A frame decoded for the preview (``pixels``), or the one line saying why not."""

    pixels: F64 | None
    message: str = ""


def decoded_frame(table: FragmentTable, frame: int) -> Decoded:
    """Frame ``frame`` (from 0) decoded, as :func:`dcmstruct.tui.pixels.frame_pixels` gives a
    native one. Never raises: every refusal is a message."""
    try:
        return _decode(table, frame)
    except Exception as exc:  # a broken frame must not close the viewer
        return Decoded(None, f"could not decode frame {frame + 1}: {type(exc).__name__}: {exc}")


def _decode(table: FragmentTable, frame: int) -> Decoded:
    if not 0 <= frame < table.frames:
        return Decoded(None, "which fragments make this frame cannot be told: nothing decoded")
    parts = table.fragments_of(frame)
    head = scan(_value(table, parts[0], SCAN_BYTES)[0], whole=False)
    family = head.family
    if family is None:
        return Decoded(None, "the frame starts with no JPEG, JPEG-LS or JPEG 2000 marker")
    if decoder(family) is None:
        return Decoded(None, f"{family} frame: {INSTALL}")
    size = head.size
    if size is None:
        return Decoded(None, f"the {family} frame header (its size) was not found: not decoded")
    rows, columns, components, _ = size
    if rows * columns * max(1, components) > MAX_PREVIEW_VALUES:
        return Decoded(None, f"the frame header says {columns}x{rows}: too large to preview")
    if rows == 0 or columns == 0:
        return Decoded(None, f"the frame header says {columns}x{rows}: nothing to decode")
    lengths = [_value(table, k, 0)[2] for k in parts]
    if sum(lengths) > MAX_FRAME_BYTES:
        return Decoded(None, f"a frame of {sum(lengths):,} bytes: too large to preview")
    data = b"".join(_value(table, k, n)[0] for k, n in zip(parts, lengths, strict=True))
    try:
        array = decode(family, data)
    except DecodeError as exc:
        return Decoded(None, str(exc))
    colour = array.ndim == 3
    # libjpeg gives RGB from YCbCr; a JPEG 2000 frame does when its COD asks for the
    # component transformation (15444-1 A.6.1). Otherwise YBR_FULL is converted here.
    mct = any(s.name == "COD" and s.field("mct") for s in head.segments)
    ybr = colour and table.info.photometric == "YBR_FULL" and not (family == JPEG_2000 and mct)
    ybr = ybr and family != JPEG
    return Decoded(decoded_pixels(table.structure, table.info, array, ybr=ybr))


def describe(scan_: Scan) -> list[str]:
    """One line per segment and note, for the screen (offsets in hex)."""
    lines = [f"codestream: {scan_.family or 'unknown'}"]
    for s in scan_.segments:
        marker = f"{s.marker:04X}" if s.marker else ""
        length = "" if s.length is None else f"{s.length:,}"
        fields = " ".join(f"{k}={v}" for k, v in s.fields)
        lines.append(f"{s.offset:#10x}  {marker:>4}  {s.name:<8} {length:>7}  {fields}".rstrip())
    for note in scan_.notes:
        mark = "⚠ " if note.fault else ""
        lines.append(f"{note.offset:#10x}  {mark}{note.text}")
    return lines
