"""Saved workspaces (issue 11, item 6): what is written, what comes back on the next open,
and what happens when the workspace or the file is not what it was."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dcmstruct import cli
from dcmstruct.model import Stream
from dcmstruct.tui import workspace as ws
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.screens.bookmarks import BookmarksScreen
from dcmstruct.tui.screens.pixels import PixelScreen
from dcmstruct.tui.screens.prompt import PromptScreen

from .test_tui import SAMPLE, settle

NAME_AT = 0x5A2  # (0010,0010) in the sample


def _open(path: Path, where: Path, body: Any, *, mask: bool = False) -> DcmViewApp:
    app = DcmViewApp(str(path), validate=False, workspace=where, mask=mask)

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await body(pilot)

    asyncio.run(main())
    return app


def _said(app: DcmViewApp) -> list[str]:
    return [n.message for n in app._notifications]


def test_a_workspace_comes_back_on_the_next_open(tmp_path: Path) -> None:
    sample = tmp_path / "ct.dcm"
    shutil.copy(SAMPLE, sample)
    where = tmp_path / "ws" / "ct.json"

    async def first(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        app._goto(Stream.FILE, NAME_AT, reveal=True)
        await pilot.press("b", "B")
        await pilot.pause()
        assert isinstance(app.screen, BookmarksScreen)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"the name", "enter", "escape")  # typing replaces the old name
        await pilot.pause()
        app._goto(Stream.FILE, 0x100, reveal=True)
        await pilot.press("w", "tab")  # 32 bytes a row; focus to the next pane
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PixelScreen)
        await app.action_quit()

    _open(sample, where, first)
    saved = json.loads(where.read_text())
    assert saved["cursor"] == 0x100 and saved["stream"] == int(Stream.FILE)
    assert saved["bookmarks"] == [{"stream": 0, "offset": NAME_AT, "name": "the name"}]
    assert saved["pixels"] is True and saved["mask"] is False
    assert saved["size"] == sample.stat().st_size
    assert oct(where.stat().st_mode & 0o777) == "0o600"
    # No value of the file is in it: the sample's patient name is not.
    assert b"PHANTOM" not in where.read_bytes()

    async def second(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        assert isinstance(app.screen, PixelScreen)  # the preview is open again
        assert app.hex.cursor == 0x100
        assert app.bookmarks == {(Stream.FILE, NAME_AT): "the name"}
        assert app.hex.bytes_per_row == saved["bytes_per_row"]
        assert app.screen_stack[0].focused is not None
        assert app.screen_stack[0].focused.id == saved["focus"]

    app = _open(sample, where, second)
    assert any(m.startswith("workspace restored: cursor 0x100, 1 bookmark") for m in _said(app))


def test_a_masked_workspace_stays_masked(tmp_path: Path) -> None:
    where = tmp_path / "ws.json"

    async def quit_masked(pilot: Pilot[Any]) -> None:
        await pilot.app.action_quit()

    _open(Path(SAMPLE), where, quit_masked, mask=True)
    assert json.loads(where.read_text())["mask"] is True

    async def check(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        assert app.structure is not None and app.structure.masking

    _open(Path(SAMPLE), where, check, mask=False)


def test_a_changed_file_restores_what_still_fits(tmp_path: Path) -> None:
    sample = tmp_path / "ct.dcm"
    data = Path(SAMPLE).read_bytes()
    sample.write_bytes(data)
    saved = ws.new(str(sample))
    saved.cursor = 0x200
    saved.bookmarks = [ws.Bookmark(0, 0x10, "near"), ws.Bookmark(0, len(data) + 5, "past")]
    where = tmp_path / "ws.json"
    ws.save(saved, where)
    sample.write_bytes(data[:-2] + b"\x01\x02")  # same size, other bytes
    assert not saved.fits(str(sample))

    async def check(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        assert app.bookmarks == {(Stream.FILE, 0x10): "near"}
        assert app.hex.cursor == 0x200

    app = _open(sample, where, check)
    assert any("the file changed since it was saved" in m for m in _said(app))


@pytest.mark.parametrize(
    "content, why",
    [
        (b"not json", "no workspace"),
        (b'{"version": 2}', "no workspace"),
        (b'{"version": 1, "size": 1, "cursor": -4}', "cursor"),
        (b'{"version": 1, "size": 1, "bookmarks": [{"stream": 9, "offset": 1}]}', "stream"),
        (b'{"version": 1, "size": 1, "bookmarks": "x"}', "bookmarks"),
        (b"[" * 2_000_000, "too big"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),  # RecursionError in json
    ],
)
def test_a_broken_workspace_is_refused_with_a_reason(
    tmp_path: Path, content: bytes, why: str
) -> None:
    where = tmp_path / "ws.json"
    where.write_bytes(content)
    with pytest.raises(ValueError, match=why):
        ws.load(where)


def test_a_broken_workspace_does_not_stop_the_viewer(tmp_path: Path) -> None:
    where = tmp_path / "ws.json"
    where.write_bytes(b"\xff\xfe garbage")

    async def check(pilot: Pilot[Any]) -> None:
        assert pilot.app.query_one("#hex").has_focus

    app = _open(Path(SAMPLE), where, check)
    assert any(m.startswith("workspace not restored:") for m in _said(app))


def test_where_workspaces_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    target = tmp_path / "a.dcm"
    target.write_bytes(b"x")
    link = tmp_path / "link.dcm"
    link.symlink_to(target)
    monkeypatch.chdir(tmp_path)
    one = ws.default_location("a.dcm")
    assert one.parent == tmp_path / "data" / "dcmstruct" / "workspaces"
    # The same file by another name shares its workspace.
    assert ws.default_location(str(link)) == one == ws.default_location(str(target))
    assert ws.load(one) is None
    assert ws.fingerprint(str(target))[0] == 1


def test_the_command_line_chooses_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    seen: list[Path | None] = []

    def fake_run(self: DcmViewApp) -> int:
        seen.append(self.workspace_at)
        return 0

    monkeypatch.setattr(DcmViewApp, "run", fake_run)
    assert cli.main(["view", SAMPLE]) == 0
    assert cli.main(["view", SAMPLE, "--no-workspace"]) == 0
    assert cli.main(["view", SAMPLE, "--workspace", str(tmp_path / "mine.json")]) == 0
    assert seen == [ws.default_location(SAMPLE), None, tmp_path / "mine.json"]
    assert str(seen[0]).startswith(os.fspath(tmp_path))


def test_the_frame_of_encapsulated_pixel_data_comes_back(tmp_path: Path) -> None:
    """The preview of encapsulated data started at frame 1 whatever was asked (a review)."""
    from .test_selection import _encapsulated

    path = tmp_path / "two_frames.dcm"
    path.write_bytes(_encapsulated())
    saved = ws.new(str(path))
    saved.pixels, saved.frame = True, 1
    where = tmp_path / "ws.json"
    ws.save(saved, where)

    async def check(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, PixelScreen)
        assert screen.frame == 1

    _open(path, where, check)


def test_a_restored_cursor_far_down_is_on_screen(tmp_path: Path) -> None:
    """The restore ran before the hex pane was laid out, so its scroll was lost: the toast
    said the cursor was at 0x1d4c0 while the pane showed the first rows (a review)."""
    saved = ws.new(SAMPLE)
    saved.cursor = 0x1D4C0
    where = tmp_path / "ws.json"
    ws.save(saved, where)

    async def check(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        await pilot.pause()
        assert app.hex.cursor == 0x1D4C0
        assert app.hex.is_visible(0x1D4C0), app.hex.scroll_offset

    _open(Path(SAMPLE), where, check)
