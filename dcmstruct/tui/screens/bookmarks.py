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
from dcmstruct.tui.messages import BookmarkDeleted, BookmarkRenamed
from dcmstruct.tui.screens.prompt import PromptScreen

Key = tuple[Stream, int]


class BookmarksScreen(ModalScreen[Key | None]):
    """Lists (stream, offset, what is there); dismissed with the chosen one or None. A
    bookmark deleted here is posted up as :class:`BookmarkDeleted`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,B", "cancel", "Close"),
        Binding("d,delete", "delete", "Delete the bookmark"),
        Binding("r", "rename", "Name the bookmark"),
    ]

    def __init__(self, bookmarks: dict[Key, str]) -> None:
        super().__init__()
        self.bookmarks = dict(bookmarks)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Bookmarks", classes="dialog-title")
            yield OptionList(*self._options())
            yield Label(
                "Enter goes there; r names it; d deletes; b (hex pane) sets one",
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
        found = self._highlighted()
        if found is None:
            return
        k, key = found
        self.bookmarks.pop(key, None)
        self.post_message(BookmarkDeleted(*key))
        self._refill(k)

    def _highlighted(self) -> tuple[int, Key] | None:
        options = self.query_one(OptionList)
        k = options.highlighted
        if k is None:
            return None
        key = self._key(options.get_option_at_index(k))
        return None if key is None else (k, key)

    def _refill(self, highlight: int) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = min(highlight, len(self.bookmarks) - 1) if self.bookmarks else None

    def action_rename(self) -> None:
        found = self._highlighted()
        if found is None:
            return
        k, key = found

        def check(text: str) -> None:
            if not text.strip():
                raise ValueError("type a name")

        def done(name: str | None) -> None:
            if name is None:
                return
            self.bookmarks[key] = name.strip()
            self.post_message(BookmarkRenamed(*key, name.strip()))
            self._refill(k)

        self.app.push_screen(
            PromptScreen("Name the bookmark", "a name", check, self.bookmarks[key]), done
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
