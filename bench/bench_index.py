#!/usr/bin/env python
"""Benchmark: dcmstruct's element index against pydicom, dcmtk's dcmdump and dicom3tools' dcdump.

This is a measurement script, not a test: it asserts nothing about timings. It

1. generates its input files into ``--workdir`` (default ``bench/out/``, git-ignored), reusing
   a file when its sidecar manifest says it was made with the same parameters and its size
   still matches:

   - ``many_small.dcm``: Explicit VR Little Endian Enhanced MR header, ~120,000 small data
     elements: a Per-frame Functional Groups Sequence of ~5,100 items (each with 7 nested
     sequences and 16 short string/numeric elements), ~2,400 top-level private elements, the
     usual standard top-level elements and a small pixel data element;
   - ``many_small_implicit.dcm``: the same data set in Implicit VR Little Endian;
   - ``multiframe_500mb.dcm``: a native 512x512x16-bit x 1,000-frame image (500 MiB of pixel
     data), the header written with :mod:`dcmstruct.builder` and the pixel data streamed in
     1 MiB chunks;
   - ``encapsulated_500mb.dcm``: JPEG Baseline multi-frame, 1,000 frames x 4 fragments
     (4,000 fragments of 128 KiB, 500 MiB) with a Basic Offset Table, streamed likewise;

2. runs every tool on every file in a fresh subprocess, ``--runs`` times (default 3), and
   reports the best time and the highest peak memory (max RSS) of those runs. Each process
   runs under GNU ``/usr/bin/time -f %M``, so its max RSS is its own: a child forked from
   this (larger) process would inherit this process's high-water mark in ``ru_maxrss``;

3. prints machine information and one markdown table, a row per file and for each tool
   "seconds / peak MiB".

Usage::

    python bench/bench_index.py                  # full sizes (~1 GB of files), 3 runs
    python bench/bench_index.py --quick --runs 1 # 20,000 elements and 50 MiB images
    python bench/bench_index.py --only many_small --tools dcmstruct,pydicom
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from dcmstruct.builder import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_BASELINE,
    E,
    Item,
    Raw,
    Seq,
    Writer,
    part10,
)
from dcmstruct.schema.element import (
    EXPLICIT_LE,
    ITEM,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
)

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / "out"
# Bump when the generated content changes, so stale files in the work directory are remade.
GENERATOR_VERSION = 1
MIB = 1 << 20
CHUNK = MIB  # pixel data is streamed to the file in chunks of this size
RUN_TIMEOUT = 900  # seconds for one run of one tool on one file

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"
MF_GRAYSCALE_BYTE_SC = "1.2.840.10008.5.1.4.1.1.7.2"
UID_ROOT = "1.2.826.0.1.3680043.10.1455.9"  # this project's root, for the synthetic instances

# Elements in one Per-frame Functional Groups item (7 sequences + 16 leaf elements).
ELEMENTS_PER_FRAME = 23
NATIVE_FRAME = (512, 512)  # rows, columns; 16-bit: 512 KiB a frame
ENCAPSULATED_FRAME = (1024, 1024)  # rows, columns; 8-bit JPEG Baseline
FRAGMENTS_PER_FRAME = 4


@dataclass(frozen=True)
class Sizes:
    elements: int  # data elements in the many_small files (meta group and nested included)
    image_mib: float  # pixel data of the two multi-frame images


FULL = Sizes(elements=120_000, image_mib=500)
QUICK = Sizes(elements=20_000, image_mib=50)


# -- generating the input files --------------------------------------------------------------


def _pattern(n: int) -> bytes:
    """``n`` bytes cycling through 0..250: never FE/FF, so never a tag of group FFFE or a JPEG
    marker where one is not meant to be (pydicom scans encapsulated data for FFFE,E0DD)."""
    block = bytes(range(251))
    return (block * (n // 251 + 1))[:n]


def _count(elements: Sequence[E | Raw]) -> int:
    """Data elements in ``elements``, nested ones included (items are not elements)."""
    n = 0
    for e in elements:
        if isinstance(e, E):
            n += 1
            if isinstance(e.value, Seq):
                for item in e.value.items:
                    if isinstance(item, Item):
                        n += _count(item.elements)
    return n


def _common_top_level(sop_class: str, instance: str, rows: int, columns: int) -> list[E]:
    """Patient, study, series, equipment and image pixel elements most images carry."""
    return [
        E(0x00080005, "CS", "ISO_IR 100"),
        E(0x00080008, "CS", ["ORIGINAL", "PRIMARY", "OTHER"]),
        E(0x00080012, "DA", "20240131"),
        E(0x00080013, "TM", "101502.123"),
        E(0x00080016, "UI", sop_class),
        E(0x00080018, "UI", f"{UID_ROOT}.{instance}"),
        E(0x00080020, "DA", "20240131"),
        E(0x00080023, "DA", "20240131"),
        E(0x00080030, "TM", "100301"),
        E(0x00080033, "TM", "101502"),
        E(0x00080050, "SH", "BENCH0001"),
        E(0x00080070, "LO", "DCMSTRUCT"),
        E(0x00080080, "LO", "Benchmark Hospital"),
        E(0x00080090, "PN", "REFERRER^ROBERT"),
        E(0x00081030, "LO", "Benchmark study"),
        E(0x0008103E, "LO", f"Benchmark series {instance}"),
        E(0x00081090, "LO", "BENCH-1"),
        E(0x00100010, "PN", "BENCH^PATIENT"),
        E(0x00100020, "LO", "BENCH-0001"),
        E(0x00100030, "DA", "19700101"),
        E(0x00100040, "CS", "O"),
        E(0x00181000, "LO", "SN-0001"),
        E(0x00181020, "LO", "dcmstruct bench"),
        E(0x0020000D, "UI", f"{UID_ROOT}.1"),
        E(0x0020000E, "UI", f"{UID_ROOT}.1.{instance}"),
        E(0x00200010, "SH", "1"),
        E(0x00200011, "IS", 1),
        E(0x00200013, "IS", 1),
        E(0x00280002, "US", 1),
        E(0x00280004, "CS", "MONOCHROME2"),
        E(0x00280010, "US", rows),
        E(0x00280011, "US", columns),
    ]


def _frame_item(k: int) -> Item:
    """One item of the Per-frame Functional Groups Sequence (5200,9230) of an Enhanced MR."""
    z = -100.0 + 1.5 * k
    stamp = f"20240131{10 + k // 3600 % 10:02d}{k // 60 % 60:02d}{k % 60:02d}.{k % 1000:03d}"
    return Item(
        [
            E(0x00189117, "SQ", Seq([Item([  # MR Diffusion Sequence
                E(0x00189075, "CS", "NONE"),
                E(0x00189087, "FD", 0.0),
            ])])),
            E(0x00209111, "SQ", Seq([Item([  # Frame Content Sequence
                E(0x00189074, "DT", stamp),
                E(0x00189151, "DT", stamp),
                E(0x00209056, "SH", "1"),
                E(0x00209057, "UL", k + 1),
                E(0x00209157, "UL", [1, k + 1]),
            ])])),
            E(0x00209113, "SQ", Seq([Item([  # Plane Position Sequence
                E(0x00200032, "DS", ["-125.0", "-125.0", f"{z:.2f}"]),
            ])])),
            E(0x00209116, "SQ", Seq([Item([  # Plane Orientation Sequence
                E(0x00200037, "DS", ["1", "0", "0", "0", "1", "0"]),
            ])])),
            E(0x00289110, "SQ", Seq([Item([  # Pixel Measures Sequence
                E(0x00180050, "DS", "1.5"),
                E(0x00280030, "DS", ["0.9765625", "0.9765625"]),
            ])])),
            E(0x00289132, "SQ", Seq([Item([  # Frame VOI LUT Sequence
                E(0x00281050, "DS", str(400 + k % 7)),
                E(0x00281051, "DS", "1200"),
            ])])),
            E(0x00289145, "SQ", Seq([Item([  # Pixel Value Transformation Sequence
                E(0x00281052, "DS", "0"),
                E(0x00281053, "DS", "1"),
                E(0x00281054, "LO", "US"),
            ])])),
        ]
    )  # fmt: skip


_PRIVATE_GROUPS = (0x0019, 0x0021, 0x0029, 0x0043)
_PRIVATE_VALUES: tuple[tuple[str, object], ...] = (
    ("LO", "vendor value"),
    ("DS", "3.14159"),
    ("IS", 42),
    ("US", 7),
    ("SL", -12345),
    ("FD", 2.5),
    ("SH", "short"),
    ("FL", 0.25),
)


def _private_elements(n: int) -> list[E]:
    """``n`` top-level private elements in blocks of 256 under private creators (PS3.5 7.8)."""
    out: list[E] = []
    block = 0
    while n > 0:
        group = _PRIVATE_GROUPS[block // 0xF0 % len(_PRIVATE_GROUPS)]
        creator = 0x10 + block % 0xF0
        out.append(E(group << 16 | creator, "LO", f"DCMSTRUCT BENCH {block}"))
        for i in range(min(n, 256)):
            vr, value = _PRIVATE_VALUES[i % len(_PRIVATE_VALUES)]
            out.append(E(group << 16 | creator << 8 | i, vr, value))
        n -= min(n, 256)
        block += 1
    return out


def many_small_dataset(elements: int) -> list[E | Raw]:
    """An Enhanced MR data set of about ``elements`` data elements, meta group included."""
    rows = columns = 16
    fixed = [
        *_common_top_level(ENHANCED_MR, "2", rows, columns),
        E(0x0008002A, "DT", "20240131100301"),
        E(0x00080060, "CS", "MR"),
        E(0x00089205, "CS", "MONOCHROME"),
        E(0x00089206, "CS", "VOLUME"),
        E(0x00089207, "CS", "NONE"),
        E(0x00180015, "CS", "HEAD"),
        E(0x00180087, "DS", "3"),
        E(0x00185100, "CS", "HFS"),
        E(0x00189004, "CS", "PRODUCT"),
        E(0x00189005, "SH", "BENCH_SE"),
        E(0x00189008, "CS", "SPIN"),
        E(0x00189020, "CS", "NONE"),
        E(0x00189064, "CS", "NONE"),
        E(0x00200052, "UI", f"{UID_ROOT}.3"),
        E(0x00201040, "LO", ""),
        E(0x00280100, "US", 16),
        E(0x00280101, "US", 12),
        E(0x00280102, "US", 11),
        E(0x00280103, "US", 0),
        E(0x00280301, "CS", "NO"),
        E(0x00282110, "CS", "00"),
        E(0x52009229, "SQ", Seq([Item([  # Shared Functional Groups Sequence
            E(0x00189112, "SQ", Seq([Item([  # MR Timing and Related Parameters Sequence
                E(0x00180080, "DS", "500"),
                E(0x00181314, "DS", "90"),
            ])])),
            E(0x00209071, "SQ", Seq([Item([E(0x00209072, "CS", "U")])])),  # Frame Anatomy
        ])])),
    ]  # fmt: skip
    meta_elements = 7  # file_meta(): (0002,0000-0013)
    # Top level: the fixed elements, NumberOfFrames, the two functional group sequences and
    # the pixel data; ~2 % of the budget as private elements, the rest per-frame items.
    private = max(0, elements // 50)
    base = meta_elements + _count(fixed) + 3 + private + (private + 255) // 256
    frames = max(1, (elements - base) // ELEMENTS_PER_FRAME)
    dataset: list[E | Raw] = [
        *fixed,
        *_private_elements(private),
        E(0x00280008, "IS", frames),
        E(0x52009230, "SQ", Seq([_frame_item(k) for k in range(frames)])),
        E(PIXEL_DATA, "OW", _pattern(rows * columns * 2 * frames)),
    ]
    dataset.sort(key=lambda e: e.tag_int if isinstance(e, E) else 0)
    return dataset


def write_many_small(path: Path, sizes: Sizes, transfer_syntax: str) -> dict[str, int]:
    dataset = many_small_dataset(sizes.elements)
    data = part10(dataset, transfer_syntax=transfer_syntax)
    path.write_bytes(data)
    return {"elements": 7 + _count(dataset), "fragments": 0}


def _frames_for(image_mib: float, frame_bytes: int) -> int:
    return max(1, round(image_mib * MIB / frame_bytes))


def write_native(path: Path, sizes: Sizes) -> dict[str, int]:
    rows, columns = NATIVE_FRAME
    frames = _frames_for(sizes.image_mib, rows * columns * 2)
    length = rows * columns * 2 * frames
    dataset: list[E | Raw] = [
        *_common_top_level(MF_GRAYSCALE_WORD_SC, "4", rows, columns),
        E(0x00080060, "CS", "OT"),
        E(0x00080064, "CS", "WSD"),  # Conversion Type
        E(0x00181063, "DS", "33.3"),  # Frame Time
        E(0x00280008, "IS", frames),
        E(0x00280009, "AT", 0x00181063),  # Frame Increment Pointer -> Frame Time
        E(0x00280100, "US", 16),
        E(0x00280101, "US", 16),
        E(0x00280102, "US", 15),
        E(0x00280103, "US", 0),
        E(0x00281050, "DS", "32768"),
        E(0x00281051, "DS", "65536"),
        E(0x00281052, "DS", "0"),
        E(0x00281053, "DS", "1"),
        # The header only: the value is streamed below.
        E(PIXEL_DATA, "OW", b"", length=length),
    ]
    dataset.sort(key=lambda e: e.tag_int if isinstance(e, E) else 0)
    chunk = memoryview(_pattern(CHUNK))
    with path.open("wb") as f:
        f.write(part10(dataset, transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN))
        left = length
        while left > 0:
            n = min(left, CHUNK)
            f.write(chunk[:n])
            left -= n
    return {"elements": 7 + _count(dataset), "fragments": 0}


def write_encapsulated(path: Path, sizes: Sizes) -> dict[str, int]:
    rows, columns = ENCAPSULATED_FRAME
    # Frames of ~1/2 MiB compressed each, in FRAGMENTS_PER_FRAME fragments.
    frames = _frames_for(sizes.image_mib, MIB // 2)
    fragments = frames * FRAGMENTS_PER_FRAME
    fragment = max(16, int(sizes.image_mib * MIB / fragments) & ~1)  # even (PS3.5 A.4)
    dataset: list[E | Raw] = [
        *_common_top_level(MF_GRAYSCALE_BYTE_SC, "5", rows, columns),
        E(0x00080060, "CS", "OT"),
        E(0x00080064, "CS", "WSD"),
        E(0x00181063, "DS", "33.3"),
        E(0x00280008, "IS", frames),
        E(0x00280009, "AT", 0x00181063),
        E(0x00280100, "US", 8),
        E(0x00280101, "US", 8),
        E(0x00280102, "US", 7),
        E(0x00280103, "US", 0),
        E(0x00282110, "CS", "01"),  # Lossy Image Compression
        E(0x00282112, "DS", "2"),
        E(0x00282114, "CS", "ISO_10918_1"),
        E(PIXEL_DATA, "OB", b"", length=UNDEFINED_LENGTH),
    ]
    dataset.sort(key=lambda e: e.tag_int if isinstance(e, E) else 0)
    w = Writer(EXPLICIT_LE)
    step = FRAGMENTS_PER_FRAME * (8 + fragment)
    table = struct.pack(f"<{frames}I", *(i * step for i in range(frames)))  # Basic Offset Table
    body = _pattern(fragment)
    first = b"\xff\xd8\xff\xdb" + body[4:]  # a frame's first fragment starts with SOI ...
    last = body[:-2] + b"\xff\xd9"  # ... and its last one ends with EOI
    header = w.header(ITEM, None, fragment)
    with path.open("wb") as f:
        f.write(part10(dataset, transfer_syntax=JPEG_BASELINE))
        f.write(w.header(ITEM, None, len(table)) + table)
        for _ in range(frames):
            for j in range(FRAGMENTS_PER_FRAME):
                f.write(header)
                f.write(first if j == 0 else last if j == FRAGMENTS_PER_FRAME - 1 else body)
        f.write(w.header(SEQUENCE_DELIMITER, None, 0))
    return {"elements": 7 + _count(dataset), "fragments": fragments}


@dataclass(frozen=True)
class FileSpec:
    name: str
    description: str
    write: Callable[[Path, Sizes], dict[str, int]]
    params: Callable[[Sizes], dict[str, object]]


def write_tiny(path: Path, sizes: Sizes) -> dict[str, int]:
    """The baseline: a 64x64 single-frame image of ~40 elements, to show each tool's fixed cost
    (interpreter start, imports, process) apart from the work that grows with the file."""
    dataset: list[E | Raw] = [
        *_common_top_level(MF_GRAYSCALE_WORD_SC, "6", 64, 64),
        E(0x00080060, "CS", "OT"),
        E(0x00280100, "US", 16),
        E(0x00280101, "US", 16),
        E(0x00280102, "US", 15),
        E(0x00280103, "US", 0),
        E(PIXEL_DATA, "OW", _pattern(64 * 64 * 2)),
    ]
    dataset.sort(key=lambda e: e.tag_int if isinstance(e, E) else 0)
    path.write_bytes(part10(dataset, transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN))
    return {"elements": 7 + _count(dataset), "fragments": 0}


FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "many_small.dcm",
        "Enhanced MR, Explicit VR LE, per-frame functional groups",
        lambda p, s: write_many_small(p, s, EXPLICIT_VR_LITTLE_ENDIAN),
        lambda s: {"elements": s.elements},
    ),
    FileSpec(
        "many_small_implicit.dcm",
        "the same data set, Implicit VR LE",
        lambda p, s: write_many_small(p, s, IMPLICIT_VR_LITTLE_ENDIAN),
        lambda s: {"elements": s.elements},
    ),
    FileSpec(
        "multiframe_500mb.dcm",
        "native 512x512x16-bit multi-frame, Explicit VR LE",
        write_native,
        lambda s: {"image_mib": s.image_mib},
    ),
    FileSpec(
        "encapsulated_500mb.dcm",
        "JPEG Baseline multi-frame, 4 fragments a frame, Basic Offset Table",
        write_encapsulated,
        lambda s: {"image_mib": s.image_mib},
    ),
)


BASELINE = FileSpec(
    "baseline_tiny.dcm",
    "a 64x64 single-frame image: each tool's fixed cost",
    write_tiny,
    lambda s: {},
)


@dataclass
class InputFile:
    name: str
    path: Path
    size: int
    elements: int | None
    fragments: int | None
    reused: bool
    description: str


def ensure_file(workdir: Path, spec: FileSpec, sizes: Sizes) -> InputFile:
    """Generate ``spec`` into ``workdir``, or reuse it if it was made with the same parameters.

    A sidecar ``NAME.json`` records the generator version, the parameters and the size; the
    file is written under a temporary name and renamed when complete, so an interrupted run
    never leaves a file that looks reusable.
    """
    path = workdir / spec.name
    manifest_path = workdir / (spec.name + ".json")
    params = {"generator": GENERATOR_VERSION, **spec.params(sizes)}
    if path.exists() and manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            manifest = {}
        if manifest.get("params") == params and manifest.get("size") == path.stat().st_size:
            return InputFile(
                spec.name,
                path,
                manifest["size"],
                manifest.get("elements"),
                manifest.get("fragments"),
                True,
                spec.description,
            )
    manifest_path.unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".partial")
    counts = spec.write(tmp, sizes)
    tmp.replace(path)
    size = path.stat().st_size
    manifest_path.write_text(json.dumps({"params": params, "size": size, **counts}, indent=1))
    return InputFile(
        spec.name, path, size, counts["elements"], counts["fragments"], False, spec.description
    )


# -- the tools --------------------------------------------------------------------------------

# Each Python snippet times its own work with perf_counter (after its imports, which it times
# separately) and prints one JSON object on stdout.
DCMSTRUCT_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
from dcmstruct.index import index_file
t1 = time.perf_counter()
index = index_file(sys.argv[1])
nodes = len(index)
check = 0
for offset in index.columns.offset.tolist():  # touch every node
    check += offset
t2 = time.perf_counter()
info = {"import_s": t1 - t0, "work_s": t2 - t1, "nodes": nodes, "faults": len(index.faults)}
try:  # Linux: how much of the RSS is the file's mapped pages, at the end of the walk
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                info[key + "_kib"] = int(value.split()[0])
except OSError:
    pass
index.close()
print(json.dumps(info))
"""

PYDICOM_WALK_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import pydicom
t1 = time.perf_counter()

def walk(ds):
    # Iterating a Dataset converts each raw element to a DataElement; .value is touched
    # (and its length taken where it has one); sequences are walked item by item.
    n = 0
    for elem in ds:
        n += 1
        value = elem.value
        if elem.VR == "SQ":
            for item in value:
                n += walk(item)
        elif isinstance(value, (bytes, str)):
            len(value)
    return n

ds = pydicom.dcmread(sys.argv[1])
n = walk(ds.file_meta) + walk(ds)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "work_s": t2 - t1, "elements": n}))
"""

PYDICOM_DEFER_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.datadict import dictionary_VR
t1 = time.perf_counter()

def is_sequence(raw):
    vr = raw.VR  # None in Implicit VR: the dictionary's
    if vr is None:
        try:
            vr = dictionary_VR(raw.tag)
        except KeyError:
            return False
    return vr == "SQ"

def walk(ds):
    # As the plain walk, except that an element whose value was deferred (> 1024 bytes) and
    # is not a sequence is touched through its raw length: reading its value would read it
    # from the file. Deferred sequences are read (from the file) and walked.
    n = 0
    for tag in sorted(ds.keys()):
        n += 1
        raw = ds.get_item(tag, keep_deferred=True)
        if isinstance(raw, RawDataElement) and raw.value is None and not is_sequence(raw):
            raw.length
            continue
        elem = ds[tag]
        value = elem.value
        if elem.VR == "SQ":
            for item in value:
                n += walk(item)
        elif isinstance(value, (bytes, str)):
            len(value)
    return n

ds = pydicom.dcmread(sys.argv[1], defer_size=1024)
n = walk(ds.file_meta) + walk(ds)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "work_s": t2 - t1, "elements": n}))
"""

PYDICOM_READ_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import pydicom
t1 = time.perf_counter()
ds = pydicom.dcmread(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "work_s": t2 - t1}))
"""


@dataclass(frozen=True)
class Tool:
    key: str
    label: str  # the table's column header
    what: str  # exactly what is measured
    argv: Callable[[Path], list[str]]
    snippet: bool  # a Python snippet that reports its own timings on stdout
    stderr_to_null: bool = False  # dcdump writes its dump to stderr
    requires: str | None = None  # an executable that must be on PATH

    def available(self) -> bool:
        return self.requires is None or shutil.which(self.requires) is not None


def _py(snippet: str) -> Callable[[Path], list[str]]:
    return lambda path: [sys.executable, "-c", snippet, str(path)]


TOOLS: tuple[Tool, ...] = (
    Tool(
        "dcmstruct",
        "dcmstruct index",
        "`index_file(path)`, `len(index)`, then a Python loop over `columns.offset.tolist()`; "
        "timed in-process after `import dcmstruct.index`",
        _py(DCMSTRUCT_SNIPPET),
        snippet=True,
    ),
    Tool(
        "pydicom",
        "pydicom read+walk",
        "`dcmread(path)` with default options (pixel data read into memory), then a recursive "
        "walk of file_meta and data set: every element converted by iteration, `.value` "
        "touched, sequences walked item by item; timed in-process after `import pydicom`",
        _py(PYDICOM_WALK_SNIPPET),
        snippet=True,
    ),
    Tool(
        "pydicom-defer",
        "pydicom defer+walk",
        "`dcmread(path, defer_size=1024)`, then the same walk, except that deferred values "
        "(> 1024 bytes) other than sequences (e.g. pixel data) are touched through the raw "
        "element's length without reading them; deferred sequences are read and walked; "
        "timed in-process",
        _py(PYDICOM_DEFER_SNIPPET),
        snippet=True,
    ),
    Tool(
        "pydicom-read",
        "pydicom dcmread",
        "plain `dcmread(path)` (no defer_size, no stop_before_pixels), no walk: pydicom "
        "converts elements lazily, so this is what a user pays before touching anything; "
        "timed in-process",
        _py(PYDICOM_READ_SNIPPET),
        snippet=True,
    ),
    Tool(
        "dcmstruct-cli",
        "dcmstruct dump jsonl",
        "`python -m dcmstruct dump --format jsonl FILE > /dev/null`: the whole process "
        "(interpreter start, imports, index, JSON of every node)",
        lambda path: [sys.executable, "-m", "dcmstruct", "dump", "--format", "jsonl", str(path)],
        snippet=False,
    ),
    Tool(
        "dcmdump",
        "dcmdump -q",
        "`dcmdump -q FILE > /dev/null` (dcmtk): the whole process; defaults in force: +M (load "
        "all values, pixel data included), -L (long values printed shortened), +Un, -T",
        lambda path: ["dcmdump", "-q", str(path)],
        snippet=False,
        requires="dcmdump",
    ),
    Tool(
        "dcmdump-M",
        "dcmdump -q -M",
        "`dcmdump -q -M FILE > /dev/null`: as above but -M: values longer than 4 KiB are not "
        "loaded (dcmtk's lazy mode)",
        lambda path: ["dcmdump", "-q", "-M", str(path)],
        snippet=False,
        requires="dcmdump",
    ),
    Tool(
        "dcdump",
        "dcdump",
        "`dcdump FILE` (dicom3tools) with its dump (written to stderr) and stdout sent to "
        "/dev/null: the whole process",
        lambda path: ["dcdump", str(path)],
        snippet=False,
        stderr_to_null=True,
        requires="dcdump",
    ),
)


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float  # the tool's own timing (snippets) or the whole process's wall time
    wall: float  # the whole process's wall time, measured here
    peak_kib: int | None
    returncode: int
    info: dict[str, object] = field(default_factory=dict)
    error: str = ""


@dataclass
class Result:
    tool: str
    file: str
    runs: list[Run]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.returncode == 0 for r in self.runs)

    @property
    def best(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def peak_mib(self) -> float | None:
        peaks = [r.peak_kib for r in self.runs if r.peak_kib is not None]
        return max(peaks) / 1024 if peaks else None

    def info(self, key: str) -> object:
        for r in self.runs:
            if key in r.info:
                return r.info[key]
        return None


def gnu_time() -> str | None:
    """GNU time's path, if it is there and is GNU time (it must understand ``-f %M -o``)."""
    for candidate in ("/usr/bin/time", shutil.which("gtime")):
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run(
                [candidate, "-f", "%M", "true"], capture_output=True, text=True, check=False
            )
            lines = probe.stderr.strip().splitlines()
            if probe.returncode == 0 and lines and lines[-1].isdigit():
                return candidate
    return None


@contextlib.contextmanager
def deadline(proc: subprocess.Popen[bytes], timeout: float) -> Iterator[threading.Event]:
    """Within the block, ``proc``'s process group (``start_new_session``) is killed at
    ``timeout``; the event says whether it was. Lets a run be waited for with a blocking
    ``waitpid``, so that when it ended is known to the microsecond: ``Popen.wait(timeout=...)``
    and ``communicate(timeout=...)`` poll instead, sleeping up to 50 ms between looks, which
    would round every figure up to the next look."""
    fired = threading.Event()

    def kill() -> None:
        fired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def wait_exactly(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc`` (see :func:`deadline`); True if it was killed at ``timeout``."""
    with deadline(proc, timeout) as fired:
        proc.wait()
    return fired.is_set()


def measure_once(tool: Tool, path: Path, time_path: str | None) -> Run:
    argv = tool.argv(path)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        rss_file = os.path.join(tmp, "rss")
        err_file = os.path.join(tmp, "stderr")
        if time_path is not None:
            argv = [time_path, "-f", "%M", "-o", rss_file, *argv]
        with open(err_file, "wb") as err:
            stdout = subprocess.PIPE if tool.snippet else subprocess.DEVNULL
            stderr = subprocess.DEVNULL if tool.stderr_to_null else err
            start = time.perf_counter()
            # Its own process group, so a run that times out is ended with its children.
            proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, start_new_session=True)
            peak: int | None = None
            timed_out = False
            if time_path is None:
                # Fallback: this child's own rusage. It includes this process's RSS at fork
                # time (the high-water mark survives fork and exec), so it over-reports.
                out = proc.stdout.read() if proc.stdout is not None else b""
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                peak = usage.ru_maxrss
            else:
                with deadline(proc, RUN_TIMEOUT) as fired:
                    # The output first (a full pipe would block the tool), then the exit.
                    out = proc.stdout.read() if proc.stdout is not None else b""
                    proc.wait()
                timed_out = fired.is_set()
            out = out or b""
            wall = time.perf_counter() - start
        error = Path(err_file).read_text(errors="replace").strip()
        if timed_out:
            error += f"\ntimed out after {RUN_TIMEOUT} s"
        if time_path is not None:
            lines = Path(rss_file).read_text().split() if os.path.exists(rss_file) else []
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else None
    info: dict[str, object] = {}
    seconds = wall
    if tool.snippet and proc.returncode == 0:
        info = json.loads(out.decode().strip().splitlines()[-1])
        seconds = float(info["work_s"])  # type: ignore[arg-type]
    return Run(seconds, wall, peak, proc.returncode, info, error[-2000:])


def warm(path: Path) -> None:
    """Read the whole file, so that every tool starts with all of it in the page cache.

    The figures then do not depend on what ran before (or on the kernel reclaiming cold
    page cache in between): a file that is only partly cached makes a tool that reads it all
    slower, and one that maps it (dcmstruct) smaller in RSS, since the kernel maps the cached
    pages around each one a mapping touches ("fault-around") but not pages it has to read.
    """
    buf = bytearray(CHUNK)
    with path.open("rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def measure(tool: Tool, path: Path, runs: int, time_path: str | None) -> Result:
    result = Result(tool.key, path.name, [])
    warm(path)
    for _ in range(runs):
        run = measure_once(tool, path, time_path)
        result.runs.append(run)
        if run.returncode != 0:
            break  # a failing tool fails every time: do not wait for it again
    return result


# -- reporting --------------------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(time_path: str | None) -> list[tuple[str, str]]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / MIB:.1f} GiB"
                break
    except OSError:
        pass
    dcmdump = _first_line(["dcmdump", "--version"]) if shutil.which("dcmdump") else "not found"
    dicom3tools = "not found"
    if shutil.which("dcdump"):
        dicom3tools = "installed (version unknown)"
        if shutil.which("dpkg-query"):
            v = _first_line(["dpkg-query", "-W", "-f", "${Version}", "dicom3tools"])
            if v and "no packages" not in v:
                dicom3tools = f"{v} (Debian package)"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return [
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} logical, {affinity} usable by this process"),
        ("memory", memory),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("dcmstruct", _version("dcmstruct")),
        ("numpy", _version("numpy")),
        ("pydicom", _version("pydicom")),
        ("dcmtk", dcmdump.replace("$", "").strip()),
        ("dicom3tools", dicom3tools),
        ("peak memory via", f"{time_path} -f %M" if time_path else "os.wait4 (over-reports)"),
        ("load average (1, 5, 15 min)", _load()),
    ]


def _load() -> str:
    """Other processes on the machine skew every figure: say how busy it was."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _cell(result: Result | None) -> str:
    if result is None:
        return "n/a"
    if not result.ok:
        rc = result.runs[-1].returncode if result.runs else "?"
        return f"error (exit {rc})"
    peak = result.peak_mib
    return f"{result.best:.3f} / {peak:.0f}" if peak is not None else f"{result.best:.3f} / ?"


def format_table(
    files: list[InputFile], tools: list[Tool], results: dict[tuple[str, str], Result]
) -> str:
    header = ["file", "size MiB", "elements", "nodes", *(f"{t.label} s / MiB" for t in tools)]
    rows = [header, ["---"] * len(header)]
    for f in files:
        nodes = "n/a"
        dcm = results.get(("dcmstruct", f.name))
        if dcm is not None and dcm.ok:
            nodes = f"{dcm.info('nodes'):,}"
        rows.append(
            [
                f.name,
                f"{f.size / MIB:.1f}",
                "n/a" if f.elements is None else f"{f.elements:,}",
                nodes,
                *(_cell(results.get((t.key, f.name))) for t in tools),
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def rss_breakdown(files: list[InputFile], results: dict[tuple[str, str], Result]) -> str:
    parts = []
    for f in files:
        dcm = results.get(("dcmstruct", f.name))
        if dcm is None or not dcm.ok:
            continue
        anon, mapped = dcm.info("RssAnon_kib"), dcm.info("RssFile_kib")
        if isinstance(anon, int) and isinstance(mapped, int):
            parts.append(f"{f.name} {anon / 1024:.0f} MiB anonymous + {mapped / 1024:.0f} MiB file")
    return "; ".join(parts)


def requirement_lines(
    files: list[InputFile], results: dict[tuple[str, str], Result], full: bool
) -> list[str]:
    out: list[str] = []
    if not full:
        out.append("(not the full sizes: the requirements below are stated for the full run)")
    for f in files:
        dcm = results.get(("dcmstruct", f.name))
        if dcm is None or not dcm.ok:
            continue
        if f.name.startswith("many_small"):
            py = results.get(("pydicom", f.name))
            if py is not None and py.ok:
                verdict = "met" if dcm.best < py.best else "NOT met"
                out.append(
                    f"- {f.name}: dcmstruct index {dcm.best:.3f} s vs pydicom dcmread+walk "
                    f"{py.best:.3f} s ({py.best / dcm.best:.1f}x): faster than pydicom: {verdict}"
                )
        else:
            peak = dcm.peak_mib or float("inf")
            fast = "met" if dcm.best < 1.0 else "NOT met"
            small = "met" if peak < 100 else "NOT met"
            mapped = dcm.info("RssFile_kib")
            detail = (
                f", {mapped / 1024:.0f} MiB of it file-backed" if isinstance(mapped, int) else ""
            )
            out.append(
                f"- {f.name} ({f.size / MIB:.0f} MiB): dcmstruct index {dcm.best:.3f} s "
                f"(< 1 s: {fast}), peak {peak:.0f} MiB{detail} (< 100 MiB: {small})"
            )
    return out


# -- main -------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Benchmark dcmstruct's index against pydicom, dcmdump and dcdump."
    )
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the files go")
    p.add_argument("--runs", type=int, default=3, help="runs per tool and file (best time)")
    p.add_argument("--quick", action="store_true", help="20,000 elements and 50 MiB images")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only this file (e.g. many_small or many_small.dcm); may be repeated",
    )
    p.add_argument(
        "--tools",
        default="",
        help="comma-separated tools to run (default all): " + ",".join(t.key for t in TOOLS),
    )
    p.add_argument("--elements", type=int, help="override: data elements in many_small*")
    p.add_argument("--image-mib", type=float, help="override: MiB of pixel data of the images")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline_tiny.dcm row")
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        elements=args.elements if args.elements is not None else base.elements,
        image_mib=args.image_mib if args.image_mib is not None else base.image_mib,
    )
    full = sizes == FULL
    wanted = {n.removesuffix(".dcm") for n in args.only}
    specs = [s for s in FILES if not wanted or s.name.removesuffix(".dcm") in wanted]
    if wanted and len(specs) != len(wanted):
        known = ", ".join(s.name.removesuffix(".dcm") for s in FILES)
        print(f"--only: unknown file name in {sorted(wanted)}; known: {known}", file=sys.stderr)
        return 2
    keys = [k.strip() for k in args.tools.split(",") if k.strip()]
    unknown = [k for k in keys if k not in {t.key for t in TOOLS}]
    if unknown:
        print(f"--tools: unknown {unknown}", file=sys.stderr)
        return 2
    tools = [t for t in TOOLS if not keys or t.key in keys]
    missing = [t for t in tools if not t.available()]
    tools = [t for t in tools if t.available()]
    time_path = gnu_time()

    print("# dcmstruct index benchmark\n")
    for key, value in machine_info(time_path):
        print(f"- {key}: {value}")
    print(f"- runs per tool and file: {args.runs} (best time, highest peak RSS reported)")
    print(f"- sizes: {sizes.elements:,} elements (many_small*), {sizes.image_mib:g} MiB images")
    for t in missing:
        print(f"- {t.label}: `{t.requires}` not found, skipped")
    print()

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    files: list[InputFile] = []
    for spec in specs:
        start = time.perf_counter()
        f = ensure_file(workdir, spec, sizes)
        how = "reused" if f.reused else f"generated in {time.perf_counter() - start:.1f} s"
        print(f"input {f.name}: {f.size:,} bytes, {how} ({f.path})", file=sys.stderr)
        files.append(f)
    if not args.no_baseline:
        files.insert(0, ensure_file(workdir, BASELINE, sizes))

    results: dict[tuple[str, str], Result] = {}
    for f in files:
        for tool in tools:
            print(f"measuring {tool.key} on {f.name} ...", file=sys.stderr, flush=True)
            r = measure(tool, f.path, args.runs, time_path)
            r.file = f.name
            results[(tool.key, f.name)] = r
            if not r.ok and r.runs:
                print(f"  {tool.key} failed: {r.runs[-1].error[-500:]}", file=sys.stderr)

    print(format_table(files, tools, results))
    print()
    print("Cells: best wall time in seconds of the runs / highest peak RSS in MiB (whole process).")
    print("What each column measures:")
    for t in tools:
        print(f"- {t.label}: {t.what}.")
    imports = {
        t.label: min(
            float(r.info["import_s"])  # type: ignore[arg-type]
            for (key, _), res in results.items()
            if key == t.key and res.ok
            for r in res.runs
        )
        for t in tools
        if t.snippet and any(k == t.key and res.ok for (k, _), res in results.items())
    }
    if imports:
        listed = ", ".join(f"{label} {s:.3f} s" for label, s in imports.items())
        print(
            f"- Import time, not included in the in-process figures (best of all runs): {listed}."
        )
    print(
        "- Peak MiB is the max RSS of the whole process, interpreter and imports included; the "
        "baseline_tiny.dcm row (8 KiB) shows that fixed cost for each tool."
    )
    print(
        "- Warm page cache: each file is read in full before each tool's runs on it (so every "
        "tool starts with the whole file cached; see `warm()`)."
    )
    for f in files:
        dcm = results.get(("dcmstruct", f.name))
        if dcm is not None and dcm.ok and dcm.info("faults"):
            print(f"- WARNING: dcmstruct reported {dcm.info('faults')} faults in {f.name}")
    breakdown = rss_breakdown(files, results)
    if breakdown:
        print(
            "- dcmstruct index, RSS at the end of the walk (/proc/self/status): anonymous "
            "memory vs file-backed pages (shared libraries, ~16 MiB, plus the pages of the input "
            "that its mmap has mapped: page cache, shared and reclaimable, yet counted in RSS): "
            f"{breakdown}."
        )
        for key in ("pydicom", "pydicom-defer"):
            py = results.get((key, f.name))
            if py is not None and py.ok and f.elements is not None:
                counted = py.info("elements")
                if counted != f.elements:
                    print(
                        f"- WARNING: {key}'s walk counted {counted} elements in {f.name}, "
                        f"the generator wrote {f.elements}"
                    )
    print(f"- Load average at the end (1, 5, 15 min): {_load()} on {os.cpu_count()} cores.")
    lines = requirement_lines([f for f in files if f.name != BASELINE.name], results, full)
    if lines:
        print("\nRequirements:")
        print("\n".join(lines))

    if args.json is not None:
        payload = {
            "machine": dict(machine_info(time_path)),
            "sizes": {"elements": sizes.elements, "image_mib": sizes.image_mib},
            "files": [
                {"name": f.name, "size": f.size, "elements": f.elements, "fragments": f.fragments}
                for f in files
            ],
            "results": [
                {
                    "tool": r.tool,
                    "file": r.file,
                    "ok": r.ok,
                    "runs": [
                        {
                            "seconds": x.seconds,
                            "wall": x.wall,
                            "peak_kib": x.peak_kib,
                            "returncode": x.returncode,
                            "info": x.info,
                        }
                        for x in r.runs
                    ],
                }
                for r in results.values()
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
