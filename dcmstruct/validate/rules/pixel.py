"""Rules: pixel data (PS3.5 8.1.1, 8.2, A.4, Annex G; PS3.3 C.7.6.3).

These rules read headers only: the Pixel Data element's header, the fragment items' headers
(index nodes), the Basic and Extended Offset Tables, at most 64 bytes of an RLE fragment, and
the Image Pixel attributes beside the Pixel Data. They never read or decode pixel values.

What those bytes mean (is the first item the Basic Offset Table, which fragments there are,
what the attributes say, how long native pixel data is) is decided by :mod:`dcmstruct.pixeldata`,
which the viewer reads too; these rules judge it.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata, wording
from dcmstruct.model import Kind
from dcmstruct.pixeldata import (
    BITS_ALLOCATED,
    BITS_STORED,
    COLUMNS,
    EXTENDED_OFFSET_TABLE,
    EXTENDED_OFFSET_TABLE_LENGTHS,
    FLOAT_PIXEL_DATA,
    HIGH_BIT,
    NUMBER_OF_FRAMES,
    ONE_FRAGMENT_PER_FRAME,
    RLE_HEADER_SIZE,
    ROWS,
    SAMPLES_PER_PIXEL,
    Encapsulation,
    ExtendedOffsetTable,
    PixelData,
    pixel_elements,
    video,
)
from dcmstruct.schema.layout import PIXEL_DATA, RLE_MAX_SEGMENTS, format_tag
from dcmstruct.uids import RLE_LOSSLESS
from dcmstruct.validate.batch import Batch
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import index_rule, rule, screen
from dcmstruct.validate.rules.pixel_table import (
    ABSENT,
    COLUMN,
    KNOWN,
    LAYOUT,
    LAYOUT_BITS,
    LAYOUT_DEFAULT,
    LAYOUT_SAMPLES,
    OB_CODE,
    OTHER,
    OW_CODE,
    VALID_VR,
    batch_pixels,
)

if TYPE_CHECKING:
    import numpy.typing as npt

# Findings of one rule for one Pixel Data element beyond this many are summarised in one more.
MAX_FINDINGS_PER_ELEMENT = 100


# -- what the pixel rules share: each Pixel Data element as dcmstruct.pixeldata lays it out ---


class Analysis(NamedTuple):
    elements: list[PixelData]
    ts: specdata.TransferSyntax | None


_CACHE: weakref.WeakKeyDictionary[Context, Analysis] = weakref.WeakKeyDictionary()


def analyse(ctx: Context) -> Analysis:
    """Every pixel data element of the file (cached per ctx). Read through the index, so a
    file that changes under the rules raises ``SourceChanged`` (the file's report says it)."""
    cached = _CACHE.get(ctx)
    if cached is not None:
        return cached
    result = Analysis(pixel_elements(ctx.index), ctx.index.transfer_syntax)
    _CACHE[ctx] = result
    return result


def _ts_name(ts: specdata.TransferSyntax | None) -> str:
    return "?" if ts is None else f"{ts.name} ({ts.uid})"


def _nth(k: int) -> str:
    """``k`` counted from 0, as an English ordinal counted from 1: 0 -> '1st'."""
    n = k + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Capped:
    """Collects one rule's findings for one element; past the cap, one summary finding."""

    def __init__(self, ctx: Context, rule_name: str, what: str) -> None:
        self.ctx = ctx
        self.rule = rule_name
        self.what = what
        self.count = 0
        self.first_dropped: tuple[int, int, int] | None = None

    def add(self, message: str, *, node: int, offset: int, length: int) -> Iterator[Finding]:
        self.count += 1
        if self.count <= MAX_FINDINGS_PER_ELEMENT:
            yield self.ctx.finding(self.rule, message, node=node, offset=offset, length=length)
        elif self.first_dropped is None:
            self.first_dropped = (node, offset, length)

    def summary(self) -> Iterator[Finding]:
        if self.first_dropped is not None:
            node, offset, length = self.first_dropped
            more = self.count - MAX_FINDINGS_PER_ELEMENT
            yield self.ctx.finding(
                self.rule,
                f"{wording.count(more, 'more ' + self.what)} like the above, from here on "
                f"(only the first {MAX_FINDINGS_PER_ELEMENT} are listed)",
                node=node,
                offset=offset,
                length=length,
            )


# -- transfer syntax vs encoding -------------------------------------------------------------


@rule(
    "ENCAPSULATED_DEFINED_LENGTH",
    "error",
    "PS3.5 A.4",
    summary="Encapsulated transfer syntax but Pixel Data has a defined length",
    why=(
        "Under an encapsulated (compressed) transfer syntax the top-level Pixel Data must have\n"
        "undefined length and hold a Basic Offset Table item and fragments. A defined length\n"
        "means native pixels were written under a compressed transfer syntax UID (or the\n"
        "other way round): decoders hand the raw bytes to a JPEG/RLE codec and fail, or a\n"
        "PACS stores the object and then cannot render it."
    ),
    example=(
        "(0002,0010) UI 1.2.840.10008.1.2.4.50 (JPEG Baseline)\n"
        "(7FE0,0010) OB 00 00 00 00 01 00 00   # VL 65536, expected FFFFFFFFH"
    ),
)
def check_encapsulated_defined_length(ctx: Context) -> Iterator[Finding]:
    a = analyse(ctx)
    ts = a.ts
    if ts is None or not ts.encapsulated:
        return
    for pe in a.elements:
        # PS3.5 A.4: Pixel Data nested in an Icon Image Sequence may be native in an
        # encapsulated transfer syntax; only the top-level Pixel Data must be encapsulated.
        if pe.tag != PIXEL_DATA or not pe.top or pe.encapsulated:
            continue
        offset, size = ctx.length_field(pe.node)
        length = int(ctx.columns.length[pe.node])
        yield ctx.finding(
            "ENCAPSULATED_DEFINED_LENGTH",
            f"Pixel Data has defined length {length}, but the transfer syntax "
            f"{_ts_name(ts)} is encapsulated: expected undefined length (FFFFFFFFH) "
            "followed by a Basic Offset Table item and fragments",
            node=pe.node,
            offset=offset,
            length=size,
        )


@screen("ENCAPSULATED_DEFINED_LENGTH")
def _screen_encapsulated_defined_length(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs a top-level Pixel Data that is not encapsulated (defined length, or VR
    SQ) in a file whose transfer syntax is encapsulated."""
    s = batch_pixels(batch)
    c = batch.columns
    rows = s.rows[~s.encapsulated]
    rows = rows[(c.tag[rows] == PIXEL_DATA) & (c.parent[rows] < 0)]
    return batch.files_with(rows) & s.syntax["encapsulated"]


@rule(
    "NATIVE_PIXEL_UNDEFINED_LENGTH",
    "error",
    "PS3.5 A.4, 8.2",
    summary="Native transfer syntax but Pixel Data has undefined length",
    why=(
        "Native (uncompressed) transfer syntaxes carry Pixel Data as one defined-length value.\n"
        "An undefined length there means compressed fragments under an uncompressed transfer\n"
        "syntax UID: readers that trust the UID take the item headers and the JPEG bytes for\n"
        "pixel values, others refuse the file."
    ),
    example=(
        "(0002,0010) UI 1.2.840.10008.1.2.1 (Explicit VR Little Endian)\n"
        "(7FE0,0010) OB FFFFFFFFH  (FFFE,E000) ... (FFFE,E0DD)"
    ),
)
def check_native_pixel_undefined_length(ctx: Context) -> Iterator[Finding]:
    a = analyse(ctx)
    ts = a.ts
    if ts is None or ts.encapsulated:
        return
    for pe in a.elements:
        enc = pe.encapsulation
        if pe.tag != PIXEL_DATA or enc is None:
            continue
        offset, size = ctx.length_field(pe.node)
        yield ctx.finding(
            "NATIVE_PIXEL_UNDEFINED_LENGTH",
            "Pixel Data has undefined length (FFFFFFFFH) and "
            f"{wording.count(len(enc.items), 'item')}, but the transfer syntax {_ts_name(ts)} "
            "is native: expected a defined length",
            node=pe.node,
            offset=offset,
            length=size,
        )


@screen("NATIVE_PIXEL_UNDEFINED_LENGTH")
def _screen_native_pixel_undefined_length(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs an encapsulated Pixel Data (undefined length, not SQ) in a file whose
    transfer syntax is known and native."""
    s = batch_pixels(batch)
    if not s.encapsulated.any():
        return np.zeros(len(batch), dtype=np.bool_)
    return batch.files_with(s.rows[s.encapsulated]) & s.syntax["native"]


# -- the Basic Offset Table ------------------------------------------------------------------


@rule(
    "BOT_MISSING",
    "error",
    "PS3.5 A.4",
    summary="First item of encapsulated Pixel Data is not a Basic Offset Table item",
    why=(
        "PS3.5 A.4 requires the first item of encapsulated Pixel Data to be the Basic Offset\n"
        "Table (possibly empty). Readers skip the first item unseen: when it is the first\n"
        "fragment of the first frame, that frame loses its beginning (a JPEG without its SOI\n"
        "marker) and every frame index is off by one."
    ),
    example=(
        "(7FE0,0010) OB FFFFFFFFH\n"
        "  (FFFE,E000) 2048  FF D8 FF E0 ...   # a JPEG fragment where the BOT belongs"
    ),
)
def check_bot_missing(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    for pe in analyse(ctx).elements:
        enc = pe.encapsulation
        if enc is None:
            continue
        if enc.bot_missing is not None:
            first = enc.items[0]
            yield ctx.finding(
                "BOT_MISSING",
                f"the first item of the encapsulated Pixel Data ({int(c.length[first])} bytes) "
                f"is a fragment, not a Basic Offset Table: {enc.bot_missing}; expected an "
                "offset table item (empty or 32-bit offsets) first",
                node=first,
                offset=int(c.offset[first]),
                length=8,
            )
        elif enc.delimiter_first is not None:
            yield ctx.finding(
                "BOT_MISSING",
                "the encapsulated Pixel Data holds no item at all: expected a Basic Offset "
                "Table item (FFFE,E000), then the fragments, before (FFFE,E0DD)",
                node=enc.delimiter_first,
                offset=int(c.offset[enc.delimiter_first]),
                length=8,
            )


@screen("BOT_MISSING")
def _screen_bot_missing(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs encapsulated Pixel Data whose first child is the Sequence Delimitation
    Item, or an item with value bytes not all 0 among its first 4 (every codec signature and
    RLE header has a non-zero byte there; an empty or zero-led first item is the table)."""
    s = batch_pixels(batch)
    if not s.encapsulated.any():
        return np.zeros(len(batch), dtype=np.bool_)
    e = s.encapsulation
    hit = (e.first_kind == Kind.SEQUENCE_DELIMITER) | e.maybe_missing
    return batch.files_with(e.rows[hit])


@rule(
    "BOT_INVALID",
    "error",
    "PS3.5 A.4 Table A.4-1",
    summary=(
        "Basic Offset Table length not a multiple of 4, offsets not ascending, or not pointing "
        "at fragment starts"
    ),
    why=(
        "Readers use the Basic Offset Table to find frame N without parsing the frames before\n"
        "it. A table with a partial entry, entries out of order, more or fewer entries than\n"
        "frames, or entries that land inside a fragment makes viewers show the wrong frame,\n"
        "a torn frame, or fail to decode; some fall back to a slow scan, others do not."
    ),
    example=(
        "(FFFE,E000) 8  00000000 00000032   # second offset 50: no fragment item starts at +50\n"
        "(FFFE,E000) 300 FF D8 ...          # fragments start at +0 and +308"
    ),
)
def check_bot_invalid(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    a = analyse(ctx)
    for pe in a.elements:
        enc = pe.encapsulation
        bot = None if enc is None else enc.bot
        if enc is None or bot is None:
            continue
        length = int(c.length[bot])
        if length <= 0:
            continue  # empty (or undefined: FRAGMENT_UNDEFINED_LENGTH)
        if int(c.end[bot]) - int(c.value_offset[bot]) != length:
            continue  # cut short: FILE_TRUNCATED or ITEM_OVERRUNS_SEQUENCE already says so
        if length % 4:
            yield ctx.finding(
                "BOT_INVALID",
                f"the Basic Offset Table item's length {length} is not a multiple of 4: "
                "its value must be 32-bit offsets",
                node=bot,
                offset=int(c.offset[bot]) + 4,
                length=4,
            )
            continue
        entries = enc.bot_entries
        nframes = pe.attributes.frames
        if nframes is not None and entries != nframes and not video(a.ts):
            yield ctx.finding(
                "BOT_INVALID",
                f"the Basic Offset Table has {wording.count(entries, 'entry')} (length {length}), "
                f"Number of Frames is {nframes}: expected one offset per frame",
                node=bot,
                offset=int(c.offset[bot]) + 4,
                length=4,
            )
        if not enc.starts:
            continue
        yield from _check_offsets(
            ctx,
            "BOT_INVALID",
            "Basic Offset Table",
            bot,
            4,
            enc.bot_offsets,
            enc.starts,
            enc.end,
            enc.closed,
        )


@screen("BOT_INVALID")
def _screen_bot_invalid(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs encapsulated Pixel Data whose first item is a non-empty, whole Basic
    Offset Table; cleared is only the single-frame case that cannot be wrong: a 4-byte table
    holding 0 (so not taken for a fragment), at least one fragment after it, and Number of
    Frames absent or 1."""
    s = batch_pixels(batch)
    if not s.encapsulated.any():
        return np.zeros(len(batch), dtype=np.bool_)
    e = s.encapsulation
    table = (e.first_kind == Kind.FRAGMENT) & (e.first_length > 0) & e.first_complete
    frames, usable, _ = s.frames(np.flatnonzero(s.encapsulated))
    single = usable & (frames == 1)
    right = (e.first_length == 4) & e.first_zero & (e.items >= 2) & single
    return batch.files_with(e.rows[table & ~right])


def _check_offsets(
    ctx: Context,
    rule_name: str,
    table: str,
    node: int,
    size: int,
    offsets: list[int],
    starts: list[int],
    end: int,
    closed: bool,
) -> Iterator[Finding]:
    """Offsets of a Basic or Extended Offset Table against the fragment item starts: first
    0, strictly ascending, each the start of a fragment item (PS3.5 A.4; PS3.3 C.7.6.3.1.8)."""
    value_offset = int(ctx.columns.value_offset[node])
    start_set = set(starts)
    reported: set[str] = set()
    for k, off in enumerate(offsets):
        at = value_offset + size * k
        problem = None
        if k == 0 and off != 0:
            problem = "first"
            message = (
                f"the {table}'s first offset is {off}: the first frame starts at the first "
                "fragment item, expected 0"
            )
        elif k > 0 and off <= offsets[k - 1]:
            problem = "order"
            message = (
                f"the {table}'s {_nth(k)} offset ({off}) is not greater than the {_nth(k - 1)} "
                f"({offsets[k - 1]}): offsets must ascend"
            )
        elif off not in start_set and (off < end or closed):
            problem = "start"
            j = bisect.bisect_left(starts, off)
            near = [starts[x] for x in (j - 1, j) if 0 <= x < len(starts)]
            nearest = min(near, key=lambda s: abs(s - off))
            message = (
                f"the {table}'s {_nth(k)} offset ({off}) is not the start of a fragment item "
                + (
                    f"(the fragment items end at {end})"
                    if off >= end
                    else f"(the nearest starts at {nearest})"
                )
                + "; offsets count from the first fragment item after the Basic Offset Table"
            )
        if problem is not None and problem not in reported:
            reported.add(problem)
            yield ctx.finding(rule_name, message, node=node, offset=at, length=size)


# -- the Extended Offset Table ---------------------------------------------------------------


@rule(
    "EXTENDED_OFFSET_TABLE_INVALID",
    "error",
    "PS3.3 C.7.6.3.1.8",
    summary="(7FE0,0001)/(7FE0,0002) inconsistent with fragments or frame count",
    why=(
        "The Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002) give 64-bit frame\n"
        "positions for very large objects. Readers that find them use them instead of parsing\n"
        "the fragments: a wrong count, an offset that is not a fragment start, a length that\n"
        "does not match the fragment, a table without its lengths, or a non-empty Basic Offset\n"
        "Table beside it yields torn or missing frames, or a frame read from the wrong place."
    ),
    example=(
        "(0028,0008) IS 2\n"
        "(7FE0,0001) OV 0\\1000\\2000      # 3 offsets for 2 frames\n"
        "(7FE0,0002) OV 992\\992\\992"
    ),
)
def check_extended_offset_table(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    name = "EXTENDED_OFFSET_TABLE_INVALID"
    for pe in analyse(ctx).elements:
        if pe.tag != PIXEL_DATA:
            continue
        table = pe.extended
        if table is None:
            continue
        eot, lengths_node = table.offsets_node, table.lengths_node
        if eot is None or lengths_node is None:
            present = lengths_node if eot is None else eot
            other = "(7FE0,0002)" if eot is not None else "(7FE0,0001)"
            if present is None:
                continue
            yield ctx.finding(
                name,
                f"({format_tag(int(c.tag[present]))}) is present without {other}: the "
                "Extended Offset Table and its lengths go together",
                node=present,
                offset=int(c.offset[present]),
                length=int(c.value_offset[present]) - int(c.offset[present]),
            )
            continue
        enc = pe.encapsulation
        if enc is None:
            yield ctx.finding(
                name,
                "an Extended Offset Table (7FE0,0001) with native (defined-length) Pixel Data: "
                "it is only for encapsulated Pixel Data",
                node=eot,
                offset=int(c.offset[eot]),
                length=int(c.value_offset[eot]) - int(c.offset[eot]),
            )
            continue
        yield from _check_eot(ctx, pe, enc, table)


@screen("EXTENDED_OFFSET_TABLE_INVALID")
def _screen_extended_offset_table(batch: Batch) -> npt.NDArray[np.bool_]:
    """Every finding is about (7FE0,0001) or (7FE0,0002) in a Pixel Data's data set: the file
    has an element of one of those tags."""
    s = batch_pixels(batch)
    tags = batch.columns.tag[s.group_rows]
    table = (tags == EXTENDED_OFFSET_TABLE) | (tags == EXTENDED_OFFSET_TABLE_LENGTHS)
    return batch.files_with(s.group_rows[table])


def _value_span(ctx: Context, node: int) -> tuple[int, int]:
    c = ctx.columns
    value_offset = int(c.value_offset[node])
    return value_offset, max(0, int(c.end[node]) - value_offset)


def _check_eot(
    ctx: Context, pe: PixelData, enc: Encapsulation, table: ExtendedOffsetTable
) -> Iterator[Finding]:
    c = ctx.columns
    name = "EXTENDED_OFFSET_TABLE_INVALID"
    eot, lengths_node = table.offsets_node, table.lengths_node
    assert eot is not None and lengths_node is not None
    n_offsets = table.declared_offsets
    n_lengths = table.declared_lengths
    nframes = pe.attributes.frames
    if n_offsets != n_lengths:
        offset, size = _value_span(ctx, lengths_node)
        yield ctx.finding(
            name,
            f"(7FE0,0002) holds {wording.count(n_lengths, 'length')}, (7FE0,0001) "
            f"{wording.count(n_offsets, 'offset')}: expected one of each per frame",
            node=lengths_node,
            offset=offset,
            length=size,
        )
    if nframes is not None and n_offsets != nframes:
        offset, size = _value_span(ctx, eot)
        yield ctx.finding(
            name,
            f"the Extended Offset Table holds {wording.count(n_offsets, 'offset')}, Number of "
            f"Frames is {nframes}: expected one offset per frame",
            node=eot,
            offset=offset,
            length=size,
        )
    bot = enc.bot
    if bot is not None and int(c.length[bot]) > 0:
        yield ctx.finding(
            name,
            f"the Basic Offset Table holds {int(c.length[bot])} bytes, but an Extended Offset "
            "Table is present: the Basic Offset Table must then be empty",
            node=bot,
            offset=int(c.offset[bot]),
            length=8,
        )
    count = len(enc.fragments)
    if enc.closed and nframes is not None and count != nframes and n_offsets == nframes:
        yield ctx.finding(
            name,
            f"an Extended Offset Table with {wording.count(count, 'fragment')} for "
            f"{wording.count(nframes, 'frame')}: with an Extended Offset Table each frame must be "
            "exactly one fragment",
            node=pe.node,
            offset=int(c.offset[pe.node]),
            length=int(c.value_offset[pe.node]) - int(c.offset[pe.node]),
        )
    starts = enc.starts
    if not starts:
        return
    offsets = table.offsets
    yield from _check_offsets(
        ctx, name, "Extended Offset Table", eot, 8, offsets, starts, enc.end, enc.closed
    )
    # Lengths: the frame's bytes in its fragment, padding excluded or not (PS3.3 C.7.6.3.1.8).
    lengths = table.lengths
    by_start = {s: f for s, f in zip(starts, enc.fragments, strict=True)}
    value_offset = int(c.value_offset[lengths_node])
    for k, (off, frame_length) in enumerate(zip(offsets, lengths, strict=False)):
        frag = by_start.get(off)
        if frag is None:
            continue
        frag_length = int(c.length[frag])
        if frag_length < 0 or frag_length - 1 <= frame_length <= frag_length:
            continue
        yield ctx.finding(
            name,
            f"(7FE0,0002)'s {_nth(k)} length is {frame_length}, but the fragment item at "
            f"offset {off} holds {frag_length} bytes: expected the fragment's length (less "
            "one byte of padding at most)",
            node=lengths_node,
            offset=value_offset + 8 * k,
            length=8,
        )
        break


# -- fragments -------------------------------------------------------------------------------


@rule(
    "FRAGMENT_ODD_LENGTH",
    "error",
    "PS3.5 A.4, 7.1.1",
    summary="A pixel data fragment has odd length",
    why=(
        "Every item value, fragments included, has even length (PS3.5 7.1.1, A.4); the codec\n"
        "stream is padded with one byte. Readers that step over fragments by their length\n"
        "stay in step either way, but writers and validators that assume even lengths\n"
        "(dcmtk, some PACS) reject the object or re-pad it, shifting the offset tables."
    ),
    example="(FFFE,E000) 1001  FF D8 ... FF D9   # odd: pad to 1002",
)
def check_fragment_odd_length(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    for pe in analyse(ctx).elements:
        enc = pe.encapsulation
        if enc is None:
            continue
        capped = _Capped(ctx, "FRAGMENT_ODD_LENGTH", "odd-length fragments")
        for frag in enc.fragments:
            length = int(c.length[frag])
            if length >= 0 and length % 2:
                yield from capped.add(
                    f"a pixel data fragment has odd length {length}: item values have even "
                    "length (pad the codec stream with one byte)",
                    node=frag,
                    offset=int(c.offset[frag]) + 4,
                    length=4,
                )
        yield from capped.summary()


@screen("FRAGMENT_ODD_LENGTH")
def _screen_fragment_odd_length(batch: Batch) -> npt.NDArray[np.bool_]:
    """The fragments are FRAGMENT nodes: a finding needs one of odd defined length."""
    c = batch.columns
    rows = np.flatnonzero(c.kind == Kind.FRAGMENT)
    length = c.length[rows]
    return batch.files_with(rows[(length >= 0) & (length % 2 == 1)])


index_rule(
    "FRAGMENT_UNDEFINED_LENGTH",
    "error",
    "PS3.5 A.4",
    summary="A pixel data fragment has undefined length",
    why=(
        "Fragments are items of defined length (PS3.5 A.4): nothing delimits a fragment of\n"
        "undefined length, so its end cannot be found. Readers either stop at it (losing every\n"
        "later frame) or misread the codec stream as item headers."
    ),
    example="(FFFE,E000) FFFFFFFFH  FF D8 FF E0 ...   # a fragment must give its length",
    module=__name__,
)

index_rule(
    "ENCAPSULATED_NOT_ITEM",
    "error",
    "PS3.5 A.4",
    summary="A tag other than Item/Sequence Delimiter among the fragments",
    why=(
        "Encapsulated Pixel Data holds only items (FFFE,E000) and ends with (FFFE,E0DD).\n"
        "Anything else there means a broken fragment length or a missing delimiter; readers\n"
        "stop decoding the frames, or read the rest of the file as pixel data."
    ),
    example=(
        "(7FE0,0010) OB FFFFFFFFH  (FFFE,E000) 0  (FFFE,E000) 100 ...\n"
        "  (7FE0,0020) ...   # where an item or (FFFE,E0DD) belongs"
    ),
    module=__name__,
)


@rule(
    "FRAGMENT_COUNT_VS_FRAMES",
    "error",
    "PS3.5 A.4, Annex G",
    summary=(
        "Fragment count impossible for Number of Frames (fewer fragments than frames with no "
        "offset table; RLE needs exactly one per frame)"
    ),
    why=(
        "A fragment never holds more than one frame (PS3.5 A.4), so there are at least as many\n"
        "fragments as frames; RLE Lossless and Encapsulated Uncompressed put each frame in\n"
        "exactly one fragment. Otherwise frames are missing: viewers show fewer frames than\n"
        "Number of Frames says, or fail on the frame they cannot find."
    ),
    example="(0028,0008) IS 3   (7FE0,0010) OB FFFFFFFFH  BOT, 2 fragments",
)
def check_fragment_count(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    a = analyse(ctx)
    ts = a.ts
    for pe in a.elements:
        enc = pe.encapsulation
        if enc is None:
            continue
        nframes = pe.attributes.frames
        if nframes is None:
            continue
        if not enc.closed:
            continue  # cut short (FILE_TRUNCATED, ENCAPSULATED_NOT_ITEM): the count is partial
        count = len(enc.fragments)
        one_each = ts is not None and ts.uid in ONE_FRAGMENT_PER_FRAME
        header = int(c.value_offset[pe.node]) - int(c.offset[pe.node])
        if one_each and count > nframes:
            extra = enc.fragments[nframes]
            yield ctx.finding(
                "FRAGMENT_COUNT_VS_FRAMES",
                f"{wording.count(count, 'fragment')} for {wording.count(nframes, 'frame')}: "
                f"{_ts_name(ts)} puts each frame in exactly one fragment; this is the "
                f"{_nth(nframes)} fragment, the first one too many",
                node=extra,
                offset=int(c.offset[extra]),
                length=8,
            )
        elif count < nframes and (count == 0 or not video(ts)):
            need = "exactly one" if one_each else "at least one"
            yield ctx.finding(
                "FRAGMENT_COUNT_VS_FRAMES",
                f"{wording.count(count, 'fragment')} for {wording.count(nframes, 'frame')} "
                f"(Number of Frames): each frame needs {need} fragment of its own",
                node=pe.node,
                offset=int(c.offset[pe.node]),
                length=header,
            )


@screen("FRAGMENT_COUNT_VS_FRAMES")
def _screen_fragment_count(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own test, on a closed encapsulated Pixel Data, for each fragment count it
    may see (FRAGMENT children, less the first if it may be the Basic Offset Table) and the
    Number of Frames read here; a count the screen cannot read flags the file."""
    s = batch_pixels(batch)
    if not s.encapsulated.any():
        return np.zeros(len(batch), dtype=np.bool_)
    e = s.encapsulation
    frames, usable, other = s.frames(np.flatnonzero(s.encapsulated))
    owner = batch.file[e.rows]
    one_each, video_ts = s.syntax["one_each"][owner], s.syntax["video"][owner]

    def finds(count: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        few = (count < frames) & ((count == 0) | ~video_ts)
        found: npt.NDArray[np.bool_] = (one_each & (count > frames)) | few
        return found

    # The first item is the table unless taken for a fragment (BOT_MISSING's screen says
    # when it may be): the count is one of these two.
    item_first = e.first_kind == Kind.FRAGMENT
    fewest = e.items - item_first
    most = np.where(item_first & ~e.maybe_missing, fewest, e.items)
    hit = other | (usable & (finds(fewest) | finds(most)))
    return batch.files_with(e.rows[e.closed & hit])


# -- RLE Lossless ----------------------------------------------------------------------------


@rule(
    "RLE_HEADER_INVALID",
    "error",
    "PS3.5 G.3.1, G.5",
    summary="RLE segment header: segment count or offsets wrong for the image",
    why=(
        "Each RLE Lossless frame starts with a 64-byte header: the number of segments (one\n"
        "per byte of each sample: Samples per Pixel x Bits Allocated / 8, at most 15) and\n"
        "their offsets (the first is 64, ascending, inside the fragment). RLE decoders trust\n"
        "it: a wrong count scrambles the byte planes (a 16-bit image decoded as 8-bit), an\n"
        "offset past the fragment reads out of bounds or fails."
    ),
    example=(
        "(0028,0100) US 16   fragment: 01000000 40000000 00000000 ...\n"
        "                    # 1 segment for 16-bit samples, expected 2"
    ),
)
def check_rle_header(ctx: Context) -> Iterator[Finding]:
    a = analyse(ctx)
    if a.ts is None or a.ts.uid != RLE_LOSSLESS:
        return
    for pe in a.elements:
        enc = pe.encapsulation
        if enc is None:
            continue
        nframes = pe.attributes.frames
        checked = enc.fragments if nframes is None else enc.fragments[:nframes]
        expected = _rle_segments(pe)
        capped = _Capped(ctx, "RLE_HEADER_INVALID", "RLE header faults")
        for frag in checked:
            found = _rle_fault(ctx, pe, frag, expected)
            if found is not None:
                message, offset, length = found
                yield from capped.add(message, node=frag, offset=offset, length=length)
        yield from capped.summary()


@screen("RLE_HEADER_INVALID")
def _screen_rle_header(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs encapsulated Pixel Data in a file whose transfer syntax is RLE
    Lossless."""
    s = batch_pixels(batch)
    if not s.encapsulated.any():
        return np.zeros(len(batch), dtype=np.bool_)
    return batch.files_with(s.rows[s.encapsulated]) & s.syntax["rle"]


def _rle_segments(pe: PixelData) -> tuple[int, str] | None:
    """The segment count PS3.5 G.2 calls for, and how it is computed, if the data set says."""
    bits = pe.attributes.bits_allocated
    if bits is None or bits <= 0:
        return None
    samples = pe.attributes.samples
    samples = 1 if samples is None or samples <= 0 else samples
    per_sample = -(-bits // 8)
    return samples * per_sample, (
        f"{samples} sample{'s' if samples != 1 else ''} per pixel x {per_sample} byte"
        f"{'s' if per_sample != 1 else ''} ({bits} bits allocated)"
    )


def _rle_fault(
    ctx: Context, pe: PixelData, frag: int, expected: tuple[int, str] | None
) -> tuple[str, int, int] | None:
    """The first fault of one fragment's RLE header: (message, offset, length)."""
    c = ctx.columns
    length = int(c.length[frag])
    if length < 0:
        return None
    value_offset = int(c.value_offset[frag])
    if length < RLE_HEADER_SIZE:
        return (
            f"an RLE fragment of {length} bytes cannot hold the {RLE_HEADER_SIZE}-byte RLE header",
            int(c.offset[frag]),
            8 + length,
        )
    header = pe.rle_header(frag)
    if header is None:
        return None  # cut by the end of the file: FILE_TRUNCATED says so
    count = header[0]
    if not 1 <= count <= RLE_MAX_SEGMENTS:
        return (
            f"the RLE header gives {count} segments: expected 1 to {RLE_MAX_SEGMENTS}",
            value_offset,
            4,
        )
    if expected is not None and count != expected[0]:
        return (
            f"the RLE header gives {wording.count(count, 'segment')}, expected {expected[0]} "
            f"({expected[1]})",
            value_offset,
            4,
        )
    offsets = header[1 : count + 1]
    if offsets[0] != RLE_HEADER_SIZE:
        return (
            f"the RLE header's first segment offset is {offsets[0]}: the first segment starts "
            f"right after the header, at {RLE_HEADER_SIZE}",
            value_offset + 4,
            4,
        )
    for k in range(1, count):
        if offsets[k] <= offsets[k - 1]:
            return (
                f"the RLE header's {_nth(k)} segment offset ({offsets[k]}) is not greater than "
                f"the {_nth(k - 1)} ({offsets[k - 1]}): segment offsets ascend",
                value_offset + 4 + 4 * k,
                4,
            )
        if offsets[k] >= length:
            return (
                f"the RLE header's {_nth(k)} segment offset ({offsets[k]}) lies past the end of "
                f"its {length}-byte fragment",
                value_offset + 4 + 4 * k,
                4,
            )
    return None


# -- native pixel data -----------------------------------------------------------------------


@rule(
    "PIXEL_DATA_LENGTH_MISMATCH",
    "error",
    "PS3.5 8.1.1; PS3.3 C.7.6.3",
    summary=(
        "Native Pixel Data length != Rows x Columns x Samples x Bits Allocated / 8 x Frames "
        "(padded to even)"
    ),
    why=(
        "Native pixel data has exactly the size the image attributes give. When it is shorter,\n"
        "readers fail (pydicom: 'The length of the pixel data ... doesn't match') or show\n"
        "garbage in the last frames; when it is longer, the extra bytes are unexplained and\n"
        "the attributes may be wrong (a 16-bit image labelled 8-bit shows as noise)."
    ),
    example=(
        "(0028,0010) US 512  (0028,0011) US 512  (0028,0100) US 16\n"
        "(7FE0,0010) OW 262144   # expected 524288"
    ),
)
def check_pixel_data_length(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    a = analyse(ctx)
    ts = a.ts
    for pe in a.elements:
        if pe.encapsulated:
            continue
        if pe.tag == PIXEL_DATA and pe.top and ts is not None and ts.encapsulated:
            continue  # ENCAPSULATED_DEFINED_LENGTH: the length is not a native one
        length = int(c.length[pe.node])
        value_offset = int(c.value_offset[pe.node])
        if length < 0 or int(c.end[pe.node]) != value_offset + length:
            continue  # undefined, or cut short: VALUE_OVERRUNS_PARENT / FILE_TRUNCATED
        found = _expected_length(pe)
        if found is None:
            continue
        expected, how = found
        if length == expected:
            continue
        offset, size = ctx.length_field(pe.node)
        yield ctx.finding(
            "PIXEL_DATA_LENGTH_MISMATCH",
            f"({format_tag(pe.tag)}) value length is {length}, expected {expected} = {how}",
            node=pe.node,
            offset=offset,
            length=size,
        )


@screen("PIXEL_DATA_LENGTH_MISMATCH")
def _screen_pixel_data_length(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own comparison for each whole defined-length pixel element, with the
    attributes decoded here; flagged too where a factor of the layout could not be read here
    (unless another rules the layout out), or Photometric Interpretation may be YBR_FULL_422
    with 3 samples."""
    s = batch_pixels(batch)
    c = batch.columns
    rows = s.rows
    if not len(rows):
        return np.zeros(len(batch), dtype=np.bool_)
    length = c.length[rows]
    a = s.attributes
    status = a.status[a.slot][:, LAYOUT]
    value = np.where(status == ABSENT, LAYOUT_DEFAULT, a.value[a.slot][:, LAYOUT])
    floats = s.tags != PIXEL_DATA
    if floats.any():  # Float / Double Float Pixel Data: 32 or 64 bits, whatever Bits Allocated
        status[floats, LAYOUT_BITS] = KNOWN
        value[floats, LAYOUT_BITS] = np.where(s.tags[floats] == FLOAT_PIXEL_DATA, 32, 64)
    # native_layout: a factor absent (but Samples per Pixel and Number of Frames) or not
    # positive gives no layout, whatever the others are.
    none = ((status == ABSENT) & (LAYOUT_DEFAULT == 0)) | ((status == KNOWN) & (value <= 0))
    other = status == OTHER
    layout = ~none.any(axis=1)
    known = layout & ~other.any(axis=1)
    factors = np.where(known[:, None], value, 1)
    # Past 2**40 bits the expected length is past any 32-bit value length: a finding.
    huge = np.prod(factors.astype(np.float64), axis=1) > 2.0**40
    bits = np.prod(np.where(huge[:, None], 1, factors), axis=1)
    data = -(-bits // 8)
    samples = value[:, LAYOUT_SAMPLES]
    ybr = a.ybr[a.slot] & (status[:, LAYOUT_SAMPLES] == KNOWN) & (samples == 3)
    whole = (length >= 0) & (c.end[rows] == c.value_offset[rows] + length)
    differs = ~known | huge | ybr | (data + data % 2 != length)
    return batch.files_with(rows[whole & layout & differs])


def _expected_length(pe: PixelData) -> tuple[int, str] | None:
    """The native value length the image attributes call for, and how it is computed."""
    layout = pe.native
    if layout is None:
        return None
    expected = layout.expected_length
    # PS3.3 C.7.6.3.1.2: native YBR_FULL_422 is subsampled: two samples' worth per pixel.
    samples = "2 (YBR_FULL_422)" if layout.ybr422 else wording.count(layout.samples, "sample")
    how = (
        f"{layout.rows} rows x {layout.columns} columns x {samples}"
        f" x {wording.count(layout.bits, 'bit')} / 8 x {wording.count(layout.frames, 'frame')}"
        + (", padded to even" if expected * 8 != layout.frame_bits * layout.frames else "")
    )
    return expected, how


@rule(
    "PIXEL_DATA_VR_INVALID",
    "error",
    "PS3.5 8.2, A.2",
    summary=(
        "Pixel Data VR not OB/OW, or OB with Bits Allocated > 8 in explicit VR native encoding"
    ),
    why=(
        "Pixel Data is OB or OW (PS3.5 8.2): OW when Bits Allocated is more than 8 in a native\n"
        "explicit VR encoding, OB when encapsulated. The VR decides byte swapping: 16-bit\n"
        "pixels sent as OB are not swapped by big-endian or VR-driven converters (the image\n"
        "comes out as noise), and readers that dispatch on the VR reject other VRs outright."
    ),
    example="(0028,0100) US 16   (7FE0,0010) OB 524288   # expected OW",
)
def check_pixel_data_vr(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    a = analyse(ctx)
    ts = a.ts
    for pe in a.elements:
        if pe.tag != PIXEL_DATA or not bool(c.vr_explicit[pe.node]):
            continue  # implicit VR: the VR is the dictionary's
        node = ctx.node(pe.node)
        vr = node.vr or "??"
        if vr not in specdata.VR_CODES:
            continue  # no VR at all: INVALID_VR
        at = node.offset + 4
        if vr not in ("OB", "OW"):
            yield ctx.finding(
                "PIXEL_DATA_VR_INVALID",
                f"Pixel Data has VR '{vr}': expected OB or OW",
                node=pe.node,
                offset=at,
                length=2,
            )
            continue
        native = not pe.encapsulated and not (pe.top and ts is not None and ts.encapsulated)
        if native and vr == "OB":
            bits = pe.attributes.bits_allocated
            if bits is not None and bits > 8:
                yield ctx.finding(
                    "PIXEL_DATA_VR_INVALID",
                    f"native Pixel Data is OB with Bits Allocated {bits}: expected OW when "
                    "Bits Allocated is more than 8",
                    node=pe.node,
                    offset=at,
                    length=2,
                )
        elif pe.encapsulated and vr == "OW":
            yield ctx.finding(
                "PIXEL_DATA_VR_INVALID",
                "encapsulated Pixel Data is OW: expected OB (PS3.5 8.2: an encapsulated format "
                "uses OB)",
                node=pe.node,
                offset=at,
                length=2,
            )


@screen("PIXEL_DATA_VR_INVALID")
def _screen_pixel_data_vr(batch: Batch) -> npt.NDArray[np.bool_]:
    """A finding needs an explicit-VR Pixel Data with a known VR other than OB and OW; or OB,
    not encapsulated, whose Bits Allocated is more than 8 (or not read here); or OW,
    encapsulated."""
    s = batch_pixels(batch)
    c = batch.columns
    rows = s.rows
    vr = c.vr[rows].astype(np.int64)
    bits = s.attributes.get(BITS_ALLOCATED)
    wide = bits.other | bits.known(bits.value > 8)
    ob, ow = vr == OB_CODE, vr == OW_CODE
    other = ~ob & ~ow & VALID_VR[vr]
    hit = other | (ob & ~s.encapsulated & wide) | (ow & s.encapsulated)
    return batch.files_with(rows[(c.tag[rows] == PIXEL_DATA) & c.vr_explicit[rows] & hit])


# -- the image attributes themselves ---------------------------------------------------------

_ATTRIBUTE_NAMES = {
    SAMPLES_PER_PIXEL: "Samples per Pixel (0028,0002)",
    NUMBER_OF_FRAMES: "Number of Frames (0028,0008)",
    ROWS: "Rows (0028,0010)",
    COLUMNS: "Columns (0028,0011)",
    BITS_ALLOCATED: "Bits Allocated (0028,0100)",
    BITS_STORED: "Bits Stored (0028,0101)",
    HIGH_BIT: "High Bit (0028,0102)",
}
# Attributes that count something, so at least 1 (High Bit, a bit position, may be 0).
_AT_LEAST_ONE = {
    SAMPLES_PER_PIXEL: "a pixel has at least 1 sample",
    NUMBER_OF_FRAMES: "the Pixel Data holds at least 1 frame",
    ROWS: "an image has at least 1 row",
    COLUMNS: "an image has at least 1 column",
    BITS_ALLOCATED: "a sample has at least 1 bit",
    BITS_STORED: "a sample stores at least 1 bit",
}
# The screen's columns of the attributes the check reads, and of those that count something.
_NUMERIC = [COLUMN[t] for t in _ATTRIBUTE_NAMES]
_POSITIVE = [COLUMN[t] for t in _AT_LEAST_ONE]


@rule(
    "PIXEL_ATTRIBUTES_INVALID",
    "error",
    "PS3.3 C.7.6.3.1, C.7.6.6; PS3.5 8.1.1",
    summary=(
        "Rows, Columns, Samples per Pixel, Bits Allocated/Stored, High Bit or Number of Frames "
        "beside Pixel Data cannot be true (empty, 0, negative, not a number, or inconsistent)"
    ),
    why=(
        "Rows, Columns, Samples per Pixel, Bits Allocated, Bits Stored and High Bit say how\n"
        "the Pixel Data is laid out (PS3.3 C.7.6.3.1, PS3.5 8.1.1), Number of Frames how many\n"
        "images it holds (C.7.6.6). Values that cannot be true (0 rows, 0 bits, -5 frames,\n"
        "Bits Stored above Bits Allocated, a High Bit outside the bits allocated to a sample or\n"
        "below the bits stored) or that C.7.6.3.1 forbids (Bits Allocated other than 1 or a\n"
        "multiple of 8) leave a reader nothing to lay the pixels out by: decoders fail,\n"
        "compute a frame of 0 bytes, mask the wrong bits or refuse the file, and the Pixel\n"
        "Data's length cannot be checked (PIXEL_DATA_LENGTH_MISMATCH has nothing to compare it\n"
        "with). The finding covers the attribute's element, in the data set (or item) that\n"
        "holds the Pixel Data; an attribute that is absent is not this rule's business."
    ),
    example=(
        "(0028,0010) US 0     # Rows: an image has at least one row\n"
        "(0028,0100) US 16  (0028,0101) US 12  (0028,0102) US 40   # High Bit: expected 11"
    ),
)
def check_pixel_attributes(ctx: Context) -> Iterator[Finding]:
    seen: set[int] = set()
    for pe in analyse(ctx).elements:
        if pe.owner in seen:
            continue  # Pixel Data and Float Pixel Data in one data set share the attributes
        seen.add(pe.owner)
        yield from _attribute_faults(ctx, pe)


@screen("PIXEL_ATTRIBUTES_INVALID")
def _screen_pixel_attributes(batch: Batch) -> npt.NDArray[np.bool_]:
    """Each of the check's tests on the attributes decoded here, taken alone (the check makes
    the same tests, skipping some after another's finding); an attribute present but not read
    here flags its file."""
    a = batch_pixels(batch).attributes
    if not len(a.file):
        return np.zeros(len(batch), dtype=np.bool_)
    status, value = a.status, a.value
    known = status == KNOWN
    hit = (status[:, _NUMERIC] == OTHER).any(axis=1)
    hit |= (known[:, _POSITIVE] & (value[:, _POSITIVE] <= 0)).any(axis=1)
    ka, ks, kh = (known[:, COLUMN[t]] for t in (BITS_ALLOCATED, BITS_STORED, HIGH_BIT))
    alloc, stored, high = (value[:, COLUMN[t]] for t in (BITS_ALLOCATED, BITS_STORED, HIGH_BIT))
    hit |= kh & (high < 0)
    hit |= ka & (alloc != 1) & (alloc % 8 != 0)
    hit |= ka & ks & (stored > alloc)
    hit |= ka & kh & (high >= alloc)
    hit |= ks & kh & (high + 1 < stored)
    found: npt.NDArray[np.bool_] = np.bincount(a.file[hit], minlength=len(batch)) > 0
    return found


def _attribute_faults(ctx: Context, pe: PixelData) -> Iterator[Finding]:
    name = "PIXEL_ATTRIBUTES_INVALID"
    attributes = pe.attributes
    read = {tag: a for tag, a in attributes.numbers.items() if tag in _ATTRIBUTE_NAMES}
    nodes = attributes.nodes
    good: dict[int, int] = {}
    for tag in sorted(read):
        r = read[tag]
        what = _ATTRIBUTE_NAMES[tag]
        if r.fault is not None:
            message = f"{what} {r.fault}"
        elif r.value is None:
            continue
        elif tag in _AT_LEAST_ONE and r.value <= 0:
            message = f"{what} is {r.value}: {_AT_LEAST_ONE[tag]}"
        elif tag == HIGH_BIT and r.value < 0:
            message = f"{what} is {r.value}: a bit position, 0 or more is expected"
        elif tag == BITS_ALLOCATED and r.value != 1 and r.value % 8:
            message = f"{what} is {r.value}: expected 1 or a multiple of 8"
            good[tag] = r.value  # still bounds Bits Stored and High Bit
        else:
            good[tag] = r.value
            continue
        yield ctx.finding(name, message, node=nodes[tag])
    allocated = good.get(BITS_ALLOCATED)
    stored = good.get(BITS_STORED)
    high = good.get(HIGH_BIT)
    if allocated is not None and stored is not None and stored > allocated:
        yield ctx.finding(
            name,
            f"Bits Stored (0028,0101) is {stored}, more than Bits Allocated (0028,0100) "
            f"{allocated}: the stored bits lie within the bits allocated to a sample",
            node=nodes[BITS_STORED],
        )
    if high is None:
        return
    if allocated is not None and stored is not None and stored > allocated:
        stored = None  # reported above; High Bit is judged by Bits Allocated alone
    if allocated is not None and high >= allocated:
        expected = ""
        if stored is not None and stored <= allocated:
            expected = f"; with Bits Stored {stored}, expected {stored - 1}"
        yield ctx.finding(
            name,
            f"High Bit (0028,0102) is {high}, not below Bits Allocated (0028,0100) {allocated}: "
            f"a sample's bits are numbered 0 to {allocated - 1}{expected}",
            node=nodes[HIGH_BIT],
        )
    elif stored is not None and high + 1 < stored:
        yield ctx.finding(
            name,
            f"High Bit (0028,0102) is {high}, too low for Bits Stored (0028,0101) {stored}: "
            f"{stored} bits end at bit {stored - 1} at the least",
            node=nodes[HIGH_BIT],
        )
