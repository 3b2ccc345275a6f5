"""Accuracy defects of issue 8 (item 6): what each file must get, exactly, and nothing more.

The positive cases are rule fixtures too (fixtures/rule_fixtures/, checked by
test_rule_catalogue.py: the finding at its offset, no undeclared rule); here each case is pinned
down further: the only finding, its wording, and that nothing after the fault is lost.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from dcmstruct.builder import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    E,
    Frags,
    Item,
    Raw,
    Seq,
    Writer,
    file_meta,
    part10,
)
from dcmstruct.index import ElementIndex, index_bytes
from dcmstruct.model import Kind
from dcmstruct.schema.element import EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE
from dcmstruct.validate.engine import validate_index
from dcmstruct.validate.finding import Finding
from fixtures.rule_fixtures.base import CT_IMAGE_STORAGE, ROOT, ct_dataset, offset_of
from fixtures.rule_fixtures.container import _png
from fixtures.rule_fixtures.meta import marker
from fixtures.rule_fixtures.meta import meta as meta_with
from fixtures.rule_fixtures.sequence import referenced

INSTANCE = f"{ROOT}.1"


def check(data: bytes) -> tuple[ElementIndex, list[Finding]]:
    index = index_bytes(data)
    found, internal = validate_index(index)
    assert not internal, internal
    return index, found


def top_level_tags(index: ElementIndex) -> list[int]:
    c = index.columns
    rows = (c.kind == Kind.ELEMENT) & (c.parent == -1)
    return [int(t) for t in c.tag[rows].tolist()]


def dataset_tags() -> list[int]:
    return [e.tag_int for e in ct_dataset() if isinstance(e, E)]


# -- a file meta group written Explicit VR Big Endian -------------------------------------------


@pytest.mark.parametrize("dataset_ts", [EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN])
def test_big_endian_meta_group_is_read_as_big_endian(dataset_ts: str) -> None:
    meta = file_meta(CT_IMAGE_STORAGE, INSTANCE, dataset_ts)
    body_enc = EXPLICIT_BE if dataset_ts == EXPLICIT_VR_BIG_ENDIAN else EXPLICIT_LE
    head = bytes(128) + b"DICM" + Writer(EXPLICIT_BE).dataset(meta)
    index, found = check(head + Writer(body_enc).dataset(ct_dataset()))
    assert [(f.rule, f.offset) for f in found] == [("META_NOT_EXPLICIT_LE", 132)], found
    assert "Big Endian" in found[0].message
    # The group length is read as the 176 bytes it is, not as 176 << 24; so the data set is
    # found where the meta group ends, and read whole, in its own encoding.
    assert index.dataset_offset == len(head)
    assert index.dataset_encoding is body_enc
    meta_tags = [e.tag_int for e in meta if isinstance(e, E)]
    assert top_level_tags(index) == meta_tags + dataset_tags()


def test_a_wrong_big_endian_group_length_is_reported_with_its_value() -> None:
    body = file_meta(CT_IMAGE_STORAGE, INSTANCE, EXPLICIT_VR_BIG_ENDIAN)[1:]
    size = len(Writer(EXPLICIT_BE).dataset(body))
    meta = [E(0x00020000, "UL", size + 14), *body]
    data = bytes(128) + b"DICM" + Writer(EXPLICIT_BE).dataset([*meta, *ct_dataset()])
    _, found = check(data)
    mismatch = [f.message for f in found if f.rule == "META_GROUP_LENGTH_MISMATCH"]
    assert mismatch == [f"(0002,0000) says {size + 14} bytes, the group holds {size}"]


# -- files that are not DICOM at all ------------------------------------------------------------


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("study/IM0001.dcm", b"not really" * 40)
    return out.getvalue()


def _json() -> bytes:
    model = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Rule^Fixture"}]}}
    model["00080018"] = {"vr": "UI", "Value": [f"{ROOT}.{n}" for n in range(8)]}
    return json.dumps(model, indent=2).encode()


README = b"This folder holds the exported images.\nOpen them with a DICOM viewer.\n" * 4


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_png(), " (it starts like a PNG image)"),
        (_json(), " (it starts like JSON)"),
        (b"\xef\xbb\xbf" + _json(), " (it starts like JSON)"),  # with a UTF-8 byte order mark
        (_zip(), " (it starts like a ZIP archive)"),
        (README, " (it starts like text)"),
        ("Résumé des examens\n".encode() * 12, " (it starts like text)"),
        (bytes(range(7, 250)), ""),  # some binary: no format named
    ],
    ids=["png", "json", "json-bom", "zip", "text", "utf8-text", "binary"],
)
def test_a_file_that_is_not_dicom_gets_one_finding_saying_so(data: bytes, kind: str) -> None:
    assert len(data) > 132
    index, found = check(data)
    assert [(f.rule, f.offset, f.length) for f in found] == [("PREFIX_NOT_DICM", 128, 4)]
    assert found[0].message.startswith(f"this is not a DICOM file{kind}: bytes 128-131 are ")
    # Its bytes are one unparsed run, not elements (and not a cascade of faults).
    nodes = [(n.kind, n.offset, n.end) for n in index]
    assert nodes == [(Kind.TRAILING, 0, len(data))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", "8 bytes cannot hold a 128-byte preamble, 'DICM' and a meta group "
         "(it starts like a PNG image)"),
        (b'{"a": 1}\n', "9 bytes cannot hold a 128-byte preamble, 'DICM' and a meta group "
         "(it starts like JSON)"),
        (b"x", "1 byte cannot hold a 128-byte preamble, 'DICM' and a meta group (it starts like "
         "text)"),
    ],
    ids=["png", "json", "one-byte"],
)  # fmt: skip
def test_a_short_file_that_is_not_dicom(data: bytes, message: str) -> None:
    _, found = check(data)
    assert [(f.rule, f.message) for f in found] == [("FILE_TOO_SHORT", message)]


def test_a_wrong_prefix_before_a_real_meta_group_is_not_called_non_dicom() -> None:
    _, found = check(part10(ct_dataset(), prefix=b"DICX"))
    assert [f.rule for f in found] == ["PREFIX_NOT_DICM"]
    assert "not a DICOM file" not in found[0].message
    assert "a file meta group follows them" in found[0].message


# -- an empty (0002,0010) is META_REQUIRED_MISSING's alone ----------------------------------------


@pytest.mark.parametrize("value", [b"", b"\0\0", b"  "], ids=["empty", "nul", "spaces"])
def test_an_empty_transfer_syntax_is_not_also_unknown(value: bytes) -> None:
    data = part10(ct_dataset(), meta=meta_with(replace={0x00020010: E(0x00020010, "UI", value)}))
    index, found = check(data)
    assert [f.code for f in index.faults] == []
    at = offset_of(data, marker(0x00020010, "UI"))
    # (Padding that is not a UI's own, NUL at the end, is the value rules' business.)
    meta_rules = [(f.rule, f.offset) for f in found if not f.rule.startswith("VALUE_")]
    assert meta_rules == [("META_REQUIRED_MISSING", at)]
    if not value:
        assert len(found) == 1
    assert index.dataset_encoding is EXPLICIT_LE  # detected from the data set
    assert top_level_tags(index)[-len(dataset_tags()) :] == dataset_tags()


def test_an_unknown_transfer_syntax_is_still_reported() -> None:
    data = part10(ct_dataset(), meta=meta_with(transfer_syntax="1.2.3.4"))
    index, _ = check(data)
    assert [f.code for f in index.faults] == ["TRANSFER_SYNTAX_UNKNOWN"]


# -- (0002,0000) with the wrong VR ----------------------------------------------------------------


def test_group_length_written_as_ui_is_a_vr_mismatch() -> None:
    good = meta_with()
    as_ui = E(0x00020000, "UI", Writer(EXPLICIT_LE).element(good[0])[8:])
    data = part10(ct_dataset(), meta=[as_ui, *good[1:]])
    _, found = check(data)
    at = offset_of(data, marker(0x00020000, "UI"))
    vr = [(f.offset, f.length) for f in found if f.rule == "VR_MISMATCH_DICTIONARY"]
    assert vr == [(at + 4, 2)]
    assert {f.rule for f in found} == {"VR_MISMATCH_DICTIONARY", "VALUE_BAD_CHARACTERS"}


# -- a defined sequence length that runs over the elements after it ------------------------------

CREATOR = E(0x00090010, "LO", "RULE")
PRIVATE = E(0x00091001, "LO", "PRIVATE VALUE")
CREATOR_TAG = b"\x09\x00\x10\x00"


def _overrun(extra: int, ts: str = EXPLICIT_VR_LITTLE_ENDIAN) -> bytes:
    """(0008,1140) with one item and a length ``extra`` bytes too long, then the private
    creator and its element, then the rest of the CT data set."""
    enc = IMPLICIT_LE if ts == IMPLICIT_VR_LITTLE_ENDIAN else EXPLICIT_LE
    item = len(Writer(enc).item(Item(referenced())))
    seq = E("ReferencedImageSequence", "SQ", Seq([Item(referenced())]), length=item + extra)
    return part10(ct_dataset(seq, CREATOR, PRIVATE), transfer_syntax=ts)


@pytest.mark.parametrize(
    ("extra", "ts"),
    [
        (12, EXPLICIT_VR_LITTLE_ENDIAN),  # exactly the creator
        (4, EXPLICIT_VR_LITTLE_ENDIAN),  # less than a header: into the creator's header
        (20, EXPLICIT_VR_LITTLE_ENDIAN),  # the creator and part of (0009,1001)
        (34, EXPLICIT_VR_LITTLE_ENDIAN),  # both private elements
        (12, IMPLICIT_VR_LITTLE_ENDIAN),
        (30, IMPLICIT_VR_LITTLE_ENDIAN),
    ],
    ids=["12", "4", "20", "34", "implicit-12", "implicit-30"],
)
def test_a_sequence_length_overrun_is_one_finding_and_loses_nothing(extra: int, ts: str) -> None:
    data = _overrun(extra, ts)
    creator_at = data.index(CREATOR_TAG, 132)
    index, found = check(data)
    assert [(f.rule, f.offset, f.length) for f in found] == [
        ("SEQUENCE_LENGTH_MISMATCH", creator_at, extra)
    ]
    message = found[0].message
    assert f"runs {extra} bytes past its last item" in message
    assert "resumed with the enclosing data set" in message
    # Every element after the sequence is read where it belongs: the top level.
    assert top_level_tags(index) == [
        *[e.tag_int for e in file_meta(CT_IMAGE_STORAGE, INSTANCE, ts) if isinstance(e, E)],
        *dataset_tags()[:4],
        0x00081140,
        0x00090010,
        0x00091001,
        *dataset_tags()[4:],
    ]
    c = index.columns
    seq = int(next(i for i in range(len(index)) if int(c.tag[i]) == 0x00081140))
    assert int(c.end[seq]) == creator_at  # the sequence ends after its item
    assert all(int(c.end[i]) <= creator_at for i in range(len(index)) if int(c.parent[i]) == seq)


def test_a_sequence_overrun_inside_an_item() -> None:
    # The same overrun one level down: the enclosing data set is an item of (0040,A730).
    item = len(Writer(EXPLICIT_LE).item(Item(referenced())))
    inner = E("ReferencedImageSequence", "SQ", Seq([Item(referenced())]), length=item + 12)
    outer = Item([E("Modality", "CS", "CT"), inner, CREATOR, PRIVATE])
    data = part10([*ct_dataset(), E("ContentSequence", "SQ", Seq([outer]))])
    creator_at = data.index(CREATOR_TAG, 132)
    index, found = check(data)
    assert [(f.rule, f.offset, f.path) for f in found] == [
        ("SEQUENCE_LENGTH_MISMATCH", creator_at, "0040,A730[0]/0008,1140")
    ]
    assert "enclosing item" in found[0].message
    c = index.columns
    creator = next(i for i in range(len(index)) if int(c.tag[i]) == 0x00090010)
    assert int(c.tag[int(c.parent[creator])]) == 0xFFFEE000  # in the item, not the sequence


def test_an_element_with_a_lower_tag_in_a_sequence_is_still_item_expected() -> None:
    # (0008,0001) sorts before the sequence's own tag: not the data set's next element, so it
    # is an element written into the sequence, and the sequence's length is not blamed.
    stray = Writer(EXPLICIT_LE).element(E(0x00080001, "UL", 4))
    data = part10(ct_dataset(E("ReferencedImageSequence", "SQ", Seq([Item(referenced()),
                                                                     Raw(stray)]))))  # fmt: skip
    _, found = check(data)
    assert [f.rule for f in found] == ["ITEM_EXPECTED"]


def test_bytes_past_the_last_item_that_are_no_element_keep_the_sequence_length() -> None:
    junk = b"\xaa\xbb\xcc\xdd\xee\xff\x11\x22\x33\x44\x55\x66"
    data = part10(ct_dataset(E("ReferencedImageSequence", "SQ", Seq([Item(referenced()),
                                                                     Raw(junk)]))))  # fmt: skip
    index, found = check(data)
    assert [(f.rule, f.offset) for f in found] == [("ITEM_EXPECTED", offset_of(data, junk))]
    c = index.columns
    seq = next(i for i in range(len(index)) if int(c.tag[i]) == 0x00081140)
    assert int(c.end[seq]) == offset_of(data, junk) + len(junk)


# -- wording --------------------------------------------------------------------------------------


def test_unclosed_encapsulated_pixel_data_is_called_that() -> None:
    pixels = E("PixelData", "OB", Frags([b"\xff\xd8\xff\xd9"], delimiter=False))
    data = part10([*ct_dataset(), pixels], transfer_syntax="1.2.840.10008.1.2.4.50")
    _, found = check(data)
    cut = [f.message for f in found if f.rule == "FILE_TRUNCATED"]
    at = offset_of(data, b"\xe0\x7f\x10\x00OB")
    assert cut == [
        f"the encapsulated Pixel Data at {at:#x} is not closed by a Sequence Delimitation Item "
        "before the end of the file"
    ]


@pytest.mark.parametrize(("n", "verb"), [(1, "1 byte after the last element forms"),
                                         (3, "3 bytes after the last element form")])  # fmt: skip
def test_bytes_that_form_no_element_agree_with_their_count(n: int, verb: str) -> None:
    _, found = check(part10(ct_dataset()) + b"\x01" * n)
    assert [f.rule for f in found] == ["TRAILING_BYTES"]
    assert found[0].message.startswith(f"{verb} no element")


def test_a_length_one_byte_past_its_container_says_byte() -> None:
    good = part10(ct_dataset())
    at = offset_of(good, b"\x10\x00\x20\x00LO")  # (0010,0020), the last element
    data = bytearray(good)
    data[at + 6] += 1  # its 16-bit length one more than the bytes left
    _, found = check(bytes(data))
    messages = [f.message for f in found if f.rule == "FILE_TRUNCATED"]
    assert len(messages) == 1 and "runs 1 byte past the end of the file" in messages[0]


def test_private_creator_missing_says_has_for_one_and_have_for_a_block() -> None:
    one = part10(ct_dataset(E(0x00091001, "LO", "A")))
    two = part10(ct_dataset(E(0x00091001, "LO", "A"), E(0x00091002, "LO", "B")))
    _, found = check(one)
    assert [f.message for f in found if f.rule == "PRIVATE_CREATOR_MISSING"] == [
        "(0009,1001) has no private creator (0009,0010) in its data set"
    ]
    _, found = check(two)
    assert [f.message for f in found if f.rule == "PRIVATE_CREATOR_MISSING"] == [
        "(0009,1001) and 1 more of its block have no private creator (0009,0010) in their data set"
    ]
