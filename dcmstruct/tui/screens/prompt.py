"""A one-line question in a modal dialog (go to offset, go to tag), and the parsers of its
answers. The dialog checks the answer as it is typed and only closes on a valid one."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static

from dcmstruct.index import ElementIndex
from dcmstruct.paths import find, typed_tag
from dcmstruct.tui.literal import literal


def parse_offset(text: str, size: int) -> int:
    """``1234``, ``0x4d2``, ``4d2h``; negative counts from the end. Raises ValueError."""
    t = text.strip().replace("_", "").replace(",", "")
    if not t:
        raise ValueError("type an offset: decimal, or hex with 0x")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    try:
        if t.lower().startswith("0x"):
            value = int(t[2:], 16)
        elif t.lower().endswith("h"):
            value = int(t[:-1], 16)
        else:
            value = int(t, 10)
    except ValueError:
        raise ValueError(f"{text!r} is no offset: decimal, or hex with 0x") from None
    if sign < 0:
        value = size - value
    if not 0 <= value < max(size, 1):
        raise ValueError(f"{value:#x} is outside the file (0 to {max(size - 1, 0):#x})")
    return value


def parse_tag(text: str) -> int:
    """``0010,0010``, ``(0010,0010)``, ``00100010`` or a keyword. Raises ValueError."""
    t = text.strip()
    if not t:
        raise ValueError("type a tag (gggg,eeee) or a keyword")
    tag = typed_tag(t)
    if tag is None:
        raise ValueError(f"{t!r} is no tag (gggg,eeee) and no keyword of the dictionary")
    return tag


TAG_HINT = (
    "The next element with a tag (0010,0010) or a keyword in any case (Tab completes it), "
    "or one element by its path: 5200,9230[17]/0020,9111[0]/InStackPositionNumber"
)


def parse_path(index: ElementIndex, text: str) -> int:
    """The node the path ``text`` names (``0008,1140[1]/0008,1155``, keywords in any case).
    Raises ValueError saying which step failed."""
    try:
        node = find(index, text.strip(), quoted=False)
    except KeyError as exc:
        raise ValueError(str(exc.args[0]) if exc.args else "not a path") from None
    if node < 0:
        raise ValueError(f"{text.strip()!r} names no element or item")
    return node


class Completion(Suggester):
    """The input's grey suggestion: ``complete`` of what is typed (as typed: the completion
    matches in any case itself and keeps the case of the steps before it)."""

    def __init__(self, complete: Callable[[str], str | None]) -> None:
        super().__init__(use_cache=True, case_sensitive=True)
        self._complete = complete

    async def get_suggestion(self, value: str) -> str | None:
        return self._complete(value)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; dismiss with it (Enter, when ``check`` accepts it) or None (Escape).
    With ``complete``, the rest of what is being typed is offered in grey; Tab (or right at
    the end) takes it. ``hint`` is a line below, wrapped to the dialog's width."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "accept", "Complete", show=False),
    ]

    def __init__(
        self,
        title: str,
        placeholder: str,
        check: Callable[[str], object],
        value: str = "",
        *,
        complete: Callable[[str], str | None] | None = None,
        hint: str = "",
    ) -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder
        self._check = check
        self._value = value
        self._suggester = None if complete is None else Completion(complete)
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # The title may quote a path or the file (a selection): never markup.
            yield Label(literal(self._title), classes="dialog-title")
            yield Input(
                self._value,
                placeholder=self._placeholder,
                select_on_focus=True,
                suggester=self._suggester,
            )
            yield Static("", classes="dialog-error", markup=False)  # wraps: a Label is cut off
            if self._hint:
                # A Static takes the dialog's width and wraps; a Label would be cut off.
                yield Static(self._hint, classes="dialog-hint", markup=False)

    def action_accept(self) -> None:
        """Take the offered completion, if there is one (Input takes it on ``right`` at the
        end of the text)."""
        field = self.query_one(Input)
        field.cursor_position = len(field.value)
        field.action_cursor_right()

    def _error(self, text: str) -> None:
        # The reason quotes what was typed (or pasted): shown as it is, never markup.
        self.query_one(".dialog-error", Static).update(literal(text))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._error("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self._check(event.value)
        except ValueError as exc:
            self._error(str(exc))
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
