"""The builder writes what the standard says; checked through the index and by hand."""

from __future__ import annotations

import numpy as np

from dcmstruct.builder import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Seq,
    Writer,
    encode_value,
    part10,
)
from dcmstruct.index import index_bytes
from dcmstruct.schema.element import EXPLICIT_LE


def test_strings_are_padded_per_vr() -> None:
    assert encode_value("UI", "1.2.3") == b"1.2.3\0"  # PS3.5 9.1: UI pads with NUL
    assert encode_value("LO", "ABC") == b"ABC "  # text pads with space
    assert encode_value("DS", [1.5, 2]) == b"1.5\\2 "


def test_numbers_follow_the_byte_order() -> None:
    assert encode_value("US", [1, 2]) == b"\x01\x00\x02\x00"
    assert encode_value("US", [1, 2], little_endian=False) == b"\x00\x01\x00\x02"
    assert encode_value("AT", "0010,0020") == b"\x10\x00\x20\x00"
    assert encode_value("US", np.uint16(7)) == b"\x07\x00"


def test_arrays_are_written_in_the_data_set_byte_order() -> None:
    pixels = np.array([1, 258], dtype="<u2")
    assert encode_value("OW", pixels) == b"\x01\x00\x02\x01"
    assert encode_value("OW", pixels, little_endian=False) == b"\x00\x01\x01\x02"


def test_un_sequence_items_are_implicit_vr_le() -> None:
    # PS3.5 6.2.2 / CP-246: an explicit VR writer still writes a UN sequence's items implicit.
    seq = Seq([Item([E("ReferencedSOPClassUID", "UI", "1.2")])], undefined=True)
    raw = Writer(EXPLICIT_LE).element(E("ReferencedImageSequence", "UN", seq))
    assert raw[4:6] == b"UN" and raw[8:12] == b"\xff\xff\xff\xff"
    inner = raw[12 + 8 :]  # after the item header
    assert inner[:8] == b"\x08\x00\x50\x11\x04\x00\x00\x00"  # implicit: no VR, 32-bit length


def test_big_endian_file_indexes_cleanly() -> None:
    ds = [
        E("SOPClassUID", "UI", "1.2"),
        E("Rows", "US", 2),
        E("PixelData", "OW", np.arange(4, dtype="u2")),
    ]
    data = part10(ds, transfer_syntax=EXPLICIT_VR_BIG_ENDIAN)
    index = index_bytes(data)
    assert index.faults == []
    rows = next(n for n in index if n.tag == 0x00280010)
    assert data[rows.value_offset : rows.end] == b"\x00\x02"


def test_length_override_writes_a_lying_header() -> None:
    data = part10(
        [E("PatientName", "PN", "AB", length=7)], transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN
    )
    assert b"\x10\x00\x10\x00PN\x07\x00AB" in data
