"""The differences pane of ``dcmstruct view A B``: one row per difference, in A's order.

Cells hold paths, keywords, offsets and diff's words for what differs, never a value (so the
pane needs nothing from the privacy mask); each is a :class:`~rich.text.Text`, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from dcmstruct import specdata
from dcmstruct.diff import Side
from dcmstruct.model import Kind, Stream
from dcmstruct.pairing import A, B, Pairing, Stop
from dcmstruct.tui.literal import literal

# n/N visit every difference; the table lists the first ones (a table of a million rows takes
# seconds to fill on the screen's thread).
MAX_ROWS = 5000


@dataclass
class DifferenceChosen(Message):
    """The user chose difference number ``position`` of the list."""

    position: int


def where(side: Side | None) -> str:
    """A side's offset as the pane shows it (``*``: in the inflated data set)."""
    if side is None:
        return "-"
    return f"{side.offset:#x}" + ("*" if side.stream == Stream.INFLATED else "")


def name_of(pairing: Pairing, stop: Stop) -> str:
    """The keyword of the difference's element, or what kind of node it is."""
    side = A if stop.nodes[A] >= 0 else B
    node = stop.nodes[side]
    kind = Kind(int(pairing.indexes[side].columns.kind[node]))
    tag = stop.difference.tag
    if kind == Kind.ELEMENT and tag is not None:
        return specdata.keyword(tag) or ""
    return "unparsed bytes" if kind == Kind.TRAILING else kind.label


class DifferencesPanel(DataTable[Text]):
    """One row per difference; Enter, a click or moving through it with the arrows posts
    :class:`DifferenceChosen`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.count = 0

    def on_mount(self) -> None:
        self.add_columns("change", "path", "name", "A", "B", "what differs")

    def show(self, pairing: Pairing) -> None:
        self.clear()
        stops = pairing.stops
        self.count = len(stops)
        rows = [
            [
                _cell(s.difference.change),
                _cell(s.difference.path),
                _cell(name_of(pairing, s)),
                _cell(where(s.difference.a)),
                _cell(where(s.difference.b)),
                _cell(s.difference.detail),
            ]
            for s in stops[:MAX_ROWS]
        ]
        self.add_rows(rows)
        if len(stops) > MAX_ROWS:
            more = f"… {len(stops) - MAX_ROWS:,} more: n/N visit them all"
            self.add_row(*(_cell(t) for t in ("", more, "", "", "", "")))

    def point_at(self, position: int) -> None:
        """Put the table's cursor on difference ``position`` (without posting anything)."""
        if 0 <= position < min(self.count, MAX_ROWS):
            self.move_cursor(row=position, animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.cursor_row < min(self.count, MAX_ROWS):
            self.post_message(DifferenceChosen(event.cursor_row))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Moving through the list follows along in both panes; the app moving the table's
        # cursor (n/N) does not, as the table has no focus then.
        event.stop()
        if self.has_focus and event.cursor_row < min(self.count, MAX_ROWS):
            self.post_message(DifferenceChosen(event.cursor_row))


def _cell(text: str) -> Text:
    cell = literal(text)
    cell.no_wrap = True
    cell.end = ""
    return cell
