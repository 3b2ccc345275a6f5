"""The find dialog: one line, and a mode (auto, hex, text, value) to read it in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet

from dcmstruct.tui.literal import literal
from dcmstruct.tui.search import Mode, Query, parse_query

HINT = (
    "auto: de ad be ef or 0xDEAD are bytes, anything else text (all lower case: any case); "
    'prefixes hex: text: value: or "quotes" choose. value: a decoded value (UID, number, '
    "name, date; * and ? match any). F3 / shift+F3: next / previous match."
)
_MODES = (Mode.AUTO, Mode.HEX, Mode.TEXT, Mode.VALUE)


@dataclass(frozen=True, slots=True)
class FindRequest:
    """What the user typed, in which mode, and what it means."""

    text: str
    mode: Mode
    query: Query


class FindScreen(ModalScreen[FindRequest | None]):
    """Dismissed with a :class:`FindRequest` (Enter, when it parses) or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, value: str = "", mode: Mode = Mode.AUTO) -> None:
        super().__init__()
        self._value = value
        self._mode = mode

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Find", classes="dialog-title")
            yield Input(self._value, placeholder="bytes, text or value", select_on_focus=True)
            with RadioSet():
                for mode in _MODES:
                    yield RadioButton(mode.value, value=mode == self._mode, name=mode.value)
            yield Label("", classes="dialog-error")
            yield Label(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @property
    def mode(self) -> Mode:
        pressed = self.query_one(RadioSet).pressed_button
        return Mode(pressed.name) if pressed is not None and pressed.name else Mode.AUTO

    def set_mode(self, mode: Mode) -> None:
        for button in self.query(RadioButton):
            button.value = button.name == mode.value

    def _error(self, text: str) -> None:
        # The reason quotes what was typed (or pasted): shown as it is, never markup.
        self.query_one(".dialog-error", Label).update(literal(text))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._error("")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self._error("")
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            query = parse_query(event.value, self.mode)
        except ValueError as exc:
            self._error(str(exc))
            return
        self.dismiss(FindRequest(event.value, self.mode, query))

    def action_cancel(self) -> None:
        self.dismiss(None)
