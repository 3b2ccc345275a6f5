"""The library's front door: ``dcmstruct.open``, ``dcmstruct.check`` and what they return.

Values are compared with pydicom's reading of the same bytes; findings with the engine's.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import importlib.metadata
import random
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

import dcmstruct
from dcmstruct.builder import E, Item, Raw, Seq, part10
from dcmstruct.dataset import Dataset, Element, ValueTooLarge
from dcmstruct.index import index_file
from dcmstruct.model import Kind, Stream
from dcmstruct.sample import sample_path
from dcmstruct.uids import EXPLICIT_VR_BIG_ENDIAN
from dcmstruct.validate.engine import Selection, validate_index
from dcmstruct.validate.registry import REGISTRY, load_all

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
NATIVE = ["explicit_le", "implicit_le", "explicit_be", "deflated", "un_undefined"]
ENCAPSULATED = ["encapsulated_jpeg", "empty_bot", "encapsulated_rle"]
RT_UID = "1.2.840.10008.5.1.4.1.1.481.2"  # RT Dose Storage


def _rt_like() -> bytes:
    """An RT-like data set: (300A,0010) Dose Reference Sequence, items with (300A,0012)."""
    items: list[Item | Raw] = [
        Item([E("300A,0012", "IS", str(n)), E("300A,0014", "CS", "VOLUME")], undefined=n == 2)
        for n in (1, 2, 3)
    ]
    return part10(
        [
            E("0008,0016", "UI", RT_UID),
            E("0008,0018", "UI", "1.2.826.0.1.3680043.10.1455.9.1"),
            E("0010,0010", "PN", "RT^LIKE"),
            E("300A,0010", "SQ", Seq(items)),
        ]
    )


# -- the package ---------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["dcmstruct", "dcmstruct.dataset", "dcmstruct.checking"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3
    assert result.failed == 0


def test_import_is_cheap() -> None:
    # A fresh interpreter: what ``import dcmstruct`` loads is only observable there.
    code = (
        "import sys, dcmstruct; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'dcmstruct')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['dcmstruct']"


def test_public_names() -> None:
    for name in dcmstruct.__all__:
        assert getattr(dcmstruct, name) is not None
        assert name in dir(dcmstruct)
    assert dcmstruct.open is importlib.import_module("dcmstruct.dataset").open
    assert dcmstruct.__version__ == importlib.metadata.version("dcmstruct")
    with pytest.raises(AttributeError):
        dcmstruct.no_such_name  # noqa: B018


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "dcmstruct" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in config["package-data"]["dcmstruct"]


# -- values against pydicom ------------------------------------------------------------------------


def _tag(tag: int) -> str:
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


def _expected(value: Any) -> Any:
    """pydicom's value in the front door's terms: lists, str, int, float; empty is None."""
    if isinstance(value, MultiValue | list):
        return [_expected(v) if v != "" else "" for v in value]
    if isinstance(value, PersonName):
        value = str(value)
    if value is None or (isinstance(value, str | bytes) and not value):
        return None
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return value


def _pydicom_elements(ds: pydicom.Dataset, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for el in ds:
        path = prefix + _tag(el.tag)
        yield path, el
        if isinstance(el.value, Sequence):
            for n, item in enumerate(el.value):
                yield from _pydicom_elements(item, f"{path}[{n}]/")


def _compare(ds: Dataset, reference: pydicom.Dataset) -> int:
    """Every element pydicom reads is found at its path, with pydicom's VR and value. Returns
    how many were compared."""
    compared = 0
    for path, el in [*_pydicom_elements(reference.file_meta), *_pydicom_elements(reference)]:
        ours = ds[path]
        assert ours.path == path
        value = ds.value(ours)
        if isinstance(el.value, Sequence):
            # pydicom makes sequences of UN of undefined length (CP-246); so do we, as items.
            assert value == ds.children(ours)
            assert [e.kind for e in ds.children(ours)] == [Kind.ITEM] * len(el.value), path
        else:
            assert (ours.vr, value) == (el.VR, _expected(el.value)), path
        compared += 1
    return compared


@pytest.mark.parametrize("name", ["sample", *NATIVE])
def test_values_equal_pydicom(name: str) -> None:
    path = sample_path() if name == "sample" else FIXTURES / f"{name}.dcm"
    with dcmstruct.open(path) as ds:
        assert _compare(ds, pydicom.dcmread(path)) >= 50


def test_rt_path_with_item_indices() -> None:
    data = _rt_like()
    with dcmstruct.open(data) as ds:
        _compare(ds, pydicom.dcmread(pydicom.filebase.DicomBytesIO(data)))
        first = ds["300A,0010[0]/300A,0012"]
        assert (first.tag, first.vr, ds.value(first)) == (0x300A0012, "IS", 1)
        assert ds.value("300A,0010[2]/300A,0012") == 3
        assert ds.value("DoseReferenceSequence[-1]/DoseReferenceNumber") == 3
        assert ds["doseReferenceSequence[1]/(300a,0012)"].node == ds["300A,0010[1]/300A,0012"].node
        item = ds["300A,0010[1]"]
        assert item.kind == Kind.ITEM and item.length is None
        assert [ds.value(e) for e in ds.children(item)] == [2, "VOLUME"]
        assert ds.value(item) == ds.children(item)


@pytest.mark.parametrize("name", ["sample", *NATIVE, *ENCAPSULATED])
def test_every_node_is_found_again_by_its_path(name: str) -> None:
    path = sample_path() if name == "sample" else FIXTURES / f"{name}.dcm"
    with dcmstruct.open(path) as ds:
        c = ds.index.columns
        found = 0
        for i in range(len(ds.index)):
            if int(c.kind[i]) in (Kind.ELEMENT, Kind.ITEM, Kind.FRAGMENT):
                assert ds[ds.element(i).path].node == i
                found += 1
        assert found > 20


def test_key_forms_name_the_same_element() -> None:
    with dcmstruct.open(sample_path()) as ds:
        node = ds["PatientName"].node
        for key in (
            "patientname",
            "PATIENTNAME",
            "0010,0010",
            "(0010,0010)",
            " 0010, 0010 ",
            0x00100010,
        ):
            assert ds[key].node == node, key
        assert ds["TransferSyntaxUID"].tag == 0x00020010  # the meta group is top level too
        assert ds["0029,1010[1]/0029,1001"].path == "0029,1010[1]/0029,1001"  # private
        assert ds.value("0029,1010[1]/0029,1001") == "RECON PASS 2"
        top = [e.tag for e in ds]
        assert top[0] == 0x00020000 and top[-1] == 0x7FE00010 and len(top) == len(set(top))


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("PatientWeight", "no element 0010,1030 PatientWeight at the top level"),
        ("PatientsName", "close: PatientName"),
        ("0010,1030", "no element 0010,1030 PatientWeight"),
        (0x00091001, "no element 0009,1001 at the top level"),
        ("ReferencedImageSequence[1]", "item 1 of 0008,1140: the sequence has 1 item"),
        ("ReferencedImageSequence[-2]", "item -2 of 0008,1140"),
        ("ReferencedImageSequence/ReferencedSOPClassUID", "0008,1140 is not an item"),
        ("PatientName/CodeValue", "0010,0010 is not an item"),
        (
            "ProcedureCodeSequence[0]/PatientName",
            "no element 0010,0010 PatientName in ProcedureCodeSequence[0]",
        ),
        ("ProcedureCodeSequence[0]/CodeValu", "close: CodeValue"),
        ("", "is not an element"),
        ("0010,0010]", "is not an element"),
        (1 << 32, "is not a tag"),
        (-1, "is not a tag"),
    ],
)
def test_key_error(key: str | int, words: str) -> None:
    with dcmstruct.open(sample_path()) as ds:
        with pytest.raises(KeyError) as raised:
            ds[key]
        assert words in str(raised.value)
        assert key not in ds and ds.get(key) is None


def test_wrong_key_types() -> None:
    with dcmstruct.open(sample_path()) as ds:
        for key in (1.5, None, True, b"PatientName"):
            with pytest.raises(KeyError):
                ds[key]  # type: ignore[index]
            assert key not in ds


def test_value_kinds() -> None:
    with dcmstruct.open(FIXTURES / "explicit_le.dcm") as ds:
        assert ds.value("0009,1007") == [0x00100010, 0x7FE00010]  # AT
        assert ds.value("0009,1003") == [70000, 4000000000]  # UL
        assert ds.value("0009,1009") == bytes(range(1, 10)) + b"\0"  # OB, pad byte kept
        assert ds.value("AccessionNumber") is None  # empty
        assert ds.value("ImageType") == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert ds.value("PixelAspectRatio") == [1, 1]
        assert ds.value("SourceImageSequence") == ds.children("SourceImageSequence")
        assert [e.path for e in ds.children("SourceImageSequence")] == ["0008,2112[0]"]
        assert ds.children("PatientName") == []
        assert ds.value("0008,2112[0]/0040,A170[0]/0008,0100") == "121320"
    with dcmstruct.open(FIXTURES / "encapsulated_jpeg.dcm") as ds:
        fragments = ds.children("PixelData")
        assert ds.value("PixelData") == fragments
        assert [f.kind for f in fragments] == [Kind.FRAGMENT] * 7  # the table and 6 fragments
        table = ds.value(fragments[0])
        assert isinstance(table, bytes) and len(table) == 12
        assert ds.value("PixelData[1]") == ds.raw(fragments[1])


def test_text_values_by_vr() -> None:
    latin1_item = Item([E("0008,0005", "CS", "ISO_IR 100"), E("0040,1001", "SH", "\xe9t\xe9")])
    data = part10(
        [
            E("0008,0005", "CS", "ISO_IR 192"),
            E("0008,0016", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("0008,0018", "UI", "1.2.826.0.1.3680043.10.1455.9.2"),
            E("0008,0060", "CS", " OT "),
            E("0010,0010", "PN", "Gärtner^Zoë".encode()),
            E("0010,4000", "LT", " a\\b "),  # LT: the backslash is text, leading space kept
            E("0018,0050", "DS", " 2.50"),
            E("0020,0013", "IS", "+7"),
            E("0020,0032", "DS", "1\\\\-2e1"),  # an empty value in the middle
            E("0028,0034", "IS", "1_0\\x"),  # not integers: kept as text
            E("0040,0275", "SQ", Seq([latin1_item, Item([E("0040,1001", "SH", "été".encode())])])),
        ]
    )
    with dcmstruct.open(data) as ds:
        reference = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
        assert ds.value("PatientName") == str(reference.PatientName) == "Gärtner^Zoë"
        assert ds.value("Modality") == "OT"
        assert ds.value("PatientComments") == " a\\b"
        assert ds.value("SliceThickness") == 2.5
        assert ds.value("InstanceNumber") == 7
        assert ds.value("ImagePositionPatient") == [1.0, None, -20.0]
        assert ds.value("PixelAspectRatio") == ["1_0", "x"]
        # An item's own Specific Character Set wins over the data set's.
        rp = ds.value("RequestAttributesSequence[0]/RequestedProcedureID")
        assert rp == reference.RequestAttributesSequence[0].RequestedProcedureID == "été"
        # An item without one has its enclosing data set's (UTF-8 here).
        rp = ds.value("RequestAttributesSequence[1]/RequestedProcedureID")
        assert rp == reference.RequestAttributesSequence[1].RequestedProcedureID == "été"


def test_iso2022_escapes_are_kept_as_latin1() -> None:
    raw = b"\x1b$B;3ED\x1b(B^Taro"
    data = part10(
        [
            E("0008,0005", "CS", "\\ISO 2022 IR 87"),
            E("0008,0016", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("0008,0018", "UI", "1.2.826.0.1.3680043.10.1455.9.3"),
            E("0010,0010", "PN", raw),
        ]
    )
    with dcmstruct.open(data) as ds:
        assert ds.value("PatientName") == raw.decode("latin-1")
        assert ds.raw("PatientName") == raw + b" "  # the pad byte is the file's


def test_big_endian_numbers() -> None:
    data = part10(
        [
            E("0008,0016", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("0008,0018", "UI", "1.2.826.0.1.3680043.10.1455.9.4"),
            E("0028,0010", "US", 513),
            E("0018,9306", "FD", [0.625, -3.0]),
        ],
        transfer_syntax=EXPLICIT_VR_BIG_ENDIAN,
    )
    with dcmstruct.open(data) as ds:
        assert ds.raw("Rows") == b"\x02\x01"
        assert ds.value("Rows") == 513
        assert ds.value("SingleCollimationWidth") == [0.625, -3.0]


def test_large_values_are_not_read() -> None:
    with dcmstruct.open(sample_path()) as ds:
        with pytest.raises(ValueTooLarge, match="131072 bytes, more than limit=1000"):
            ds.value("PixelData", limit=1000)
        with pytest.raises(ValueError):
            ds.raw("PixelData", limit=131071)
        pixels = ds.raw("PixelData", limit=131072)
        assert pixels == sample_path().read_bytes()[0xB06 + 12 :]


def test_duplicate_tag_gives_the_first() -> None:
    data = part10(
        [
            E("0008,0016", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("0008,0018", "UI", "1.2.826.0.1.3680043.10.1455.9.5"),
            E("0010,0010", "PN", "FIRST"),
            E("0010,0010", "PN", "SECOND"),
        ]
    )
    with dcmstruct.open(data) as ds:
        assert ds.value("PatientName") == "FIRST"


# -- open ------------------------------------------------------------------------------------------


def test_open_closes_the_file(tmp_path: Path) -> None:
    with dcmstruct.open(sample_path()) as ds:
        src = ds.index.sources[Stream.FILE]
        assert src.fd >= 0
    assert src.fd == -1


def test_open_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        dcmstruct.open(tmp_path / "missing.dcm")
    with pytest.raises(OSError, match="directory"):
        dcmstruct.open(tmp_path)


def test_open_never_raises_for_content() -> None:
    for data in (b"", b"\x89PNG\r\n\x1a\n" + bytes(100), b'{"json": true}', bytes(132)):
        with dcmstruct.open(data) as ds:
            assert ds.faults
            assert list(ds) == [] or all(isinstance(e, Element) for e in ds)


def test_mutated_files_give_values_not_tracebacks() -> None:
    base = (FIXTURES / "explicit_le.dcm").read_bytes()
    rng = random.Random(8)
    kinds: Counter[str] = Counter()
    for n in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with dcmstruct.open(bytes(data[: rng.randrange(len(data))] if n % 3 == 0 else data)) as ds:
            for i in range(len(ds.index)):
                el = ds.element(i)
                try:
                    value = ds.value(el, limit=1 << 16)
                except ValueTooLarge:
                    kinds["too large"] += 1
                    continue
                assert value is None or isinstance(value, str | int | float | bytes | list)
                kinds[type(value).__name__] += 1
                if el.kind == Kind.ELEMENT and el.tag is not None:
                    try:
                        kinds["found" if ds[el.path].tag == el.tag else "other"] += 1
                    except KeyError:
                        # A path through an item nested directly in an item names no item of
                        # the sequence (0008,1140/FFFE,E000[0]): it cannot lead back.
                        kinds["lost"] += 1
    assert kinds["str"] and kinds["int"] and kinds["float"] and kinds["bytes"] and kinds["list"]
    assert kinds["found"] > 20 * (kinds["other"] + kinds["lost"])


def test_limits_are_passed_on() -> None:
    with dcmstruct.open(sample_path(), limits=dcmstruct.Limits(max_nodes=16)) as ds:
        assert len(ds.index) <= 17
        assert "NODE_LIMIT_EXCEEDED" in {f.code for f in ds.faults}


# -- check -----------------------------------------------------------------------------------------

RULE_FILES = sorted((FIXTURES / "rules").glob("*.dcm"))[::8]


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_check_equals_the_engine(path: Path) -> None:
    with index_file(path) as index:
        expected, internal = validate_index(index)
        rule = path.stem.split("--")[0]
        only, _ = validate_index(index, Selection(select={rule}))
        without, _ = validate_index(index, Selection(ignore={rule}))
        assert dcmstruct.check(index) == expected  # an index, left open
        assert index.sources[Stream.FILE].fd >= 0
    assert internal == []
    assert only, f"{rule}'s fixture gives no {rule} finding"
    assert dcmstruct.check(path) == expected
    assert dcmstruct.check(path.read_bytes()) == expected
    with dcmstruct.open(path) as ds:
        assert dcmstruct.check(ds) == expected
    assert dcmstruct.check(path, select=rule) == only
    assert dcmstruct.check(path, select=[rule]) == only
    assert dcmstruct.check(path, ignore=(rule,)) == without
    for f in dcmstruct.check(path, select=rule):
        assert (f.rule, f.severity) == (rule, REGISTRY[rule].severity)
        assert f.offset >= 0 and f.length >= 0 and isinstance(f.message, str)


def test_check_paths_lead_back_to_the_node() -> None:
    path = FIXTURES / "rules" / "VALUE_BAD_FORMAT.dcm"
    with dcmstruct.open(path) as ds:
        findings = dcmstruct.check(ds, select="VALUE_BAD_FORMAT")
        assert findings
        for f in findings:
            assert ds[f.path].node == f.node


def test_check_rejects_unknown_rule_names() -> None:
    with pytest.raises(ValueError, match="close: INVALID_VR"):
        dcmstruct.check(sample_path(), select=["INVALID_VRS"])
    with pytest.raises(ValueError, match="'NOPE' is not a rule name"):
        dcmstruct.check(sample_path(), ignore="NOPE")


def test_check_raises_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    load_all()

    def broken(ctx: object) -> list[Any]:
        raise ZeroDivisionError("a bug")

    rule = REGISTRY["TAGS_NOT_ASCENDING"]
    monkeypatch.setitem(REGISTRY, rule.name, dataclasses.replace(rule, check=broken))
    path = FIXTURES / "rules" / "ODD_VALUE_LENGTH.dcm"
    with pytest.raises(dcmstruct.InternalError) as raised:
        dcmstruct.check(path)
    assert "rule TAGS_NOT_ASCENDING failed" in raised.value.errors[0]
    assert "ZeroDivisionError: a bug" in raised.value.errors[0]
    assert {f.rule for f in raised.value.findings} == {"ODD_VALUE_LENGTH"}


def test_check_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        dcmstruct.check(tmp_path / "missing.dcm")
