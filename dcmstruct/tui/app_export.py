"""The viewer's selection keys: ``v`` selects the value, element, item or frame under the
cursor (again: the next larger), ``y`` copies the selection, ``x`` saves it to a file.

Without a selection, ``y`` and ``x`` take the value under the cursor. Under the mask a
selection that holds a masked byte is neither copied nor saved: the mask is there because
the screen (or the clipboard) may be shared.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from dcmstruct.model import Stream
from dcmstruct.tui.export import (
    COPY_LIMIT,
    FORMATS,
    decoded_value,
    default_name,
    refusal,
    save,
)
from dcmstruct.tui.selection import Selection, Unit, byte_range, next_unit, units_at
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets.hex_view import HexView

_HOW = "select bytes (shift+arrows, a drag, v) or put the cursor in a value"


class SelectionKeys(App[int]):
    """Mixed into the viewer's app, which provides what is declared here."""

    path: str
    structure: Structure | None
    selection: Selection | None = None

    @property
    def hex(self) -> HexView:
        raise NotImplementedError

    def _refresh_status(self) -> None:
        raise NotImplementedError

    # -- the selection ------------------------------------------------------------------------

    def range_changed(self, stream: Stream, start: int | None, end: int) -> None:
        """The hex pane's selection changed (shift+arrows, a drag, or a plain move)."""
        self.selection = None if start is None else byte_range(stream, start, end - 1)
        self._refresh_status()

    def action_select_unit(self) -> None:
        structure = self.structure
        if structure is None:
            return
        hex_view = self.hex
        units = units_at(structure, hex_view.stream, hex_view.cursor)
        chosen = next_unit(units, self.selection)
        if chosen is None:
            self.notify("no element here to select")
            return
        self.selection = chosen
        hex_view.set_range(chosen.start, chosen.end)
        self._refresh_status()

    def drop_selection(self) -> bool:
        """Drop the selection; whether there was one."""
        if self.selection is None:
            return False
        self.selection = None
        self.hex.clear_range(notify=False)
        self._refresh_status()
        return True

    def _target(
        self, verb: str, done: str, limit: int | None
    ) -> tuple[Structure, Selection] | None:
        """What ``y`` or ``x`` takes: the selection, else the value under the cursor; None,
        and a toast saying why ("nothing to copy", "not saved: ..."), if nothing may go."""
        structure = self.structure
        target = self.selection
        if structure is not None and target is None:
            units = units_at(structure, self.hex.stream, self.hex.cursor)
            target = next((u for u in units if u.unit == Unit.VALUE), None)
        if structure is None or target is None:
            self.notify(f"nothing to {verb}: {_HOW}")
            return None
        why = refusal(structure, target, limit)
        if why:
            self.notify(f"not {done}: {why}", severity="warning")
            return None
        return structure, target

    # -- copy and save ------------------------------------------------------------------------

    def action_copy(self) -> None:
        from dcmstruct.tui.screens.copy import CopyScreen

        found = self._target("copy", "copied", COPY_LIMIT)
        if found is None:
            return
        structure, target = found
        data = target.content(structure, COPY_LIMIT)
        if len(data) < target.size:
            self.notify("not copied: the file ends before the selection does", severity="error")
            return
        choices = [(f.key, f.name, f.convert(data)) for f in FORMATS]
        text = decoded_value(structure, target)
        if text is not None:
            choices.append(("v", "value", text))
        span = f"{target.start:#x}-{target.end - 1:#x}"
        choices.append(("o", "offsets", f"{span} ({target.size:,} bytes)"))

        def done(chosen: tuple[str, str] | None) -> None:
            if chosen is None:
                return
            name, text = chosen
            self.copy_to_clipboard(text)
            self.notify(f"copied {target.describe()} as {name}")

        self.push_screen(CopyScreen(target.describe(), choices), done)

    def action_save(self) -> None:
        from dcmstruct.tui.screens.prompt import PromptScreen

        found = self._target("save", "saved", None)
        if found is None:
            return
        structure, target = found

        def check(text: str) -> None:
            name = text.strip()
            if not name:
                raise ValueError("type a file name")
            if Path(name).exists():
                raise ValueError(f"{name} exists: give another name")

        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                written = save(structure, target, text.strip())
            except OSError as exc:
                self.notify(f"not saved: {exc.strerror or exc}", severity="error")
                return
            short = "" if written == target.size else " (the file ends sooner now)"
            self.notify(f"saved {written:,} bytes to {text.strip()}{short}")

        self.push_screen(
            PromptScreen(
                f"Save {target.describe()}",
                "file name (a new file)",
                check,
                default_name(self.path, target),
            ),
            done,
        )
