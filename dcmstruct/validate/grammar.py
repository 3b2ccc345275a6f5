"""The grammars and character repertoires of the string VRs (PS3.5 6.1, 6.2 Table 6.2-1), and
the character sets that (0008,0005) Specific Character Set may declare (PS3.3 C.12.1.1.2).

Everything here works on raw bytes (offsets stay countable) and is regex-driven, so a check costs
C time per byte, not Python time. Nothing here knows about the index: the value rules
(:mod:`dcmstruct.validate.rules.values`) feed it values and turn its answers into findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from functools import cache, lru_cache
from typing import AnyStr, Final, NamedTuple


def _lazy(source: AnyStr) -> Callable[[], re.Pattern[AnyStr]]:
    """A regular expression compiled at its first use, not at import: a command's start-up
    pays only for the ones the file in hand needs."""
    return cache(lambda: re.compile(source))


# ---------------------------------------------------------------------------------------------
# Specific Character Set (0008,0005): PS3.3 C.12.1.1.2 Tables C.12-2 .. C.12-5
# ---------------------------------------------------------------------------------------------

#: Table C.12-2: single-byte character sets without code extensions -> Python codec.
SINGLE_BYTE: Final[dict[str, str]] = {
    "ISO_IR 100": "latin_1",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3",
    "ISO_IR 110": "iso8859_4",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 127": "iso8859_6",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 138": "iso8859_8",
    "ISO_IR 148": "iso8859_9",
    "ISO_IR 203": "iso8859_15",
    "ISO_IR 13": "jis_x_0201",  # G1: half-width katakana A1H-DFH (checked by hand, no codec)
    "ISO_IR 166": "tis_620",
}
#: Table C.12-3: single-byte character sets with code extensions (ISO 2022 escapes).
ISO2022_SINGLE: Final[dict[str, str]] = {
    "ISO 2022 IR 6": "ascii",
    **{"ISO 2022 IR " + term[7:]: codec for term, codec in SINGLE_BYTE.items()},
}
#: Table C.12-4: multi-byte character sets with code extensions. G0 sets (IR 87 JIS X 0208,
#: IR 159 JIS X 0212) are 7-bit byte pairs; G1 sets (IR 149 KS X 1001, IR 58 GB 2312) use
#: bytes A1H-FEH.
ISO2022_MULTI_G0: Final[frozenset[str]] = frozenset({"ISO 2022 IR 87", "ISO 2022 IR 159"})
ISO2022_MULTI_G1: Final[frozenset[str]] = frozenset({"ISO 2022 IR 149", "ISO 2022 IR 58"})
#: Table C.12-5: multi-byte character sets without code extensions -> Python codec.
NO_EXTENSION_MULTI: Final[dict[str, str]] = {
    "ISO_IR 192": "utf_8",
    "GB18030": "gb18030",
    "GBK": "gbk",
}
DEFINED_TERMS: Final[frozenset[str]] = frozenset(
    {*SINGLE_BYTE, *ISO2022_SINGLE, *ISO2022_MULTI_G0, *ISO2022_MULTI_G1, *NO_EXTENSION_MULTI}
)
#: Not a defined term, but what many writers put for the default repertoire (which PS3.3
#: C.12.1.1.2 declares by leaving (0008,0005) absent or empty). Read as the default repertoire.
DEFAULT_ALIAS: Final = "ISO_IR 6"


class CharsetKind(Enum):
    DEFAULT = "default"  # ISO-IR 6 only: no byte >= 80H
    SINGLE = "single"  # one ISO 8859-like set, no code extensions
    ISO2022 = "iso2022"  # code extensions: ESC sequences switch between the declared sets
    MULTI = "multi"  # UTF-8, GB18030, GBK: checked by strict decoding
    UNKNOWN = "unknown"  # a term this module does not know: extended bytes are not judged


class Charset(NamedTuple):
    """The character set(s) in force for a data set (PS3.5 6.1.2.5, 7.5.3 inheritance)."""

    terms: tuple[str, ...]
    kind: CharsetKind
    codec: str | None = None  # SINGLE / MULTI: the codec bytes >= 80H must decode with
    high_ok: bool = False  # ISO2022: a G1 set is declared, so bytes A0H-FFH may occur
    g0_multibyte: bool = False  # ISO2022: IR 87 / IR 159 declared (7-bit byte pairs)
    g1_multibyte: bool = False  # ISO2022: IR 149 / IR 58 declared (8-bit byte pairs)

    @property
    def escapes(self) -> bool:
        """ESC (1BH) is allowed in values: the set uses ISO 2022 code extensions."""
        return self.kind == CharsetKind.ISO2022

    @property
    def label(self) -> str:
        return "\\".join(self.terms) if self.terms else "default repertoire"


DEFAULT: Final = Charset((), CharsetKind.DEFAULT)


def split_terms(raw: bytes) -> list[tuple[int, str]]:
    """The values of a (0008,0005) value as (offset in ``raw``, term with spaces stripped)."""
    out: list[tuple[int, str]] = []
    at = 0
    for part in raw.split(b"\\"):
        text = part.decode("latin-1")
        stripped = text.strip(" \0")
        out.append((at + (len(text) - len(text.lstrip(" \0"))), stripped))
        at += len(part) + 1
    return out


def parse_charset(raw: bytes | None) -> Charset:
    """The character set a (0008,0005) value declares (None or blank: the default)."""
    if raw is None:
        return DEFAULT
    terms = tuple(t for _, t in split_terms(raw))
    if all(not t for t in terms):
        return DEFAULT
    if len(terms) == 1:
        term = terms[0]
        if term == DEFAULT_ALIAS:
            return Charset(terms, CharsetKind.DEFAULT)
        if term in SINGLE_BYTE:
            return Charset(terms, CharsetKind.SINGLE, codec=SINGLE_BYTE[term])
        if term in NO_EXTENSION_MULTI:
            return Charset(terms, CharsetKind.MULTI, codec=NO_EXTENSION_MULTI[term])
        if term in ISO2022_SINGLE:
            return Charset(terms, CharsetKind.ISO2022, high_ok=term != "ISO 2022 IR 6")
    if any(t and t not in DEFINED_TERMS and t != DEFAULT_ALIAS for t in terms):
        return Charset(terms, CharsetKind.UNKNOWN)
    multi = [t for t in terms if t in NO_EXTENSION_MULTI]
    if multi:
        # UTF-8/GB18030/GBK among several values (SPECIFIC_CHARACTER_SET_UNKNOWN reports it):
        # decode as readers do, by that set, rather than cascade character faults.
        return Charset(terms, CharsetKind.MULTI, codec=NO_EXTENSION_MULTI[multi[0]])
    # Several values (or one multi-byte ISO 2022 set): ISO 2022 code extensions (PS3.5 6.1.2.5).
    present = set(terms)
    return Charset(
        terms,
        CharsetKind.ISO2022,
        high_ok=bool(present - {"", "ISO 2022 IR 6", DEFAULT_ALIAS} - ISO2022_MULTI_G0),
        g0_multibyte=bool(present & ISO2022_MULTI_G0),
        g1_multibyte=bool(present & ISO2022_MULTI_G1),
    )


# ---------------------------------------------------------------------------------------------
# Multi-byte masking: so that a 5CH inside a character is never read as a delimiter
# ---------------------------------------------------------------------------------------------

_MASK = 0xA1  # a byte no delimiter check or control check reacts to
# GB18030 4-byte and GBK/GB18030 2-byte characters: their trailing bytes may be 5CH ('\').
_GB_CHAR = _lazy(rb"[\x81-\xfe](?:[\x30-\x39][\x81-\xfe][\x30-\x39]|[\x40-\x7e\x80-\xfe])")
_HIGH = _lazy(rb"[\x80-\xff]")
# ISO 2022: after ESC $ B / ESC $ @ / ESC $ ( D (JIS X 0208/0212 in G0) the bytes up to the next
# ESC are 7-bit byte pairs; PS3.5 6.1.2.5.3 requires a switch back before any delimiter.
_G0_MULTIBYTE_RUN = _lazy(rb"(\x1b\$\(?[@BD])([^\x1b]*)")
_ESCAPE_SEQUENCE = _lazy(rb"\x1b[\x20-\x2f]*[\x30-\x7e]?")


def _mask_run(m: re.Match[bytes]) -> bytes:
    return bytes([_MASK]) * len(m.group(0))


def _mask_g0(m: re.Match[bytes]) -> bytes:
    # 'A': a graphic character every extended VR allows, and no delimiter.
    return m.group(1) + b"A" * len(m.group(2))


def mask_multibyte(raw: bytes, cs: Charset) -> bytes:
    """``raw`` with the bytes of multi-byte characters masked (same length): GBK/GB18030
    characters by A1H, ISO 2022 JIS X 0208/0212 byte pairs by 'A'; so that delimiters (\\ ^ =)
    and control characters can be searched for byte-wise."""
    if cs.kind == CharsetKind.MULTI and cs.codec in ("gbk", "gb18030") and _HIGH().search(raw):
        return _GB_CHAR().sub(_mask_run, raw)
    if cs.kind == CharsetKind.ISO2022 and cs.g0_multibyte and b"\x1b$" in raw:
        return _G0_MULTIBYTE_RUN().sub(_mask_g0, raw)
    return raw


def char_count(raw: bytes, cs: Charset) -> int:
    """How many characters ``raw`` holds in ``cs`` (escape sequences are no characters)."""
    if cs.kind == CharsetKind.MULTI and cs.codec is not None:
        return len(raw.decode(cs.codec, "replace"))
    if cs.kind != CharsetKind.ISO2022 or (b"\x1b" not in raw and not cs.g1_multibyte):
        return len(raw)
    count = 0
    g0_pairs = False
    g1_pairs = False
    pos = 0
    for m in _ESCAPE_SEQUENCE().finditer(raw):
        count += _segment_chars(raw[pos : m.start()], g0_pairs, g1_pairs and cs.g1_multibyte)
        seq = m.group(0)
        if seq[1:3] == b"$)":
            g1_pairs = True
        elif seq[1:2] in (b"-", b")"):
            g1_pairs = False
        elif seq[1:2] == b"$":
            g0_pairs = True
        elif seq[1:2] == b"(":
            g0_pairs = False
        pos = m.end()
    return count + _segment_chars(raw[pos:], g0_pairs, g1_pairs and cs.g1_multibyte)


def _segment_chars(seg: bytes, g0_pairs: bool, g1_pairs: bool) -> int:
    high = len(_HIGH().findall(seg)) if seg else 0
    low = len(seg) - high
    return (
        (low + 1) // 2 * int(g0_pairs)
        + low * int(not g0_pairs)
        + ((high + 1) // 2 if g1_pairs else high)
    )


# ---------------------------------------------------------------------------------------------
# Character repertoires per VR (PS3.5 Table 6.2-1, 6.1.3 control characters)
# ---------------------------------------------------------------------------------------------

#: VRs whose values are separated by 5CH (PS3.5 6.4); LT, ST, UT and UR are always single-valued.
MULTI_VALUED: Final[frozenset[str]] = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UC", "UI"}
)
#: VRs that may hold characters of (0008,0005)'s sets; the others use the default repertoire.
EXTENDED: Final[frozenset[str]] = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
#: Text VRs: the control characters TAB, LF, FF, CR are allowed (PS3.5 6.1.3, Table 6.2-1).
TEXT: Final[frozenset[str]] = frozenset({"ST", "LT", "UT"})

# What each default-repertoire VR may hold, as the complement (a class of forbidden bytes).
# DA/TM/DT also admit the punctuation of their legacy and query forms ('-', ':', '.'): a value
# written in such a form is a format fault (VALUE_BAD_FORMAT), not a character fault.
_FORBIDDEN: Final[dict[str, bytes]] = {
    "AE": rb"[^\x20-\x5b\x5d-\x7e]",  # default repertoire, no '\' and no control characters
    "AS": rb"[^0-9DWMY ]",
    "CS": rb"[^A-Z0-9 _\\]",
    "DA": rb"[^0-9\-. \\]",
    "DS": rb"[^0-9+\-.eE \\]",
    "DT": rb"[^0-9+\-. \\]",
    "IS": rb"[^0-9+\- \\]",
    "TM": rb"[^0-9.:\- \\]",
    "UI": rb"[^0-9.\\]",
    # RFC 3986 section 2: unreserved, reserved and '%'; trailing spaces are stripped before.
    "UR": rb"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]",
}
REPERTOIRE_TEXT: Final[dict[str, str]] = {
    "AE": "the default repertoire without '\\' and control characters",
    "AS": "0-9 D W M Y",
    "CS": "upper-case A-Z, 0-9, space and '_'",
    "DA": "0-9",
    "DS": "0-9 + - . E e and space",
    "DT": "0-9 + - . and space",
    "IS": "0-9 + - and space",
    "TM": "0-9 . and space",
    "UI": "0-9 and '.'",
    "UR": "the URI characters of RFC 3986 section 2",
}


@cache
def _forbidden_default(vr: str) -> re.Pattern[bytes]:
    return re.compile(_FORBIDDEN[vr])


@lru_cache(maxsize=256)
def _forbidden_extended(vr: str, cs: Charset) -> re.Pattern[bytes]:
    """Forbidden bytes of SH/LO/PN/UC (no control but ESC) and ST/LT/UT (TAB LF FF CR too)."""
    controls = rb"\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f" if vr in TEXT else rb"\x00-\x1a\x1c-\x1f\x7f"
    esc = b"" if cs.escapes else rb"\x1b"
    if cs.kind == CharsetKind.DEFAULT:
        high = rb"\x80-\xff"
    elif cs.kind == CharsetKind.SINGLE and cs.codec is not None:
        high = _bad_high_bytes(cs.codec)
    elif cs.kind == CharsetKind.ISO2022:
        high = rb"\x80-\x9f" if cs.high_ok else rb"\x80-\xff"
    else:  # MULTI (checked by decoding) or UNKNOWN (not judged)
        high = b""
    return re.compile(b"[" + controls + esc + high + b"]")


@cache
def _bad_high_bytes(codec: str) -> bytes:
    """A regex class of the bytes 80H-FFH a single-byte set does not define: C1 controls
    (80H-9FH) and unassigned positions (e.g. AEH in ISO 8859-7)."""
    bad = []
    for b in range(0x80, 0x100):
        if b < 0xA0:
            ok = False
        elif codec == "jis_x_0201":
            ok = 0xA1 <= b <= 0xDF
        else:
            try:
                bytes([b]).decode(codec)
                ok = True
            except UnicodeDecodeError:
                ok = False
        if not ok:
            bad.append(b"\\x%02x" % b)
    return b"".join(bad)


class BadBytes(NamedTuple):
    """The first forbidden byte (or undecodable sequence) and how many forbidden bytes in all."""

    at: int
    length: int
    occurrences: int
    what: str  # "byte 61H ('a')", "invalid UTF-8 sequence E2 28"


def forbidden_pattern(vr: str, cs: Charset) -> re.Pattern[bytes] | None:
    """The class of bytes ``vr`` forbids under ``cs``, as :func:`find_bad_bytes` searches it
    (None: the VR has no byte-level repertoire here). Beyond it, UTF-8/GB18030/GBK values must
    decode, and UR values are judged without their trailing spaces."""
    if vr in EXTENDED:
        return _forbidden_extended(vr, cs)
    if vr in _FORBIDDEN:
        return _forbidden_default(vr)
    return None


def find_bad_bytes(vr: str, content: bytes, masked: bytes, cs: Charset) -> BadBytes | None:
    """Where ``content`` (the value without its padding byte) leaves ``vr``'s repertoire.
    ``masked`` is ``content`` through :func:`mask_multibyte` (same length)."""
    if vr in EXTENDED:
        # '\' is allowed: the value delimiter of SH/LO/PN/UC, a character of ST/LT/UT.
        pattern = _forbidden_extended(vr, cs)
        hits = [m.start() for m in pattern.finditer(masked)]
        if hits:
            first = hits[0]
            return BadBytes(first, 1, len(hits), _describe(content[first]))
        if cs.kind == CharsetKind.MULTI and cs.codec is not None:
            try:
                content.decode(cs.codec)
            except UnicodeDecodeError as exc:
                span = content[exc.start : exc.end] or content[exc.start : exc.start + 1]
                seq = " ".join(f"{b:02X}H" for b in span[:4])
                return BadBytes(
                    exc.start,
                    max(1, len(span)),
                    1,
                    f"byte{'s' if len(span) > 1 else ''} {seq} (no valid {cs.terms[0]} sequence)",
                )
        return None
    if vr not in _FORBIDDEN:
        return None
    pattern = _forbidden_default(vr)
    subject = content
    if vr == "UR":
        subject = content.rstrip(b" ")
    hits = [m.start() for m in pattern.finditer(subject)]
    if not hits:
        return None
    first = hits[0]
    return BadBytes(first, 1, len(hits), _describe(content[first]))


def _describe(byte: int) -> str:
    if 0x20 <= byte < 0x7F:
        return f"byte {byte:02X}H ({chr(byte)!r})"
    names = {0x00: "NUL", 0x09: "TAB", 0x0A: "LF", 0x0C: "FF", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}
    name = names.get(byte, "a control character" if byte < 0x20 or 0x80 <= byte < 0xA0 else "")
    return f"byte {byte:02X}H" + (f" ({name})" if name else "")


def repertoire_text(vr: str, cs: Charset) -> str:
    if vr in REPERTOIRE_TEXT:
        return REPERTOIRE_TEXT[vr]
    sets = "the default repertoire"
    if cs.kind not in (CharsetKind.DEFAULT, CharsetKind.UNKNOWN):
        sets += f" and the characters of '{cs.label}'"
    allowed = ["TAB", "LF", "FF", "CR"] if vr in TEXT else []
    if cs.escapes:
        allowed.append("ESC")
    if vr in MULTI_VALUED:
        sets += " ('\\' separates values)"
    if not allowed:
        return f"{sets}, and no control characters"
    return f"{sets}, and no control characters but {', '.join(allowed)}"


# ---------------------------------------------------------------------------------------------
# Values and their components
# ---------------------------------------------------------------------------------------------


class Component(NamedTuple):
    """One value of a (possibly multi-valued) string: ``raw[start:end]`` of the element's bytes."""

    start: int
    end: int


def components(vr: str, masked: bytes) -> list[Component]:
    """The values of a string, split at 5CH where ``vr`` is multi-valued (PS3.5 6.4)."""
    if vr not in MULTI_VALUED or b"\\" not in masked:
        return [Component(0, len(masked))]
    out = []
    at = 0
    for part in masked.split(b"\\"):
        out.append(Component(at, at + len(part)))
        at += len(part) + 1
    return out


def value_count(vr: str, masked: bytes) -> int:
    return masked.count(b"\\") + 1 if vr in MULTI_VALUED else 1


# ---------------------------------------------------------------------------------------------
# Formats (PS3.5 6.2 Table 6.2-1, 6.2.1 Person Name, 9.1 UIDs)
# ---------------------------------------------------------------------------------------------

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

_DA = _lazy(rb"(\d{4})(\d{2})(\d{2})")
_DA_ACR_NEMA = _lazy(rb"\d{4}\.\d{2}\.\d{2}")
_TM = _lazy(rb"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?")
_TM_ACR_NEMA = _lazy(rb"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
_DT = _lazy(
    rb"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    rb"(?:([+-])(\d{2})(\d{2}))?"
)
_AS = _lazy(rb"\d{3}[DWMY]")
_IS = _lazy(rb" *([+-]?\d+) *")
_DS = _lazy(rb" *[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)? *")
_UID_COMPONENT = _lazy(rb"0|[1-9]\d*")


def _days_in_month(year: int, month: int) -> int:
    """The Gregorian calendar's days in ``month`` of ``year`` (not ``calendar``: it imports
    ``locale``, a millisecond of start-up for one table)."""
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _date_problem(year: int, month: int, day: int) -> str | None:
    if not 1 <= month <= 12:
        return f"month {month:02d} is not 01-12"
    last = _days_in_month(year if year > 0 else 2000, month)
    if year == 0:
        return "year 0000 does not exist"
    if not 1 <= day <= last:
        return f"day {day:02d} is not 01-{last:02d} for {year:04d}-{month:02d}"
    return None


def _time_problem(hh: bytes | None, mm: bytes | None, ss: bytes | None) -> str | None:
    if hh is not None and int(hh) > 23:
        return f"hour {hh.decode()} is not 00-23"
    if mm is not None and int(mm) > 59:
        return f"minute {mm.decode()} is not 00-59"
    if ss is not None and int(ss) > 60:
        return f"second {ss.decode()} is not 00-60"
    return None


def format_problem(vr: str, value: bytes) -> str | None:
    """What is wrong with one value of ``vr`` (its own bytes, padding removed), or None.

    Only values made of characters of the VR's repertoire are judged (a character fault is
    VALUE_BAD_CHARACTERS'); an empty value, or one of spaces only, is no value and is not judged.
    """
    if not value.strip(b" "):
        return "a value of only spaces is not allowed" if vr == "AE" and value else None
    checker = _FORMATS.get(vr)
    return None if checker is None else checker(value)


def _da(value: bytes) -> str | None:
    text = value.rstrip(b" ")
    m = _DA().fullmatch(text)
    if m is None:
        if b"-" in text:
            return f"'{_t(text)}' is a date range, a query form not allowed in a stored value"
        if _DA_ACR_NEMA().fullmatch(text):
            return f"'{_t(text)}' is the ACR-NEMA form yyyy.mm.dd; DICOM dates are YYYYMMDD"
        return f"'{_t(text)}' is not a date YYYYMMDD"
    problem = _date_problem(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None if problem is None else f"'{_t(text)}' is no calendar date: {problem}"


def _tm(value: bytes) -> str | None:
    text = value.rstrip(b" ")
    m = _TM().fullmatch(text)
    if m is None:
        if b"-" in text:
            return f"'{_t(text)}' is a time range, a query form not allowed in a stored value"
        if _TM_ACR_NEMA().fullmatch(text):
            return f"'{_t(text)}' is the ACR-NEMA form HH:MM:SS; DICOM times are HHMMSS.FFFFFF"
        return f"'{_t(text)}' is not a time HH[MM[SS[.F{{1-6}}]]]"
    problem = _time_problem(m.group(1), m.group(2), m.group(3))
    return None if problem is None else f"'{_t(text)}' is no valid time: {problem}"


def _dt(value: bytes) -> str | None:
    text = value.rstrip(b" ")
    m = _DT().fullmatch(text)
    if m is None:
        if text.count(b"-") > 1 or (b"-" in text and not re.search(rb"[+-]\d{4}$", text)):
            return f"'{_t(text)}' is a date-time range, a query form not allowed in a stored value"
        return f"'{_t(text)}' is not a date-time YYYY[MM[DD[HH[MM[SS[.F{{1-6}}]]]]]][&ZZXX]"
    year, month, day = m.group(1), m.group(2), m.group(3)
    problem = None
    if month is not None:
        if not 1 <= int(month) <= 12:
            problem = f"month {month.decode()} is not 01-12"
        elif day is not None:
            problem = _date_problem(int(year), int(month), int(day))
    if problem is None and year == b"0000":
        problem = "year 0000 does not exist"
    problem = problem or _time_problem(m.group(4), m.group(5), m.group(6))
    if problem is None and m.group(8) is not None:
        hours, minutes = int(m.group(9)), int(m.group(10))
        offset = (hours * 60 + minutes) * (-1 if m.group(8) == b"-" else 1)
        if minutes > 59 or not -12 * 60 <= offset <= 14 * 60:
            problem = f"UTC offset {_t(text[m.start(8) :])} is not -1200..+1400"
    return None if problem is None else f"'{_t(text)}' is no valid date-time: {problem}"


def _as(value: bytes) -> str | None:
    if _AS().fullmatch(value):
        return None
    return f"'{_t(value)}' is not an age nnnD, nnnW, nnnM or nnnY"


def _is(value: bytes) -> str | None:
    m = _IS().fullmatch(value)
    if m is None:
        return f"'{_t(value)}' is not an integer string ([+-] digits, spaces only around it)"
    number = int(m.group(1))
    if not INT32_MIN <= number <= INT32_MAX:
        return f"'{_t(value.strip())}' is outside -2^31..2^31-1"
    return None


def _ds(value: bytes) -> str | None:
    if _DS().fullmatch(value):
        return None
    return f"'{_t(value)}' is not a decimal string (fixed or floating point, no embedded spaces)"


def _ui(value: bytes) -> str | None:
    parts = value.split(b".")
    for part in parts:
        if not part:
            return (
                f"'{_t(value)}' has an empty component (UIDs are non-empty numbers joined by '.')"
            )
        if not _UID_COMPONENT().fullmatch(part):
            return f"'{_t(value)}': component '{_t(part)}' has a leading zero"
    return None


def _pn(value: bytes) -> str | None:
    groups = value.split(b"=")
    if len(groups) > 3:
        return f"{len(groups)} component groups, at most 3 (alphabetic=ideographic=phonetic)"
    for n, group in enumerate(groups):
        count = group.count(b"^") + 1
        if count > 5:
            return f"component group {n + 1} has {count} components, at most 5"
    return None


_FORMATS: Final = {"DA": _da, "TM": _tm, "DT": _dt, "AS": _as, "IS": _is, "DS": _ds, "UI": _ui,
                   "PN": _pn}  # fmt: skip


def _t(raw: bytes, width: int = 40) -> str:
    text = raw.decode("latin-1")
    text = "".join(ch if ch.isprintable() else "." for ch in text)
    return text if len(text) <= width else text[: width - 3] + "..."


def shown(raw: bytes, cs: Charset | None = None, width: int = 40) -> str:
    """A value for a message: decoded in ``cs`` where a codec says how, printable, clipped."""
    if cs is not None and cs.kind == CharsetKind.MULTI and cs.codec is not None:
        text = raw.decode(cs.codec, "replace")
        text = "".join(ch if ch.isprintable() else "." for ch in text)
        return text if len(text) <= width else text[: width - 3] + "..."
    return _t(raw, width)


# ---------------------------------------------------------------------------------------------
# Value multiplicity (PS3.6 6: "1", "1-n", "2-2n", "1-3", "6-n" ...)
# ---------------------------------------------------------------------------------------------


class Multiplicity(NamedTuple):
    low: int
    high: int | None  # None: no upper bound
    step: int = 1  # "2-2n": the count is a multiple of 2
    text: str = ""  # as the dictionary writes it, for messages

    def allows(self, n: int) -> bool:
        if n < self.low or (self.high is not None and n > self.high):
            return False
        return n % self.step == 0 if self.step > 1 else True


_VM = _lazy(r"(\d+)(?:-(\d*)(n)?)?")


@cache
def parse_vm(text: str) -> Multiplicity | None:
    """The dictionary's VM text as bounds; None if it is not of a form PS3.6 uses."""
    m = _VM().fullmatch(text.strip())
    if m is None:
        return None
    low = int(m.group(1))
    if m.group(2) is None:
        return Multiplicity(low, low, 1, text)
    if m.group(3) is None:
        return Multiplicity(low, int(m.group(2)), 1, text)
    step = int(m.group(2)) if m.group(2) else 1
    return Multiplicity(low, None, step, text)


__all__ = [
    "DEFAULT",
    "DEFAULT_ALIAS",
    "DEFINED_TERMS",
    "EXTENDED",
    "MULTI_VALUED",
    "TEXT",
    "BadBytes",
    "Charset",
    "CharsetKind",
    "Component",
    "Multiplicity",
    "char_count",
    "components",
    "find_bad_bytes",
    "format_problem",
    "mask_multibyte",
    "parse_charset",
    "parse_vm",
    "repertoire_text",
    "shown",
    "split_terms",
    "value_count",
]
