"""The pixel preview: one frame of native Pixel Data, or encapsulated Pixel Data as its
fragments (every one listed, drawn on demand, each with its frame), the marker segments of the
selected fragment, and its frame decoded when the ``codecs`` extra is installed (in a worker
thread). Whatever the header says wrong is listed above the picture. Enter on a fragment
closes the preview and puts the hex cursor on the fragment's item.

The header line quotes the file (Photometric Interpretation, the transfer syntax UID): every
such string is shown with its control characters escaped, as Text (never markup)."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from dcmstruct.safetext import terminal_safe
from dcmstruct.tui.compressed import Decoded, decoded_frame, describe, fragment_scan
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import JumpRequested
from dcmstruct.tui.pictures import Picture, picture_view
from dcmstruct.tui.pixels import (
    F64,
    FragmentTable,
    ImageInfo,
    Window,
    fragment_table,
    frame_pixels,
    to_levels,
)
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets.fragment_list import FragmentChosen, FragmentHighlighted, FragmentList
from dcmstruct.tui.widgets.pixel_view import PixelView

_FRAME_ACTIONS = ("frame", "frame_edge")


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
    DEFAULT_CSS = """
    PixelScreen #encapsulated { height: 1fr; }
    PixelScreen #fragment-side { width: 1fr; }
    PixelScreen #codestream { height: auto; max-height: 45%; }
    PixelScreen #preview-note { height: auto; }
    """

    def __init__(self, structure: Structure, info: ImageInfo, frame: int = 0) -> None:
        super().__init__()
        self.structure = structure
        self.info = info
        self.frame = frame
        self.window = 0
        self.table: FragmentTable | None = None
        self._table_error = ""
        self._decoded: F64 | None = None  # the frame shown, decoded
        self._decode_note = ""
        if info.encapsulated:
            try:
                self.table = fragment_table(structure, info)
            except Exception as exc:  # a broken file must not close the viewer
                self._table_error = f"could not read the fragments: {type(exc).__name__}: {exc}"

    def compose(self) -> ComposeResult:
        yield Static("", id="pixel-info")
        if self.table is not None:
            with Horizontal(id="encapsulated"):
                yield FragmentList(self.table, id="fragments")
                with Vertical(id="fragment-side"):
                    with VerticalScroll(id="codestream"):
                        yield Static("", id="codestream-text")
                    yield Static("", id="preview-note")
                    yield picture_view(id="picture")
        elif not self.info.encapsulated:
            yield picture_view(id="picture")
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        if table is not None and len(table):
            fragments = self.query_one(FragmentList)
            fragments.focus()
            # The frame asked for (a restored workspace's), else the first.
            frame = self.frame if 0 <= self.frame < table.frames else 0
            first = table.fragments_of(frame)[0] if table.frames else 0
            self.frame = frame
            if first:
                fragments.move_to(first)
            self._show_fragment(first)
            self._decode(frame)
        self.call_after_refresh(self.draw)

    @property
    def frames(self) -> int:
        if self.table is not None:
            return self.table.frames
        return 0 if self.info.encapsulated else max(1, self.info.frames_present)

    @property
    def _grey_shown(self) -> bool:
        """A grey image is on screen: the window keys do something."""
        if self.info.encapsulated:
            return self._decoded is not None and self._decoded.ndim == 2
        return not self.info.colour

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers only the keys that work here: frame keys with more than one
        frame to go to, window keys with a grey image on screen."""
        if action in _FRAME_ACTIONS:
            return self.frames > 1
        if action == "window":
            return self._grey_shown
        return True

    def draw(self) -> None:
        """Read, window and scale the current frame; say what could not be done."""
        info = self.info
        header = Text()
        header.append("Pixel Data", style="bold")
        header.append(terminal_safe(f"  {info.describe()}  {info.ts_name}"))
        notes: list[str] = list(info.problems)
        window = info.windows[self.window % len(info.windows)]
        if info.encapsulated:
            self._draw_encapsulated(header, window, notes)
        else:
            header.append(f"\nframe {self.frame + 1} of {info.frames}")
            self._window_text(header, window)
            header.append("  │  ←/→ frame, w window, Esc back", style="dim")
            view = self._view()
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
        self.refresh_bindings()

    def _view(self) -> PixelView | Picture:
        view = self.query_one("#picture")
        assert isinstance(view, PixelView | Picture)
        return view

    def _window_text(self, header: Text, window: Window) -> None:
        info = self.info
        if self._grey_shown:
            header.append(terminal_safe(f"  │  {window.name}"))
            if info.slope != 1 or info.intercept != 0:
                header.append(f"  │  rescale x{info.slope:g} {info.intercept:+g}")

    def _draw_encapsulated(self, header: Text, window: Window, notes: list[str]) -> None:
        table = self.table
        if table is None:
            notes.append(self._table_error or "no fragments")
            return
        for line in table.summary:
            header.append("\n")
            header.append(literal(line))
        if self.frames:
            header.append(f"\nframe {self.frame + 1} of {self.frames}")
        self._window_text(header, window)
        header.append("  │  ←/→ frame, Enter go to fragment, Esc back", style="dim")
        view = self._view()
        levels = None
        if self._decoded is not None:
            try:
                levels = to_levels(self._decoded, self.info, window)
            except Exception as exc:  # as above
                self._decode_note = f"could not draw the frame: {type(exc).__name__}: {exc}"
        view.image = levels
        self.query_one("#preview-note", Static).update(literal(self._decode_note))

    def _show_fragment(self, k: int) -> None:
        """The marker segments of fragment ``k``."""
        assert self.table is not None
        try:
            lines = describe(fragment_scan(self.table, k))
        except Exception as exc:  # the scan never raises; the read may, on a vanished file
            lines = [f"could not read fragment {k + 1}: {type(exc).__name__}: {exc}"]
        title = f"fragment {k + 1:,} of {len(self.table):,}"
        text = Text(title, style="bold")
        for line in lines:
            text.append("\n")
            text.append(literal(line))
        self.query_one("#codestream-text", Static).update(text)

    def _decode(self, frame: int) -> None:
        """Decode frame ``frame`` in a worker thread (the newest request wins)."""
        if self.table is None:
            return
        self._decode_note = f"decoding frame {frame + 1} ..." if self.table.frames else ""
        if not self.table.frames:
            self._decode_note = "which fragments make which frame cannot be told: no preview"
            return
        work = partial(decoded_frame, self.table, frame)
        self.run_worker(work, thread=True, exclusive=True, group="decode", name=str(frame))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "decode" or event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if not isinstance(result, Decoded) or worker.name != str(self.frame):
            return  # a frame the user has left already
        self._decoded = result.pixels
        self._decode_note = result.message
        self._check_size(result)
        self.draw()

    def _check_size(self, result: Decoded) -> None:
        img = result.pixels
        if img is None:
            return
        rows, columns = img.shape[:2]
        if (rows, columns) != (self.info.rows, self.info.columns):
            self._decode_note = (
                f"the frame decodes to {columns}x{rows}; Columns x Rows say "
                f"{self.info.columns}x{self.info.rows}"
            )

    def on_fragment_highlighted(self, message: FragmentHighlighted) -> None:
        message.stop()
        assert self.table is not None
        self._show_fragment(message.position)
        frame = self.table.frame_of(message.position)
        if frame is not None and frame != self.frame:
            self.frame = frame
            self._decoded = None
            self._decode(frame)
            self.draw()

    def on_fragment_chosen(self, message: FragmentChosen) -> None:
        message.stop()
        assert self.table is not None
        offset = self.table.offset(message.position)
        self.dismiss(None)
        self.app.post_message(JumpRequested(self.info.stream, offset))

    def action_frame(self, delta: int) -> None:
        if self.frames <= 1:
            return
        frame = max(0, min(self.frames - 1, self.frame + delta))
        if self.table is not None:
            # The list follows: its cursor on the frame's first fragment decodes the frame.
            self.query_one(FragmentList).move_to(self.table.fragments_of(frame)[0])
            return
        self.frame = frame
        self.draw()

    def action_frame_edge(self, end: int) -> None:
        self.action_frame(self.frames if end else -self.frames)

    def action_window(self, delta: int) -> None:
        self.window = (self.window + delta) % len(self.info.windows)
        self.draw()

    def action_close(self) -> None:
        self.dismiss(None)
