"""The fragments of encapsulated Pixel Data, one row each, drawn line by line: only the rows on
screen are made (:meth:`FragmentTable.row`), so a list of 100,000 fragments opens as fast as
one of ten, and every fragment is reachable.

Moving the cursor posts :class:`FragmentHighlighted` (the screen shows that fragment's
codestream and frame); Enter posts :class:`FragmentChosen` (the screen jumps to it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dcmstruct.tui.pixels import FragmentTable

_WIDTHS = (8, 6, 6, 12, 12)  # fragment, frame, part, offset, bytes: right-aligned


@dataclass
class FragmentHighlighted(Message):
    position: int


@dataclass
class FragmentChosen(Message):
    position: int


class FragmentList(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "choose", "Go to fragment"),
        # Left and right go to frames (the screen's keys), not sideways in the list.
        Binding("left", "screen.frame(-1)", "Prev frame", show=False),
        Binding("right", "screen.frame(1)", "Next frame", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"fragment-list--header", "fragment-list--cursor"}
    DEFAULT_CSS = """
    FragmentList { width: 52; height: 1fr; overflow-x: hidden; }
    FragmentList > .fragment-list--header { text-style: bold; }
    FragmentList > .fragment-list--cursor { background: $accent; color: $text; }
    """

    def __init__(self, table: FragmentTable, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = table
        self.cursor = 0
        self.virtual_size = Size(sum(_WIDTHS) + len(_WIDTHS), len(table) + 1)

    @staticmethod
    def _line(cells: tuple[str, ...]) -> str:
        return " ".join(c.rjust(w) for c, w in zip(cells, _WIDTHS, strict=True))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:  # the header stays put
            style = base + self.get_component_rich_style("fragment-list--header")
            text = self._line(FragmentTable.COLUMNS)
        else:
            k = y - 1 + scroll_y
            if k >= len(self.table):
                return Strip.blank(width, base)
            style = base
            if k == self.cursor:
                style = base + self.get_component_rich_style("fragment-list--cursor")
            text = self._line(self.table.row(k))
        text = text[scroll_x : scroll_x + width].ljust(width)
        return Strip([Segment(text, style)], width)

    @property
    def _page(self) -> int:
        return max(1, self.size.height - 1)

    def move_to(self, k: int, *, post: bool = True) -> None:
        """Put the cursor on fragment ``k`` and scroll it into view."""
        if not len(self.table):
            return
        k = max(0, min(len(self.table) - 1, k))
        changed = k != self.cursor
        self.cursor = k
        top = int(self.scroll_offset.y)
        if k < top:
            self.scroll_to(y=k, animate=False)
        elif k >= top + self._page:
            self.scroll_to(y=k - self._page + 1, animate=False)
        self.refresh()
        if post and changed:
            self.post_message(FragmentHighlighted(k))

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self._page)

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.table) - 1 if end else 0)

    def action_choose(self) -> None:
        if len(self.table):
            self.post_message(FragmentChosen(self.cursor))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_to(int(self.scroll_offset.y) + event.y - 1)
        if event.chain >= 2:
            self.action_choose()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.refresh()
