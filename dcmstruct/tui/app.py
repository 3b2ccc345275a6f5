"""``dcmstruct view``: the panes, the keys, and the wiring between them.

The widgets do not know each other: each posts a message when the user does something in it
(:mod:`dcmstruct.tui.messages`) and the app answers by setting the others' attributes. Indexing
and validation run in thread workers; the screen is usable (scrollable, quittable) meanwhile.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, Tree
from textual.worker import Worker, WorkerState

from dcmstruct.index import index_file
from dcmstruct.model import Kind, Stream
from dcmstruct.schema.element import format_tag
from dcmstruct.tui.decode import kind_name
from dcmstruct.tui.messages import CursorMoved, ElementChosen, FindingChosen
from dcmstruct.tui.screens.help import HelpScreen, binding_rows
from dcmstruct.tui.screens.prompt import PromptScreen, parse_offset, parse_tag
from dcmstruct.tui.structure import Mark, Structure, find_tag, next_position
from dcmstruct.tui.widgets import ElementTree, FindingsPanel, HexView, Inspector
from dcmstruct.tui.widgets.hex_view import ROW_WIDTHS, hex_view_width
from dcmstruct.validate.engine import validate_index
from dcmstruct.validate.finding import Finding, Severity

EXIT_OK = 0
EXIT_USAGE = 2
_TREE_MIN = 30  # columns the structure pane keeps before the hex pane may widen
_HEX_CHROME = 3  # border (2) + vertical scrollbar (1)


def faults_as_findings(structure: Structure) -> list[Finding]:
    """The indexer's faults, shown until the validator (which reports them too) is done."""
    c = structure.index.columns
    out = []
    for f in structure.index.faults:
        has_tag = 0 <= f.node < len(c) and c.kind[f.node] != Kind.TRAILING
        tag = int(c.tag[f.node]) if has_tag else None
        out.append(
            Finding(
                f.code, Severity.ERROR, f.offset, f.length, tag, "", f.message, f.stream, f.node
            )
        )
    out.sort(key=lambda f: (int(f.stream), f.offset, f.rule))
    return out


class DcmViewApp(App[int]):
    """The viewer for one file."""

    CSS_PATH = "app.tcss"
    TITLE = "dcmstruct view"

    # The description is the footer's word; the tooltip is what the help screen and the
    # command palette say.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Quit"),
        Binding("g", "goto_offset", "Offset", tooltip="Go to offset (decimal or 0x hex)"),
        Binding("t", "goto_tag", "Tag", tooltip="Go to tag or keyword (the next one)"),
        Binding("n", "finding(1)", "Next finding", tooltip="Go to the next finding"),
        Binding(
            "N",
            "finding(-1)",
            "Prev finding",
            key_display="N",
            tooltip="Go to the previous finding",
        ),
        Binding("w", "row_width", "Width", tooltip="Bytes per hex row: 8, 16 or 32"),
        Binding(
            "s",
            "switch_stream",
            "File/inflated",
            show=False,
            tooltip="Show the file's bytes or the inflated data set (deflated files)",
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
    ) -> None:
        super().__init__()
        self.path = path
        # validate=False: show the indexer's faults only (screenshots that must not change
        # whenever a validator rule is added).
        self.validate = validate
        self.mask = mask  # masking identifying values is a later slice of issue 4 (run refuses)
        self.structure: Structure | None = None
        self.findings: list[Finding] = []
        self._positions: list[tuple[int, int]] = []
        self._finding_pos: int | None = None
        self._selected = -1
        self._user_width = bytes_per_row
        self._validated = False
        self._last_offset = ""
        self._last_tag = ""
        self.busy = True  # indexing or validating: the tests wait for this to drop

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield ElementTree(id="tree")
            yield HexView(self._user_width or 16, id="hex")
        with Horizontal(id="bottom"):
            yield Inspector(id="inspector")
            yield FindingsPanel(id="findings")
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
        self.title = f"dcmstruct view {Path(self.path).name}"
        self.element_tree.border_title = "Structure"
        self.hex.border_title = "Hex"
        self.inspector.border_title = "Inspector"
        self.findings_panel.border_title = "Findings"
        for widget in (self.element_tree, self.hex, self.inspector):
            widget.loading = True
        self._status(f"indexing {Path(self.path).name} …")
        self._fit_width(self.size.width)
        self.theme_changed_signal.subscribe(self, self._restyle)
        self._index()

    def _restyle(self, theme: object) -> None:
        """Tree labels, finding rows and the inspector hold styles made from the old theme."""
        if self.structure is None:
            return
        self.element_tree.refresh_labels()
        self.findings_panel.show(self.findings)
        self.inspector.forget()
        self._sync_from_cursor(reveal=False)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_width(event.size.width)

    def _fit_width(self, columns: int) -> None:
        """The widest row of 8/16/32 bytes that leaves the tree its columns (unless the user
        chose one with ``w``)."""
        size = self.structure.streams[self.hex.stream].size if self.structure else 0
        width = self._user_width
        if width is None:
            width = ROW_WIDTHS[0]
            for w in ROW_WIDTHS:
                if hex_view_width(w, size) + _HEX_CHROME + _TREE_MIN <= columns:
                    width = w
        # Below 100 columns the footer drops its padding so every key still shows.
        self.query_one(Footer).compact = columns < 100
        hex_view = self.hex
        hex_view.set_bytes_per_row(width)
        hex_view.styles.width = hex_view_width(width, size) + _HEX_CHROME

    # -- loading ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="index", name="index")
    def _index(self) -> Structure:
        return Structure(index_file(self.path))

    @work(thread=True, exclusive=True, group="validate", name="validate")
    def _validate(self, structure: Structure) -> tuple[list[Finding], list[str]]:
        return validate_index(structure.index)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            if worker.name == "index":
                self._loaded(worker.result)  # type: ignore[arg-type]
            elif worker.name == "validate":
                findings, internal = worker.result  # type: ignore[misc]
                self._show_validation(findings, internal)
        elif event.state == WorkerState.ERROR:
            self.busy = False
            error = worker.error
            for widget in (self.element_tree, self.hex, self.inspector):
                widget.loading = False
            what = "index" if worker.name == "index" else "validate"
            self._status(f"could not {what} {self.path}: {error}")
            self.notify(f"could not {what} the file: {error}", severity="error", timeout=10)

    def _loaded(self, structure: Structure) -> None:
        self.structure = structure
        for widget in (self.element_tree, self.hex, self.inspector):
            widget.loading = False
        self.hex.load(structure)
        self._fit_width(self.size.width)
        self.element_tree.load(structure)
        self._set_findings(faults_as_findings(structure))
        self._sync_from_cursor(reveal=True)
        self.hex.focus()
        if self.validate:
            self.findings_panel.border_subtitle = "validating …"
            self._validate(structure)
        else:
            self._validated = True
            self.busy = False
            self._sync_from_cursor(reveal=False)

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
        self._finding_pos = None
        structure.set_marks(Mark(f.stream, f.offset, f.length) for f in findings)
        structure.mark_nodes(f.node for f in findings)
        self.hex.marks_changed()
        self.element_tree.refresh_labels()
        self.findings_panel.show(findings)
        self.findings_panel.border_title = f"Findings ({len(findings):,})"
        self._sync_from_cursor(reveal=False)

    # -- keeping the panes together -------------------------------------------------------

    def on_cursor_moved(self, message: CursorMoved) -> None:
        self._sync_from_cursor(reveal=True)

    def on_element_chosen(self, message: ElementChosen) -> None:
        if not message.explicit and message.node >= 0 and message.node == self._selected:
            return  # the cursor is in that element already: leave it where it is
        self._goto(message.stream, message.offset, reveal=False)

    def on_finding_chosen(self, message: FindingChosen) -> None:
        self._goto_finding(message.position)

    def _goto(self, stream: Stream, offset: int, *, reveal: bool) -> None:
        hex_view = self.hex
        if stream != hex_view.stream:
            hex_view.show_stream(stream)
            hex_view.border_title = "Hex" if stream == Stream.FILE else "Hex: inflated data set"
            self._fit_width(self.size.width)
        hex_view.move_cursor(offset, jump=True)
        self._sync_from_cursor(reveal=reveal)

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
        here = [f for f in self.findings if f.node == node and node >= 0] or [
            f
            for f in self.findings
            if f.stream == stream and f.offset <= cursor < f.offset + max(1, f.length)
        ]
        self.inspector.show(structure, node, stream, cursor, here[:20])
        self._status_for(node, stream, cursor)

    def _status_for(self, node: int, stream: Stream, cursor: int) -> None:
        assert self.structure is not None
        index = self.structure.index
        where = f"{cursor:#010x} ({cursor:,})"
        what = "no element"
        if node >= 0:
            n = index.node(node)
            if n.kind == Kind.ELEMENT and n.tag is not None:
                what = f"({format_tag(n.tag)}) {n.keyword or ''} {n.vr or ''}".rstrip()
            else:
                what = kind_name(n.kind)
        count = f"{len(self.findings):,} findings" + ("" if self._validated else " (validating)")
        size = self.structure.streams[stream].size
        parts = [where, what, f"{stream.label} {size:,} bytes", count]
        self._status("  │  ".join(parts))

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text, layout=False)

    # -- findings ---------------------------------------------------------------------------

    def _goto_finding(self, position: int) -> None:
        f = self.findings[position]
        self._finding_pos = position
        self.findings_panel.point_at(position)
        self._goto(f.stream, f.offset, reveal=True)
        title = f"finding {position + 1} of {len(self.findings)}"
        self.notify(f"{f.rule}: {f.message}", title=title)

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
        if self.structure is None:
            return
        size = self.hex.size_bytes

        def done(text: str | None) -> None:
            if text is not None:
                self._last_offset = text
                self._goto(self.hex.stream, parse_offset(text, size), reveal=True)

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
        structure = self.structure
        if structure is None:
            return

        def check(text: str) -> int:
            tag = parse_tag(text)
            if find_tag(structure, tag, (-1, -1))[0] < 0:
                raise ValueError(f"no element ({format_tag(tag)}) in this file")
            return tag

        def done(text: str | None) -> None:
            if text is None:
                return
            self._last_tag = text
            tag = parse_tag(text)
            here = (int(self.hex.stream), self.hex.cursor)
            node, nth, count = find_tag(structure, tag, here)
            c = structure.index.columns
            self._goto(Stream(int(c.stream[node])), int(c.offset[node]), reveal=True)
            if count > 1:
                self.notify(f"({format_tag(tag)}): {nth} of {count}; t, Enter for the next")

        # The last answer is offered again (selected, so typing replaces it): t, Enter visits
        # the next element with the same tag.
        prompt = PromptScreen(
            "Go to tag or keyword", "0010,0010 or PatientName", check, self._last_tag
        )
        self.push_screen(prompt, done)

    def action_row_width(self) -> None:
        current = self.hex.bytes_per_row
        self._user_width = ROW_WIDTHS[(ROW_WIDTHS.index(current) + 1) % len(ROW_WIDTHS)]
        self._fit_width(self.size.width)

    def action_switch_stream(self) -> None:
        structure = self.structure
        if structure is None or Stream.INFLATED not in structure.streams:
            self.notify("only a deflated file has a second (inflated) stream")
            return
        other = Stream.INFLATED if self.hex.stream == Stream.FILE else Stream.FILE
        self._goto(other, 0, reveal=True)

    def help_rows(self) -> list[tuple[str, str, str]]:
        return binding_rows(
            [
                ("anywhere", self.BINDINGS),
                ("anywhere", [Binding("ctrl+p", "command_palette", "Command palette")]),
                ("anywhere", [Binding("tab,shift+tab", "focus_next", "Next / previous pane")]),
                ("hex", HexView.BINDINGS),
                ("hex", [Binding("click", "", "Put the cursor on a byte")]),
                ("structure", Tree.BINDINGS),
                ("findings", [Binding("enter", "", "Go to the finding")]),
                ("findings", DataTable.BINDINGS),
            ]
        )

    def action_help(self) -> None:
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


def run(path: str | None, *, mask: bool = False, bytes_per_row: int | None = None) -> int:
    """Open ``path`` (the bundled sample if None) in the viewer; the exit code."""
    if mask:
        # Refuse rather than ignore: a user asking for masking expects identifying values to
        # stay off the screen, and this slice of the viewer cannot promise that yet.
        print("dcmstruct: --mask is not available yet in this version of view", file=sys.stderr)
        return EXIT_USAGE
    if path is None:
        from dcmstruct.sample import sample_path

        path = str(sample_path())
    if not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "no such file"
        print(f"dcmstruct: {path}: {why}", file=sys.stderr)
        return EXIT_USAGE
    if not os.access(path, os.R_OK):
        print(f"dcmstruct: {path}: permission denied", file=sys.stderr)
        return EXIT_USAGE
    app = DcmViewApp(path, mask=mask, bytes_per_row=bytes_per_row)
    result = app.run()
    return result if isinstance(result, int) else EXIT_OK
