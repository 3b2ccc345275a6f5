"""``dcmstruct view`` against a file that changes on disk while it is shown, and against
strings from the file or its name that would drive the terminal (issue 7, items 1 and 2).

The viewer reads with ``pread``: a file cut short by another process must cost a short read
and a banner, never SIGBUS (which would end this test process too), and ``r`` reloads it.
Every string from the file or its name reaches the screen with its control characters escaped
and is never read as Rich markup.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from dcmstruct.builder import E, Raw, part10
from dcmstruct.index import index_file
from dcmstruct.model import Stream
from dcmstruct.source import Source, SourceChanged
from dcmstruct.tui import app as app_module
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.filechange import detect
from dcmstruct.tui.screens.pixels import PixelScreen
from dcmstruct.tui.search import ByteScan
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets import HexView
from dcmstruct.validate import engine
from tests.test_tui import ask, screen_text, status_text

Body = Callable[[Pilot[Any]], Awaitable[None]]
# What must never reach a terminal: C0 and C1 controls, DEL, and the bidi/invisible
# characters terminal_safe escapes.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
CUT = 1000  # bytes the file keeps when it is cut short


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for the workers (a failed one included: failing is what some of them are made to
    do here) and for the screen to catch up."""
    app = pilot.app
    assert isinstance(app, DcmViewApp)
    for _ in range(200):
        await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
        await pilot.pause()
        if not app.busy:
            break
    await pilot.pause()


def run_app(app: DcmViewApp, body: Body, size: tuple[int, int] = (120, 40)) -> None:
    """Run ``body`` on ``app``, headless, toasts on (the Pilot leaves them out by default):
    what a toast shows is checked like the rest of the screen."""

    async def main() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await settle(pilot)
            await body(pilot)

    asyncio.run(main())


def image_file(path: Path) -> Path:
    """A 1 MiB+ image (two 512x512 16-bit frames): offset 0x100000 is in its Pixel Data."""
    frames = np.arange(2 * 512 * 512, dtype=np.uint16).reshape(2, 512, 512) % 4096
    data = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.11"),
            E("PatientName", "PN", "CUT^SHORT"),
            E("SamplesPerPixel", "US", 1),
            E("PhotometricInterpretation", "CS", "MONOCHROME2"),
            E("NumberOfFrames", "IS", "2"),
            E("Rows", "US", 512),
            E("Columns", "US", 512),
            E("BitsAllocated", "US", 16),
            E("BitsStored", "US", 12),
            E("HighBit", "US", 11),
            E("PixelRepresentation", "US", 0),
            E("PixelData", "OW", frames),
        ]
    )
    path.write_bytes(data)
    return path


def hex_row_text(app: DcmViewApp, offset: int) -> str:
    hex_view = app.query_one(HexView)
    return hex_view._row(offset // hex_view.bytes_per_row).text


def banner(app: DcmViewApp) -> str:
    widget = app.query_one("#banner", Static)
    return str(widget.render()) if widget.display else ""


# -- without a screen ---------------------------------------------------------------------------


def test_change_is_detected_and_named(tmp_path: Path) -> None:
    path = tmp_path / "f.dcm"

    def opened(content: bytes = bytes(4096)) -> Source:
        path.write_bytes(content)
        return Source.open(path)

    src = opened()
    assert detect(src) is None
    os.truncate(path, 10)
    change = detect(src)
    assert change is not None and (change.kind, change.opened, change.now) == ("shrank", 4096, 10)
    assert "from 4,096 to 10 bytes" in change.describe()
    src.close()

    src = opened()
    with open(path, "ab") as f:
        f.write(b"more")
    assert (c := detect(src)) is not None and c.kind == "grew"
    src.close()

    src = opened()
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert (c := detect(src)) is not None and c.kind == "modified"
    src.close()

    src = opened()
    other = tmp_path / "other.dcm"
    other.write_bytes(bytes(4096))
    os.utime(other, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))
    os.replace(other, path)
    assert (c := detect(src)) is not None and c.kind == "replaced"
    src.close()

    src = opened()
    path.unlink()
    assert (c := detect(src)) is not None and c.kind == "removed"
    src.close()


def test_reads_after_the_file_shrank_come_back_short(tmp_path: Path) -> None:
    path = image_file(tmp_path / "img.dcm")
    structure = Structure(index_file(path))
    try:
        os.truncate(path, CUT)
        # Past the new end: nothing, and no exception; the readable size follows the file.
        assert structure.read(Stream.FILE, 0x100000, 16) == b""
        assert structure.streams[Stream.FILE].readable == CUT
        assert len(structure.read(Stream.FILE, CUT - 4, 16)) == 4
        change = structure.check_file()
        assert change is not None and change.kind == "shrank" and structure.change == change
        # A byte scan of the old size meets the new end: SourceChanged, for the app to catch.
        scan = ByteScan(structure.index.sources[Stream.FILE], 0x100000, b"\xff\xfe", 0)
        with pytest.raises(SourceChanged):
            scan.next_batch(10)
    finally:
        structure.index.close()


# -- the app: a file cut short while shown ---------------------------------------------------------


def test_file_cut_short_while_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut the file to 1,000 bytes, then do what a user does: search, go past the new end,
    scroll, preview the pixels. Nothing raises; the banner says what happened (from the
    once-a-second look at the file); r reloads and keeps the cursor where it still fits."""
    path = image_file(tmp_path / "img.dcm")
    monkeypatch.setattr(app_module, "POLL", 0.2)  # the app's timer, sooner

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        old_size = app.structure.index.size
        app.poll_timer.pause()  # the search must meet the change before the timer sees it
        os.truncate(path, CUT)
        # A search straight away reads past the new end in its worker: it stops and says why.
        await ask(pilot, "slash", "de ad be ef")
        await settle(pilot)
        assert app.search is not None and not app.search.running and not app.search.scan.done
        assert "search stopped: the file changed" in screen_text(app)  # the toast
        assert "shrank" in banner(app)  # the search had the file looked at at once
        await ask(pilot, "g", "0x100000")
        hex_view = app.query_one(HexView)
        assert hex_view.cursor == 0x100000
        assert "-- --" in hex_row_text(app, 0x100000)  # bytes that are gone, not old ones
        cursor_pane = str(app.query_one("#inspector-cursor", Static).render())
        assert "no longer holds this byte" in cursor_pane
        await pilot.press("pagedown", "pagedown", "up", "ctrl+end", "ctrl+home", "pageup")
        await pilot.pause()
        await pilot.press("p")  # the preview reads a frame the file no longer holds
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, PixelScreen)
        assert f"shrank on disk to {CUT:,} bytes" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        hex_view.move_cursor(0x100000)
        app.structure.change = None  # forget it was seen: the timer must see it again
        app.query_one("#banner").set_class(False, "-shown")
        app.poll_timer.resume()
        await pilot.pause(0.4)
        said = banner(app)
        assert f"shrank on disk from {old_size:,} to {CUT:,} bytes" in said
        assert "r reloads" in said
        await pilot.press("r")
        await settle(pilot)
        assert app.structure.index.size == CUT
        assert banner(app) == ""
        assert hex_view.cursor == CUT - 1  # where it was, as near as the file now reaches
        assert f"file {CUT:,} bytes" in status_text(app)

    run_app(DcmViewApp(str(path)), body)


def test_validation_stopped_by_a_change_and_reload_of_a_removed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = image_file(tmp_path / "img.dcm")

    def changed(index: object) -> None:
        raise SourceChanged(0, "the file changed while being read", str(path))

    # The app imports the validator when it first validates.
    monkeypatch.setattr(engine, "validate_index", changed)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        assert not app.busy and "could not validate" in status_text(app)
        assert app.findings_panel.border_subtitle == "validation stopped"
        path.unlink()
        app._poll_file()
        await pilot.pause()
        assert "removed from disk" in banner(app)
        await pilot.press("r")
        await settle(pilot)
        # Nothing to reload: said, and the old view stays.
        assert "could not reload" in status_text(app)
        assert app.structure is not None and app.structure.index.size > CUT
        await pilot.press("down")
        await pilot.pause()
        # The file as it was opened stays, and is not said to be validating for ever.
        assert "(validating)" not in status_text(app)

    run_app(DcmViewApp(str(path)), body)


# -- strings from the file and its name ---------------------------------------------------------

TITLE = "\x1b]0;HACKED\x07"
MARKUP = "[bold red]EVIL[/bold red]"


def hostile_file(tmp_path: Path) -> Path:
    """A transfer syntax UID that retitles the terminal, values with markup and escapes, a VR
    of ESC c (which resets a terminal), under a name with ESC and a newline."""
    data = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"),
            E("SOPInstanceUID", "UI", "1.2.3\x1b[2J"),
            E("PatientName", "PN", MARKUP + "\x1b[31m^X"),
            E("PatientID", "LO", "[link=http://example.invalid]x[/link]"),
            E("StudyDescription", "LO", "[/]\x07\x9b31m"),
            Raw(b"\x11\x00\x10\x00\x1bc\x02\x00AB"),
        ],
        transfer_syntax="1.2.840.10008.1.2.1" + TITLE,
    )
    path = tmp_path / "evil\x1b]0;NAME\x07\nname.dcm"
    path.write_bytes(data)
    return path


def rendered(app: DcmViewApp) -> list[str]:
    """Every line on screen (panes, status, banner, toasts, dialogs), from the text of the
    segments that are written to the terminal."""
    return [
        "".join(seg.text for seg in strip._segments)
        for strip in app.screen._compositor.render_strips()
    ]


def test_file_strings_reach_the_screen_escaped_and_never_as_markup(tmp_path: Path) -> None:
    path = hostile_file(tmp_path)
    seen: list[str] = []

    def look(app: DcmViewApp) -> None:
        lines = rendered(app)
        bad = [line for line in lines if _CONTROL.search(line)]
        assert not bad, bad
        seen.extend(lines)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp) and app.structure is not None
        assert not _CONTROL.search(app.title) and "\\x1b]0;NAME\\x07\\n" in app.title
        look(app)
        await ask(pilot, "t", "PatientName")
        look(app)
        await pilot.press("b")  # a bookmark, and its toast
        await pilot.pause()
        look(app)
        await pilot.press("B")
        await pilot.pause()
        look(app)
        await pilot.press("escape")
        # A dialog's error quotes what was pasted into it: literally (a stray [/] closing tag
        # read as markup would raise and end the app).
        await ask(pilot, "g", "[/bad][link=x]")
        look(app)
        assert "'[/bad][link=x]' is no offset" in "\n".join(rendered(app))
        await pilot.press("escape")
        for _ in range(len(app.findings)):
            await pilot.press("n")  # every finding, each with its toast
            await pilot.pause()
            look(app)
        await pilot.press("tab", "tab")  # the findings table has the focus
        await pilot.pause()
        look(app)
        app.structure.change = None
        path.unlink()
        app._poll_file()  # the banner and its toast
        await pilot.pause()
        look(app)
        await pilot.press("r")  # could not reload: the name in the status line and a toast
        await settle(pilot)
        look(app)
        assert "\\x1b]0;NAME\\x07\\nname.dcm" in status_text(app)

    run_app(DcmViewApp(str(path)), body, size=(160, 50))
    everything = "\n".join(seen)
    # Shown, and shown literally: markup would have been taken out of the text.
    assert MARKUP in everything
    assert "[link=http://example.invalid]x[/link]" in everything
    assert "1.2.840.10008.1.2.1\\x1b]0;HACKED\\x07" in everything  # a finding quotes it
    assert "\\x1bc" in everything  # the VR
