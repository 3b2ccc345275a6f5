"""The pixel preview's data: image attributes, one frame read from the file, windowed to grey
levels (or RGB) and scaled to the terminal. Pure numpy, no Textual.

Only the selected frame's bytes are read (one bounded ``pread``, never the whole Pixel Data).
Broken headers never raise: what is missing or inconsistent is said in
:attr:`ImageInfo.problems`, and as much of the image is shown as the bytes allow.

References: PS3.3 C.7.6.3 (Image Pixel Module: Rows, Columns, Samples per Pixel, Photometric
Interpretation, Planar Configuration, Bits Allocated/Stored, High Bit, Pixel Representation),
C.11.1 (Modality LUT: Rescale Slope/Intercept), C.11.2.1.2 (Window Center/Width, the linear
function), PS3.5 8.1.1 (native pixel cells), A.4 (encapsulated: fragments, offset table).
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dcmstruct import specdata
from dcmstruct.arrays import member
from dcmstruct.model import UNDEFINED, Kind, Stream
from dcmstruct.pixeldata import (
    BITS_ALLOCATED,
    BITS_STORED,
    COLUMNS,
    DOUBLE_FLOAT_PIXEL_DATA,
    FLOAT_PIXEL_DATA,
    HIGH_BIT,
    NUMBER_OF_FRAMES,
    PIXEL_REPRESENTATION,
    PIXEL_TAGS,
    PLANAR_CONFIGURATION,
    ROWS,
    SAMPLES_PER_PIXEL,
    FrameMap,
    FrameSource,
    NativeLayout,
    PixelData,
    native_layout,
    pixel_data,
)
from dcmstruct.schema.layout import PIXEL_DATA
from dcmstruct.tui.structure import Structure
from dcmstruct.values import decode_numbers, little_endian

# PS3.3 C.11.2 VOI LUT and C.11.1 Modality LUT: how the viewer windows a grey image.
WINDOW_CENTER = 0x00281050
WINDOW_WIDTH = 0x00281051
RESCALE_INTERCEPT = 0x00281052
RESCALE_SLOPE = 0x00281053
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


# A frame of more values than this is not previewed: the header may lie (65535 x 65535).
MAX_PREVIEW_VALUES = 64 << 20


@dataclass
class Window:
    """A grey-level window: a Window Center/Width pair, or the frame's data range."""

    name: str
    center: float | None = None  # None: the data range
    width: float | None = None


@dataclass
class ImageInfo:
    node: int
    tag: int
    rows: int | None
    columns: int | None
    samples: int
    bits_allocated: int | None
    bits_stored: int | None
    high_bit: int | None
    signed: bool
    photometric: str
    planar: int
    frames: int
    windows: list[Window]
    slope: float
    intercept: float
    little: bool
    encapsulated: bool
    ts_name: str
    value_offset: int
    available: int  # bytes of the value present in the file
    stream: Stream
    problems: list[str] = field(default_factory=list)

    @property
    def layout(self) -> NativeLayout | None:
        """Where each frame is, as :mod:`dcmstruct.pixeldata` lays native pixel data out."""
        return native_layout(
            self.rows,
            self.columns,
            self.samples,
            self.bits_allocated,
            self.frames,
            self.photometric,
        )

    @property
    def values_per_frame(self) -> int:
        """Stored values in one frame: YBR_FULL_422 keeps 2 values a pixel (Y, and Cb or Cr
        shared by two pixels, PS3.3 C.7.6.3.1.2), every other interpretation ``samples``."""
        layout = self.layout
        return 0 if layout is None else layout.values_per_frame

    @property
    def ybr422(self) -> bool:
        return self.samples == 3 and self.photometric == "YBR_FULL_422"

    @property
    def frame_bits(self) -> int:
        layout = self.layout
        return 0 if layout is None else layout.frame_bits

    @property
    def colour(self) -> bool:
        return (self.samples == 3 and self.photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")) or (
            self.samples == 1 and self.photometric == "PALETTE COLOR"
        )

    @property
    def frames_present(self) -> int:
        """Frames with at least one byte in the file."""
        layout = self.layout
        return 0 if layout is None else layout.frames_present(self.available)

    def describe(self) -> str:
        kind = "RGB" if self.colour else self.photometric or "?"
        bits = f"{self.bits_stored or '?'}/{self.bits_allocated or '?'} bits"
        sign = "signed" if self.signed else "unsigned"
        return f"{self.columns}x{self.rows} {kind}, {bits} {sign}, {self.frames} frame(s)"


_PIXELS: weakref.WeakKeyDictionary[Structure, dict[int, PixelData]] = weakref.WeakKeyDictionary()


def pixel_of(structure: Structure, node: int) -> PixelData:
    """Pixel Data element ``node`` as :mod:`dcmstruct.pixeldata` decides it (the validator's
    decision too), read through the viewer's reads (which never raise when the file shrinks on
    disk); kept per structure."""
    known = _PIXELS.setdefault(structure, {})
    found = known.get(node)
    if found is None:
        found = known[node] = pixel_data(structure.index, node, structure)
    return found


def first_item_is_table(structure: Structure, fragment: int) -> bool:
    """Whether item ``fragment`` is the Basic Offset Table of its encapsulated Pixel Data: the
    first item is, unless it starts like a compressed frame (PS3.5 A.4; BOT_MISSING)."""
    parent = int(structure.parent[fragment])
    if parent < 0 or int(structure.kind[fragment]) != Kind.FRAGMENT:
        return False
    enc = pixel_of(structure, parent).encapsulation
    return enc is not None and enc.bot == fragment


def item_name(structure: Structure, fragment: int, position: int) -> str:
    """The tree's name of the item at ``position`` among encapsulated Pixel Data's children:
    the Basic Offset Table, or fragment n counted from 1 (from the first item when the table
    is missing)."""
    parent = int(structure.parent[fragment])
    enc = pixel_of(structure, parent).encapsulation if parent >= 0 else None
    if enc is None or not enc.items:
        return f"Fragment {position}"
    if enc.bot == fragment:
        return "Basic Offset Table"
    return f"Fragment {position if enc.bot is not None else position + 1}"


def pixel_nodes(structure: Structure) -> list[int]:
    """Every Pixel Data element, the top-level data set's first."""
    c = structure.index.columns
    hits = np.flatnonzero((c.kind == Kind.ELEMENT) & member(c.tag, PIXEL_TAGS)).tolist()
    return sorted(hits, key=lambda i: (int(c.depth[i]), int(c.stream[i]) == 0, i))


def pick_pixel_node(structure: Structure, selected: int) -> int | None:
    """The Pixel Data element holding ``selected`` (an icon image's, say), else the top-level
    one, else any."""
    c = structure.index.columns
    node = selected
    while node >= 0:
        if int(c.kind[node]) == Kind.ELEMENT and int(c.tag[node]) in PIXEL_TAGS:
            return node
        node = int(c.parent[node])
    nodes = pixel_nodes(structure)
    return nodes[0] if nodes else None


def _sibling(structure: Structure, node: int, tag: int) -> int | None:
    c = structure.index.columns
    kids = structure.children(int(c.parent[node]))
    hits = kids[(c.tag[kids] == tag) & (c.kind[kids] == Kind.ELEMENT)]
    return int(hits[0]) if len(hits) else None


def _numbers(structure: Structure, node: int | None) -> list[float]:
    """The values of a US/SS/UL/SL/FL/FD/IS/DS element as numbers ([] if unreadable): the
    window and rescale attributes, and palette descriptors."""
    if node is None:
        return []
    raw = structure.value_bytes(node, 256)
    if raw is None:
        return []
    vr = structure.index.node(node).vr or ""
    if vr in ("US", "SS", "UL", "SL", "FL", "FD"):
        values = decode_numbers(vr, raw, little_endian(structure.index, node))
        return [float(v) for v in values.tolist()]
    out: list[float] = []
    for part in raw.decode("latin-1").split("\\"):
        with contextlib.suppress(ValueError):
            out.append(float(part.strip(" \0")))
    return out


def image_info(structure: Structure, node: int) -> ImageInfo:
    """What the attributes next to Pixel Data element ``node`` say, and what is wrong."""
    c = structure.index.columns
    index = structure.index
    pixels = pixel_of(structure, node)
    attributes = pixels.attributes
    problems: list[str] = []

    def whole(tag: int, default: int | None = None, *, required: bool = False) -> int | None:
        attribute = attributes.get(tag)
        if attribute.value is not None:
            return attribute.value
        if attribute.fault is not None:
            taken = "" if default is None else f"; taken as {default}"
            problems.append(f"{_attr_name(tag)} {attribute.fault}{taken}")
        elif required:
            why = "missing" if attribute.node is None else "unreadable"
            problems.append(f"{_attr_name(tag)} is {why}")
        return default

    def num(tag: int, default: float) -> float:
        values = _numbers(structure, _sibling(structure, node, tag))
        return values[0] if values else default

    tag = pixels.tag
    rows = whole(ROWS, required=True)
    columns = whole(COLUMNS, required=True)
    samples = whole(SAMPLES_PER_PIXEL, 1) or 1
    bits_allocated = pixels.bits if tag != PIXEL_DATA else whole(BITS_ALLOCATED, required=True)
    bits_stored = whole(BITS_STORED, bits_allocated)
    high_bit = whole(HIGH_BIT, None if bits_stored is None else bits_stored - 1)
    signed = (whole(PIXEL_REPRESENTATION, 0) or 0) == 1
    photometric = attributes.photometric or ""
    if not photometric:
        photometric = "MONOCHROME2" if samples == 1 else "RGB"
        problems.append(f"Photometric Interpretation is missing: taken as {photometric}")
    planar = whole(PLANAR_CONFIGURATION, 0) or 0
    frames = whole(NUMBER_OF_FRAMES, 1) or 1
    if frames < 1:
        problems.append(f"Number of Frames is {frames}: taken as 1")
        frames = 1
    centers = _numbers(structure, _sibling(structure, node, WINDOW_CENTER))
    widths = _numbers(structure, _sibling(structure, node, WINDOW_WIDTH))
    windows = [
        Window(f"window {k + 1}: C {ce:g} W {wi:g}", ce, wi)
        for k, (ce, wi) in enumerate(zip(centers, widths, strict=False))
        if wi >= 1
    ]
    if len(centers) != len(widths):
        problems.append(f"{len(centers)} Window Center(s) but {len(widths)} Window Width(s)")
    windows.append(Window("data range"))
    slope = num(RESCALE_SLOPE, 1.0)
    intercept = num(RESCALE_INTERCEPT, 0.0)
    ts = index.transfer_syntax
    ts_name = ts.name if ts is not None else (index.transfer_syntax_uid or "unknown")
    uid = index.transfer_syntax_uid or ""
    # Undefined length: fragments, or (VR SQ) items; either way no native pixels to show.
    encapsulated = int(c.length[node]) == UNDEFINED
    value_offset = int(c.value_offset[node])
    available = max(0, int(c.end[node]) - value_offset) if value_offset >= 0 else 0
    info = ImageInfo(
        node=node,
        tag=tag,
        rows=rows,
        columns=columns,
        samples=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        high_bit=high_bit,
        signed=signed,
        photometric=photometric,
        planar=planar,
        frames=frames,
        windows=windows,
        slope=1.0 if slope == 0.0 else float(slope),
        intercept=float(intercept),
        little=little_endian(index, node),
        encapsulated=encapsulated,
        ts_name=f"{ts_name} ({uid})" if uid and uid not in ts_name else ts_name,
        value_offset=value_offset,
        available=available,
        stream=pixels.stream,
        problems=problems,
    )
    if encapsulated:
        return info
    _check_native(info)
    return info


def _attr_name(tag: int) -> str:
    return f"{specdata.keyword(tag) or 'attribute'} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _check_native(info: ImageInfo) -> None:
    p = info.problems
    if (info.rows or 0) <= 0 or (info.columns or 0) <= 0:
        if info.rows is not None and info.columns is not None:
            p.append(f"Rows {info.rows} x Columns {info.columns}: no pixels")
        return
    ba = info.bits_allocated
    if ba is None:
        return
    if ba != 1 and (ba % 8 or ba > 64):
        p.append(f"Bits Allocated {ba} is not 1 or a multiple of 8: not shown")
        return
    if info.bits_stored is not None and not 0 < info.bits_stored <= ba:
        p.append(f"Bits Stored {info.bits_stored} with Bits Allocated {ba}: taken as {ba}")
        info.bits_stored = ba
    bs = info.bits_stored or ba
    if info.high_bit is None or not bs - 1 <= info.high_bit < ba:
        p.append(f"High Bit {info.high_bit} with Bits Stored {bs}: taken as {bs - 1}")
        info.high_bit = bs - 1
    if info.samples not in (1, 3):
        p.append(f"Samples per Pixel {info.samples}: the first sample is shown")
    if (info.rows or 0) * (info.columns or 0) * max(1, info.samples) > MAX_PREVIEW_VALUES:
        p.append(f"{info.rows}x{info.columns}: too large to preview")
    if info.photometric == "YBR_FULL_422" and (info.columns or 0) < 2:
        p.append("YBR_FULL_422 needs at least 2 columns")
    elif info.photometric == "YBR_FULL_422" and (info.columns or 0) % 2:
        p.append("YBR_FULL_422 with an odd number of columns: the last column is not shown")

    layout = info.layout
    expected = 0 if layout is None else layout.data_bytes
    if info.available < expected:
        present = info.frames_present
        p.append(
            f"Pixel Data holds {info.available:,} bytes, {expected:,} expected "
            f"({info.rows}x{info.columns}x{info.samples}x{ba} bits x {info.frames} frames): "
            f"{present} frame(s) present" + (", the last one cut" if present else "")
        )
    elif info.available > expected + 1:
        p.append(f"Pixel Data holds {info.available:,} bytes, {expected:,} expected: extra bytes")


def frame_pixels(structure: Structure, info: ImageInfo, frame: int) -> F64 | None:
    """Frame ``frame`` as float64 (rows, columns) or (rows, columns, 3); NaN where the file
    has no bytes. Modality rescale applied to grey images. None if nothing can be shown."""
    rows, cols, ba = info.rows, info.columns, info.bits_allocated
    if info.encapsulated or not rows or not cols or not ba or (ba != 1 and ba % 8) or ba > 64:
        return None
    samples = max(1, info.samples)
    per_frame = info.values_per_frame
    if per_frame > MAX_PREVIEW_VALUES or (info.ybr422 and cols < 2):
        return None  # a header no preview can honour (said by _check_native)
    if ba > 32 and info.tag == PIXEL_DATA and (info.bits_stored or ba) != ba:
        return None  # masks wider than 32 bits: not worth a preview
    layout = info.layout
    if layout is None:
        return None
    at, skip = layout.frame_start(frame)
    if ba == 1:
        values = _one_bit(structure, info, at, skip, per_frame)
    else:
        size = ba // 8
        start = info.value_offset + at
        stop = min(start + per_frame * size, info.value_offset + info.available)
        count = max(0, (stop - start) // size)
        order = "<" if info.little else ">"
        if info.tag in (FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA):
            dtype = np.dtype(f"{order}f{size}")
        else:
            dtype = np.dtype(
                f"{order}{'i' if info.signed and ba == (info.bits_stored or ba) else 'u'}{size}"
            )
        # The frame's bytes only (at most MAX_PREVIEW_VALUES values): nothing else of the
        # Pixel Data is read. Fewer if the file shrank on disk: the rest shows as missing.
        data = structure.read(info.stream, start, count * size)
        raw = np.frombuffer(data[: len(data) - len(data) % size], dtype=dtype)
        values = _stored_bits(raw, info).astype(np.float64)
        del raw, data
    full: F64 = np.full(per_frame, np.nan)
    full[: len(values)] = values[:per_frame]
    if info.ybr422 and cols >= 2:
        # PS3.3 C.7.6.3.1.2: per pair of pixels Y1 Y2 Cb Cr (planar configuration 0 only).
        pairs = full[: rows * (cols // 2) * 4].reshape(rows, cols // 2, 4)
        ybr = np.empty((rows, (cols // 2) * 2, 3))
        ybr[:, 0::2, 0], ybr[:, 1::2, 0] = pairs[:, :, 0], pairs[:, :, 1]
        ybr[:, :, 1] = np.repeat(pairs[:, :, 2], 2, axis=1)
        ybr[:, :, 2] = np.repeat(pairs[:, :, 3], 2, axis=1)
        return _ybr_to_rgb(ybr, info)
    if samples == 3 and info.photometric in ("RGB", "YBR_FULL"):
        rgb: F64
        if info.planar == 1:
            rgb = full.reshape(3, rows, cols).transpose(1, 2, 0)
        else:
            rgb = full.reshape(rows, cols, 3)
        return _ybr_to_rgb(rgb, info) if info.photometric == "YBR_FULL" else rgb
    img: F64
    if samples > 1:
        first = (
            full.reshape(rows, cols, samples)[:, :, 0] if info.planar == 0 else full[: rows * cols]
        )
        img = first.reshape(rows, cols)
    else:
        img = full.reshape(rows, cols)
    return _grey(structure, info, img)


def decoded_pixels(
    structure: Structure, info: ImageInfo, array: npt.NDArray[Any], *, ybr: bool = False
) -> F64:
    """A decoded compressed frame ((rows, columns) or (rows, columns, samples), as a decoder
    gives it: samples interleaved, whatever Planar Configuration says) as :func:`frame_pixels`
    gives a native one, for :func:`to_levels`. ``ybr``: the decoder left YBR_FULL as it was."""
    if array.ndim == 3 and array.shape[2] >= 3:
        rgb = array[:, :, :3].astype(np.float64)
        return _ybr_to_rgb(rgb, info) if ybr else rgb
    grey = array[:, :, 0] if array.ndim == 3 else array
    values = grey.astype(np.int64) if grey.dtype.kind in "ui" else grey
    bits = info.bits_stored or grey.dtype.itemsize * 8
    if info.signed and grey.dtype.kind == "u" and 0 < bits <= 63:
        # PS3.5 8.2: a decoder gives the stored bits unsigned; Pixel Representation 1 says
        # they are two's complement.
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return _grey(structure, info, np.asarray(values, dtype=np.float64))


def _grey(structure: Structure, info: ImageInfo, img: F64) -> F64:
    """A grey frame's stored values through the Modality LUT, or the palette."""
    if info.tag == PIXEL_DATA and info.photometric.startswith("MONOCHROME"):
        with np.errstate(invalid="ignore", over="ignore"):  # a slope of "inf" is a header fault
            img = img * info.slope + info.intercept
    if info.photometric == "PALETTE COLOR" and max(1, info.samples) == 1:
        coloured = _palette(structure, info, img)
        if coloured is not None:
            return coloured
    return img


# PS3.3 C.7.6.3.1.5: (0028,1101-1103) descriptors, (0028,1201-1203) the tables themselves.
_PALETTE = ((0x00281101, 0x00281201), (0x00281102, 0x00281202), (0x00281103, 0x00281203))


def _palette(structure: Structure, info: ImageInfo, img: F64) -> F64 | None:
    """PALETTE COLOR indices through the red, green and blue tables, scaled like the stored
    values (so to_levels treats them as it treats RGB). None if a table is unusable."""
    channels = []
    for descriptor_tag, data_tag in _PALETTE:
        descriptor = _numbers(structure, _sibling(structure, info.node, descriptor_tag))
        data = _sibling(structure, info.node, data_tag)
        if len(descriptor) < 3 or data is None:
            return None
        entries = int(descriptor[0]) or 65536  # 0 means 2^16 entries
        first, bits = int(descriptor[1]), int(descriptor[2])
        if not (0 < entries <= 65536 and 0 < bits <= 16):
            return None  # a descriptor no table can have
        size = 2 if bits > 8 or structure.index.node(data).vr != "OB" else 1
        raw = structure.value_bytes(data, entries * size)
        order = "<" if little_endian(structure.index, data) else ">"
        if raw is None or len(raw) < entries * size:
            return None
        table = np.frombuffer(raw, dtype=np.dtype(f"{order}u{size}")).astype(np.float64)
        # 8-bit entries may be stored in 16-bit words (PS3.3 C.7.6.3.1.6): keep the low byte.
        top = float(2**bits - 1)
        table = np.clip(table if bits > 8 else table % 256, 0, top) * (255.0 / top)
        index = np.clip(np.nan_to_num(img, nan=first) - first, 0, entries - 1).astype(np.int64)
        channels.append(table[index])
    levels = np.stack(channels, axis=-1)
    stored_top = float(2 ** (info.bits_stored or 8) - 1)
    return np.where(np.isnan(img)[..., None], np.nan, levels * (stored_top / 255.0))


def _one_bit(structure: Structure, info: ImageInfo, at: int, skip: int, per_frame: int) -> F64:
    """PS3.5 8.1.1: 1-bit pixels are packed, the first pixel in the least significant bit;
    frames follow each other without padding, so a frame may start inside a byte (bit
    ``skip`` of byte ``at`` of the value)."""
    start = info.value_offset + at
    stop = min(info.value_offset + info.available, start + -(-(per_frame + 7) // 8) + 1)
    packed = np.frombuffer(structure.read(info.stream, start, stop - start), dtype=np.uint8)
    bits = np.unpackbits(packed, bitorder="little")
    return bits[skip : skip + per_frame].astype(np.float64)


def _stored_bits(raw: npt.NDArray[np.generic], info: ImageInfo) -> npt.NDArray[np.generic]:
    """PS3.5 8.1.1: keep Bits Stored bits ending at High Bit, sign-extended if signed."""
    ba = info.bits_allocated or 0
    bs = info.bits_stored or ba
    hb = info.high_bit if info.high_bit is not None else bs - 1
    if info.tag != PIXEL_DATA or ba in (0, 1) or (bs == ba and hb == ba - 1):
        return raw
    wide = raw.astype(np.int64) & ((1 << ba) - 1)
    value = (wide >> (hb - bs + 1)) & ((1 << bs) - 1)
    if info.signed:
        value = np.where(value >= 1 << (bs - 1), value - (1 << bs), value)
    return value


def _ybr_to_rgb(img: F64, info: ImageInfo) -> F64:
    """PS3.3 C.7.6.3.1.2 YBR_FULL to RGB (8-bit levels; wider samples scaled down first)."""
    top = float(2 ** (info.bits_stored or 8) - 1)
    x = img * (255.0 / top)
    y, cb, cr = x[..., 0], x[..., 1] - 128.0, x[..., 2] - 128.0
    rgb = np.stack((y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb), axis=-1)
    return np.clip(rgb, 0, 255) * (top / 255.0)


def to_levels(img: F64, info: ImageInfo, window: Window) -> U8 | None:
    """Grey levels (or RGB levels) 0-255; NaN (no bytes) becomes 0. None: nothing valid."""
    valid = ~np.isnan(img)
    if not valid.any():
        return None
    if img.ndim == 3:
        top = float(2 ** (info.bits_stored or 8) - 1)
        levels = np.clip(np.nan_to_num(img) * (255.0 / max(top, 1.0)), 0, 255)
        return levels.astype(np.uint8)
    if window.center is None or window.width is None or window.width < 1:
        lo = float(np.nanmin(img))
        hi = float(np.nanmax(img))
        span = hi - lo
        levels = (img - lo) * (255.0 / span) if span > 0 else np.where(valid, 128.0, 0.0)
    else:
        # PS3.3 C.11.2.1.2.1, the LINEAR function.
        c, w = window.center, window.width
        levels = ((img - (c - 0.5)) / max(w - 1, 1e-9) + 0.5) * 255.0
    levels = np.clip(np.nan_to_num(levels, nan=0.0), 0, 255)
    if info.photometric == "MONOCHROME1":
        levels = 255.0 - levels
    return np.where(valid, levels, 0).astype(np.uint8)


def fit(levels: U8, max_columns: int, max_rows: int) -> U8:
    """Scale to at most ``max_columns`` x ``2 * max_rows`` pixels (half blocks: two pixels per
    cell, one above the other, which makes them about square), keeping the aspect ratio:
    area average when shrinking, nearest neighbour (whole multiples) when growing."""
    h, w = levels.shape[:2]
    if h == 0 or w == 0 or max_columns < 1 or max_rows < 1:
        return levels[:0, :0]
    scale = min(max_columns / w, 2 * max_rows / h)
    if scale >= 2:
        k = int(min(scale, 8))
        return np.repeat(np.repeat(levels, k, axis=0), k, axis=1)
    if scale >= 1:
        return levels
    out_h = max(1, int(h * scale))
    out_w = max(1, int(w * scale))
    ry = np.linspace(0, h, out_h + 1).astype(np.int64)[:-1]
    rx = np.linspace(0, w, out_w + 1).astype(np.int64)[:-1]
    wide = levels.astype(np.float64)
    summed = np.add.reduceat(np.add.reduceat(wide, ry, axis=0), rx, axis=1)
    counts = np.outer(np.diff(np.append(ry, h)), np.diff(np.append(rx, w)))
    if summed.ndim == 3:
        counts = counts[..., None]
    out: U8 = np.clip(np.rint(summed / counts), 0, 255).astype(np.uint8)
    return out


class FragmentTable:
    """The structure of encapsulated Pixel Data: a summary, and one row per fragment made on
    demand (the fragment list draws only the rows it shows: 4,000 fragments cost the rows on
    screen, not 4,000). Frames as :mod:`dcmstruct.pixeldata` maps them (the offset tables, the
    counts, or the codec markers; PS3.5 A.4), and from what."""

    COLUMNS = ("fragment", "frame", "part", "offset", "bytes")

    def __init__(self, structure: Structure, info: ImageInfo) -> None:
        self.structure = structure
        self.info = info
        self.summary = [f"Encapsulated Pixel Data: {info.ts_name}"]
        self.nodes: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.map = FrameMap(FrameSource.UNKNOWN)
        pixels = pixel_of(structure, info.node)
        enc = pixels.encapsulation
        if enc is None:
            self.summary.append("undefined length, but written as a sequence (VR SQ): no fragments")
            return
        if not enc.items:
            self.summary.append("no items: neither a Basic Offset Table nor fragments")
            return
        if enc.bot is None:
            why = f" ({enc.bot_missing})" if enc.bot_missing else ""
            table = f"no Basic Offset Table: the first item is a fragment{why}"
        else:
            entries = enc.bot_entries
            table = f"Basic Offset Table {entries} entr{'y' if entries == 1 else 'ies'}" + (
                " (empty)" if entries == 0 else ""
            )
        self.nodes = np.asarray(enc.fragments, dtype=np.int64)
        self.summary.append(
            f"{info.frames} frame(s) (Number of Frames), {len(self.nodes):,} fragment(s), {table}"
        )
        mapping = pixels.frame_map()
        self.summary.append(_SOURCES[mapping.source])
        self.summary += mapping.notes
        self.map = mapping

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def frames(self) -> int:
        """Frames the map knows (0: which fragments make which frame cannot be told)."""
        return len(self.map)

    def frame_of(self, k: int) -> int | None:
        """The frame fragment ``k`` belongs to (from 0), by the frame map."""
        return self.map.frame_holding(k)

    def fragments_of(self, frame: int) -> range:
        """The positions of frame ``frame``'s fragments."""
        return self.map.fragments_of(frame)

    def offset(self, k: int) -> int:
        """Where fragment ``k``'s item starts (its tag)."""
        return int(self.structure.offset[int(self.nodes[k])])

    def row(self, k: int) -> tuple[str, str, str, str, str]:
        """Fragment ``k``'s row: its number, its frame, which of the frame's fragments it is,
        its item's offset and its length."""
        node = int(self.nodes[k])
        frame = self.frame_of(k)
        shown, part = "?", ""
        if frame is not None:
            shown = str(frame + 1)
            parts = self.fragments_of(frame)
            part = f"{k - parts.start + 1}/{len(parts)}" if len(parts) > 1 else ""
        length = int(self.structure.index.columns.length[node])
        return (
            str(k + 1),
            shown,
            part,
            f"{self.offset(k):#x}",
            "undefined" if length < 0 else f"{length:,}",
        )


_SOURCES = {
    FrameSource.EXTENDED_OFFSET_TABLE: "frames from the Extended Offset Table",
    FrameSource.BASIC_OFFSET_TABLE: "frames from the Basic Offset Table",
    FrameSource.SINGLE_FRAME: "one frame: all fragments belong to it",
    FrameSource.ONE_PER_FRAME: "one fragment per frame (counts agree)",
    FrameSource.CODEC_MARKERS: "frames start at the fragments that start with a codec marker",
    FrameSource.UNKNOWN: "which fragments make which frame cannot be told",
}


def fragment_table(structure: Structure, info: ImageInfo) -> FragmentTable:
    """The fragments of encapsulated Pixel Data element ``info.node``, rows made on demand."""
    return FragmentTable(structure, info)
