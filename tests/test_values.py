"""dcmstruct.values, the one decoder: byte order, binary values, AT, first integers; and the
index's one child table. Expected values are the builder's inputs, never the decoder's output."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import dcmstruct
from dcmstruct.builder import (
    E,
    Item,
    Seq,
    Writer,
    file_meta,
    part10,
)
from dcmstruct.index import ElementIndex, index_bytes
from dcmstruct.model import Kind
from dcmstruct.schema.element import EXPLICIT_BE
from dcmstruct.tui.decode import decode
from dcmstruct.tui.structure import Structure
from dcmstruct.uids import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)
from dcmstruct.values import (
    decode_tags,
    decode_uints,
    first_int,
    little_endian,
    split_values,
)

SOP = [E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.2"), E("SOPInstanceUID", "UI", "1.2.3")]


def _node(index: ElementIndex, tag: int) -> int:
    c = index.columns
    return int(np.flatnonzero((c.tag == tag) & (c.kind == Kind.ELEMENT))[0])


def test_decode_tags_in_both_byte_orders() -> None:
    tags = [0x00100010, 0x7FE00010, 0xFFFEE000]
    for order, little in (("<", True), (">", False)):
        raw = b"".join(struct.pack(order + "HH", t >> 16, t & 0xFFFF) for t in tags)
        assert decode_tags(raw, little).tolist() == tags
        assert decode_tags(raw + b"\x08\x00", little).tolist() == tags  # a lone group number
        assert decode_tags(raw[:3], little).tolist() == []


def test_decode_uints() -> None:
    assert decode_uints(struct.pack("<3I", 1, 2, 0xFFFFFFFF) + b"\1", 4, True).tolist() == [
        1,
        2,
        0xFFFFFFFF,
    ]
    assert decode_uints(struct.pack(">2H", 7, 513), 2, False).tolist() == [7, 513]
    assert decode_uints(b"\1\2", 1, True).tolist() == [1, 2]


def test_split_values() -> None:
    assert split_values("CS", "A\\B") == ["A", "B"]
    assert split_values("LT", "A\\B") == ["A\\B"]
    assert split_values("UR", "a\\b") == ["a\\b"]


@pytest.mark.parametrize(
    "transfer_syntax",
    [EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
)
def test_first_int_and_tags_in_every_encoding(transfer_syntax: str) -> None:
    ds = [
        *SOP,
        E("SelectorATValue", "AT", [0x00100010, 0x00200013]),
        E("NumberOfFrames", "IS", "12\\3"),
        E("Rows", "US", 512),
        E(0x00041400, "UL", 70000),  # Offset of the Next Directory Record
    ]
    index = index_bytes(part10(ds, transfer_syntax=transfer_syntax))
    little = transfer_syntax != EXPLICIT_VR_BIG_ENDIAN
    rows = _node(index, 0x00280010)
    assert little_endian(index, rows) is little
    assert first_int(index, rows) == 512
    assert first_int(index, _node(index, 0x00041400)) == 70000
    assert first_int(index, _node(index, 0x00041400), 4) == 70000
    assert first_int(index, _node(index, 0x00280008)) == 12
    at = _node(index, 0x00720060)
    assert first_int(index, at) is None  # not an integer VR
    with dcmstruct.open(part10(ds, transfer_syntax=transfer_syntax)) as front:
        assert front.value("SelectorATValue") == [0x00100010, 0x00200013]
    lines = decode(Structure(index), at)
    assert [line.text for line in lines] == ["(0010,0010)", "(0020,0013)"]
    assert [line.note for line in lines] == ["PatientName", "InstanceNumber"]


def test_a_value_cut_short_has_no_first_int() -> None:
    data = part10([*SOP, E("Rows", "US", 512)])
    index = index_bytes(data[:-1])
    assert first_int(index, _node(index, 0x00280010)) is None


@pytest.mark.parametrize("dataset_ts", [EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN])
def test_a_big_endian_meta_group_is_decoded_big_endian(dataset_ts: str) -> None:
    # PS3.10 requires the meta group little endian; one written big endian is read as such
    # (META_NOT_EXPLICIT_LE), and its values must be decoded in the order they were read.
    meta = file_meta("1.2.840.10008.5.1.4.1.1.2", "1.2.3", dataset_ts)
    size = meta[0].value if isinstance(meta[0], E) else None
    data = (
        bytes(128) + b"DICM" + Writer(EXPLICIT_BE).dataset(meta) + Writer(EXPLICIT_BE).dataset(SOP)
    )
    index = index_bytes(data)
    group_length = _node(index, 0x00020000)
    assert not little_endian(index, group_length)
    assert first_int(index, group_length) == size
    with dcmstruct.open(data) as front:
        assert front.value("FileMetaInformationGroupLength") == size
    assert [line.text for line in decode(Structure(index), group_length)] == [str(size)]


def test_the_meta_group_of_a_big_endian_file_is_little_endian() -> None:
    index = index_bytes(part10(SOP, transfer_syntax=EXPLICIT_VR_BIG_ENDIAN))
    assert little_endian(index, _node(index, 0x00020000))
    assert not little_endian(index, _node(index, 0x00080016))


def test_children_as_list_and_as_array_are_the_one_table() -> None:
    inner = Item(
        [E("ReferencedSOPClassUID", "UI", "1.2"), E("ReferencedSOPInstanceUID", "UI", "3")]
    )
    ds = [*SOP, E("ReferencedImageSequence", "SQ", Seq([inner, inner], undefined=True))]
    index = index_bytes(part10(ds))
    parent = index.columns.parent.tolist()
    for node in range(-1, len(index)):
        expected = [k for k, p in enumerate(parent) if p == node]
        assert index.children(node) == expected
        kids = index.children(node, array=True)
        assert kids.tolist() == expected and kids.dtype == np.int64
        assert not kids.flags.writeable  # a view of the shared table: nobody may change it
    assert index.children(len(index)) == [] and len(index.children(-5, array=True)) == 0
    structure = Structure(index)
    sq = _node(index, 0x00081140)
    assert structure.children(sq).tolist() == index.children(sq)
    assert structure.child_count(sq) == 3  # two items and the sequence delimiter
