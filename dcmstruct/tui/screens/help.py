"""The help screen: every key of every pane, read from the bindings themselves so it cannot
drift from what the keys do."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

INTRO = (
    "Bytes are coloured by the part of the element they belong to: tag, VR, reserved bytes, "
    "length, value. Nesting depth shades the background; the selected element is framed "
    "with [ ]; faulty bytes have their own colour, and bytes that form no element are marked "
    "as unparsed. The hex cursor and the tree follow each other."
)


def binding_rows(
    sections: Iterable[tuple[str, Iterable[BindingType]]],
) -> list[tuple[str, str, str]]:
    """(where, keys, what) for each binding with a description."""
    rows: list[tuple[str, str, str]] = []
    for where, bindings in sections:
        for b in bindings:
            if not isinstance(b, Binding) or not b.description:
                continue
            keys = ", ".join(_key_name(k) for k in b.key.split(","))
            rows.append((where, b.key_display or keys, b.tooltip or b.description))
    return rows


def _key_name(key: str) -> str:
    names = {
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "question_mark": "?",
        "N": "N (shift+n)",
    }
    return names.get(key.strip(), key.strip())


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close help"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), expand=True)
        table.add_column("pane", style="dim", no_wrap=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does")
        for where, keys, what in self._rows:
            table.add_row(where, keys, what)
        with Vertical(classes="dialog help"):
            yield Label("dcmstruct view: keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(INTRO, classes="help-intro")
                yield Static(table)
            yield Label("Escape closes; ctrl+p opens the command palette", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
