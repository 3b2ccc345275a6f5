#!/usr/bin/env python
"""Benchmark: whole dcmstruct commands on hostile inputs (issue 7), time and memory per case.

A measurement script, not a test: it asserts nothing. It

1. generates each hostile case into a temporary directory (``--workdir`` to choose where; every
   file is deleted when its case is done, unless ``--keep``), with :mod:`dcmstruct.builder` for
   the elements and plain repetition of builder-made bytes for the millions of nodes:

   - ``a``  6,000,000 empty defined-length items in one sequence (48 MB);
   - ``b``  1,000,000 empty undefined-length items, each with its delimiter (16 MB);
   - ``c``  a deflate bomb: a Deflated Explicit VR LE file of ~10 MB whose data set inflates to
     10 GiB (private OB elements of zeros); the compressed stream is written incrementally with
     ``zlib.compressobj`` (a full flush after each 16 MiB of zeros, so the same compressed block
     is written again while it stays the same), never holding the inflated data;
   - ``d``  the same shape, 1 MiB inflating to 1 GiB, also given to ``Part10File.parse``;
   - ``dz``  16 MiB of zeros after six elements, deflated (16 KB), also given to
     ``Part10File.parse``, which reads each 8 zero bytes as an element;
   - ``e1..e6``  seeded random garbage of 20-100 KB between valid elements, starting with a
     high tag and an invalid VR; counted: the valid elements after it that are listed;
   - ``f5``, ``f64``  a zero run of 5 MiB / 64 MiB between valid elements, the same count;
   - ``g``  a 30 MB file of small elements truncated to 1000 bytes by this process 1.5 s into
     ``dump --format jsonl`` and into ``validate -j 1`` (exit code or signal, first stderr line);
   - ``h1..h3``  10,000 nested sequences: undefined lengths with delimiters, undefined lengths
     with no delimiter at all, defined lengths; the same count after them;
   - ``base``  a small valid file: each tool's fixed cost, subtracted for the bytes per node.

2. runs on each case, each in a fresh process under GNU ``/usr/bin/time -f %M`` (its own peak
   RSS, not this process's), with ``PYTHONPATH=--code`` when given (the same script measures
   another checkout), an address-space limit (``--mem-limit``) and a timeout (``--timeout``):

   - ``index``: ``dcmstruct.index.index_file(path)`` in ``python -c`` (nodes, faults, kinds);
   - ``dump``: ``python -m dcmstruct dump --format jsonl FILE``, its output counted as it
     streams (nodes = lines that are not faults);
   - ``validate``: ``python -m dcmstruct validate --format json --no-config -j 1 FILE``;
   - ``parse``: ``Part10File.parse(open(FILE).read())`` in ``python -c`` (``d``, ``dz``, ``base``).

   Each run gets a ``TMPDIR`` of its own; the temporary disk it uses is sampled every 0.1 s
   (files in it, and files under it that a process of the run holds open after unlinking
   them, through ``/proc/PID/fd``): a run shorter than that may show less than it used.

3. prints machine information, the cases, and one markdown table, a row per case and tool:
   wall time, peak RSS, exit code (negative: the signal), nodes, peak RSS above the tool's
   fixed cost per node, peak temporary disk, the valid elements listed after a damaged region
   out of those written, findings or faults, and the first line of stderr (the last line of a
   traceback).

Usage::

    python bench/bench_hostile.py                       # the issue's sizes (3-4 min)
    python bench/bench_hostile.py --quick               # tiny sizes (~15 s)
    python bench/bench_hostile.py --code /tmp/before    # another checkout's dcmstruct
    python bench/bench_hostile.py --only a,e --tools index,validate --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_index as bi

from dcmstruct import specdata
from dcmstruct.builder import E, Item, Writer, file_meta
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.deflate import RAW_DEFLATE_WBITS
from dcmstruct.schema.element import (
    EXPLICIT_LE,
    ITEM,
    ITEM_DELIMITER,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
)
from dcmstruct.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
CHUNK = 16 * MIB  # bytes of zeros compressed at a time; also the write chunk
UID_ROOT = "1.2.826.0.1.3680043.10.1455.9.7"  # this project's root, issue 7
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
W = Writer(EXPLICIT_LE)  # every case but the bombs' data set is Explicit VR Little Endian


@dataclass(frozen=True)
class Sizes:
    defined_items: int  # case a
    undefined_items: int  # case b
    bomb_inflated: int  # case c: bytes the data set inflates to
    parse_bomb_inflated: int  # case d
    zero_bomb_inflated: int  # case dz
    garbage_cases: int  # e1..eN
    garbage_bytes: tuple[int, int]  # smallest and largest garbage run
    zero_runs: tuple[int, ...]  # f: bytes of each zero run
    truncate_size: int  # g: bytes of the file before it is truncated
    truncate_after: float  # g: seconds after the command starts
    nesting: int  # h: nesting levels


FULL = Sizes(
    defined_items=6_000_000,
    undefined_items=1_000_000,
    bomb_inflated=10 * GIB,
    parse_bomb_inflated=1 * GIB,
    zero_bomb_inflated=16 * MIB,
    garbage_cases=6,
    garbage_bytes=(20_000, 100_000),
    zero_runs=(5 * MIB, 64 * MIB),
    truncate_size=30 * MIB,
    truncate_after=1.5,
    nesting=10_000,
)
QUICK = Sizes(
    defined_items=20_000,
    undefined_items=10_000,
    bomb_inflated=64 * MIB,
    parse_bomb_inflated=16 * MIB,
    zero_bomb_inflated=1 * MIB,
    garbage_cases=2,
    garbage_bytes=(20_000, 100_000),
    zero_runs=(1 * MIB, 5 * MIB),
    truncate_size=2 * MIB,
    truncate_after=0.3,
    nesting=1_000,
)
# The damaged region of a truncated file: what is left of it.
TRUNCATED_TO = 1000


# -- generating the cases ---------------------------------------------------------------------


@dataclass
class Case:
    key: str
    what: str
    path: Path
    tools: tuple[str, ...]
    # (offset, tag) of the valid elements written after the damaged region: counted as listed
    # when the index or dump has an element node with that tag at that offset.
    expected: list[tuple[int, int]] = field(default_factory=list)
    truncate: bool = False  # g: truncated to TRUNCATED_TO bytes while the command runs
    inflated: int | None = None  # deflate cases: bytes the data set inflates to
    size: int = 0  # bytes of the file as generated

    def __post_init__(self) -> None:
        self.size = self.path.stat().st_size


def _front() -> list[E]:
    """Elements of groups 0008 and 0010: what comes before every hostile region (whose
    sequences are of groups 0012 to 0018, so that the file's tags stay in ascending order)."""
    return [
        E("SOPClassUID", "UI", SECONDARY_CAPTURE),
        E("SOPInstanceUID", "UI", f"{UID_ROOT}.1"),
        E("Modality", "CS", "OT"),
        E("ConversionType", "CS", "WSD"),
        E("PatientName", "PN", "HOSTILE^INPUT"),
        E("PatientID", "LO", "HOSTILE-1"),
    ]


def _back() -> list[E]:
    """Elements of groups 0020 to 7FE0: what comes after every hostile region, and is counted."""
    return [
        E("StudyInstanceUID", "UI", f"{UID_ROOT}.2"),
        E("SeriesInstanceUID", "UI", f"{UID_ROOT}.3"),
        E("StudyID", "SH", "1"),
        E("SeriesNumber", "IS", 1),
        E("InstanceNumber", "IS", 1),
        E("SamplesPerPixel", "US", 1),
        E("PhotometricInterpretation", "CS", "MONOCHROME2"),
        E("Rows", "US", 8),
        E("Columns", "US", 8),
        E("BitsAllocated", "US", 8),
        E("BitsStored", "US", 8),
        E("HighBit", "US", 7),
        E("PixelRepresentation", "US", 0),
        E("PixelData", "OB", bytes(range(64))),
    ]


def _head(transfer_syntax: str = EXPLICIT_VR_LITTLE_ENDIAN) -> bytes:
    """Preamble, prefix and file meta group (PS3.10 7.1)."""
    meta = file_meta(SECONDARY_CAPTURE, f"{UID_ROOT}.1", transfer_syntax)
    return bytes(128) + b"DICM" + W.dataset(meta)


class _Out:
    """A file being written, knowing its offset (where each counted element lands)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.at = 0

    def write(self, data: bytes) -> None:
        self.f.write(data)
        self.at += len(data)

    def repeat(self, unit: bytes, count: int) -> None:
        """``unit`` written ``count`` times, a chunk of about CHUNK bytes at a time."""
        per = max(1, CHUNK // max(1, len(unit)))
        block = unit * per
        while count >= per:
            self.write(block)
            count -= per
        self.write(unit * count)

    def elements(self, elements: Iterable[E]) -> list[tuple[int, int]]:
        """Write ``elements``; return the (offset, tag) of each."""
        placed = []
        for e in elements:
            placed.append((self.at, e.tag_int))
            self.write(W.element(e))
        return placed


def _write(path: Path, body: Callable[[_Out], list[tuple[int, int]]]) -> list[tuple[int, int]]:
    with path.open("wb") as f:
        out = _Out(f)
        out.write(_head())
        out.elements(_front())
        return body(out)


def _sequence_header(tag: str, length: int) -> bytes:
    return W.header(E(tag, "SQ").tag_int, "SQ", length)


def make_defined_items(path: Path, n: int) -> list[tuple[int, int]]:
    """Case a: one sequence of ``n`` empty items of defined length 0 (8 bytes each)."""

    def body(out: _Out) -> list[tuple[int, int]]:
        out.write(_sequence_header("ContributingEquipmentSequence", 8 * n))
        out.repeat(W.header(ITEM, None, 0), n)
        return out.elements(_back())

    return _write(path, body)


def make_undefined_items(path: Path, n: int) -> list[tuple[int, int]]:
    """Case b: one sequence of ``n`` empty undefined-length items, each closed by its
    delimiter (16 bytes each), closed by a sequence delimiter."""

    def body(out: _Out) -> list[tuple[int, int]]:
        out.write(_sequence_header("ContributingEquipmentSequence", UNDEFINED_LENGTH))
        unit = W.header(ITEM, None, UNDEFINED_LENGTH) + W.header(ITEM_DELIMITER, None, 0)
        out.repeat(unit, n)
        out.write(W.header(SEQUENCE_DELIMITER, None, 0))
        return out.elements(_back())

    return _write(path, body)


def _zero_pieces(inflated: int) -> Iterator[tuple[bytes, int]]:
    """A data set of a few elements, then zeros to ``inflated`` bytes: to a reader that trusts
    the bytes, an element (0000,0000) of length 0 every 8 bytes."""
    front = W.dataset(_front())
    yield front, 1
    left = max(0, inflated - len(front)) & ~7  # whole 8-byte "elements": no partial header
    yield bytes(CHUNK), left // CHUNK
    yield bytes(left % CHUNK), 1


def _deflate_pieces(inflated: int) -> Iterator[tuple[bytes, int]]:
    """The bomb's data set as (bytes, times repeated): private OB elements of at most 1 GiB of
    zeros between the usual elements, ``inflated`` bytes in all (rounded to even lengths)."""
    front, back = _front(), _back()
    group_0008 = [e for e in front if e.tag_int >> 16 == 0x0008]
    group_0010 = [e for e in front if e.tag_int >> 16 == 0x0010]
    creator = E(0x00090010, "LO", "DCMSTRUCT HOSTILE")
    fixed = W.dataset([*group_0008, creator, *group_0010, *back])
    yield W.dataset([*group_0008, creator]), 1
    left = max(0, inflated - len(fixed))
    k = 0
    while left > 12:
        length = min(GIB, left - 12) & ~1  # 12: the OB header (PS3.5 7.1.2)
        yield W.header(0x00091000 + k, "OB", length), 1
        yield bytes(CHUNK), length // CHUNK
        yield bytes(length % CHUNK), 1
        left -= 12 + length
        k += 1
    yield W.dataset([*group_0010, *back]), 1


def make_bomb(path: Path, inflated: int, zeros: bool = False) -> list[tuple[int, int]]:
    """Cases c and d: a Deflated Explicit VR Little Endian file (PS3.5 A.5) whose data set
    inflates to ``inflated`` bytes. Written incrementally: after each piece a full flush resets
    the compressor, so a repeated piece compresses to the same bytes, written again (checked
    once per piece: if the bytes differ, every repetition is compressed)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, RAW_DEFLATE_WBITS)
    with path.open("wb") as f:
        head = _head(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        f.write(head)
        pieces = _zero_pieces(inflated) if zeros else _deflate_pieces(inflated)
        for piece, times in pieces:
            if times == 0 or not piece:
                continue
            first = deflater.compress(piece) + deflater.flush(zlib.Z_FULL_FLUSH)
            f.write(first)
            if times == 1:
                continue
            second = deflater.compress(piece) + deflater.flush(zlib.Z_FULL_FLUSH)
            f.write(second)
            for _ in range(times - 2):
                if second == first:
                    f.write(second)
                else:
                    f.write(deflater.compress(piece) + deflater.flush(zlib.Z_FULL_FLUSH))
        f.write(deflater.flush(zlib.Z_FINISH))
        if (f.tell() - len(head)) % 2:
            f.write(b"\0")  # PS3.5 A.5: an odd-length deflate stream gets one NUL pad byte
    return []


def garbage(seed: int, low: int, high: int) -> bytes:
    """Seeded random bytes whose first six read as a high tag with an invalid VR."""
    rng = random.Random(seed)
    size = rng.randint(low, high)
    group = rng.randrange(0x8000, 0xFFFE)  # above every counted element, below the item group
    element = rng.randrange(0x10000)
    vr = bytes(rng.randrange(0x80, 0x100) for _ in range(2))  # never two upper-case letters
    head = group.to_bytes(2, "little") + element.to_bytes(2, "little") + vr
    return head + rng.randbytes(max(0, size - len(head)))


def make_between(path: Path, damage: bytes) -> list[tuple[int, int]]:
    """Cases e and f: ``damage`` written between the front and the counted elements."""

    def body(out: _Out) -> list[tuple[int, int]]:
        out.write(damage)
        return out.elements(_back())

    return _write(path, body)


def make_zero_run(path: Path, run: int) -> list[tuple[int, int]]:
    def body(out: _Out) -> list[tuple[int, int]]:
        out.repeat(b"\0", run)
        return out.elements(_back())

    return _write(path, body)


def make_many_small(path: Path, size: int) -> list[tuple[int, int]]:
    """Case g: about ``size`` bytes of small items (a code sequence) in one sequence."""
    item = W.item(
        Item(
            [
                E("CodeValue", "SH", "HOSTILE1"),
                E("CodingSchemeDesignator", "SH", "DCM"),
                E("CodeMeaning", "LO", "A small item, many times"),
            ]
        )
    )

    def body(out: _Out) -> list[tuple[int, int]]:
        out.write(_sequence_header("DeidentificationMethodCodeSequence", UNDEFINED_LENGTH))
        out.repeat(item, max(1, (size - out.at - 512) // len(item)))
        out.write(W.header(SEQUENCE_DELIMITER, None, 0))
        return out.elements(_back())

    return _write(path, body)


def make_nested(path: Path, levels: int, shape: str) -> list[tuple[int, int]]:
    """Case h: ``levels`` sequences, each the one item's only element of the one above.

    ``delimited``: undefined lengths, each closed by its delimiters; ``open``: undefined
    lengths and no delimiter at all (the counted elements land in the innermost item);
    ``defined``: defined lengths, computed from the inside out."""
    seq = E("ContributingEquipmentSequence", "SQ").tag_int

    def body(out: _Out) -> list[tuple[int, int]]:
        if shape == "defined":
            # Level k (from the inside) is a sequence header (12) + an item header (8) + level
            # k-1; headers are written outside in, so the lengths are listed first.
            lengths = [20 * k for k in range(levels)]
            for inner in reversed(lengths):
                out.write(W.header(seq, "SQ", inner + 8) + W.header(ITEM, None, inner))
        else:
            opening = W.header(seq, "SQ", UNDEFINED_LENGTH) + W.header(ITEM, None, UNDEFINED_LENGTH)
            out.repeat(opening, levels)
            if shape == "delimited":
                closing = W.header(ITEM_DELIMITER, None, 0) + W.header(SEQUENCE_DELIMITER, None, 0)
                out.repeat(closing, levels)
        return out.elements(_back())

    return _write(path, body)


def make_base(path: Path) -> list[tuple[int, int]]:
    return _write(path, lambda out: out.elements(_back()))


CASE_KEYS = ("base", "a", "b", "c", "d", "e", "f", "g", "h")
ALL_TOOLS = ("index", "dump", "validate", "parse")


def cases(sizes: Sizes, workdir: Path) -> Iterator[tuple[str, str, Callable[[], Case]]]:
    """(group key, case key, a function that writes the case's file) in running order."""
    three = ("index", "dump", "validate")

    def spec(
        key: str, what: str, tools: tuple[str, ...], make: Callable[[Path], list[tuple[int, int]]]
    ) -> Callable[[], Case]:
        def build() -> Case:
            path = workdir / f"{key}.dcm"
            return Case(key, what, path, tools, expected=make(path))

        return build

    yield "base", "base", spec("base", "a small valid file", (*three, "parse"), make_base)
    yield (
        "a",
        "a",
        spec(
            "a",
            f"{sizes.defined_items:,} empty defined-length items in one sequence",
            three,
            lambda p: make_defined_items(p, sizes.defined_items),
        ),
    )
    yield (
        "b",
        "b",
        spec(
            "b",
            f"{sizes.undefined_items:,} empty undefined-length items with delimiters",
            three,
            lambda p: make_undefined_items(p, sizes.undefined_items),
        ),
    )
    for key, inflated, tools, zeros in (
        ("c", sizes.bomb_inflated, three, False),
        ("d", sizes.parse_bomb_inflated, (*three, "parse"), False),
        ("dz", sizes.zero_bomb_inflated, (*three, "parse"), True),
    ):

        def bomb(
            key: str = key,
            inflated: int = inflated,
            tools: tuple[str, ...] = tools,
            zeros: bool = zeros,
        ) -> Case:
            path = workdir / f"{key}.dcm"
            make_bomb(path, inflated, zeros)
            shape = "a zero run after six elements" if zeros else "private OB elements of zeros"
            what = f"deflate bomb: inflates to {_size(inflated)}, {shape}"
            return Case(key, what, path, tools, inflated=inflated)

        yield key[0], key, bomb
    low, high = sizes.garbage_bytes
    for seed in range(sizes.garbage_cases):
        junk = garbage(seed, low, high)
        group = int.from_bytes(junk[:2], "little")
        yield (
            "e",
            f"e{seed + 1}",
            spec(
                f"e{seed + 1}",
                f"{len(junk):,} bytes of random garbage (seed {seed}) from tag "
                f"({group:04X},...) with VR {junk[4:6].hex(' ')}",
                three,
                partial(make_between, damage=junk),
            ),
        )
    for run in sizes.zero_runs:
        key = f"f{run // MIB}" if run % MIB == 0 else f"f{run}b"
        yield (
            "f",
            key,
            spec(
                key,
                f"a zero run of {_size(run)}",
                three,
                partial(make_zero_run, run=run),
            ),
        )

    def truncated() -> Case:
        path = workdir / "g.dcm"
        make_many_small(path, sizes.truncate_size)
        what = (
            f"{_size(path.stat().st_size)} of small items, truncated to {TRUNCATED_TO} bytes "
            f"{sizes.truncate_after:g} s into the command"
        )
        return Case("g", what, path, ("dump", "validate"), truncate=True)

    yield "g", "g", truncated
    for key, shape, words in (
        ("h1", "delimited", "undefined lengths, delimited"),
        ("h2", "open", "undefined lengths, no delimiter"),
        ("h3", "defined", "defined lengths"),
    ):
        yield (
            "h",
            key,
            spec(
                key,
                f"{sizes.nesting:,} nested sequences, {words}",
                three,
                partial(make_nested, levels=sizes.nesting, shape=shape),
            ),
        )


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


# -- the tools --------------------------------------------------------------------------------

# Python snippets run as ``python -c``; each prints one JSON object on stdout.
INDEX_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import dcmstruct
from dcmstruct.index import index_file
from dcmstruct.model import Kind
t1 = time.perf_counter()
index = index_file(sys.argv[1])
c = index.columns
kinds = {Kind(int(k)).label: int(n) for k, n in zip(*np.unique(c.kind, return_counts=True))}
faults = {}
for fault in index.faults:
    faults[fault.code] = faults.get(fault.code, 0) + 1
info = {"module": dcmstruct.__file__, "nodes": len(index), "kinds": kinds, "faults": faults}
if len(sys.argv) > 2:
    with open(sys.argv[2]) as f:
        expected = json.load(f)
    mask = (c.kind == int(Kind.ELEMENT)) & (c.stream == 0)
    found = set(zip(c.offset[mask].tolist(), c.tag[mask].tolist()))
    info["listed"] = sum((offset, tag) in found for offset, tag in expected)
info["work_s"] = time.perf_counter() - t1
try:  # Linux: how much of the RSS is anonymous memory, how much mapped file pages
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                info[key + "_kib"] = int(value.split()[0])
except OSError:
    pass
index.close()
print(json.dumps(info))
"""

PARSE_SNIPPET = """
import json, sys, time
from dcmstruct.schema.file import Part10File
t1 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    data = f.read()
parsed = Part10File.parse(data)
print(json.dumps({"work_s": time.perf_counter() - t1, "meta": len(parsed.meta)}))
"""


def tool_argv(tool: str, path: Path, expected: Path | None, jobs: int) -> list[str]:
    py = sys.executable
    if tool == "index":
        return [py, "-c", INDEX_SNIPPET, str(path), *([str(expected)] if expected else [])]
    if tool == "parse":
        return [py, "-c", PARSE_SNIPPET, str(path)]
    if tool == "dump":
        return [py, "-m", "dcmstruct", "dump", "--format", "jsonl", str(path)]
    if tool == "validate":
        validate = [py, "-m", "dcmstruct", "validate", "--format", "json", "--no-config"]
        return [*validate, "-j", str(jobs), str(path)]
    raise ValueError(tool)


# -- reading a run's output as it streams -----------------------------------------------------

_RULE = re.compile(rb'"rule": ?"([^"]{1,80})"')
_SUMMARY = re.compile(rb'"summary": ?(\{[^{}]*\})')
_FAULT = b'"kind": "fault"'


class Output:
    """Counts what a run writes on stdout without keeping it: lines, fault lines and rule
    names as they stream; the element lines themselves only when ``collect`` (small outputs:
    the elements listed after a damaged region)."""

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.bytes = 0
        self.lines = 0
        self.fault_lines = 0
        self.rules: Counter[str] = Counter()
        self.elements: set[tuple[int, int]] = set()
        self.tail = b""  # the last few KB: the validate summary, a snippet's JSON
        self._pending = b""  # bytes after the last safe cut
        self._line = b""  # collect: the start of a line not yet ended

    def feed(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.tail = (self.tail + chunk)[-8 * KIB :]
        data = self._pending + chunk
        # A rule name, a fault marker or a line never holds a newline, a comma or a brace: cut
        # there, and carry the rest to the next chunk.
        cut = max(data.rfind(b"\n"), data.rfind(b","), data.rfind(b"}")) + 1
        done, self._pending = data[:cut], data[cut:]
        self._count(done)

    def close(self) -> None:
        self._count(self._pending)
        self._pending = b""

    def _count(self, done: bytes) -> None:
        if not done:
            return
        self.lines += done.count(b"\n")
        self.fault_lines += done.count(_FAULT)
        for m in _RULE.finditer(done):
            self.rules[m.group(1).decode("latin-1")] += 1
        if self.collect:
            *whole, self._line = (self._line + done).split(b"\n")
            for line in whole:
                self._element(line)

    def _element(self, line: bytes) -> None:
        try:
            node = json.loads(line)
        except ValueError:
            return
        if isinstance(node, dict) and node.get("kind") == "element" and "stream" not in node:
            tag = node.get("tag")
            if isinstance(tag, str) and isinstance(node.get("offset"), int):
                self.elements.add((node["offset"], int(tag.replace(",", ""), 16)))

    def snippet(self) -> dict[str, object]:
        """The JSON object a snippet printed last, if any."""
        for line in reversed(self.tail.decode("utf-8", "replace").strip().splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return {}

    def summary(self) -> dict[str, object]:
        m = _SUMMARY.search(self.tail)
        if m is None:
            return {}
        try:
            value = json.loads(m.group(1))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


# -- watching the temporary directory ---------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def temp_usage(tmpdir: Path, root: int | None) -> int:
    """Bytes of disk used under ``tmpdir``: its files, and the unlinked files under it that a
    process of ``root``'s tree still holds open (``tempfile.TemporaryFile`` unlinks at once)."""
    seen: dict[tuple[int, int], int] = {}
    prefix = str(tmpdir) + os.sep
    if root is not None and os.path.isdir("/proc"):
        for pid in _tree(root):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                link = f"/proc/{pid}/fd/{fd}"
                try:
                    if not os.readlink(link).startswith(prefix):
                        continue
                    st = os.stat(link)
                except OSError:
                    continue
                seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    for dirpath, _, names in os.walk(tmpdir):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return sum(seen.values())


# -- running one tool on one case -------------------------------------------------------------


@dataclass
class Run:
    case: str
    tool: str
    file_bytes: int
    wall: float = 0.0
    peak_kib: int | None = None
    exit: int | None = None  # negative: killed by that signal
    timed_out: bool = False
    nodes: int | None = None
    tmp_peak: int = 0
    listed: int | None = None
    expected: int | None = None
    findings: Counter[str] = field(default_factory=Counter)
    stderr: str = ""
    info: dict[str, object] = field(default_factory=dict)
    truncated_at: float | None = None  # g: seconds after the start, None if not done
    note: str = ""


def _limit(mem_limit: int | None) -> Callable[[], None] | None:
    if not mem_limit:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))

    return apply


def _stderr_line(text: str) -> str:
    """The first line of stderr; the last one of a traceback (its first line says nothing)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return terminal_safe(line.strip())[:200]


@dataclass(frozen=True)
class Settings:
    code: Path | None
    time_path: str | None
    timeout: float
    mem_limit: int | None
    jobs: int
    truncate_after: float


def run_tool(case: Case, tool: str, settings: Settings, scratch: Path) -> Run:
    run = Run(case.key, tool, case.size)
    expected_file: Path | None = None
    if case.expected and tool == "index":
        expected_file = scratch / "expected.json"
        expected_file.write_text(json.dumps(case.expected))
    argv = tool_argv(tool, case.path, expected_file, settings.jobs)
    tmpdir = scratch / "tmp"
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir()
    rss_file = scratch / "rss"
    rss_file.unlink(missing_ok=True)
    if settings.time_path is not None:
        argv = [settings.time_path, "-f", "%M %e", "-o", str(rss_file), *argv]
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    if settings.code is not None:
        env["PYTHONPATH"] = str(settings.code)
    output = Output(collect=bool(case.expected) and tool == "dump")
    err_path = scratch / "stderr"
    with err_path.open("wb") as err:
        start = time.perf_counter()
        # cwd: the scratch directory, so ``-m``/``-c`` find no dcmstruct in the current
        # directory; its own session, so a run that times out is ended with its children.
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=scratch,
            env=env,
            start_new_session=True,
            # Safe here: the only other thread (the previous run's reader) has ended.
            preexec_fn=_limit(settings.mem_limit),
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()

        def drain() -> None:
            while chunk := os.read(fd, MIB):
                output.feed(chunk)
            output.close()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        deadline = start + settings.timeout
        while True:
            now = time.perf_counter()
            if (
                case.truncate
                and run.truncated_at is None
                and now - start >= settings.truncate_after
            ):
                if proc.poll() is None:
                    os.truncate(case.path, TRUNCATED_TO)
                    run.truncated_at = time.perf_counter() - start
                else:
                    run.note = "finished before the truncation"
                    run.truncated_at = -1.0
            run.tmp_peak = max(run.tmp_peak, temp_usage(tmpdir, proc.pid))
            if now > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                run.timed_out = True
                proc.wait()
                break
            try:
                proc.wait(timeout=0.05 if case.truncate else 0.1)
                break
            except subprocess.TimeoutExpired:
                continue
        reader.join()
        run.wall = time.perf_counter() - start
    run.stderr = _stderr_line(err_path.read_text(errors="replace"))
    run.exit = proc.returncode
    if settings.time_path is not None and rss_file.exists():
        lines = rss_file.read_text().splitlines()
        for line in lines:
            m = re.match(
                r"Command (?:terminated by signal|exited with non-zero status) (\d+)", line
            )
            if m:
                status = int(m.group(1))
                run.exit = -status if "signal" in line else status
        figures = lines[-1].split() if lines else []
        if figures and figures[0].isdigit():
            run.peak_kib = int(figures[0])
    if run.truncated_at == -1.0:
        run.truncated_at = None
    _read_output(run, tool, case, output)
    shutil.rmtree(tmpdir, ignore_errors=True)
    return run


def _read_output(run: Run, tool: str, case: Case, output: Output) -> None:
    if tool in ("index", "parse"):
        run.info = output.snippet()
        if tool == "index" and run.info:
            nodes = run.info.get("nodes")
            run.nodes = nodes if isinstance(nodes, int) else None
            faults = run.info.get("faults")
            if isinstance(faults, dict):
                run.findings = Counter({str(k): int(v) for k, v in faults.items()})
            listed = run.info.get("listed")
            if case.expected and isinstance(listed, int):
                run.listed, run.expected = listed, len(case.expected)
    elif tool == "dump":
        run.nodes = output.lines - output.fault_lines
        run.findings = output.rules
        if case.expected:
            run.listed = sum(pair in output.elements for pair in case.expected)
            run.expected = len(case.expected)
    elif tool == "validate":
        run.findings = output.rules
        run.info = {"summary": output.summary(), "stdout_bytes": output.bytes}


# -- reporting --------------------------------------------------------------------------------


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / KIB:,.0f}"


def _exit(run: Run) -> str:
    if run.timed_out:
        return "timeout"
    if run.exit is None:
        return "?"
    if run.exit < 0:
        try:
            return f"{run.exit} {signal.Signals(-run.exit).name}"
        except ValueError:
            return str(run.exit)
    return str(run.exit)


def _findings(counts: Counter[str]) -> str:
    if not counts:
        return "0"
    top = ", ".join(f"{name} {n:,}" for name, n in counts.most_common(3))
    more = "" if len(counts) <= 3 else f", +{len(counts) - 3} more"
    return f"{sum(counts.values()):,}: {top}{more}"


def _cell(text: str) -> str:
    return terminal_safe(text).replace("|", "\\|")


# Below this many nodes, the peak RSS above the fixed cost is mostly something else (mapped
# pages of the file, inflated data, allocator noise): no figure per node is shown.
PER_NODE_MIN = 10_000


def per_node(run: Run, nodes: int | None, baseline: dict[str, int]) -> str:
    """Peak RSS above the tool's fixed cost (its peak on the small valid file), per node."""
    base = baseline.get(run.tool)
    if nodes is None or nodes < PER_NODE_MIN or run.peak_kib is None or base is None:
        return "-"
    return f"{max(0, run.peak_kib - base) * KIB / nodes:,.0f}"


def format_table(runs: list[Run], nodes_by_case: dict[str, int]) -> str:
    baseline = {r.tool: r.peak_kib for r in runs if r.case == "base" and r.peak_kib is not None}
    header = [
        "case",
        "tool",
        "file MiB",
        "exit",
        "wall s",
        "peak MiB",
        "nodes",
        "B/node",
        "tmp MiB",
        "listed after",
        "findings / faults",
        "stderr",
    ]
    rows = [header, ["---"] * len(header)]
    for r in runs:
        # validate reports no nodes: the index's count for the case; parse has no nodes.
        nodes = r.nodes if r.nodes is not None or r.tool == "parse" else nodes_by_case.get(r.case)
        shown = "n/a" if nodes is None else f"{nodes:,}" + ("" if r.nodes is not None else "*")
        listed = "" if r.expected is None else f"{r.listed if r.listed is not None else '?'}"
        if r.expected is not None:
            listed += f"/{r.expected}"
        stderr = r.stderr
        if r.truncated_at is not None:
            stderr = f"[truncated at {r.truncated_at:.2f} s] {stderr}"
        elif r.note:
            stderr = f"[{r.note}] {stderr}"
        rows.append(
            [
                r.case,
                r.tool,
                f"{r.file_bytes / MIB:,.2f}",
                _exit(r),
                f"{r.wall:.2f}",
                _mib(r.peak_kib),
                shown,
                per_node(r, nodes, baseline),
                f"{r.tmp_peak / MIB:,.0f}",
                listed,
                _findings(r.findings) if r.tool != "parse" else "",
                stderr,
            ]
        )
    return "\n".join("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)


def _git(code: Path) -> str:
    if not (code / ".git").exists() or shutil.which("git") is None:
        return "not a git checkout"
    head = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"HEAD {head}" + (" plus uncommitted changes" if dirty else "")


def _imported_from(settings: Settings, scratch: Path) -> str:
    """Where the runs' dcmstruct (and its specs tables) are imported from."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if settings.code is not None:
        env["PYTHONPATH"] = str(settings.code)
    probe = (
        "import dcmstruct, importlib.resources as r\n"
        "try:\n    specs = r.files('dcmstruct.specs')\n"
        "except ModuleNotFoundError:\n    specs = 'specs/ beside the package'\n"
        "print(dcmstruct.__file__, specs)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=scratch, env=env
    )
    text = out.stdout.strip() or out.stderr.strip()[-300:]
    return terminal_safe(text)


def machine_info(settings: Settings, scratch: Path) -> list[tuple[str, str]]:
    cpu = platform.processor() or platform.machine()
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / MIB:.1f} GiB"
                break
    except OSError:
        pass
    code = settings.code
    return [
        ("started", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("CPU", f"{cpu}, {os.cpu_count()} logical cores"),
        ("memory", memory),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("code measured", f"{code} ({_git(code)})" if code else "the installed dcmstruct"),
        ("dcmstruct and specs imported from", _imported_from(settings, scratch)),
        ("peak memory via", f"{settings.time_path} -f %M" if settings.time_path else "none"),
        (
            "limits per run",
            f"{settings.timeout:g} s, address space "
            + (_size(settings.mem_limit) if settings.mem_limit else "unlimited"),
        ),
        ("validate", f"-j {settings.jobs}"),
        ("load average (1, 5, 15 min)", bi._load()),
    ]


# -- main -------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Time and peak memory of whole dcmstruct commands on hostile inputs."
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds, not minutes)")
    p.add_argument("--code", type=Path, help="run the commands with PYTHONPATH=CODE")
    p.add_argument("--workdir", type=Path, help="where the files go (default: a temporary dir)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument(
        "--only",
        default="",
        help="comma-separated cases or groups of cases (default all): " + ",".join(CASE_KEYS),
    )
    p.add_argument(
        "--tools", default="", help="comma-separated tools (default all): " + ",".join(ALL_TOOLS)
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per run (300)")
    p.add_argument(
        "--mem-limit", type=float, default=8.0, help="address space per run in GiB (8; 0: none)"
    )
    p.add_argument("-j", "--jobs", type=int, default=1, help="validate's -j (1)")
    p.add_argument("--defined-items", type=int, help="case a's items")
    p.add_argument("--undefined-items", type=int, help="case b's items")
    p.add_argument("--bomb-mib", type=float, help="MiB case c's data set inflates to")
    p.add_argument("--parse-bomb-mib", type=float, help="MiB case d's data set inflates to")
    p.add_argument("--zero-bomb-mib", type=float, help="MiB case dz's data set inflates to")
    p.add_argument("--garbage-cases", type=int, help="how many e cases")
    p.add_argument("--zero-mib", help="comma-separated MiB of the f cases' zero runs")
    p.add_argument("--truncate-mib", type=float, help="MiB of case g's file")
    p.add_argument("--truncate-after", type=float, help="seconds into the command (g)")
    p.add_argument("--nesting", type=int, help="levels of the h cases")
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    return p


def _sizes(args: argparse.Namespace) -> Sizes:
    s = QUICK if args.quick else FULL
    if args.defined_items is not None:
        s = replace(s, defined_items=args.defined_items)
    if args.undefined_items is not None:
        s = replace(s, undefined_items=args.undefined_items)
    if args.bomb_mib is not None:
        s = replace(s, bomb_inflated=int(args.bomb_mib * MIB))
    if args.parse_bomb_mib is not None:
        s = replace(s, parse_bomb_inflated=int(args.parse_bomb_mib * MIB))
    if args.zero_bomb_mib is not None:
        s = replace(s, zero_bomb_inflated=int(args.zero_bomb_mib * MIB))
    if args.garbage_cases is not None:
        s = replace(s, garbage_cases=args.garbage_cases)
    if args.zero_mib:
        runs = tuple(int(float(x) * MIB) for x in args.zero_mib.split(",") if x.strip())
        s = replace(s, zero_runs=runs)
    if args.truncate_mib is not None:
        s = replace(s, truncate_size=int(args.truncate_mib * MIB))
    if args.truncate_after is not None:
        s = replace(s, truncate_after=args.truncate_after)
    if args.nesting is not None:
        s = replace(s, nesting=args.nesting)
    return s


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = _sizes(args)
    only = [k.strip() for k in args.only.split(",") if k.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    known = {name for group, key, _ in cases(sizes, Path()) for name in (group, key)}
    bad = [k for k in only if k not in known] + [t for t in tools if t not in ALL_TOOLS]
    if bad:
        print(f"unknown case or tool: {', '.join(bad)}", file=sys.stderr)
        return 2
    if args.code is not None and not (args.code / "dcmstruct" / "__init__.py").is_file():
        print(f"--code {args.code}: no dcmstruct package there", file=sys.stderr)
        return 2
    if specdata.transfer_syntax(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) is None:
        print("the deflated transfer syntax is unknown to this dcmstruct", file=sys.stderr)
        return 2
    settings = Settings(
        code=args.code.resolve() if args.code is not None else None,
        time_path=bi.gnu_time(),
        timeout=args.timeout,
        mem_limit=int(args.mem_limit * GIB) if args.mem_limit > 0 else None,
        jobs=args.jobs,
        truncate_after=sizes.truncate_after,
    )
    owned = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="bench-hostile-")) if owned else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = workdir / "scratch"
    scratch.mkdir(exist_ok=True)
    try:
        return _measure(args, sizes, settings, workdir, scratch, only, tools)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
            if owned:
                shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    args: argparse.Namespace,
    sizes: Sizes,
    settings: Settings,
    workdir: Path,
    scratch: Path,
    only: list[str],
    tools: list[str],
) -> int:
    print("# dcmstruct hostile-input benchmark\n")
    for key, value in machine_info(settings, scratch):
        print(f"- {key}: {value}")
    print(f"- sizes: {'quick' if sizes == QUICK else 'full' if sizes == FULL else 'custom'}")
    print(flush=True)

    runs: list[Run] = []
    described: list[tuple[Case, float]] = []
    for group, key, build in cases(sizes, workdir):
        if only and group not in only and key not in only:
            continue
        start = time.perf_counter()
        case = build()
        made = time.perf_counter() - start
        described.append((case, made))
        print(f"case {key}: {case.what}, {case.size:,} bytes in {made:.1f} s", file=sys.stderr)
        pristine: Path | None = None
        if case.truncate:
            pristine = case.path.with_name(case.path.name + ".pristine")
            case.path.replace(pristine)
        try:
            for tool in case.tools:
                if tools and tool not in tools:
                    continue
                if pristine is not None:
                    shutil.copyfile(pristine, case.path)
                print(f"  {tool} ...", file=sys.stderr, flush=True)
                run = run_tool(case, tool, settings, scratch)
                if pristine is not None:
                    run.file_bytes = pristine.stat().st_size
                runs.append(run)
                print(
                    f"  {tool}: exit {_exit(run)}, {run.wall:.2f} s, {_mib(run.peak_kib)} MiB",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            if not args.keep:
                case.path.unlink(missing_ok=True)
                if pristine is not None:
                    pristine.unlink(missing_ok=True)

    print("## Cases\n")
    for case, _ in described:
        inflated = f" (inflates to {case.inflated:,} bytes)" if case.inflated else ""
        counted = f"; {len(case.expected)} valid elements after it" if case.expected else ""
        print(f"- {case.key}: {case.what}{inflated}; {case.size:,} bytes{counted}")
    nodes_by_case = {r.case: r.nodes for r in runs if r.tool == "index" and r.nodes is not None}
    print("\n## Results\n")
    print(format_table(runs, nodes_by_case))
    print(
        "\n- wall s: the whole process (interpreter start and imports included); peak MiB: its "
        "max RSS (GNU time %M, the largest of the process and its waited-for children).\n"
        "- exit: the exit status; negative: killed by that signal; timeout: killed here.\n"
        "- nodes: index: len(index); dump: JSON lines that are not faults; * validate: the "
        "index's count for the same case (validate reports no nodes).\n"
        "- B/node: (peak RSS - the same tool's peak RSS on case base) / nodes, in bytes; "
        f"shown from {PER_NODE_MIN:,} nodes.\n"
        "- tmp MiB: peak disk used in the run's own TMPDIR, unlinked open files included.\n"
        "- listed after: valid elements after the damaged region that the index or dump lists "
        "as an element with the right tag at the right offset / how many were written.\n"
        "- findings / faults: validate: findings by rule; index: faults by code; dump: fault "
        "lines by rule.\n"
        "- stderr: its first line (the last line of a traceback); g: when the file was "
        "truncated, in seconds after the command started."
    )
    split = []
    for r in runs:
        anon, mapped = r.info.get("RssAnon_kib"), r.info.get("RssFile_kib")
        if isinstance(anon, int) and isinstance(mapped, int) and (r.peak_kib or 0) > 64 * KIB:
            split.append(f"{r.case} {anon / KIB:,.0f} + {mapped / KIB:,.0f}")
    if split:
        print(
            "- index, RSS at the end of the walk, anonymous + file-backed MiB (mapped pages of "
            "the file or of the inflated data, reclaimable), where the peak passed 64 MiB: "
            + "; ".join(split)
        )
    print(f"- load average at the end (1, 5, 15 min): {bi._load()}")
    if args.json is not None:
        payload = {
            "sizes": sizes.__dict__,
            "code": str(settings.code) if settings.code else None,
            "cases": [
                {"key": c.key, "what": c.what, "bytes": c.size, "expected": len(c.expected)}
                for c, _ in described
            ],
            "runs": [
                {
                    "case": r.case,
                    "tool": r.tool,
                    "file_bytes": r.file_bytes,
                    "wall": r.wall,
                    "peak_kib": r.peak_kib,
                    "exit": r.exit,
                    "timed_out": r.timed_out,
                    "nodes": r.nodes,
                    "tmp_peak": r.tmp_peak,
                    "listed": r.listed,
                    "expected": r.expected,
                    "findings": dict(r.findings),
                    "stderr": r.stderr,
                    "truncated_at": r.truncated_at,
                    "info": r.info,
                }
                for r in runs
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
