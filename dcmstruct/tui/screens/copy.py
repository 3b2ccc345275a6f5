"""The copy dialog: the selection as hex, base64, a C or Python array, or its decoded value;
each with a preview, picked with its key or Enter."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from dcmstruct.tui.literal import literal

_PREVIEW = 34  # characters of each format shown: one line each in the dialog


class CopyScreen(ModalScreen[tuple[str, str] | None]):
    """Offers ``choices`` (key, name, text); dismissed with the chosen (name, text) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,y", "cancel", "Close")]

    def __init__(self, what: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.what = what
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal(f"Copy {self.what}"), classes="dialog-title")
            yield OptionList(*self._options())
            yield Label(
                "Enter or the letter copies (the terminal's clipboard, OSC 52)",
                classes="dialog-hint",
            )

    def _options(self) -> list[Option]:
        out = []
        for key, name, text in self.choices:
            flat = " ".join(text.split())
            preview = flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 1] + "…"
            # The preview may quote the file's bytes as text: never markup.
            out.append(Option(literal(f"{key}  {name:<13} {preview}"), id=key))
        return out

    def _choose(self, key: str | None) -> None:
        for k, name, text in self.choices:
            if k == key:
                self.dismiss((name, text))
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option.id)

    def on_key(self, event: events.Key) -> None:
        if any(event.key == k for k, _, _ in self.choices):
            event.stop()
            self._choose(event.key)

    def action_cancel(self) -> None:
        self.dismiss(None)
