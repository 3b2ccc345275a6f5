"""The viewer's saved workspace (:mod:`dcmstruct.tui.workspace`): restored once the file is
first indexed, saved when the viewer quits."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widget import Widget

from dcmstruct.model import Stream
from dcmstruct.tui import workspace as ws
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets.hex_view import HexView

Position = tuple[Stream, int]


class WorkspaceKeeper(App[int]):
    """Mixed into the viewer's app, which provides what is declared here."""

    path: str
    structure: Structure | None
    bookmarks: dict[Position, str]
    _user_width: int | None
    workspace_at: Path | None = None  # None: no workspace is read or written
    exit_message = ""  # said on stderr once the screen is gone
    _restored = False

    @property
    def hex(self) -> HexView:
        raise NotImplementedError

    def _fit_width(self, columns: int) -> None:
        raise NotImplementedError

    def _goto(self, stream: Stream, offset: int, *, reveal: bool) -> None:
        raise NotImplementedError

    def _show_bookmarks(self) -> None:
        raise NotImplementedError

    def action_mask(self) -> None:
        raise NotImplementedError

    def open_pixels(self, frame: int) -> None:
        raise NotImplementedError

    def pixel_frame(self) -> int | None:
        """The frame the pixel preview shows (None: it is not open)."""
        raise NotImplementedError

    # -- restore ----------------------------------------------------------------------------

    def restore_workspace(self) -> None:
        """Once, after the first index: put back what was open when the viewer last closed."""
        structure = self.structure
        if self._restored or self.workspace_at is None or structure is None:
            return
        self._restored = True
        try:
            saved = ws.load(self.workspace_at)
        except ValueError as exc:
            self.notify(f"workspace not restored: {exc}", severity="warning")
            return
        if saved is None:
            return

        def there(stream: int, offset: int) -> bool:
            sm = structure.streams.get(Stream(stream))
            return sm is not None and 0 <= offset < sm.size

        marks = [b for b in saved.bookmarks if there(b.stream, b.offset)]
        for b in marks:
            self.bookmarks.setdefault((Stream(b.stream), b.offset), b.name)
        self._show_bookmarks()
        if saved.mask and not structure.masking:
            self.action_mask()  # saved masked: never shown unmasked by a restore
        if saved.bytes_per_row is not None and self._user_width is None:
            self._user_width = saved.bytes_per_row
            self._fit_width(self.size.width)
        if there(saved.stream, saved.cursor):
            self._goto(Stream(saved.stream), saved.cursor, reveal=True)
        pane = self.query(f"#{saved.focus}")
        if pane:
            pane.first(Widget).focus()
        said = f"workspace restored: cursor {saved.cursor:#x}, {len(marks)} bookmark(s)"
        if not saved.fits(self.path):
            said += "; the file changed since it was saved (only what still fits)"
        self.notify(said)
        if saved.pixels and not structure.masking:
            self.open_pixels(saved.frame)

    # -- save -------------------------------------------------------------------------------

    def workspace_now(self) -> ws.Workspace | None:
        structure = self.structure
        if structure is None:
            return None
        now = ws.new(self.path)
        now.stream = int(self.hex.stream)
        now.cursor = self.hex.cursor
        now.bytes_per_row = self._user_width
        focused = self.screen_stack[0].focused
        now.focus = focused.id if focused is not None and focused.id in ws.PANES else "hex"
        frame = self.pixel_frame()
        now.pixels = frame is not None
        now.frame = frame or 0
        now.mask = structure.masking
        now.bookmarks = [ws.Bookmark(int(s), o, name) for (s, o), name in self.bookmarks.items()]
        return now

    def save_workspace(self) -> None:
        if self.workspace_at is None:
            return
        now = self.workspace_now()
        if now is None:
            return
        try:
            ws.save(now, self.workspace_at)
        except OSError as exc:
            # The viewer is closing: a toast would not be seen.
            self.exit_message = f"workspace not saved: {exc.strerror or exc}"
