"""Pixel data as the file lays it out, decided once for the validator and the viewer.

For each Pixel Data (or Float / Double Float Pixel Data) element: the image attributes of its
own data set (an icon image in an item has its own, PS3.3 C.7.6.3); for encapsulated Pixel Data
(PS3.5 A.4) whether the first item is the Basic Offset Table, the offset tables, the fragments
and which fragments make which frame; for native Pixel Data (PS3.5 8.1.1) the size and place of
each frame.

Only headers are read, through the caller's bounded reads: the index's nodes, the offset tables
(at most one entry more than there are fragments: a table cannot point at more), the first
bytes of fragments, the attributes' first 64 bytes. Never a pixel value, and nothing is sized by
what a header claims: Rows 65535 x Columns 65535 x 2^31 frames costs a few Python integers.

>>> from dcmstruct.index import index_file
>>> from dcmstruct.sample import sample_path
>>> with index_file(sample_path()) as index:
...     (pixels,) = pixel_elements(index)
...     layout = pixels.native
>>> layout.rows, layout.columns, layout.bits, layout.frames, layout.expected_length
(256, 256, 16, 1, 131072)
>>> pixels.encapsulation is None  # native: no fragments
True
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from itertools import pairwise
from typing import NamedTuple, Protocol

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import member
from dcmstruct.index import ElementIndex
from dcmstruct.model import UNDEFINED, Kind, Stream, vr_code
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import PIXEL_DATA, RLE_HEADER_FORMAT, RLE_MAX_SEGMENTS
from dcmstruct.uids import ENCAPSULATED_UNCOMPRESSED, RLE_LOSSLESS
from dcmstruct.values import decode_numbers, little_endian

FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009
PIXEL_TAGS = (PIXEL_DATA, FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA)
EXTENDED_OFFSET_TABLE = 0x7FE00001
EXTENDED_OFFSET_TABLE_LENGTHS = 0x7FE00002

# PS3.3 C.7.6.3 Image Pixel Module, C.7.6.6 Multi-frame Module.
SAMPLES_PER_PIXEL = 0x00280002
PHOTOMETRIC_INTERPRETATION = 0x00280004
PLANAR_CONFIGURATION = 0x00280006
NUMBER_OF_FRAMES = 0x00280008
ROWS = 0x00280010
COLUMNS = 0x00280011
BITS_ALLOCATED = 0x00280100
BITS_STORED = 0x00280101
HIGH_BIT = 0x00280102
PIXEL_REPRESENTATION = 0x00280103
NUMBER_TAGS = (
    SAMPLES_PER_PIXEL,
    PLANAR_CONFIGURATION,
    NUMBER_OF_FRAMES,
    ROWS,
    COLUMNS,
    BITS_ALLOCATED,
    BITS_STORED,
    HIGH_BIT,
    PIXEL_REPRESENTATION,
)
_OFFSET_TABLE_TAGS = (EXTENDED_OFFSET_TABLE, EXTENDED_OFFSET_TABLE_LENGTHS)
# Looked up in the Pixel Data's own data set: the attributes, and the Extended Offset Table.
DATASET_TAGS = (*NUMBER_TAGS, PHOTOMETRIC_INTERPRETATION, *_OFFSET_TABLE_TAGS)

# PS3.5 G.1 (RLE) and A.4.11 (Encapsulated Uncompressed): each frame in exactly one fragment.
ONE_FRAGMENT_PER_FRAME = frozenset({RLE_LOSSLESS, ENCAPSULATED_UNCOMPRESSED})
# PS3.5 G.5, read with the format derived from the schema: segment count, 15 offsets.
_RLE_HEADER = struct.Struct(RLE_HEADER_FORMAT)
RLE_HEADER_SIZE = _RLE_HEADER.size

# The first bytes of a compressed frame: a first item that starts so is a fragment, not a
# Basic Offset Table (whose first entry is always 0, PS3.5 A.4).
CODEC_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "a JPEG / JPEG-LS SOI marker"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream SOC marker"),
    (b"\x00\x00\x00\x0cjP  ", "a JP2 signature box"),
    (b"\xff\x0a", "a JPEG XL codestream signature"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL container signature"),
    (b"\x00\x00\x00\x01", "an MPEG / H.264 / HEVC start code"),
    (b"\x00\x00\x01", "an MPEG start code"),
)
# Where a still-image frame starts (the frame map's last resort): video start codes are left
# out, a video stream's fragments are not frames.
_FRAME_STARTS = CODEC_SIGNATURES[:5]
_SIGNATURE_BYTES = 16  # enough for the longest signature above

_EMPTY = "is empty: a value is required to lay out the pixel data"
_SQ = vr_code("SQ")


class Reader(Protocol):
    """Bounded reads of a stream: :meth:`ElementIndex.read` (raises ``SourceChanged`` if the
    file changed), or the viewer's ``Structure.read`` (gives what the file still holds)."""

    def read(self, stream: Stream, offset: int, n: int) -> bytes: ...


def value_bytes(index: ElementIndex, reader: Reader, node: int, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``node``'s value through ``reader`` (None: no defined value)."""
    c = index.columns
    start = int(c.value_offset[node])
    if start < 0 or int(c.length[node]) == UNDEFINED:
        return None
    return reader.read(Stream(int(c.stream[node])), start, min(limit, int(c.end[node]) - start))


def read_uints(index: ElementIndex, reader: Reader, node: int, size: int, count: int) -> list[int]:
    """At most ``count`` unsigned integers of ``size`` bytes from ``node``'s value, in its byte
    order; fewer if the value (or the file) ends first."""
    if count <= 0:
        return []
    raw = value_bytes(index, reader, node, size * count)
    if not raw:
        return []
    vr = {4: "UL", 8: "UV"}[size]
    return [int(v) for v in decode_numbers(vr, raw, little_endian(index, node)).tolist()]


# -- the image attributes --------------------------------------------------------------------


class Attribute(NamedTuple):
    """An image attribute's first value as a whole number, or why an element that is present
    has none: ``fault`` is said ("is empty: ..."); None for both is a value not judged here
    (cut by the end of the file, of undefined length, of another kind of VR: other rules
    say what is wrong with it)."""

    node: int | None = None
    value: int | None = None
    fault: str | None = None


def read_number(index: ElementIndex, reader: Reader, node: int) -> Attribute:
    """The first value of an image attribute, by the VR it has (US, SS, UL, SL binary; IS, DS
    text); UN, OB, OW or no VR are read as the dictionary VR would be (US; IS for Number of
    Frames). A decimal that is a whole number counts as that number."""
    c = index.columns
    length = int(c.length[node])
    raw = value_bytes(index, reader, node, 64)
    if length < 0 or raw is None or len(raw) < min(length, 64):
        return Attribute(node)
    if length == 0:
        return Attribute(node, fault=_EMPTY)
    vr = index.node(node).vr
    if vr in (None, "UN", "OB", "OW"):
        vr = "IS" if int(c.tag[node]) == NUMBER_OF_FRAMES else "US"
    if vr in ("US", "SS", "UL", "SL"):
        values = decode_numbers(vr, raw, little_endian(index, node))
        return Attribute(node, int(values[0])) if len(values) else Attribute(node)
    if vr not in ("IS", "DS"):
        return Attribute(node)
    first = raw.decode("latin-1").split("\\")[0].strip(" \0")
    if not first:
        return Attribute(node, fault=_EMPTY)
    try:
        return Attribute(node, int(first))
    except ValueError:
        pass
    try:
        number = float(first)
    except ValueError:
        number = float("nan")
    if number.is_integer():
        return Attribute(node, int(number))
    return Attribute(node, fault=f"is '{terminal_safe(first[:32])}': expected a whole number")


def read_text(index: ElementIndex, reader: Reader, node: int) -> str:
    """A short string value (Photometric Interpretation), padding stripped."""
    raw = value_bytes(index, reader, node, 64) or b""
    return raw.decode("latin-1").strip(" \0")


class ImageAttributes(NamedTuple):
    """The Image Pixel attributes of one data set (PS3.3 C.7.6.3, C.7.6.6)."""

    nodes: dict[int, int]  # attribute tag -> its (first) element in the data set
    numbers: dict[int, Attribute]  # the numeric ones present, read
    photometric: str | None  # None: absent

    def get(self, tag: int) -> Attribute:
        return self.numbers.get(tag, Attribute())

    def value(self, tag: int) -> int | None:
        return self.get(tag).value

    @property
    def rows(self) -> int | None:
        return self.value(ROWS)

    @property
    def columns(self) -> int | None:
        return self.value(COLUMNS)

    @property
    def samples(self) -> int | None:
        return self.value(SAMPLES_PER_PIXEL)

    @property
    def bits_allocated(self) -> int | None:
        return self.value(BITS_ALLOCATED)

    @property
    def frames(self) -> int | None:
        """Number of Frames: absent means 1 (PS3.3 C.7.6.6); None if present but unusable."""
        if NUMBER_OF_FRAMES not in self.nodes:
            return 1
        value = self.value(NUMBER_OF_FRAMES)
        return value if value is not None and value > 0 else None


def read_attributes(index: ElementIndex, reader: Reader, nodes: dict[int, int]) -> ImageAttributes:
    numbers = {tag: read_number(index, reader, n) for tag, n in nodes.items() if tag in NUMBER_TAGS}
    node = nodes.get(PHOTOMETRIC_INTERPRETATION)
    photometric = None if node is None else read_text(index, reader, node)
    return ImageAttributes(nodes, numbers, photometric)


# -- native pixel data -----------------------------------------------------------------------


class NativeLayout(NamedTuple):
    """Native pixel data (PS3.5 8.1.1): frames of ``values_per_frame`` values of ``bits``
    each, one after the other with no padding between them (1-bit frames may start inside a
    byte), the whole padded to even length."""

    rows: int
    columns: int
    samples: int
    bits: int
    frames: int
    ybr422: bool  # PS3.3 C.7.6.3.1.2: two values a pixel (Y, and Cb or Cr shared by two)

    @property
    def values_per_frame(self) -> int:
        return self.rows * self.columns * (2 if self.ybr422 else self.samples)

    @property
    def frame_bits(self) -> int:
        return self.values_per_frame * self.bits

    @property
    def data_bytes(self) -> int:
        """The bytes the frames fill, before the pad byte."""
        return -(-(self.frame_bits * self.frames) // 8)

    @property
    def expected_length(self) -> int:
        """The value length: :attr:`data_bytes` padded to even (PS3.5 7.1.1)."""
        return self.data_bytes + self.data_bytes % 2

    def frame_start(self, frame: int) -> tuple[int, int]:
        """Where frame ``frame`` starts, from the first byte of the value: (byte, bit in it)."""
        bit = frame * self.frame_bits
        return bit // 8, bit % 8

    def frames_present(self, available: int) -> int:
        """Frames with at least one byte among the first ``available`` bytes of the value."""
        if self.frame_bits <= 0:
            return 0
        return max(0, min(self.frames, -(-(available * 8) // self.frame_bits)))


def native_layout(
    rows: int | None,
    columns: int | None,
    samples: int | None,
    bits: int | None,
    frames: int | None,
    photometric: str | None,
) -> NativeLayout | None:
    """The layout these attributes give, None if one is missing or not positive (no layout
    follows from it). Samples per Pixel absent counts as 1."""
    samples = 1 if samples is None else samples
    numbers = (rows, columns, samples, bits, frames)
    if any(n is None or n <= 0 for n in numbers):
        return None
    assert rows and columns and bits and frames
    ybr422 = photometric == "YBR_FULL_422" and samples == 3
    return NativeLayout(rows, columns, samples, bits, frames, ybr422)


# -- encapsulated pixel data -----------------------------------------------------------------


def rle_header(index: ElementIndex, reader: Reader, fragment: int) -> tuple[int, ...] | None:
    """An RLE fragment's 64-byte header (PS3.5 G.5): segment count, then 15 offsets; None if
    the fragment (or the file) is too short to hold it."""
    head = value_bytes(index, reader, fragment, RLE_HEADER_SIZE)
    if head is None or len(head) < RLE_HEADER_SIZE:
        return None
    return _RLE_HEADER.unpack(head)


def _rle_start(header: tuple[int, ...] | None, length: int) -> str | None:
    if header is None or length < 64:
        return None
    count, first = header[:2]
    if 1 <= count <= RLE_MAX_SEGMENTS and first == RLE_HEADER_SIZE:
        return f"it starts with an RLE header ({count} segments, first at offset 64)"
    return None


def _signature(head: bytes, signatures: Iterable[tuple[bytes, str]]) -> str | None:
    for signature, name in signatures:
        if head.startswith(signature):
            return name
    return None


class Encapsulation(NamedTuple):
    """The items of encapsulated Pixel Data (PS3.5 A.4), the Basic Offset Table decided.

    PS3.5 A.4: the first item is the Basic Offset Table, possibly empty. A first item that
    starts like a compressed frame (a codec signature, or an RLE header under RLE Lossless) is
    taken for a fragment: the table is missing (BOT_MISSING), and every item is a fragment.
    """

    items: list[int]  # FRAGMENT nodes, in order
    closed: bool  # ends with its Sequence Delimitation Item: the item list is complete
    bot: int | None  # the Basic Offset Table item
    bot_missing: str | None  # why the first item is taken for a fragment
    fragments: list[int]  # the items after the table
    delimiter_first: int | None  # the Sequence Delimitation Item, when no item comes before
    starts: list[int]  # each fragment item's offset from the first fragment item
    end: int  # where the last fragment item ends, counted the same way
    bot_entries: int  # the table's length / 4 (0: empty, or no table)
    bot_offsets: list[int]  # its entries, at most one more than there are fragments
    base: int | None  # where offsets count from: the first fragment item's offset (PS3.5 A.4)


def _encapsulation(
    index: ElementIndex,
    reader: Reader,
    node: int,
    ts: specdata.TransferSyntax | None,
) -> Encapsulation:
    c = index.columns
    kids = index.children(node)
    items = [k for k in kids if int(c.kind[k]) == Kind.FRAGMENT]
    closed = bool(kids) and int(c.kind[kids[-1]]) == Kind.SEQUENCE_DELIMITER
    delimiter_first = kids[0] if kids and int(c.kind[kids[0]]) == Kind.SEQUENCE_DELIMITER else None
    bot: int | None = None
    missing: str | None = None
    fragments = items
    if kids and int(c.kind[kids[0]]) == Kind.FRAGMENT:
        missing = _first_item_is_a_fragment(index, reader, kids[0], ts)
        if missing is None:
            bot = kids[0]
            fragments = items[1:]
    base = int(c.offset[fragments[0]]) if fragments else 0
    starts = (c.offset[fragments] - base).tolist() if fragments else []
    end = int(c.end[fragments[-1]]) - base if fragments else 0
    entries = 0
    offsets: list[int] = []
    if bot is not None:
        entries = max(0, int(c.length[bot])) // 4
        # A table cannot point at more frames than there are fragments: read no further.
        offsets = read_uints(index, reader, bot, 4, min(entries, len(fragments) + 1))
    return Encapsulation(
        items,
        closed,
        bot,
        missing,
        fragments,
        delimiter_first,
        starts,
        end,
        entries,
        offsets,
        base if fragments else None,
    )


def _first_item_is_a_fragment(
    index: ElementIndex, reader: Reader, item: int, ts: specdata.TransferSyntax | None
) -> str | None:
    """Why the first item reads as compressed frame data rather than an offset table, if so."""
    head = value_bytes(index, reader, item, RLE_HEADER_SIZE)
    if not head:
        return None
    name = _signature(head, CODEC_SIGNATURES)
    if name is not None:
        return f"it starts with {name}"
    if ts is not None and ts.uid == RLE_LOSSLESS and len(head) >= RLE_HEADER_SIZE:
        return _rle_start(_RLE_HEADER.unpack(head), int(index.columns.length[item]))
    return None


class ExtendedOffsetTable(NamedTuple):
    """(7FE0,0001) and (7FE0,0002) beside encapsulated Pixel Data (PS3.3 C.7.6.3.1.8): 64-bit
    offsets counted like the Basic Offset Table's, and each frame's length."""

    offsets_node: int | None
    lengths_node: int | None
    declared_offsets: int  # value length / 8
    declared_lengths: int
    offsets: list[int]  # read: at most one more than there are fragments
    lengths: list[int]


def video(ts: specdata.TransferSyntax | None) -> bool:
    """MPEG-2, H.264 and HEVC: one stream whose fragments are not frames (PS3.5 8.2.5-8.2.8)."""
    return ts is not None and ts.keyword.startswith(("MPEG", "HEVC"))


class FrameSource(Enum):
    """Where a frame map comes from; tried in this order, the first usable one wins."""

    EXTENDED_OFFSET_TABLE = "the Extended Offset Table"
    BASIC_OFFSET_TABLE = "the Basic Offset Table"
    ONE_PER_FRAME = "one fragment per frame (the counts agree)"
    SINGLE_FRAME = "one frame: every fragment belongs to it"
    CODEC_MARKERS = "the codec markers that start frames"
    UNKNOWN = "nothing: which fragments make which frame cannot be told"


@dataclass(frozen=True)
class FrameMap:
    """Frame k is fragments ``firsts[k]`` to ``firsts[k] + counts[k] - 1`` (positions in
    :attr:`Encapsulation.fragments`). ``notes`` say why earlier sources were passed over."""

    source: FrameSource
    firsts: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.firsts)

    def frame_holding(self, fragment: int) -> int | None:
        """The frame fragment position ``fragment`` belongs to (None: none that is known)."""
        frame = bisect.bisect_right(self.firsts, fragment) - 1
        if frame < 0 or fragment >= self.firsts[frame] + self.counts[frame]:
            return None
        return frame

    def fragments_of(self, frame: int) -> range:
        """The positions of frame ``frame``'s fragments."""
        first = self.firsts[frame]
        return range(first, first + self.counts[frame])

    def frame_of(self) -> dict[int, int]:
        """Fragment position -> the frame it belongs to."""
        return {
            k: frame
            for frame, (first, count) in enumerate(zip(self.firsts, self.counts, strict=True))
            for k in range(first, first + count)
        }


def _table_fault(offsets: list[int], declared: int, starts: list[int], frames: int | None) -> str:
    """Why an offset table cannot map frames to fragments ("" if it can)."""
    if frames is not None and declared != frames:
        return f"{declared} entries for {frames} frames"
    if len(offsets) < declared:
        return "it is cut short" if declared <= len(starts) else "more entries than fragments"
    if not offsets or offsets[0] != 0:
        return "its first offset is not 0"
    if any(b <= a for a, b in pairwise(offsets)):
        return "its offsets do not ascend"
    if not set(offsets) <= set(starts):
        return "an offset is not the start of a fragment item"
    return ""


def _from_offsets(
    source: FrameSource, offsets: list[int], starts: list[int], notes: list[str]
) -> FrameMap:
    firsts = np.searchsorted(np.asarray(starts, dtype=np.int64), offsets).tolist()
    counts = np.diff([*firsts, len(starts)]).tolist()
    return FrameMap(source, firsts, counts, notes)


# -- one Pixel Data element ------------------------------------------------------------------


class PixelData:
    """One Pixel Data (or Float / Double Float Pixel Data) element and what surrounds it. Each
    part is read on first use, then kept."""

    def __init__(
        self, index: ElementIndex, reader: Reader, node: int, dataset: dict[int, int]
    ) -> None:
        c = index.columns
        self.index = index
        self.reader = reader
        self.node = node
        self.tag = int(c.tag[node])
        self.owner = int(c.parent[node])  # -1: the top-level data set; else its item
        self.dataset = dataset  # DATASET_TAGS present in the same data set -> their nodes
        self.ts = index.transfer_syntax
        # Undefined length: fragments (PS3.5 A.4), unless written as a sequence (VR SQ), which
        # the index reads as items and PIXEL_DATA_VR_INVALID reports.
        self.encapsulated = (
            int(c.length[node]) == UNDEFINED and self.tag == PIXEL_DATA and int(c.vr[node]) != _SQ
        )

    @property
    def top(self) -> bool:
        return self.owner == -1

    @property
    def stream(self) -> Stream:
        return Stream(int(self.index.columns.stream[self.node]))

    @cached_property
    def attributes(self) -> ImageAttributes:
        nodes = {t: n for t, n in self.dataset.items() if t not in _OFFSET_TABLE_TAGS}
        return read_attributes(self.index, self.reader, nodes)

    @property
    def bits(self) -> int | None:
        """Bits per sample: 32 and 64 for Float and Double Float Pixel Data, else Bits
        Allocated."""
        if self.tag == FLOAT_PIXEL_DATA:
            return 32
        if self.tag == DOUBLE_FLOAT_PIXEL_DATA:
            return 64
        return self.attributes.bits_allocated

    @cached_property
    def native(self) -> NativeLayout | None:
        """The layout of native pixel data, from the attributes; None if they give none."""
        a = self.attributes
        return native_layout(a.rows, a.columns, a.samples, self.bits, a.frames, a.photometric)

    @cached_property
    def encapsulation(self) -> Encapsulation | None:
        """The items of encapsulated pixel data (None: native)."""
        if not self.encapsulated:
            return None
        return _encapsulation(self.index, self.reader, self.node, self.ts)

    @cached_property
    def extended(self) -> ExtendedOffsetTable | None:
        """The Extended Offset Table and its lengths, if either is in the data set."""
        offsets_node = self.dataset.get(EXTENDED_OFFSET_TABLE)
        lengths_node = self.dataset.get(EXTENDED_OFFSET_TABLE_LENGTHS)
        if offsets_node is None and lengths_node is None:
            return None
        c = self.index.columns
        enc = self.encapsulation
        cap = len(enc.fragments) + 1 if enc is not None else 1

        def declared(node: int | None) -> int:
            return 0 if node is None else max(0, int(c.length[node])) // 8

        def read(node: int | None) -> list[int]:
            if node is None:
                return []
            return read_uints(self.index, self.reader, node, 8, min(declared(node), cap))

        return ExtendedOffsetTable(
            offsets_node,
            lengths_node,
            declared(offsets_node),
            declared(lengths_node),
            read(offsets_node),
            read(lengths_node),
        )

    def rle_header(self, fragment: int) -> tuple[int, ...] | None:
        """Fragment ``fragment``'s RLE header (see :func:`rle_header`)."""
        return rle_header(self.index, self.reader, fragment)

    def frame_map(self) -> FrameMap:
        """Which fragments make which frame, and from what that was told (PS3.5 A.4; PS3.3
        C.7.6.3.1.8): the Extended Offset Table, the Basic Offset Table, one fragment per frame
        when the counts agree, one frame, or the codec markers that start frames (JPEG and
        JPEG-LS SOI, JPEG 2000 SOC, JP2 and JPEG XL signatures; an RLE header under RLE
        Lossless). Tables that cannot be right are passed over, with a note why."""
        return self._frame_map

    @cached_property
    def _frame_map(self) -> FrameMap:
        enc = self.encapsulation
        if enc is None:
            return FrameMap(FrameSource.UNKNOWN, notes=["native pixel data: no fragments"])
        n = len(enc.fragments)
        if n == 0:
            return FrameMap(FrameSource.UNKNOWN, notes=["no fragments"])
        if video(self.ts):
            note = "a video stream runs through the fragments: they are not frames"
            return FrameMap(FrameSource.UNKNOWN, notes=[note])
        frames = self.attributes.frames
        notes: list[str] = []
        eot = self.extended
        if eot is not None:
            if eot.offsets_node is None or eot.lengths_node is None:
                why = "(7FE0,0001) and (7FE0,0002) go together"
            elif eot.declared_lengths != eot.declared_offsets:
                why = "it has not one length per offset"
            else:
                why = _table_fault(eot.offsets, eot.declared_offsets, enc.starts, frames)
            if not why:
                source = FrameSource.EXTENDED_OFFSET_TABLE
                return _from_offsets(source, eot.offsets, enc.starts, notes)
            notes.append(f"the Extended Offset Table is not used: {why}")
        if enc.bot_entries:
            why = _table_fault(enc.bot_offsets, enc.bot_entries, enc.starts, frames)
            if not why:
                source = FrameSource.BASIC_OFFSET_TABLE
                return _from_offsets(source, enc.bot_offsets, enc.starts, notes)
            notes.append(f"the Basic Offset Table is not used: {why}")
        if frames == n:
            return FrameMap(FrameSource.ONE_PER_FRAME, list(range(n)), [1] * n, notes)
        if frames == 1 or (frames is None and n == 1):
            return FrameMap(FrameSource.SINGLE_FRAME, [0], [n], notes)
        return self._by_markers(enc, frames, notes)

    def _by_markers(self, enc: Encapsulation, frames: int | None, notes: list[str]) -> FrameMap:
        """Frames start at the fragments that start like a compressed frame does."""
        rle = self.ts is not None and self.ts.uid == RLE_LOSSLESS
        c = self.index.columns
        firsts: list[int] = []
        for k, frag in enumerate(enc.fragments):
            length = int(c.length[frag])
            if rle:
                starts = _rle_start(rle_header(self.index, self.reader, frag), length) is not None
            else:
                head = value_bytes(self.index, self.reader, frag, _SIGNATURE_BYTES) or b""
                starts = _signature(head, _FRAME_STARTS) is not None
            if starts:
                firsts.append(k)
        if not firsts or firsts[0] != 0:
            notes.append("the first fragment does not start with a codec marker")
            return FrameMap(FrameSource.UNKNOWN, notes=notes)
        if frames is not None and len(firsts) != frames:
            notes.append(f"{len(firsts)} frames start with a marker, Number of Frames is {frames}")
        counts = np.diff([*firsts, len(enc.fragments)]).tolist()
        return FrameMap(FrameSource.CODEC_MARKERS, firsts, counts, notes)


def pixel_elements(index: ElementIndex, reader: Reader | None = None) -> list[PixelData]:
    """Every Pixel Data, Float Pixel Data and Double Float Pixel Data element of the index, in
    file order. ``reader`` defaults to the index's own reads."""
    c = index.columns
    is_element = c.kind == int(Kind.ELEMENT)
    by_owner: dict[int, dict[int, int]] = {}
    for i in np.flatnonzero(is_element & member(c.tag, DATASET_TAGS)).tolist():
        by_owner.setdefault(int(c.parent[i]), {}).setdefault(int(c.tag[i]), i)
    nodes = np.flatnonzero(is_element & member(c.tag, PIXEL_TAGS)).tolist()
    read = index if reader is None else reader
    return [PixelData(index, read, i, by_owner.get(int(c.parent[i]), {})) for i in nodes]


def pixel_data(index: ElementIndex, node: int, reader: Reader | None = None) -> PixelData:
    """The pixel data element ``node``, with its own data set's attributes."""
    c = index.columns
    kids = np.asarray(index.children(int(c.parent[node])), dtype=np.int64)
    hits = kids[(c.kind[kids] == int(Kind.ELEMENT)) & member(c.tag[kids], DATASET_TAGS)]
    dataset: dict[int, int] = {}
    for i in hits.tolist():
        dataset.setdefault(int(c.tag[i]), i)
    return PixelData(index, index if reader is None else reader, node, dataset)
