"""Find: bytes (hex), text, or a decoded value, over the file in chunks.

Pure Python and numpy, no Textual: the app runs a scan in a thread worker and asks it for one
batch at a time, so it can show progress, jump to the first match at once, stop at a cap and
be cancelled between chunks. A scan starts at the cursor and wraps around the end of the
stream, the way an editor's search does; "match k of N" counts in that order.

Byte scans never hold more than a few chunks of the file (16 MiB): they are read with one
``pread`` into one reused buffer (:meth:`Source.read_into`) and searched there a chunk at a
time, and a case-insensitive scan lowers one chunk at a time. Chunks overlap by the needle's
length minus one, so a match across a chunk boundary is found once. A file cut short on disk
while it is searched raises :class:`~dcmstruct.source.SourceChanged` out of
:meth:`ByteScan.next_batch` (the app stops the search and says why).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from dcmstruct import specdata
from dcmstruct.arrays import member
from dcmstruct.model import Kind, Stream, vr_code
from dcmstruct.tui.structure import Structure
from dcmstruct.values import decode_numbers, decode_tags, little_endian, split_values

# Bytes of the file searched at a time. ``find`` holds the GIL while it runs: a chunk must be
# small enough that searching it does not stall the screen (1 MiB: well under a millisecond),
# and big enough that the Python loop around it costs nothing.
CHUNK = 1 << 20
# Chunks read at a time: each read lets the screen's thread take the GIL, and getting it back
# may wait for that thread's switch interval (5 ms): a read per 1 MiB chunk made a scan of a
# warm 500 MB file two to three times slower while the screen was busy (bench/bench_tui.py).
READ_CHUNKS = 16
CAP = 1000  # matches collected before the scan pauses (F3 past the last one goes on)
VALUE_READ = 1 << 16  # bytes of a value read to compare it
MAX_NEEDLE = 4096

Cancelled = Callable[[], bool]
Match = tuple[int, int]  # (offset, length)


class Reader(Protocol):
    """Where a byte scan reads (a :class:`~dcmstruct.source.Source`)."""

    def read_into(self, offset: int, out: bytearray | memoryview) -> int: ...


class Mode(Enum):
    AUTO = "auto"
    HEX = "hex"
    TEXT = "text"
    VALUE = "value"


_PREFIXES = {"hex:": Mode.HEX, "text:": Mode.TEXT, "value:": Mode.VALUE}
_HEX_PAIRS = re.compile(r"^[0-9a-f]{2}(\s+[0-9a-f]{2})*$", re.IGNORECASE)
_HEX_0X = re.compile(r"^0x[0-9a-f]+$", re.IGNORECASE)
_TAG = re.compile(r"^\(?\s*([0-9a-f]{4})\s*,\s*([0-9a-f]{4})\s*\)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    """What to look for, as parsed from the find dialog."""

    mode: Mode  # HEX, TEXT or VALUE (never AUTO)
    needle: bytes = b""  # HEX and TEXT: the bytes; lowered when ``ignore_case``
    text: str = ""  # VALUE: the value as typed
    ignore_case: bool = False

    def describe(self) -> str:
        if self.mode == Mode.HEX:
            return (
                "bytes "
                + " ".join(f"{b:02x}" for b in self.needle[:16])
                + (" …" if len(self.needle) > 16 else "")
            )
        if self.mode == Mode.TEXT:
            case = ", any case" if self.ignore_case else ""
            return f"text {self.needle.decode('latin-1')!r}{case}"
        return f"value {self.text!r}"


def _parse_hex(text: str) -> bytes:
    t = text.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    digits = re.sub(r"[\s,:]", "", t)
    if not digits:
        raise ValueError("type some hex bytes, e.g. de ad be ef or 0xDEADBEEF")
    if not re.fullmatch(r"[0-9a-fA-F]+", digits):
        raise ValueError(f"{text.strip()!r} is no hex: digits 0-9 and a-f only")
    if len(digits) % 2:
        raise ValueError(f"{len(digits)} hex digits: a byte takes two")
    return bytes.fromhex(digits)


def parse_query(text: str, mode: Mode = Mode.AUTO) -> Query:
    """Parse the find dialog's line. In AUTO mode a ``hex:``, ``text:`` or ``value:`` prefix,
    or quotes (text), decide; else ``de ad be ef`` and ``0xDEAD`` are bytes and anything else
    is text. Text is matched in any case when typed all in lower case ("smart case").
    Raises ValueError with the reason."""
    t = text
    low = t.lstrip().lower()
    for prefix, m in _PREFIXES.items():
        if low.startswith(prefix):  # a prefix overrides the dialog's mode
            mode, t = m, t.lstrip()[len(prefix) :]
            break
    if mode == Mode.AUTO:
        s = t.strip()
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
            mode, t = Mode.TEXT, s[1:-1]
        elif _HEX_0X.match(s) or _HEX_PAIRS.match(s):
            mode = Mode.HEX
        else:
            mode = Mode.TEXT
    if mode == Mode.HEX:
        needle = _parse_hex(t)
        if len(needle) > MAX_NEEDLE:
            raise ValueError(f"at most {MAX_NEEDLE} bytes")
        return Query(Mode.HEX, needle)
    if mode == Mode.TEXT:
        if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'" and text.strip() != t:
            t = t[1:-1]
        if not t:
            raise ValueError("type the text to find")
        try:
            needle = t.encode("latin-1")
        except UnicodeEncodeError:
            needle = t.encode("utf-8")
        if len(needle) > MAX_NEEDLE:
            raise ValueError(f"at most {MAX_NEEDLE} bytes")
        ignore = t == t.lower() and t != t.upper()
        return Query(Mode.TEXT, needle.lower() if ignore else needle, ignore_case=ignore)
    value = t.strip()
    if not value:
        raise ValueError("type a value: a UID, a number, a name, a date (* and ? match any)")
    return Query(Mode.VALUE, text=value)


# -- bytes -----------------------------------------------------------------------------------


class ByteScan:
    """Occurrences of ``needle`` in the first ``size`` bytes of ``source``, from ``origin`` to
    the end, then from the start up to ``origin``; resumable batch by batch."""

    def __init__(
        self,
        source: Reader,
        size: int,
        needle: bytes,
        origin: int = 0,
        *,
        ignore_case: bool = False,
        chunk: int | None = None,
    ) -> None:
        self.source = source
        self.size = size
        self.needle = needle
        self.ignore_case = ignore_case
        self.chunk = max(chunk or CHUNK, len(needle))
        # A few chunks and the overlap into the next: the only bytes of the file held.
        self._hay = bytearray(min(READ_CHUNKS * self.chunk + len(needle) - 1, max(0, size)))
        self._window = (0, 0)  # [start, stop) of the file in _hay
        origin = max(0, min(origin, size))
        # Ranges of match *starts*; a match starting before ``origin`` may end after it.
        self._segments = [(origin, size), (0, origin)]
        self._seg = 0
        self._pos = origin
        self.scanned = 0  # bytes of match starts covered so far, for progress
        self.done = size == 0 or not needle

    @property
    def progress(self) -> float:
        return 1.0 if self.done else self.scanned / max(1, self.size)

    def next_batch(self, limit: int, cancelled: Cancelled = lambda: False) -> list[Match]:
        """Scan on until ``limit`` matches or the end of one chunk; [] and ``done`` at the end."""
        out: list[Match] = []
        n = len(self.needle)
        while not self.done and not cancelled():
            _, seg_stop = self._segments[self._seg]
            if self._pos >= seg_stop:
                self._seg += 1
                if self._seg >= len(self._segments):
                    self.done = True
                    break
                self._pos = self._segments[self._seg][0]
                continue
            a = self._pos
            b = min(seg_stop, a + self.chunk)  # starts in [a, b)
            hay_end = min(self.size, b + n - 1)
            for hit in self._find_all(a, b, hay_end, limit - len(out)):
                out.append((hit, n))
                if len(out) >= limit:
                    self.scanned += hit + 1 - a
                    self._pos = hit + 1
                    return out
            self.scanned += b - a
            self._pos = b
            if out:
                return out
            if b - a >= self.chunk:
                return out  # one chunk without a match: report progress
        return out

    def _find_all(self, a: int, b: int, hay_end: int, limit: int) -> list[int]:
        """Starts in [a, b) of the needle, in bytes [a, hay_end)."""
        n = len(self.needle)
        lo, hi = self._window
        if not lo <= a or hay_end > hi:
            want = min(len(self._hay), self.size - a)
            with memoryview(self._hay) as view:
                got = self.source.read_into(a, view[:want])
            lo, hi = self._window = (a, a + got)
        end = min(hay_end, hi) - lo
        hay: bytes | bytearray = self._hay
        base = a - lo
        if self.ignore_case:
            hay, base, end = self._hay[base:end].lower(), 0, end - base
        stop = base + b - a
        hits: list[int] = []
        at = base
        while len(hits) < limit:
            k = hay.find(self.needle, at, min(end, stop + n - 1))
            if k < 0 or k >= stop:
                break
            hits.append(a + k - base)
            at = k + 1
        return hits


# -- values ----------------------------------------------------------------------------------

_NUMERIC_VRS = ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD")
_STRING_VRS: tuple[str, ...] = ("AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN")
_STRING_VRS += ("SH", "ST", "TM", "UC", "UI", "UR", "UT")


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


class ValueScan:
    """Elements of one stream whose decoded value matches ``text``: a string value (each
    backslash-separated value, trimmed, any case; ``*`` and ``?`` as wildcards), a number
    (numeric VRs, DS and IS compared as numbers), or a tag (AT)."""

    def __init__(self, structure: Structure, stream: Stream, text: str, origin: int = 0) -> None:
        self.structure = structure
        self.text = text.strip()
        self.folded = self.text.casefold()
        self.wild = any(ch in self.text for ch in "*?[")
        self.number = _number(self.text)
        m = _TAG.match(self.text)
        # Only a written-out tag: a keyword typed as a value is a string to find.
        self.tag = int(m.group(1), 16) << 16 | int(m.group(2), 16) if m else None
        c = structure.index.columns
        sm = structure.streams.get(stream)
        order = sm.order if sm is not None else np.empty(0, np.int64)
        vrs = [vr_code(v) for v in _STRING_VRS]
        if self.number is not None:
            vrs += [vr_code(v) for v in _NUMERIC_VRS]
        if self.tag is not None:
            vrs.append(vr_code("AT"))
        keep = (
            (c.kind[order] == Kind.ELEMENT)
            & (c.value_offset[order] >= 0)
            & (c.length[order] > 0)
            & member(c.vr[order], np.array(vrs, dtype=c.vr.dtype))
        )
        nodes = order[keep]
        offsets = c.offset[nodes]
        k = int(np.searchsorted(offsets, origin, side="left"))
        self._nodes = np.concatenate((nodes[k:], nodes[:k])).tolist()
        self._pos = 0
        self.done = not self._nodes

    @property
    def progress(self) -> float:
        return 1.0 if self.done else self._pos / max(1, len(self._nodes))

    def next_batch(self, limit: int, cancelled: Cancelled = lambda: False) -> list[Match]:
        out: list[Match] = []
        c = self.structure.index.columns
        step = 2000  # nodes between two checks for cancellation
        while not self.done and len(out) < limit and not cancelled():
            stop = min(len(self._nodes), self._pos + step)
            for k in range(self._pos, stop):
                node = self._nodes[k]
                if self.matches(node):
                    a = int(c.value_offset[node])
                    out.append((a, max(1, int(c.end[node]) - a)))
                    if len(out) >= limit:
                        self._pos = k + 1
                        return out
            self._pos = stop
            self.done = stop >= len(self._nodes)
            if out:
                break
        return out

    def matches(self, node: int) -> bool:
        index = self.structure.index
        raw = self.structure.value_bytes(node, VALUE_READ)
        if raw is None:
            return False
        vr = index.node(node).vr or "UN"
        if vr == "AT":
            if self.tag is None:
                return False
            return bool((decode_tags(raw, little_endian(index, node)) == self.tag).any())
        if vr in _NUMERIC_VRS:
            if self.number is None:
                return False
            values = decode_numbers(vr, raw, little_endian(index, node)).astype(np.float64)
            rtol = 1e-6 if vr == "FL" else 1e-12
            return bool(np.isclose(values, self.number, rtol=rtol, atol=0).any())
        info = specdata.vr_info(vr)
        if info is None or not info.is_string:
            return False
        text = raw.decode("latin-1")
        if not self.wild and vr not in ("DS", "IS") and self.folded not in text.casefold():
            return False  # the common case: the text is not even in the bytes
        parts = split_values(vr, text)
        for part in parts:
            value = part.strip(" \0")
            if vr in ("DS", "IS") and self.number is not None:
                v = _number(value)
                if v is not None and math.isclose(v, self.number, rel_tol=1e-12):
                    return True
            folded = value.casefold()
            if self.wild:
                if fnmatch.fnmatchcase(folded, self.folded):
                    return True
            elif folded == self.folded:
                return True
        return False
