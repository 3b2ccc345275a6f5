"""Tests of the standard's tables (specs/*.tsv) and their loader dcmstruct.specdata."""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dcmstruct import specdata
from dcmstruct.specdata import DictEntry, lookup

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
TABLES = ("dictionary.tsv", "vrs.tsv", "transfer_syntaxes.tsv", "uids.tsv")


def _header(path: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        meta.setdefault(key.strip(), value.strip())
    return meta


def _rows(path: Path) -> list[list[str]]:
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    body = [line for line in lines if not line.startswith("#")]
    return [line.split("\t") for line in body[1:]]


# ---------------------------------------------------------------------------
# Facts of the standard, checked one by one
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "vr", "vm", "kw", "retired"),
    [
        (0x00100010, "PN", "1", "PatientName", False),  # PS3.6 6
        (0x0020000D, "UI", "1", "StudyInstanceUID", False),
        (0x00080005, "CS", "1-n", "SpecificCharacterSet", False),
        (0x00280030, "DS", "2", "PixelSpacing", False),
        (0x00081140, "SQ", "1", "ReferencedImageSequence", False),
        (0x00280106, "US or SS", "1", "SmallestImagePixelValue", False),
        (0x7FE00010, "OB or OW", "1", "PixelData", False),
        (0x00080010, "SH", "1", "RecognitionCode", True),  # retired ACR-NEMA element
        (0x00280005, "US", "1", "ImageDimensions", True),
        (0x00020010, "UI", "1", "TransferSyntaxUID", False),  # PS3.6 7 (file meta)
        (0x00020000, "UL", "1", "FileMetaInformationGroupLength", False),
        (0x00041220, "SQ", "1", "DirectoryRecordSequence", False),  # PS3.6 8
        (0x00000100, "US", "1", "CommandField", False),  # PS3.7 E.1
        (0xFFFEE000, "NONE", "1", "Item", False),
        (0xFFFEE00D, "NONE", "1", "ItemDelimitationItem", False),
        (0xFFFEE0DD, "NONE", "1", "SequenceDelimitationItem", False),
    ],
)
def test_known_entries(tag: int, vr: str, vm: str, kw: str, retired: bool) -> None:
    entry = lookup(tag)
    assert entry is not None
    assert (entry.tag, entry.mask, entry.vr, entry.vm, entry.keyword, entry.retired) == (
        tag,
        f"{tag:08X}",
        vr,
        vm,
        kw,
        retired,
    )
    assert entry.vrs == tuple(vr.split(" or "))
    assert specdata.keyword(tag) == kw
    assert specdata.tag_for_keyword(kw) == tag


def test_patient_name_name() -> None:
    entry = lookup(0x00100010)
    assert entry is not None
    assert entry.name == "Patient's Name"


def test_overlay_repeating_group() -> None:
    # PS3.5 7.6: 60xx repeating groups are the even groups 6000-601E.
    for group in range(0x6000, 0x6020, 2):
        entry = lookup(group << 16 | 0x3000)
        assert entry is not None, hex(group)
        assert (entry.keyword, entry.mask, entry.vr, entry.tag) == (
            "OverlayData",
            "60xx3000",
            "OB or OW",
            0x60003000,
        )
    rows = lookup(0x60020010)
    assert rows is not None
    assert (rows.keyword, rows.vr) == ("OverlayRows", "US")
    assert specdata.dictionary_vr(0x60023000) == "OB"
    # Odd groups 6001-601F are private: no overlay semantics (PS3.5 7.6).
    assert lookup(0x60013000) is None
    assert lookup(0x60010010) == specdata.PRIVATE_CREATOR
    # Beyond 601E there is no repeating group.
    assert lookup(0x60203000) is None
    assert specdata.tag_for_keyword("OverlayData") == 0x60003000


def test_curve_and_element_masks() -> None:
    curve = lookup(0x50040005)
    assert curve is not None
    assert (curve.keyword, curve.mask, curve.retired) == ("CurveDimensions", "50xx0005", True)
    coeff = lookup(0x00280410)  # (0028,04x0)
    assert coeff is not None
    assert coeff.keyword == "RowsForNthOrderCoefficients"
    assert coeff.mask == "002804x0"
    # (0028,0400) itself is the ordinary entry Transform Label, which wins.
    transform = lookup(0x00280400)
    assert transform is not None
    assert transform.keyword == "TransformLabel"
    assert specdata.tag_for_keyword("RowsForNthOrderCoefficients") == 0x00280410


def test_generic_group_length() -> None:
    # PS3.5 7.2: (gggg,0000) is the Group Length of any group, UL.
    for tag in (0x00080000, 0x00100000, 0x00090000, 0x60000000, 0x7FE00000):
        entry = lookup(tag)
        assert entry is specdata.GENERIC_GROUP_LENGTH, hex(tag)
        assert (entry.vr, entry.keyword) == ("UL", "GenericGroupLength")
    # Groups 0000 and 0002 have their own (non-retired) entries.
    command = lookup(0x00000000)
    assert command is not None
    assert command.keyword == "CommandGroupLength"


def test_private_creator_and_private_tags() -> None:
    # PS3.5 7.8.1: (gggg,0010-00FF) of an odd group reserve private blocks.
    for tag in (0x00090010, 0x000900FF, 0x00290011, 0x7FE10010):
        entry = lookup(tag)
        assert entry is specdata.PRIVATE_CREATOR, hex(tag)
        assert (entry.vr, entry.vm, entry.keyword) == ("LO", "1", "PrivateCreator")
    assert specdata.dictionary_vr(0x00090010) == "LO"
    assert lookup(0x00111010) is None  # a private data element
    assert lookup(0x00090100) is None  # outside the creator range
    assert lookup(0x0009000F) is None
    assert lookup(0x00010010) is None  # group 0001 may not be used (PS3.5 7.1)
    assert specdata.keyword(0x00111010) is None
    assert specdata.dictionary_vr(0x00111010) is None


def test_unknown_public_tag() -> None:
    assert lookup(0x00080003) is None
    assert lookup(0x00100011) is None
    assert specdata.tag_for_keyword("NoSuchKeyword") is None
    assert specdata.tag_for_keyword("") is None


def test_dictionary_vr_first_alternative() -> None:
    assert specdata.dictionary_vr(0x00280106) == "US"  # US or SS
    assert specdata.dictionary_vr(0x7FE00010) == "OB"  # OB or OW
    assert specdata.dictionary_vr(0x00283006) == "US"  # US or OW (LUT Data)
    assert specdata.dictionary_vr(0x00081140) == "SQ"
    assert specdata.dictionary_vr(0xFFFEE000) == "NONE"


def test_masked_tag_invariant_and_keywords_unique() -> None:
    rows = _rows(SPECS / "dictionary.tsv")
    seen: dict[str, str] = {}
    for mask, vr, _vm, _name, kw, retired in rows:
        assert re.fullmatch(r"[0-9A-Fx]{8}", mask), mask
        if "x" in mask:
            tag = specdata.tag_for_keyword(kw)
            assert tag is not None, mask
        else:
            tag = int(mask, 16)
        entry = lookup(tag)
        assert entry is not None
        assert entry.tag == int(mask.replace("x", "0"), 16)
        assert entry.mask == mask
        assert entry.vr == vr
        assert entry.retired == (retired == "Y")
        assert all(code in specdata.VR_CODES or code == "NONE" for code in entry.vrs)
        if kw:
            assert kw not in seen, (kw, seen.get(kw), mask)
            seen[kw] = mask
    assert len(rows) > 5000


def test_direct_hits_do_not_take_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    lookup(0x00100010)  # make sure the dictionary is loaded

    def boom(tag: int) -> DictEntry | None:
        raise AssertionError(f"slow path taken for {tag:08X}")

    monkeypatch.setattr(specdata, "_lookup_slow", boom)
    for tag in (0x00100010, 0x7FE00010, 0x00020010, 0xFFFEE000):
        assert lookup(tag) is not None


def test_misses_are_memoised() -> None:
    assert lookup(0x00431234) is None
    assert 0x00431234 in specdata._MISSES


# ---------------------------------------------------------------------------
# VRs (PS3.5 6.2, 7.1.2)
# ---------------------------------------------------------------------------


def test_vr_codes() -> None:
    all_vrs = "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM "
    all_vrs += "UC UI UL UN UR US UT UV"
    assert set(all_vrs.split(" ")) == specdata.VR_CODES
    # PS3.5 Table 7.1-1: 2 reserved bytes + 32-bit length in explicit VR.
    long_vrs = "OB OD OF OL OV OW SQ SV UC UN UR UT UV"
    assert set(long_vrs.split(" ")) == specdata.LONG_LENGTH_VRS
    assert specdata.vr_info("XX") is None
    assert specdata.vr_info("US or SS") is None


def test_vr_facts() -> None:
    def info(code: str) -> specdata.VRInfo:
        result = specdata.vr_info(code)
        assert result is not None
        return result

    assert info("UI").padding == b"\x00"
    assert info("LO").padding == b" "
    assert info("PN").padding == b" "
    assert info("OB").padding == b"\x00"
    assert info("SQ").padding is None
    assert info("SQ").long_length
    assert info("SQ").repertoire == "sequence"
    assert not info("US").long_length
    assert info("US").value_size == 2
    assert info("UL").value_size == 4
    assert info("FD").value_size == 8
    assert info("AT").value_size == 4
    assert info("OW").value_size == 2
    assert info("OB").value_size is None
    assert info("UN").value_size is None
    assert info("LO").value_size is None
    assert (info("LO").max_length, info("LO").max_length_unit) == (64, "chars")
    assert (info("UI").max_length, info("UI").max_length_unit) == (64, "bytes")
    assert (info("AE").max_length, info("CS").max_length, info("SH").max_length) == (16, 16, 16)
    assert (info("DA").max_length, info("DT").max_length, info("TM").max_length) == (8, 26, 14)
    assert (info("DS").max_length, info("IS").max_length, info("AS").max_length) == (16, 12, 4)
    assert (info("LT").max_length, info("ST").max_length) == (10240, 1024)
    assert info("UT").max_length is None
    assert info("US").max_length is None
    assert info("UR").name.startswith("Universal Resource Identifier")
    assert info("LO").repertoire == "default+ext"
    assert info("UI").repertoire == "uid"
    assert info("CS").repertoire == "code"
    assert info("UI").is_string
    assert not info("OB").is_string
    strings = {code for code in specdata.VR_CODES if info(code).is_string}
    string_vrs = "AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT"
    assert strings == set(string_vrs.split(" "))


# ---------------------------------------------------------------------------
# Transfer syntaxes and UIDs (PS3.6 Annex A, PS3.5 10 / Annex A)
# ---------------------------------------------------------------------------


def _ts(uid: str) -> specdata.TransferSyntax:
    ts = specdata.transfer_syntax(uid)
    assert ts is not None, uid
    return ts


def test_transfer_syntaxes() -> None:
    implicit = _ts("1.2.840.10008.1.2")
    assert (implicit.explicit_vr, implicit.little_endian, implicit.encapsulated) == (
        False,
        True,
        False,
    )
    assert implicit.keyword == "ImplicitVRLittleEndian"
    explicit = _ts("1.2.840.10008.1.2.1")
    assert (explicit.explicit_vr, explicit.little_endian, explicit.deflated) == (True, True, False)
    big = _ts("1.2.840.10008.1.2.2")
    assert (big.explicit_vr, big.little_endian, big.retired) == (True, False, True)
    jpeg = _ts("1.2.840.10008.1.2.4.50")
    assert jpeg.encapsulated
    assert not jpeg.retired
    deflated = _ts("1.2.840.10008.1.2.1.99")
    assert (deflated.deflated, deflated.encapsulated) == (True, False)
    assert _ts("1.2.840.10008.1.2.5").encapsulated  # RLE Lossless
    assert _ts("1.2.840.10008.1.2.1.98").encapsulated  # Encapsulated Uncompressed
    assert _ts("1.2.840.10008.1.2.4.201").encapsulated  # HTJ2K
    jpip = _ts("1.2.840.10008.1.2.4.94")
    assert (jpip.deflated, jpip.encapsulated) == (False, False)
    jpip_deflate = _ts("1.2.840.10008.1.2.4.95")
    assert (jpip_deflate.deflated, jpip_deflate.encapsulated) == (True, False)
    assert not _ts("1.2.840.10008.1.2.7.1").encapsulated  # SMPTE ST 2110-20
    assert _ts("1.2.840.10008.1.2.4.52").retired


def test_transfer_syntax_padding_and_unknown() -> None:
    assert _ts("1.2.840.10008.1.2\x00").uid == "1.2.840.10008.1.2"
    assert _ts("1.2.840.10008.1.2.1 ").uid == "1.2.840.10008.1.2.1"
    assert specdata.transfer_syntax("1.2.3.4") is None
    assert specdata.transfer_syntax("1.2.840.10008.5.1.4.1.1.2") is None  # a SOP class


def test_uid_names() -> None:
    assert specdata.uid_name("1.2.840.10008.5.1.4.1.1.2") == "CT Image Storage"
    assert specdata.uid_name("1.2.840.10008.5.1.4.1.1.4\x00") == "MR Image Storage"
    assert specdata.uid_name("1.2.840.10008.1.1") == "Verification SOP Class"
    assert specdata.uid_name("1.2.840.10008.1.2.1") == "Explicit VR Little Endian"
    assert specdata.uid_name("1.2.3.4") is None


# ---------------------------------------------------------------------------
# The files themselves
# ---------------------------------------------------------------------------


def test_edition_consistent_across_tables() -> None:
    assert re.fullmatch(r"20\d\d[a-e]", specdata.EDITION)
    for name in TABLES:
        meta = _header(SPECS / name)
        assert meta["edition"].split()[0] == specdata.EDITION, name
        assert meta["source"].startswith("pydicom "), name
        assert "standard" in meta, name


def test_tables_sorted() -> None:
    tags = [row[0] for row in _rows(SPECS / "dictionary.tsv")]
    assert tags == sorted(tags, key=lambda t: (t.replace("x", "0"), t))
    for name in ("transfer_syntaxes.tsv", "uids.tsv"):
        uids = [row[0] for row in _rows(SPECS / name)]
        assert uids == sorted(uids, key=lambda u: tuple(int(p) for p in u.split("."))), name
    vrs = [row[0] for row in _rows(SPECS / "vrs.tsv")]
    assert vrs == sorted(vrs)


def test_runtime_does_not_import_pydicom() -> None:
    code = (
        "import sys, dcmstruct.specdata as s\n"
        "s.lookup(0x00100010); s.lookup(0x60023000); s.tag_for_keyword('PixelData')\n"
        "s.transfer_syntax('1.2.840.10008.1.2'); s.uid_name('1.2.840.10008.1.1')\n"
        "assert 'pydicom' not in sys.modules, 'pydicom imported at run time'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)


def _install_like_wheel(dest: Path) -> None:
    """Lay out dcmstruct and dcmstruct.specs as pyproject.toml maps them into a wheel."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_cfg = config["tool"]["setuptools"]
    package_dir: dict[str, str] = setuptools_cfg.get("package-dir", {})
    package_data: dict[str, list[str]] = setuptools_cfg.get("package-data", {})
    assert "dcmstruct.specs" in setuptools_cfg["packages"]
    for package in ("dcmstruct", "dcmstruct.specs"):
        source = REPO / package_dir.get(package, package.replace(".", "/"))
        target = dest / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        patterns = ["*.py", *package_data.get(package, [])]
        for path in source.iterdir():
            if path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns):
                shutil.copy2(path, target / path.name)


def test_packaged_tables_load_via_importlib_resources(tmp_path: Path) -> None:
    _install_like_wheel(tmp_path)
    for name in (*TABLES, "README.md"):
        assert (tmp_path / "dcmstruct" / "specs" / name).is_file(), name
    code = (
        "import sys, importlib.resources as r, dcmstruct.specdata as s\n"
        "root = str(r.files('dcmstruct.specs'))\n"
        "assert str(s._ROOT) == root, (str(s._ROOT), root)\n"
        f"assert root.startswith({str(tmp_path)!r}), root\n"
        "assert s.lookup(0x00100010).keyword == 'PatientName'\n"
        "assert s.transfer_syntax('1.2.840.10008.1.2').little_endian\n"
        "assert s.uid_name('1.2.840.10008.1.1') == 'Verification SOP Class'\n"
        f"assert s.EDITION == {specdata.EDITION!r}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)


# ---------------------------------------------------------------------------
# Against the generation-time source (pydicom)
# ---------------------------------------------------------------------------


def _require_source_pydicom() -> object:
    pydicom = pytest.importorskip("pydicom")
    source = _header(SPECS / "dictionary.tsv")["source"]
    wanted = source.split()[1]
    if pydicom.__version__ != wanted:
        pytest.skip(f"tables were generated from pydicom {wanted}, found {pydicom.__version__}")
    return pydicom


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    _require_source_pydicom()
    subprocess.run(
        [sys.executable, str(SPECS / "generate.py"), "--out", str(tmp_path), "--only",
         ",".join(TABLES)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    for name in TABLES:
        assert (tmp_path / name).read_bytes() == (SPECS / name).read_bytes(), name


def test_deid_profile_regeneration_is_byte_identical(tmp_path: Path) -> None:
    """Table E.1-1 from its two sources (``pip install '.[specs]'``; skipped without them)."""
    _require_source_pydicom()
    pytest.importorskip("dicomanonymizer")
    if not any(Path(sys.prefix).rglob("standard/confidentiality_profile_attributes.json")):
        pytest.skip("dicom-standard (its confidentiality profile table) is not installed")
    subprocess.run(
        [sys.executable, str(SPECS / "generate.py"), "--out", str(tmp_path), "--only",
         "deid_profile.tsv"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    name = "deid_profile.tsv"
    assert (tmp_path / name).read_bytes() == (SPECS / name).read_bytes()


def test_edition_matches_pydicom() -> None:
    _require_source_pydicom()
    from pydicom import _version

    assert _version.__dicom_version__ == specdata.EDITION


def test_vrs_against_pydicom() -> None:
    pytest.importorskip("pydicom")
    import struct

    from pydicom import filewriter, valuerep

    assert {str(vr) for vr in valuerep.STANDARD_VR} == specdata.VR_CODES
    assert {str(vr) for vr in valuerep.EXPLICIT_VR_LENGTH_32} == specdata.LONG_LENGTH_VRS
    assert {str(vr) for vr in valuerep.EXPLICIT_VR_LENGTH_16} == (
        specdata.VR_CODES - specdata.LONG_LENGTH_VRS
    )
    infos = {code: specdata.vr_info(code) for code in specdata.VR_CODES}
    assert all(info is not None for info in infos.values())
    for vr, size in valuerep.VALUE_LENGTH.items():
        info = infos[str(vr)]
        assert info is not None
        assert info.value_size == size, vr
    for vr, (_writer, fmt) in filewriter.writers.items():
        if isinstance(fmt, str):
            info = infos[str(vr)]
            assert info is not None
            assert info.value_size == struct.calcsize("<" + fmt), vr
    for vr, length in valuerep.MAX_VALUE_LEN.items():
        info = infos[str(vr)]
        assert info is not None
        assert info.max_length == length, vr
    strings = {code for code, info in infos.items() if info is not None and info.is_string}
    assert strings == {str(vr) for vr in valuerep.STR_VR}
    extensible = {
        code
        for code, info in infos.items()
        if info is not None and info.repertoire == "default+ext"
    }
    assert extensible == {str(vr) for vr in valuerep.CUSTOMIZABLE_CHARSET_VR}
    assert strings - extensible == {str(vr) for vr in valuerep.DEFAULT_CHARSET_VR}
    binary = {
        code for code, info in infos.items() if info is not None and info.repertoire == "binary"
    }
    assert {str(vr) for vr in valuerep.BYTES_VR} <= binary


def test_dictionary_against_pydicom() -> None:
    pytest.importorskip("pydicom")
    from pydicom._dicom_dict import DicomDictionary, RepeatersDictionary

    for tag, (vr, vm, name, retired, kw) in DicomDictionary.items():
        entry = lookup(tag)
        assert entry is not None, hex(tag)
        assert (entry.vr, entry.vm, entry.name, entry.retired, entry.keyword) == (
            vr,
            vm,
            name,
            bool(retired),
            kw,
        ), hex(tag)
    for mask, (vr, vm, name, retired, kw) in RepeatersDictionary.items():
        first = specdata.tag_for_keyword(kw)
        assert first is not None, mask
        entry = lookup(first)
        assert entry is not None, mask
        assert entry.mask.lower() == mask.lower()
        assert (entry.vr, entry.vm, entry.name, entry.retired, entry.keyword) == (
            vr,
            vm,
            name,
            bool(retired),
            kw,
        ), mask
    assert len(_rows(SPECS / "dictionary.tsv")) == len(DicomDictionary) + len(RepeatersDictionary)


def test_transfer_syntaxes_against_pydicom() -> None:
    pytest.importorskip("pydicom")
    from pydicom._uid_dict import UID_dictionary
    from pydicom.uid import UID

    spec = importlib.util.spec_from_file_location("_specs_generate", SPECS / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    overrides = generate.TS_OVERRIDES
    count = 0
    for uid, (name, uid_type, _info, retired, kw) in UID_dictionary.items():
        if uid_type != "Transfer Syntax":
            assert specdata.transfer_syntax(uid) is None
            continue
        count += 1
        ts = _ts(uid)
        assert (ts.name, ts.keyword, ts.retired) == (name, kw, bool(retired))
        u = UID(uid)
        flags = (ts.explicit_vr, ts.little_endian, ts.deflated, ts.encapsulated)
        if uid in overrides:
            assert flags == overrides[uid][:4], uid
        else:
            assert flags == (
                not u.is_implicit_VR,
                u.is_little_endian,
                u.is_deflated,
                u.is_encapsulated,
            ), uid
    assert count == len(_rows(SPECS / "transfer_syntaxes.tsv"))
    assert len(_rows(SPECS / "uids.tsv")) == len(UID_dictionary)


def test_keywords_in_any_case() -> None:
    from dcmstruct import specdata

    assert specdata.tag_for_keyword("patientname") is None  # exact by default
    assert specdata.tag_for_keyword("patientname", any_case=True) == 0x00100010
    assert specdata.tag_for_keyword("PATIENTID", any_case=True) == 0x00100020
    assert specdata.tag_for_keyword("PatientName", any_case=True) == 0x00100010
    assert specdata.tag_for_keyword("nosuchkeyword", any_case=True) is None
