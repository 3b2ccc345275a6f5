"""The committed synthetic fixtures (``fixtures/*.dcm``) and the bundled sample.

Each file must

(a) be exactly what its script makes today (``fixtures/make_fixtures.py``,
    ``fixtures/make_sample.py``), so that the fixtures never drift silently;
(b) index with zero faults;
(c) round-trip through ``Part10File``;
(d) be read by dcmtk's ``dcmdump`` with exit status 0 and no ``E:``/``W:`` line;
(e) have the element offsets that dicom3tools' ``dcdump -v`` reports.

Without dcmdump or dcdump, (d) and (e) skip, except when ``CI`` is set: then they fail.

Known differences with the tools, checked explicitly rather than hidden:

* dcmtk warns whenever it applies CP-246 (``Found element (gggg,eeee) with VR UN and
  undefined length, reading a sequence ...``): ``un_undefined.dcm`` exists to contain such
  elements, so that warning, and only that one, is allowed there.
* dcdump cannot read deflated data sets (no zlib in the Debian build): ``deflated.dcm`` is
  not compared with it.
* In Implicit VR, dcdump keeps an unknown private element of defined length as opaque UN
  bytes, where dcmstruct sees that its value is a sequence of items and indexes them: the
  nodes inside the private sequence (0009,1010) of ``implicit_le.dcm`` have no dcdump line.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dcmstruct.dump import jsonl_records
from dcmstruct.index import index_file
from dcmstruct.schema import Part10File

try:
    from tests import corpus
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import corpus  # type: ignore[no-redef,import-not-found]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SAMPLE = ROOT / "dcmstruct" / "data" / "sample_ct.dcm"
IN_CI = bool(os.environ.get("CI"))


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fixtures_{name}", FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_fixtures = _load_script("make_fixtures")
make_sample = _load_script("make_sample")

FIXTURE_NAMES: list[str] = list(make_fixtures.FIXTURES)
ALL_FILES: list[Path] = [FIXTURES / name for name in FIXTURE_NAMES] + [SAMPLE]

DEFLATED = "deflated.dcm"
CP246_WARNING = re.compile(
    r"^W: Found element \([0-9a-f]{4},[0-9a-f]{4}\) with VR UN and undefined length, "
    r"reading a sequence with transfer syntax LittleEndianImplicit \(CP-246\)$"
)
ALLOWED_DCMDUMP_LINES: dict[str, re.Pattern[str]] = {"un_undefined.dcm": CP246_WARNING}
# (file, tag of an implicit VR private element of defined length whose items only dcmstruct sees)
OPAQUE_FOR_DCDUMP: dict[str, str] = {"implicit_le.dcm": "0009,1010"}


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is not installed"
        if IN_CI:
            pytest.fail(f"{message}, but CI is set")
        pytest.skip(message)
    return found


def _run_script(script: str, out: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(FIXTURES / script), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regenerated")
    _run_script("make_fixtures.py", out)
    _run_script("make_sample.py", out)
    return out


# -- (a) regenerate and compare ------------------------------------------------------------------


def _inflated_parts(data: bytes) -> tuple[bytes, bytes]:
    """(preamble + meta group, inflated data set) of a deflated file."""
    meta_end, _ = corpus._meta_info(data)
    assert meta_end is not None
    return data[:meta_end], zlib.decompress(data[meta_end:], -15)


@pytest.mark.parametrize("name", [*FIXTURE_NAMES, SAMPLE.name])
def test_regenerated_files_are_identical(regenerated: Path, name: str) -> None:
    committed = SAMPLE if name == SAMPLE.name else FIXTURES / name
    assert committed.is_file(), f"{committed} is missing: run the script and commit it"
    new = (regenerated / name).read_bytes()
    old = committed.read_bytes()
    script = "make_sample.py" if name == SAMPLE.name else "make_fixtures.py"
    hint = f"{committed} differs from what fixtures/{script} makes: rerun it and commit"
    if name == DEFLATED and "ng" in zlib.ZLIB_RUNTIME_VERSION and new != old:
        # zlib-ng compresses to other bytes than zlib: compare what the stream inflates to.
        assert _inflated_parts(new) == _inflated_parts(old), hint
        return
    assert new == old, hint


def test_no_stray_fixture_files() -> None:
    """Every committed .dcm file is made by the script (nothing hand-edited is left over)."""
    assert sorted(p.name for p in FIXTURES.glob("*.dcm")) == sorted(FIXTURE_NAMES)


# -- (b) index, (c) round trip -------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_index_has_no_faults(path: Path) -> None:
    with index_file(path) as index:
        assert index.faults == []
        assert len(index) > 10


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_part10_round_trip(path: Path) -> None:
    data = path.read_bytes()
    assert Part10File.build(Part10File.parse(data)) == data


# -- (d) dcmdump ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_dcmdump_reads_cleanly(path: Path) -> None:
    dcmdump = _require("dcmdump")
    proc = subprocess.run(
        [dcmdump, str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        check=False,
        env=dict(os.environ, LC_ALL="C"),
    )
    allowed = ALLOWED_DCMDUMP_LINES.get(path.name)
    bad = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.startswith(("E:", "W:")) and not (allowed and allowed.match(line))
    ]
    assert proc.returncode == 0, f"dcmdump exit status {proc.returncode}:\n{proc.stderr}"
    assert bad == []


def test_cp246_warning_is_what_dcmdump_says() -> None:
    """The allowed warning is really there: dcmtk read the UN elements as sequences."""
    dcmdump = _require("dcmdump")
    proc = subprocess.run(
        [dcmdump, str(FIXTURES / "un_undefined.dcm")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    assert any(CP246_WARNING.match(line) for line in lines)
    assert any("(0008,1155) UI [1.2.826.0.1.3680043.10.1455.3.4]" in line for line in lines)


# -- (e) dcdump -v offsets -----------------------------------------------------------------------

DCDUMP_FILES = [p for p in ALL_FILES if p.name != DEFLATED]


def _opaque_ranges(records: list[dict[str, Any]], tag: str | None) -> list[tuple[int, int]]:
    return [
        (int(r["value_offset"]), int(r["end"]))
        for r in records
        if tag is not None and r["tag"] == tag and r["kind"] == "element"
    ]


def _inside(offset: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start <= offset < end for start, end in ranges)


@pytest.mark.parametrize("path", DCDUMP_FILES, ids=_ids(DCDUMP_FILES))
def test_offsets_agree_with_dcdump(path: Path) -> None:
    _require("dcdump")
    result = corpus.run_dcdump(path, None)
    assert result is not None
    assert result.ok, f"dcdump does not read {path.name} cleanly: {result.errors}"
    assert not result.anomalies, "dcdump -v output not understood:\n" + "\n".join(result.anomalies)
    with index_file(path) as index:
        records: list[dict[str, Any]] = list(jsonl_records(index))

    # Every offset dcdump reports is a dcmstruct node with the same tag ...
    missing, at = corpus.compare(result, records)
    assert not missing, corpus.describe_missing(missing, at)

    # ... and every dcmstruct node (but preamble and prefix) is one dcdump reports.
    reported = {(o.offset, o.tag) for o in result.offsets}
    bare = {o.offset for o in result.offsets if o.tag is None}
    opaque = _opaque_ranges(records, OPAQUE_FOR_DCDUMP.get(path.name))
    unreported = [
        f"{r['offset']:#010x} {r['kind']} {r['tag']}"
        for r in records
        if r["kind"] not in ("preamble", "prefix")
        and (r["offset"], r["tag"]) not in reported
        and r["offset"] not in bare
        and not _inside(r["offset"], opaque)
    ]
    assert unreported == [], "dcmstruct nodes that dcdump -v does not report"
    if opaque:  # the documented difference is real: dcmstruct found items there
        assert any(_inside(r["offset"], opaque) for r in records)


def test_dcdump_agreement_covers_nested_sequences() -> None:
    """The comparison is not vacuous: dcdump reports the items of the fourth nesting level."""
    _require("dcdump")
    path = FIXTURES / "explicit_le.dcm"
    result = corpus.run_dcdump(path, None)
    assert result is not None
    with index_file(path) as index:
        records: list[dict[str, Any]] = list(jsonl_records(index))
    deep = [r for r in records if r["kind"] == "item" and r["depth"] >= 4]
    offsets = {o.offset for o in result.offsets}
    assert deep and all(r["offset"] in offsets for r in deep)


# -- what the pixels decode to (pydicom, a test dependency) --------------------------------------


def _expected_pixels(name: str) -> np.ndarray:
    if name == "encapsulated_rle.dcm":
        return np.stack(make_fixtures.rle_images())
    gradient: np.ndarray = make_fixtures.native_gradient(16, 16)
    return gradient


PIXEL_FIXTURES = ["explicit_le.dcm", "implicit_le.dcm", "explicit_be.dcm", DEFLATED]
PIXEL_FIXTURES.append("encapsulated_rle.dcm")


@pytest.mark.parametrize("name", PIXEL_FIXTURES)
def test_pixels_decode_as_made(name: str) -> None:
    """Native pixels in every byte order, and the real RLE frames, decode to what was made."""
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(FIXTURES / name)
    np.testing.assert_array_equal(ds.pixel_array, _expected_pixels(name))


def test_sample_is_a_ct_slice() -> None:
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(SAMPLE)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.PixelRepresentation) == (256, 256, 16, 1)
    assert (ds.RescaleIntercept, ds.RescaleSlope) == (-1024, 1)
    assert str(ds.PatientName) == "DCMSTRUCT^SAMPLE" and ds.PatientID == "SAMPLE-0001"
    pixels = ds.pixel_array
    np.testing.assert_array_equal(pixels, make_sample.stored_pixels())
    hu = pixels.astype(np.int32) - 1024
    assert hu[0, 0] == -1000 and pixels[0, 0] == 24  # air outside the body
    assert abs(int(np.median(hu[100:140, 120:160])) - 40) < 15  # soft tissue / heart
    assert abs(int(np.median(hu[110:125, 60:90])) + 800) < 15  # lung
    assert int(np.median(hu[165:175, 123:133])) > 600  # vertebral body


@pytest.mark.parametrize("path", [SAMPLE], ids=["sample_ct.dcm"])
def test_sample_conforms_to_ct_iod(path: Path) -> None:
    """dicom3tools' IOD validator finds no error (warnings: only the unknown private tags)."""
    dciodvfy = _require("dciodvfy")
    proc = subprocess.run(
        [dciodvfy, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    assert "CTImage" in lines
    assert [line for line in lines if "Error" in line] == []
    warnings = [line for line in lines if "Warning" in line]
    assert all(
        re.match(r"^\(0x0029,0x10[0-9a-f]{2}\) .* Unrecognized tag", line) for line in warnings
    ), warnings
