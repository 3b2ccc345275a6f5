"""Encoding and private rules: legal but unusual input gets no finding of these rules."""

from __future__ import annotations

from dcmstruct.builder import (
    EXPLICIT_VR_BIG_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Seq,
    Writer,
    part10,
)
from dcmstruct.index import index_bytes
from dcmstruct.schema.element import EXPLICIT_LE
from dcmstruct.validate.engine import validate_index
from fixtures.rule_fixtures.base import ct_dataset


def mine(data: bytes) -> list[tuple[str, int]]:
    """Every finding of every rule (not only this family's): a legal file must get none."""
    findings, internal = validate_index(index_bytes(data))
    assert not internal
    return [(f.rule, f.offset) for f in findings]


def test_correct_retired_group_length_is_fine() -> None:
    ds = ct_dataset()
    group8 = Writer(EXPLICIT_LE).dataset(ds[:4])  # (0008,0005) .. (0008,0060)
    ds.insert(0, E(0x00080000, "UL", len(group8)))
    assert mine(part10(ds)) == []


def test_big_endian_implicit_and_trailing_padding_are_fine() -> None:
    ds = ct_dataset(
        E("ReferencedImageSequence", "SQ", Seq([Item([E("ReferencedSOPClassUID", "UI", "1.2")])]))
    )
    ds += [
        E("Rows", "US", 4),
        E(0xFFFCFFFC, "OB", bytes(16)),
    ]  # (FFFC,FFFC) Data Set Trailing Padding
    for ts in (EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
        assert mine(part10(ds, transfer_syntax=ts)) == []


def test_a_proper_private_block_is_fine() -> None:
    ds = ct_dataset(
        E(0x00090010, "LO", "VENDOR A"),
        E(0x00090011, "LO", "VENDOR B"),
        E(0x00091001, "LO", "A1"),
        E(0x00091101, "US", 7),
        E(
            0x00091102,
            "SQ",
            Seq([Item([E(0x00090010, "LO", "VENDOR A"), E(0x00091001, "LO", "X")])]),
        ),
    )
    assert mine(part10(ds)) == []


def test_private_creator_scope_is_the_data_set() -> None:
    # A creator at the top level does not cover a private element inside an item (PS3.5 7.8.1).
    ds = ct_dataset(
        E(0x00090010, "LO", "VENDOR A"),
        E(0x00091001, "SQ", Seq([Item([E(0x00091002, "LO", "NO CREATOR HERE")])])),
    )
    assert [r for r, _ in mine(part10(ds))] == ["PRIVATE_CREATOR_MISSING"]


def test_un_for_a_known_tag_is_not_a_vr_fault() -> None:
    assert mine(part10(ct_dataset(E("StudyDescription", "UN", b"TEXT")))) == []


def test_multiple_faults_each_reported_once() -> None:
    ds = ct_dataset(
        E("StudyDate", "DA", "20000101"),  # not ascending after (0008,0060)
        E(0x00091001, "LO", "NO CREATOR"),
        E(0x00090005, "LO", "RESERVED"),  # reserved range, and not ascending
    )
    rules = sorted(r for r, _ in mine(part10(ds)))
    assert rules == [
        "PRIVATE_CREATOR_MISSING", "PRIVATE_TAG_RESERVED_RANGE",
        "TAGS_NOT_ASCENDING", "TAGS_NOT_ASCENDING",
    ]  # fmt: skip
