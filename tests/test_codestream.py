"""The marker segment scan of dcmstruct.codestream on codestream headers built here byte by
byte (offsets counted by hand from the bytes written), on broken ones, and on pydicom's
compressed sample files, whose frame headers must give their own Rows and Columns."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from dcmstruct.codestream import (
    JPEG,
    JPEG_2000,
    JPEG_LS,
    MAX_ENTROPY_MARKS,
    MAX_JP2_NESTING,
    scan,
)


def seg(code: int, body: bytes) -> bytes:
    """A marker segment: FF code, its length (counting itself, T.81 B.1.1.4), its body."""
    return bytes([0xFF, code]) + struct.pack(">H", len(body) + 2) + body


SOI, EOI = b"\xff\xd8", b"\xff\xd9"
APP0 = seg(0xE0, b"JFIF\0" + bytes(9))  # 0x02, 18 bytes
DQT = seg(0xDB, bytes(65))  # 0x14, 69 bytes
SOF0 = seg(0xC0, bytes([8]) + struct.pack(">HHB", 3, 5, 1) + b"\x01\x11\x00")  # 0x59
SOS = seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")  # 0x66, 10 bytes
ENTROPY = b"\x12\xff\x00\x34\xff\xd0\x56"  # a stuffed FF and RST0: neither ends the scan


def test_jpeg_header_offsets_and_frame_header() -> None:
    data = SOI + APP0 + DQT + SOF0 + SOS + ENTROPY + EOI
    out = scan(data, base=0x1000)
    assert out.family == JPEG and out.ended and not out.notes
    assert [(s.offset - 0x1000, s.name, s.length) for s in out.segments] == [
        (0x00, "SOI", None),
        (0x02, "APP0", 16),
        (0x14, "DQT", 67),
        (0x59, "SOF0", 11),
        (0x66, "SOS", 8),
        (0x70 + len(ENTROPY), "EOI", None),
    ]
    sof = out.segments[3]
    assert (sof.field("precision"), sof.field("rows"), sof.field("columns")) == (8, 3, 5)
    assert out.size == (3, 5, 1, 8)


def test_jpeg_ls_frame_header_and_bit_stuffing() -> None:
    # T.87: SOF55 (F7) has SOF's layout; LSE (F8); in the scan data FF is followed by a byte
    # below 0x80 (the stuffed bit), which is no marker even if it looks like one in T.81.
    sof55 = seg(0xF7, bytes([12]) + struct.pack(">HHB", 7, 9, 3) + b"\x01\x11\x00" * 3)
    lse = seg(0xF8, b"\x01" + bytes(10))
    sos = seg(0xDA, b"\x01\x01\x00\x02\x00\x00")
    data = SOI + sof55 + lse + sos + b"\xff\x7f\xff\x00\x01" + EOI + b"\x00"
    out = scan(data)
    assert out.family == JPEG_LS and out.ended and not out.notes
    names = [(s.offset, s.name) for s in out.segments]
    at_sos = 2 + len(sof55) + len(lse)
    assert names == [
        (0, "SOI"),
        (2, "SOF55"),
        (2 + len(sof55), "LSE"),
        (at_sos, "SOS"),
        (at_sos + len(sos) + 5, "EOI"),
    ]
    assert out.size == (7, 9, 3, 12)
    assert out.segments[2].field("id") == 1


def j2k(tile_data: bytes, *, psot: int | None = None) -> bytes:
    siz = struct.pack(">HIIIIIIIIH", 0, 40, 30, 0, 0, 40, 30, 0, 0, 1) + b"\x0b\x01\x01"
    cod = b"\x00" + b"\x00\x00\x01\x00" + b"\x05\x04\x04\x00\x01"
    qcd = b"\x40" + bytes(4)
    head = b"\xff\x4f" + seg(0x51, siz) + seg(0x52, cod) + seg(0x5C, qcd)
    tile_part = 12 + 2 + len(tile_data)
    sot = seg(0x90, struct.pack(">HIBB", 0, tile_part if psot is None else psot, 0, 1))
    return head + sot + b"\xff\x93" + tile_data + EOI


def test_jpeg2000_main_header_and_tile_part_skipped_by_psot() -> None:
    # The tile data holds FF D9 (EOC's code): Psot says where the tile-part ends, so it is
    # never read as a marker.
    data = j2k(b"\x01\xff\xd9\x02" * 4)
    out = scan(data)
    assert out.family == JPEG_2000 and out.ended and not out.notes
    siz_len, cod_len, qcd_len = 38 + 3 * 1, 2 + 10, 2 + 5  # A.5.1: Lsiz = 38 + 3 Csiz
    sot = 2 + 2 + siz_len + 2 + cod_len + 2 + qcd_len
    assert [(s.offset, s.name) for s in out.segments] == [
        (0, "SOC"),
        (2, "SIZ"),
        (2 + 2 + siz_len, "COD"),
        (2 + 2 + siz_len + 2 + cod_len, "QCD"),
        (sot, "SOT"),
        (sot + 12, "SOD"),
        (len(data) - 2, "EOC"),
    ]
    assert out.size == (30, 40, 1, 12)
    cod = out.segments[2]
    assert (cod.field("levels"), cod.field("reversible"), cod.field("layers")) == (5, 1, 1)


def test_faults_are_notes_with_offsets() -> None:
    # No SOI: not a codestream.
    out = scan(b"\x00\x01\x02\x03", base=0x40)
    assert out.family is None and out.notes[0].offset == 0x40 and out.notes[0].fault
    # A frame header whose length runs past the end of the fragment.
    cut = SOI + SOF0[:9]
    out = scan(cut, base=0x100)
    sof = out.segments[-1]
    assert sof.name == "SOF0" and sof.offset == 0x102
    assert any(n.fault and n.offset == 0x102 and "past the end" in n.text for n in out.notes)
    # The same bytes read from a longer fragment: the rest is not read, not a fault.
    out = scan(cut, base=0x100, total=64)
    assert out.notes and not any(n.fault for n in out.notes)
    # A length below 2; a marker cut in half; a whole codestream with no EOI.
    out = scan(SOI + b"\xff\xdb\x00\x01")
    assert any(n.offset == 4 and "length 1" in n.text for n in out.notes)
    out = scan(SOI + b"\xff")
    assert out.notes[-1].offset == 2 and out.notes[-1].fault
    out = scan(SOI + SOF0 + SOS + ENTROPY)
    assert "without EOI" in out.notes[-1].text and out.notes[-1].fault
    # The first fragment of a frame that goes on: running out inside the scan is no fault.
    out = scan(SOI + SOF0 + SOS + ENTROPY, whole=False)
    assert not any(n.fault for n in out.notes)
    # A JPEG 2000 tile-part whose Psot runs past the end.
    out = scan(j2k(b"\x01\x02", psot=10_000))
    assert any("Psot 10,000" in n.text for n in out.notes)


def test_every_prefix_and_hostile_entropy_data_stay_bounded() -> None:
    whole = SOI + APP0 + DQT + SOF0 + SOS + ENTROPY + EOI
    for data in (whole, j2k(b"\x01\x02\x03\x04")):
        for n in range(len(data) + 1):
            scan(data[:n])  # never raises
            scan(data[n:], continues=JPEG)
            scan(data[n:], continues=JPEG_2000)
    # 1 MiB of stuffed FF 00 pairs: the search stops at its budget, then EOI at the end.
    hostile = SOI + SOF0 + SOS + b"\xff\x00" * (1 << 19) + EOI
    started = time.perf_counter()
    out = scan(hostile)
    assert time.perf_counter() - started < 1.0
    assert out.ended and any(str(f"{MAX_ENTROPY_MARKS:,}") in n.text for n in out.notes)


# -- pydicom's compressed samples ------------------------------------------------------------

SAMPLES = {
    "JPEG-lossy.dcm": JPEG,
    "JPGExtended.dcm": JPEG,
    "SC_rgb_jpeg_dcmtk.dcm": JPEG,
    "SC_rgb_jpeg_gdcm.dcm": JPEG,  # lossless, SOF3
    "MR_small_jpeg_ls_lossless.dcm": JPEG_LS,
    "JPEGLSNearLossless_16.dcm": JPEG_LS,
    "MR_small_jp2klossless.dcm": JPEG_2000,
    "examples_jpeg2k.dcm": JPEG_2000,
    "GDCMJ2K_TextGBR.dcm": JPEG_2000,  # a JP2 file (boxes) in the fragment
}


def pydicom_file(name: str) -> Path:
    pydicom = pytest.importorskip("pydicom")
    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    if not path.is_file():
        pytest.skip(f"{name} is not installed")
    return path


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_frame_headers_of_pydicom_samples_give_their_rows_and_columns(name: str) -> None:
    import pydicom
    from pydicom.encaps import generate_fragmented_frames

    ds = pydicom.dcmread(pydicom_file(name))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    first = b"".join(next(generate_fragmented_frames(ds.PixelData, number_of_frames=frames)))
    out = scan(first)
    assert out.family == SAMPLES[name] and out.ended, out.notes
    assert not [n for n in out.notes if n.fault], out.notes
    assert out.size is not None
    rows, columns, components, _ = out.size
    assert (rows, columns, components) == (ds.Rows, ds.Columns, ds.SamplesPerPixel)


# -- JP2 wrappers (15444-1 Annex I) ----------------------------------------------------------

SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # I.5.1: the signature box, 12 bytes


def box(kind: bytes, body: bytes) -> bytes:
    """A JP2 box: LBox (its length, header included), TBox, its body (I.4)."""
    return struct.pack(">I", 8 + len(body)) + kind + body


def test_jp2_boxes_are_walked_to_the_codestream_box_with_an_extended_length() -> None:
    # I.4: LBox 1 means an 8-byte XLBox follows TBox: the codestream starts 16 bytes in.
    stream = j2k(b"\x01\x02")
    ftyp = box(b"ftyp", b"jp2 " + bytes(4) + b"jp2 ")  # 20 bytes
    jp2c = struct.pack(">I", 1) + b"jp2c" + struct.pack(">Q", 16 + len(stream))
    out = scan(SIGNATURE + ftyp + jp2c + stream, base=0x200)
    assert out.family == JPEG_2000 and out.ended and not out.notes
    assert [(s.offset, s.name, s.length) for s in out.segments[:3]] == [
        (0x200 + 12 + 20, "jp2c box", 16 + len(stream)),
        (0x200 + 12 + 20 + 16, "SOC", None),
        (0x200 + 12 + 20 + 16 + 2, "SIZ", 41),
    ]
    assert out.segments[-1] == (0x200 + 48 + len(stream) - 2, 0xFFD9, "EOC", None, ())


def test_a_jp2_file_inside_a_codestream_box_is_a_fault_and_still_read() -> None:
    # I.5.4: a jp2c box holds a codestream; here it holds another JP2 file, which holds one.
    stream = j2k(b"\x01\x02")
    wrapped = SIGNATURE + box(b"jp2c", SIGNATURE + box(b"jp2c", stream))
    out = scan(wrapped)
    assert [(s.offset, s.name) for s in out.segments[:3]] == [
        (12, "jp2c box"),
        (12 + 8 + 12, "jp2c box"),
        (12 + 8 + 12 + 8, "SOC"),
    ]
    assert out.ended and out.size == (30, 40, 1, 12)
    assert [(n.offset, n.fault) for n in out.notes] == [(12 + 8, True)]
    assert "another JP2 file" in out.notes[0].text


def test_jp2_files_nested_thousands_deep_stop_without_recursion() -> None:
    # 20 bytes a level (a signature box and a jp2c header to the end): 100 KB, 5,000 levels.
    level = SIGNATURE + struct.pack(">I", 0) + b"jp2c"
    data = level * 5000 + j2k(b"\x01\x02")
    started = time.perf_counter()
    out = scan(data, base=0x10)
    assert time.perf_counter() - started < 0.5
    assert out.family is None and not out.ended
    jp2c = [s for s in out.segments if s.name == "jp2c box"]
    assert [s.offset for s in jp2c] == [0x10 + 12 + 20 * k for k in range(MAX_JP2_NESTING)]
    assert out.notes[0].offset == 0x10 + 20  # the first nested signature
    stop = out.notes[-1]
    assert stop.fault and stop.offset == 0x10 + 20 * MAX_JP2_NESTING
    assert f"nested more than {MAX_JP2_NESTING}" in stop.text


# -- JPEG 2000 tile-part lengths (15444-1 A.4.2) ---------------------------------------------


def test_a_tile_part_with_no_data_is_fine() -> None:
    # Table A.5: Psot is 0 or at least 14, the SOT segment (12) and SOD (2) with no data.
    data = j2k(b"")
    assert struct.unpack(">I", data[data.index(b"\xff\x90") + 6 :][:4]) == (14,)
    out = scan(data)
    assert out.ended and not out.notes
    assert [s.name for s in out.segments[-3:]] == ["SOT", "SOD", "EOC"]


@pytest.mark.parametrize("psot", [1, 12, 13])
def test_a_psot_ending_before_the_tile_data_is_named_not_looped(psot: int) -> None:
    data = j2k(bytes(20), psot=psot)
    sot = data.index(b"\xff\x90")
    out = scan(data, base=0x1000)
    names = [s.name for s in out.segments]
    assert names.count("SOD") == 1 and names[-3:] == ["SOT", "SOD", "EOC"]
    faults = [n for n in out.notes if n.fault]
    assert len(faults) == 1 and not any("segments" in n.text for n in out.notes)
    # A.4.2 Table A.5: the SOT marker (2), Lsot (2), Isot (2), then Psot.
    assert faults[0].offset == 0x1000 + sot + 6
    assert f"Psot {psot}" in faults[0].text and "before" in faults[0].text
    # The tile-part's data is taken to run to the end, as for Psot 0: EOC is found there.
    assert out.ended and out.segments[-1].offset == 0x1000 + len(data) - 2


def test_a_psot_ending_inside_the_tile_part_header_is_named() -> None:
    # A COD in the tile-part header (A.6.1, 14 bytes): SOD is at SOT + 26; Psot 20 ends
    # before it.
    siz = struct.pack(">HIIIIIIIIH", 0, 40, 30, 0, 0, 40, 30, 0, 0, 1) + b"\x0b\x01\x01"
    cod = seg(0x52, b"\x00" + b"\x00\x00\x01\x00" + b"\x05\x04\x04\x00\x01")
    sot = seg(0x90, struct.pack(">HIBB", 0, 20, 0, 1))
    data = b"\xff\x4f" + seg(0x51, siz) + sot + cod + b"\xff\x93" + bytes(8) + EOI
    out = scan(data)
    at_sot = 2 + 4 + len(siz)
    assert [(s.offset, s.name) for s in out.segments[2:]] == [
        (at_sot, "SOT"),
        (at_sot + 12, "COD"),
        (at_sot + 26, "SOD"),
        (len(data) - 2, "EOC"),
    ]
    assert [(n.offset, n.fault) for n in out.notes] == [(at_sot + 6, True)]


def test_a_second_sod_without_its_own_sot_is_named() -> None:
    # SOT, SOD and 2 bytes of data (Psot 16), then SOD again with no SOT.
    data = j2k(b"\x01\x02")
    at = len(data) - 2
    out = scan(data[:at] + b"\xff\x93" + EOI)
    assert [(n.offset, "SOD without a SOT" in n.text) for n in out.notes] == [(at, True)]


# -- the fast reads are the schemas' layouts -------------------------------------------------


def test_fast_formats_are_derived_from_the_schemas() -> None:
    from dcmstruct.schema import codestream as schema

    # T.81 B.1.1.2-4, 15444-1 A.1.1-2: a 16-bit marker and a 16-bit length, big endian;
    # 15444-1 I.4: LBox (32 bits), TBox (4 bytes), XLBox (64 bits). Written out by hand.
    assert schema.MARKER_FORMAT == ">H"
    assert schema.SEGMENT_LENGTH_FORMAT == ">H"
    assert schema.BOX_HEADER_FORMAT == ">L4s"
    assert schema.EXTENDED_BOX_LENGTH_FORMAT == ">Q"
    assert schema.PSOT_AT == 6  # Table A.5: SOT marker, Lsot, Isot, then Psot


def test_fast_reads_agree_with_the_schemas_parse() -> None:
    import random

    from dcmstruct import codestream as fast
    from dcmstruct.schema import codestream as schema

    samples = [b"\xff\xd8\x00\x10", b"\xff\x90\x00\x0a", b"\x00\x00\x00\x0cjP  ", bytes(8)]
    samples.append(b"\x00\x00\x00\x01jp2c\x00\x00\x00\x01\x00\x00\x00\x20")
    rng = random.Random(15444)
    samples += [rng.randbytes(16) for _ in range(300)]
    for data in samples:
        for at in range(len(data) - 1):
            assert fast.marker_at(data, at) == schema.Marker.parse(data[at:]).marker
            assert fast.length_at(data, at) == schema.SegmentLength.parse(data[at:]).length
        if len(data) >= 8:
            header = schema.BoxHeader.parse(data)
            assert fast.box_header(data, 0) == (header.length, header.type)
        if len(data) >= 16:
            xl = schema.ExtendedBoxLength.parse(data[8:]).length
            assert fast.extended_box_length(data, 0) == xl
    # Read by hand, independently of both.
    assert fast.marker_at(samples[0], 0) == 0xFFD8 and fast.length_at(samples[0], 2) == 16
    assert fast.box_header(samples[4], 0) == (1, b"jp2c")
    assert fast.extended_box_length(samples[4], 0) == 0x1_0000_0020


def test_the_inspector_says_what_a_fragment_holds() -> None:
    """A fragment that starts a JPEG codestream: its frame header in the inspector, read from
    the fragment's first bytes (the frame: 5 columns, 3 rows, 1 component, 8 bits)."""
    from dcmstruct.builder import E, Frags, part10
    from dcmstruct.index import index_bytes
    from dcmstruct.model import Kind
    from dcmstruct.tui.decode import decode
    from dcmstruct.tui.structure import Structure
    from dcmstruct.uids import JPEG_BASELINE

    frame = SOI + APP0 + DQT + SOF0 + SOS + ENTROPY + EOI
    data = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("SOPInstanceUID", "UI", "1.2.3"),
            E("PixelData", "OB", Frags([frame + b"\0" * (len(frame) % 2)])),
        ],
        transfer_syntax=JPEG_BASELINE,
    )
    structure = Structure(index_bytes(data))
    c = structure.index.columns
    fragments = [i for i in range(len(c.kind)) if int(c.kind[i]) == Kind.FRAGMENT]
    table, first = fragments  # the (empty) Basic Offset Table, then the frame
    said = {line.label: line for line in decode(structure, first)}
    assert said["Codestream"].text == JPEG
    assert said["Frame"].text == "5x3, 1 component(s), 8 bits"
    assert said["Frame"].note == "6 segments"
    assert "Codestream" not in {line.label for line in decode(structure, table)}


def test_the_inspector_reads_past_its_bytes_as_not_read_not_as_a_fault() -> None:
    """A segment running past the 64 KiB the inspector reads is not a fault (a review)."""
    from dcmstruct.builder import E, Frags, part10
    from dcmstruct.index import index_bytes
    from dcmstruct.model import Kind
    from dcmstruct.tui.decode import CODESTREAM_BYTES, decode
    from dcmstruct.tui.structure import Structure
    from dcmstruct.uids import JPEG_BASELINE

    app2 = seg(0xE2, bytes(65533))  # the longest segment: ends past the bytes read
    assert CODESTREAM_BYTES < 20 + 2 + 65535
    frame = SOI + APP0 + app2 + DQT + SOF0 + SOS + ENTROPY + EOI
    data = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("SOPInstanceUID", "UI", "1.2.3"),
            E("PixelData", "OB", Frags([frame + b"\0" * (len(frame) % 2)])),
        ],
        transfer_syntax=JPEG_BASELINE,
    )
    structure = Structure(index_bytes(data))
    c = structure.index.columns
    first = [i for i in range(len(c.kind)) if int(c.kind[i]) == Kind.FRAGMENT][1]
    said = {line.label: line for line in decode(structure, first)}
    assert said["Codestream"].text == JPEG
    assert "fault" not in said["Frame"].note


def test_a_run_of_fill_bytes_is_passed_in_one_step() -> None:
    """T.81 B.1.1.2: FF fill bytes may precede a marker. A MiB of them had taken 0.2 s on the
    screen's thread, counted toward no limit (a review)."""
    fill = b"\xff" * (1 << 20)
    data = SOI + APP0 + fill + DQT[1:] + SOF0 + SOS + ENTROPY + EOI  # DQT's FF is the run's last
    out = scan(data, base=0)
    assert [s.name for s in out.segments] == ["SOI", "APP0", "DQT", "SOF0", "SOS", "EOI"]
    assert out.segments[2].offset == 2 + len(APP0) + len(fill) - 1
    assert not out.notes
    cut = scan(SOI + fill)
    assert [(n.offset, n.text) for n in cut.notes] == [
        (1 + len(fill), "fill bytes (FF) run to the end of the data")
    ]
