"""The findings pane: what the validator (or, until it is done, the indexer) found wrong.

A message may quote the file (a transfer syntax UID, a value) and the path may hold its
bytes: every cell is a :class:`~rich.text.Text` with control characters escaped, as a string
cell would be read as markup by the table."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from dcmstruct.model import Stream
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import FindingChosen
from dcmstruct.validate.finding import Finding, Severity

# A table of a million rows would take seconds to fill on the UI thread; n/N still visit
# every finding, the table lists the first ones.
MAX_ROWS = 5000
_SEVERITY = {Severity.ERROR: "E", Severity.WARNING: "W", Severity.INFO: "I"}
_LABELS = ("", "offset", "rule", "message", "element")


class FindingsPanel(DataTable[Text | str]):
    """One row per finding, in byte order; Enter or a click posts :class:`FindingChosen`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | {
        "findings--error",
        "findings--warning",
        "findings--info",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.findings: list[Finding] = []

    def on_mount(self) -> None:
        self._columns([len(label) for label in _LABELS])

    def _columns(self, widths: list[int]) -> None:
        # Widths given, not measured by the table: it measures new rows when it is next idle,
        # and a table filled twice in quick succession (the indexer's faults, then the
        # validator's findings) was drawn in between with its columns cut to the headers'
        # widths, and stayed so until clicked (issue 11).
        for label, width in zip(_LABELS, widths, strict=True):
            self.add_column(label, width=width)

    def show(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.clear(columns=True)
        styles = {
            Severity.ERROR: self.get_component_rich_style("findings--error", partial=True),
            Severity.WARNING: self.get_component_rich_style("findings--warning", partial=True),
            Severity.INFO: self.get_component_rich_style("findings--info", partial=True),
        }
        rows: list[list[Text]] = []
        for f in findings[:MAX_ROWS]:
            where = f"{f.offset:#x}" + ("*" if f.stream == Stream.INFLATED else "")
            rows.append(
                [
                    _cell(_SEVERITY[f.severity], styles[f.severity]),
                    _cell(where),
                    _cell(f.rule, styles[f.severity]),
                    _cell(f.message),
                    _cell(f.path or (f.tag_text or "")),
                ]
            )
        if len(findings) > MAX_ROWS:
            more = f"… {len(findings) - MAX_ROWS:,} more"
            rows.append([_cell(t) for t in ("", "", more, "n/N visit them all", "")])
        widths = [len(label) for label in _LABELS]
        for row in rows:
            widths = [max(w, cell.cell_len) for w, cell in zip(widths, row, strict=True)]
        self._columns(widths)
        self.add_rows(rows)

    def point_at(self, position: int) -> None:
        """Put the table's cursor on finding ``position`` (without posting anything)."""
        if 0 <= position < min(len(self.findings), MAX_ROWS):
            self.move_cursor(row=position, animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.cursor_row < min(len(self.findings), MAX_ROWS):
            self.post_message(FindingChosen(event.cursor_row))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Browsing the list with the arrows follows along in the hex; the app moving the
        # table's cursor (n/N, filling the table) does not, as the table has no focus then.
        event.stop()
        if self.has_focus and event.cursor_row < min(len(self.findings), MAX_ROWS):
            self.post_message(FindingChosen(event.cursor_row))


def _cell(text: str, style: Style | str = "") -> Text:
    """One cell: the text as it is (a table reads a string cell as markup), on one line."""
    cell = literal(text, style)
    cell.no_wrap = True
    cell.end = ""
    return cell
