"""Rules: values. Each string value against its VR's length, repertoire, grammar and padding
(PS3.5 6.1, 6.2), each value multiplicity against the dictionary (PS3.5 6.4, PS3.6), the
Specific Character Set's terms (PS3.3 C.12.1.1.2) and each explicit VR against the dictionary.

How they run: the element nodes are filtered by VR code in numpy first; of a string value at
most :data:`MAX_STRING_BYTES` are copied out of the index's mapped source (a value whose length
overruns its container is skipped: the structural rules report it); binary values are never
read (their multiplicity comes from the length column), pixel data never is. The
character set of each data set (PS3.5 7.5.3: an item without its own (0008,0005) inherits its
enclosing data set's) is worked out once per file. Where a finding points:

* VALUE_TOO_LONG, VALUE_BAD_FORMAT: the offending value of a multi-valued element (the first
  one; the message counts the others);
* VALUE_BAD_CHARACTERS: the first offending byte (or undecodable byte sequence);
* VALUE_BAD_PADDING: the padding (the trailing run of NULs, for a NUL-padded string);
* VM_MISMATCH: the whole value field;
* SPECIFIC_CHARACTER_SET_UNKNOWN: the offending term inside (0008,0005)'s value;
* VR_MISMATCH_DICTIONARY: the two VR bytes of the header.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import distinct_inverse, distinct_pairs_inverse, member
from dcmstruct.model import Columns, Kind, Stream, vr_code, vr_text
from dcmstruct.safetext import terminal_safe
from dcmstruct.validate import grammar, strings
from dcmstruct.validate.batch import Batch
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.grammar import Charset, CharsetKind
from dcmstruct.validate.registry import rule
from dcmstruct.validate.registry import screen as batch_screen

if TYPE_CHECKING:
    import numpy.typing as npt

#: Never copy more of one string value than this (an LT is at most 10240 characters, i.e. at
#: most 40960 bytes in UTF-8; longer UT/UC/UR values are judged on their first bytes only).
MAX_STRING_BYTES = 64 << 10
SPECIFIC_CHARACTER_SET = 0x00080005
_CHARSET_VALUE_BYTES = 1024

_STRING_VRS: tuple[str, ...] = tuple(
    sorted(v for v in specdata.VR_CODES if (i := specdata.vr_info(v)) is not None and i.is_string)
)
_STRING_CODES = np.array([vr_code(v) for v in _STRING_VRS], dtype=np.uint16)
#: Binary VRs with one value per ``value_size`` bytes (PS3.5 6.4); the O* VRs have VM 1 always.
_NUMERIC_SIZES: dict[str, int] = {
    v: size
    for v in ("AT", "FD", "FL", "SL", "SS", "SV", "UL", "US", "UV")
    if (i := specdata.vr_info(v)) is not None and (size := i.value_size)
}
# Value size per packed VR code (0: not a binary numeric VR), for the VM of binary values.
_NUMERIC_SIZE_OF = np.zeros(1 << 16, dtype=np.int64)
for _vr, _size in _NUMERIC_SIZES.items():
    _NUMERIC_SIZE_OF[vr_code(_vr)] = _size
_VALID_CODES = np.array(sorted(vr_code(v) for v in specdata.VR_CODES), dtype=np.uint16)
_UN = vr_code("UN")
_UI = vr_code("UI")
_VR_TEXT: dict[int, str] = {vr_code(v): v for v in specdata.VR_CODES}


PIXEL_DATA = 0x7FE00010
FILE_META_VERSION = 0x00020001


def _bulk_data(tags: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Pixel, overlay and waveform data and trailing padding: never read as strings, even when
    written with a string VR (the pixel rules report that VR)."""
    group, element = tags >> 16, tags & 0xFFFF
    mask: npt.NDArray[np.bool_] = (
        ((group == 0x7FE0) & member(element, (0x0008, 0x0009, 0x0010)))
        | ((group >= 0x6000) & (group <= 0x601E) & (group % 2 == 0) & (element == 0x3000))
        | ((group == 0x5400) & (element == 0x1010))
        | (tags == 0xFFFCFFFC)
    )
    return mask


def _string_values_mask(c: Columns) -> npt.NDArray[np.bool_]:
    """The string elements whose values the value rules read. A value whose length field
    overruns its container (VALUE_OVERRUNS_PARENT, FILE_TRUNCATED) is left out: the bytes there
    are not the value its header describes."""
    mask: npt.NDArray[np.bool_] = (
        (c.kind == Kind.ELEMENT)
        & member(c.vr, _STRING_CODES)
        & ~_bulk_data(c.tag)
        & (c.length > 0)
        & (c.value_offset >= 0)
        & (c.end - c.value_offset == c.length)
    )
    return mask


def _charset_elements(c: Columns) -> npt.NDArray[np.bool_]:
    mask: npt.NDArray[np.bool_] = (c.kind == Kind.ELEMENT) & (c.tag == SPECIFIC_CHARACTER_SET)
    return mask


@lru_cache(maxsize=256)
def _parse_charset(raw: bytes | None) -> Charset:
    """:func:`grammar.parse_charset`, once per distinct value (files of one source share it)."""
    return grammar.parse_charset(raw)


# -- per-file state: which nodes hold strings, which character set is in force where ----------


class _FileState:
    """What the value rules of one file share: the string values as one table (see
    :mod:`dcmstruct.validate.strings`), computed once, dropped with the Context."""

    def __init__(self, ctx: Context) -> None:
        # No reference to ``ctx`` itself: it is this object's key in a WeakKeyDictionary.
        c = self.columns = ctx.columns
        self.index = ctx.index
        self.parent = c.parent
        self.strings: npt.NDArray[np.intp] = np.flatnonzero(_string_values_mask(c))
        self.own: dict[int, Charset] = {}
        for i in np.flatnonzero(_charset_elements(c)).tolist():
            owner = int(c.parent[i])
            if owner not in self.own:
                self.own[owner] = _parse_charset(ctx.value_bytes(i, _CHARSET_VALUE_BYTES))
        self.memo: dict[int, Charset] = {}
        charset_of, charsets = self._charsets()
        self.table = strings.build(
            self.index, self.strings.astype(np.int64), charset_of, charsets, MAX_STRING_BYTES
        )
        self.screened: dict[str, list[_StringValue]] = {}

    def _charsets(self) -> tuple[npt.NDArray[np.int32], list[Charset]]:
        """Each string value's character set (an index into the list of distinct ones)."""
        c = self.columns
        nodes = self.strings
        parents = c.parent[nodes].astype(np.int64)
        distinct: list[Charset] = [grammar.DEFAULT]
        ids: dict[Charset, int] = {grammar.DEFAULT: 0}
        if not any(owner >= 0 for owner in self.own):
            # No item declares its own set (the common case): one set for the data set.
            top = self.own.get(-1, grammar.DEFAULT)
            of = np.full(len(nodes), 0 if top == grammar.DEFAULT else 1, dtype=np.int32)
            of[(c.tag[nodes] >> 16) == 0x0002] = 0
            return of, [grammar.DEFAULT] if top == grammar.DEFAULT else [grammar.DEFAULT, top]
        owners, where = distinct_inverse(parents)
        owner_ids = np.zeros(len(owners), dtype=np.int32)
        for k, owner in enumerate(owners.tolist()):
            cs = self.charset(owner if owner >= 0 else -1)
            if cs not in ids:
                ids[cs] = len(distinct)
                distinct.append(cs)
            owner_ids[k] = ids[cs]
        of = owner_ids[where] if len(nodes) else np.zeros(0, dtype=np.int32)
        # PS3.10 7.1: the meta group holds the default repertoire.
        of[(c.tag[nodes] >> 16) == 0x0002] = 0
        return of, distinct

    def charset(self, owner: int) -> Charset:
        """The character set of the data set ``owner`` (-1: the top level; else an item)."""
        cs = self.memo.get(owner)
        if cs is not None:
            return cs
        chain: list[int] = []
        o = owner
        while True:
            known = self.memo.get(o)
            if known is not None:
                cs = known
                break
            own = self.own.get(o)
            if own is not None:
                cs = own
                break
            if o < 0:
                cs = grammar.DEFAULT
                break
            chain.append(o)
            sequence = int(self.parent[o])
            o = int(self.parent[sequence]) if sequence >= 0 else -1
        for o in chain:
            self.memo[o] = cs
        return cs

    def candidates(
        self, name: str, screen: Callable[[strings.StringTable], set[int]]
    ) -> list[_StringValue]:
        """The values rule ``name`` must check exactly: those its screen does not clear, and
        those no screen can judge; in file order."""
        got = self.screened.get(name)
        if got is None:
            table = self.table
            rows = screen(table) | set(np.flatnonzero(table.slow).tolist())
            got = self.screened[name] = list(self.read(sorted(rows)))
        return got

    def read(self, rows: list[int]) -> Iterator[_StringValue]:
        """The values of table ``rows``, read again one by one for the exact checks."""
        c = self.columns
        table = self.table
        nodes = table.nodes[rows] if rows else np.zeros(0, dtype=np.int64)
        read = self.index.read
        fields = zip(
            rows,
            nodes.tolist(),
            c.tag[nodes].tolist(),
            c.vr[nodes].tolist(),
            c.value_offset[nodes].tolist(),
            c.end[nodes].tolist(),
            c.length[nodes].tolist(),
            c.stream[nodes].tolist(),
            strict=True,
        )
        for row, node, tag, vrc, start, end, declared, stream in fields:
            size = end - start
            raw = read(Stream(stream), start, min(size, MAX_STRING_BYTES))
            if len(raw) < min(size, MAX_STRING_BYTES) or not raw:
                continue
            last = raw[-1] if size <= MAX_STRING_BYTES else read(Stream(stream), end - 1, 1)[0]
            whole = declared == size  # always, by the filter above; kept as a guard
            pad_at = size - 1 if whole and last in (0x00, 0x20) else None
            vr = _VR_TEXT.get(vrc, "")
            if pad_at is not None and last == 0x00 and vr != "UI" and size <= MAX_STRING_BYTES:
                # A run of NULs where a space belongs: one padding fault, not character faults.
                pad_at = len(raw.rstrip(b"\0"))
            content = raw[: pad_at if pad_at is not None and pad_at < len(raw) else len(raw)]
            charset = table.charsets[int(table.charset_of[row])]
            yield _StringValue(
                node=node,
                tag=tag,
                vr=vr,
                start=start,
                content=content,
                masked=grammar.mask_multibyte(content, charset),
                complete=whole and size <= MAX_STRING_BYTES,
                pad_at=pad_at,
                pad=last,
                charset=charset,
            )


_STATES: weakref.WeakKeyDictionary[Context, _FileState] = weakref.WeakKeyDictionary()


def _state(ctx: Context) -> _FileState:
    state = _STATES.get(ctx)
    if state is None:
        state = _STATES[ctx] = _FileState(ctx)
    return state


# -- a batch's state: the string values of many files as one table -----------------------------

#: A file's values are read in one piece when they lie within this span (else range by range).
_ONE_READ = 256 << 10


class _BatchStrings:
    """The string values of every file of a batch as one :class:`strings.StringTable`, so each
    value rule's screen runs once for the batch. Its rows are rows of the batch's table; the
    character set of each is the one its file's check would use. A file whose items declare
    their own character set (rare) is not in the table: every value rule checks it."""

    def __init__(self, batch: Batch) -> None:
        c = batch.columns
        self.batch = batch
        rows = np.flatnonzero(_string_values_mask(c))
        files = batch.file[rows]
        starts = c.value_offset[rows]
        sizes = c.end[rows] - starts
        copied = np.minimum(sizes, MAX_STRING_BYTES)
        joined, where, last = self._gather(rows, files, starts, sizes, copied)
        self.unscreened = np.zeros(len(batch), dtype=np.bool_)
        charset_of = np.zeros(len(rows), dtype=np.int32)
        charsets: list[Charset] = [grammar.DEFAULT]
        declared = np.flatnonzero(_charset_elements(c))
        if len(declared):
            # As _FileState: the first (0008,0005) of a data set is its character set; its
            # value is among the gathered ones unless its VR is not a string VR.
            gathered = np.minimum(np.searchsorted(rows, declared), max(0, len(rows) - 1))
            top_set: dict[int, Charset] = {}
            for i, g in zip(declared.tolist(), gathered.tolist(), strict=True):
                f = int(batch.file[i])
                if int(c.parent[i]) >= 0:
                    self.unscreened[f] = True
                elif f not in top_set:
                    raw: bytes | None
                    if len(rows) and int(rows[g]) == i:
                        w = int(where[g])
                        raw = joined[w : w + min(int(sizes[g]), _CHARSET_VALUE_BYTES)].tobytes()
                    else:
                        raw = batch.value_bytes(i, _CHARSET_VALUE_BYTES)
                    top_set[f] = _parse_charset(raw)
            ids: dict[Charset, int] = {grammar.DEFAULT: 0}
            cs_of_file = np.zeros(len(batch), dtype=np.int32)
            for f, cs in top_set.items():
                if cs not in ids:
                    ids[cs] = len(charsets)
                    charsets.append(cs)
                cs_of_file[f] = ids[cs]
            charset_of = cs_of_file[files]
            # PS3.10 7.1: the meta group holds the default repertoire.
            charset_of[(c.tag[rows] >> 16) == 0x0002] = 0
            keep = ~self.unscreened[files]
            if not keep.all():
                rows, files, charset_of = rows[keep], files[keep], charset_of[keep]
                sizes, copied, where, last = sizes[keep], copied[keep], where[keep], last[keep]
        self.table = strings.assemble(
            rows, c.tag[rows], c.vr[rows], sizes, copied, joined, where, last, charset_of, charsets
        )
        self.files = files

    def _gather(
        self,
        rows: npt.NDArray[np.intp],
        files: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        sizes: npt.NDArray[np.int64],
        copied: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int16]]:
        """Every value's first ``copied`` bytes in one buffer: a file's values in one read where
        they lie close together in its file stream, else range by range."""
        batch = self.batch
        streams = batch.columns.stream[rows]
        where = np.zeros(len(rows), dtype=np.int64)
        if not len(rows):
            return np.zeros(1, dtype=np.uint8), where, np.zeros(0, dtype=np.int16)
        firsts = np.flatnonzero(np.concatenate(([True], files[1:] != files[:-1])))
        ends = starts + copied
        lows = np.minimum.reduceat(starts, firsts).tolist()
        highs = np.maximum.reduceat(ends, firsts).tolist()
        inflated = np.maximum.reduceat(streams, firsts).tolist()
        bounds = [*firsts.tolist(), len(rows)]
        pieces: list[bytes] = []
        shift = [0] * len(lows)  # per file: where[row] = starts[row] + shift, if read in one
        base = 0
        for k, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
            a, b = bounds[k], bounds[k + 1]
            index = batch.indexes[int(files[a])]
            if hi - lo <= _ONE_READ and not inflated[k]:
                data = index.read(Stream.FILE, lo, hi - lo)
                data += bytes(hi - lo - len(data))  # past the file's end: zeros, never used
                shift[k] = base - lo
            else:
                region, local = index.read_ranges(streams[a:b], starts[a:b], copied[a:b])
                data = region.tobytes()
                where[a:b] = local + base - starts[a:b]  # with the shift of 0 added below
            pieces.append(data)
            base += len(data)
        where += starts + np.repeat(np.asarray(shift, dtype=np.int64), np.diff(bounds))
        joined = np.frombuffer(b"".join(pieces) + b"\0", dtype=np.uint8)
        last = strings.last_bytes(joined, where, copied, sizes)
        # The last byte of a value longer than the copy limit is read on its own (rare).
        for k in np.flatnonzero(copied < sizes).tolist():
            tail = batch.indexes[int(files[k])].read(
                Stream(int(streams[k])), int(starts[k] + sizes[k] - 1), 1
            )
            last[k] = tail[0] if tail else -1
        return joined, where, last

    def flagged(self, screen: Callable[[strings.StringTable], set[int]]) -> npt.NDArray[np.bool_]:
        """Per file: has it a value that ``screen`` does not clear, or one no screen can judge?
        (What the per-file check reads exactly: :meth:`_FileState.candidates`.)"""
        table = self.table
        rows = screen(table)
        hit = table.slow.copy()
        if rows:
            hit[np.fromiter(rows, dtype=np.int64, count=len(rows))] = True
        out = self.unscreened.copy()
        out[self.files[hit]] = True
        return out


def _batch_strings(batch: Batch) -> _BatchStrings:
    return batch.shared(_BatchStrings)


class _StringValue(NamedTuple):
    """One string element's value as the rules see it."""

    node: int
    tag: int
    vr: str
    start: int  # offset of the value field (in the node's stream)
    content: bytes  # the value without its padding, at most MAX_STRING_BYTES
    masked: bytes  # ``content`` with multi-byte characters masked (grammar.mask_multibyte)
    complete: bool  # ``content`` is all of the value (not capped at MAX_STRING_BYTES)
    pad_at: int | None  # offset of the padding within the value (it runs to the value's end)
    pad: int  # the padding byte (00H or 20H) if pad_at is set
    charset: Charset

    def components(self) -> list[grammar.Component]:
        """The values, without a last one that may be cut short by the copy limit."""
        parts = grammar.components(self.vr, self.masked)
        return parts if self.complete else parts[:-1]


def _string_values(
    ctx: Context, rule: str, screen: Callable[[strings.StringTable], set[int]]
) -> Iterator[_StringValue]:
    """The values ``rule`` must check exactly (see :class:`_FileState`)."""
    yield from _state(ctx).candidates(rule, screen)


def _more(n: int, what: str) -> str:
    return f" (and {n} more {what})" if n else ""


# -- VALUE_TOO_LONG ---------------------------------------------------------------------------


_LENGTH_LIMITED = frozenset(
    v for v in _STRING_VRS if (i := specdata.vr_info(v)) is not None and i.max_length is not None
)


# Their grammar fixes the length: a longer value that breaks the grammar is a format fault only.
_GRAMMAR_BOUNDS_LENGTH = frozenset({"AS", "DA", "DT", "IS", "TM"})


@rule(
    "VALUE_TOO_LONG",
    "error",
    "PS3.5 6.2 Table 6.2-1",
    summary="A value longer than its VR allows (e.g. LO 64 characters, CS 16 bytes, UI 64 bytes)",
    why=(
        "Receivers size their fields and database columns by these limits: a PACS truncates the\n"
        "value (a UID cut short names another object, a cut patient ID matches another patient)\n"
        "or rejects the object; dciodvfy reports it as an error, pydicom warns when writing it.\n"
        "Limits are per value of a multi-valued element, per component group for PN, in bytes\n"
        "for AE AS CS DA DS DT IS TM UI and in characters (of the Specific Character Set) for\n"
        "SH LO ST LT PN."
    ),
    example="(0008,0060) CS [COMPUTED_TOMOGRAPHY] -> 19 bytes, CS allows 16",
)
def check_value_too_long(ctx: Context) -> Iterator[Finding]:
    for v in _string_values(ctx, "VALUE_TOO_LONG", _screen_too_long):
        if v.vr not in _LENGTH_LIMITED:
            continue
        info = specdata.vr_info(v.vr)
        if info is None or info.max_length is None:
            continue
        limit = info.max_length
        if len(v.content) <= limit:
            continue  # no value can be longer than the whole (a character is at least a byte)
        chars = info.max_length_unit == "chars"
        unit = "characters" if chars else "bytes"
        parts = grammar.components(v.vr, v.masked)
        if v.vr == "PN":  # 64 characters per component group (PS3.5 6.2.1)
            groups: list[grammar.Component] = []
            for p in parts:
                at = p.start
                for g in v.masked[p.start : p.end].split(b"="):
                    groups.append(grammar.Component(at, at + len(g)))
                    at += len(g) + 1
            parts = groups
        over: list[tuple[grammar.Component, int]] = []
        for p in parts:
            size = p.end - p.start
            if size <= limit:
                continue  # a character is at least one byte
            value = v.content[p.start : p.end]
            if v.vr in _GRAMMAR_BOUNDS_LENGTH and (
                grammar.find_bad_bytes(v.vr, value, value, v.charset) is not None
                or grammar.format_problem(v.vr, value) is not None
            ):
                continue  # e.g. DA '1997.04.24': VALUE_BAD_CHARACTERS/FORMAT say what is wrong
            count = grammar.char_count(value, v.charset) if chars else size
            if count > limit:
                over.append((p, count))
        if not over:
            continue
        p, count = over[0]
        at_least = "at least " if not v.complete and p.end == len(v.content) else ""
        what = "component group" if v.vr == "PN" else "value"
        yield ctx.finding(
            "VALUE_TOO_LONG",
            f"{v.vr} {what} '{grammar.shown(v.content[p.start : p.end], v.charset)}' is "
            f"{at_least}{count} {unit}, {v.vr} allows at most {limit}"
            f"{_more(len(over) - 1, what + 's')}",
            node=v.node,
            offset=v.start + p.start,
            length=p.end - p.start,
        )


# -- VALUE_BAD_CHARACTERS ---------------------------------------------------------------------


@batch_screen("VALUE_TOO_LONG")
def _batch_too_long(batch: Batch) -> npt.NDArray[np.bool_]:
    """The files holding a value the per-file screen does not clear (the same screen)."""
    return _batch_strings(batch).flagged(_screen_too_long)


@batch_screen("VALUE_BAD_CHARACTERS")
def _batch_bad_characters(batch: Batch) -> npt.NDArray[np.bool_]:
    """As VALUE_TOO_LONG's. A group of the batch holds its groups in each file: a group that
    does not decode whole in a file does not in the batch either."""
    return _batch_strings(batch).flagged(_screen_bad_characters)


@batch_screen("VALUE_BAD_FORMAT")
def _batch_bad_format(batch: Batch) -> npt.NDArray[np.bool_]:
    return _batch_strings(batch).flagged(_screen_bad_format)


@batch_screen("VALUE_BAD_PADDING")
def _batch_bad_padding(batch: Batch) -> npt.NDArray[np.bool_]:
    return _batch_strings(batch).flagged(_screen_bad_padding)


@batch_screen("VM_MISMATCH")
def _batch_vm(batch: Batch) -> npt.NDArray[np.bool_]:
    """The string values' screen, and the binary values judged as the check judges them."""
    rows, _counts, verdicts, which = _binary_vm(batch.columns)
    bad = np.array([v is not None for v in verdicts], dtype=np.bool_)
    out = _batch_strings(batch).flagged(_screen_vm)
    out[batch.file[rows[bad[which]]]] = True
    return out


def _screen_too_long(table: strings.StringTable) -> set[int]:
    """Values with a component (a PN component group) longer than the VR's limit in bytes; a
    character is at least a byte, so no other value can be too long. Component lengths come
    from the positions of the delimiters: numpy over every group at once."""
    if not table.groups:
        return set()
    limits = np.full(len(table.groups), -1, dtype=np.int64)
    multi = np.zeros(len(table.groups), dtype=np.bool_)
    pn = np.zeros(len(table.groups), dtype=np.bool_)
    for g, (vr, _cs, _start, _stop) in enumerate(table.groups):
        info = specdata.vr_info(vr)
        if info is not None and info.max_length is not None:
            limits[g] = info.max_length
        multi[g] = vr in grammar.MULTI_VALUED
        pn[g] = vr == "PN"  # '=' too: 64 characters per component group (PS3.5 6.2.1)
    raw = np.frombuffer(table.joined, dtype=np.uint8)
    group = table.byte_group
    boundary = raw == strings.SEPARATOR
    boundary |= (raw == 0x5C) & multi[group]
    boundary |= (raw == 0x3D) & pn[group]
    ends = np.flatnonzero(boundary)
    lengths = np.diff(ends, prepend=-1) - 1
    limit = limits[group[ends]]
    long = ends[(limit >= 0) & (lengths > limit)]
    return set(table.rows_of(long)) if len(long) else set()


def _screen_bad_characters(table: strings.StringTable) -> set[int]:
    """Values holding a byte their VR (and character set) forbids, found with a 256-entry table
    per group made from the grammar's own pattern, over every group at once; under UTF-8,
    GB18030 or GBK also every value with a byte >= 80H of a group that does not decode whole."""
    if not table.groups:
        return set()
    forbidden = np.zeros((len(table.groups), 256), dtype=np.bool_)
    rows: set[int] = set()
    for g, (vr, cs_id, start, stop) in enumerate(table.groups):
        cs = table.charsets[cs_id]
        pattern = grammar.forbidden_pattern(vr, cs)
        if pattern is not None:
            forbidden[g] = _forbidden_table(pattern)
        if vr in grammar.EXTENDED and cs.kind == CharsetKind.MULTI and cs.codec is not None:
            try:
                table.joined[start:stop].decode(cs.codec)
            except UnicodeDecodeError:
                rows.update(_rows_with_high_bytes(table, g))
    raw = np.frombuffer(table.joined, dtype=np.uint8)
    hits = np.flatnonzero(forbidden[table.byte_group, raw])
    if len(hits):
        rows.update(table.rows_of(hits))
    return rows


@cache
def _forbidden_table(pattern: re.Pattern[bytes]) -> npt.NDArray[np.bool_]:
    """Which single bytes ``pattern`` (a class of forbidden bytes) matches; never the
    separator after each value (a value that holds one is checked exactly anyway)."""
    forbidden = np.array([pattern.match(bytes([b])) is not None for b in range(256)])
    forbidden[strings.SEPARATOR] = False
    return forbidden


def _rows_with_high_bytes(table: strings.StringTable, group: int) -> list[int]:
    _vr, _cs, start, stop = table.groups[group]
    raw = np.frombuffer(table.joined, dtype=np.uint8, count=stop - start, offset=start)
    positions = (np.flatnonzero(raw >= 0x80) + start).tolist()
    return table.rows_at(group, positions) if positions else []


@rule(
    "VALUE_BAD_CHARACTERS",
    "error",
    "PS3.5 6.1, 6.2 Table 6.2-1",
    summary=(
        "Characters outside the VR's repertoire: lower case in CS, letters in UI/IS/DS/DA, "
        "control characters in strings, bytes >= 80H with no character set that defines them"
    ),
    why=(
        "Values are matched byte for byte: a lower-case CS term or a UID with a space never\n"
        "matches what a PACS or a query expects, and numbers with letters fail to parse. Control\n"
        "characters other than TAB/LF/FF/CR in texts (and ESC under ISO 2022 code extensions)\n"
        "corrupt displays and HL7/XML exports. Bytes >= 80H mean nothing in the default\n"
        "repertoire: without (0008,0005) every reader guesses a different encoding (mojibake in\n"
        "names); under ISO_IR 192 they must be valid UTF-8, under ISO 8859 sets no C1 control\n"
        "or unassigned position. Only SH LO ST LT UC UT PN may use (0008,0005)'s sets at all."
    ),
    example="(0008,0060) CS [ct] -> byte 63H ('c') is not upper case",
)
def check_value_bad_characters(ctx: Context) -> Iterator[Finding]:
    for v in _string_values(ctx, "VALUE_BAD_CHARACTERS", _screen_bad_characters):
        bad = grammar.find_bad_bytes(v.vr, v.content, v.masked, v.charset)
        if bad is None:
            continue
        cs_note = ""
        if v.vr in grammar.EXTENDED and v.content[bad.at] >= 0x80:
            if v.charset.kind == CharsetKind.DEFAULT:
                cs_note = " (no Specific Character Set (0008,0005) declares characters >= 80H)"
            else:
                # An unknown term is the file's own bytes.
                cs_note = f" under Specific Character Set '{terminal_safe(v.charset.label)}'"
        others = _more(bad.occurrences - 1, "such bytes")
        yield ctx.finding(
            "VALUE_BAD_CHARACTERS",
            f"{v.vr} value: {bad.what} at position {bad.at} is not allowed{cs_note}; "
            f"{v.vr} allows {grammar.repertoire_text(v.vr, v.charset)}{others}",
            node=v.node,
            offset=v.start + bad.at,
            length=bad.length,
        )


# -- VALUE_BAD_FORMAT -------------------------------------------------------------------------

_FORMATTED = frozenset({"AE", "AS", "DA", "DS", "DT", "IS", "PN", "TM", "UI"})

# One component that certainly has no format problem (grammar.format_problem): stricter than the
# grammar where that is simpler (a day past 28 is checked exactly), never laxer. An empty or
# all-space component is no value and is not judged (but AE: all spaces is a fault).
_TIME = rb"(?:[01]\d|2[0-3])(?:[0-5]\d(?:[0-5]\d(?:\.\d{1,6})?)?)?"
# Month and day: every day of every month but 29 February (a leap year question: exact check).
_MONTH_DAY = (
    rb"(?:(?:0[1-9]|1[0-2])(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])(?:29|30)|(?:0[13578]|1[02])31)"
)
_DAY = rb"[12]\d{3}" + _MONTH_DAY
_PN_GROUP = rb"[^=^\\\n]*(?:\^[^=^\\\n]*){0,4}"
_GOOD_COMPONENT: dict[str, bytes] = {
    "AE": rb"(?: *[^ \\\n][^\\\n]*)?",
    "AS": rb"(?:\d{3}[DWMY]| *)",
    "DA": rb"(?:" + _DAY + rb" *| *)",
    "DS": rb"(?: *[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)? *| *)",
    # A UTC offset within -1159..+1159 (the grammar allows -1200..+1400).
    "DT": rb"(?:[12]\d{3}(?:(?:0[1-9]|1[0-2])|"
    + _MONTH_DAY
    + rb"(?:"
    + _TIME
    + rb")?)?(?:[+-](?:0\d|1[01])[0-5]\d)? *| *)",
    "IS": rb"(?: *[+-]?\d{1,9} *| *)",  # nine digits always fit in 32 bits
    "PN": _PN_GROUP + rb"(?:=" + _PN_GROUP + rb"){0,2}",
    "TM": rb"(?:" + _TIME + rb" *| *)",
    "UI": rb"(?:(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*))*)?",
}


def _screen_bad_format(table: strings.StringTable) -> set[int]:
    present = {vr for vr, _cs, _start, _stop in table.groups}  # compile only what is needed
    patterns: dict[str, re.Pattern[bytes] | None] = {
        vr: strings.repeat(_GOOD_COMPONENT[vr], vr in grammar.MULTI_VALUED)
        for vr in _FORMATTED
        if vr != "DS" and vr in present
    }
    rows = strings.unmatched(table, patterns)
    for g, (vr, _cs, _start, _stop) in enumerate(table.groups):
        if vr == "DS":
            rows |= _plain_decimal_suspects(table, g)
    return rows


def _plain_decimal_suspects(table: strings.StringTable, group: int) -> set[int]:
    """Rows of a DS group that are not certainly plain decimals: numpy over the group's bytes
    instead of a regular expression per value (contours hold hundreds of thousands of them).
    Certainly fine: components of digits with an optional leading '-' and at most one '.'
    between digits (or empty), a subset of the DS grammar; anything else is checked exactly."""
    _vr, _cs, start, stop = table.groups[group]
    raw = np.frombuffer(table.joined, dtype=np.uint8, count=stop - start, offset=start)
    digit = (raw >= 0x30) & (raw <= 0x39)
    dot = raw == 0x2E
    minus = raw == 0x2D
    boundary = (raw == 0x5C) | (raw == strings.SEPARATOR)
    after_boundary = np.concatenate(([True], boundary[:-1]))
    digit_before = np.concatenate(([False], digit[:-1]))
    digit_after = np.concatenate((digit[1:], [False]))
    bad = ~(digit | dot | minus | boundary)
    bad |= minus & ~(after_boundary & digit_after)
    bad |= dot & ~(digit_before & digit_after)
    dots = np.flatnonzero(dot)
    if len(dots) > 1:
        component = np.cumsum(boundary)[dots]
        bad[dots[1:][component[1:] == component[:-1]]] = True  # a second '.' in a component
    positions = (np.flatnonzero(bad) + start).tolist()
    return set(table.rows_at(group, positions)) if positions else set()


@rule(
    "VALUE_BAD_FORMAT",
    "error",
    "PS3.5 6.2 Table 6.2-1, 6.2.1, 9.1",
    summary=(
        "A value that breaks its VR's grammar or range: DA/TM/DT not a calendar date/time (or a "
        "query range), AS not nnnD/W/M/Y, IS outside 32 bits, DS not a number, UI component "
        "with a leading zero or empty, PN with more than 3 groups or 5 components, AE all spaces"
    ),
    why=(
        "Readers parse these values: pydicom warns (raises in strict mode) on a DS/IS/DA/TM it\n"
        "cannot convert, a PACS stores an invalid date as NULL (the study drops out of date\n"
        "queries) or rejects the object, an IS beyond 32 bits overflows C readers, a UID\n"
        "component '01' makes the same object look like two (UIDs are compared as strings), and\n"
        "a PN with extra '^' loses name parts in HL7 conversion. Query forms (ranges '-') belong\n"
        "in C-FIND, not in files; the ACR-NEMA forms yyyy.mm.dd and HH:MM:SS are not DICOM 3.0\n"
        "values."
    ),
    example="(0008,0020) DA [20240230] -> day 30 is not 01-29 for 2024-02",
)
def check_value_bad_format(ctx: Context) -> Iterator[Finding]:
    for v in _string_values(ctx, "VALUE_BAD_FORMAT", _screen_bad_format):
        if v.vr not in _FORMATTED:
            continue
        subject = v.masked if v.vr == "PN" else v.content
        bad: list[tuple[grammar.Component, str]] = []
        clean = v.vr == "PN" or grammar.find_bad_bytes(v.vr, subject, subject, v.charset) is None
        for p in v.components():
            value = subject[p.start : p.end]
            if not clean and grammar.find_bad_bytes(v.vr, value, value, v.charset) is not None:
                continue  # a character fault: VALUE_BAD_CHARACTERS reports it
            problem = grammar.format_problem(v.vr, value)
            if problem is not None:
                bad.append((p, problem))
        if not bad:
            continue
        p, problem = bad[0]
        yield ctx.finding(
            "VALUE_BAD_FORMAT",
            f"{v.vr} value {problem}{_more(len(bad) - 1, 'bad values')}",
            node=v.node,
            offset=v.start + p.start,
            length=max(1, p.end - p.start),
        )


# -- VALUE_BAD_PADDING ------------------------------------------------------------------------


def _screen_bad_padding(table: strings.StringTable) -> set[int]:
    """Exactly the values padded with the wrong byte: a UI ending in 20H, another in 00H."""
    ui = table.vr_codes == _UI
    wrong = (ui & (table.last == 0x20)) | (~ui & (table.last == 0x00))
    return set(np.flatnonzero(wrong).tolist())


@rule(
    "VALUE_BAD_PADDING",
    "warning",
    "PS3.5 6.2 Table 6.2-1, 9.1",
    summary="A UI value padded with a space instead of NUL, or another string padded with NUL "
    "instead of a space",
    why=(
        "The padding byte is not part of the value, and readers strip only the one the VR calls\n"
        "for: a UID with a trailing space is a different string to a PACS (study and series\n"
        "matching fails, the same SOP Instance looks like two), and a NUL left in a name or code\n"
        "ends C strings early or shows as garbage; dciodvfy reports an invalid trailing\n"
        "character. A run of trailing NULs is reported once, as padding."
    ),
    example="(0020,000D) UI [1.2.3 ] -> padded with 20H; UIDs are padded with 00H",
)
def check_value_bad_padding(ctx: Context) -> Iterator[Finding]:
    for v in _string_values(ctx, "VALUE_BAD_PADDING", _screen_bad_padding):
        if v.pad_at is None:
            continue
        if v.vr == "UI" and v.pad == 0x20:
            message = "UI value padded with a space (20H); a UID is padded with NUL (00H)"
        elif v.vr != "UI" and v.pad == 0x00:
            message = (
                f"{v.vr} value padded with NUL (00H); {v.vr} values are padded with a space (20H)"
            )
        else:
            continue
        start = v.start + v.pad_at
        end = int(ctx.columns.end[v.node])
        if end - start > 1:
            message = message.replace("padded with NUL (00H)", f"padded with {end - start} NULs")
        yield ctx.finding(
            "VALUE_BAD_PADDING", message, node=v.node, offset=start, length=end - start
        )


# -- VM_MISMATCH ------------------------------------------------------------------------------


@rule(
    "VM_MISMATCH",
    "warning",
    "PS3.5 6.4; PS3.6 6",
    summary="Value multiplicity outside the dictionary's VM (e.g. 2 values where VM is 1, 5 "
    "where VM is 2-2n)",
    why=(
        "Readers index values by position: a receiver expecting Pixel Spacing (VM 2) reads one\n"
        "number and a garbage or missing second one, toolkits return a list where a scalar is\n"
        "expected (pydicom MultiValue vs str) and code breaks, a PACS keeps only the first\n"
        "value. An empty value (zero length) has VM 0 and is not judged: it is how a Type 2\n"
        "attribute says 'unknown'. Elements whose VR is not the dictionary's are skipped."
    ),
    example="(0028,0030) DS [0.5] -> 1 value, Pixel Spacing has VM 2",
)
def check_vm_mismatch(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    binary, counts, verdicts, which = _binary_vm(c)
    bad = np.array([v is not None for v in verdicts], dtype=np.bool_)
    for k in np.flatnonzero(bad[which]).tolist():
        i = int(binary[k])
        vm = verdicts[int(which[k])]
        assert vm is not None
        tag, vr, count = int(c.tag[i]), vr_text(int(c.vr[i])) or "", int(counts[k])
        yield _vm_finding(ctx, i, tag, vr, count, vm, exact=True)
    for v in _string_values(ctx, "VM_MISMATCH", _screen_vm):
        if v.vr not in grammar.MULTI_VALUED:
            continue
        if not v.content.strip(b" \0"):
            continue  # only padding: no value (VM 0)
        count = grammar.value_count(v.vr, v.masked)
        vm = _vm_violated(v.tag, v.vr, count)
        if vm is None:
            continue
        if not v.complete and (vm.high is None or count <= vm.high):
            continue  # more values may follow the bytes read
        yield _vm_finding(ctx, v.node, v.tag, v.vr, count, vm, exact=v.complete)


_NUMERIC_CODES = np.array([vr_code(v) for v in _NUMERIC_SIZES], dtype=np.uint16)


def _binary_vm(
    c: Columns,
) -> tuple[
    npt.NDArray[np.intp],
    npt.NDArray[np.int64],
    list[grammar.Multiplicity | None],
    npt.NDArray[np.intp],
]:
    """Binary numeric values: VM = length / value size, straight from the columns. The rows,
    their counts, and the verdicts (the broken VM, or None) per distinct (tag, VR, count),
    ``which`` giving each row's."""
    binary = np.flatnonzero(
        (c.kind == Kind.ELEMENT)
        & member(c.vr, _NUMERIC_CODES)
        & (c.length > 0)
        & (c.value_offset >= 0)
        & (c.end - c.value_offset == c.length)  # not cut by a length that overruns
    )
    sizes = _NUMERIC_SIZE_OF[c.vr[binary]]
    lengths = c.length[binary]
    whole = lengths % sizes == 0  # else VL_NOT_MULTIPLE_OF_VALUE_SIZE's business
    binary, sizes, lengths = binary[whole], sizes[whole], lengths[whole]
    counts = lengths // sizes
    found, which = distinct_pairs_inverse((c.tag[binary] << 16) | c.vr[binary], counts)
    verdicts = [_vm_violated(key >> 16, vr_text(key & 0xFFFF) or "", count) for key, count in found]
    return binary, counts, verdicts, which.reshape(-1)


def _screen_vm(table: strings.StringTable) -> set[int]:
    """Exactly the multi-valued values whose count of 5CH-separated values breaks the VM:
    counted over the joined contents, judged once per distinct (tag, VR, count)."""
    multi = member(table.vr_codes, _MULTI_VALUED_CODES)
    if not multi.any():
        return set()
    joined = np.frombuffer(table.joined, dtype=np.uint8)
    # Running counts over the joined bytes: a value's count is the difference at its ends.
    backslashes = np.concatenate(([0], np.cumsum(joined == 0x5C)))
    meaningful = np.concatenate(
        ([0], np.cumsum((joined != 0x20) & (joined != 0x00) & (joined != strings.SEPARATOR)))
    )
    start, stop = table.at, table.at + table.content
    count = backslashes[stop] - backslashes[start] + 1
    # Only padding: no value (VM 0), not judged.
    present = meaningful[stop] > meaningful[start]
    rows = np.flatnonzero(multi & present)
    # One int per (tag, VR, count). A count past 2**15 - 1 is judged as 2**15 - 1: that can
    # only flag a value the exact check then clears (the dictionary's bounds are small, and
    # its steps do not divide 2**15 - 1), never clear one it would flag.
    keys = (
        (table.tags[rows] << 31)
        | (table.vr_codes[rows].astype(np.int64) << 15)
        | np.minimum(count[rows], (1 << 15) - 1)
    )
    found, which = distinct_inverse(keys)
    bad = np.array(
        [
            _vm_violated(key >> 31, vr_text((key >> 15) & 0xFFFF) or "", key & 0x7FFF) is not None
            for key in found.tolist()
        ],
        dtype=np.bool_,
    )
    return set(rows[bad[which.reshape(-1)]].tolist())


_MULTI_VALUED_CODES = np.array([vr_code(v) for v in grammar.MULTI_VALUED], dtype=np.int64)


@lru_cache(maxsize=4096)
def _vm_violated(tag: int, vr: str, count: int) -> grammar.Multiplicity | None:
    """The dictionary's VM if ``count`` values of ``vr`` break it (None: fine or not judged)."""
    entry = specdata.lookup(tag)
    if entry is None or vr not in entry.vrs:
        return None
    vm = grammar.parse_vm(entry.vm)
    if vm is None or vm.allows(count):
        return None
    return vm


def _vm_finding(
    ctx: Context, node: int, tag: int, vr: str, count: int, vm: grammar.Multiplicity, exact: bool
) -> Finding:
    name = specdata.keyword(tag) or "this element"
    values = "value" if count == 1 else "values"
    return ctx.finding(
        "VM_MISMATCH",
        f"{vr} value holds {'' if exact else 'at least '}{count} {values}; {name} has VM {vm.text}",
        node=node,
        offset=int(ctx.columns.value_offset[node]),
        length=int(ctx.columns.end[node]) - int(ctx.columns.value_offset[node]),
    )


# -- SPECIFIC_CHARACTER_SET_UNKNOWN -----------------------------------------------------------

_ISO2022_TERMS = frozenset(
    {*grammar.ISO2022_SINGLE, *grammar.ISO2022_MULTI_G0, *grammar.ISO2022_MULTI_G1}
)


@rule(
    "SPECIFIC_CHARACTER_SET_UNKNOWN",
    "warning",
    "PS3.3 C.12.1.1.2; PS3.5 6.1.2.5",
    summary=(
        "(0008,0005) holds a value that is not a Defined Term of PS3.3 C.12.1.1.2 (or, when "
        "multi-valued, not an ISO 2022 term)"
    ),
    why=(
        "Readers map the term to a decoder: an unknown term (a typo, 'ISO_IR 6', 'UTF-8',\n"
        "'ISO-8859-1') makes pydicom warn and fall back to a default decoding and dcmtk's\n"
        "character set conversion (dcmconv +U8) fail, so names come out as mojibake or are\n"
        "rejected. Several values mean ISO 2022 code extensions; ISO_IR 192, GB18030 and GBK\n"
        "cannot take part in them. An empty first value of a multi-valued set is allowed (it\n"
        "stands for ISO 2022 IR 6)."
    ),
    example="(0008,0005) CS [ISO_IR 6] -> not a defined term (leave it empty for ASCII)",
)
def check_specific_character_set(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    nodes = _declared_charsets(c)
    for i in nodes.tolist():
        raw = ctx.value_bytes(i, _CHARSET_VALUE_BYTES)
        start = int(c.value_offset[i])
        for at, size, problem in _charset_problems(raw):
            yield ctx.finding(
                "SPECIFIC_CHARACTER_SET_UNKNOWN",
                f"Specific Character Set {problem}",
                node=i,
                offset=start + at,
                length=size,
            )


def _declared_charsets(c: Columns) -> npt.NDArray[np.intp]:
    return np.flatnonzero(_charset_elements(c) & (c.length > 0) & (c.value_offset >= 0))


@lru_cache(maxsize=256)
def _charset_problems(raw: bytes | None) -> tuple[tuple[int, int, str], ...]:
    """What is wrong with a (0008,0005) value: (offset in the value, length, problem) each."""
    if not raw or not raw.strip(b" \0"):
        return ()
    out: list[tuple[int, int, str]] = []
    terms = grammar.split_terms(raw)
    multi = len(terms) > 1
    for n, (at, term) in enumerate(terms):
        problem: str | None = None
        if not term:
            if n > 0:
                problem = f"value {n + 1} is empty; only value 1 may be empty"
        elif term == grammar.DEFAULT_ALIAS:
            problem = (
                "'ISO_IR 6' is not a Defined Term: the default repertoire is declared by "
                "leaving (0008,0005) empty or absent (or 'ISO 2022 IR 6' with code extensions)"
            )
        elif term not in grammar.DEFINED_TERMS:
            shown = grammar.shown(term.encode("latin-1"))
            problem = f"'{shown}' is not a Defined Term of PS3.3 C.12.1.1.2"
        elif multi and term not in _ISO2022_TERMS:
            problem = (
                f"'{term}' cannot be one of several values: several values mean ISO 2022 "
                "code extensions, which need the 'ISO 2022 IR nnn' terms"
            )
        if problem is None:
            continue
        size = len(term.encode("latin-1"))
        out.append((at if size else max(0, at - 1), max(1, size), problem))
    return tuple(out)


@batch_screen("SPECIFIC_CHARACTER_SET_UNKNOWN")
def _batch_charset(batch: Batch) -> npt.NDArray[np.bool_]:
    """The files with a (0008,0005) value that has a problem: the check's own verdict, on
    the same bytes (one short read per file that has one)."""
    out = np.zeros(len(batch), dtype=np.bool_)
    for i in _declared_charsets(batch.columns).tolist():
        f = int(batch.file[i])
        if not out[f]:
            raw = batch.value_bytes(i, _CHARSET_VALUE_BYTES)
            out[f] = bool(_charset_problems(raw))
    return out


# -- VR_MISMATCH_DICTIONARY -------------------------------------------------------------------


@rule(
    "VR_MISMATCH_DICTIONARY",
    "warning",
    "PS3.5 7.1.2, 6.2.2; PS3.6 6",
    summary="An explicit VR that is none of the dictionary's VRs for a standard data element "
    "(UN is accepted: PS3.5 6.2.2 lets a writer that does not know the VR send UN)",
    why=(
        "Readers of Explicit VR decode the value by the VR in the file, readers of Implicit VR\n"
        "(and any conversion to it) by the dictionary: the two disagree on the same bytes, e.g.\n"
        "US read as SS turns 40000 into -25536, a DS written as FD becomes 8 unreadable bytes,\n"
        "and a PACS that re-encodes by the dictionary corrupts the value. Checked for standard\n"
        "tags (even groups, not group lengths) with a VR code of PS3.5; invalid VR bytes are\n"
        "INVALID_VR, private and unknown tags have no dictionary VR."
    ),
    example="(0028,0010) Rows  VR 'SS' -> the dictionary says US",
)
def check_vr_mismatch_dictionary(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    nodes, expected, which = _vr_mismatches(c)
    for j in np.flatnonzero(np.array([e is not None for e in expected], dtype=np.bool_)[which]):
        i = int(nodes[j])
        vrs = expected[int(which[j])] or ()
        tag = int(c.tag[i])
        vr = vr_text(int(c.vr[i])) or ""
        name = specdata.keyword(tag) or "this element"
        yield ctx.finding(
            "VR_MISMATCH_DICTIONARY",
            f"explicit VR '{vr}', but the dictionary gives {name} VR {' or '.join(vrs)}",
            node=i,
            offset=int(c.offset[i]) + 4,
            length=2,
        )


@batch_screen("VR_MISMATCH_DICTIONARY")
def _batch_vr_mismatch(batch: Batch) -> npt.NDArray[np.bool_]:
    """The check's own verdicts, over the batch's rows at once."""
    nodes, expected, which = _vr_mismatches(batch.columns)
    bad = np.array([e is not None for e in expected], dtype=np.bool_)
    return batch.files_with(nodes[bad[which]])


def _vr_mismatches(
    c: Columns,
) -> tuple[npt.NDArray[np.intp], list[tuple[str, ...] | None], npt.NDArray[np.int64]]:
    """The explicit VRs judged, their verdicts (the dictionary's VRs where the VR is none of
    them, else None) per distinct (tag, VR), and ``which`` giving each node's."""
    tags = c.tag
    nodes = np.flatnonzero(
        (c.kind == Kind.ELEMENT)
        & c.vr_explicit
        & ((tags >> 16) & 1 == 0)
        # Group lengths are left out (they are retired, and generic in the dictionary), but for
        # (0002,0000), a real attribute with its own VR (UL).
        & ((tags & 0xFFFF != 0) | (tags == 0x00020000))
        & (tags <= 0xFFFFFFFF)
        & member(c.vr, _VALID_CODES)
        & (c.vr != _UN)
        & (tags != PIXEL_DATA)  # PIXEL_DATA_VR_INVALID owns Pixel Data's VR,
        & (tags != FILE_META_VERSION)  # and META_VERSION_INVALID (0002,0001)'s
    )
    if nodes.size == 0:
        return nodes, [], np.zeros(0, dtype=np.int64)
    keys = (tags[nodes] << 16) | c.vr[nodes].astype(np.int64)
    unique, which = distinct_inverse(keys)
    return nodes, [_dictionary_vrs_if_not(key) for key in unique.tolist()], which


@lru_cache(maxsize=4096)
def _dictionary_vrs_if_not(key: int) -> tuple[str, ...] | None:
    """For a (tag << 16 | VR code): the dictionary's VRs if the VR is none of them."""
    tag, vr = key >> 16, vr_text(key & 0xFFFF) or ""
    entry = specdata.lookup(tag)
    if entry is None or entry.vrs[0] == "NONE" or vr in entry.vrs:
        return None
    return entry.vrs
