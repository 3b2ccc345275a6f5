"""Issue 11, structure paths in the viewer: ``t`` with a path, keyword completion in its
dialog (and its hint at 80 columns), and the DICOMDIR record tree (``D``), through the Pilot.
Expected offsets come from the builder's layout (see tests/test_paths.py, test_dicomdir.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Tree

from dcmstruct.builder import dicomdir
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.screens.directory import DirectoryScreen
from dcmstruct.tui.screens.prompt import TAG_HINT, PromptScreen
from dcmstruct.tui.widgets import HexView
from tests.test_dicomdir import records
from tests.test_paths import DATA, in_stack_position
from tests.test_tui import SAMPLE, ask, drive, screen_text


def test_go_to_a_path_and_a_path_that_fails(tmp_path: Path) -> None:
    path = tmp_path / "frames.dcm"
    path.write_bytes(DATA)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        await ask(
            pilot, "t", "perframefunctionalgroupssequence[1]/FrameContentSequence[0]/0020,9057"
        )
        assert not isinstance(app.screen, PromptScreen)
        assert hex_view.cursor == in_stack_position(1)
        await ask(pilot, "t", "5200,9230[17]/0020,9111[0]/0020,9057")
        assert isinstance(app.screen, PromptScreen)  # stays open, saying why
        shown = " ".join(screen_text(app).split())  # the reason wraps in the dialog
        assert "item 17 of 5200,9230: the sequence has 3 items" in shown
        assert hex_view.cursor == in_stack_position(1)

    drive(str(path), body)


def test_completion_and_the_whole_hint_at_80_columns() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        await pilot.press("t", "backspace", *"patientn")
        await pilot.pause()
        field = app.screen.query_one(Input)
        assert field.value == "patientn"
        await pilot.press("tab")
        await pilot.pause()
        assert field.value == "PatientName"
        # Every word of the hint is on the screen (wrapped, not cut off).
        shown = " ".join(screen_text(app).split())
        for word in TAG_HINT.split():
            assert word in shown, word
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(HexView).cursor == 0x5A2  # the sample's (0010,0010)

    drive(SAMPLE, body, size=(80, 24))


def test_dicomdir_records_move_the_cursor(tmp_path: Path) -> None:
    data, starts = dicomdir(records(), "p1")
    path = tmp_path / "DICOMDIR"
    path.write_bytes(data)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        assert "DICOMDIR" in screen_text(app).splitlines()[-1]  # the footer offers D
        await pilot.press("g", *"0x40", "enter")
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, DirectoryScreen)
        await pilot.pause()
        assert hex_view.cursor == starts["p1"]  # the first record, at once
        await pilot.press("down")  # the second patient (the first is not expanded)
        await pilot.pause()
        assert hex_view.cursor == starts["p2"]
        await pilot.press("up", "space", "down", "space", "down")  # into the study: its series
        await pilot.pause()
        assert hex_view.cursor == starts["se"]
        text = screen_text(app)
        assert "PATIENT  PatientID ID-0001  PatientName DOE^JANE" in text
        assert "SERIES  Modality CT" in text
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, DirectoryScreen) and hex_view.cursor == starts["se"]
        await pilot.press("J")  # a jump: back to where D was pressed
        await pilot.pause()
        assert hex_view.cursor == 0x40
        await pilot.press("D")
        await pilot.pause()
        tree = app.screen.query_one(Tree)
        assert tree.cursor_line == 0
        await pilot.press("escape")  # the cursor goes back
        await pilot.pause()
        assert hex_view.cursor == 0x40

    drive(str(path), body)

    async def masked(pilot: Pilot[Any]) -> None:
        await pilot.press("D")
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "PatientID <masked>  PatientName <masked>" in text
        assert "DOE" not in text and "ID-0001" not in text

    drive(str(path), masked, mask=True)


def test_no_dicomdir_key_for_other_files() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        assert "DICOMDIR" not in screen_text(app).splitlines()[-1]
        await pilot.press("D")
        await pilot.pause()
        assert not isinstance(app.screen, DirectoryScreen)

    drive(SAMPLE, body, size=(160, 30))


def test_snapshot_dicomdir_records(tmp_path: Path, snap: Callable[..., bool]) -> None:
    """D on a synthetic DICOMDIR, the first patient expanded down to its series: each record
    with its offset, type, file (not found: none beside it) and keys."""
    data, _ = dicomdir(records(), "p1")
    path = tmp_path / "DICOMDIR"
    path.write_bytes(data)
    app = DcmViewApp(str(path), validate=False)
    assert snap(app, press=("D", "space", "down", "space", "down", "space"))
