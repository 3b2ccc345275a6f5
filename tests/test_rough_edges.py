"""The viewer's rough edges of issue 11, item 7, each as it was seen: each test failed before
its fix."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets._toast import Toast

from dcmstruct.index import index_file
from dcmstruct.model import Kind
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.widgets import FindingsPanel
from dcmstruct.validate.engine import validate_index

from .test_tui import RULES, SAMPLE, screen_text, settle


def _run(
    path: str,
    body: Any,
    size: tuple[int, int] = (120, 40),
    *,
    full: bool = True,
    notifications: bool = False,
) -> None:
    app = DcmViewApp(path)

    async def main() -> None:
        async with app.run_test(size=size, notifications=notifications) as pilot:
            if full:
                await settle(pilot)
            await body(pilot)

    asyncio.run(main())


def test_findings_columns_are_not_cut_to_their_headers() -> None:
    """Seen: `0x0  PREA  the pre` on 4 of 5 opens, until clicked. The table measured its
    first rows only when next idle, and lines drawn before that (with the columns as wide as
    their headers) stayed in its caches. The widths must be right as soon as the rows are
    in: here the table is filled and measured without a pause between."""
    index = index_file(str(RULES / "PREAMBLE_NONZERO.dcm"))
    findings, _ = validate_index(index)
    index.close()
    assert [f.rule for f in findings] == ["PREAMBLE_NONZERO"]

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield FindingsPanel()

    async def main() -> None:
        app = One()
        async with app.run_test(size=(100, 10)) as pilot:
            panel = app.query_one(FindingsPanel)
            panel.show(findings)
            widths = [c.get_render_width(panel) for c in panel.ordered_columns]
            padding = 2 * panel.cell_padding
            assert widths[2] >= len("PREAMBLE_NONZERO") + padding, widths
            assert widths[3] >= len(findings[0].message) + padding, widths
            await pilot.pause()
            assert "PREAMBLE_NONZERO" in screen_text(app)

    asyncio.run(main())


def test_the_find_dialogs_hint_is_read_whole_at_80_columns() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        await pilot.press("slash")
        await pilot.pause()
        text = " ".join(" ".join(screen_text(pilot.app).split()).split("█"))
        flat = " ".join(text.split())
        for part in ("value: a decoded value", "next / previous", "match."):
            assert part in flat, flat

    _run(SAMPLE, body, (80, 24))


def test_the_tree_shows_the_selection_again_after_a_resize() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        structure = app.structure
        assert structure is not None
        c = structure.index.columns
        last = max(i for i in range(len(c.kind)) if int(c.kind[i]) == Kind.ELEMENT)
        app._goto(structure.index.node(last).stream, int(c.offset[last]), reveal=True)
        await pilot.pause()
        tree = app.element_tree
        line = tree.cursor_line
        assert tree.scroll_offset.y <= line < tree.scroll_offset.y + tree.size.height
        await pilot.resize_terminal(120, 22)
        await pilot.pause()
        await pilot.pause()
        top, height = tree.scroll_offset.y, tree.scrollable_content_region.height
        assert top <= tree.cursor_line < top + height, (top, height, tree.cursor_line)

    _run(SAMPLE, body, (120, 50))


def test_toasts_do_not_pile_over_the_findings_or_the_status_line() -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DcmViewApp)
        await pilot.press("n", "n", "n", "b")
        for _ in range(5):
            await pilot.pause()
        toasts = list(app.screen.query(Toast))
        assert len(toasts) == 1, toasts
        toast = toasts[0].region
        for pane in (app.findings_panel, app.query_one("#status")):
            assert not toast.overlaps(pane.region), (toast, pane.region)

    _run(str(RULES / "VALUE_OVERRUNS_PARENT.dcm"), body, notifications=True)


def test_quitting_does_not_wait_for_a_slow_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen by a review: q during the index of a big file released the screen at once, but
    the process waited for the index to end (a worker's thread is joined at exit)."""
    gate = threading.Event()
    make = DcmViewApp._make_structure

    def slow(self: DcmViewApp) -> Any:
        gate.wait(20)  # an index that would take 20 s
        return make(self)

    monkeypatch.setattr(DcmViewApp, "_make_structure", slow)
    app = DcmViewApp(SAMPLE)

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.2)
            assert app.structure is None  # still indexing

    start = time.monotonic()
    asyncio.run(main())
    took = time.monotonic() - start
    gate.set()
    assert took < 5, took
