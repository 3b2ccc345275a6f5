"""Recovery: independent faults in one file are each reported once, nothing more."""

from __future__ import annotations

from dcmstruct.builder import E, Raw, Writer, part10
from dcmstruct.index import index_bytes
from dcmstruct.schema.element import EXPLICIT_LE
from dcmstruct.validate.engine import validate_index
from fixtures.rule_fixtures.base import CT_IMAGE_STORAGE, ROOT


def test_seven_independent_faults_make_seven_findings() -> None:
    w = Writer(EXPLICIT_LE)
    odd = Raw(b"\x08\x00\x30\x10LO\x03\x00ABC")  # (0008,1030) VL 3: ODD_VALUE_LENGTH
    ds = [
        E("SpecificCharacterSet", "CS", "ISO_IR 100"),
        E("SOPClassUID", "UI", CT_IMAGE_STORAGE),
        E("SOPInstanceUID", "UI", f"{ROOT}.9001"),
        E("StudyDate", "DA", "20001332"),  # VALUE_BAD_FORMAT: month 13
        E("Modality", "CS", "ct"),  # VALUE_BAD_CHARACTERS: lower case CS
        odd,
        E(0x00091001, "LO", "NO CREATOR"),  # PRIVATE_CREATOR_MISSING
        E("PatientName", "PN", "RECOVERY^TEST"),
        Raw(w.element(E("PatientName", "PN", "AGAIN"))),  # DUPLICATE_TAG
        E("PatientID", "LO", "ID-7"),
        E("Rows", "SS", 16),  # VR_MISMATCH_DICTIONARY: Rows is US
        E("Columns", "US", 16),
    ]
    data = part10(ds) + b"\x00"  # TRAILING_BYTES: one odd byte
    findings, internal = validate_index(index_bytes(data))
    assert not internal
    got = sorted(f.rule for f in findings)
    assert got == sorted(
        [
            "VALUE_BAD_FORMAT",
            "VALUE_BAD_CHARACTERS",
            "ODD_VALUE_LENGTH",
            "PRIVATE_CREATOR_MISSING",
            "DUPLICATE_TAG",
            "VR_MISMATCH_DICTIONARY",
            "TRAILING_BYTES",
        ]
    ), [(f.rule, hex(f.offset), f.message) for f in findings]
    # each finding is where its fault is, and all come in byte order
    assert [f.offset for f in findings] == sorted(f.offset for f in findings)
    odd_at = data.index(odd.data, 132)
    assert next(f for f in findings if f.rule == "ODD_VALUE_LENGTH").offset == odd_at + 6
    assert next(f for f in findings if f.rule == "TRAILING_BYTES").offset == len(data) - 1


def test_faults_after_a_bad_length_are_still_found() -> None:
    # A hostile length in the middle: the walk re-synchronises and finds the fault after it.
    ds = [
        E("SOPClassUID", "UI", CT_IMAGE_STORAGE),
        E("SOPInstanceUID", "UI", f"{ROOT}.9002"),
        E("StudyDescription", "LO", "BAD LENGTH", length=0x7FF0),
        E("PatientName", "PN", "AFTER^FAULT"),
        E("PatientID", "LO", "id\x01"),  # a control character: VALUE_BAD_CHARACTERS
    ]
    findings, internal = validate_index(index_bytes(part10(ds)))
    assert not internal
    rules = [f.rule for f in findings]
    assert rules.count("VALUE_OVERRUNS_PARENT") == 1
    assert (
        "re-synchronised" in next(f for f in findings if f.rule == "VALUE_OVERRUNS_PARENT").message
    )
    assert "VALUE_BAD_CHARACTERS" in rules
