"""The pixel, DICOMDIR and deflate rules: valid input a careless rule would flag, the pydicom
DICOMDIR variants, image attributes that cannot be true, and hostile input (many fragments,
huge lengths, mutated bytes)."""

from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest

from dcmstruct import cli
from dcmstruct.builder import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_BASELINE,
    RLE_LOSSLESS,
    E,
    Frags,
    Item,
    Raw,
    Seq,
    Writer,
    file_meta,
)
from dcmstruct.index import index_bytes, index_file
from dcmstruct.schema.element import EXPLICIT_LE
from dcmstruct.validate.engine import Selection, validate_index
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.rules import pixel
from fixtures.rule_fixtures import deflate as deflate_fixtures
from fixtures.rule_fixtures import dicomdir as dicomdir_fixtures
from fixtures.rule_fixtures import pixel as pixel_fixtures
from fixtures.rule_fixtures.base import CT_IMAGE_STORAGE
from fixtures.rule_fixtures.base import ROOT as UID_ROOT
from fixtures.rule_fixtures.dicomdir import (
    MEDIA_STORAGE_DIRECTORY,
    Offsets,
    build,
    transfer_syntax_value,
    valid_dicomdir,
)
from fixtures.rule_fixtures.pixel import (
    attribute_at,
    eot_file,
    image,
    item,
    jpeg,
    pixel_file,
    rle_frame,
    tag_bytes,
)

ROOT = Path(__file__).resolve().parent.parent
MINE = frozenset(
    {
        "ENCAPSULATED_DEFINED_LENGTH",
        "NATIVE_PIXEL_UNDEFINED_LENGTH",
        "BOT_MISSING",
        "BOT_INVALID",
        "EXTENDED_OFFSET_TABLE_INVALID",
        "FRAGMENT_ODD_LENGTH",
        "FRAGMENT_UNDEFINED_LENGTH",
        "ENCAPSULATED_NOT_ITEM",
        "FRAGMENT_COUNT_VS_FRAMES",
        "RLE_HEADER_INVALID",
        "PIXEL_DATA_LENGTH_MISMATCH",
        "PIXEL_DATA_VR_INVALID",
        "DICOMDIR_OFFSET_INVALID",
        "DICOMDIR_NOT_EXPLICIT_LE",
        "DEFLATE_STREAM_INVALID",
        "PIXEL_ATTRIBUTES_INVALID",
    }
)
SELECTION = Selection(select=MINE)
MPEG2_MPML = "1.2.840.10008.1.2.4.100"
FLOAT_PIXEL_DATA = 0x7FE00008


def findings(data: bytes) -> list[Finding]:
    """This family's findings on ``data``; no rule may fail."""
    found, internal = validate_index(index_bytes(data), SELECTION)
    assert not internal, internal
    return found


def rules(data: bytes) -> list[tuple[str, int]]:
    return [(f.rule, f.offset) for f in findings(data)]


# -- valid input: nothing to report ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [*sorted((ROOT / "fixtures").glob("*.dcm")), ROOT / "dcmstruct" / "data" / "sample_ct.dcm"],
    ids=lambda p: p.name,
)
def test_clean_files_have_no_finding(path: Path) -> None:
    assert rules(path.read_bytes()) == []


def test_filled_bot_with_multi_fragment_frames() -> None:
    frames = [[jpeg(1), jpeg(2)], [jpeg(3)], [jpeg(4), jpeg(5), jpeg(6)]]
    fragments = [f for frame in frames for f in frame]
    offsets, at = [], 0
    for frame in frames:
        offsets.append(at)
        at += sum(8 + len(f) for f in frame)
    data = pixel_file(
        "100",
        image(4, 4, 8, frames=3),
        [E("PixelData", "OB", Frags(fragments, offsets=offsets))],
        JPEG_BASELINE,
    )
    assert rules(data) == []


def test_empty_bot_more_fragments_than_frames() -> None:
    # An empty table is legal, and frames may span fragments (PS3.5 A.4).
    data = pixel_file(
        "101",
        image(4, 4, 8, frames=2),
        [E("PixelData", "OB", Frags([jpeg(n) for n in range(5)]))],
        JPEG_BASELINE,
    )
    assert rules(data) == []


def test_number_of_frames_absent_means_one() -> None:
    data = pixel_file(
        "102", image(4, 4, 8), [E("PixelData", "OB", Frags([jpeg(1)], offsets=[0]))], JPEG_BASELINE
    )
    assert rules(data) == []


def test_valid_rle_frames() -> None:
    frames = [rle_frame(4, 4, 2, n) for n in (1, 2)]
    data = pixel_file(
        "103",
        image(4, 4, 16, frames=2),
        [E("PixelData", "OB", Frags(frames, auto_offsets=True))],
        RLE_LOSSLESS,
    )
    assert rules(data) == []


def test_rle_colour_segment_count() -> None:
    # 3 samples x 1 byte: 3 segments.
    frame = rle_frame(2, 2, 3, 1)
    attrs = image(2, 2, 8, samples=3, photometric="RGB")
    data = pixel_file("104", attrs, [E("PixelData", "OB", Frags([frame]))], RLE_LOSSLESS)
    assert rules(data) == []


def test_valid_extended_offset_table() -> None:
    assert rules(eot_file("105", [0, 48], [40, 40])) == []


def test_extended_offset_table_lengths_may_exclude_padding() -> None:
    assert rules(eot_file("106", [0, 48], [39, 40])) == []


def test_video_may_hold_many_frames_in_one_fragment() -> None:
    data = pixel_file(
        "107",
        image(4, 4, 8, frames=25),
        [E("PixelData", "OB", Frags([b"\x00\x00\x01\xb3" + bytes(36)]))],
        MPEG2_MPML,
    )
    assert rules(data) == []


@pytest.mark.parametrize(
    ("rows", "columns", "bits", "samples", "photometric", "size"),
    [
        (3, 3, 8, 1, "MONOCHROME2", 10),  # 9 bytes, padded to even
        (3, 5, 1, 1, "MONOCHROME2", 2),  # 15 bits: 2 bytes
        (4, 4, 1, 1, "MONOCHROME2", 2),  # 16 bits: 2 bytes
        (4, 4, 8, 3, "RGB", 48),
        (4, 4, 8, 3, "YBR_FULL_422", 32),  # subsampled: 2 samples per pixel (C.7.6.3.1.2)
        (2, 2, 32, 1, "MONOCHROME2", 16),
    ],
)
def test_native_lengths(
    rows: int, columns: int, bits: int, samples: int, photometric: str, size: int
) -> None:
    vr = "OB" if bits <= 8 else "OW"
    attrs = image(rows, columns, bits, samples=samples, photometric=photometric)
    data = pixel_file("108", attrs, [E("PixelData", vr, bytes(size))])
    assert rules(data) == []


def test_native_16_bit_big_endian_and_implicit() -> None:
    for ts in (EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
        data = pixel_file("109", image(4, 4, 16), [E("PixelData", "OW", bytes(32))], ts)
        assert rules(data) == [], ts


def test_ow_for_8_bit_is_allowed() -> None:
    data = pixel_file("110", image(4, 4, 8), [E("PixelData", "OW", bytes(16))])
    assert rules(data) == []


def test_native_icon_in_encapsulated_transfer_syntax() -> None:
    # PS3.5 A.4: the Icon Image Sequence's Pixel Data may stay native.
    icon = Item([*image(2, 2, 8), E("PixelData", "OB", bytes(4))])
    data = pixel_file(
        "111",
        image(4, 4, 8),
        [
            E("IconImageSequence", "SQ", Seq([icon])),
            E("PixelData", "OB", Frags([jpeg(1)], offsets=[0])),
        ],
        JPEG_BASELINE,
    )
    assert rules(data) == []


def test_float_pixel_data() -> None:
    good = pixel_file("112", image(2, 2, 32), [E(FLOAT_PIXEL_DATA, "OF", bytes(16))])
    assert rules(good) == []
    bad = pixel_file("113", image(2, 2, 32), [E(FLOAT_PIXEL_DATA, "OF", bytes(8))])
    marker = tag_bytes(0x7FE0, 0x0008) + b"OF"
    assert rules(bad) == [("PIXEL_DATA_LENGTH_MISMATCH", bad.index(marker) + 8)]


def test_image_attributes_missing_or_unusable() -> None:
    # No Rows: nothing to compare with (an absent attribute is the IOD's business).
    data = pixel_file("114", [E("BitsAllocated", "US", 8)], [E("PixelData", "OB", bytes(6))])
    assert rules(data) == []
    # Number of Frames present but empty: unknown, not 1, so no length is checked; the empty
    # Type 1 value itself is reported, at its element.
    attrs: list[E | Raw] = [E("NumberOfFrames", "IS", ""), E("Rows", "US", 2)]
    attrs.append(E("Columns", "US", 2))
    attrs.append(E("BitsAllocated", "US", 8))
    data = pixel_file("115", attrs, [E("PixelData", "OB", bytes(6))])
    assert rules(data) == [("PIXEL_ATTRIBUTES_INVALID", attribute_at(data, 0x0028, 0x0008, "IS"))]


def test_valid_dicomdir_in_each_encoding() -> None:
    # The offsets are right in every encoding; only the encoding itself is a fault.
    assert rules(valid_dicomdir(EXPLICIT_VR_LITTLE_ENDIAN)) == []
    for ts in (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN):
        data = valid_dicomdir(ts)
        assert rules(data) == [("DICOMDIR_NOT_EXPLICIT_LE", transfer_syntax_value(data))], ts


# -- what the rules report, precisely --------------------------------------------------------


def test_first_item_not_a_table_nor_a_known_codec_is_an_invalid_table() -> None:
    # Not a codec signature: the first item is taken for the table, whose first entry != 0.
    data = pixel_file(
        "120",
        image(4, 4, 8),
        [pixel_fixtures.encapsulated(item(b"\x10\x00\x00\x00"), item(jpeg(1)))],
        JPEG_BASELINE,
    )
    table = data.index(tag_bytes(0x7FE0, 0x0010) + b"OB") + 12 + 8
    assert rules(data) == [("BOT_INVALID", table)]


def test_one_finding_per_kind_of_table_fault() -> None:
    # Two entries miss fragment starts: one finding, at the first.
    frames = [jpeg(n) for n in (1, 2, 3)]
    data = pixel_file(
        "121",
        image(4, 4, 8, frames=3),
        [E("PixelData", "OB", Frags(frames, offsets=[0, 50, 98]))],
        JPEG_BASELINE,
    )
    table = data.index(tag_bytes(0x7FE0, 0x0010) + b"OB") + 12 + 8
    assert rules(data) == [("BOT_INVALID", table + 4)]


def test_odd_fragments_are_capped() -> None:
    n = pixel.MAX_FINDINGS_PER_ELEMENT + 50
    data = pixel_file(
        "122",
        image(4, 4, 8, frames=1),
        [E("PixelData", "OB", Frags([b"\xff\xd8\xff"] * n))],
        JPEG_BASELINE,
    )
    odd = [f for f in findings(data) if f.rule == "FRAGMENT_ODD_LENGTH"]
    assert len(odd) == pixel.MAX_FINDINGS_PER_ELEMENT + 1
    assert "50 more" in odd[-1].message


def test_dicomdir_lower_level_loop() -> None:
    def bend(offsets: Offsets, starts: dict[str, int]) -> None:
        offsets["series.lower"] = starts["study"]

    d = build("123", bend)
    assert rules(d.data) == [("DICOMDIR_OFFSET_INVALID", d.value_offset("series", 0x00041420))]


def test_dicomdir_zero_offsets_mean_none() -> None:
    def bend(offsets: Offsets, starts: dict[str, int]) -> None:
        for key in list(offsets):
            offsets[key] = 0

    # An empty root: (0004,1200) and (0004,1202) both 0, records unreferenced.
    assert rules(build("124", bend).data) == []


def test_truncated_fragments_are_not_counted() -> None:
    # Cut inside the second of three fragments: the index reports the truncation; the table's
    # third offset and the fragment count describe bytes that are gone, not encoder faults.
    data = pixel_file(
        "125",
        image(4, 4, 8, frames=3),
        [E("PixelData", "OB", Frags([jpeg(1), jpeg(2), jpeg(3)], auto_offsets=True))],
        JPEG_BASELINE,
    )
    cut = data[: len(data) - 8 - 48 - 20]
    assert rules(cut) == []


# -- DICOMDIR_NOT_EXPLICIT_LE: what makes a DICOMDIR, and what the encoding is judged by -----


def _dicomdir_meta(uid: str, transfer_syntax: str | None, sop_class: str) -> list[E | Raw]:
    """A DICOMDIR's meta group; ``transfer_syntax`` None: no (0002,0010) at all."""
    body = [
        e
        for e in file_meta(sop_class, f"{UID_ROOT}.{uid}", transfer_syntax or "")[1:]
        if not (transfer_syntax is None and isinstance(e, E) and e.tag_int == 0x00020010)
    ]
    return [E(0x00020000, "UL", len(Writer(EXPLICIT_LE).dataset(body))), *body]


def test_dicomdir_known_by_its_sop_class_in_the_data_set() -> None:
    # (0002,0002) says CT (wrong, META_UID_MISMATCH's), (0008,0016) says Media Storage Directory.
    meta = _dicomdir_meta("140", IMPLICIT_VR_LITTLE_ENDIAN, CT_IMAGE_STORAGE)
    sop_class = E("SOPClassUID", "UI", MEDIA_STORAGE_DIRECTORY)
    d = build("140", transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN, meta=meta, after=[sop_class])
    found = findings(d.data)
    assert [(f.rule, f.offset) for f in found] == [
        ("DICOMDIR_NOT_EXPLICIT_LE", transfer_syntax_value(d.data))
    ]
    assert "(0008,0016)" in found[0].message


def test_dicomdir_without_transfer_syntax_is_judged_by_its_bytes() -> None:
    meta = _dicomdir_meta("141", None, MEDIA_STORAGE_DIRECTORY)
    d = build("141", transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN, meta=meta)
    found = findings(d.data)
    # At the data set's first element, whose 8-byte implicit header shows the encoding.
    assert [(f.rule, f.offset, f.length) for f in found] == [
        ("DICOMDIR_NOT_EXPLICIT_LE", d.head, 8)
    ]
    assert "no (0002,0010)" in found[0].message and "Implicit VR" in found[0].message
    # Explicit VR Little Endian bytes with no (0002,0010): the encoding is right.
    meta = _dicomdir_meta("142", None, MEDIA_STORAGE_DIRECTORY)
    assert rules(build("142", meta=meta).data) == []


def test_dicomdir_with_unknown_transfer_syntax_but_right_bytes() -> None:
    meta = _dicomdir_meta("143", "1.2.840.10008.1.2.1.0", MEDIA_STORAGE_DIRECTORY)
    d = build("143", meta=meta)
    assert rules(d.data) == []
    everything, internal = validate_index(index_bytes(d.data))
    assert not internal
    assert [f.rule for f in everything] == ["TRANSFER_SYNTAX_UNKNOWN"]


def test_dicomdir_declared_explicit_but_written_implicit_is_a_mismatch_only() -> None:
    meta = _dicomdir_meta("144", EXPLICIT_VR_LITTLE_ENDIAN, MEDIA_STORAGE_DIRECTORY)
    d = build("144", transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN, meta=meta)
    everything, internal = validate_index(index_bytes(d.data))
    assert not internal
    assert [f.rule for f in everything] == ["TRANSFER_SYNTAX_MISMATCH"]


def test_record_in_use_flag_is_not_an_offset() -> None:
    # (0004,1410) is a US flag (FFFFH in use, 0000H inactive), never followed as an offset:
    # values that would point nowhere as offsets give no finding.
    for flag in (0x0000, 0x0001, 0x1234, 0xFFFF):
        d = build("145", in_use=flag)
        assert rules(d.data) == [], hex(flag)


def test_other_files_are_no_dicomdir() -> None:
    # An implicit VR image is not a DICOMDIR: its transfer syntax is its own business.
    data = pixel_file("146", image(4, 4, 8), [E("PixelData", "OB", bytes(16))],
                      IMPLICIT_VR_LITTLE_ENDIAN)  # fmt: skip
    assert rules(data) == []


# -- PIXEL_ATTRIBUTES_INVALID: image attributes that cannot be true --------------------------


ATTRIBUTE_CASES = [
    # (case, image() arguments, the attribute's (element, VR), words the message must hold)
    ("rows 0", {"rows": 0}, (0x0010, "US"), "Rows (0028,0010) is 0"),
    ("columns 0", {"columns": 0}, (0x0011, "US"), "Columns (0028,0011) is 0"),
    ("bits allocated 0", {"bits": 0, "stored": 8}, (0x0100, "US"), "Bits Allocated"),
    ("samples 0", {"samples": 0}, (0x0002, "US"), "Samples per Pixel (0028,0002) is 0"),
    ("frames -5", {"frames": -5}, (0x0008, "IS"), "Number of Frames (0028,0008) is -5"),
    ("frames 0", {"frames": 0}, (0x0008, "IS"), "Number of Frames (0028,0008) is 0"),
    ("frames text", {"frames": "ABC"}, (0x0008, "IS"), "is 'ABC': expected a whole number"),
    ("frames 1.5", {"frames": "1.5"}, (0x0008, "IS"), "is '1.5': expected a whole number"),
    ("high bit 40", {"bits": 16, "stored": 12, "high": 40}, (0x0102, "US"), "expected 11"),
    ("stored 20 of 16", {"bits": 16, "stored": 20, "high": 15}, (0x0101, "US"), "Bits Stored"),
    ("high bit below stored", {"bits": 16, "stored": 12, "high": 5}, (0x0102, "US"), "too low"),
]


@pytest.mark.parametrize(
    ("kwargs", "where", "words"),
    [case[1:] for case in ATTRIBUTE_CASES],
    ids=[case[0] for case in ATTRIBUTE_CASES],
)
def test_impossible_image_attribute(
    kwargs: dict[str, object], where: tuple[int, str], words: str
) -> None:
    # Beside 64 bytes of native pixel data, as the report found them passing silently.
    args: dict[str, object] = {"rows": 4, "columns": 8, "bits": 16, **kwargs}
    attrs = image(**args)  # type: ignore[arg-type]
    data = pixel_file("150", attrs, [E("PixelData", "OW", bytes(64))])
    everything, internal = validate_index(index_bytes(data))
    assert not internal, internal  # no rule failed on it
    hits = [f for f in everything if f.rule == "PIXEL_ATTRIBUTES_INVALID"]
    at = attribute_at(data, 0x0028, where[0], where[1])
    assert [(f.offset, f.tag) for f in hits] == [(at, 0x00280000 | where[0])]
    assert words in hits[0].message
    # The whole element: its 8-byte header (explicit VR, short form) and its value.
    (value_length,) = struct.unpack_from("<H", data, at + 6)
    assert hits[0].length == 8 + value_length


def test_bits_allocated_12_with_high_bit_40() -> None:
    # The case as reported: both attributes are wrong, each is reported at its own element.
    data = pixel_file("151", image(4, 8, 12, high=40), [E("PixelData", "OW", bytes(48))])
    found = findings(data)
    assert [(f.rule, f.offset) for f in found] == [
        ("PIXEL_ATTRIBUTES_INVALID", attribute_at(data, 0x0028, 0x0100, "US")),
        ("PIXEL_ATTRIBUTES_INVALID", attribute_at(data, 0x0028, 0x0102, "US")),
    ]
    assert "expected 1 or a multiple of 8" in found[0].message
    assert "not below Bits Allocated (0028,0100) 12" in found[1].message


def test_valid_attributes_are_not_reported() -> None:
    # 1-bit, 12 of 16 bits stored, high bit 0 of 1 bit, several frames, IS with spaces.
    cases: list[tuple[dict[str, object], int]] = [
        ({"rows": 4, "columns": 4, "bits": 1}, 2),
        ({"rows": 4, "columns": 4, "bits": 16, "stored": 12}, 32),
        ({"rows": 4, "columns": 4, "bits": 8, "frames": 3}, 48),
        ({"rows": 4, "columns": 4, "bits": 8, "frames": " 2"}, 32),
    ]
    for kwargs, size in cases:
        vr = "OW" if kwargs["bits"] == 16 else "OB"
        data = pixel_file("152", image(**kwargs), [E("PixelData", vr, bytes(size))])  # type: ignore[arg-type]
        assert rules(data) == [], kwargs


def test_impossible_attributes_in_an_icon_item() -> None:
    icon = Item([*image(0, 2, 8), E("PixelData", "OB", bytes(4))])
    data = pixel_file(
        "153",
        image(4, 4, 8),
        [E("IconImageSequence", "SQ", Seq([icon])), E("PixelData", "OB", bytes(16))],
    )
    found = findings(data)
    assert [(f.rule, f.path) for f in found] == [
        ("PIXEL_ATTRIBUTES_INVALID", "0088,0200[0]/0028,0010")
    ]


def test_frames_text_is_shown_safely() -> None:
    data = pixel_file(
        "154", image(4, 4, 8, frames="\x1b]0;X\x07"), [E("PixelData", "OB", bytes(16))]
    )
    found = findings(data)
    assert [f.rule for f in found] == ["PIXEL_ATTRIBUTES_INVALID"]
    assert "\x1b" not in found[0].message and "\\x1b" in found[0].message


def test_impossible_attributes_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows0.dcm"
    path.write_bytes(pixel_fixtures.attributes_zero_rows().data)
    code = cli.main(["validate", str(path), "--format", "text"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "PIXEL_ATTRIBUTES_INVALID" in out
    assert "Traceback" not in out + err and "internal error" not in out + err


# -- the pydicom DICOMDIR variants -----------------------------------------------------------


def _pydicom_dicomdirs() -> Path | None:
    try:
        import pydicom.data
    except ImportError:
        return None
    root = Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests"
    return root if root.is_dir() else None


@pytest.mark.parametrize(
    "name",
    [
        "DICOMDIR",
        "DICOMDIR-nooffset",
        "DICOMDIR-reordered",
        "DICOMDIR-empty.dcm",
        "TINY_ALPHA/DICOMDIR",
    ],
)
def test_pydicom_dicomdirs_are_clean(name: str) -> None:
    root = _pydicom_dicomdirs()
    if root is None:
        pytest.skip("pydicom's test files are not installed")
    with index_file(root / name) as index:
        found, internal = validate_index(index, SELECTION)
    assert not internal
    assert [(f.rule, f.message) for f in found] == []


@pytest.mark.parametrize(
    ("name", "syntax"),
    [("DICOMDIR-bigEnd", "Explicit VR Big Endian"), ("DICOMDIR-implicit", "Implicit VR")],
)
def test_pydicom_dicomdirs_in_other_encodings(name: str, syntax: str) -> None:
    # Their offsets are right; their transfer syntax is not the one PS3.10 8.6 requires.
    root = _pydicom_dicomdirs()
    if root is None:
        pytest.skip("pydicom's test files are not installed")
    data = (root / name).read_bytes()
    found = findings(data)
    assert [(f.rule, f.offset) for f in found] == [
        ("DICOMDIR_NOT_EXPLICIT_LE", transfer_syntax_value(data))
    ]
    assert syntax in found[0].message


def test_pydicom_dicomdir_nopatient_root_chain() -> None:
    # Its (0004,1200) names the record at 396, an IMAGE record whose chain ends there at once,
    # while (0004,1202) names the record at 3126: the root entity's two ends disagree.
    root = _pydicom_dicomdirs()
    if root is None:
        pytest.skip("pydicom's test files are not installed")
    with index_file(root / "DICOMDIR-nopatient") as index:
        found, internal = validate_index(index, SELECTION)
    assert not internal
    assert [(f.rule, f.tag_text, f.offset) for f in found] == [
        ("DICOMDIR_OFFSET_INVALID", "0004,1202", 0x172)
    ]


# -- hostile input ---------------------------------------------------------------------------


def test_many_fragments_stay_linear() -> None:
    n = 100_000
    data = pixel_file(
        "130",
        image(4, 4, 8, frames=n),
        [E("PixelData", "OB", Frags([b"\xff\xd8"] * n, auto_offsets=True))],
        JPEG_BASELINE,
    )
    index = index_bytes(data)
    start = time.perf_counter()
    found, internal = validate_index(index, SELECTION)
    elapsed = time.perf_counter() - start
    assert not internal and found == []
    assert elapsed < 20, f"{elapsed:.1f}s for {n} fragments"


def test_huge_table_and_fragment_lengths() -> None:
    # A Basic Offset Table claiming 4 GB, an RLE fragment claiming more than the file: the index
    # cuts them at the end of the file; the rules must neither allocate by them nor fail.
    for ts in (JPEG_BASELINE, RLE_LOSSLESS):
        data = pixel_file(
            "131",
            image(4, 4, 16, frames=3),
            [pixel_fixtures.encapsulated(item(b"\0" * 8, length=0xFFFFFFF0), delimiter=False)],
            ts,
        )
        # The cut is the index's one FILE_TRUNCATED; no pixel rule reports the cut table again.
        assert findings(data) == []
        everything, _ = validate_index(index_bytes(data))
        assert [f.rule for f in everything] == ["FILE_TRUNCATED"]
        data = pixel_file(
            "132",
            image(4, 4, 16, frames=3),
            [pixel_fixtures.encapsulated(item(b""), item(b"\x02\0\0\0@\0", length=0x7FFFFFFE))],
            ts,
        )
        assert findings(data) == []
        everything, _ = validate_index(index_bytes(data))
        assert [f.rule for f in everything] == ["FILE_TRUNCATED"]


def test_dicomdir_hostile_offsets() -> None:
    def bend(offsets: Offsets, starts: dict[str, int]) -> None:
        offsets["root.first"] = 0xFFFFFFFF
        offsets["patient1.next"] = starts["patient1"]  # itself
        offsets["image.lower"] = starts["patient1"]  # an ancestor

    d = build("133", bend)
    found = findings(d.data)
    assert {f.rule for f in found} == {"DICOMDIR_OFFSET_INVALID"}


def _all_fixture_files() -> list[bytes]:
    out = [fx.data for fx in pixel_fixtures.fixtures()]
    out += [fx.data for fx in dicomdir_fixtures.fixtures()]
    out += [fx.data for fx in deflate_fixtures.fixtures()]
    out.append(valid_dicomdir())
    return out


def test_mutated_files_never_break_a_rule() -> None:
    rng = random.Random(20240611)
    for data in _all_fixture_files():
        for _ in range(25):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(132, len(mutated))
                if rng.random() < 0.5:
                    mutated[at] = rng.randrange(256)
                else:  # a length field's worth of 0xFF or 0x00
                    mutated[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0"])
            findings(bytes(mutated))
        for cut in range(132, len(data), max(1, len(data) // 40)):
            findings(data[:cut])


def test_random_bytes_after_the_prefix() -> None:
    rng = random.Random(7)
    for n in range(40):
        body = bytes(rng.randrange(256) for _ in range(64 + 16 * n))
        findings(bytes(128) + b"DICM" + body)
        findings(struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0\xff\xff\xff\xff" + body)
