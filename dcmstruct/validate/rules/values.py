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

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dcmstruct import specdata
from dcmstruct.model import Kind, Stream, vr_code, vr_text
from dcmstruct.safetext import terminal_safe
from dcmstruct.validate import grammar
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.grammar import Charset, CharsetKind
from dcmstruct.validate.registry import rule

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
_VALID_CODES = np.array(sorted(vr_code(v) for v in specdata.VR_CODES), dtype=np.uint16)
_UN = vr_code("UN")
_VR_TEXT: dict[int, str] = {vr_code(v): v for v in specdata.VR_CODES}
#: String values of one file are kept between the rules while they take at most this much.
_CACHE_BYTES = 32 << 20


PIXEL_DATA = 0x7FE00010
FILE_META_VERSION = 0x00020001


def _bulk_data(tags: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Pixel, overlay and waveform data and trailing padding: never read as strings, even when
    written with a string VR (the pixel rules report that VR)."""
    group, element = tags >> 16, tags & 0xFFFF
    mask: npt.NDArray[np.bool_] = (
        ((group == 0x7FE0) & np.isin(element, (0x0008, 0x0009, 0x0010)))
        | ((group >= 0x6000) & (group <= 0x601E) & (group % 2 == 0) & (element == 0x3000))
        | ((group == 0x5400) & (element == 0x1010))
        | (tags == 0xFFFCFFFC)
    )
    return mask


# -- per-file state: which nodes hold strings, which character set is in force where ----------


class _FileState:
    """What the value rules of one file share: computed once, dropped with the Context."""

    def __init__(self, ctx: Context) -> None:
        # No reference to ``ctx`` itself: it is this object's key in a WeakKeyDictionary.
        c = self.columns = ctx.columns
        self.sources = ctx.index.sources
        self.index = ctx.index
        self.parent = c.parent
        elements = c.kind == Kind.ELEMENT
        # A value whose length field overruns its container (VALUE_OVERRUNS_PARENT,
        # FILE_TRUNCATED) is left out: the bytes there are not the value its header describes.
        self.strings: npt.NDArray[np.intp] = np.flatnonzero(
            elements
            & np.isin(c.vr, _STRING_CODES)
            & ~_bulk_data(c.tag)
            & (c.length > 0)
            & (c.value_offset >= 0)
            & (c.end - c.value_offset == c.length)
        )
        self.own: dict[int, Charset] = {}
        for i in np.flatnonzero(elements & (c.tag == SPECIFIC_CHARACTER_SET)).tolist():
            owner = int(c.parent[i])
            if owner not in self.own:
                self.own[owner] = grammar.parse_charset(ctx.value_bytes(i, _CHARSET_VALUE_BYTES))
        self.memo: dict[int, Charset] = {}
        self.cached: list[_StringValue] | None = None

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

    def values(self) -> Iterable[_StringValue]:
        """Every string value; kept for the next rule when they fit :data:`_CACHE_BYTES`."""
        if self.cached is not None:
            return self.cached
        c = self.columns
        nodes = self.strings
        copied = np.minimum(c.end[nodes] - c.value_offset[nodes], MAX_STRING_BYTES)
        if int(copied.sum()) <= _CACHE_BYTES:
            self.cached = list(self.read())
            return self.cached
        return self.read()

    def read(self) -> Iterator[_StringValue]:
        c = self.columns
        nodes = self.strings
        read = self.index.read
        rows = zip(
            nodes.tolist(),
            c.tag[nodes].tolist(),
            c.vr[nodes].tolist(),
            c.value_offset[nodes].tolist(),
            c.end[nodes].tolist(),
            c.length[nodes].tolist(),
            c.parent[nodes].tolist(),
            c.stream[nodes].tolist(),
            strict=True,
        )
        for node, tag, vrc, start, end, declared, parent, stream in rows:
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
            if tag >> 16 == 0x0002:
                charset = grammar.DEFAULT  # PS3.10 7.1: the meta group: default repertoire
            else:
                charset = self.charset(parent if parent >= 0 else -1)
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


@dataclass(frozen=True, slots=True)
class _StringValue:
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


def _string_values(ctx: Context, vrs: frozenset[str] | None = None) -> Iterator[_StringValue]:
    for v in _state(ctx).values():
        if vrs is None or v.vr in vrs:
            yield v


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
    for v in _string_values(ctx, _LENGTH_LIMITED):
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
    for v in _string_values(ctx):
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
        others = _more(bad.count - 1, "such bytes")
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
    for v in _string_values(ctx, _FORMATTED):
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
    for v in _string_values(ctx):
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
    # Binary numeric VRs: VM = length / value size, straight from the columns.
    codes = np.array([vr_code(v) for v in _NUMERIC_SIZES], dtype=np.uint16)
    binary = np.flatnonzero(
        (c.kind == Kind.ELEMENT)
        & np.isin(c.vr, codes)
        & (c.length > 0)
        & (c.value_offset >= 0)
        & (c.end - c.value_offset == c.length)  # not cut by a length that overruns
    )
    verdicts: dict[tuple[int, int, int], grammar.Multiplicity | None] = {}
    for i in binary.tolist():
        tag, vrc, length = int(c.tag[i]), int(c.vr[i]), int(c.length[i])
        vr = vr_text(vrc) or ""
        size = _NUMERIC_SIZES[vr]
        if length % size:
            continue  # VL_NOT_MULTIPLE_OF_VALUE_SIZE's business
        count = length // size
        key = (tag, vrc, count)
        if key not in verdicts:
            verdicts[key] = _vm_violated(tag, vr, count)
        vm = verdicts[key]
        if vm is not None:
            yield _vm_finding(ctx, i, tag, vr, count, vm, exact=True)
    for v in _string_values(ctx, grammar.MULTI_VALUED):
        if not v.content.strip(b" \0"):
            continue  # only padding: no value (VM 0)
        count = grammar.value_count(v.vr, v.masked)
        vm = _vm_violated(v.tag, v.vr, count)
        if vm is None:
            continue
        if not v.complete and (vm.high is None or count <= vm.high):
            continue  # more values may follow the bytes read
        yield _vm_finding(ctx, v.node, v.tag, v.vr, count, vm, exact=v.complete)


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
    nodes = np.flatnonzero(
        (c.kind == Kind.ELEMENT)
        & (c.tag == SPECIFIC_CHARACTER_SET)
        & (c.length > 0)
        & (c.value_offset >= 0)
    )
    for i in nodes.tolist():
        raw = ctx.value_bytes(i, _CHARSET_VALUE_BYTES)
        if not raw or not raw.strip(b" \0"):
            continue
        terms = grammar.split_terms(raw)
        start = int(c.value_offset[i])
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
            yield ctx.finding(
                "SPECIFIC_CHARACTER_SET_UNKNOWN",
                f"Specific Character Set {problem}",
                node=i,
                offset=start + (at if size else max(0, at - 1)),
                length=max(1, size),
            )


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
    tags = c.tag
    nodes = np.flatnonzero(
        (c.kind == Kind.ELEMENT)
        & c.vr_explicit
        & ((tags >> 16) & 1 == 0)
        & (tags & 0xFFFF != 0)
        & (tags <= 0xFFFFFFFF)
        & np.isin(c.vr, _VALID_CODES)
        & (c.vr != _UN)
        & (tags != PIXEL_DATA)  # PIXEL_DATA_VR_INVALID owns Pixel Data's VR,
        & (tags != FILE_META_VERSION)  # and META_VERSION_INVALID (0002,0001)'s
    )
    if nodes.size == 0:
        return
    keys = (tags[nodes] << 16) | c.vr[nodes].astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    expected: list[tuple[str, ...] | None] = []
    for key in unique.tolist():
        tag, vr = key >> 16, vr_text(key & 0xFFFF) or ""
        entry = specdata.lookup(tag)
        if entry is None or entry.vrs[0] == "NONE" or vr in entry.vrs:
            expected.append(None)
        else:
            expected.append(entry.vrs)
    bad = np.flatnonzero(np.array([e is not None for e in expected], dtype=np.bool_)[inverse])
    for j in bad.tolist():
        i = int(nodes[j])
        vrs = expected[int(inverse[j])] or ()
        tag = int(tags[i])
        vr = vr_text(int(c.vr[i])) or ""
        name = specdata.keyword(tag) or "this element"
        yield ctx.finding(
            "VR_MISMATCH_DICTIONARY",
            f"explicit VR '{vr}', but the dictionary gives {name} VR {' or '.join(vrs)}",
            node=i,
            offset=int(c.offset[i]) + 4,
            length=2,
        )
