"""The bookmarks dialog: pick one to go to it, or delete it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from dcmstruct.model import Stream
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import BookmarkDeleted

Key = tuple[Stream, int]


class BookmarksScreen(ModalScreen[Key | None]):
    """Lists (stream, offset, what is there); dismissed with the chosen one or None. A
    bookmark deleted here is posted up as :class:`BookmarkDeleted`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,B", "cancel", "Close"),
        Binding("d,delete", "delete", "Delete the bookmark"),
    ]

    def __init__(self, bookmarks: dict[Key, str]) -> None:
        super().__init__()
        self.bookmarks = dict(bookmarks)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Bookmarks", classes="dialog-title")
            yield OptionList(*self._options())
            yield Label(
                "Enter goes there; d deletes; b in the hex pane adds or removes one",
                classes="dialog-hint",
            )

    def _options(self) -> list[Option]:
        out = []
        for stream, offset in sorted(self.bookmarks):
            where = f"{offset:#010x}" + (" (inflated)" if stream == Stream.INFLATED else "")
            # What is there may be named from the file (a VR, say): never markup.
            prompt = literal(f"{where}  {self.bookmarks[(stream, offset)]}")
            out.append(Option(prompt, id=f"{stream}:{offset}"))
        if not out:
            out.append(Option("no bookmarks yet: b in the hex pane sets one", disabled=True))
        return out

    @staticmethod
    def _key(option: Option) -> Key | None:
        if option.id is None:
            return None
        stream, offset = option.id.split(":")
        return Stream(int(stream)), int(offset)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self._key(event.option))

    def action_delete(self) -> None:
        options = self.query_one(OptionList)
        k = options.highlighted
        if k is None:
            return
        key = self._key(options.get_option_at_index(k))
        if key is None:
            return
        self.bookmarks.pop(key, None)
        self.post_message(BookmarkDeleted(*key))
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = min(k, len(self.bookmarks) - 1) if self.bookmarks else None

    def action_cancel(self) -> None:
        self.dismiss(None)
