"""``dcmstruct view A B``: two files side by side, driven through Textual's Pilot.

The pairs are built here with :mod:`dcmstruct.builder` (as in tests/test_pairing.py); the
offsets the panes must reach are found in the bytes built (where a tag is written). The
snapshot is kept in ``tests/snapshots/test_compare/`` (``pytest --snapshot-update``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot

from dcmstruct import cli
from dcmstruct.builder import E, Item, Seq, part10
from dcmstruct.exitcode import ExitCode
from dcmstruct.pairing import A, B
from dcmstruct.tui import compare as compare_module
from dcmstruct.tui.compare import CompareApp, PaneHexView

CT = "1.2.840.10008.5.1.4.1.1.2"
Body = Callable[[Pilot[Any]], Awaitable[None]]


def _dataset(
    *,
    description: str = "HEAD",
    name: str = "DOE^JOHN",
    pixels: bytes = bytes(range(16)),
    extra: tuple[E, ...] = (),
    drop: tuple[str, ...] = (),
) -> list[E]:
    refs = Seq([Item([E("0008,1150", "UI", CT), E("0008,1155", "UI", "1.2.3.4.5.6")])])
    elements = [
        E("0008,0016", "UI", CT),
        E("0008,0018", "UI", "1.2.3.4"),
        E("0008,1030", "LO", description),
        E("0008,1140", "SQ", refs),
        E("0010,0010", "PN", name),
        E("0018,0050", "DS", "1.25"),
        E("0020,0013", "IS", "7"),
        E("0028,0010", "US", 2),
        E("7FE0,0010", "OW", pixels),
        *extra,
    ]
    elements = [e for e in elements if e.tag not in drop]
    return sorted(elements, key=lambda e: e.tag_int)


def _at(data: bytes, group: int, element: int) -> int:
    """Where the element with this tag is written (explicit VR little endian)."""
    return data.index(group.to_bytes(2, "little") + element.to_bytes(2, "little"), 132)


def _pair(tmp_path: Path, a: bytes, b: bytes) -> tuple[str, str]:
    pa, pb = tmp_path / "a.dcm", tmp_path / "b.dcm"
    pa.write_bytes(a)
    pb.write_bytes(b)
    return str(pa), str(pb)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for both files to be opened and compared, and the screen to catch up."""
    app = pilot.app
    assert isinstance(app, CompareApp)
    for _ in range(200):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not app.busy:
            break
    await pilot.pause()


def drive(app: CompareApp, body: Body, size: tuple[int, int] = (120, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await body(pilot)

    asyncio.run(main())


def screen_text(app: App[Any]) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def text_of(app: App[Any], selector: str) -> str:
    return str(app.query_one(selector).render())


def test_the_pane_moved_leads_and_the_other_follows_by_path(tmp_path: Path) -> None:
    # B has an element more before (0008,1030), and another value there.
    a = part10(_dataset())
    b = part10(_dataset(description="CHEST WALL", extra=(E("0008,0060", "CS", "CT"),)))
    tag_a, tag_b = _at(a, 0x0008, 0x1030), _at(b, 0x0008, 0x1030)
    added_b = _at(b, 0x0008, 0x0060)
    assert tag_b == tag_a + 10 and b[tag_b + 8 : tag_b + 18] == b"CHEST WALL"

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CompareApp)
        pa, pb = app.pane(A), app.pane(B)
        assert app.focused is pa
        pa.move_cursor(tag_a - 1)
        await pilot.press("right")  # onto (0008,1030) in A
        await pilot.pause()
        assert (pa.cursor, pb.cursor) == (tag_a, tag_b)
        assert "0008,1030 StudyDescription LO  value" in text_of(app, "#where-b")
        # (0008,0060), only in B, comes first: it is written before (0008,1030).
        assert "difference 2 of 2: value 0008,1030" in text_of(app, "#status")
        pa.move_cursor(tag_a + 10)
        await pilot.press("right")  # onto the value's fourth byte
        await pilot.pause()
        assert (pa.cursor, pb.cursor) == (tag_a + 11, tag_b + 11)
        # From B (tab gives it the focus), A follows.
        await pilot.press("tab", "left")
        await pilot.pause()
        assert app.focused is pb
        assert (pa.cursor, pb.cursor) == (tag_a + 10, tag_b + 10)
        # An element A lacks: A stays where it is, and says so.
        pb.move_cursor(added_b, notify=True)
        await pilot.pause()
        assert (pa.cursor, pb.cursor) == (tag_a + 10, added_b)
        assert "0008,0060: not in A" in text_of(app, "#where-a")
        assert "added" in text_of(app, "#where-b")

    drive(CompareApp(*_pair(tmp_path, a, b)), body)


def test_n_and_shift_n_visit_the_differences_in_both_panes(tmp_path: Path) -> None:
    a = part10(_dataset())
    b = part10(
        _dataset(description="CHEST", extra=(E("0020,0011", "IS", "3"),), drop=("0028,0010",))
    )
    value_a, value_b = _at(a, 0x0008, 0x1030), _at(b, 0x0008, 0x1030)
    added_b, removed_a = _at(b, 0x0020, 0x0011), _at(a, 0x0028, 0x0010)

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CompareApp)
        pa, pb = app.pane(A), app.pane(B)

        async def press(key: str) -> tuple[int, int]:
            await pilot.press(key)
            await pilot.pause()
            return pa.cursor, pb.cursor

        assert await press("n") == (value_a, value_b)
        assert "difference 1 of 3: value 0008,1030" in text_of(app, "#status")
        assert f"A {value_a:#x}  B {value_b:#x}" in text_of(app, "#status")
        # Added in B: A goes to where it would be (before 0020,0013, A's next element), and
        # says it lacks it; removed from B: B goes to where it would be (before 7FE0,0010).
        would_a, would_b = _at(a, 0x0020, 0x0013), _at(b, 0x7FE0, 0x0010)
        assert await press("n") == (would_a, added_b)
        assert "difference 2 of 3: added 0020,0011" in text_of(app, "#status")
        assert "0020,0011: not in A (it would be here)" in text_of(app, "#where-a")
        assert await press("n") == (removed_a, would_b)
        assert "0028,0010: not in B (it would be here)" in text_of(app, "#where-b")
        assert await press("N") == (would_a, added_b)
        assert "difference 2 of 3" in text_of(app, "#status")
        assert await press("N") == (value_a, value_b)
        assert await press("N") == (removed_a, would_b)  # around: the last one
        assert "difference 3 of 3" in text_of(app, "#status")

    drive(CompareApp(*_pair(tmp_path, a, b)), body)


def test_n_on_a_long_value_goes_to_its_first_differing_byte(tmp_path: Path) -> None:
    pixels = bytes(range(256)) * 16
    a = part10(_dataset(pixels=pixels))
    b = part10(_dataset(pixels=pixels[:3000] + b"\xff" + pixels[3001:]))
    value_a, value_b = _at(a, 0x7FE0, 0x0010) + 12, _at(b, 0x7FE0, 0x0010) + 12  # OW: long form

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CompareApp)
        await pilot.press("n")
        await settle(pilot)
        assert (app.pane(A).cursor, app.pane(B).cursor) == (value_a + 3000, value_b + 3000)
        assert "from value byte 0xbb8 on" in text_of(app, "#status")

    drive(CompareApp(*_pair(tmp_path, a, b)), body)


def test_mask_hides_the_values_of_both_files(tmp_path: Path) -> None:
    a = part10(_dataset(name="DOE^JOHN"))
    b = part10(_dataset(name="ROE^JANE"))
    names = {"DOE^JOHN", "ROE^JANE"}

    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CompareApp)
        await pilot.press("n")  # to (0010,0010), the one difference
        await pilot.pause()
        assert "value 0010,0010 PatientName" in text_of(app, "#status")
        assert "MASKED" in text_of(app, "#status")
        text = screen_text(app)
        assert not {n for n in names if n in text}
        for side in (A, B):
            pane = app.pane(side)
            assert "**" in pane._row(pane.cursor // pane.bytes_per_row + 1).text
        # m shows them (which is how this test knows it would see them).
        await pilot.press("m")
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        pane = app.pane(A)
        rows = "".join(pane._row(pane.cursor // pane.bytes_per_row + k).text for k in (0, 1, 2))
        assert "DOE^" in rows and "MASKED" not in text_of(app, "#status")

    drive(CompareApp(*_pair(tmp_path, a, b), mask=True), body)


def _main(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(list(argv))
    return code, err.getvalue()


def test_a_bad_second_file_is_a_usage_error(tmp_path: Path) -> None:
    pa, _ = _pair(tmp_path, part10(_dataset()), b"")
    code, said = _main("view", pa, str(tmp_path / "missing.dcm"))
    assert code == ExitCode.USAGE and "missing.dcm" in said and "Traceback" not in said
    code, said = _main("view", pa, str(tmp_path))
    assert code == ExitCode.USAGE and "directory" in said.lower()
    code, said = _main("view", pa, pa, "--workspace", str(tmp_path / "w.json"))
    assert code == ExitCode.USAGE and "--workspace" in said


def test_a_file_that_cannot_be_indexed_closes_the_viewer_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pa, pb = _pair(tmp_path, part10(_dataset()), part10(_dataset()))
    real = compare_module.index_file

    def index_file(path: str, **limits: Any) -> Any:
        if path == pb:
            raise PermissionError(13, "Permission denied", path)
        return real(path, **limits)

    monkeypatch.setattr(compare_module, "index_file", index_file)

    def headless(self: CompareApp) -> int | None:
        return App.run(self, headless=True, size=(80, 24))

    monkeypatch.setattr(CompareApp, "run", headless)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = compare_module.run(pa, pb)
    assert code == ExitCode.USAGE
    assert err.getvalue() == f"dcmstruct view: {pb}: Permission denied\n"


def test_view_with_one_file_is_the_single_file_viewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dcmstruct.tui import app as app_module

    pa, _ = _pair(tmp_path, part10(_dataset()), b"")
    seen: list[object] = []
    monkeypatch.setattr(app_module, "run", lambda path, **kw: seen.append(path) or 0)
    monkeypatch.setattr(compare_module, "run", lambda *a, **kw: seen.append("compare") or 0)
    assert _main("view", pa) == (0, "")
    assert seen == [pa]


# -- snapshot ---------------------------------------------------------------------------------


@pytest.fixture
def snap(snapshot: Any) -> Callable[..., bool]:
    """``snap_compare`` of pytest-textual-snapshot, with the file in tests/snapshots/."""
    from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
    from textual._doc import take_svg_screenshot

    class InSnapshotsDir(SVGImageExtension):  # type: ignore[misc]
        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)

    assertion = snapshot.use_extension(InSnapshotsDir)

    def compare(app: CompareApp, press: tuple[str, ...] = ()) -> bool:
        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press(*press)
            await pilot.pause()
            app.clear_notifications()
            await pilot.pause()

        svg = take_svg_screenshot(app=app, terminal_size=(120, 40), run_before=run_before)
        return bool(assertion == svg)

    return compare


def test_snapshot_side_by_side(tmp_path: Path, snap: Callable[..., bool]) -> None:
    """A value changed (0008,1030) and an element added in B (0020,0011), after n: both panes
    on the changed value, tinted; the added element tinted in B; the list and the legend."""
    a = part10(_dataset())
    b = part10(_dataset(description="CHEST", extra=(E("0020,0011", "IS", "3"),)))
    pa, pb = _pair(tmp_path, a, b)
    assert PaneHexView is not None
    assert snap(CompareApp(pa, pb), press=("n",))
