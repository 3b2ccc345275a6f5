"""The pixel rules' batch screens' shared view of a batch (:mod:`dcmstruct.validate.batch`).

The screens answer from the batch's columns and a few value bytes: which Pixel Data elements
there are, the first Image Pixel attributes of their data sets (each file's few attribute bytes
read in one piece, then decoded for every file at once), and for encapsulated Pixel Data its
items' kinds. Whatever they cannot decode here they count as "other", and every screen flags a
file whose answer would depend on such a value. Each screen sits beside its rule in
:mod:`dcmstruct.validate.rules.pixel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import member
from dcmstruct.model import UNDEFINED, Kind, Stream, vr_code
from dcmstruct.pixeldata import (
    BITS_ALLOCATED,
    BITS_STORED,
    COLUMNS,
    DOUBLE_FLOAT_PIXEL_DATA,
    FLOAT_PIXEL_DATA,
    HIGH_BIT,
    NUMBER_OF_FRAMES,
    ONE_FRAGMENT_PER_FRAME,
    PHOTOMETRIC_INTERPRETATION,
    ROWS,
    SAMPLES_PER_PIXEL,
    video,
)
from dcmstruct.schema.layout import PIXEL_DATA
from dcmstruct.uids import RLE_LOSSLESS
from dcmstruct.validate.batch import Batch

if TYPE_CHECKING:
    import numpy.typing as npt


_SQ_CODE = vr_code("SQ")
OB_CODE = vr_code("OB")
OW_CODE = vr_code("OW")
_US_CODE = vr_code("US")
_UN_CODE = vr_code("UN")
_IS_CODE = vr_code("IS")
_DS_CODE = vr_code("DS")
# By VR code: is it a VR at all (PIXEL_DATA_VR_INVALID judges only those)?
VALID_VR = np.zeros(1 << 16, dtype=np.bool_)
VALID_VR[[vr_code(v) for v in specdata.VR_CODES]] = True
# The attributes the screens read, sorted: column k of the attribute table is _SCREEN_TAGS[k].
_SCREEN_TAGS = np.array(
    sorted(
        (
            SAMPLES_PER_PIXEL,
            PHOTOMETRIC_INTERPRETATION,
            NUMBER_OF_FRAMES,
            ROWS,
            COLUMNS,
            BITS_ALLOCATED,
            BITS_STORED,
            HIGH_BIT,
        )
    ),
    dtype=np.int64,
)
COLUMN = {int(t): k for k, t in enumerate(_SCREEN_TAGS.tolist())}
ABSENT, KNOWN, OTHER = 0, 1, 2  # an attribute's status in its data set
_GATHER = 8  # value bytes read per attribute: a US, or a whole number of up to 8 digits
_STEPS = np.arange(_GATHER)
_STREAMS = tuple(Stream)  # by value
_UNREAD_SHIFT = -(1 << 62)  # a file not read: its rows' positions in the buffer are negative
# How read_number reads a value, by [is Number of Frames, VR code]: US (also UN, OB, OW and no
# VR, read as the dictionary's US) or digits (IS, DS; UN, OB, OW and no VR for Number of
# Frames, whose dictionary VR is IS); else not here (OTHER).
_BINARY, _TEXT = 1, 2  # 0: neither
_HOW_READ = np.zeros((2, 1 << 16), dtype=np.uint8)
_HOW_READ[0, [0, _UN_CODE, OB_CODE, OW_CODE, _US_CODE]] = _BINARY
_HOW_READ[1, [0, _UN_CODE, OB_CODE, OW_CODE, _IS_CODE, _DS_CODE]] = _TEXT
_HOW_READ[0, [_IS_CODE, _DS_CODE]] = _TEXT
_HOW_READ[1, _US_CODE] = _BINARY
# What the value of a Photometric Interpretation that strips to YBR_FULL_422 can start with.
_YBR_LEAD = np.zeros(256, dtype=np.bool_)
_YBR_LEAD[[ord("Y"), ord(" "), 0]] = True
_GROUP_7FE0 = PIXEL_DATA & ~0xFFFF
_SPAN = 1 << 16  # a file whose attributes lie further apart than this is not read: "other"
# native_layout's factors, as columns of the attribute table, and what an absent one counts
# as (0: no layout).
LAYOUT = [COLUMN[t] for t in (ROWS, COLUMNS, SAMPLES_PER_PIXEL, BITS_ALLOCATED, NUMBER_OF_FRAMES)]
LAYOUT_DEFAULT = np.array([0, 0, 1, 0, 1], dtype=np.int64)
LAYOUT_SAMPLES, LAYOUT_BITS = 2, 3


@dataclass
class Attributes:
    """Per data set holding pixel data (a "slot"): each screened attribute's status and value
    (the first element of that tag in the data set, as read_number would read it)."""

    slot: npt.NDArray[np.int64]  # per pixel element row: its data set's slot
    file: npt.NDArray[np.int64]  # per slot: its file
    status: npt.NDArray[np.uint8]  # [slot, column]: ABSENT, KNOWN or OTHER
    value: npt.NDArray[np.int64]  # [slot, column]: the value where KNOWN
    ybr: npt.NDArray[np.bool_]  # per slot: Photometric Interpretation may be YBR_FULL_422

    def get(self, tag: int, rows: slice | npt.NDArray[np.int64] = slice(None)) -> Values:
        k = COLUMN[tag]
        slots = self.slot[rows]
        return Values(self.status[slots, k], self.value[slots, k])


class Values(NamedTuple):
    status: npt.NDArray[np.uint8]
    value: npt.NDArray[np.int64]

    @property
    def absent(self) -> npt.NDArray[np.bool_]:
        found: npt.NDArray[np.bool_] = self.status == ABSENT
        return found

    @property
    def other(self) -> npt.NDArray[np.bool_]:
        found: npt.NDArray[np.bool_] = self.status == OTHER
        return found

    def known(self, test: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        found: npt.NDArray[np.bool_] = (self.status == KNOWN) & test
        return found


@dataclass
class Encapsulated:
    """Per encapsulated Pixel Data element row (``rows``): its items as the check will see
    them, told from the columns and the first 4 bytes of the first item."""

    rows: npt.NDArray[np.int64]
    first_kind: npt.NDArray[np.int64]  # kind of the first child, -1 if none
    first_length: npt.NDArray[np.int64]
    first_complete: npt.NDArray[np.bool_]  # the first child's value is all in the file
    first_zero: npt.NDArray[np.bool_]  # its first 4 value bytes are there and all 0
    maybe_missing: npt.NDArray[np.bool_]  # the check may take the first item for a fragment
    items: npt.NDArray[np.int64]  # how many FRAGMENT children
    closed: npt.NDArray[np.bool_]  # the last child is the Sequence Delimitation Item


class BatchPixels:
    """The pixel screens' questions about one batch, each answered once and shared."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        c = batch.columns
        # Group 7FE0 in one unsigned comparison: pixel data and the Extended Offset Table.
        near = (c.tag - _GROUP_7FE0).view(np.uint64) <= 0xFFFF
        group = np.flatnonzero(near)
        #: Element rows of group 7FE0.
        self.group_rows = group = group[c.kind[group] == Kind.ELEMENT]
        tags = c.tag[group]
        pixel = (
            (tags == PIXEL_DATA) | (tags == FLOAT_PIXEL_DATA) | (tags == DOUBLE_FLOAT_PIXEL_DATA)
        )
        #: Pixel Data, Float and Double Float Pixel Data element rows, and their tags.
        self.rows = group[pixel]
        self.tags = tags[pixel]
        #: Per pixel element row: encapsulated, as PixelData.encapsulated says.
        self.encapsulated = (
            (self.tags == PIXEL_DATA)
            & (c.length[self.rows] == UNDEFINED)
            & (c.vr[self.rows] != _SQ_CODE)
        )

    @cached_property
    def syntax(self) -> dict[str, npt.NDArray[np.bool_]]:
        """Per file, what its transfer syntax is: encapsulated, native, RLE Lossless, one
        fragment a frame, video."""
        syntaxes = [ix.transfer_syntax for ix in self.batch.indexes]
        # By identity: hashing a TransferSyntax hashes all its fields, and there are few.
        place: dict[int, int] = {}
        which = [place.setdefault(id(ts), len(place)) for ts in syntaxes]
        distinct = {id(ts): ts for ts in syntaxes}
        table = np.array(
            [
                (
                    ts is not None and ts.encapsulated,
                    ts is not None and not ts.encapsulated,
                    ts is not None and ts.uid == RLE_LOSSLESS,
                    ts is not None and ts.uid in ONE_FRAGMENT_PER_FRAME,
                    video(ts),
                )
                for ts in (distinct[key] for key in place)
            ],
            dtype=np.bool_,
        ).reshape(-1, 5)
        per_file = table[np.array(which, dtype=np.int64)]
        names = ("encapsulated", "native", "rle", "one_each", "video")
        return {name: per_file[:, k] for k, name in enumerate(names)}

    @cached_property
    def attributes(self) -> Attributes:
        """The screened attributes of every data set that holds a pixel element."""
        b, c = self.batch, self.batch.columns
        # pixel_elements groups the attributes by parent: the batch's data set keys do the
        # same (they tell group 0002 apart too, which holds no attribute read here).
        keys = b.dataset_key
        datasets, slot = np.unique(keys[self.rows], return_inverse=True)
        width = len(_SCREEN_TAGS)
        slot_file = np.zeros(len(datasets), dtype=np.int64)
        slot_file[slot] = b.file[self.rows]
        out = Attributes(
            slot.astype(np.int64),
            slot_file,
            np.zeros((len(datasets), width), dtype=np.uint8),
            np.zeros((len(datasets), width), dtype=np.int64),
            np.zeros(len(datasets), dtype=np.bool_),
        )
        if not len(datasets):
            return out
        span = int(_SCREEN_TAGS[-1] - _SCREEN_TAGS[0])
        rows = np.flatnonzero((c.tag - _SCREEN_TAGS[0]).view(np.uint64) <= span)
        tags = c.tag[rows]
        col = np.searchsorted(_SCREEN_TAGS, tags)
        at = np.minimum(np.searchsorted(datasets, keys[rows]), len(datasets) - 1)
        keep = (_SCREEN_TAGS[col] == tags) & (datasets[at] == keys[rows])
        keep &= c.kind[rows] == Kind.ELEMENT
        rows, col, at = rows[keep], col[keep], at[keep]
        # pixel_elements keeps the first element of a tag in a data set (rows are in file
        # order); a second one is rare, so it is looked for before anything is dropped.
        code = at * width + col
        order = np.argsort(code, kind="stable")
        ordered = code[order]
        again = ordered[1:] == ordered[:-1]
        if again.any():
            keep = np.ones(len(code), dtype=np.bool_)
            keep[order[1:][again]] = False
            rows, col, at = rows[keep], col[keep], at[keep]
        status, value, ybr = self._decode(rows, col)
        out.status[at, col] = status
        out.value[at, col] = value
        out.ybr[at[ybr]] = True
        return out

    def _decode(
        self, rows: npt.NDArray[np.int64], col: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Each attribute row's status and value as read_number reads it (a US, in its byte
        order, or a whole number written in at most 8 digits; anything else "other"), and
        whether it is a Photometric Interpretation that read_text may strip to YBR_FULL_422."""
        b, c = self.batch, self.batch.columns
        length = c.length[rows]
        start = c.value_offset[rows]
        avail = c.end[rows] - start
        raw, read = self._gather(rows, start, np.clip(avail, 0, _GATHER))
        # read_number: no value (undefined, cut short) or an empty one gives no number.
        whole = read & (length > 0) & (avail >= np.minimum(length, 64))
        how = _HOW_READ[(col == COLUMN[NUMBER_OF_FRAMES]).view(np.uint8), c.vr[rows]]
        binary = whole & (how == _BINARY) & (length >= 2)
        low, high = raw[:, 0].astype(np.int64), raw[:, 1].astype(np.int64)
        value = low | (high << 8)
        little = self.little
        if not little.all():
            big = ~little[b.file[rows]] & (c.stream[rows] != Stream.INFLATED)
            value = np.where(big, (low << 8) | high, value)
        status = np.where(binary, KNOWN, OTHER).astype(np.uint8)
        text = whole & (how == _TEXT) & (length <= _GATHER)
        if text.any():
            at = np.flatnonzero(text)
            number, plain = _whole_numbers(raw[at], length[at])
            at = at[plain]
            status[at] = KNOWN
            value[at] = number[plain]
        ybr = (col == COLUMN[PHOTOMETRIC_INTERPRETATION]) & (length >= 12)
        ybr &= ~read | _YBR_LEAD[raw[:, 0]]
        return status, value, ybr

    @cached_property
    def little(self) -> npt.NDArray[np.bool_]:
        """Per file: its data set is little endian (or of unknown encoding, as values reads it)."""
        encodings = [ix.dataset_encoding for ix in self.batch.indexes]
        return np.array([e is None or e.little_endian for e in encodings], dtype=np.bool_)

    def _gather(
        self, rows: npt.NDArray[np.int64], start: npt.NDArray[np.int64], n: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
        """The first ``n`` (at most _GATHER) value bytes of each row (``rows`` in file order),
        and whether they were read: one read per file, the few bytes its rows span (a row
        without a value offset makes its file's read fail: all its rows unread)."""
        b, c = self.batch, self.batch.columns
        if not len(rows):
            return np.zeros((0, _GATHER), dtype=np.uint8), np.zeros(0, dtype=np.bool_)
        files = b.file[rows]
        opens = np.concatenate(([True], files[1:] != files[:-1]))
        bounds = np.flatnonzero(opens)
        lo = np.minimum.reduceat(start, bounds)
        hi = np.maximum.reduceat(start + n, bounds)
        stream = c.stream[rows]
        mixed = [False] * len(bounds)
        if stream.any():  # a deflated data set: one file's rows may lie in two streams
            low, high = np.minimum.reduceat(stream, bounds), np.maximum.reduceat(stream, bounds)
            mixed = (low != high).tolist()
        where = [_UNREAD_SHIFT] * len(bounds)
        parts: list[bytes] = []
        size = 0
        indexes = b.indexes
        spans = zip(
            files[bounds].tolist(), stream[bounds].tolist(), lo.tolist(), hi.tolist(), strict=True
        )
        for g, (f, s, a, z) in enumerate(spans):
            size_of = z - a
            if mixed[g] or a < 0 or size_of <= 0 or size_of > _SPAN:
                continue
            # Through the index's read window, which the screens that read a file's head
            # have filled (and the checks read through later).
            data = indexes[f].read(_STREAMS[s], a, size_of)
            if len(data) < size_of:
                continue  # the stream ends first: what read_number reads is not all there
            where[g] = size - a
            parts.append(data)
            size += size_of
        buffer = np.frombuffer(b"".join(parts) + bytes(_GATHER), dtype=np.uint8)
        shift = np.array(where, dtype=np.int64)[np.cumsum(opens) - 1]
        read = shift + start >= 0
        at = np.where(read, shift + start, size)
        raw: npt.NDArray[np.uint8] = buffer[at[:, None] + _STEPS]
        return raw, read

    @cached_property
    def encapsulation(self) -> Encapsulated:
        """The items of every encapsulated Pixel Data, as far as the screens look at them."""
        b, c = self.batch, self.batch.columns
        rows = self.rows[self.encapsulated]
        m = len(rows)
        out = Encapsulated(
            rows,
            np.full(m, -1, dtype=np.int64),
            np.full(m, -1, dtype=np.int64),
            np.zeros(m, dtype=np.bool_),
            np.zeros(m, dtype=np.bool_),
            np.zeros(m, dtype=np.bool_),
            np.zeros(m, dtype=np.int64),
            np.zeros(m, dtype=np.bool_),
        )
        if not m:
            return out
        kids = np.flatnonzero(member(c.parent, rows.tolist()))
        if not len(kids):
            return out
        owner = np.searchsorted(rows, c.parent[kids])
        owners, first = np.unique(owner, return_index=True)
        _, last_reversed = np.unique(owner[::-1], return_index=True)
        firsts = kids[first]
        lasts = kids[len(kids) - 1 - last_reversed]
        out.first_kind[owners] = c.kind[firsts]
        out.first_length[owners] = c.length[firsts]
        out.first_complete[owners] = c.end[firsts] - c.value_offset[firsts] == c.length[firsts]
        out.closed[owners] = c.kind[lasts] == Kind.SEQUENCE_DELIMITER
        fragments = owner[c.kind[kids] == Kind.FRAGMENT]
        out.items = np.bincount(fragments, minlength=m).astype(np.int64)
        # _first_item_is_a_fragment: every codec signature and the RLE header have a non-zero
        # byte among their first 4, so a first item whose first 4 bytes are 0, or that has no
        # value bytes, is the Basic Offset Table.
        for e in np.flatnonzero((out.first_kind == Kind.FRAGMENT) & (out.first_length > 0)):
            node = int(firsts[np.searchsorted(owners, e)])
            start = int(c.value_offset[node])
            n = min(4, int(c.end[node]) - start)
            if start < 0 or n <= 0:
                continue
            head = b.indexes[int(b.file[node])].read(Stream(int(c.stream[node])), start, n)
            out.first_zero[e] = n == 4 and head == bytes(4)
            out.maybe_missing[e] = not out.first_zero[e]
        return out

    def frames(
        self, rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """For pixel elements ``rows`` (positions in self.rows): Number of Frames as
        ImageAttributes.frames gives it (absent: 1), whether it gives one (not None), and
        whether the screen could not read it."""
        nof = self.attributes.get(NUMBER_OF_FRAMES, rows)
        value = np.where(nof.absent, 1, nof.value)
        usable = nof.absent | nof.known(nof.value > 0)
        return value, usable, nof.other


def _whole_numbers(
    raw: npt.NDArray[np.uint8], length: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The number each row's first ``length`` bytes write, and whether they write one as
    plainly as this reads: padding (space, NUL), one run of digits, padding. read_number
    strips that padding and reads the digits with int(): the same number."""
    inside = length[:, None] > _STEPS
    digit = inside & (raw >= ord("0")) & (raw <= ord("9"))
    pad = inside & ((raw == ord(" ")) | (raw == 0))
    count = digit.sum(axis=1)
    first = np.argmax(digit, axis=1)
    last = _GATHER - 1 - np.argmax(digit[:, ::-1], axis=1)
    plain = ~(inside & ~digit & ~pad).any(axis=1) & (count > 0) & (last - first + 1 == count)
    power = np.where(digit, last[:, None] - _STEPS, 0)
    digits = np.where(digit, raw.astype(np.int64) - ord("0"), 0)
    number: npt.NDArray[np.int64] = (digits * 10**power).sum(axis=1)
    return number, plain


def batch_pixels(batch: Batch) -> BatchPixels:
    return batch.shared(BatchPixels)
