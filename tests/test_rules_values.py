"""The values rules: what they must report, and the valid input a careless rule would flag."""

from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest

from dcmstruct.builder import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Raw,
    Seq,
    part10,
)
from dcmstruct.index import index_bytes
from dcmstruct.model import Stream
from dcmstruct.validate import grammar
from dcmstruct.validate.engine import Selection, validate_index
from dcmstruct.validate.finding import Finding
from fixtures.rule_fixtures.values import dataset

ROOT = Path(__file__).resolve().parent.parent
VALUE_RULES = (
    "VALUE_TOO_LONG",
    "VALUE_BAD_CHARACTERS",
    "VALUE_BAD_FORMAT",
    "VALUE_BAD_PADDING",
    "VM_MISMATCH",
    "SPECIFIC_CHARACTER_SET_UNKNOWN",
    "VR_MISMATCH_DICTIONARY",
)
SPECIFIC_CHARACTER_SET = 0x00080005


def findings(data: bytes) -> list[Finding]:
    found, internal = validate_index(index_bytes(data), Selection(select=VALUE_RULES))
    assert not internal, internal
    return found


def check(
    *elements: E, drop: tuple[int, ...] = (), transfer_syntax: str | None = None
) -> list[Finding]:
    ds = dataset(*elements, uid="699", drop=drop)
    data = part10(ds) if transfer_syntax is None else part10(ds, transfer_syntax=transfer_syntax)
    return findings(data)


def rules(found: list[Finding]) -> list[str]:
    return [f.rule for f in found]


# -- valid input that a careless rule would flag -----------------------------------------------


@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("DA", "20240229"),  # leap day
        ("DA", "20010101\\20020202"),  # multi-valued, padded with a space
        ("TM", "12"),
        ("TM", "1230"),
        ("TM", "123059.5"),
        ("TM", "235960.123456"),  # leap second
        ("TM", "070907.0705 "),  # trailing space
        ("DT", "2024"),
        ("DT", "202402291200"),
        ("DT", "20240229235959.123456+0100"),
        ("DT", "20240101120000-1200"),
        ("DT", "20240101+1400"),
        ("DS", " 1.5e-3"),
        ("DS", "+.5"),
        ("DS", "-1"),
        ("DS", "1."),
        ("DS", "1.0E+10 "),
        ("DS", "0.5\\0.5"),
        ("IS", "-2147483648"),
        ("IS", " +12 "),
        ("IS", "2147483647"),
        ("UI", "1.2.0.3"),
        ("UI", "0.1"),
        ("AS", "045Y"),
        ("AS", "003D"),
        ("PN", "DOE^JOHN^Q^DR^JR=DOE^J=DOE"),
        ("PN", "^^^^"),
        ("PN", "=="),
        ("CS", "ORIGINAL\\\\PRIMARY"),  # an empty value in the middle
        ("CS", " AXIAL_1 "),
        ("AE", " STORESCP "),
        ("UR", "http://example.com/a%20b?x=1#f "),
        ("LT", "line 1\r\nline 2\ttab\x0cform feed \\ backslash"),
        ("ST", "a\\b"),
        ("UT", "x" * 70000),  # longer than the copy limit
        ("LO", "TWO\\VALUES"),
        ("SH", "1234567890123456"),  # exactly 16
    ],
)
def test_valid_values_are_not_flagged(vr: str, value: str) -> None:
    tags = {
        "DA": "DateOfLastCalibration" if "\\" in value else "StudyDate",
        "TM": "StudyTime",
        "DT": "AcquisitionDateTime",
        "DS": "ImagerPixelSpacing" if "\\" in value else "SliceThickness",
        "IS": "InstanceNumber",
        "UI": "StudyInstanceUID",
        "AS": "PatientAge",
        "PN": "ReferringPhysicianName",
        "CS": "ImageType" if "\\" in value else "BodyPartExamined",
        "AE": "RetrieveAETitle",
        "UR": "RetrieveURL",
        "LT": "StudyComments",
        "ST": "DerivationDescription",
        "UT": "TextValue",
        "LO": "OtherPatientIDs" if "\\" in value else "StudyDescription",
        "SH": "StudyID",
    }
    found = check(E(tags[vr], vr, value))
    assert found == [], [(f.rule, f.message) for f in found]


def test_empty_values_are_not_judged() -> None:
    found = check(
        E("StudyDate", "DA", ""),
        E("PixelSpacing", "DS", ""),
        E("ImageType", "CS", ""),
        E("Rows", "US", b""),
        E("SpecificCharacterSet", "CS", ""),
    )
    assert found == []


def test_only_spaces_is_no_value_for_vm() -> None:
    assert check(E("PixelSpacing", "DS", "  ")) == []


def test_utf8_counts_characters_not_bytes() -> None:
    name = ("\u00e9" * 40).encode("utf-8")  # 80 bytes, 40 characters
    found = check(E("SpecificCharacterSet", "CS", "ISO_IR 192"), E("StudyDescription", "LO", name))
    assert found == []


def test_iso2022_multibyte_bytes_are_not_delimiters() -> None:
    # JIS X 0208 characters whose byte pairs hold 5CH ('\'), 5EH ('^') and 3DH ('=').
    ideographic = "\u4fd1\u4e94^\u4e88".encode("iso2022_jp")
    assert b"\\" in ideographic and ideographic.count(b"^") > 1 and b"=" in ideographic
    name = b"YAMADA^TARO=" + ideographic + b"=YAMADA^TARO"
    found = check(
        E("SpecificCharacterSet", "CS", "\\ISO 2022 IR 87"),
        E("PatientName", "PN", name),
        E("StudyComments", "LT", b"comment " + ideographic),
    )
    assert found == [], [(f.rule, f.message) for f in found]


def test_iso2022_multibyte_counts_characters() -> None:
    cs = grammar.parse_charset(b"\\ISO 2022 IR 87")
    kanji = "\u5c71\u7530" * 20  # 40 characters, 80 bytes + escapes
    assert grammar.char_count(kanji.encode("iso2022_jp"), cs) == 40


def test_gbk_trailing_5c_is_not_a_delimiter() -> None:
    name = "\u4e57\u4fd3".encode("gbk")  # both end in 5CH
    assert name.count(b"\\") == 2
    found = check(E("SpecificCharacterSet", "CS", "GBK"), E("PatientName", "PN", name))
    assert found == []


@pytest.mark.parametrize("charset", ["ISO_IR 100", "ISO_IR 192", "GB18030", "ISO 2022 IR 100"])
def test_extended_characters_with_a_character_set(charset: str) -> None:
    codec = {"ISO_IR 100": "latin-1", "ISO 2022 IR 100": "latin-1"}.get(charset, "utf-8")
    if charset == "GB18030":
        codec = "gb18030"
    name = "M\u00fcller^Ren\u00e9".encode(codec)
    found = check(E("SpecificCharacterSet", "CS", charset), E("PatientName", "PN", name))
    assert found == [], [(f.rule, f.message) for f in found]


def test_character_set_of_an_item_applies_inside_it_only() -> None:
    name = "M\u00fcller".encode("latin-1")
    inner = Item([E("SpecificCharacterSet", "CS", "ISO_IR 100"), E("PersonName", "PN", name)])
    nested = Item([E("ContentSequence", "SQ", Seq([Item([E("PersonName", "PN", name)])]))])
    data = part10(
        dataset(
            E("ContentSequence", "SQ", Seq([inner, Item([E("PersonName", "PN", name)])])),
            E("ReferencedImageSequence", "SQ", Seq([nested])),
            uid="698",
            drop=(SPECIFIC_CHARACTER_SET,),
        )
    )
    found = findings(data)
    # the first item declares Latin-1 (and its own nested items would inherit it); the second
    # item and the other sequence inherit the default repertoire of the top level
    assert [(f.rule, f.path) for f in found] == [
        ("VALUE_BAD_CHARACTERS", "0008,1140[0]/0040,A730[0]/0040,A123"),
        ("VALUE_BAD_CHARACTERS", "0040,A730[1]/0040,A123"),
    ]


def test_nested_item_inherits_its_enclosing_item_character_set() -> None:
    name = "M\u00fcller".encode("latin-1")
    nested = Seq([Item([E("PersonName", "PN", name)])])
    outer = Item(
        [E("SpecificCharacterSet", "CS", "ISO_IR 100"), E("ContentSequence", "SQ", nested)]
    )
    data = part10(
        dataset(E("ContentSequence", "SQ", Seq([outer])), uid="697", drop=(SPECIFIC_CHARACTER_SET,))
    )
    assert findings(data) == []


def test_esc_needs_iso2022() -> None:
    value = b"ABC\x1b(BDEF"
    assert (
        check(
            E("SpecificCharacterSet", "CS", "ISO 2022 IR 100"), E("StudyDescription", "LO", value)
        )
        == []
    )
    found = check(E("StudyDescription", "LO", value))
    assert rules(found) == ["VALUE_BAD_CHARACTERS"]
    assert "1BH" in found[0].message


def test_vr_alternatives_and_un_are_accepted() -> None:
    found = check(
        E("SmallestImagePixelValue", "SS", -5),  # US or SS
        E("ReferencedImageSequence", "UN", b"\x00" * 4),  # UN for an SQ tag: PS3.5 6.2.2
        E("StudyDescription", "UN", b"ABCD"),
        E(0x00090010, "LO", "PRIVATE CREATOR"),
        E(0x00091001, "DS", b"\x01\x02\x03\x04"),  # private: no dictionary VR
        E(0x00080000, "UL", 0),  # group lengths are GROUP_LENGTH_MISMATCH's business
    )
    assert [f for f in found if f.rule == "VR_MISMATCH_DICTIONARY"] == []


def test_implicit_vr_elements_are_not_vr_mismatches() -> None:
    found = check(E("Rows", "US", 512), transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN)
    assert found == []


def test_big_endian_values() -> None:
    found = check(
        E("Rows", "US", 512),
        E("PixelSpacing", "DS", ["0.5", "0.5"]),
        E("ImagePositionPatient", "DS", ["1", "2", "3"]),
        E("FrameIncrementPointer", "AT", [0x00181063]),
        transfer_syntax=EXPLICIT_VR_BIG_ENDIAN,
    )
    assert found == []


@pytest.mark.parametrize(
    ("tag", "vr", "values", "bad"),
    [
        ("VerticesOfThePolygonalShutter", "IS", ["1", "2", "3", "4"], False),  # 2-2n
        ("VerticesOfThePolygonalShutter", "IS", ["1", "2", "3"], True),
        ("ImageType", "CS", ["ORIGINAL", "PRIMARY", "AXIAL"], False),  # 2-n
        ("ImagePositionPatient", "DS", ["1", "2"], True),  # 3
        ("ApplicableFrameRange", "US", [1, 2, 3, 4], False),  # 2-2n binary
        ("ApplicableFrameRange", "US", [1, 2, 3], True),
        ("FrameIncrementPointer", "AT", [0x00181063, 0x00181065], False),  # 1-n
    ],
)
def test_vm(tag: str, vr: str, values: list[object], bad: bool) -> None:
    found = check(E(tag, vr, values))
    assert rules(found) == (["VM_MISMATCH"] if bad else [])


# -- what they report, and where ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("vr", "value", "expected"),
    [
        ("DA", "20241301", "month 13"),
        ("DA", "00000000", "month 00"),
        ("DA", "2024011", "not a date"),
        ("DA", "1997.04.24", "ACR-NEMA"),
        ("DA", "20240101-", "range"),
        ("TM", "1260", "minute 60"),
        ("TM", "120000.1234567", "not a time"),
        ("TM", "12:30:00", "ACR-NEMA"),
        ("TM", "1200-1300", "range"),
        ("DT", "20240101250000", "hour 25"),
        ("DT", "20240101+1500", "UTC offset"),
        ("DT", "20240101-20250101", "range"),
        ("AS", "45Y", "not an age"),
        ("IS", "-2147483649", "outside"),
        ("IS", "1 2", "not an integer"),
        ("DS", "1 .5", "not a decimal"),
        ("DS", "+", "not a decimal"),
        ("UI", "1..2", "empty component"),
        ("UI", "1.2.", "empty component"),
        ("UI", "01.2", "leading zero"),
        ("PN", "A=B=C=D", "4 component groups"),
        ("AE", "    ", "only spaces"),
    ],
)
def test_format_problems(vr: str, value: str, expected: str) -> None:
    problem = grammar.format_problem(vr, value.encode())
    assert problem is not None and expected in problem, problem


def test_format_points_at_the_bad_value_of_several() -> None:
    data = part10(
        dataset(E("DateOfLastCalibration", "DA", ["20240101", "20241301", "20241232"]), uid="696")
    )
    (f,) = findings(data)
    assert f.rule == "VALUE_BAD_FORMAT"
    assert data[f.offset : f.offset + f.length] == b"20241301"
    assert "and 1 more" in f.message


def test_too_long_is_per_value_and_points_at_it() -> None:
    long_id = "X" * 65
    data = part10(dataset(E("OtherPatientIDs", "LO", ["SHORT", long_id]), uid="695"))
    (f,) = findings(data)
    assert f.rule == "VALUE_TOO_LONG"
    assert data[f.offset : f.offset + f.length] == long_id.encode()


def test_malformed_date_is_not_also_too_long() -> None:
    assert rules(check(E("StudyDate", "DA", "1997.04.24"))) == ["VALUE_BAD_FORMAT"]


def test_bad_characters_are_not_also_bad_format() -> None:
    assert rules(check(E("StudyDate", "DA", "2024O101"))) == ["VALUE_BAD_CHARACTERS"]


@pytest.mark.parametrize(
    ("charset", "value", "at"),
    [
        ("ISO_IR 100", b"ABC\x85DEF", 3),  # a C1 control character
        ("ISO_IR 126", b"AB\xaeC", 2),  # unassigned in ISO 8859-7
        ("ISO_IR 13", b"A\xe0B", 1),  # JIS X 0201 katakana end at DFH
        ("ISO_IR 192", b"AB\xff", 2),
        ("GB18030", b"AB\x81", 2),
        ("\\ISO 2022 IR 87", b"AB\xa1C", 2),  # no G1 set declared
    ],
)
def test_extended_bytes_a_character_set_does_not_define(
    charset: str, value: bytes, at: int
) -> None:
    data = part10(
        dataset(
            E("SpecificCharacterSet", "CS", charset), E("StudyDescription", "LO", value), uid="694"
        )
    )
    found = [f for f in findings(data) if f.rule == "VALUE_BAD_CHARACTERS"]
    assert len(found) == 1
    assert found[0].offset == data.index(value) + at


def test_padding() -> None:
    found = check(
        E("StudyInstanceUID", "UI", b"1.2.3.4 "),
        E("StudyDescription", "LO", b"ABC\x00"),
        E("SeriesInstanceUID", "UI", "1.2.3.4.5"),  # odd: padded with NUL by the builder
        E("StudyID", "SH", "ABC"),  # padded with a space by the builder
    )
    assert sorted(rules(found)) == ["VALUE_BAD_PADDING", "VALUE_BAD_PADDING"]


def test_a_run_of_nuls_is_one_padding_fault() -> None:
    data = part10(
        dataset(E("AccessionNumber", "SH", b"A1\0\0\0\0"), E("StudyID", "SH", b"\0\0"), uid="688")
    )
    found = findings(data)
    assert [(f.rule, f.length) for f in found] == [
        ("VALUE_BAD_PADDING", 4),
        ("VALUE_BAD_PADDING", 2),
    ]
    assert "4 NULs" in found[0].message


def test_specific_character_set_terms() -> None:
    found = check(
        E("SpecificCharacterSet", "CS", "ISO 2022 IR 6\\ISO 2022 IR 87\\\\ISO 2022 IR 159")
    )
    assert [f.message for f in found] == [
        "Specific Character Set value 3 is empty; only value 1 may be empty"
    ]
    assert check(E("SpecificCharacterSet", "CS", "\\ISO 2022 IR 149")) == []
    for term in sorted(grammar.DEFINED_TERMS):
        assert check(E("SpecificCharacterSet", "CS", term)) == [], term


def test_utf8_in_a_multi_valued_set_is_reported_once() -> None:
    found = check(
        E("SpecificCharacterSet", "CS", "ISO 2022 IR 6\\ISO_IR 192"),
        E("PatientName", "PN", "M\u00fcller".encode()),
    )
    assert rules(found) == ["SPECIFIC_CHARACTER_SET_UNKNOWN"]


def test_deflated_stream_findings_carry_the_inflated_offsets() -> None:
    data = part10(
        dataset(E("StudyDate", "DA", "20231301"), uid="693"),
        transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    )
    (f,) = findings(data)
    assert f.rule == "VALUE_BAD_FORMAT" and f.stream == Stream.INFLATED
    index = index_bytes(data)
    assert index.read(Stream.INFLATED, f.offset, 8) == b"20231301"


# -- hostile and broken input ------------------------------------------------------------------


def test_value_cut_by_the_end_of_the_file() -> None:
    ds = dataset(uid="692")
    ds.append(E("TextValue", "UT", b"ABC", length=1000))  # (0040,A160) runs off the file
    assert findings(part10(ds)) == []


def test_value_cut_by_the_end_of_its_item() -> None:
    bad = E("ReferencedSOPInstanceUID", "UI", "1.2.3.4", length=0x0100)
    seq = Seq([Item([bad]), Item([E("ReferencedSOPInstanceUID", "UI", "1.2.3.5")])])
    data = part10(dataset(E("ReferencedImageSequence", "SQ", seq), uid="689"))
    assert findings(data) == []


def test_huge_values_are_capped_and_fast() -> None:
    garbage = bytes(random.Random(1).randrange(256) for _ in range(1 << 16)) * 16  # 1 MiB
    ds = dataset(uid="691")
    ds.append(E("TextValue", "UT", garbage))
    ds.append(E(0x7FE00010, "OB", garbage))
    big = b"A\\" * 300_000  # 300,000 CS values
    data = part10(
        [*ds[:2], E("ImageType", "CS", big), *ds[2:]], transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN
    )
    start = time.perf_counter()
    found = findings(data)
    assert time.perf_counter() - start < 5
    assert {f.rule for f in found} <= {"VALUE_BAD_CHARACTERS", "VM_MISMATCH"}


def test_many_elements_hostile_lengths_and_random_bytes() -> None:
    rng = random.Random(7)
    for n in range(60):
        head = part10(dataset(uid=str(600 + n)))
        data = bytearray(head)
        for _ in range(40):
            data[rng.randrange(132, len(data))] = rng.randrange(256)
        data += bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        findings(bytes(data))  # must not raise, nor record an internal error


def test_string_value_with_a_hostile_length() -> None:
    # An IS written in implicit VR with a 32-bit length far beyond the end of the file.
    raw = struct.pack("<HHI", 0x0020, 0x0013, 0x7FFFFFF0) + b"12"
    ds: list[E | Raw] = [*dataset(uid="690"), Raw(raw)]
    found = findings(part10(ds, transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN))
    assert [f for f in found if f.rule == "VALUE_BAD_PADDING"] == []


def test_clean_files_have_no_value_findings() -> None:
    paths = [*sorted((ROOT / "fixtures").glob("*.dcm")), ROOT / "dcmstruct/data/sample_ct.dcm"]
    for path in paths:
        assert findings(path.read_bytes()) == [], path.name
