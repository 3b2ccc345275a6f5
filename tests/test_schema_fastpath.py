"""The fast path's struct formats (dcmstruct.schema.layout) are the construct schemas' layouts:
derived from the schemas here and compared, then checked on random bytes."""

from __future__ import annotations

import random
import struct

import pytest
from construct import Container

from dcmstruct.schema import layout
from dcmstruct.schema.element import (
    ENCODINGS,
    ITEM_GROUP,
    LONG_LENGTH_VRS,
    ExplicitVRBigEndianHeader,
    ExplicitVRLittleEndianHeader,
    ImplicitVRLittleEndianHeader,
    fixed_format,
    header_schema,
    item_header_schema,
)
from dcmstruct.schema.layout import Encoding
from dcmstruct.schema.pixel import RleHeader


def test_derived_formats_are_the_expected_layouts() -> None:
    # PS3.5 Tables 7.1-1, 7.1-2, 7.1-3 written out by hand once, as the reference
    # (construct spells a 32-bit unsigned "L": standard size, 4 bytes).
    le = ExplicitVRLittleEndianHeader
    assert fixed_format(le, {"group": 8, "vr": b"CS"}) == "<HH2sH"
    assert fixed_format(le, {"group": 8, "vr": b"OB"}) == "<HH2sHL"
    assert fixed_format(le, {"group": ITEM_GROUP, "vr": None}) == "<HHL"
    assert fixed_format(ExplicitVRBigEndianHeader, {"group": 8, "vr": b"UT"}) == ">HH2sHL"
    assert fixed_format(ImplicitVRLittleEndianHeader, {"group": 8}) == "<HHL"


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.name)
def test_layout_formats_are_derived_from_the_schemas(enc: Encoding) -> None:
    header, item = header_schema(enc), item_header_schema(enc)
    derived_item = fixed_format(item, {"group": ITEM_GROUP})
    assert enc.implicit.format == derived_item
    if enc.explicit_vr:
        assert enc.short.format == fixed_format(header, {"group": 8, "vr": b"CS"})
        assert enc.long.format == fixed_format(header, {"group": 8, "vr": b"OB"})
        assert fixed_format(header, {"group": ITEM_GROUP, "vr": None}) == derived_item
    else:
        assert enc.short.format == enc.long.format == fixed_format(header, {"group": 8})
    order = derived_item[0]
    assert enc.tag.format == order + derived_item[1:3]  # group, element: the first two fields
    assert enc.u16.format == order + "H" and enc.u32.format == order + "L"


def test_field_positions_come_from_the_formats() -> None:
    short = fixed_format(ExplicitVRLittleEndianHeader, {"group": 8, "vr": b"CS"})
    long = fixed_format(ExplicitVRLittleEndianHeader, {"group": 8, "vr": b"OB"})
    assert layout.SHORT_HEADER == struct.calcsize(short) == 8
    assert layout.LONG_HEADER == struct.calcsize(long) == 12
    assert layout.SHORT_LENGTH_AT == struct.calcsize(short[:-1]) == 6  # the last field
    assert layout.LONG_LENGTH_AT == struct.calcsize(long[:-1]) == 8
    assert layout.VR_AT == layout.IMPLICIT_LENGTH_AT == struct.calcsize(short[:3]) == 4


def test_rle_header_format_is_the_schemas() -> None:
    assert fixed_format(RleHeader, {}) == layout.RLE_HEADER_FORMAT


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.name)
def test_fast_path_matches_schema_on_random_headers(enc: object) -> None:
    rng = random.Random(1455)
    vrs = [*sorted(LONG_LENGTH_VRS), b"CS", b"US", b"UI", b"PN", b"FD", b"AT"]
    for _ in range(2000):
        data = bytearray(rng.randbytes(12))
        if enc.explicit_vr:  # type: ignore[attr-defined]
            data[4:6] = rng.choice(vrs)
        parsed = header_schema(enc).parse(bytes(data))  # type: ignore[arg-type]
        group, element = parsed.group, parsed.element
        if not enc.explicit_vr:  # type: ignore[attr-defined]
            assert enc.implicit.unpack_from(data) == (group, element, parsed.length)  # type: ignore[attr-defined]
            continue
        if group == ITEM_GROUP:
            assert enc.implicit.unpack_from(data) == (group, element, parsed.length)  # type: ignore[attr-defined]
        elif parsed.vr in LONG_LENGTH_VRS:
            fields = enc.long.unpack_from(data)  # type: ignore[attr-defined]
            assert fields == (group, element, parsed.vr, parsed.reserved, parsed.length)
        else:
            fields = enc.short.unpack_from(data)  # type: ignore[attr-defined]
            assert fields == (group, element, parsed.vr, parsed.length)


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.name)
def test_header_schemas_compile(enc: object) -> None:
    compiled = header_schema(enc).compile()  # type: ignore[arg-type]
    data = bytes(range(12))
    assert compiled.parse(data) == header_schema(enc).parse(data)  # type: ignore[arg-type]


def test_schema_builds_what_it_parses() -> None:
    header = ExplicitVRLittleEndianHeader
    raw = header.build(Container(group=0x7FE0, element=0x10, vr=b"OW", reserved=0, length=8))
    assert raw == b"\xe0\x7f\x10\x00OW\x00\x00\x08\x00\x00\x00"
    assert header.parse(raw).length == 8


def test_rle_header_format_is_derived_from_its_schema() -> None:
    import struct

    import numpy as np

    from dcmstruct.schema.pixel import BasicOffsetTable, RleHeader

    fmt = struct.Struct(fixed_format(RleHeader, {}))
    assert fmt.size == 64  # PS3.5 G.5: sixteen 32-bit values
    rng = random.Random(7)
    for _ in range(200):
        data = rng.randbytes(64)
        parsed = RleHeader.parse(data)
        assert fmt.unpack(data) == (parsed.segments, *parsed.offsets)
    # The offset table's entries, read as the pixel rules read them (numpy, little endian).
    table = b"".join(struct.pack("<I", v) for v in (0, 1000, 70000))
    item = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(table)) + table
    assert list(BasicOffsetTable.parse(item).offsets) == np.frombuffer(table, "<u4").tolist()
