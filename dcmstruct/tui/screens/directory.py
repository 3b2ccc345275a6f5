"""The DICOMDIR's record tree (``D``): Patient / Study / Series / Image records as the offsets
link them (:mod:`dcmstruct.dicomdir`), each with its type, keys and referenced file.

The tree is filled as it is expanded, a page of 100 records at a time: the rest of an entity
stand behind a "… N more records" row that Enter loads, so a series of 100,000 images opens at
once (a row costs Textual about a millisecond). Moving through it puts the hex cursor on the
record's item (posted up as :class:`ElementChosen`: the panes behind follow); Enter closes it
there (a jump, so ``J`` comes back); on the "more" row, it loads the next page. ``o`` opens the
referenced file in a second viewer, this one suspended until it quits; ``y`` copies the file's
path. Values from the file are shown as literals, and what the privacy mask hides is shown
as ``<masked>``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState

from dcmstruct.dicomdir import (
    MASKED,
    Directory,
    Locator,
    Note,
    Record,
    file_id,
    in_use,
    read_directory,
    record_count,
    record_keys,
    record_type,
)
from dcmstruct.index import ElementIndex
from dcmstruct.model import Stream
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import ElementChosen
from dcmstruct.tui.structure import Structure

PAGE = 100  # rows of one entity added at a time
# Up to this many records the offsets are followed as the dialog opens (5,000 take ~20 ms);
# more are followed in a thread, the dialog saying so: 200,000 take half a second or more.
WALKED_AT_ONCE = 5_000


@dataclass(eq=False, slots=True)
class More:
    """The records of an entity not in the tree yet: ``records[first:]``."""

    records: list[Record]
    first: int = 0


@dataclass(eq=False, slots=True)
class Group:
    """A heading that is no record (the records not reached), filled when expanded."""

    entries: list[Record | Note]


Entry = Record | Note | More | Group | None
HINT = "Enter: go to the record · o: open its file · y: copy its path · space: expand · Esc"


def _walk(index: ElementIndex) -> Directory | str | None:
    """The record tree, or why it cannot be read (a string: the file changed on disk)."""
    try:
        return read_directory(index)
    except OSError as exc:  # the file changed on disk (SourceChanged) or cannot be read
        return f"the records cannot be read: {exc.strerror or exc}; r reloads"


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
        path = structure.index.path
        base = None if path is None else Path(path).resolve().parent
        self.locator = None if base is None else Locator(base)
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
        tree.focus()
        count = record_count(self.structure.index)
        if count <= WALKED_AT_ONCE:
            self._show(_walk(self.structure.index))
            return
        tree.root.add_leaf(f"following the offsets of {count:,} records …")
        tree.root.expand()
        work = partial(_walk, self.structure.index)
        self.run_worker(work, thread=True, group="records", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "records":
            return
        if event.state == WorkerState.SUCCESS:
            self._show(worker.result)
        elif event.state == WorkerState.ERROR:  # a fault of ours: said, not a traceback
            self._show(f"the records cannot be read: {worker.error}")

    def _show(self, d: Directory | str | None) -> None:
        tree = self.query_one(Tree)
        tree.clear()
        if not isinstance(d, Directory):
            why = d or "no Directory Record Sequence (0004,1220) at the top level"
            tree.root.add_leaf(literal(why))
            return
        for note in d.notes:
            tree.root.add_leaf(self._note_label(note), data=note)
        self._fill(tree.root, d.entries)
        if not d.entries and not d.notes:
            tree.root.add_leaf("the root entity is empty ((0004,1200) is 0)")
        if d.unreached:
            tree.root.add(
                f"not reached from the root: {len(d.unreached):,} records (file order)",
                data=Group(list(d.unreached)),
            )
        tree.root.expand()
        # The tree cursor on the first line: its highlight takes the hex cursor there.
        self.call_after_refresh(setattr, tree, "cursor_line", 0)

    # -- the tree ------------------------------------------------------------------------------

    def _fill(self, parent: TreeNode[Entry], entries: list[Record | Note]) -> None:
        """The first page of ``entries``, then a row standing for the other records, then
        the notes among those: a note ends the chain it was met on (the walk stops there),
        so it is shown at once, below the records it follows, not behind the row."""
        self._add(parent, entries[:PAGE])
        rest = entries[PAGE:]
        records = [e for e in rest if isinstance(e, Record)]
        if records:
            more = More(records)
            parent.add_leaf(self._more_label(more), data=more)
        self._add(parent, [e for e in rest if isinstance(e, Note)])

    def _add(
        self, parent: TreeNode[Entry], entries: Sequence[Record | Note], at: int | None = None
    ) -> TreeNode[Entry] | None:
        """Add ``entries`` (before child number ``at``, else last); the first row added."""
        first: TreeNode[Entry] | None = None
        for k, entry in enumerate(entries):
            before = None if at is None else at + k
            if isinstance(entry, Note):
                row = parent.add(
                    self._note_label(entry), data=entry, before=before, allow_expand=False
                )
            else:
                label = self._label(entry)
                row = parent.add(
                    label, data=entry, before=before, allow_expand=bool(entry.children)
                )
            if first is None:
                first = row
        return first

    def _load_more(self, row: TreeNode[Entry]) -> None:
        """Add the next page of the records ``row`` stands for, before it; the cursor goes
        to the first of them (where the row was)."""
        more = row.data
        parent = row.parent
        assert isinstance(more, More) and parent is not None
        page = more.records[more.first : more.first + PAGE]
        more.first += len(page)
        first = self._add(parent, page, at=parent.children.index(row))
        if more.first < len(more.records):
            row.set_label(self._more_label(more))
        else:
            row.remove()
        if first is not None:
            tree = self.query_one(Tree)
            tree._tree_lines  # noqa: B018  (numbers the lines now: the cursor is a line number)
            tree.move_cursor(first)
            self._chosen(first.data)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        node = event.node
        entry = node.data
        if isinstance(entry, Record | Group) and node.id not in self._filled:
            self._filled.add(node.id)
            self._fill(node, entry.children if isinstance(entry, Record) else entry.entries)

    @staticmethod
    def _more_label(more: More) -> Text:
        left = len(more.records) - more.first
        return Text(f"… {left:,} more records; Enter loads {min(left, PAGE)}", style="italic dim")

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
        if found is None or self.locator is None:
            return None
        return self.locator(found[1])

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
        if isinstance(entry, More):
            self._load_more(event.node)
        elif isinstance(entry, Record | Note):
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
