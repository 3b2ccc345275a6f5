"""dcmstruct.pixeldata: the one decision on pixel data that the validator and the viewer share.

The Basic Offset Table decision on the rule fixtures and the corpus, frame maps compared with
pydicom's (a test dependency only) on every encapsulated corpus file and on synthetic files for
each source of the map, native frame offsets, the attributes' one reader, headers that lie
(allocation measured), and the viewer and the validator agreeing on the same bytes."""

from __future__ import annotations

import doctest
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from dcmstruct import pixeldata
from dcmstruct.builder import E, Frags, Item, Raw, Seq
from dcmstruct.index import ElementIndex, SourceChanged, index_bytes, index_file
from dcmstruct.model import Kind
from dcmstruct.pixeldata import FrameMap, FrameSource, PixelData, pixel_elements
from dcmstruct.tui.pixels import first_item_is_table, fragment_table, image_info, item_name
from dcmstruct.tui.pointers import pointer_at
from dcmstruct.tui.structure import Structure
from dcmstruct.uids import JPEG_BASELINE, RLE_LOSSLESS
from dcmstruct.validate.engine import Selection, validate_index
from fixtures.rule_fixtures import pixel as pixel_fixtures
from fixtures.rule_fixtures.pixel import (
    encapsulated,
    eot_file,
    image,
    item,
    jpeg,
    pixel_file,
    rle_frame,
)

try:
    from tests import corpus
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import corpus  # type: ignore[no-redef,import-not-found]

MPEG2_MPML = "1.2.840.10008.1.2.4.100"
JPEG_2000 = "1.2.840.10008.1.2.4.91"


def only(data: bytes) -> PixelData:
    (pixels,) = pixel_elements(index_bytes(data))
    return pixels


def frames_as_bytes(index: ElementIndex, pixels: PixelData) -> list[tuple[bytes, ...]]:
    """Each frame of ``pixels``' frame map as its fragments' values."""
    enc = pixels.encapsulation
    assert enc is not None
    mapping = pixels.frame_map()
    return [
        tuple(index.value_bytes(enc.fragments[k], 1 << 30) or b"" for k in range(f, f + n))
        for f, n in zip(mapping.firsts, mapping.counts, strict=True)
    ]


def pixel_value(index: ElementIndex, pixels: PixelData) -> bytes:
    """The whole encapsulated value, from the Basic Offset Table item on: what pydicom reads."""
    c = index.columns
    start = int(c.value_offset[pixels.node])
    return index.read(pixels.stream, start, int(c.end[pixels.node]) - start)


def test_docstring_example_runs() -> None:
    result = doctest.testmod(pixeldata)
    assert result.attempted >= 3 and result.failed == 0


# -- the Basic Offset Table: one decision ----------------------------------------------------


def test_bot_decision_on_the_rule_fixtures() -> None:
    """The first item is the table, possibly empty (PS3.5 A.4), except where it starts like a
    compressed frame: exactly the BOT_MISSING fixture, whose first item is a JPEG."""
    seen = 0
    for fx in pixel_fixtures.fixtures():
        index = index_bytes(fx.data)
        for pixels in pixel_elements(index):
            enc = pixels.encapsulation
            if enc is None:
                continue
            seen += 1
            kids = index.children(pixels.node)
            c = index.columns
            if fx.name == "BOT_MISSING":
                assert enc.bot is None and enc.fragments == enc.items
                assert enc.bot_missing == "it starts with a JPEG / JPEG-LS SOI marker"
            elif fx.name == "BOT_MISSING--no-items":
                assert enc.items == [] and enc.delimiter_first == kids[0]
            else:
                assert enc.bot_missing is None, fx.name
                assert enc.bot == kids[0] and int(c.kind[kids[0]]) == Kind.FRAGMENT, fx.name
                assert enc.fragments == enc.items[1:], fx.name
    assert seen >= 15


@pytest.mark.parametrize(
    ("first", "ts", "why"),
    [
        (jpeg(1), JPEG_BASELINE, "a JPEG / JPEG-LS SOI marker"),
        (b"\xff\xd8\xff\xf7" + bytes(12), "1.2.840.10008.1.2.4.80", "a JPEG / JPEG-LS SOI"),
        (b"\xff\x4f\xff\x51" + bytes(12), JPEG_2000, "a JPEG 2000 codestream SOC marker"),
        (rle_frame(4, 4, 1, 1), RLE_LOSSLESS, "an RLE header (1 segments, first at offset 64)"),
        (b"\x00\x00\x01\xb3" + bytes(12), MPEG2_MPML, "an MPEG start code"),
    ],
)
def test_a_first_item_that_is_a_frame_is_no_table(first: bytes, ts: str, why: str) -> None:
    data = pixel_file("800", image(4, 4, 8), [encapsulated(item(first))], ts)
    enc = only(data).encapsulation
    assert enc is not None and enc.bot is None and enc.bot_missing is not None
    assert why in enc.bot_missing
    # Elsewhere than its first 64 bytes an RLE header is just bytes: under JPEG, no fault.
    if ts == RLE_LOSSLESS:
        again = only(pixel_file("801", image(4, 4, 8), [encapsulated(item(first))], JPEG_BASELINE))
        assert again.encapsulation is not None and again.encapsulation.bot is not None


def test_a_table_is_a_table_whatever_it_holds() -> None:
    # An entry that is no fragment start makes an invalid table, not a missing one.
    data = pixel_file(
        "802", image(4, 4, 8), [encapsulated(item(b"\x10\0\0\0"), item(jpeg(1)))], JPEG_BASELINE
    )
    enc = only(data).encapsulation
    assert enc is not None and enc.bot is not None and enc.bot_offsets == [16]


def test_corpus_bot_decisions_and_frame_maps_match_pydicom() -> None:
    """On every encapsulated Pixel Data of pydicom's and pydicom-data's files: the first item
    is the table (pydicom always takes it so), and every frame map equals pydicom's frames."""
    encaps = pytest.importorskip("pydicom.encaps")
    files = corpus.corpus_files()
    if not files:
        pytest.skip("pydicom's test files are not installed")
    compared: dict[FrameSource, int] = {}
    for path in files:
        with index_file(path) as index:
            for pixels in pixel_elements(index):
                enc = pixels.encapsulation
                if enc is None:
                    continue
                assert enc.bot_missing is None, path.name
                theirs = list(
                    encaps.generate_fragmented_frames(
                        pixel_value(index, pixels), number_of_frames=pixels.attributes.frames
                    )
                )
                assert frames_as_bytes(index, pixels) == theirs, path.name
                source = pixels.frame_map().source
                compared[source] = compared.get(source, 0) + 1
    # Measured: 23 from the table, 27 one fragment per frame, 9 single frames of many fragments.
    assert sum(compared.values()) >= 50
    assert {FrameSource.BASIC_OFFSET_TABLE, FrameSource.ONE_PER_FRAME} <= set(compared)


# -- frame maps: each source ----------------------------------------------------------------


def multi_fragment_frames(uid: str, *, table: bool, frames_attr: int | None = 3) -> bytes:
    frames = [[jpeg(1), jpeg(2)], [jpeg(3)], [jpeg(4), jpeg(5), jpeg(6)]]
    fragments = [f for frame in frames for f in frame]
    offsets, at = [], 0
    for frame in frames:
        offsets.append(at)
        at += sum(8 + len(f) for f in frame)
    return pixel_file(
        uid,
        image(4, 4, 8, frames=frames_attr),
        [E("PixelData", "OB", Frags(fragments, offsets=offsets if table else None))],
        JPEG_BASELINE,
    )


def frame_map(data: bytes) -> tuple[FrameMap, ElementIndex, PixelData]:
    index = index_bytes(data)
    (pixels,) = pixel_elements(index)
    return pixels.frame_map(), index, pixels


def test_map_from_the_basic_offset_table_matches_pydicom() -> None:
    encaps = pytest.importorskip("pydicom.encaps")
    mapping, index, pixels = frame_map(multi_fragment_frames("810", table=True))
    assert mapping.source == FrameSource.BASIC_OFFSET_TABLE and mapping.notes == []
    assert (mapping.firsts, mapping.counts) == ([0, 2, 3], [2, 1, 3])
    theirs = list(encaps.generate_fragmented_frames(pixel_value(index, pixels)))
    assert frames_as_bytes(index, pixels) == theirs


def test_map_from_codec_markers_matches_pydicom() -> None:
    # No table, 6 fragments for 3 frames: a frame starts with an SOI (pydicom looks for the EOI
    # at a frame's end), the fragments between are codec bytes with neither.
    encaps = pytest.importorskip("pydicom.encaps")
    middle = [b"\x01" * 40, b"\x02" * 40, b"\x03" * 40]
    fragments = [
        jpeg(1)[:-2] + b"\0\0",
        middle[0] + b"\xff\xd9",
        jpeg(3),
        jpeg(4)[:-2] + b"\0\0",
        middle[1],
        middle[2] + b"\xff\xd9",
    ]
    data = pixel_file(
        "811", image(4, 4, 8, frames=3), [E("PixelData", "OB", Frags(fragments))], JPEG_BASELINE
    )
    mapping, index, pixels = frame_map(data)
    assert mapping.source == FrameSource.CODEC_MARKERS and mapping.notes == []
    assert (mapping.firsts, mapping.counts) == ([0, 2, 3], [2, 1, 3])
    theirs = list(encaps.generate_fragmented_frames(pixel_value(index, pixels), number_of_frames=3))
    assert frames_as_bytes(index, pixels) == theirs


def test_map_from_rle_headers() -> None:
    # RLE puts one frame in one fragment; with a stray fragment the headers still tell frames.
    frames = [rle_frame(4, 4, 1, n) for n in (1, 2)]
    data = pixel_file(
        "812",
        image(4, 4, 8, frames=2),
        [E("PixelData", "OB", Frags([frames[0], b"\x07" * 70, frames[1]]))],
        RLE_LOSSLESS,
    )
    mapping, _, _ = frame_map(data)
    assert mapping.source == FrameSource.CODEC_MARKERS
    assert (mapping.firsts, mapping.counts) == ([0, 2], [2, 1])


def test_map_from_the_extended_offset_table_matches_pydicom() -> None:
    encaps = pytest.importorskip("pydicom.encaps")
    data = eot_file("813", [0, 48], [40, 40])
    mapping, index, pixels = frame_map(data)
    assert mapping.source == FrameSource.EXTENDED_OFFSET_TABLE
    assert (mapping.firsts, mapping.counts) == ([0, 1], [1, 1])
    eot = pixels.extended
    assert eot is not None and (eot.offsets, eot.lengths) == ([0, 48], [40, 40])
    theirs = list(
        encaps.generate_fragmented_frames(
            pixel_value(index, pixels), extended_offsets=(eot.offsets, eot.lengths)
        )
    )
    assert frames_as_bytes(index, pixels) == theirs


def test_a_wrong_table_is_passed_over_and_said() -> None:
    # Second entry 50: no fragment starts there. One fragment per frame is what is left.
    mapping, _, _ = frame_map(pixel_fixtures.bot_invalid_not_fragment_start().data)
    assert mapping.source == FrameSource.ONE_PER_FRAME
    assert mapping.notes == [
        "the Basic Offset Table is not used: an offset is not the start of a fragment item"
    ]
    mapping, _, _ = frame_map(pixel_fixtures.eot_offset().data)
    assert mapping.source == FrameSource.ONE_PER_FRAME
    assert mapping.notes[0].startswith("the Extended Offset Table is not used")
    mapping, _, _ = frame_map(pixel_fixtures.bot_invalid_count().data)
    assert mapping.notes == ["the Basic Offset Table is not used: 1 entries for 2 frames"]


def test_single_frame_unknown_and_video() -> None:
    mapping, _, _ = frame_map(multi_fragment_frames("814", table=False, frames_attr=None))
    assert mapping.source == FrameSource.SINGLE_FRAME and mapping.counts == [6]
    # 2 frames, 3 fragments of no codec: nothing tells which fragment starts the second.
    data = pixel_file(
        "815",
        image(4, 4, 8, frames=2),
        [E("PixelData", "OB", Frags([b"\x01" * 8, b"\x02" * 8, b"\x03" * 8]))],
        JPEG_BASELINE,
    )
    mapping, _, _ = frame_map(data)
    assert mapping.source == FrameSource.UNKNOWN and len(mapping) == 0
    assert mapping.notes == ["the first fragment does not start with a codec marker"]
    data = pixel_file(
        "816",
        image(4, 4, 8, frames=25),
        [E("PixelData", "OB", Frags([b"\x00\x00\x01\xb3" + bytes(36)] * 2))],
        MPEG2_MPML,
    )
    mapping, _, _ = frame_map(data)
    assert mapping.source == FrameSource.UNKNOWN and "video" in mapping.notes[0]


def test_a_missing_table_shifts_nothing() -> None:
    # BOT_MISSING: the first item is the first frame, and offsets would count from it.
    data = pixel_file("817", image(4, 4, 8, frames=2), [encapsulated(item(jpeg(1)), item(jpeg(2)))])
    pixels = only(data)
    enc = pixels.encapsulation
    assert enc is not None and enc.bot is None and len(enc.fragments) == 2
    assert enc.base == enc.starts[0] + int(pixels.index.columns.offset[enc.items[0]])
    mapping = pixels.frame_map()
    assert mapping.source == FrameSource.ONE_PER_FRAME and mapping.firsts == [0, 1]


# -- native pixel data -----------------------------------------------------------------------


def test_native_frame_offsets() -> None:
    # 16-bit, 3 frames of 4 x 4: frame k at 32 k.
    pixels = only(pixel_file("820", image(4, 4, 16, frames=3), [E("PixelData", "OW", bytes(96))]))
    layout = pixels.native
    assert layout is not None and layout.expected_length == 96
    assert [layout.frame_start(k) for k in range(3)] == [(0, 0), (32, 0), (64, 0)]
    assert layout.frames_present(70) == 3 and layout.frames_present(64) == 2
    # 1-bit, 3 x 5 = 15 bits a frame: frames start inside bytes (PS3.5 8.1.1).
    pixels = only(pixel_file("821", image(3, 5, 1, frames=3), [E("PixelData", "OB", bytes(6))]))
    layout = pixels.native
    assert layout is not None
    assert [layout.frame_start(k) for k in range(3)] == [(0, 0), (1, 7), (3, 6)]
    assert (layout.data_bytes, layout.expected_length) == (6, 6)
    # YBR_FULL_422: two values a pixel.
    attrs = image(4, 4, 8, samples=3, photometric="YBR_FULL_422", frames=2)
    layout = only(pixel_file("822", attrs, [E("PixelData", "OB", bytes(64))])).native
    assert layout is not None and layout.frame_start(1) == (32, 0)
    # Float Pixel Data: 32 bits a sample whatever Bits Allocated says.
    data = pixel_file("823", image(2, 2, 8), [E(0x7FE00008, "OF", bytes(16))])
    layout = only(data).native
    assert layout is not None and layout.bits == 32 and layout.expected_length == 16


@pytest.mark.parametrize(
    "name",
    ["emri_small.dcm", "SC_rgb_2frame.dcm", "SC_rgb_32bit_2frame.dcm", "liver.dcm", "MR_small.dcm"],
)
def test_native_frames_match_pydicom(name: str) -> None:
    """Each frame read where the layout puts it equals pydicom's pixel_array frame: 16-bit,
    RGB 8- and 32-bit, 1-bit and single-frame files."""
    import numpy as np

    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip("pydicom's test files are not installed")
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array
    with index_file(path) as index:
        (pixels,) = pixel_elements(index)
        layout = pixels.native
        assert layout is not None and layout.expected_length == len(ds.PixelData)
        if layout.frames == 1:
            expected = expected[None]
        value = int(index.columns.value_offset[pixels.node])
        for k in range(layout.frames):
            at, bit = layout.frame_start(k)
            raw = index.read(pixels.stream, value + at, -(-(layout.frame_bits + bit) // 8))
            if layout.bits == 1:
                bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")
                got = bits[bit : bit + layout.values_per_frame]
            else:
                got = np.frombuffer(raw, f"<u{layout.bits // 8}")
            assert np.array_equal(got, expected[k].reshape(-1)), (name, k)


def test_icon_has_its_own_attributes() -> None:
    icon = Item([*image(2, 2, 8), E("PixelData", "OB", bytes(4))])
    data = pixel_file(
        "824",
        image(4, 4, 16),
        [E("IconImageSequence", "SQ", Seq([icon])), E("PixelData", "OW", bytes(32))],
    )
    icon_pixels, top = pixel_elements(index_bytes(data))
    assert not icon_pixels.top and top.top
    assert (icon_pixels.attributes.rows, icon_pixels.attributes.bits_allocated) == (2, 8)
    assert (top.attributes.rows, top.attributes.bits_allocated) == (4, 16)


# -- the attributes' one reader --------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "value", "fault"),
    [
        (E("Rows", "US", 7), 7, None),
        (E("Rows", "UN", b"\x07\x00"), 7, None),  # read as its dictionary VR, US
        (E("Rows", "SS", -3), -3, None),
        (E("Rows", "UL", 70000), 70000, None),
        (E("Rows", "US", b""), None, "is empty: a value is required to lay out the pixel data"),
        (E("NumberOfFrames", "IS", " 12"), 12, None),
        (E("NumberOfFrames", "DS", "2.0"), 2, None),
        (E("NumberOfFrames", "UN", b"3 "), 3, None),
        (E("NumberOfFrames", "IS", "1.5"), None, "is '1.5': expected a whole number"),
        (E("NumberOfFrames", "IS", "A\x1b"), None, "is 'A\\x1b': expected a whole number"),
        (E("Rows", "LO", "7"), None, None),  # another kind of VR: not judged here
    ],
)
def test_attribute_values(element: E, value: int | None, fault: str | None) -> None:
    attrs: list[E | Raw] = [element]
    data = pixel_file("830", attrs, [E("PixelData", "OB", bytes(4))])
    pixels = only(data)
    read = pixels.attributes.get(element.tag_int)
    assert read.node is not None and (read.value, read.fault) == (value, fault)


def test_number_of_frames() -> None:
    def frames(value: str | None) -> int | None:
        attrs = image(2, 2, 8, frames=value)
        return only(pixel_file("831", attrs, [E("PixelData", "OB", bytes(4))])).attributes.frames

    assert frames(None) == 1  # absent: one frame (PS3.3 C.7.6.6)
    assert frames("3") == 3
    assert frames("0") is None and frames("-2") is None and frames("x") is None


def test_a_value_cut_by_its_own_length_is_not_read() -> None:
    # Rows claims 200 bytes: what follows is the next elements, not Rows' value.
    attrs: list[E | Raw] = [E("Rows", "US", 4, length=200), E("Columns", "US", 4)]
    attrs.append(E("BitsAllocated", "US", 8))
    data = pixel_file("832", attrs, [E("PixelData", "OB", bytes(16))])
    (pixels,) = pixel_elements(index_bytes(data))  # the index recovers the elements after it
    rows = pixels.attributes.get(0x00280010)
    assert rows.node is not None and (rows.value, rows.fault) == (None, None)
    assert pixels.attributes.columns == 4 and pixels.native is None


# -- headers that lie: nothing is sized by them ----------------------------------------------


def lying_files() -> list[bytes]:
    huge = image(65535, 65535, 64, frames="2147483647", samples=3, photometric="RGB")
    return [
        # Native: 2^31 frames of 65535 x 65535 x 3 x 64 bits, 16 bytes of pixels.
        pixel_file("840", huge, [E("PixelData", "OW", bytes(16))]),
        # A table claiming 4 GB, cut by the end of the file.
        pixel_file(
            "841", huge, [encapsulated(item(b"\0" * 8, length=0xFFFFFFF0), delimiter=False)]
        ),
        # A table of 1,000 entries for 2 fragments.
        pixel_file(
            "843",
            huge,
            [encapsulated(item(bytes(4000)), item(jpeg(1)), item(jpeg(2)))],
            JPEG_BASELINE,
        ),
        pixel_file(
            "844",
            huge,
            # An Extended Offset Table of 1,000 offsets and lengths for 2 fragments.
            [
                E(0x7FE00001, "OV", list(range(0, 48_000, 48))),
                E(0x7FE00002, "OV", [40] * 1000),
                E("PixelData", "OB", Frags([jpeg(1), jpeg(2)])),
            ],
            JPEG_BASELINE,
        ),
    ]


def test_lying_headers_do_not_allocate() -> None:
    for data in lying_files():
        index = index_bytes(data)
        structure = Structure(index)
        tracemalloc.start()
        try:
            for pixels in pixel_elements(index):
                pixels.attributes  # noqa: B018
                layout = pixels.native
                if layout is not None:
                    layout.frame_start(2**31 - 2)
                    layout.frames_present(16)
                if pixels.encapsulation is not None:
                    pixels.frame_map()
                    assert len(pixels.encapsulation.bot_offsets) <= 3
                if pixels.extended is not None:
                    assert len(pixels.extended.offsets) <= 3
                info = image_info(structure, pixels.node)
                if info.encapsulated:
                    fragment_table(structure, info)
            validate_index(index, Selection())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, f"{peak:,} bytes"


def test_huge_lying_frame_count_is_arithmetic() -> None:
    pixels = only(lying_files()[0])
    layout = pixels.native
    assert layout is not None and layout.frames == 2**31 - 1
    assert layout.expected_length == 65535 * 65535 * 3 * 8 * (2**31 - 1)


# -- the viewer and the validator agree ------------------------------------------------------


def test_viewer_and_validator_take_the_same_first_item() -> None:
    for fx in pixel_fixtures.fixtures():
        index = index_bytes(fx.data)
        structure = Structure(index)
        found, _ = validate_index(index, Selection(select={"BOT_MISSING"}))
        missing = {f.node for f in found if f.rule == "BOT_MISSING"}
        for pixels in pixel_elements(index):
            if pixels.encapsulation is None or not pixels.encapsulation.items:
                continue
            first = pixels.encapsulation.items[0]
            table = first_item_is_table(structure, first)
            assert table == (first not in missing), fx.name
            name = item_name(structure, first, 0)
            assert name == ("Basic Offset Table" if table else "Fragment 1"), fx.name
            c = index.columns
            pointer = pointer_at(structure, first, int(c.value_offset[first]))
            if not table:
                assert pointer is None, fx.name  # a JPEG's bytes are no offsets to jump by


def test_viewer_fragment_table_without_a_table() -> None:
    data = pixel_file("850", image(4, 4, 8, frames=2), [encapsulated(item(jpeg(1)), item(jpeg(2)))])
    structure = Structure(index_bytes(data))
    (pixels,) = pixel_elements(structure.index)
    table = fragment_table(structure, image_info(structure, pixels.node))
    assert "no Basic Offset Table: the first item is a fragment" in table.summary[1]
    assert [table.row(k)[:2] for k in range(len(table))] == [("1", "1"), ("2", "2")]


def test_viewer_reads_survive_a_shrunk_file(tmp_path: Path) -> None:
    # The file is cut inside the Basic Offset Table after it was indexed: through the index
    # (the validator) the table reads as it was indexed (a small file is read whole, once) and
    # the check that the file is unchanged raises; through the viewer's reads it comes back
    # short.
    path = tmp_path / "shrinks.dcm"
    data = multi_fragment_frames("851", table=True)
    path.write_bytes(data)
    with index_file(path) as index:
        (node,) = (p.node for p in pixel_elements(index))
        table = index.children(node)[0]
        path.write_bytes(data[: int(index.columns.value_offset[table]) + 4])
        (pixels,) = pixel_elements(index)
        assert pixels.encapsulation is not None
        with pytest.raises(SourceChanged):
            index.check_unchanged()
        structure = Structure(index)
        info = image_info(structure, node)
        out = fragment_table(structure, info)
        assert "the Basic Offset Table is not used: it is cut short" in out.summary
        assert first_item_is_table(structure, table)


def test_rle_header_reader() -> None:
    frame = rle_frame(4, 4, 2, 1)
    data = pixel_file("852", image(4, 4, 16), [E("PixelData", "OB", Frags([frame]))], RLE_LOSSLESS)
    pixels = only(data)
    assert pixels.encapsulation is not None
    header = pixels.rle_header(pixels.encapsulation.fragments[0])
    assert header is not None and header[:3] == struct.unpack_from("<3I", frame)
    short = pixel_file(
        "853", image(4, 4, 16), [E("PixelData", "OB", Frags([b"\x01\0" * 8]))], RLE_LOSSLESS
    )
    pixels = only(short)
    assert pixels.encapsulation is not None
    assert pixels.rle_header(pixels.encapsulation.fragments[0]) is None


def test_native_transfer_syntax_fixture_is_native() -> None:
    pixels = only(pixel_file("854", image(4, 4, 8), [E("PixelData", "OB", bytes(16))]))
    assert pixels.encapsulation is None and pixels.extended is None
    assert pixels.frame_map().source == FrameSource.UNKNOWN


def test_the_inspector_counts_fragments_as_the_validator_does() -> None:
    # BOT_MISSING: the first item is a fragment, not a Basic Offset Table; the inspector says
    # so, counts it, and shows its bytes rather than "offset table entries".
    from dcmstruct.tui.decode import decode

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    for name, has_table in (("BOT_MISSING.dcm", False), ("BOT_INVALID--not-ascending.dcm", True)):
        with index_file(fixtures / "rules" / name) as index:
            structure = Structure(index)
            c = index.columns
            pixel = int(np.flatnonzero((c.tag == 0x7FE00010) & (c.kind == Kind.ELEMENT))[0])
            kids = structure.children(pixel).tolist()
            fragments = [k for k in kids if c.kind[k] == Kind.FRAGMENT]
            (line,) = [x for x in decode(structure, pixel) if x.label == "Fragments"]
            assert int(line.text) == len(fragments) - (1 if has_table else 0)
            first = decode(structure, fragments[0])
            assert [x.label for x in first][:1] == (["Offsets"] if has_table else ["Bytes"])
