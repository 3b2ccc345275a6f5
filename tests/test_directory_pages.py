"""The DICOMDIR dialog (``D``) adds an entity's records a page at a time (review of issue 11:
20,000 records froze the screen for 20 s), on a DICOMDIR built here: one patient whose series
of 1,000 images ends in a dangling offset, and 300 records no offset reaches. The offsets to
expect are the builder's, checked against an item size counted by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Tree

from dcmstruct.builder import DirectoryRecord, E, dicomdir
from dcmstruct.dicomdir import Note, Record
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.screens import directory
from dcmstruct.tui.screens.directory import PAGE, DirectoryScreen, More
from dcmstruct.tui.widgets import HexView
from tests.test_dicomdir import ITEM_TAG, NEXT_VALUE, records
from tests.test_tui import drive, screen_text

IMAGES = 1000
LOOSE = 300
# Each image record is an item of defined length: its header (8 bytes), (0004,1400) UL
# (8 + 4), (0004,1410) US (8 + 2), (0004,1420) UL (8 + 4), (0004,1430) CS "IMAGE " (8 + 6)
# and (0004,1500) CS "IMG\F00000" (8 + 10): all explicit VR short headers.
IMAGE_ITEM = 8 + 12 + 10 + 12 + 14 + 18


def image(name: str, k: int, nxt: str | None) -> DirectoryRecord:
    return DirectoryRecord(
        name, "IMAGE", [E("ReferencedFileID", "CS", ["IMG", f"F{k:05d}"])], next=nxt
    )


def build(tmp_path: Path) -> tuple[Path, bytes, dict[str, int]]:
    chain = [image(f"i{k}", k, f"i{k + 1}" if k + 1 < IMAGES else None) for k in range(IMAGES)]
    loose = [image(f"u{k}", k, None) for k in range(LOOSE)]
    patient = DirectoryRecord("p", "PATIENT", [E("PatientID", "LO", "P1")], lower="i0")

    def bend(offsets: dict[str, int], starts: dict[str, int]) -> None:
        offsets[f"i{IMAGES - 1}.next"] = 0x7FFFFFF0  # past the end: the chain ends in a note

    data, starts = dicomdir([patient, *chain, *loose], "p", bend=bend)
    path = tmp_path / "DICOMDIR"
    path.write_bytes(data)
    return path, data, starts


def test_records_come_a_page_at_a_time(tmp_path: Path) -> None:
    path, data, starts = build(tmp_path)
    second_page = starts["i0"] + PAGE * IMAGE_ITEM
    assert starts[f"i{PAGE}"] == second_page and data[second_page : second_page + 4] == ITEM_TAG

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        hex_view = app.query_one(HexView)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, DirectoryScreen)
        tree: Tree[Any] = app.screen.query_one(Tree)
        patient, group = tree.root.children
        assert "not reached from the root: 300 records" in str(group.label)
        assert not group.children  # filled when expanded
        await pilot.press("space")  # the patient: its series of 1,000 images
        await pilot.pause()
        rows = list(patient.children)
        assert len(rows) == PAGE + 2  # a page, the "more" row, and the note
        offsets = [r.data.offset for r in rows[:PAGE] if isinstance(r.data, Record)]
        assert offsets == [starts[f"i{k}"] for k in range(PAGE)]
        more, note = rows[PAGE], rows[PAGE + 1]
        assert isinstance(more.data, More)
        assert str(more.label) == f"… {IMAGES - PAGE:,} more records; Enter loads {PAGE}"
        # The dangling offset of the last image is shown without loading the 900 before it.
        assert isinstance(note.data, Note)
        assert note.data.offset == starts[f"i{IMAGES - 1}"] + NEXT_VALUE
        assert "past the end of the file" in str(note.label)

        tree.move_cursor(more)  # ("end" scrolls with an animation the Pilot waits out)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DirectoryScreen)  # Enter loaded; it did not close
        assert len(patient.children) == 2 * PAGE + 2
        assert str(more.label) == f"… {IMAGES - 2 * PAGE:,} more records; Enter loads {PAGE}"
        # The cursor is where the row was: on the first record of the page, the hex with it.
        current = tree.cursor_node
        assert current is not None and isinstance(current.data, Record)
        assert current.data.offset == second_page
        assert hex_view.cursor == second_page
        assert f"{second_page:#x} IMAGE" in screen_text(app)
        await pilot.press("down")
        await pilot.pause()
        assert hex_view.cursor == second_page + IMAGE_ITEM

        tree.move_cursor(group)
        await pilot.press("space")  # the records no offset reaches: a page of them
        await pilot.pause()
        assert len(group.children) == PAGE + 1
        loose = group.children[PAGE].data
        assert isinstance(loose, More) and len(loose.records) - loose.first == LOOSE - PAGE

        await pilot.press("down", "down", "enter")  # Enter on a record still closes there
        await pilot.pause()
        assert not isinstance(app.screen, DirectoryScreen)
        assert hex_view.cursor == starts["u1"]

    drive(str(path), body, size=(120, 40))


def test_many_records_are_followed_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "WALKED_AT_ONCE", 0)
    data, starts = dicomdir(records(), "p1")
    path = tmp_path / "DICOMDIR"
    path.write_bytes(data)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        await pilot.press("D")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        assert "PATIENT  PatientID ID-0001" in screen_text(app)
        assert app.query_one(HexView).cursor == starts["p1"]

    drive(str(path), body)
