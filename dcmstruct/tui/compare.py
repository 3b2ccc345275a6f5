"""``dcmstruct view A B``: two files side by side, moving together by structure path, their
differences marked.

Both files are indexed in one worker; the hex panes are usable as soon as that is done. The
differences (:mod:`dcmstruct.diff`, through :class:`dcmstruct.pairing.Pairing`) are computed
in a second worker, which reads values a window at a time (pixel data a MiB at a time), so two
large files never stall the screen; until it is done the panes do not follow each other.

The pane the user moves (the one with focus) leads: the other pane's cursor goes to the node
with the same path, at the same place in it. A path the other file lacks leaves the other pane
where it is, and its line says so. Differences are tinted in both panes (value, encoding; an
added or removed node on the side that has it), listed below, and visited with ``n`` / ``N``.
Under ``--mask`` both files are masked as ``view --mask`` masks one.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from dcmstruct.exitcode import ExitCode
from dcmstruct.index import Limits, index_file
from dcmstruct.model import Kind, Stream
from dcmstruct.pairing import (
    SIDE_NAMES,
    A,
    B,
    Cancelled,
    Follow,
    Pairing,
    Position,
    first_unequal,
)
from dcmstruct.ranges import RangeSet
from dcmstruct.safetext import terminal_safe
from dcmstruct.tui.errors import reason
from dcmstruct.tui.literal import literal
from dcmstruct.tui.messages import CursorMoved
from dcmstruct.tui.structure import Structure
from dcmstruct.tui.widgets.differences import DifferenceChosen, DifferencesPanel, name_of, where
from dcmstruct.tui.widgets.hex_view import ROW_WIDTHS, HexView, hex_view_width

_HEX_CHROME = 3  # border (2) + vertical scrollbar (1)
# A changed value longer than this: n puts the cursors on its first differing byte (found in a
# worker), not on its header a screen or a gigabyte away.
_SEEK_FROM = 256
# The tint of each kind of difference (a component class of PaneHexView, coloured in
# compare.tcss); where they overlap the later wins: a changed value inside a re-encoded
# sequence shows as a value.
TINTS = {
    "encoding": "hex--diff-encoding",
    "removed": "hex--diff-removed",
    "added": "hex--diff-added",
    "value": "hex--diff-value",
}


@dataclass
class PaneCursorMoved(Message):
    """The user moved the cursor of pane ``side``."""

    side: int


class PaneHexView(HexView):
    """A hex pane of one side; says which side its cursor moves are from."""

    COMPONENT_CLASSES: ClassVar[set[str]] = HexView.COMPONENT_CLASSES | set(TINTS.values())

    def __init__(self, side: int, bytes_per_row: int, *, id: str) -> None:
        super().__init__(bytes_per_row, id=id)
        self.side = side

    def on_cursor_moved(self, message: CursorMoved) -> None:
        message.stop()
        self.post_message(PaneCursorMoved(self.side))


class OpenFailed(Exception):
    """A file could not be opened or indexed: which one, and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CompareApp(App[int]):
    """Two files side by side."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "compare.tcss"]
    TITLE = "dcmstruct view A B"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Quit"),
        Binding("n", "difference(1)", "Next diff", tooltip="Go to the next difference"),
        Binding(
            "N",
            "difference(-1)",
            "Prev diff",
            key_display="N",
            tooltip="Go to the previous difference",
        ),
        Binding(
            "m",
            "mask",
            "Mask",
            tooltip="Mask identifying and private values (PS3.15 Basic Profile) on or off",
        ),
        Binding("tab", "focus_next", "Other pane", tooltip="Focus the next pane"),
    ]

    def __init__(
        self,
        path_a: str,
        path_b: str,
        *,
        mask: bool = False,
        mask_uids: bool = False,
        bytes_per_row: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__()
        self.paths = (path_a, path_b)
        self.mask = mask or mask_uids
        self.mask_uids = mask_uids
        self.limits = limits or Limits()
        self._user_width = bytes_per_row
        self.structures: tuple[Structure, Structure] | None = None
        self.pairing: Pairing | None = None
        self.busy = True  # opening or comparing: the tests wait for this to drop
        self.error: str | None = None  # why the files could not be opened (exit code 2)
        self._lead = A  # the side the user moved last
        self._current = -1  # the difference n/N last went to
        self._current_at: tuple[Position, Position] | None = None  # and where that left both
        self._first: tuple[int, int] | None = None  # (difference, where its values part)
        self._lock = threading.Lock()  # closing the files vs. the workers reading them
        self._readers = 0
        self._closed = False

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            for side, name in enumerate(SIDE_NAMES):
                with Vertical(classes="side"):
                    yield PaneHexView(side, self._user_width or 16, id=f"hex-{name.lower()}")
                    yield Static("", id=f"where-{name.lower()}", classes="where")
        yield DifferencesPanel(id="differences")
        yield Static("", id="status")
        yield Footer()

    def pane(self, side: int) -> PaneHexView:
        return self.query_one(f"#hex-{SIDE_NAMES[side].lower()}", PaneHexView)

    @property
    def panel(self) -> DifferencesPanel:
        return self.query_one(DifferencesPanel)

    def on_mount(self) -> None:
        for side in (A, B):
            pane = self.pane(side)
            pane.border_title = literal(f"{SIDE_NAMES[side]}: {Path(self.paths[side]).name}")
            pane.loading = True
        self.panel.border_title = "Differences"
        self._status("opening both files …")
        self._open()

    def on_unmount(self) -> None:
        with self._lock:
            self._closed = True
            if not self._readers:
                self._close()

    def _close(self) -> None:
        for structure in self.structures or ():
            structure.index.close()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_width(event.size.width)

    def _fit_width(self, columns: int) -> None:
        """The widest rows of 8/16/32 bytes (at most ``--row-width``) that put both panes on
        the screen: the same in both, so that their rows line up."""
        sizes = [self.pane(side).size_bytes for side in (A, B)]
        fits = [
            w
            for w in ROW_WIDTHS
            if sum(hex_view_width(w, size) + _HEX_CHROME for size in sizes) <= columns
            and (self._user_width is None or w <= self._user_width)
        ]
        width = max(fits, default=ROW_WIDTHS[0])
        for side in (A, B):
            self.pane(side).set_bytes_per_row(width)

    # -- loading ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="open", name="open", exit_on_error=False)
    def _open(self) -> tuple[Structure, Structure]:
        opened: list[Structure] = []
        limits = self.limits
        try:
            for path in self.paths:
                try:
                    index = index_file(
                        path,
                        max_depth=limits.max_depth,
                        max_nodes=limits.max_nodes,
                        inflate_ratio=limits.inflate_ratio,
                    )
                except OSError as exc:
                    raise OpenFailed(path, _reason(exc)) from exc
                structure = Structure(index)
                opened.append(structure)
                # Before the first screen is drawn: --mask must never show a value.
                structure.mask_uids = self.mask_uids
                structure.set_masking(self.mask)
        except BaseException:
            for structure in opened:
                structure.index.close()
            raise
        return opened[A], opened[B]

    def _reading(self) -> bool:
        """A worker starts reading the files (False: they are closed, the app is gone)."""
        with self._lock:
            if self._closed:
                return False
            self._readers += 1
            return True

    def _done_reading(self) -> None:
        with self._lock:
            self._readers -= 1
            if self._closed and not self._readers:
                self._close()

    @work(thread=True, exclusive=True, group="compare", name="compare", exit_on_error=False)
    def _compare(self, a: Structure, b: Structure) -> Pairing | None:
        worker = get_current_worker()
        if not self._reading():
            return None
        try:
            return Pairing(a.index, b.index, cancelled=lambda: worker.is_cancelled)
        except Cancelled:
            return None
        finally:
            self._done_reading()

    @work(thread=True, exclusive=True, group="seek", name="seek", exit_on_error=False)
    def _seek(self, pairing: Pairing, k: int) -> tuple[int, int | None]:
        """Where the values of difference ``k`` first differ (a long value: pixel data)."""
        worker = get_current_worker()

        def tick() -> None:
            if worker.is_cancelled:
                raise Cancelled

        if not self._reading():
            return k, None
        try:
            (a, b), (i, j) = pairing.indexes, pairing.stops[k].nodes
            return k, first_unequal(a, i, b, j, tick=tick)
        except Cancelled:
            return k, None
        finally:
            self._done_reading()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if state == WorkerState.SUCCESS:
            if worker.name == "open":
                self._opened(worker.result)  # type: ignore[arg-type]
            elif worker.name == "compare" and worker.result is not None:
                self._compared(worker.result)
            elif worker.name == "seek":
                self._sought(*worker.result)  # type: ignore[misc]
        elif state == WorkerState.ERROR:
            error = worker.error
            if worker.name == "open":
                # A file that cannot be read is a usage error, said once the screen is gone.
                self.error = terminal_safe(str(error))
                self.exit(ExitCode.USAGE, return_code=int(ExitCode.USAGE))
            elif worker.name == "compare":
                self.busy = False
                # SourceChanged: a file changed on disk while it was compared.
                said = terminal_safe(f"could not compare the files: {_reason(error)}")
                self._status(said)
                self.notify(said, severity="error", markup=False)

    def _opened(self, structures: tuple[Structure, Structure]) -> None:
        self.structures = structures
        for side in (A, B):
            pane = self.pane(side)
            pane.loading = False
            pane.load(structures[side])
        self._fit_width(self.size.width)
        self._frame(A)
        self._frame(B)
        self.pane(A).focus()
        self._describe(A, None)
        self._describe(B, None)
        self._status("comparing …")
        self.panel.border_subtitle = "comparing …"
        self._compare(*structures)

    def _compared(self, pairing: Pairing) -> None:
        assert self.structures is not None
        self.pairing = pairing
        self.busy = False
        tints: list[dict[Stream, list[tuple[RangeSet, str]]]] = [{}, {}]
        for side in (A, B):
            ranges = self._tinted(pairing, side)
            for (stream, change), spans in ranges.items():
                layer = (RangeSet.of(spans), TINTS[change])
                tints[side].setdefault(Stream(stream), []).append(layer)
            self.pane(side).set_tints(tints[side])
        panel = self.panel
        panel.show(pairing)
        counts = pairing.counts()
        panel.border_title = f"Differences ({len(pairing.stops):,})"
        panel.border_subtitle = self._legend(counts)
        self._follow(self._lead)

    def _tinted(self, pairing: Pairing, side: int) -> dict[tuple[int, str], list[tuple[int, int]]]:
        """The byte ranges to tint on ``side``, by (stream, kind of difference), in the order
        of :data:`TINTS` (later kinds drawn over earlier ones)."""
        c = pairing.indexes[side].columns
        order = {change: k for k, change in enumerate(TINTS)}
        out: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for stop in pairing.stops:
            node = stop.nodes[side]
            if node < 0:
                continue
            change = stop.difference.change
            start, end = int(c.offset[node]), int(c.end[node])
            value = int(c.value_offset[node])
            kind = int(c.kind[node])
            if change in ("value", "encoding") and value > start and kind == Kind.ITEM:
                end = value  # an item: its header (what differs inside has its own tint)
            elif change in ("value", "encoding") and len(pairing.indexes[side].children(node)):
                end = max(start + 1, value)  # a sequence or encapsulated pixel data: likewise
            out.setdefault((int(c.stream[node]), change), []).append((start, max(end, start + 1)))
        return dict(sorted(out.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])))

    def _legend(self, counts: dict[str, int]) -> Text:
        """The colours of the panes, with how many differences each kind has."""
        pane = self.pane(A)
        text = Text()
        for change, name in TINTS.items():
            if text:
                text.append("  ")
            style = Style(bgcolor=pane.get_component_rich_style(name).bgcolor)
            text.append(f" {counts[change]:,} {change} ", style)
        return text

    # -- following -------------------------------------------------------------------------

    def on_pane_cursor_moved(self, message: PaneCursorMoved) -> None:
        self._lead = message.side
        self._follow(message.side)

    def _follow(self, side: int) -> None:
        """Pane ``side``'s cursor moved: the other pane goes to the same path; both lines
        and the status line say where they are."""
        if self.structures is None:
            return
        self._frame(side)
        follow = None
        if self.pairing is not None:
            here = self.pane(side)
            follow = self.pairing.follow(side, here.stream, here.cursor)
            if follow.at is not None:
                self._place(1 - side, follow.at)
                self._align(1 - side, side)
        self._describe(side, None)
        self._describe(1 - side, follow)
        self._show_current(side)

    def _place(self, side: int, at: Position) -> None:
        """Put pane ``side``'s cursor at ``at`` (its stream shown), without it leading."""
        pane = self.pane(side)
        stream, offset = at
        if stream != pane.stream:
            pane.show_stream(stream)
            self._fit_width(self.size.width)
        pane.move_cursor(offset, jump=True)
        self._frame(side)

    def _align(self, side: int, lead: int) -> None:
        """Scroll pane ``side`` so that its cursor is on the screen row of the lead pane's:
        the two elements side by side."""
        here, there = self.pane(lead), self.pane(side)
        row = here.cursor // here.bytes_per_row - int(here.scroll_offset.y)
        there.scroll_to(y=max(0, there.cursor // there.bytes_per_row - row), animate=False)

    def _frame(self, side: int) -> None:
        """Frame the element that holds pane ``side``'s cursor."""
        assert self.structures is not None
        pane, structure = self.pane(side), self.structures[side]
        node = structure.innermost(pane.stream, pane.cursor)
        if node >= 0:
            pane.select(int(structure.offset[node]), int(structure.end[node]))
        else:
            pane.select(None)

    def _describe(self, side: int, follow: Follow | None, *, placed: bool = False) -> None:
        """Pane ``side``'s line: where its cursor is, which node, what differs there; or,
        following a path the file lacks, that it lacks it."""
        assert self.structures is not None
        pane, structure = self.pane(side), self.structures[side]
        cursor = pane.cursor
        where = f"{cursor:#010x}" + (" inflated" if pane.stream == Stream.INFLATED else "")
        if follow is not None and follow.path is not None and follow.other < 0:
            how = "it would be here" if placed else "stays here"
            text = f"{where}  {follow.path}: not in {SIDE_NAMES[side]} ({how})"
            line = self.query_one(f"#where-{SIDE_NAMES[side].lower()}", Static)
            line.set_class(True, "-missing")
            line.update(literal(text))
            return
        node = structure.innermost(pane.stream, cursor)
        parts = [where, self._node_text(side, node)]
        if self.pairing is not None and node >= 0:
            k = self.pairing.stop_at(side, node)
            if k >= 0:
                parts.append(self.pairing.stops[k].difference.change)
        line = self.query_one(f"#where-{SIDE_NAMES[side].lower()}", Static)
        line.set_class(False, "-missing")
        line.update(literal("  ".join(p for p in parts if p)))

    def _node_text(self, side: int, node: int) -> str:
        assert self.structures is not None
        if node < 0:
            return "no element"
        structure = self.structures[side]
        n = structure.index.node(node)
        path = None
        if self.pairing is not None:
            path = self.pairing.paths[side].get(node)
        if path is None and n.kind in (Kind.ELEMENT, Kind.ITEM, Kind.FRAGMENT):
            path = structure.path(node)
        label = n.keyword if n.kind == Kind.ELEMENT else Kind(n.kind).label
        if label == path:
            label = None  # the preamble's path is its name
        return " ".join(p for p in (path, label, n.vr if n.kind == Kind.ELEMENT else None) if p)

    # -- differences -----------------------------------------------------------------------

    def _positions(self) -> tuple[Position, Position]:
        a, b = self.pane(A), self.pane(B)
        return (a.stream, a.cursor), (b.stream, b.cursor)

    def _show_current(self, side: int) -> None:
        """The status line: the difference the cursor is in (or n/N last went to)."""
        pairing = self.pairing
        if pairing is None or self.structures is None:
            return
        k = self._current if self._current_at == self._positions() else -1
        if k < 0:
            pane = self.pane(side)
            k = pairing.stop_at(side, self.structures[side].innermost(pane.stream, pane.cursor))
        total = len(pairing.stops)
        if k < 0:
            counts = ", ".join(f"{n:,} {change}" for change, n in pairing.counts().items())
            said = f"no difference here  │  {total:,} differences: {counts}"
            if total == 1:
                said = said.replace("differences", "difference")
            self._status(said + ("  │  n / N visit them" if total else ""))
            return
        self.panel.point_at(k)
        stop = pairing.stops[k]
        d = stop.difference
        name = name_of(pairing, stop)
        what = d.path if name == d.path else f"{d.path} {name}"
        detail = d.detail
        if self._first is not None and self._first[0] == k:
            detail += f" from value byte {self._first[1]:#x} on"
        self._status(
            f"difference {k + 1:,} of {total:,}: {d.change} {what}"
            f"  │  A {where(d.a)}  B {where(d.b)}  │  {detail}"
        )

    def action_difference(self, direction: int) -> None:
        pairing = self.pairing
        if pairing is None:
            self.notify("still comparing the files")
            return
        if not pairing.stops:
            self.notify("the files do not differ")
            return
        focused = self.focused
        side = focused.side if isinstance(focused, PaneHexView) else self._lead
        total = len(pairing.stops)
        if self._current >= 0 and self._current_at == self._positions():
            k = self._current + direction
        else:
            pane = self.pane(side)
            found = pairing.next_stop(side, (pane.stream, pane.cursor), direction)
            k = found if found is not None else (total if direction > 0 else -1)
        if not 0 <= k < total:
            k %= total
            self.notify("from the first difference" if direction > 0 else "from the last one")
        self._visit(k, side)

    def on_difference_chosen(self, message: DifferenceChosen) -> None:
        self._visit(message.position, self._lead)

    def _visit(self, k: int, side: int) -> None:
        """Go to difference ``k`` in both panes; a pane whose file lacks it goes to where it
        would be (after what both files have before it), so the two read side by side."""
        assert self.pairing is not None
        stop = self.pairing.stops[k]
        for s in (A, B):
            at = stop.at[s]
            if at is None:
                stream, offset, _ = stop.keys[s]
                at = (Stream(stream), offset)
            self._place(s, at)
        self._align(1 - side, side)
        self._current, self._current_at = k, self._positions()
        self._first = None
        if stop.difference.change == "value" and min(stop.nodes) >= 0:
            a, b = stop.difference.a, stop.difference.b
            if a is not None and b is not None and max(a.length or 0, b.length or 0) > _SEEK_FROM:
                self._seek(self.pairing, k)
        lacking = A if stop.at[A] is None else B if stop.at[B] is None else None
        for s in (A, B):
            if s == lacking:
                path = stop.difference.path
                self._describe(s, Follow(stop.nodes[1 - s], path, -1, None), placed=True)
            else:
                self._describe(s, None)
        self._show_current(side)

    def _sought(self, k: int, first: int | None) -> None:
        """Where the values of difference ``k`` first differ: both cursors go there, if they
        are still where ``n`` put them."""
        pairing = self.pairing
        if first is None or pairing is None or self._current != k:
            return
        if self._current_at != self._positions():
            return  # the user has moved on
        stop = pairing.stops[k]
        for side in (A, B):
            c = pairing.indexes[side].columns
            node = stop.nodes[side]
            value, end = int(c.value_offset[node]), int(c.end[node])
            self._place(side, (Stream(int(c.stream[node])), min(value + first, end - 1)))
        self._align(B, self._lead)
        self._align(A, self._lead)
        self._current_at = self._positions()
        self._first = (k, first)
        self._describe(A, None)
        self._describe(B, None)
        self._show_current(self._lead)

    # -- other keys ----------------------------------------------------------------------------

    def action_mask(self) -> None:
        if self.structures is None:
            return
        on = not self.structures[A].masking
        for side in (A, B):
            self.structures[side].set_masking(on)
            self.pane(side).masking_changed()
        self.mask = on
        self.query_one("#status").set_class(on, "masked")
        self._show_current(self._lead)
        self.notify("identifying values masked" if on else "values shown")

    def _status(self, text: str) -> None:
        masked = self.structures is not None and self.structures[A].masking
        self.query_one("#status", Static).update(
            literal(("MASKED  │  " if masked else "") + text), layout=False
        )


def _reason(error: BaseException | None) -> str:
    return error.reason if isinstance(error, OpenFailed) else reason(error)


def run(
    path_a: str,
    path_b: str,
    *,
    mask: bool = False,
    mask_uids: bool = False,
    bytes_per_row: int | None = None,
    limits: Limits | None = None,
    prog: str = "dcmstruct view",
) -> int:
    """Open ``path_a`` and ``path_b`` side by side; the exit code (2: one cannot be read)."""
    app = CompareApp(
        path_a, path_b, mask=mask, mask_uids=mask_uids, bytes_per_row=bytes_per_row, limits=limits
    )
    result = app.run()
    if app.error is not None:
        print(f"{prog}: {app.error}", file=sys.stderr)
        return ExitCode.USAGE
    return result if isinstance(result, int) else ExitCode.OK


__all__ = ["CompareApp", "run"]
