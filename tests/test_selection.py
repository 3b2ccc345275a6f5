"""Selection and export in the viewer (issue 11, item 1): the units ``v`` selects, the copy
formats, saving a frame's codestream, the mask's refusal, and the keys and the mouse in the
running app.

Expected offsets come from the bytes the builder wrote (``bytes.find`` of a value known to
occur once), not from the index under test.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dcmstruct.builder import E, Frags, Item, Seq, part10
from dcmstruct.index import index_bytes
from dcmstruct.model import Stream
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.export import (
    as_base64,
    as_c_array,
    as_hex,
    as_python,
    decoded_value,
    refusal,
    save,
)
from dcmstruct.tui.screens.copy import CopyScreen
from dcmstruct.tui.screens.prompt import PromptScreen
from dcmstruct.tui.selection import Unit, byte_range, next_unit, units_at
from dcmstruct.tui.structure import Structure
from dcmstruct.uids import JPEG_BASELINE

from .test_tui import SAMPLE, settle

CT = "1.2.840.10008.5.1.4.1.1.2"
SOI = b"\xff\xd8\xff\xe0"  # SOI, then an APP0 marker: how a JPEG frame starts
# Two frames of "JPEG" (only the SOI matters: frames start at it), the second in two fragments.
FRAME_1 = SOI + b"\x11" * 10
FRAME_2A, FRAME_2B = SOI + b"\x22" * 6, b"\x33" * 8


def _nested() -> bytes:
    return part10(
        [
            E("SOPClassUID", "UI", CT),
            E("SOPInstanceUID", "UI", "1.2.3.4"),
            E(
                "ReferencedImageSequence",
                "SQ",
                Seq([Item([E("ReferencedSOPInstanceUID", "UI", "1.2.3.4.5.6.7.8")])]),
            ),
            E("PatientName", "PN", "SELECTION^TEST"),
        ]
    )


def _encapsulated() -> bytes:
    return part10(
        [
            E("SOPClassUID", "UI", CT),
            E("SOPInstanceUID", "UI", "1.2.3.4"),
            E("SamplesPerPixel", "US", 1),
            E("PhotometricInterpretation", "CS", "MONOCHROME2"),
            E("NumberOfFrames", "IS", "2"),
            E("Rows", "US", 4),
            E("Columns", "US", 4),
            E("BitsAllocated", "US", 8),
            E("BitsStored", "US", 8),
            E("HighBit", "US", 7),
            E("PixelRepresentation", "US", 0),
            E("PixelData", "OB", Frags([FRAME_1, FRAME_2A, FRAME_2B])),
        ],
        transfer_syntax=JPEG_BASELINE,
    )


def _structure(data: bytes) -> Structure:
    return Structure(index_bytes(data))


def test_units_inside_an_item_are_value_element_item() -> None:
    data = _nested()
    s = _structure(data)
    value = data.find(b"1.2.3.4.5.6.7.8")
    units = units_at(s, Stream.FILE, value + 3)
    assert [u.unit for u in units] == [Unit.VALUE, Unit.ELEMENT, Unit.ITEM]
    v, e, i = units
    # The UI value is 15 characters, padded with a NUL to 16 (PS3.5 6.2).
    assert (v.start, v.end) == (value, value + 16)
    assert (e.start, e.end) == (value - 8, value + 16)  # explicit VR short header: 8 bytes
    # The item: its 8-byte header, then the element (PS3.5 7.5.2).
    assert (i.start, i.end) == (value - 16, value + 16)
    assert data[i.start : i.start + 4] == b"\xfe\xff\x00\xe0"
    assert "0008,1140[0]/0008,1155" in v.what and "ReferencedSOPInstanceUID" in v.what
    assert next_unit(units, None) == v
    assert next_unit(units, v) == e and next_unit(units, e) == i and next_unit(units, i) == v


def test_frames_of_encapsulated_pixel_data_are_their_fragments_values() -> None:
    data = _encapsulated()
    s = _structure(data)
    at2b = data.find(FRAME_2B)
    frame = units_at(s, Stream.FILE, at2b + 1)[-1]
    assert frame.unit == Unit.FRAME and "frame 2" in frame.what
    at2a = data.find(FRAME_2A)
    # On screen: from the first fragment's item header to the end of the last fragment.
    assert (frame.start, frame.end) == (at2a - 8, at2b + len(FRAME_2B))
    # Its content: the two values without the item header between them.
    assert frame.runs == ((at2a, at2a + len(FRAME_2A)), (at2b, at2b + len(FRAME_2B)))
    assert frame.content(s, 1 << 20) == FRAME_2A + FRAME_2B
    first = units_at(s, Stream.FILE, data.find(FRAME_1))[-1]
    assert first.unit == Unit.FRAME and first.content(s, 1 << 20) == FRAME_1


def test_frames_of_native_pixel_data() -> None:
    pixels = bytes(range(48))  # 3 frames of 4 x 4 at 8 bits
    data = part10(
        [
            E("SOPClassUID", "UI", CT),
            E("SOPInstanceUID", "UI", "1.2.3.4"),
            E("SamplesPerPixel", "US", 1),
            E("PhotometricInterpretation", "CS", "MONOCHROME2"),
            E("NumberOfFrames", "IS", "3"),
            E("Rows", "US", 4),
            E("Columns", "US", 4),
            E("BitsAllocated", "US", 8),
            E("BitsStored", "US", 8),
            E("HighBit", "US", 7),
            E("PixelRepresentation", "US", 0),
            E("PixelData", "OB", pixels),
        ]
    )
    s = _structure(data)
    at = data.find(pixels)
    frame = units_at(s, Stream.FILE, at + 20)[-1]
    assert frame.unit == Unit.FRAME and "frame 2" in frame.what
    assert (frame.start, frame.end) == (at + 16, at + 32)
    assert frame.content(s, 100) == bytes(range(16, 32))


def test_copy_formats_give_back_the_bytes() -> None:
    data = bytes([0, 1, 0x7F, 0x80, 0xFF, ord("'"), ord("\\")]) * 5
    assert as_hex(data) == " ".join(f"{b:02x}" for b in data)
    assert base64.b64decode(as_base64(data)) == data
    # The C array: its numbers, in order, and its declared size.
    c = as_c_array(data, "frame")
    assert c.startswith(f"static const unsigned char frame[{len(data)}] = {{")
    numbers = c[c.index("{") + 1 : c.rindex("}")].replace(",", " ").split()
    assert bytes(int(n, 16) for n in numbers) == data
    # The Python text evaluates back to the bytes.
    scope: dict[str, Any] = {}
    exec(as_python(data, "frame"), scope)  # our own output, checked here
    assert scope["frame"] == data
    exec(as_python(b"", "empty"), scope)
    assert scope["empty"] == b""


def test_decoded_value_is_the_value_text() -> None:
    data = _nested()
    s = _structure(data)
    value = data.find(b"SELECTION^TEST")
    v = units_at(s, Stream.FILE, value)[0]
    assert decoded_value(s, v) == "SELECTION^TEST"
    assert decoded_value(s, byte_range(Stream.FILE, value, value + 3)) is None


def test_save_writes_a_frames_codestream_and_never_replaces(tmp_path: Path) -> None:
    data = _encapsulated()
    s = _structure(data)
    frame = units_at(s, Stream.FILE, data.find(FRAME_2B))[-1]
    target = tmp_path / "frame2.jpg"
    assert save(s, frame, str(target)) == len(FRAME_2A) + len(FRAME_2B)
    assert target.read_bytes() == FRAME_2A + FRAME_2B
    with pytest.raises(FileExistsError):
        save(s, frame, str(target))


def test_masked_bytes_are_refused() -> None:
    data = _nested()
    s = _structure(data)
    name = data.find(b"SELECTION^TEST")
    around = byte_range(Stream.FILE, name - 10, name + 2)
    assert refusal(s, around, None) is None
    assert "clipboard" in (refusal(s, byte_range(Stream.FILE, 0, 999), 100) or "")
    s.set_masking(True)
    assert "masked" in (refusal(s, around, None) or "")
    sop_class = data.rfind(CT.encode())  # not identifying: stays visible, may be copied
    assert refusal(s, byte_range(Stream.FILE, sop_class, sop_class + 3), None) is None


# -- in the app ------------------------------------------------------------------------------


def _run(path: Path, body: Any, *, mask: bool = False) -> DcmViewApp:
    app = DcmViewApp(str(path), mask=mask, validate=False)

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await body(pilot)

    asyncio.run(main())
    return app


def test_keys_select_copy_and_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _nested()
    path = tmp_path / "nested.dcm"
    path.write_bytes(data)
    value = data.find(b"SELECTION^TEST")
    monkeypatch.chdir(tmp_path)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        app._goto(Stream.FILE, value, reveal=True)
        await pilot.press("shift+right", "shift+right", "shift+right")
        await pilot.pause()
        assert app.hex.range == (value, value + 4)
        assert app.selection is not None and app.selection.size == 4
        assert "selected 0x" in app.query_one("#status").render().plain  # type: ignore[attr-defined]
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, CopyScreen)
        await pilot.press("h")
        await pilot.pause()
        assert app.clipboard == "53 45 4c 45"  # "SELE"
        # A plain move drops it.
        await pilot.press("left")
        await pilot.pause()
        assert app.hex.range is None and app.selection is None
        # v: the value, then its element.
        await pilot.press("v")
        await pilot.pause()
        assert app.hex.range == (value, value + 14)
        await pilot.press("y", "v")
        await pilot.pause()
        assert app.clipboard == "SELECTION^TEST"
        await pilot.press("v")
        await pilot.pause()
        assert app.hex.range == (value - 8, value + 14)
        await pilot.press("escape")
        await pilot.pause()
        assert app.hex.range is None and app.selection is None
        # x without a selection: the value under the cursor, to the name offered.
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("enter")
        await pilot.pause()
        saved = list(tmp_path.glob("nested.dcm.value-*.bin"))
        assert [p.read_bytes() for p in saved] == [b"SELECTION^TEST"]

    _run(path, body)


def test_a_drag_selects(tmp_path: Path) -> None:
    data = _nested()
    path = tmp_path / "nested.dcm"
    path.write_bytes(data)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.hex
        # Row 8 (bytes 0x80-0x8f) is on screen; columns from the layout of the row, + 1 for
        # the pane's border.
        lay = hex_view._layout
        y = 8 + 1
        await pilot.mouse_down(hex_view, offset=(lay.hex_x[2] + 1, y))
        assert hex_view.cursor == 0x82
        await pilot.hover(hex_view, offset=(lay.hex_x[9] + 1, y))
        await pilot.mouse_up(hex_view, offset=(lay.hex_x[9] + 1, y))
        await pilot.pause()
        assert hex_view.range == (0x82, 0x8A)
        assert app.selection is not None and (app.selection.start, app.selection.end) == (
            0x82,
            0x8A,
        )

    _run(path, body)


def test_the_mask_refuses_a_copy_of_a_masked_value(tmp_path: Path) -> None:
    data = _nested()
    path = tmp_path / "nested.dcm"
    path.write_bytes(data)
    value = data.find(b"SELECTION^TEST")

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        app._goto(Stream.FILE, value, reveal=True)
        await pilot.press("v", "y")
        await pilot.pause()
        assert not isinstance(app.screen, CopyScreen)
        assert app.clipboard == ""
        said = [n.message for n in app._notifications]
        assert any(m.startswith("not copied: the selection holds masked bytes") for m in said)
        assert not any("SELECTION" in m for m in said)

    _run(path, body, mask=True)


def test_snapshot_selection(snap: Callable[..., bool]) -> None:
    """The sample, the cursor in a nested element, v pressed three times: its value, its
    element, then its item selected (the band across element boundaries), the status line
    saying what and where."""
    app = DcmViewApp(SAMPLE, validate=False)
    assert snap(app, press=("g", *"0x34e", "enter", "v", "v", "v"))


def test_a_reload_drops_the_selection(tmp_path: Path) -> None:
    """The selection named a node and bytes of the old index; after r they were another
    element's (here a masked PatientName), and y offered its value (found by a review)."""
    ct = "1.2.840.10008.5.1.4.1.1.2"
    before = part10(
        [
            E("SOPClassUID", "UI", ct),
            E("SOPInstanceUID", "UI", "1.2.3.4"),
            E("Modality", "CS", "OT"),
            E("ConversionType", "CS", "WSD"),
        ]
    )
    after = part10(
        [
            E("SOPClassUID", "UI", ct),
            E("SOPInstanceUID", "UI", "1.2.3.4"),
            E("Modality", "CS", "OT" * 20),
            E("PatientName", "PN", "SECRET^NAME"),
        ]
    )
    path = tmp_path / "changing.dcm"
    path.write_bytes(before)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        app._goto(Stream.FILE, before.find(b"WSD"), reveal=True)
        await pilot.press("v")
        await pilot.pause()
        assert app.selection is not None
        path.write_bytes(after)
        await pilot.press("r")
        await settle(pilot)
        assert app.selection is None and app.hex.range is None
        await pilot.press("y")
        await pilot.pause()
        if isinstance(app.screen, CopyScreen):
            assert not any("SECRET" in text for _, _, text in app.screen.choices)
        assert "SECRET" not in app.clipboard

    _run(path, body, mask=True)


def test_snapshot_copy_dialog(snap: Callable[..., bool]) -> None:
    """y on the sample's (synthetic) PatientName value: each format on one line with its
    preview, the decoded value and the offsets last."""
    app = DcmViewApp(SAMPLE, validate=False)
    assert snap(app, press=("t", *"PatientName", "enter", "v", "y"))


def test_a_jump_drops_the_selection(tmp_path: Path) -> None:
    data = _nested()
    path = tmp_path / "nested.dcm"
    path.write_bytes(data)
    value = data.find(b"SELECTION^TEST")

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        app._goto(Stream.FILE, value, reveal=True)
        await pilot.press("v")
        await pilot.pause()
        assert app.selection is not None
        await pilot.press("g", *"0x10", "enter")
        await pilot.pause()
        assert app.hex.cursor == 0x10 and app.selection is None and app.hex.range is None

    _run(path, body)
