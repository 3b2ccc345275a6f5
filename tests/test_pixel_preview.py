"""The pixel preview of encapsulated Pixel Data (issue 11, items 4 and 5): every fragment
listed (drawn on demand), each with its frame, Enter goes to the fragment; the footer offers
only keys that work; compressed frames decoded with the ``codecs`` extra and a clear line
without it; real pixels through textual-image with the ``pictures`` extra, half blocks
without it. Expected offsets are found in the bytes built here, not asked of the viewer."""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widget import Widget

from dcmstruct.builder import E, Frags, part10
from dcmstruct.index import index_bytes, index_file
from dcmstruct.tui import pictures
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.compressed import decoded_frame
from dcmstruct.tui.pixels import fragment_table, frame_pixels, image_info, pick_pixel_node
from dcmstruct.tui.screens.pixels import PixelScreen
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets import HexView
from dcmstruct.tui.widgets.pixel_view import PixelView
from dcmstruct.uids import JPEG_BASELINE
from tests.test_tui import SAMPLE, _image, drive, screen_text

FRAMES = 2100  # two fragments each: 4,200 fragments, more than the old cap of 2,000


def first_part(k: int) -> bytes:
    """Frame ``k``'s first fragment: SOI, then a COM segment holding ``k`` (unique bytes)."""
    return b"\xff\xd8\xff\xfe\x00\x06" + struct.pack(">I", k) + bytes(6)


def many_fragments(path: Path) -> bytes:
    size = 8 + 16  # an item: its header, 16 bytes of value
    table = [k * 2 * size for k in range(FRAMES)]  # PS3.5 A.4: to each frame's first item
    fragments = [part for k in range(FRAMES) for part in (first_part(k), bytes(14) + b"\xff\xd9")]
    data = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7.2"),
            E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.11"),
            E("SamplesPerPixel", "US", 1),
            E("PhotometricInterpretation", "CS", "MONOCHROME2"),
            E("NumberOfFrames", "IS", FRAMES),
            E("Rows", "US", 4),
            E("Columns", "US", 4),
            E("BitsAllocated", "US", 8),
            E("BitsStored", "US", 8),
            E("HighBit", "US", 7),
            E("PixelRepresentation", "US", 0),
            E("PixelData", "OB", Frags(fragments, offsets=table)),
        ],
        transfer_syntax=JPEG_BASELINE,
    )
    path.write_bytes(data)
    return data


def test_every_fragment_listed_with_its_frame_and_enter_goes_there(tmp_path: Path) -> None:
    data = many_fragments(tmp_path / "many.dcm")
    # The last fragment's item: 8 bytes before the last frame's second value.
    last_first = data.find(first_part(FRAMES - 1)) - 8
    last_item = last_first + 8 + 16
    structure = Structure(index_bytes(data))
    table = fragment_table(structure, image_info(structure, pick_pixel_node(structure, -1) or 0))
    assert len(table) == 2 * FRAMES and table.frames == FRAMES
    assert table.row(0) == ("1", "1", "1/2", f"{data.find(first_part(0)) - 8:#x}", "16")
    assert table.row(2 * FRAMES - 1) == (f"{2 * FRAMES}", f"{FRAMES}", "2/2", hex(last_item), "16")

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PixelScreen)
        # Frames to go to: the frame keys are offered; no grey image: the window keys are not.
        footer = screen_text(app).splitlines()[-1]
        assert "Next frame" in footer and "Go to fragment" in footer
        assert "Next window" not in footer
        await pilot.press("end")
        await pilot.pause()
        text = screen_text(app)
        assert hex(last_item) in text and f"fragment {2 * FRAMES:,} of {2 * FRAMES:,}" in text
        assert f"frame {FRAMES} of {FRAMES}" in text
        await pilot.press("left")  # the previous frame: its first fragment
        await pilot.pause()
        assert f"{last_first - 2 * (8 + 16):#x}" in screen_text(app)
        await pilot.press("end", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, PixelScreen)
        assert app.query_one(HexView).cursor == last_item
        await pilot.press("J")  # and back where it was
        await pilot.pause()
        assert app.query_one(HexView).cursor == 0

    drive(str(tmp_path / "many.dcm"), body)


def test_footer_offers_no_frame_keys_for_one_frame(tmp_path: Path) -> None:
    async def body(pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await pilot.pause()
        footer = screen_text(pilot.app).splitlines()[-1]
        assert "Next window" in footer and "frame" not in footer

    drive(SAMPLE, body)


# -- decoding --------------------------------------------------------------------------------


def pydicom_file(name: str) -> Path:
    pydicom = pytest.importorskip("pydicom")
    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    if not path.is_file():
        pytest.skip(f"{name} is not installed")
    return path


def first_frame(path: Path) -> tuple[Any, Any]:
    with index_file(path) as index:
        structure = Structure(index)
        info = image_info(structure, pick_pixel_node(structure, -1) or 0)
        if info.encapsulated:
            return decoded_frame(fragment_table(structure, info), 0), info
        return frame_pixels(structure, info, 0), info


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"])
def test_lossless_frames_decode_to_the_native_pixels(name: str) -> None:
    """pydicom's MR_small.dcm, and the same pixels losslessly compressed: decoded, the frame
    is the native one, value for value (rescale and signedness applied alike)."""
    pytest.importorskip("imagecodecs")
    native, _ = first_frame(pydicom_file("MR_small.dcm"))
    decoded, info = first_frame(pydicom_file(name))
    assert decoded.message == "" and decoded.pixels is not None
    assert decoded.pixels.shape == (info.rows, info.columns) == native.shape
    assert np.array_equal(decoded.pixels, native)


def test_without_the_codecs_extra_one_line_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    path = pydicom_file("MR_small_jpeg_ls_lossless.dcm")
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import imagecodecs fails
    decoded, _ = first_frame(path)
    assert decoded.pixels is None
    assert decoded.message == "JPEG-LS frame: install 'dcmstruct[codecs]' to see it decoded"

    async def body(pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "install 'dcmstruct[codecs]'" in text
        # The structure is still shown: the frame header, its size as the file gives it.
        assert "SOF55" in text and "rows=64 columns=64" in text

    drive(str(path), body)


def jpeg_file(tmp_path: Path, rows: int, columns: int) -> Path:
    sof = b"\xff\xc0\x00\x0b\x08" + struct.pack(">HH", rows, columns) + b"\x01\x01\x11\x00"
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    frame = b"\xff\xd8" + sof + sos + b"\x12\x34" + b"\xff\xd9"
    data = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.12"),
            E("SamplesPerPixel", "US", 1),
            E("PhotometricInterpretation", "CS", "MONOCHROME2"),
            E("Rows", "US", min(rows, 65535)),
            E("Columns", "US", min(columns, 65535)),
            E("BitsAllocated", "US", 8),
            E("BitsStored", "US", 8),
            E("HighBit", "US", 7),
            E("PixelRepresentation", "US", 0),
            E("PixelData", "OB", Frags([frame])),
        ],
        transfer_syntax=JPEG_BASELINE,
    )
    path = tmp_path / "frame.dcm"
    path.write_bytes(data)
    return path


def test_decoder_errors_and_huge_headers_are_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imagecodecs = pytest.importorskip("imagecodecs")

    def refuse(data: bytes) -> Any:
        raise RuntimeError("bad Huffman code")

    monkeypatch.setattr(imagecodecs, "jpeg_decode", refuse)
    decoded, _ = first_frame(jpeg_file(tmp_path, 4, 4))
    assert decoded.pixels is None
    assert decoded.message == "the JPEG decoder failed: RuntimeError: bad Huffman code"
    # A frame header of 60000 x 60000: refused before the decoder could allocate it.
    called: list[int] = []
    monkeypatch.setattr(imagecodecs, "jpeg_decode", lambda data: called.append(1))
    decoded, _ = first_frame(jpeg_file(tmp_path, 60000, 60000))
    assert called == [] and decoded.pixels is None
    assert decoded.message == "the frame header says 60000x60000: too large to preview"


# -- pictures --------------------------------------------------------------------------------


class FakeTGP(Widget):
    image: Any = None


def test_probe_picks_the_graphics_widget_the_terminal_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renderable = SimpleNamespace(TGPImage=object(), SixelImage=object())
    widget = SimpleNamespace(TGPImage=FakeTGP, SixelImage=Widget)
    modules = {"textual_image.renderable": renderable, "textual_image.widget": widget}
    monkeypatch.setattr(pictures, "find_spec", lambda name: object())
    monkeypatch.setattr(pictures, "import_module", modules.__getitem__)
    monkeypatch.delenv(pictures.ENV, raising=False)
    renderable.Image = renderable.TGPImage  # the terminal answered the kitty query
    pictures.probe()
    assert pictures.graphics() is FakeTGP
    assert isinstance(pictures.picture_view(), pictures.Picture)
    renderable.Image = object()  # half cells or unicode: ours are as good
    pictures.probe()
    assert pictures.graphics() is None and isinstance(pictures.picture_view(), PixelView)
    renderable.Image = renderable.TGPImage
    monkeypatch.setenv(pictures.ENV, "off")
    pictures.probe()
    assert pictures.graphics() is None
    monkeypatch.delenv(pictures.ENV)
    monkeypatch.setattr(pictures, "find_spec", lambda name: None)  # the extra is absent
    pictures.probe()
    assert pictures.graphics() is None and isinstance(pictures.picture_view(), PixelView)


def test_graphics_renderer_shows_the_frame_and_keeps_the_mask_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("textual_image")
    from textual_image.widget import HalfcellImage

    monkeypatch.setattr(pictures, "_chosen", HalfcellImage)  # as if the terminal took graphics

    async def body(pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, PixelScreen) and not screen.query(PixelView)
        picture = screen.query_one(pictures.Picture)
        image = screen.query_one(HalfcellImage).image
        assert picture.levels is not None and image is not None
        assert image.size == (256, 256) and picture.levels.shape == (256, 256)

    drive(SAMPLE, body)

    async def masked(pilot: Pilot[Any]) -> None:
        # Burned In Annotation absent, the mask on: the first p only warns, as with half blocks.
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, PixelScreen)
        await pilot.press("p")
        await pilot.pause()
        assert pilot.app.screen.query(pictures.Picture)

    _image(tmp_path, bytes(range(8)))
    drive(str(tmp_path / "img.dcm"), masked, mask=True)


def test_snapshot_fragments_and_their_markers(
    tmp_path: Path, snap: Callable[..., bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """p on 2,100 frames of two fragments: the list (frame and part of each fragment, from the
    Basic Offset Table), the first fragment's marker segments (SOI, COM, then the zero bytes
    this test writes after them, a fault at their offset), and the line that says the frame
    is not decoded (it has no frame header)."""
    path = tmp_path / "many.dcm"
    many_fragments(path)
    monkeypatch.setenv("DCMSTRUCT_PICTURES", "off")
    assert snap(DcmViewApp(str(path), validate=False), press=("p",))
