"""The DICOMDIR's record tree (``D``): Patient / Study / Series / Image records as the offsets
link them (:mod:`dcmstruct.dicomdir`), each with its type, keys and referenced file.

The tree is filled as it is expanded. Moving through it puts the hex cursor on the record's
item (posted up as :class:`ElementChosen`: the panes behind follow); Enter closes it there
(a jump, so ``J`` comes back). ``o`` opens the referenced file in a second viewer, this one
suspended until it quits; ``y`` copies the file's path. Values from the file are shown as
literals, and what the privacy mask hides is shown as ``<masked>``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, Tree
from textual.widgets.tree import TreeNode

from dcmstruct.dicomdir import (
    MASKED,
    Directory,
    Note,
    Record,
    file_id,
    in_use,
    locate,
    read_directory,
    record_keys,
    record_type,
)
from dcmstruct.model import Stream
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import ElementChosen
from dcmstruct.tui.structure import Structure

Entry = Record | Note | None
HINT = "Enter: go to the record · o: open its file · y: copy its path · space: expand · Esc"


class DirectoryScreen(ModalScreen[int | None]):
    """Dismissed with the offset of the record chosen with Enter, or None."""

    DEFAULT_CSS = """
    DirectoryScreen {
        align: center bottom;
        background: $background 30%;
    }
    DirectoryScreen > .directory {
        width: 100%;
        height: 45%;
        min-height: 12;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    DirectoryScreen #records { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,D", "cancel", "Close"),
        Binding("o", "open", "Open the referenced file (q there comes back)"),
        Binding("y", "copy", "Copy the referenced file's path"),
    ]

    def __init__(self, structure: Structure) -> None:
        super().__init__()
        self.structure = structure
        self.directory: Directory | None = None
        self.unreadable = ""
        try:
            self.directory = read_directory(structure.index)
        except OSError as exc:  # the file changed on disk (SourceChanged) or cannot be read
            self.unreadable = f"the records cannot be read: {exc.strerror or exc}; r reloads"
        path = structure.index.path
        self.base = None if path is None else Path(path).resolve().parent
        self._filled: set[int] = set()  # ids of tree nodes whose children are added

    def compose(self) -> ComposeResult:
        with Vertical(classes="directory"):
            yield Label("DICOMDIR records", classes="dialog-title")
            tree: Tree[Entry] = Tree("DICOMDIR", id="records")
            tree.auto_expand = False
            tree.show_root = False
            yield tree
            yield Static(HINT, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        tree = self.query_one(Tree)
        d = self.directory
        if d is None:
            why = self.unreadable or "no Directory Record Sequence (0004,1220) at the top level"
            tree.root.add_leaf(literal(why))
            return
        for note in d.notes:
            tree.root.add_leaf(self._note_label(note), data=note)
        self._add(tree.root, d.entries)
        if not d.entries and not d.notes:
            tree.root.add_leaf("the root entity is empty ((0004,1200) is 0)")
        if d.unreached:
            group = tree.root.add(
                f"not reached from the root: {len(d.unreached):,} records (file order)"
            )
            self._add(group, list(d.unreached))
        tree.root.expand()
        tree.focus()
        # The tree cursor on the first line: its highlight takes the hex cursor there.
        self.call_after_refresh(setattr, tree, "cursor_line", 0)

    # -- the tree ------------------------------------------------------------------------------

    def _add(self, parent: TreeNode[Entry], entries: list[Record | Note]) -> None:
        for entry in entries:
            if isinstance(entry, Note):
                parent.add_leaf(self._note_label(entry), data=entry)
            elif entry.children:
                parent.add(self._label(entry), data=entry)
            else:
                parent.add_leaf(self._label(entry), data=entry)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        node = event.node
        entry = node.data
        if isinstance(entry, Record) and node.id not in self._filled:
            self._filled.add(node.id)
            self._add(node, entry.children)

    @staticmethod
    def _note_label(note: Note) -> Text:
        return literal(f"⚠ {note.text}", "bold yellow")

    def _label(self, record: Record) -> Text:
        try:
            return self._describe(record)
        except OSError:  # the file changed on disk since it was indexed
            return Text(f"{record.offset:#x} (unreadable now: the file changed; r reloads)")

    def _describe(self, record: Record) -> Text:
        index = self.structure.index
        kind = record_type(index, record.node) or "(no type)"
        text = Text()
        text.append(f"{record.offset:#x} ", style="dim")
        text.append_text(literal(kind, "bold"))
        if not in_use(index, record.node):
            text.append(" (inactive)", style="italic")
        # The referenced file first: on a narrow screen the keys are what is cut off.
        found = file_id(index, record.node)
        if found is not None:
            node, parts = found
            shown = MASKED if self.structure.hidden(node) else "/".join(parts)
            text.append("  file ", style="dim")
            text.append_text(literal(shown))
            exists = self._locate(record) is not None
            text.append(" (found)" if exists else " (not found)", style="dim")
        for keyword, value in record_keys(index, record.node, self.structure.hidden):
            text.append(f"  {keyword} ", style="dim")
            text.append_text(literal(value))
        return text

    def _locate(self, record: Record) -> Path | None:
        found = file_id(self.structure.index, record.node)
        if found is None or self.base is None:
            return None
        return locate(self.base, found[1])

    def _current(self) -> Entry:
        node = self.query_one(Tree).cursor_node
        return None if node is None else node.data

    # -- following and choosing ----------------------------------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Entry]) -> None:
        event.stop()
        self._chosen(event.node.data)

    def _chosen(self, entry: Entry) -> None:
        if isinstance(entry, Record):
            self.post_message(ElementChosen(Stream.FILE, entry.offset, entry.node, False))
        elif isinstance(entry, Note):
            self.post_message(ElementChosen(Stream.FILE, entry.offset, -1, False))

    def on_tree_node_selected(self, event: Tree.NodeSelected[Entry]) -> None:
        event.stop()
        entry = event.node.data
        if isinstance(entry, Record | Note):
            self.dismiss(entry.offset)

    def _file(self) -> tuple[Path, bool] | None:
        """The highlighted record's file and whether its name is masked; a toast if none."""
        entry = self._current()
        if not isinstance(entry, Record):
            self.notify("not a record")
            return None
        try:
            found = file_id(self.structure.index, entry.node)
        except OSError:
            self.notify("the file changed on disk: r reloads it", severity="warning")
            return None
        if found is None:
            self.notify("this record references no file (no (0004,1500))")
            return None
        masked = self.structure.hidden(found[0])
        path = self._locate(entry)
        if path is None:
            name = MASKED if masked else "/".join(found[1])
            self.notify(
                f"{name}: no such file beside the DICOMDIR (in any case)", severity="warning"
            )
            return None
        return path, masked

    def action_open(self) -> None:
        found = self._file()
        if found is None:
            return
        path, masked = found
        command = [sys.executable, "-m", "dcmstruct", "view", str(path)]
        if self.structure.masking:
            command.append("--mask-uids" if self.structure.mask_uids else "--mask")
        try:
            with self.app.suspend():
                subprocess.run(command, check=False)
        except (SuspendNotSupported, OSError):
            shown = "the file (its name is masked)" if masked else str(path)
            self.notify(f"cannot open a second viewer here: {shown}", severity="warning")
            return
        self.app.refresh()

    def action_copy(self) -> None:
        found = self._file()
        if found is None:
            return
        path, masked = found
        if masked:
            self.notify("not copied: the file's name is masked (m shows it)", severity="warning")
            return
        self.app.copy_to_clipboard(str(path))
        self.notify("copied the file's path" + ("" if masked else f": {path}"))

    def action_cancel(self) -> None:
        self.dismiss(None)
