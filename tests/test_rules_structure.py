"""The container, meta and sequence rules: what they must NOT report, and robustness.

The positive cases (each rule's finding at the right offset) are the rule fixtures, checked by
test_rule_catalogue.py; here are valid or legal-but-unusual files that a careless rule would
flag, and hostile input that must neither raise nor take long.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmstruct.builder import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Raw,
    Seq,
    Writer,
    file_meta,
    part10,
)
from dcmstruct.index import index_bytes
from dcmstruct.model import Stream
from dcmstruct.schema.element import EXPLICIT_LE, IMPLICIT_LE
from dcmstruct.validate.engine import validate_index
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import FINDINGS_PER_RULE, load_all
from fixtures.rule_fixtures.base import CT_IMAGE_STORAGE, ROOT, ct_dataset, offset_of
from fixtures.rule_fixtures.meta import marker
from fixtures.rule_fixtures.meta import meta as meta_with

ROOT_DIR = Path(__file__).resolve().parent.parent
MODULES = {
    "dcmstruct.validate.rules.container",
    "dcmstruct.validate.rules.meta",
    "dcmstruct.validate.rules.sequence",
}
MINE = sorted(name for name, r in load_all().items() if r.module in MODULES)
INSTANCE = f"{ROOT}.1"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def findings(data: bytes) -> list[Finding]:
    found, internal = validate_index(index_bytes(data))
    assert not internal, internal
    return [f for f in found if f.rule in MINE]


def rules(data: bytes) -> list[str]:
    return [f.rule for f in findings(data)]


def meta(**kw: object) -> list[E | Raw]:
    return file_meta(CT_IMAGE_STORAGE, INSTANCE, EXPLICIT_VR_LITTLE_ENDIAN, **kw)  # type: ignore[arg-type]


def with_group_length(body: list[E | Raw]) -> list[E | Raw]:
    return [E(0x00020000, "UL", len(Writer(EXPLICIT_LE).dataset(body))), *body]


def test_the_families_are_complete() -> None:
    assert len(MINE) == 27, MINE


# -- valid and legal-but-unusual files: none of these rules reports anything --------------------


CLEAN = [*sorted((ROOT_DIR / "fixtures").glob("*.dcm")), ROOT_DIR / "dcmstruct/data/sample_ct.dcm"]


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.name)
def test_clean_files(path: Path) -> None:
    assert rules(path.read_bytes()) == []


@pytest.mark.parametrize(
    "ts",
    [
        EXPLICIT_VR_LITTLE_ENDIAN,
        IMPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_BIG_ENDIAN,  # retired, but legal to read
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    ],
)
def test_every_encoding_with_sequences(ts: str) -> None:
    item = [E("ReferencedSOPClassUID", "UI", CT_IMAGE_STORAGE),
            E("ReferencedSOPInstanceUID", "UI", f"{ROOT}.7")]  # fmt: skip
    seq = Seq([Item(item), Item(item, undefined=True), Item([])], undefined=True)
    data = part10(ct_dataset(E("ReferencedImageSequence", "SQ", seq)), transfer_syntax=ts)
    assert rules(data) == []


def test_empty_sequences_and_items() -> None:
    for seq in (Seq([]), Seq([], undefined=True), Seq([Item([], undefined=True)])):
        assert rules(part10(ct_dataset(E("ReferencedImageSequence", "SQ", seq)))) == []


def test_trailing_padding_element() -> None:
    padding = E(0xFFFCFFFC, "OB", bytes(64))  # PS3.10 7.2 Data Set Trailing Padding
    assert rules(part10([*ct_dataset(), padding])) == []


def test_correct_retired_group_lengths() -> None:
    ds = ct_dataset()
    group8 = [e for e in ds if isinstance(e, E) and e.tag_int >> 16 == 0x0008]
    rest = [e for e in ds if e not in group8]
    length = len(Writer(EXPLICIT_LE).dataset(group8))
    assert rules(part10([E(0x00080000, "UL", length), *group8, *rest])) == []


def test_optional_meta_elements() -> None:
    extra = [E(0x00020016, "AE", "RULE_AE"), E(0x00020100, "UI", f"{ROOT}.99"),
             E(0x00020102, "OB", b"\x01\x02")]  # fmt: skip
    assert rules(part10(ct_dataset(), meta=meta(extra=extra))) == []


def test_nonzero_preamble_is_info_only() -> None:
    tiff = b"II*\x00\x08\x00\x00\x00" + bytes(120)
    found = findings(part10(ct_dataset(), preamble=tiff))
    assert [(f.rule, f.severity, f.offset, f.length) for f in found] == [
        ("PREAMBLE_NONZERO", Severity.INFO, 0, 5)
    ]
    assert "TIFF" in found[0].message


def test_preamble_nonzero_not_reported_without_dicm() -> None:
    data = part10(ct_dataset(), preamble=b"\x01" * 128, prefix=b"DICX")
    assert rules(data) == ["PREFIX_NOT_DICM"]


def test_bare_dataset_is_only_preamble_missing() -> None:
    assert rules(Writer(EXPLICIT_LE).dataset(ct_dataset())) == ["PREAMBLE_MISSING"]


def test_uids_compared_without_padding() -> None:
    # An odd-length UID: the meta value padded with NUL, the data set's with a space (wrong,
    # but VALUE_BAD_PADDING's business): the same UID.
    uid = f"{ROOT}.123"
    assert len(uid) % 2 == 1
    ds = ct_dataset()
    ds[2] = E("SOPInstanceUID", "UI", uid.encode() + b" ")
    m = file_meta(CT_IMAGE_STORAGE, uid, EXPLICIT_VR_LITTLE_ENDIAN)
    assert "META_UID_MISMATCH" not in rules(part10(ds, meta=m))


def test_uid_check_skips_a_data_set_without_sop_uids() -> None:
    # A DICOMDIR: Media Storage Directory Storage, no (0008,0016)/(0008,0018) in the data set.
    m = file_meta(MEDIA_STORAGE_DIRECTORY, INSTANCE, EXPLICIT_VR_LITTLE_ENDIAN)
    ds = [E("FileSetID", "CS", "RULES"), E("FileSetConsistencyFlag", "US", 0)]
    assert rules(part10(ds, meta=m)) == []


def test_deflated_data_set_elements_are_not_misplaced_meta() -> None:
    data = part10(ct_dataset(), transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    index = index_bytes(data)
    assert index.deflated
    assert rules(data) == []


# -- the meta group: the faults are told apart ------------------------------------------------


def test_group_length_ending_inside_an_element_is_a_mismatch() -> None:
    body = meta()[1:]
    size = len(Writer(EXPLICIT_LE).dataset(body))
    data = part10(ct_dataset(), meta=[E(0x00020000, "UL", size + 4), *body])
    found = findings(data)
    assert [f.rule for f in found] == ["META_GROUP_LENGTH_MISMATCH"]
    assert found[0].message == f"(0002,0000) says {size + 4} bytes, the group holds {size}"
    assert found[0].tag == 0x00020000 and found[0].length == 4


def test_hostile_group_length() -> None:
    body = meta()[1:]
    data = part10(ct_dataset(), meta=[E(0x00020000, "UL", 0xFFFFFFFF), *body])
    assert rules(data) == ["META_GROUP_LENGTH_MISMATCH"]


def test_group_length_of_wrong_size_is_not_read() -> None:
    body = meta()[1:]
    data = part10(ct_dataset(), meta=[E(0x00020000, "US", 7), *body])
    assert "META_GROUP_LENGTH_MISMATCH" not in rules(data)


def test_intruder_counted_with_meta_elements_after_it() -> None:
    # (0008,0005) inside the announced meta group, followed by more group 0002 elements: those
    # belong to the meta group as written, they are not "in the data set".
    m = meta()
    body = [*m[1:6], E("SpecificCharacterSet", "CS", "ISO_IR 100"), m[6]]
    data = part10(ct_dataset()[1:], meta=with_group_length(body))
    got = rules(data)
    assert "META_CONTAINS_NON_META" in got
    assert "META_ELEMENT_IN_DATASET" not in got
    assert "META_REQUIRED_MISSING" not in got
    assert "META_GROUP_LENGTH_MISMATCH" not in got


def test_required_element_found_later_is_pointed_at() -> None:
    m = meta()
    ts = m[4]
    body = [e for e in m[1:] if e is not ts]
    item = Item([ts, E("ReferencedSOPClassUID", "UI", CT_IMAGE_STORAGE)])
    data = part10(ct_dataset(E("ReferencedImageSequence", "SQ", Seq([item]))),
                  meta=with_group_length(body))  # fmt: skip
    found = {f.rule: f for f in findings(data)}
    assert set(found) == {"META_REQUIRED_MISSING", "META_ELEMENT_IN_DATASET"}
    assert found["META_REQUIRED_MISSING"].tag == 0x00020010
    # The item's (0002,0010) is not top level, so there is no "appears after" hint.
    assert "appears" not in found["META_REQUIRED_MISSING"].message


def test_truncated_meta_reports_no_missing_elements_after_the_cut() -> None:
    data = part10(ct_dataset())
    cut = data[: offset_of(data, b"\x02\x00\x10\x00UI") + 12]
    got = rules(cut)
    assert "FILE_TRUNCATED" in got
    assert "META_REQUIRED_MISSING" not in got
    assert "META_GROUP_LENGTH_MISMATCH" not in got


def test_implicit_meta_group_is_still_checked() -> None:
    # Written Implicit VR, but (0002,0000) counts the Explicit VR bytes: both faults reported.
    data = bytes(128) + b"DICM" + Writer(IMPLICIT_LE).dataset(meta())
    data += Writer(EXPLICIT_LE).dataset(ct_dataset())
    assert set(rules(data)) == {"META_NOT_EXPLICIT_LE", "META_GROUP_LENGTH_MISMATCH"}


def test_meta_element_in_nested_item_has_its_path() -> None:
    inner = Item([E(0x00020016, "AE", "RULE_AE")])
    outer = Item([E("ReferencedImageSequence", "SQ", Seq([inner]))])
    data = part10(ct_dataset(E("ReferencedImageSequence", "SQ", Seq([outer]))))
    found = [f for f in findings(data) if f.rule == "META_ELEMENT_IN_DATASET"]
    assert len(found) == 1
    assert found[0].path == "0008,1140[0]/0008,1140[0]/0002,0016"
    assert found[0].offset == offset_of(data, b"\x02\x00\x16\x00AE")


# -- empty required meta elements and what META_UID_MISMATCH says ------------------------------


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x00020001, "OB", b""),
        (0x00020002, "UI", b""),
        (0x00020003, "UI", b""),
        (0x00020003, "UI", b"\0\0"),  # nothing but padding
        (0x00020010, "UI", b""),
        (0x00020010, "UI", b" \0"),
        (0x00020012, "UI", b"  "),
    ],
    ids=[
        "version",
        "sop-class",
        "sop-instance",
        "sop-instance-nul",
        "transfer-syntax",
        "transfer-syntax-padding",
        "impl",
    ],
)
def test_empty_required_meta_element(tag: int, vr: str, value: bytes) -> None:
    data = part10(ct_dataset(), meta=meta_with(replace={tag: E(tag, vr, value)}))
    found = findings(data)
    at = offset_of(data, marker(tag, vr))
    required = [f for f in found if f.rule == "META_REQUIRED_MISSING"]
    # One finding covering the whole element: its header (OB: the 12-byte long form, PS3.5
    # Table 7.1-1; UI: 8 bytes) and whatever padding it holds.
    header = 12 if vr == "OB" else 8
    assert [(f.offset, f.length, f.tag) for f in required] == [(at, header + len(value), tag)]
    assert "present but empty" in required[0].message
    # Nothing else: no misleading mismatch or version finding, and an empty (0002,0010) is not
    # TRANSFER_SYNTAX_UNKNOWN too (it names no transfer syntax, known or not).
    assert [f.rule for f in found] == ["META_REQUIRED_MISSING"], found


def _uid_finding(data: bytes) -> Finding:
    found = [f for f in findings(data) if f.rule == "META_UID_MISMATCH"]
    assert len(found) == 1, found
    assert found[0].offset == offset_of(data, marker(0x00020003, "UI")) + 8
    return found[0]


def test_uid_mismatch_says_differ_only_when_both_values_exist() -> None:
    other = f"{ROOT}.2"
    data = part10(ct_dataset(), meta=meta_with(replace={0x00020003: E(0x00020003, "UI", other)}))
    message = _uid_finding(data).message
    assert "differ" in message and other in message and INSTANCE in message


def test_uid_mismatch_when_the_data_set_lacks_the_element() -> None:
    ds = [e for e in ct_dataset() if not (isinstance(e, E) and e.tag == "SOPInstanceUID")]
    message = _uid_finding(part10(ds, meta=meta_with())).message
    assert "the data set has no (0008,0018)" in message and "differ" not in message


def test_uid_mismatch_when_the_data_set_element_is_empty() -> None:
    ds = ct_dataset()
    ds[2] = E("SOPInstanceUID", "UI", "")
    message = _uid_finding(part10(ds, meta=meta_with())).message
    assert "(0008,0018) is empty" in message and "differ" not in message


def test_uid_mismatch_message_escapes_control_characters() -> None:
    hostile = "1.2.3\x1b]0;HACKED\x07"
    data = part10(ct_dataset(), meta=meta_with(replace={0x00020003: E(0x00020003, "UI", hostile)}))
    message = _uid_finding(data).message
    assert "\x1b" not in message and "\x07" not in message
    assert "\\x1b]0;HACKED\\x07" in message


# -- robustness ----------------------------------------------------------------------------------


def _check_sane(data: bytes) -> None:
    for f in findings(data):
        if f.stream == Stream.FILE:
            assert 0 <= f.offset <= len(data), f
            assert f.offset + f.length <= len(data) or f.length <= 8, f
        assert f.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    _check_sane(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_files_never_raise(draw: st.DataObject) -> None:
    seq = Seq([Item([E("ReferencedSOPClassUID", "UI", CT_IMAGE_STORAGE)], undefined=True)],
              undefined=True)  # fmt: skip
    base = bytearray(part10(ct_dataset(E("ReferencedImageSequence", "SQ", seq))))
    for _ in range(draw.draw(st.integers(1, 6))):
        at = draw.draw(st.integers(0, len(base) - 1))
        base[at] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(base)))
    _check_sane(bytes(base[:cut]))


def test_many_misplaced_meta_elements_are_linear() -> None:
    # 20,000 group 0002 elements inside one item: quickly, and the findings are capped (the
    # first FINDINGS_PER_RULE, then one that says more are not listed).
    n = 20_000
    element = Writer(EXPLICIT_LE).element(E(0x00020016, "AE", "RULE_AE"))
    item = Item([Raw(element * n)])
    data = part10(ct_dataset(E("ReferencedImageSequence", "SQ", Seq([item]))))
    start = time.perf_counter()
    got = rules(data)
    assert time.perf_counter() - start < 20
    assert got.count("META_ELEMENT_IN_DATASET") == FINDINGS_PER_RULE + 1


def test_huge_meta_group_length_element_count() -> None:
    # A meta group of 20,000 elements and a group length far past the end of the file.
    element = Writer(EXPLICIT_LE).element(E(0x00020016, "AE", "RULE_AE"))
    body = Writer(EXPLICIT_LE).dataset(meta()[1:])
    head = struct.pack("<HH2sHI", 2, 0, b"UL", 4, 0xFFFFFFF0)
    data = bytes(128) + b"DICM" + head + body + element * 20_000
    data += Writer(EXPLICIT_LE).dataset(ct_dataset())
    start = time.perf_counter()
    got = rules(data)
    assert time.perf_counter() - start < 20
    assert "META_GROUP_LENGTH_MISMATCH" in got


def test_deep_nesting_is_reported_once() -> None:
    w = Writer(EXPLICIT_LE)
    level = w.header(0x00081140, "SQ", 0xFFFFFFFF) + w.header(0xFFFEE000, None, 0xFFFFFFFF)
    close = w.header(0xFFFEE00D, None, 0) + w.header(0xFFFEE0DD, None, 0)
    data = part10(ct_dataset(Raw(level * 2000 + close * 2000)))
    assert rules(data) == ["NESTING_TOO_DEEP"]


def test_every_cut_inside_a_sequence_is_an_error() -> None:
    seq = Seq([Item([E("ReferencedSOPClassUID", "UI", CT_IMAGE_STORAGE)], undefined=True)],
              undefined=True)  # fmt: skip
    data = part10([*ct_dataset(), E("ContentSequence", "SQ", seq)])
    start = offset_of(data, b"\x40\x00\x30\xa7SQ")
    for cut in range(start + 1, len(data)):
        # Any rule's error will do: a cut in a value is VALUE_OVERRUNS_PARENT's (or
        # FILE_TRUNCATED's), a cut between two elements of an open item FILE_TRUNCATED's.
        got, internal = validate_index(index_bytes(data[:cut]))
        assert not internal
        assert any(f.severity == Severity.ERROR for f in got), f"cut at {cut}: {got}"
