"""``dcmstruct view``: the panes, the keys, and the wiring between them.

The widgets do not know each other: each posts a message when the user does something in it
(:mod:`dcmstruct.tui.messages`) and the app answers by setting the others' attributes. Indexing,
validation and search run in thread workers; the screen is usable (scrollable, quittable)
meanwhile.

Every jump (go to offset or tag, finding, search match, bookmark, pointer) is recorded in a
small history that ``J`` / backspace / alt+left walks back. The privacy mask is one flag on the
structure that every pane reads when it draws.

The file may change on disk while it is shown. Every read is a ``pread`` that comes back short
rather than a touch of a map that kills the process (SIGBUS); the app looks at the file once a
second, says in a banner how it changed, shows bytes that are gone as ``--``, and ``r``
re-opens and re-indexes it. Strings from the file or its name reach the screen only as
:func:`dcmstruct.tui.literal.literal` text (escapes visible, never markup), toasts included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from dcmstruct.dicomdir import is_directory
from dcmstruct.exitcode import ExitCode
from dcmstruct.index import ElementIndex, Limits, index_file
from dcmstruct.model import Kind, Stream
from dcmstruct.safetext import terminal_safe
from dcmstruct.schema.layout import format_tag
from dcmstruct.tui.app_export import SelectionKeys
from dcmstruct.tui.app_workspace import WorkspaceKeeper
from dcmstruct.tui.decode import kind_name
from dcmstruct.tui.errors import reason
from dcmstruct.tui.filechange import FileChange
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import (
    BookmarkDeleted,
    BookmarkRenamed,
    CursorMoved,
    ElementChosen,
    FindingChosen,
    JumpRequested,
    RangeChanged,
)
from dcmstruct.tui.pending import Pending
from dcmstruct.tui.structure import Mark, Structure, find_tag, next_position
from dcmstruct.tui.widgets import ElementTree, FindingsPanel, HexView, Inspector
from dcmstruct.tui.widgets.element_tree import EXPAND_CAP
from dcmstruct.tui.widgets.hex_view import ROW_WIDTHS, hex_view_width
from dcmstruct.validate.finding import Finding

if TYPE_CHECKING:
    from dcmstruct.tui.pixels import ImageInfo
    from dcmstruct.tui.screens.find import FindRequest
    from dcmstruct.tui.search import ByteScan, Match, Mode, Query, ValueScan


_TREE_MIN = 30  # columns the structure pane keeps before the hex pane may widen
_HEX_CHROME = 3  # border (2) + vertical scrollbar (1)
HISTORY = 100  # positions the back key remembers
_BATCH = 200  # search matches handed to the screen at a time
_PROGRESS = 0.1  # seconds between two progress updates of a search
POLL = 1.0  # seconds between two looks at the file on disk
INDEX_WAIT = 0.03  # seconds the first frame waits for the index
CHECK_AFTER = 0.05  # seconds: the first frame is written out before the validator starts
SPINNERS_AFTER = 0.15  # seconds of indexing before the panes show that they are loading
MASKED_MESSAGE = "<masked: the message may quote a masked value>"

Position = tuple[Stream, int]


@dataclass(eq=False)
class Search:
    """One search: its scan (resumable), the matches found so far in scan order, and where the
    user is among them."""

    query: Query
    stream: Stream
    scan: ByteScan | ValueScan
    matches: list[Match] = field(default_factory=list)
    current: int = -1
    hidden: int = 0  # matches dropped because they fall in masked values
    running: bool = True
    pending: int | None = None  # the match to go to once it is found (F3 past the last)

    def count_text(self) -> str:
        n = len(self.matches)
        if self.scan.done:
            return f"{n:,}"
        if self.running:
            return f"{n:,} so far, searching {self.scan.progress:.0%}"
        return f"{n:,}+"

    def status(self, masking: bool = False) -> str:
        """``masking``: the query is not repeated, as it may be a masked value itself (the
        screen may be shared: that is what the mask is for)."""
        # Saying how many matches fell in masked values would confirm a guess at one.
        hidden = (
            f" ({self.hidden:,} in masked values not shown)" if self.hidden and not masking else ""
        )
        if not self.matches:
            if self.running:
                return f"searching {self.scan.progress:.0%}{hidden}"
            what = "" if masking else f" for {self.query.describe()}"
            if not self.scan.done:
                return f"no match so far{what}{hidden} (stopped at {self.scan.progress:.0%})"
            return f"no match{what}{hidden}"
        where = f"match {self.current + 1} of " if self.current >= 0 else "matches: "
        return where + self.count_text() + hidden


def faults_as_findings(structure: Structure) -> list[Finding]:
    """The indexer's faults, shown until the validator (which reports them too) is done: the
    validator's own conversion, so each has its rule's severity, tag and path."""
    from dcmstruct.validate.engine import findings_from_faults

    return findings_from_faults(structure.index)


class DcmViewApp(SelectionKeys, WorkspaceKeeper):
    """The viewer for one file."""

    CSS_PATH = "app.tcss"
    TITLE = "dcmstruct view"

    # The description is the footer's word; the tooltip is what the help screen and the
    # command palette say.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Quit"),
        # Priority: a binding that opens a dialog runs as its key arrives, not after the key
        # has bubbled up through the panes; otherwise the keys typed right after it (g1000 in
        # one go, a paste, tmux send-keys) went to the panes and were lost. In a dialog,
        # check_action turns these bindings off, so the keys reach its input.
        Binding(
            "g",
            "goto_offset",
            "Offset",
            tooltip="Go to offset (decimal or 0x hex)",
            priority=True,
        ),
        Binding(
            "t",
            "goto_tag",
            "Tag",
            tooltip="Go to tag or keyword (the next one)",
            priority=True,
        ),
        Binding(
            "slash,f",
            "find",
            "Find",
            key_display="/",
            tooltip="Find bytes (hex), text, or a decoded value",
            priority=True,
        ),
        Binding("f3", "find_next(1)", "Next match", show=False, tooltip="Go to the next match"),
        Binding(
            # Many terminals send shift+F3 as F15 (xterm's numbering of shifted F-keys).
            "shift+f3,f15",
            "find_next(-1)",
            "Prev match",
            key_display="shift+f3",
            show=False,
            tooltip="Go to the previous match",
        ),
        Binding(
            "escape",
            "escape",
            "Unselect",
            show=False,
            tooltip="Drop the selection; or stop a running search",
        ),
        Binding(
            "v",
            "select_unit",
            "Select",
            show=False,
            tooltip="Select the value under the cursor; again: its element, item, frame",
        ),
        Binding("y", "copy", "Copy", tooltip="Copy the selection (or the value): hex, base64, …"),
        Binding(
            "x",
            "save",
            "Save",
            show=False,
            tooltip="Save the selection (or the value; a frame's codestream) to a file",
        ),
        Binding("n", "finding(1)", "Finding", tooltip="Go to the next finding"),
        Binding(
            "N",
            "finding(-1)",
            "Prev finding",
            key_display="N",
            show=False,
            tooltip="Go to the previous finding",
        ),
        Binding(
            "b",
            "bookmark",
            "Mark",
            show=False,
            tooltip="Set or remove a bookmark at the cursor",
        ),
        Binding(
            "apostrophe",
            "next_bookmark",
            "Next mark",
            key_display="'",
            show=False,
            tooltip="Go to the next bookmark",
        ),
        Binding(
            "B",
            "bookmarks",
            "Bookmarks",
            key_display="B",
            show=False,
            tooltip="List the bookmarks: go to one, or delete it",
        ),
        Binding(
            "j",
            "jump",
            "Jump",
            # Off the footer: at 80 columns it holds the keys most used, and ? still shows.
            show=False,
            tooltip="Follow the offset under the cursor: a Basic or Extended Offset Table "
            "entry, a DICOMDIR record offset",
        ),
        Binding(
            "J,backspace,alt+left",
            "go_back",
            "Back",
            key_display="J",
            show=False,
            tooltip="Go back to where the last jump started",
        ),
        Binding(
            "alt+right", "go_forward", "Forward", show=False, tooltip="Go forward again after J"
        ),
        Binding(
            "e",
            "expand_below",
            "Expand",
            show=False,
            tooltip="Expand the tree node under the tree cursor and all below it (one bucket "
            "per level)",
        ),
        Binding(
            "c",
            "collapse_to_path",
            "Collapse",
            show=False,
            tooltip="Collapse the tree down to the selected element's path",
        ),
        Binding(
            "C",
            "collapse_all",
            "Collapse all",
            key_display="C",
            show=False,
            tooltip="Collapse the whole tree",
        ),
        Binding(
            "p",
            "pixels",
            "Pixels",
            tooltip="Preview the pixel data: a frame, or the fragments of encapsulated data",
        ),
        Binding(
            "D",
            "dicomdir",
            "DICOMDIR",
            key_display="D",
            tooltip="The DICOMDIR's records: Patient / Study / Series / Image, their files",
        ),
        Binding(
            "m",
            "mask",
            "Mask",
            tooltip="Mask identifying and private values (PS3.15 Basic Profile) on or off",
        ),
        Binding("w", "row_width", "Width", show=False, tooltip="Bytes per hex row: 8, 16 or 32"),
        Binding(
            "s",
            "switch_stream",
            "File/inflated",
            show=False,
            tooltip="Show the file's bytes or the inflated data set (deflated files)",
        ),
        Binding(
            "r,ctrl+r",
            "reload",
            "Reload",
            show=False,
            tooltip="Reload: open and index the file again (after it changed on disk)",
        ),
        Binding("question_mark,f1", "help", "Help", key_display="?", tooltip="Show all keys"),
    ]

    def __init__(
        self,
        path: str,
        *,
        mask: bool = False,
        bytes_per_row: int | None = None,
        validate: bool = True,
        limits: Limits | None = None,
        mask_uids: bool = False,
        workspace: Path | None = None,
    ) -> None:
        super().__init__()
        self.workspace_at = workspace  # where the workspace is kept (None: not kept)
        # The mask hides UIDs too (they stay visible by default: one follows them).
        self.mask_uids = mask_uids
        self.path = path
        self.limits = limits or Limits()
        # validate=False: show the indexer's faults only (screenshots that must not change
        # whenever a validator rule is added).
        self.validate = validate
        self.mask = mask  # mask identifying values from the first screen on
        self.structure: Structure | None = None
        self.is_dicomdir = False
        self.findings: list[Finding] = []
        self._positions: list[tuple[int, int]] = []
        self._by_node: dict[int, list[Finding]] = {}
        self._finding_pos: int | None = None
        self._selected = -1
        self._pixels_confirmed = -1  # the pixel data whose preview was asked for once, masked
        self._user_width = bytes_per_row
        self._validated = False
        self._last_offset = ""
        self._last_tag = ""
        self._last_find = ""
        self._last_find_mode: Mode | None = None  # the find dialog's default until used
        self.search: Search | None = None
        self.bookmarks: dict[Position, str] = {}
        self._back: list[Position] = []
        self._forward: list[Position] = []
        self.busy = True  # indexing or validating: the tests wait for this to drop
        self._reload_at: Position | None = None  # where the cursor was when r was pressed
        self._validating: dict[Worker[object], Structure] = {}
        self._retired: list[ElementIndex] = []  # replaced by a reload, closed once unused

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield ElementTree(id="tree")
            yield HexView(self._user_width or 16, id="hex")
        with Horizontal(id="bottom"):
            yield Inspector(id="inspector")
            yield FindingsPanel(id="findings")
        yield Static("", id="banner")
        yield Static("", id="status")
        yield Footer()

    @property
    def hex(self) -> HexView:
        return self.query_one(HexView)

    @property
    def element_tree(self) -> ElementTree:
        return self.query_one(ElementTree)

    @property
    def inspector(self) -> Inspector:
        return self.query_one(Inspector)

    @property
    def findings_panel(self) -> FindingsPanel:
        return self.query_one(FindingsPanel)

    def on_mount(self) -> None:
        self.title = terminal_safe(f"dcmstruct view {Path(self.path).name}")
        self.element_tree.border_title = "Structure"
        self.hex.border_title = "Hex"
        self.inspector.border_title = "Inspector"
        self.findings_panel.border_title = "Findings"
        # Spinners only if the index takes a while: mounting them cost the first frame of a
        # file indexed in a millisecond more than the index did.
        self._spinners = self.set_timer(SPINNERS_AFTER, self._show_loading)
        self._status(f"indexing {Path(self.path).name} …")
        self._fit_width(self.size.width)
        self.theme_changed_signal.subscribe(self, self._restyle)
        self.poll_timer = self.set_interval(POLL, self._poll_file)
        self._open()

    def _show_loading(self) -> None:
        if self.structure is None and self.busy:
            for widget in (self.element_tree, self.hex, self.inspector):
                widget.loading = True

    def on_unmount(self) -> None:
        for index in self._retired:
            index.close()
        self._retired.clear()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast. Its text may quote the file or its name: shown as it is, escapes made
        visible and never read as markup (``markup`` is ignored).

        One information toast at a time: each replaces the last (n pressed five times had
        stacked five over the findings pane). Warnings and errors stay until they time out.
        Toasts from a worker thread are left to pile: the collection is the app thread's."""
        if severity == "information" and threading.get_ident() == self._thread_id:
            for old in [n for n in self._notifications if n.severity == "information"]:
                self._unnotify(old, refresh=False)
        super().notify(
            terminal_safe(message),
            title=terminal_safe(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def _restyle(self, theme: object) -> None:
        """Tree labels, finding rows and the inspector hold styles made from the old theme."""
        if self.structure is None:
            return
        self.element_tree.refresh_labels()
        self.findings_panel.show(self._shown_findings())
        self.inspector.forget()
        self._sync_from_cursor(reveal=False)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_width(event.size.width)

    def _fits(self, columns: int) -> list[int]:
        """The row widths whose hex view fits the screen's columns (8 always: the least)."""
        size = self.structure.streams[self.hex.stream].size if self.structure else 0
        # The structure pane keeps its min-width (the stylesheet's) beside the hex pane.
        least = self.element_tree.styles.min_width
        tree = int(least.value) if least is not None else 0
        fits = [w for w in ROW_WIDTHS if hex_view_width(w, size) + _HEX_CHROME + tree <= columns]
        return fits or [ROW_WIDTHS[0]]

    def _fit_width(self, columns: int) -> None:
        """The widest row of 8/16/32 bytes that leaves the tree its columns; or the one the
        user chose with ``w``, as wide as the screen allows (the ASCII column and the border
        stay on screen; the choice comes back when the screen is wide enough again)."""
        size = self.structure.streams[self.hex.stream].size if self.structure else 0
        width = self._user_width
        if width is None:
            width = ROW_WIDTHS[0]
            for w in ROW_WIDTHS:
                if hex_view_width(w, size) + _HEX_CHROME + _TREE_MIN <= columns:
                    width = w
        else:
            width = max(w for w in self._fits(columns) if w <= width or w == ROW_WIDTHS[0])
        # Below 100 columns the footer drops its padding so every key still shows.
        self.query_one(Footer).compact = columns < 100
        hex_view = self.hex
        hex_view.set_bytes_per_row(width)
        hex_view.styles.width = hex_view_width(width, size) + _HEX_CHROME

    # -- loading ------------------------------------------------------------------------------

    def _index(self) -> None:
        """Index the file in a worker (a reload, or a first index that took long)."""
        self._index_from(Pending(self._make_structure))

    def _open(self) -> None:
        """Index the file in a thread, and wait for it a little: a file indexed within
        :data:`INDEX_WAIT` (whatever its size: a 2 GB image is a few hundred nodes) is on the
        first frame; one that takes longer is taken over by a worker, the screen usable
        meanwhile. Failures are reported by the worker, the one way."""
        pending = Pending(self._make_structure)
        try:
            structure = pending.result(timeout=INDEX_WAIT)
        except Exception:  # not done yet, or failed: the worker waits for it or says why
            self._index_from(pending)
            return
        self._loaded(structure)

    @work(thread=True, exclusive=True, group="index", name="index", exit_on_error=False)
    def _index_from(self, pending: Pending[Structure]) -> Structure:
        return pending.wait(get_current_worker())

    def _make_structure(self) -> Structure:
        limits = self.limits
        structure = Structure(
            index_file(
                self.path,
                max_depth=limits.max_depth,
                max_nodes=limits.max_nodes,
                inflate_ratio=limits.inflate_ratio,
            )
        )
        # Before the first screen is drawn: --mask must never show a value, even briefly.
        structure.mask_uids = self.mask_uids
        structure.set_masking(self.mask)
        return structure

    @work(thread=True, exclusive=True, group="validate", name="validate", exit_on_error=False)
    def _validate(self, structure: Structure) -> tuple[list[Finding], list[str]]:
        from dcmstruct.validate.engine import validate_index

        # In a daemon thread the worker waits for: quitting during a long validation does
        # not wait for it to end (a worker's own thread is joined when the app exits).
        pending = Pending(lambda: validate_index(structure.index), name="dcmstruct-validate")
        return pending.wait(get_current_worker())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if not self.query(FindingsPanel):
            # The viewer is closing (q as the validation ended): its panes are gone, and
            # showing the result would raise.
            return
        if worker.name == "validate" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            validated = self._validating.pop(worker, None)
            self._close_retired()
            if validated is not self.structure:
                return  # the validation of a file since reloaded: its findings are stale
        if event.state == WorkerState.SUCCESS:
            if worker.name == "index":
                self._loaded(worker.result)  # type: ignore[arg-type]
            elif worker.name == "validate":
                findings, internal = worker.result  # type: ignore[misc]
                self._show_validation(findings, internal)
        elif event.state == WorkerState.ERROR:
            self.busy = False
            error = worker.error
            self._spinners.stop()
            for widget in (self.element_tree, self.hex, self.inspector):
                widget.loading = False
            reloading, self._reload_at = self._reload_at is not None, None
            what = "index" if worker.name == "index" else "validate"
            if reloading and worker.name == "index":
                what = "reload"  # the file as it was opened stays on screen
            if worker.name == "validate":
                self._validated = True
                self.findings_panel.border_subtitle = "validation stopped"
                # SourceChanged: the file changed while the validator read it.
                self._poll_file()
            why = reason(error)
            self._status(f"could not {what} {self.path}: {why}")
            self.notify(f"could not {what} the file: {why}", severity="error", timeout=10)

    def _loaded(self, structure: Structure) -> None:
        previous = self.structure
        if previous is not None:
            # A selection names nodes and bytes of the old index: after a reload they may be
            # another element (a masked one), so it goes (while the old index is current).
            self.drop_selection()
        at, self._reload_at = self._reload_at, None
        self.structure = structure
        self._validated = False
        self.is_dicomdir = is_directory(structure.index)
        self.refresh_bindings()
        if previous is not None:
            self._forget(previous, structure)
        self._spinners.stop()
        for widget in (self.element_tree, self.hex, self.inspector):
            widget.loading = False
        self._show_change(None)
        self.hex.load(structure)
        self.hex.border_title = "Hex"
        self._fit_width(self.size.width)
        self.element_tree.load(structure)
        if at is not None:
            stream, offset = at
            if stream not in structure.streams:
                stream, offset = Stream.FILE, 0
            self._goto(stream, min(offset, max(0, structure.streams[stream].size - 1)), reveal=True)
            self._show_bookmarks()
        self._sync_from_cursor(reveal=True)
        self.hex.focus()
        if previous is None:
            self.restore_workspace()
        # The bytes first: the faults (whose rules' catalogue is imported on first use) and the
        # validator (a thread that would contend for the interpreter) wait for the first frame.
        self.set_timer(CHECK_AFTER, lambda: self._check(structure))

    def _check(self, structure: Structure) -> None:
        """Show the indexer's faults, then run the validator (its findings replace them)."""
        if structure is not self.structure or not self.query(FindingsPanel):
            return  # reloaded meanwhile, or closing
        self._set_findings(faults_as_findings(structure))
        if self.validate:
            self.findings_panel.border_subtitle = "validating …"
            self._validating[self._validate(structure)] = structure
        else:
            self._validated = True
            self.busy = False
            self._sync_from_cursor(reveal=False)

    # -- the file changing on disk -------------------------------------------------------------

    def _poll_file(self) -> None:
        """Look at the file on disk (about once a second): say so when it changed."""
        structure = self.structure
        if structure is None:
            return
        before = structure.change
        change = structure.check_file()
        if change is None or change == before:
            return
        self._show_change(change)
        self.notify(f"{change.describe()}; r reloads it", severity="warning", timeout=10)
        # What was drawn from the old bytes is drawn again from what the file holds now.
        self.hex.file_changed()
        self.element_tree.refresh_labels()
        self.inspector.forget()
        self._sync_from_cursor(reveal=False)

    def _show_change(self, change: FileChange | None) -> None:
        banner = self.query_one("#banner", Static)
        banner.set_class(change is not None, "-shown")
        if change is not None:
            banner.update(literal(f"⚠ {change.describe()}  │  r reloads"))

    def action_reload(self) -> None:
        """Open and index the file again; the cursor stays where it was if the file still
        reaches that far."""
        if self._reload_at is not None:
            self.notify("reloading already")
            return
        self.workers.cancel_group(self, "search")
        self.search = None
        self._show_hits()
        self._reload_at = (self.hex.stream, self.hex.cursor)
        # Still validated until the new index is in: a reload that fails leaves the file as
        # it was opened on screen, findings and all.
        self.busy = True
        self._status(f"reloading {Path(self.path).name} …")
        self._index()

    def _forget(self, old: Structure, new: Structure) -> None:
        """After a reload: keep the bookmarks and history that still fit; close the old index
        once no worker reads it."""

        def fits(position: Position) -> bool:
            sm = new.streams.get(position[0])
            return sm is not None and position[1] < sm.size

        self.bookmarks = {k: v for k, v in self.bookmarks.items() if fits(k)}
        self._back = [p for p in self._back if fits(p)]
        self._forward = [p for p in self._forward if fits(p)]
        self._retired.append(old.index)
        self._close_retired()

    def _close_retired(self) -> None:
        busy = {id(s.index) for s in self._validating.values()}
        keep = []
        for index in self._retired:
            if id(index) in busy:
                keep.append(index)
            else:
                index.close()
        self._retired = keep

    def _show_validation(self, findings: list[Finding], internal: list[str]) -> None:
        self._validated = True
        self.busy = False
        self.findings_panel.border_subtitle = ""
        self._set_findings(findings)
        if internal:
            self.notify(
                f"{len(internal)} validator rule(s) failed internally; their findings are missing",
                severity="warning",
            )

    def _set_findings(self, findings: list[Finding]) -> None:
        structure = self.structure
        assert structure is not None
        self.findings = findings
        self._positions = [(int(f.stream), f.offset) for f in findings]
        # Looked up on every cursor move: by node, not by a pass over every finding.
        self._by_node = {}
        for f in findings:
            if f.node >= 0:
                self._by_node.setdefault(f.node, []).append(f)
        self._finding_pos = None
        structure.set_marks(Mark(f.stream, f.offset, f.length) for f in findings)
        structure.mark_nodes(f.node for f in findings)
        self.hex.marks_changed()
        self.element_tree.refresh_labels()
        self.findings_panel.show(self._shown_findings())
        self.findings_panel.border_title = f"Findings ({len(findings):,})"
        self._sync_from_cursor(reveal=False)

    def _shown(self, f: Finding) -> Finding:
        """The finding as the screen may show it: its message hidden when it is about a
        masked value (a validator message may quote the value)."""
        s = self.structure
        if s is None or not s.masking:
            return f
        if s.hidden(f.node) or s.hides(f.stream, f.offset, f.offset + 1):
            return dataclasses.replace(f, message=MASKED_MESSAGE)
        return f

    def _shown_findings(self) -> list[Finding]:
        return [self._shown(f) for f in self.findings]

    # -- keeping the panes together -------------------------------------------------------

    def on_cursor_moved(self, message: CursorMoved) -> None:
        self._sync_from_cursor(reveal=True)

    def on_element_chosen(self, message: ElementChosen) -> None:
        if not message.explicit and message.node >= 0 and message.node == self._selected:
            return  # the cursor is in that element already: leave it where it is
        self._goto(message.stream, message.offset, reveal=False)

    def on_finding_chosen(self, message: FindingChosen) -> None:
        self._goto_finding(message.position)

    def on_jump_requested(self, message: JumpRequested) -> None:
        if message.stream is not None and message.offset is not None:
            self._jump(message.stream, message.offset)
        else:
            self.action_jump()

    def on_bookmark_renamed(self, message: BookmarkRenamed) -> None:
        if (message.stream, message.offset) in self.bookmarks:
            self.bookmarks[(message.stream, message.offset)] = message.name

    async def action_quit(self) -> None:
        self.save_workspace()
        await super().action_quit()

    def on_bookmark_deleted(self, message: BookmarkDeleted) -> None:
        self.bookmarks.pop((message.stream, message.offset), None)
        self._show_bookmarks()

    def _goto(self, stream: Stream, offset: int, *, reveal: bool) -> None:
        hex_view = self.hex
        if stream != hex_view.stream:
            self.drop_selection()
            hex_view.show_stream(stream)
            hex_view.border_title = "Hex" if stream == Stream.FILE else "Hex: inflated data set"
            self._fit_width(self.size.width)
            self._show_hits()
            self._show_bookmarks()
        hex_view.move_cursor(offset, jump=True)
        self._sync_from_cursor(reveal=reveal)

    def _jump(self, stream: Stream, offset: int, *, reveal: bool = True) -> None:
        """Go somewhere else, remembering where from (for ``J``). A selection is dropped, as
        by any move that does not grow it: ``y`` then takes what is under the cursor."""
        here = (self.hex.stream, self.hex.cursor)
        if here != (stream, offset):
            self._back.append(here)
            del self._back[:-HISTORY]
            self._forward.clear()
            self.drop_selection()
        self._goto(stream, offset, reveal=reveal)

    def _sync_from_cursor(self, *, reveal: bool) -> None:
        """Select the element that holds the cursor, in hex, tree, inspector and status."""
        structure = self.structure
        if structure is None:
            return
        hex_view = self.hex
        stream, cursor = hex_view.stream, hex_view.cursor
        node = structure.innermost(stream, cursor)
        if node >= 0:
            hex_view.select(int(structure.offset[node]), int(structure.end[node]))
        else:
            hex_view.select(None)
        if reveal:
            self.element_tree.reveal(node)
        self._selected = node
        here = (self._by_node.get(node, []) if node >= 0 else []) or [
            f
            for f in self.findings
            if f.stream == stream and f.offset <= cursor < f.offset + max(1, f.length)
        ]
        self.inspector.show(structure, node, stream, cursor, [self._shown(f) for f in here[:20]])
        self._status_for(node, stream, cursor)

    def _status_for(self, node: int, stream: Stream, cursor: int) -> None:
        assert self.structure is not None
        index = self.structure.index
        where = f"{cursor:#010x} ({cursor:,})"
        what = "no element"
        if node >= 0:
            n = index.node(node)
            if n.kind == Kind.ELEMENT and n.tag is not None and n.depth == 0:
                what = f"({format_tag(n.tag)}) {n.keyword or ''} {n.vr or ''}".rstrip()
            elif n.kind in (Kind.ELEMENT, Kind.ITEM, Kind.FRAGMENT):
                # Inside a sequence: the breadcrumb, as validate writes paths (issue 11).
                label = n.keyword if n.kind == Kind.ELEMENT else kind_name(n.kind)
                what = f"{self.structure.path(node)} {label or ''} {n.vr or ''}".rstrip()
            else:
                what = kind_name(n.kind)
        found = len(self.findings)
        count = f"{found:,} finding{'' if found == 1 else 's'}" + (
            "" if self._validated else " (validating)"
        )
        size = self.structure.streams[stream].size
        # Most important first: a narrow terminal cuts the line's end.
        parts = ["MASKED"] if self.structure.masking else []
        parts += [where, what]
        if self.selection is not None:
            parts.append(f"selected {self.selection.describe()}")
        if self.search is not None:
            parts.append(self.search.status(self.structure.masking))
        parts += [count, f"{stream.label} {size:,} bytes"]
        self._status("  │  ".join(parts))

    def _status(self, text: str) -> None:
        """The status line; it shows the file's name and bytes: as they are, never markup."""
        self.query_one("#status", Static).update(literal(text), layout=False)

    # -- findings ---------------------------------------------------------------------------

    def _goto_finding(self, position: int) -> None:
        f = self.findings[position]
        self._finding_pos = position
        self.findings_panel.point_at(position)
        self._jump(f.stream, f.offset)
        title = f"finding {position + 1} of {len(self.findings)}"
        self.notify(f"{f.rule}: {self._shown(f).message}", title=title)

    def action_finding(self, direction: int) -> None:
        if not self.findings:
            self.notify("no findings" + ("" if self._validated else " yet"))
            return
        hex_view = self.hex
        here = (int(hex_view.stream), hex_view.cursor)
        p = self._finding_pos
        if p is not None and 0 <= p < len(self.findings):
            f = self.findings[p]
            size = self.structure.streams[f.stream].size if self.structure else 0
            if (int(f.stream), max(0, min(f.offset, size - 1))) == here:
                self._goto_finding((p + direction) % len(self.findings))
                return
        self._goto_finding(next_position(self._positions, here, direction > 0))

    # -- dialogs and other keys -------------------------------------------------------------

    def action_goto_offset(self) -> None:
        from dcmstruct.tui.screens.prompt import PromptScreen, parse_offset

        if self.structure is None:
            return
        size = self.hex.size_bytes

        def done(text: str | None) -> None:
            if text is not None:
                self._last_offset = text
                self._jump(self.hex.stream, parse_offset(text, size))

        self.push_screen(
            PromptScreen(
                "Go to offset",
                "decimal, 0x hex, or -N from the end",
                lambda t: parse_offset(t, size),
                self._last_offset,
            ),
            done,
        )

    def action_goto_tag(self) -> None:
        from dcmstruct.completion import Completer
        from dcmstruct.paths import looks_like_path
        from dcmstruct.tui.screens.prompt import TAG_HINT, PromptScreen, parse_path, parse_tag

        structure = self.structure
        if structure is None:
            return

        def check(text: str) -> int:
            if looks_like_path(text):
                return parse_path(structure.index, text)  # one node, by its path
            tag = parse_tag(text)
            if find_tag(structure, tag, (-1, -1))[0] < 0:
                raise ValueError(f"no element ({format_tag(tag)}) in this file")
            return tag

        def done(text: str | None) -> None:
            if text is None:
                return
            self._last_tag = text
            c = structure.index.columns
            if looks_like_path(text):
                node = parse_path(structure.index, text)
                self._jump(Stream(int(c.stream[node])), int(c.offset[node]))
                return
            tag = parse_tag(text)
            here = (int(self.hex.stream), self.hex.cursor)
            node, nth, count = find_tag(structure, tag, here)
            self._jump(Stream(int(c.stream[node])), int(c.offset[node]))
            if count > 1:
                self.notify(f"({format_tag(tag)}): {nth} of {count}; t, Enter for the next")

        # The last answer is offered again (selected, so typing replaces it): t, Enter visits
        # the next element with the same tag.
        prompt = PromptScreen(
            "Go to tag, keyword or path",
            "0010,0010 or PatientName",
            check,
            self._last_tag,
            complete=Completer(structure.index).complete,
            hint=TAG_HINT,
        )
        self.push_screen(prompt, done)

    def action_row_width(self) -> None:
        fits = self._fits(self.size.width)
        current = self.hex.bytes_per_row
        self._user_width = (
            fits[(fits.index(current) + 1) % len(fits)] if current in fits else fits[0]
        )
        if len(fits) < len(ROW_WIDTHS):
            self.notify(f"{self.size.width} columns: rows of up to {fits[-1]} bytes fit")
        self._fit_width(self.size.width)

    def action_switch_stream(self) -> None:
        structure = self.structure
        if structure is None or Stream.INFLATED not in structure.streams:
            self.notify("only a deflated file has a second (inflated) stream")
            return
        other = Stream.INFLATED if self.hex.stream == Stream.FILE else Stream.FILE
        self._jump(other, 0)

    # -- find --------------------------------------------------------------------------------

    def action_find(self) -> None:
        from dcmstruct.tui.screens.find import FindScreen
        from dcmstruct.tui.search import Mode

        if self.structure is None:
            return

        def done(request: FindRequest | None) -> None:
            if request is not None:
                # Offered again next time (selected, so typing replaces it).
                self._last_find, self._last_find_mode = request.text, request.mode
                self._start_search(request.query)

        self.push_screen(FindScreen(self._last_find, self._last_find_mode or Mode.AUTO), done)

    def _start_search(self, query: Query) -> None:
        from dcmstruct.tui.search import CAP, ByteScan, Mode, ValueScan

        structure = self.structure
        assert structure is not None
        self.workers.cancel_group(self, "search")
        stream, origin = self.hex.stream, self.hex.cursor
        sm = structure.streams[stream]
        # From the byte after the cursor: F3 on a match must not find the same one again,
        # and a search started on a match goes on from it.
        start = min(origin + 1, sm.size)
        scan: ByteScan | ValueScan
        if query.mode == Mode.VALUE:
            scan = ValueScan(structure, stream, query.text, start)
        else:
            # Up to where the file ends now, if it shrank on disk.
            source = structure.index.sources[stream]
            scan = ByteScan(source, sm.readable, query.needle, start, ignore_case=query.ignore_case)
        self.search = Search(query, stream, scan)
        self._show_hits()
        self._search_worker(self.search, CAP)
        self._sync_from_cursor(reveal=False)

    @work(thread=True, exclusive=True, group="search", name="search", exit_on_error=False)
    def _search_worker(self, search: Search, want: int) -> None:
        worker = get_current_worker()
        found = 0
        scan = search.scan
        last = 0.0
        try:
            while not worker.is_cancelled and not scan.done and found < want:
                batch = scan.next_batch(min(_BATCH, want - found), lambda: worker.is_cancelled)
                found += len(batch)
                if worker.is_cancelled:
                    return
                # Matches go up at once; mere progress at most every _PROGRESS seconds, so a
                # scan in small chunks does not flood the screen with redraws.
                now = time.monotonic()
                if batch or now - last >= _PROGRESS:
                    last = now
                    self.call_from_thread(self._search_batch, search, batch, False)
            if not worker.is_cancelled:
                self.call_from_thread(self._search_batch, search, [], True)
        except OSError as exc:  # SourceChanged: the file was cut short while searched
            with contextlib.suppress(RuntimeError):
                self.call_from_thread(self._search_failed, search, exc)
        except RuntimeError:
            return  # the app closed while this thread was scanning

    def _search_failed(self, search: Search, error: OSError) -> None:
        if search is not self.search:
            return
        search.running = False
        search.pending = None
        self.notify(f"search stopped: {reason(error)}", severity="warning")
        self._poll_file()
        self._sync_from_cursor(reveal=False)

    def _search_batch(self, search: Search, batch: list[Match], finished: bool) -> None:
        if search is not self.search or self.structure is None:
            return  # a search that was replaced
        try:
            self._take_batch(search, batch, finished)
        except NoMatches:
            return  # the app is closing: its panes are gone

    def _take_batch(self, search: Search, batch: list[Match], finished: bool) -> None:
        assert self.structure is not None
        for a, n in batch:
            if self.structure.hides(search.stream, a, a + n):
                search.hidden += 1
            else:
                search.matches.append((a, n))
        if finished:
            search.running = False
        if search.current < 0 and search.matches:
            self._goto_match(0)
        elif search.pending is not None and search.pending < len(search.matches):
            self._goto_match(search.pending)
        else:
            if batch:
                self._show_hits()
            if finished and not search.matches:
                self.notify(search.status(self.structure.masking), severity="warning")
            self._sync_from_cursor(reveal=False)
        if finished:
            search.pending = None

    def _show_hits(self) -> None:
        search = self.search
        hex_view = self.hex
        if search is None or search.stream != hex_view.stream:
            hex_view.set_hits([], None)
            return
        current = search.matches[search.current] if search.current >= 0 else None
        hex_view.set_hits(search.matches, current)

    def _goto_match(self, k: int) -> None:
        search = self.search
        assert search is not None
        search.current = k
        search.pending = None
        offset, _ = search.matches[k]
        self._jump(search.stream, offset)
        self._show_hits()
        self._sync_from_cursor(reveal=False)

    def action_find_next(self, direction: int) -> None:
        from dcmstruct.tui.search import CAP

        search = self.search
        if search is None:
            self.action_find()
            return
        k = search.current + direction
        if 0 <= k < len(search.matches):
            self._goto_match(k)
        elif direction > 0 and not search.scan.done:
            search.pending = max(k, 0)
            if not search.running:
                search.running = True
                self._search_worker(search, CAP)
            self._sync_from_cursor(reveal=False)
        elif search.matches:
            k %= len(search.matches)
            self.notify("search wrapped around" if direction > 0 else "from the last match")
            self._goto_match(k)
        else:
            self.notify(search.status(self.structure is not None and self.structure.masking))

    def action_escape(self) -> None:
        if not self.drop_selection():
            self.action_stop_search()

    def on_range_changed(self, message: RangeChanged) -> None:
        self.range_changed(message.stream, message.start, message.end)

    def _refresh_status(self) -> None:
        if self.structure is not None:
            self._status_for(self._selected, self.hex.stream, self.hex.cursor)

    def action_stop_search(self) -> None:
        search = self.search
        if search is None or not search.running:
            return
        self.workers.cancel_group(self, "search")
        search.running = False
        search.pending = None
        self.notify("search stopped; F3 goes on from where it stopped")
        self._sync_from_cursor(reveal=False)

    # -- bookmarks and history ---------------------------------------------------------------

    def _describe_at(self, stream: Stream, offset: int) -> str:
        assert self.structure is not None
        node = self.structure.innermost(stream, offset)
        if node < 0:
            return "no element"
        n = self.structure.index.node(node)
        if n.kind == Kind.ELEMENT and n.tag is not None:
            return f"({format_tag(n.tag)}) {n.keyword or ''}".rstrip()
        return kind_name(n.kind)

    def _show_bookmarks(self) -> None:
        stream = self.hex.stream
        self.hex.bookmarks = [o for s, o in self.bookmarks if s == stream]

    def action_bookmark(self) -> None:
        if self.structure is None:
            return
        key = (self.hex.stream, self.hex.cursor)
        if key in self.bookmarks:
            del self.bookmarks[key]
            self.notify(f"bookmark at {key[1]:#x} removed")
        else:
            self.bookmarks[key] = self._describe_at(*key)
            self.notify(
                f"bookmark at {key[1]:#x} set ({len(self.bookmarks)} in all); ' visits them"
            )
        self._show_bookmarks()

    def action_next_bookmark(self) -> None:
        if not self.bookmarks:
            self.notify("no bookmarks: b sets one at the cursor")
            return
        keys = sorted(self.bookmarks)
        k = next_position(keys, (self.hex.stream, self.hex.cursor), True)
        self._jump(*keys[k])
        self.notify(f"bookmark {k + 1} of {len(keys)}: {self.bookmarks[keys[k]]}")

    def action_bookmarks(self) -> None:
        from dcmstruct.tui.screens.bookmarks import BookmarksScreen

        if self.structure is None:
            return

        def done(key: Position | None) -> None:
            self._show_bookmarks()
            if key is not None:
                self._jump(*key)

        self.push_screen(BookmarksScreen(self.bookmarks), done)

    def action_go_back(self) -> None:
        if not self._back:
            self.notify("nowhere to go back to")
            return
        self._forward.append((self.hex.stream, self.hex.cursor))
        self._goto(*self._back.pop(), reveal=True)

    def action_go_forward(self) -> None:
        if not self._forward:
            return
        self._back.append((self.hex.stream, self.hex.cursor))
        self._goto(*self._forward.pop(), reveal=True)

    # -- pointers, tree, pixels, mask ----------------------------------------------------------

    def action_jump(self) -> None:
        from dcmstruct.tui.pointers import pointer_at

        structure = self.structure
        if structure is None:
            return
        pointer = pointer_at(structure, self._selected, self.hex.cursor)
        if pointer is None:
            self.notify(
                "no offset here: j follows Basic and Extended Offset Table entries and "
                "DICOMDIR record offsets (0004,1200/1202/1400/1420)"
            )
            return
        size = structure.streams[pointer.stream].size
        if pointer.target is None or pointer.target >= size:
            why = pointer.problem or "outside the file"
            self.notify(
                f"{pointer.what}: {pointer.value} points nowhere: {why}", severity="warning"
            )
            return
        self._jump(pointer.stream, pointer.target)
        note = f"{pointer.what}: {pointer.value} → {pointer.target:#x}; J goes back"
        if pointer.problem:
            self.notify(f"{note}; {pointer.problem}", severity="warning")
        else:
            self.notify(note)

    def action_dicomdir(self) -> None:
        from dcmstruct.tui.screens.directory import DirectoryScreen

        structure = self.structure
        if structure is None:
            return

        # The cursor follows the records while the dialog is open; Escape puts it back, Enter
        # makes it a jump from here (J comes back).
        origin = (self.hex.stream, self.hex.cursor)

        def done(offset: int | None) -> None:
            self._goto(*origin, reveal=True)
            if offset is not None:
                self._jump(Stream.FILE, offset)

        self.push_screen(DirectoryScreen(structure), done)

    def action_expand_below(self) -> None:
        tree = self.element_tree
        added = tree.expand_below()
        if added >= EXPAND_CAP:
            self.notify(f"{added:,} entries added; e again expands more")

    def action_collapse_to_path(self) -> None:
        self.element_tree.collapse_to(self._selected)

    def action_collapse_all(self) -> None:
        self.element_tree.collapse_everything()

    def action_pixels(self) -> None:
        from dcmstruct.tui.pixels import image_info, pick_pixel_node

        structure = self.structure
        if structure is None:
            return
        node = pick_pixel_node(structure, self._selected)
        if node is None:
            self.notify("this file has no Pixel Data (7FE0,0010)")
            return
        if structure.masking and structure.hidden(node):
            from dcmstruct.privacy import burned_in_warning

            warning = burned_in_warning(structure.index, node)
            if warning is None:
                # e.g. the photo in Referenced Patient Photo Sequence: an image can identify.
                self.notify("this image is masked (m shows it)", severity="warning")
                return
            if self._pixels_confirmed != node:
                # The mask is on: show what may be a name burned into the pixels only when
                # asked twice.
                self._pixels_confirmed = node
                self.notify(
                    f"{warning}; press p again to show them under the mask", severity="warning"
                )
                return
        self._pixels_confirmed = -1
        try:
            info = image_info(structure, node)
        except Exception as exc:  # a broken header must not close the viewer
            self.notify(f"cannot read the image attributes: {exc}", severity="error")
            return
        self.open_pixels(0, info)

    def open_pixels(self, frame: int, info: ImageInfo | None = None) -> None:
        from dcmstruct.tui.pixels import image_info, pick_pixel_node
        from dcmstruct.tui.screens.pixels import PixelScreen

        structure = self.structure
        if structure is None:
            return
        if info is None:
            node = pick_pixel_node(structure, self._selected)
            if node is None:
                return
            try:
                info = image_info(structure, node)
            except Exception:  # a broken header: the preview stays closed
                return
        frame = max(0, min(frame, info.frames - 1)) if info.frames else 0
        self.push_screen(PixelScreen(structure, info, frame=frame))

    def pixel_frame(self) -> int | None:
        from dcmstruct.tui.screens.pixels import PixelScreen

        for screen in self.screen_stack:
            if isinstance(screen, PixelScreen):
                return screen.frame
        return None

    def action_mask(self) -> None:
        structure = self.structure
        if structure is None:
            return
        structure.set_masking(not structure.masking)
        self.mask = structure.masking
        search = self.search
        if search is not None and structure.masking:
            # Matches found before masking must not stay as a way to see masked values.
            keep = [
                m for m in search.matches if not structure.hides(search.stream, m[0], m[0] + m[1])
            ]
            search.hidden += len(search.matches) - len(keep)
            current = search.matches[search.current] if search.current >= 0 else None
            search.matches = keep
            search.current = keep.index(current) if current in keep else -1
            self._show_hits()
        self.query_one("#status").set_class(structure.masking, "masked")
        self.hex.masking_changed()
        self.element_tree.refresh_labels()
        self.findings_panel.show(self._shown_findings())
        self.inspector.forget()
        self._sync_from_cursor(reveal=False)
        self.notify("identifying values masked" if structure.masking else "values shown")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The viewer's keys act on the main screen only: on the pixel preview or in a dialog
        they would act on panes the user does not see (and crowd that screen's footer)."""
        if action == "dicomdir" and not self.is_dicomdir:
            return False  # offered (in the footer too) for a DICOMDIR only
        return not (action in _OWN_ACTIONS and len(self.screen_stack) > 1)

    def help_rows(self) -> list[tuple[str, str, str]]:
        from dcmstruct.tui.screens.bookmarks import BookmarksScreen
        from dcmstruct.tui.screens.directory import DirectoryScreen
        from dcmstruct.tui.screens.help import binding_rows
        from dcmstruct.tui.screens.pixels import PixelScreen

        return binding_rows(
            [
                ("anywhere", self.BINDINGS),
                ("anywhere", [Binding("ctrl+p", "command_palette", "Command palette")]),
                ("anywhere", [Binding("tab,shift+tab", "focus_next", "Next / previous pane")]),
                ("hex", HexView.BINDINGS),
                ("hex", [Binding("click", "", "Put the cursor on a byte")]),
                ("hex", [Binding("drag,shift+click", "", "Select bytes")]),
                ("structure", Tree.BINDINGS),
                ("inspector", Inspector.BINDINGS),
                ("findings", [Binding("enter", "", "Go to the finding")]),
                ("findings", DataTable.BINDINGS),
                ("find dialog", [Binding("tab", "", "Choose the mode: auto, hex, text, value")]),
                ("bookmarks", BookmarksScreen.BINDINGS),
                ("pixels", PixelScreen.BINDINGS),
                ("DICOMDIR records", DirectoryScreen.BINDINGS),
            ]
        )

    def action_help(self) -> None:
        from dcmstruct.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_rows()))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:  # type: ignore[type-arg]
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            assert isinstance(b, Binding)
            if b.action == "quit":
                continue  # the default commands have Quit already
            yield SystemCommand(
                b.tooltip or b.description, f"key: {b.key_display or b.key}", self._runner(b.action)
            )

    def _runner(self, action: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            await self.run_action(action)

        return run


_OWN_ACTIONS = frozenset(
    b.action.split("(")[0] for b in DcmViewApp.BINDINGS if isinstance(b, Binding)
) - {"quit"}


def run(
    path: str | None,
    *,
    mask: bool = False,
    bytes_per_row: int | None = None,
    limits: Limits | None = None,
    mask_uids: bool = False,
    workspace: str | None = None,
    keep_workspace: bool = True,
) -> int:
    """Open ``path`` (the bundled sample if None) in the viewer; the exit code.
    ``workspace``: where its workspace is kept (default: the user's data directory);
    ``keep_workspace`` False: none is read or written."""
    from dcmstruct.tui.workspace import default_location

    if path is None:
        from dcmstruct.sample import sample_path

        path = str(sample_path())
    if not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "no such file"
        print(f"dcmstruct: {terminal_safe(path)}: {why}", file=sys.stderr)
        return ExitCode.USAGE
    if not os.access(path, os.R_OK):
        print(f"dcmstruct: {terminal_safe(path)}: permission denied", file=sys.stderr)
        return ExitCode.USAGE
    from dcmstruct.tui.pictures import probe

    probe()  # before Textual reads the terminal: textual-image asks it about graphics
    app = DcmViewApp(
        path,
        mask=mask or mask_uids,
        bytes_per_row=bytes_per_row,
        limits=limits,
        mask_uids=mask_uids,
        workspace=(
            None if not keep_workspace else Path(workspace) if workspace else default_location(path)
        ),
    )
    result = app.run()
    if app.exit_message:
        print(f"dcmstruct: {terminal_safe(app.exit_message)}", file=sys.stderr)
    return result if isinstance(result, int) else ExitCode.OK
