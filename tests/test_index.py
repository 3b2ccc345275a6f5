"""The element index: offsets on well-formed input, faults and recovery on broken input."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmstruct.builder import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_BASELINE,
    E,
    Frags,
    Item,
    Raw,
    Seq,
    part10,
)
from dcmstruct.index import ElementIndex, index_bytes
from dcmstruct.model import Kind, Stream

CT = "1.2.840.10008.5.1.4.1.1.2"


def base(*extra: E | Raw) -> list[E | Raw]:
    return [
        E("SOPClassUID", "UI", CT),
        E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.1"),
        E("Modality", "CS", "CT"),
        *extra,
        E("PatientName", "PN", "TEST^INDEX"),
        E("PatientID", "LO", "ID-1"),
    ]


def codes(index: ElementIndex) -> list[str]:
    return [f.code for f in index.faults]


def elements(index: ElementIndex) -> list[tuple[int, int]]:
    """(tag, depth) of every element in file order."""
    return [(n.tag or 0, n.depth) for n in index if n.kind == Kind.ELEMENT]


def check_invariants(index: ElementIndex) -> None:
    sizes = {s: src.size for s, src in index.sources.items()}
    for node in index:
        size = sizes[node.stream]
        assert 0 <= node.offset <= node.end <= size, node
        if node.value_offset is not None:
            assert node.offset <= node.value_offset
        if node.parent >= 0:
            parent = index.node(node.parent)
            assert parent.offset <= node.offset
            assert node.end <= parent.end or parent.stream != node.stream
    for fault in index.faults:
        assert 0 <= fault.offset <= sizes[fault.stream]


@pytest.mark.parametrize(
    "ts",
    [
        EXPLICIT_VR_LITTLE_ENDIAN,
        IMPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_BIG_ENDIAN,
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    ],
)
def test_well_formed_nested_file_has_no_fault(ts: str) -> None:
    seq = Seq(
        [
            Item([E("ReferencedSOPClassUID", "UI", CT)]),
            Item([E("ReferencedSOPClassUID", "UI", CT)], undefined=True),
        ],
        undefined=True,
    )
    data = part10(base(E("ReferencedImageSequence", "SQ", seq)), transfer_syntax=ts)
    index = index_bytes(data)
    assert codes(index) == []
    check_invariants(index)
    kinds = [n.kind for n in index]
    assert kinds[:2] == [Kind.PREAMBLE, Kind.PREFIX]
    assert kinds.count(Kind.ITEM) == 2
    assert kinds.count(Kind.ITEM_DELIMITER) == 1
    assert kinds.count(Kind.SEQUENCE_DELIMITER) == 1
    nested = [(tag, depth) for tag, depth in elements(index) if depth == 1]
    assert nested == [(0x00081150, 1), (0x00081150, 1)]
    if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        assert index.deflated
        assert {n.stream for n in index if n.tag and n.tag >> 16 == 8} == {Stream.INFLATED}


def test_offsets_are_exact() -> None:
    data = part10(base(), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
    index = index_bytes(data)
    name = next(n for n in index if n.tag == 0x00100010)
    assert data[name.offset : name.offset + 4] == b"\x10\x00\x10\x00"
    assert data[name.offset + 4 : name.offset + 6] == b"PN"
    assert name.value_offset == name.offset + 8
    assert bytes(data[name.value_offset : name.end]) == b"TEST^INDEX"
    assert bytes(index.value(name.index) or b"") == b"TEST^INDEX"


def test_encapsulated_pixel_data_fragments() -> None:
    frags = Frags(
        [b"\xff\xd8" + bytes(10) + b"\xff\xd9", b"\xff\xd8\x00\x00\xff\xd9"], auto_offsets=True
    )
    data = part10(base(E("PixelData", "OB", frags)), transfer_syntax=JPEG_BASELINE)
    index = index_bytes(data)
    assert codes(index) == []
    fragments = [n for n in index if n.kind == Kind.FRAGMENT]
    assert [n.length for n in fragments] == [8, 14, 6]
    pixel = next(n for n in index if n.tag == 0x7FE00010)
    delimiter = next(n for n in index if n.kind == Kind.SEQUENCE_DELIMITER)
    assert pixel.length is None
    assert pixel.end == delimiter.end == delimiter.offset + 8
    assert data[delimiter.offset : delimiter.end] == b"\xfe\xff\xdd\xe0" + bytes(4)
    assert all(index.node(n.index).parent == pixel.index for n in fragments)


def test_un_undefined_length_is_read_as_implicit_le() -> None:
    # PS3.5 6.2.2 / CP-246: an explicit VR file, UN of undefined length, implicit VR LE items.
    from dcmstruct.builder import Writer
    from dcmstruct.schema.element import IMPLICIT_LE

    inner = Writer(IMPLICIT_LE).element(
        E(
            "ReferencedImageSequence",
            "SQ",
            Seq([Item([E("ReferencedSOPClassUID", "UI", CT)])], undefined=True),
        )
    )
    value = inner[8:]  # the items and the delimiter, without the implicit SQ header
    un = Raw(b"\x08\x00\x40\x11UN\x00\x00\xff\xff\xff\xff" + value)
    data = part10(base(un), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
    index = index_bytes(data)
    assert codes(index) == []
    inner_elements = [n for n in index if n.tag == 0x00081150]
    assert len(inner_elements) == 1 and inner_elements[0].vr == "UI"
    assert not inner_elements[0].vr_explicit


def test_odd_stray_byte_at_end_is_trailing() -> None:
    data = part10(base(), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN) + b"\x00"
    index = index_bytes(data)
    assert codes(index) == ["TRAILING_BYTES"]
    last = index.node(len(index) - 1)
    assert last.kind == Kind.TRAILING and (last.offset, last.end) == (len(data) - 1, len(data))


def test_hostile_length_is_a_fault_and_parsing_resumes() -> None:
    data = part10(
        base(E("StudyDescription", "LO", "ABCD", length=0xFFF0)),
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
    )
    index = index_bytes(data)
    assert codes(index) == ["VALUE_OVERRUNS_PARENT"]
    fault = index.faults[0]
    bad = next(n for n in index if n.tag == 0x00081030)
    assert fault.offset == bad.offset + 6  # the 16-bit length field
    # re-synchronised: the elements after the bad one are still there
    assert [t for t, _ in elements(index)][-2:] == [0x00100010, 0x00100020]


def test_hostile_32bit_length_never_allocates() -> None:
    data = part10(
        base(E("PixelData", "OB", b"\x00\x01", length=0xFFFFFFF0)),
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
    )
    tracemalloc.start()
    index = index_bytes(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000
    assert "VALUE_OVERRUNS_PARENT" in codes(index)
    check_invariants(index)


def test_ten_thousand_nesting_levels() -> None:
    depth = 10_000
    head = b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff"  # (0008,1140) SQ undefined length
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    item_end = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    seq_end = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    nested = (head + item) * depth + (item_end + seq_end) * depth
    data = part10(base(Raw(nested)), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
    index = index_bytes(data)
    assert codes(index) == ["NESTING_TOO_DEEP"]
    assert max(n.depth for n in index) <= 128
    # the branch is skipped, not the file: the elements after it are indexed
    assert [t for t, _ in elements(index)][-2:] == [0x00100010, 0x00100020]
    check_invariants(index)


def test_stray_delimiters_and_items() -> None:
    stray_seq_end = Raw(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    data = part10(base(stray_seq_end), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
    index = index_bytes(data)
    assert codes(index) == ["STRAY_DELIMITER"]
    assert index.faults[0].offset == data.index(stray_seq_end.data, 132)
    assert [t for t, _ in elements(index)][-2:] == [0x00100010, 0x00100020]


def test_implicit_vr_where_explicit_announced() -> None:
    from dcmstruct.builder import Writer, file_meta
    from dcmstruct.schema.element import IMPLICIT_LE

    ds = base()
    meta = file_meta(CT, "1.2.3", EXPLICIT_VR_LITTLE_ENDIAN)
    data = part10(ds, meta=meta, encoding=IMPLICIT_LE)
    assert Writer(IMPLICIT_LE).dataset(ds) in data
    index = index_bytes(data)
    assert codes(index) == ["TRANSFER_SYNTAX_MISMATCH"]
    assert [t for t, _ in elements(index) if t >> 16 != 2] == [
        0x00080016, 0x00080018, 0x00080060, 0x00100010, 0x00100020,
    ]  # fmt: skip


def test_truncated_sequence_reports_one_fault() -> None:
    seq = Seq(
        [
            Item(
                [
                    E("ReferencedSOPClassUID", "UI", CT),
                    E("ReferencedSOPInstanceUID", "UI", "1.2.3.4"),
                ]
            )
        ]
    )
    data = part10(
        base(E("ReferencedImageSequence", "SQ", seq)), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN
    )
    cut = data.index(b"1.2.3.4")
    index = index_bytes(data[:cut])
    assert codes(index) == ["FILE_TRUNCATED"]


@pytest.mark.parametrize(
    "ts", [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]
)
def test_truncation_anywhere_never_raises(ts: str) -> None:
    seq = Seq([Item([E("ReferencedSOPClassUID", "UI", CT)], undefined=True)], undefined=True)
    data = part10(base(E("ReferencedImageSequence", "SQ", seq)), transfer_syntax=ts)
    full = index_bytes(data)
    # Cutting a plain file between two top-level elements leaves a shorter well-formed file.
    boundaries = {n.end for n in full if n.depth == 0 and n.stream == Stream.FILE}
    for cut in range(len(data)):
        index = index_bytes(data[:cut])
        check_invariants(index)
        inside = cut not in boundaries and not full.deflated
        if inside or (full.deflated and cut > (full.dataset_offset or 0)):
            assert index.faults, cut


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    check_invariants(index_bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_file_never_raises(data: st.DataObject) -> None:
    seq = Seq([Item([E("ReferencedSOPClassUID", "UI", CT)], undefined=True)], undefined=True)
    frags = Frags([b"\xff\xd8\x00\x00\xff\xd9"], auto_offsets=True)
    raw = bytearray(
        part10(
            base(E("ReferencedImageSequence", "SQ", seq), E("PixelData", "OB", frags)),
            transfer_syntax=JPEG_BASELINE,
        )
    )
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    check_invariants(index_bytes(bytes(raw)))


def test_find_is_the_innermost_holder_of_every_byte() -> None:
    from pathlib import Path

    data = (Path(__file__).resolve().parent.parent / "fixtures" / "explicit_le.dcm").read_bytes()
    index = index_bytes(data)
    nodes = list(index)
    for offset in range(len(data)):
        holders = [n for n in nodes if n.offset <= offset < n.end]
        # innermost: the deepest holder, and of equal depth the one starting last (an element
        # inside an item starts after the item)
        expected = (
            max(holders, key=lambda n: (n.depth, n.offset, n.index)).index if holders else None
        )
        assert index.find(offset) == expected, offset
