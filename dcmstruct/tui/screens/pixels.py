"""The pixel preview: one frame of native Pixel Data, or the fragment structure of
encapsulated Pixel Data. Whatever the header says wrong is listed above the picture.

The header line quotes the file (Photometric Interpretation, the transfer syntax UID): every
such string is shown with its control characters escaped, as Text (never markup)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from dcmstruct.safetext import terminal_safe
from dcmstruct.tui.literal import literal
from dcmstruct.tui.pixels import ImageInfo, fragment_table, frame_pixels, to_levels
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets.pixel_view import PixelView


class PixelScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,p", "close", "Close"),
        Binding("right,period", "frame(1)", "Next frame"),
        Binding("left,comma", "frame(-1)", "Prev frame"),
        Binding("pagedown", "frame(10)", "+10 frames", show=False),
        Binding("pageup", "frame(-10)", "-10 frames", show=False),
        Binding("home", "frame_edge(0)", "First frame", show=False),
        Binding("end", "frame_edge(1)", "Last frame", show=False),
        Binding("w", "window(1)", "Next window"),
        Binding("W", "window(-1)", "Prev window", key_display="W"),
    ]

    def __init__(self, structure: Structure, info: ImageInfo, frame: int = 0) -> None:
        super().__init__()
        self.structure = structure
        self.info = info
        self.frame = frame
        self.window = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="pixel-info")
        if self.info.encapsulated:
            with VerticalScroll(id="fragments"):
                yield Static(self._fragments())
        else:
            yield PixelView()
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self.draw)

    @property
    def frames(self) -> int:
        return max(1, self.info.frames_present)

    def draw(self) -> None:
        """Read, window and scale the current frame; say what could not be done."""
        info = self.info
        header = Text()
        header.append("Pixel Data", style="bold")
        header.append(terminal_safe(f"  {info.describe()}  {info.ts_name}"))
        notes: list[str] = list(info.problems)
        if not info.encapsulated:
            window = info.windows[self.window % len(info.windows)]
            header.append(f"\nframe {self.frame + 1} of {info.frames}")
            if not info.colour:
                header.append(terminal_safe(f"  │  {window.name}"))
                if info.slope != 1 or info.intercept != 0:
                    header.append(f"  │  rescale x{info.slope:g} {info.intercept:+g}")
            header.append("  │  ←/→ frame, w window, Esc back", style="dim")
            view = self.query_one(PixelView)
            try:
                img = frame_pixels(self.structure, info, self.frame)
                levels = None if img is None else to_levels(img, info, window)
                if levels is None:
                    notes.append("nothing to show: no pixel can be read")
                view.image = levels
            except Exception as exc:  # a broken file must not close the viewer
                notes.append(f"could not draw the frame: {type(exc).__name__}: {exc}")
                view.image = None
            readable = self.structure.streams[info.stream].readable
            if readable < info.value_offset + info.available:
                notes.append(
                    f"the file shrank on disk to {readable:,} bytes: the pixels past that "
                    "are not shown (r on the main screen reloads it)"
                )
        for note in notes:
            header.append("\n")
            header.append(terminal_safe(f"⚠ {note}"), style="bold")
        self.query_one("#pixel-info", Static).update(header)

    def _fragments(self) -> Table | Text:
        try:
            table = fragment_table(self.structure, self.info)
        except Exception as exc:  # as above
            return literal(f"could not read the fragments: {type(exc).__name__}: {exc}")
        # A string title or cell would be read as markup by the table.
        title = Text("\n").join(literal(line) for line in table.summary)
        out = Table(box=None, padding=(0, 2), title=title, title_justify="left")
        for name in ("frame", "fragment", "offset", "bytes"):
            out.add_column(name, justify="right")
        for line in table.lines:
            out.add_row(*(literal(cell) for cell in line))
        return out

    def action_frame(self, delta: int) -> None:
        if self.info.encapsulated:
            return
        self.frame = max(0, min(self.frames - 1, self.frame + delta))
        self.draw()

    def action_frame_edge(self, end: int) -> None:
        self.action_frame(self.frames if end else -self.frames)

    def action_window(self, delta: int) -> None:
        self.window = (self.window + delta) % len(self.info.windows)
        self.draw()

    def action_close(self) -> None:
        self.dismiss(None)
