"""Fixtures shared by the TUI test modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dcmstruct.tui.app import DcmViewApp

from .test_tui import settle


@pytest.fixture
def snap(snapshot: Any) -> Callable[..., bool]:
    """``snap_compare`` of pytest-textual-snapshot, with the files in tests/snapshots/test_tui/
    (pytest-textual-snapshot has no option for the directory)."""
    from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
    from textual._doc import take_svg_screenshot

    class InSnapshotsDir(SVGImageExtension):  # type: ignore[misc]
        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)

    assertion = snapshot.use_extension(InSnapshotsDir)

    def compare(
        app: DcmViewApp,
        press: tuple[str, ...] = (),
        terminal_size: tuple[int, int] = (120, 40),
    ) -> bool:
        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            if press:
                await pilot.press(*press)
                await pilot.pause()
            app.clear_notifications()  # toasts time out: keep them out of the picture
            await pilot.pause()

        svg = take_svg_screenshot(app=app, terminal_size=terminal_size, run_before=run_before)
        return bool(assertion == svg)

    return compare
