"""The hex pane: offsets, bytes in hex and ASCII, coloured by the element part they belong to.

A Line API widget: only the rows on screen are drawn, so a 2 GB file costs what 40 rows cost.
The file is read in aligned 64 KiB blocks (one ``pread`` each, :meth:`Structure.read`), kept in
a small LRU cache: a screenful of rows costs one read, not one per row. Drawn rows are kept in
an LRU cache keyed by everything that changes their look (cursor, selection and marks as they
fall on that row), so moving the cursor redraws two rows and scrolling back redraws none.

Bytes the file no longer holds (it shrank on disk while shown) are drawn as ``--``, never as
what they were: :meth:`HexView.file_changed` drops both caches.

Search matches, bookmarks, tints and the privacy mask are drawn here too, all from attributes
the app sets: ``set_hits``, ``bookmarks``, ``set_tints`` (byte ranges with a background of
their own: the differences of ``dcmstruct view A B``) and the structure's ``masking`` flag.
Masked value bytes show as ``**`` in hex and ``*`` in ASCII: their real characters never reach
the screen.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar, NamedTuple

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dcmstruct.model import Stream
from dcmstruct.ranges import RangeSet
from dcmstruct.tui.messages import CursorMoved, RangeChanged
from dcmstruct.tui.structure import Part, Structure

ROW_WIDTHS = (8, 16, 32)
_GROUP = 8  # an extra space every 8 bytes
_PRINTABLE = [chr(b) if 0x20 <= b < 0x7F else "·" for b in range(256)]
_HEX = [f"{b:02x}" for b in range(256)]
_PART_CLASS = {
    Part.UNPARSED: "hex--unparsed",
    Part.PREAMBLE: "hex--preamble",
    Part.PREFIX: "hex--prefix",
    Part.TAG: "hex--tag",
    Part.VR: "hex--vr",
    Part.RESERVED: "hex--reserved",
    Part.LENGTH: "hex--length",
    Part.VALUE: "hex--value",
    Part.DEFLATED: "hex--deflated",
}
_DEPTH_SHADES = 3  # depth 0 is unshaded; deeper levels cycle through hex--depth-1..3
_MASKED_HEX = "**"
_MASKED_ASCII = "*"
_GONE_HEX = "--"  # a byte past where the file ends now
_GONE_ASCII = " "
BLOCK = 1 << 16  # bytes read at a time
_BLOCKS = 32  # blocks kept (2 MiB)
_BOOKMARK = "◆"
_NO_HIT, _HIT, _CURRENT_HIT = 0, 1, 2


class _Layout(NamedTuple):
    digits: int  # hex digits of the offset column
    hex_x: list[int]  # column of each byte's two hex digits
    sep_x: list[int]  # column of the separator before each byte, and after the last
    ascii_x: int
    width: int
    byte_at: dict[int, int]  # column -> byte of the row (hex and ASCII columns)


def hex_view_width(bytes_per_row: int, size: int) -> int:
    """Columns a row takes for ``bytes_per_row`` bytes of a file of ``size`` bytes."""
    return _layout(bytes_per_row, size).width


def _layout(bytes_per_row: int, size: int) -> _Layout:
    digits = max(8, len(f"{max(0, size - 1):x}"))
    x = digits + 1
    hex_x: list[int] = []
    sep_x: list[int] = []
    byte_at: dict[int, int] = {}
    for i in range(bytes_per_row):
        if i and i % _GROUP == 0:
            x += 1
        sep_x.append(x)
        hex_x.append(x + 1)
        byte_at[x + 1] = byte_at[x + 2] = i
        x += 3
    sep_x.append(x)
    ascii_x = x + 2
    for i in range(bytes_per_row):
        byte_at[ascii_x + i] = i
    return _Layout(digits, hex_x, sep_x, ascii_x, ascii_x + bytes_per_row, byte_at)


class HexView(ScrollView, can_focus=True):
    """Bytes of one stream (the file, or a deflated file's inflated data set) with a cursor."""

    # A drag selects bytes (our selection), not the screen's text (Textual's).
    ALLOW_SELECT = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Byte left", show=False),
        Binding("right", "move(1)", "Byte right", show=False),
        Binding("up", "move_rows(-1)", "Row up", show=False),
        Binding("down", "move_rows(1)", "Row down", show=False),
        Binding("pageup", "move_page(-1)", "Page up", show=False),
        Binding("pagedown", "move_page(1)", "Page down", show=False),
        Binding("home", "row_edge(0)", "Row start", show=False),
        Binding("end", "row_edge(1)", "Row end", show=False),
        Binding("ctrl+home", "file_edge(0)", "File start", show=False),
        Binding("ctrl+end", "file_edge(1)", "File end", show=False),
        Binding("right_square_bracket", "element(1)", "Next element", show=False),
        Binding("left_square_bracket", "element(-1)", "Previous element", show=False),
        Binding("shift+left", "extend('move', -1)", "Select left", show=False),
        Binding("shift+right", "extend('move', 1)", "Select right", show=False),
        Binding("shift+up", "extend('move_rows', -1)", "Select up", show=False),
        Binding("shift+down", "extend('move_rows', 1)", "Select down", show=False),
        Binding("shift+pageup", "extend('move_page', -1)", "Select page up", show=False),
        Binding("shift+pagedown", "extend('move_page', 1)", "Select page down", show=False),
        Binding("shift+home", "extend('row_edge', 0)", "Select to row start", show=False),
        Binding("shift+end", "extend('row_edge', 1)", "Select to row end", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "hex--offset",
        "hex--unparsed",
        "hex--preamble",
        "hex--prefix",
        "hex--tag",
        "hex--vr",
        "hex--reserved",
        "hex--length",
        "hex--value",
        "hex--deflated",
        "hex--depth-1",
        "hex--depth-2",
        "hex--depth-3",
        "hex--selected",
        "hex--range",
        "hex--frame",
        "hex--fault",
        "hex--cursor",
        "hex--cursor-blurred",
        "hex--match",
        "hex--match-current",
        "hex--masked",
        "hex--bookmark",
        "hex--gone",
    }

    def __init__(
        self,
        bytes_per_row: int = 16,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.structure: Structure | None = None
        self.stream = Stream.FILE
        self.bytes_per_row = bytes_per_row
        self.cursor = 0
        self.selection: tuple[int, int] | None = None
        # The user's selection [start, end), and the byte it grows from (shift+arrows, drag).
        self.range: tuple[int, int] | None = None
        self.range_anchor: int | None = None
        self._dragging = False
        self._marks_version = 0
        self._layout = _layout(bytes_per_row, 0)
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._blocks: LRUCache[tuple[Stream, int], bytes] = LRUCache(_BLOCKS)
        self._styles: dict[object, Style] = {}
        # Search matches of this stream, sorted by start; the current one is drawn apart.
        self._hits: list[tuple[int, int]] = []
        self._hit_starts: list[int] = []
        self._longest_hit = 1
        self.current_hit: tuple[int, int] | None = None
        self._bookmarks: list[int] = []  # sorted offsets of this stream
        self._tints: Mapping[Stream, Sequence[tuple[RangeSet, str]]] = {}

    # -- attributes set by the app -------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        if self.structure is None:
            return 0
        sm = self.structure.streams.get(self.stream)
        return 0 if sm is None else sm.size

    @property
    def rows(self) -> int:
        return max(1, -(-self.size_bytes // self.bytes_per_row))

    def load(self, structure: Structure, stream: Stream = Stream.FILE) -> None:
        self.structure = structure
        self._blocks.clear()
        self.show_stream(stream)

    def file_changed(self) -> None:
        """The file changed on disk: read every row afresh, up to where the file ends now."""
        self._blocks.clear()
        self._cache.clear()
        self.refresh()

    def show_stream(self, stream: Stream) -> None:
        self.stream = stream
        self.cursor = 0
        self.selection = None
        self.range = self.range_anchor = None
        self._relayout()

    def set_bytes_per_row(self, bytes_per_row: int) -> None:
        if bytes_per_row == self.bytes_per_row:
            return
        self.bytes_per_row = bytes_per_row
        self._relayout()
        self.call_after_refresh(self.reveal, self.cursor)

    def marks_changed(self) -> None:
        """The structure's marks were replaced: rows with marks must be drawn again."""
        self._marks_version += 1
        self.refresh()

    def set_tints(self, tints: Mapping[Stream, Sequence[tuple[RangeSet, str]]]) -> None:
        """Byte ranges drawn on the background of a component class of their own, per stream;
        where ranges overlap, the later one wins."""
        self._tints = tints
        self.marks_changed()

    def set_hits(self, hits: Iterable[tuple[int, int]], current: tuple[int, int] | None) -> None:
        """Search matches (offset, length) of the shown stream, and the one the user is at."""
        self._hits = sorted((a, a + max(1, n)) for a, n in hits)
        self._hit_starts = [a for a, _ in self._hits]
        self._longest_hit = max((b - a for a, b in self._hits), default=1)
        self.current_hit = (
            None if current is None else (current[0], current[0] + max(1, current[1]))
        )
        self.refresh()

    @property
    def bookmarks(self) -> list[int]:
        return self._bookmarks

    @bookmarks.setter
    def bookmarks(self, offsets: Iterable[int]) -> None:
        self._bookmarks = sorted(offsets)
        self.refresh()

    def masking_changed(self) -> None:
        self.refresh()

    def select(self, start: int | None, end: int = 0) -> None:
        """Frame bytes [start, end): the selected element (None: no element)."""
        selection = None if start is None else (start, end)
        if self.selection != selection:
            self.selection = selection
            self.refresh()

    def set_range(self, start: int | None, end: int = 0) -> None:
        """Select bytes [start, end) (None: nothing); shift+arrows grow it from ``start``."""
        self.range = None if start is None else (start, max(start + 1, end))
        self.range_anchor = start
        self.refresh()

    def move_cursor(self, offset: int, *, jump: bool = True, notify: bool = False) -> None:
        """Put the cursor on byte ``offset``. ``jump``: a move elsewhere (scroll only if the
        byte is not on screen); otherwise keep it in view the way arrow keys do."""
        offset = max(0, min(offset, self.size_bytes - 1))
        changed = offset != self.cursor
        old_row = self.cursor // self.bytes_per_row
        self.cursor = offset
        if jump:
            self.reveal(offset)
        else:
            self._follow(offset // self.bytes_per_row)
        # Only the two rows the cursor left and entered look different.
        self.refresh_lines(old_row)
        self.refresh_lines(offset // self.bytes_per_row)
        if notify and changed:
            self.post_message(CursorMoved(self.stream, offset))

    def reveal(self, offset: int) -> None:
        """Scroll so that byte ``offset`` is on screen, unless it already is."""
        if not self.scrollable_content_region.height:
            # Not laid out yet (a restored workspace's cursor, before the first frame): a
            # scroll now would be computed for no rows, and dropped.
            self.call_after_refresh(self.reveal, offset)
            return
        row = offset // self.bytes_per_row
        top, height = self._viewport()
        if top <= row < top + height:
            return
        self.scroll_to(y=max(0, row - height // 4), animate=False)

    def is_visible(self, offset: int) -> bool:
        top, height = self._viewport()
        return top <= offset // self.bytes_per_row < top + height

    # -- internals ---------------------------------------------------------------------------

    def _relayout(self) -> None:
        self._layout = _layout(self.bytes_per_row, self.size_bytes)
        self._cache.clear()
        self.virtual_size = Size(self._layout.width, self.rows)
        self.refresh()

    def _viewport(self) -> tuple[int, int]:
        return int(self.scroll_offset.y), max(1, self.scrollable_content_region.height)

    def _follow(self, row: int) -> None:
        top, height = self._viewport()
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh()

    # -- actions -----------------------------------------------------------------------------

    def _step(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta, jump=False, notify=True)

    def clear_range(self, notify: bool = True) -> None:
        if self.range is None and self.range_anchor is None:
            return
        self.range = self.range_anchor = None
        self.refresh()
        if notify:
            self.post_message(RangeChanged(self.stream, None))

    def _grow_to_cursor(self) -> None:
        anchor = self.cursor if self.range_anchor is None else self.range_anchor
        self.range_anchor = anchor
        self.range = (min(anchor, self.cursor), max(anchor, self.cursor) + 1)
        self.refresh()
        self.post_message(RangeChanged(self.stream, *self.range))

    def action_extend(self, move: str, argument: int) -> None:
        """A cursor move that selects: the selection runs from where it started (the cursor,
        when there was none) to where the cursor goes."""
        if self.range_anchor is None:
            self.range_anchor = self.cursor
        self._MOVES[move](self, argument)
        self._grow_to_cursor()

    # A plain move drops the selection, as in any editor.

    def action_move(self, delta: int) -> None:
        self.clear_range()
        self._by(delta)

    def action_move_rows(self, rows: int) -> None:
        self.clear_range()
        self._by_rows(rows)

    def action_move_page(self, pages: int) -> None:
        self.clear_range()
        self._by_page(pages)

    def action_row_edge(self, end: int) -> None:
        self.clear_range()
        self._to_row_edge(end)

    def _by(self, delta: int) -> None:
        self._step(delta)

    def _by_rows(self, rows: int) -> None:
        target = self.cursor + rows * self.bytes_per_row
        if 0 <= target < self.size_bytes:
            self._step(rows * self.bytes_per_row)

    def _by_page(self, pages: int) -> None:
        _, height = self._viewport()
        delta = pages * max(1, height - 1) * self.bytes_per_row
        self.scroll_to(y=self.scroll_offset.y + pages * max(1, height - 1), animate=False)
        self._step(delta)

    def _to_row_edge(self, end: int) -> None:
        start = self.cursor - self.cursor % self.bytes_per_row
        self.move_cursor(start + (self.bytes_per_row - 1 if end else 0), jump=False, notify=True)

    _MOVES: ClassVar[dict[str, Callable[[HexView, int], None]]] = {
        "move": _by,
        "move_rows": _by_rows,
        "move_page": _by_page,
        "row_edge": _to_row_edge,
    }

    def action_file_edge(self, end: int) -> None:
        self.clear_range()
        self.move_cursor(self.size_bytes - 1 if end else 0, jump=False, notify=True)

    def action_element(self, direction: int) -> None:
        """Move to the first byte of the next (or this or the previous) node."""
        self.clear_range()
        if self.structure is None:
            return
        sm = self.structure.streams.get(self.stream)
        if sm is None or not len(sm.starts):
            return
        starts = sm.starts
        if direction > 0:
            k = int(np.searchsorted(starts, self.cursor, side="right"))
            if k < len(starts):
                self.move_cursor(int(starts[k]), jump=False, notify=True)
        else:
            k = int(np.searchsorted(starts, self.cursor, side="left")) - 1
            if k >= 0:
                self.move_cursor(int(starts[k]), jump=False, notify=True)

    def _offset_at(self, event: events.MouseEvent) -> int | None:
        where = event.get_content_offset(self)
        if where is None:
            return None
        column = where.x + int(self.scroll_offset.x)
        row = where.y + int(self.scroll_offset.y)
        byte = self._layout.byte_at.get(column)
        if byte is None:
            return None
        offset = row * self.bytes_per_row + byte
        return offset if offset < self.size_bytes else None

    async def _on_mouse_down(self, event: events.MouseDown) -> None:
        offset = self._offset_at(event)
        if offset is None:
            return
        self.focus()
        if event.shift and event.button == 1:
            self.move_cursor(offset, jump=False, notify=True)
            self._grow_to_cursor()
            return
        self.clear_range()
        self.move_cursor(offset, jump=False, notify=True)
        if event.button == 1:
            # A drag from here selects; the mouse is ours until it is let go.
            self.range_anchor = offset
            self._dragging = True
            self.capture_mouse()

    async def _on_mouse_move(self, event: events.MouseMove) -> None:
        if not self._dragging:
            return
        offset = self._offset_at(event)
        if offset is None or offset == self.cursor:
            return
        self.move_cursor(offset, jump=False, notify=True)
        self._grow_to_cursor()

    async def _on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            self._dragging = False
            self.release_mouse()
            if self.range is None:
                self.range_anchor = None  # a click, not a drag

    # -- drawing ---------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = int(scroll_y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self.structure is None or row >= self.rows:
            return Strip.blank(width, base)
        strip = self._row(row)
        return strip.crop_extend(int(scroll_x), int(scroll_x) + width, base)

    def _row(self, row: int) -> Strip:
        per_row = self.bytes_per_row
        start = row * per_row
        stop = min(start + per_row, self.size_bytes)
        cursor = self.cursor - start if start <= self.cursor < stop else -1
        sel: tuple[int, int] | None = None
        if self.selection is not None:
            a, b = self.selection
            if a < stop + 1 and b > start - 1:
                sel = (a, b)  # brackets sit in the gaps just outside the row's bytes
        rng: tuple[int, int] | None = None
        if self.range is not None and self.range[0] < stop and self.range[1] > start:
            rng = (max(self.range[0], start), min(self.range[1], stop))
        hits = self._hits_in(start, stop)
        current = self.current_hit
        if current is not None and not (current[0] < stop and current[1] > start):
            current = None
        lo = bisect.bisect_left(self._bookmarks, start)
        hi = bisect.bisect_left(self._bookmarks, stop)
        marks = tuple(self._bookmarks[lo:hi])
        masking = self.structure is not None and self.structure.masking
        key = (
            row,
            per_row,
            self.stream,
            cursor,
            sel,
            self._marks_version,
            self.has_focus,
            hits,
            current,
            marks,
            masking,
            rng,
        )
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._draw(
                start, stop, cursor, sel, hits, current, marks, rng
            )
        return cached

    def _bytes(self, start: int, stop: int) -> bytes:
        """Bytes [start, stop) of the stream from the block cache; fewer if the file ends
        sooner now."""
        assert self.structure is not None
        out = b""
        pos = start
        while pos < stop:
            block = pos - pos % BLOCK
            key = (self.stream, block)
            data = self._blocks.get(key)
            if data is None:
                data = self._blocks[key] = self.structure.read(self.stream, block, BLOCK)
            piece = data[pos - block : stop - block]
            out += piece
            pos = block + BLOCK
            if len(data) < BLOCK:
                break  # the stream ends in this block
        return out

    def _tints_in(self, start: int, stop: int) -> list[str]:
        out = [""] * (stop - start)
        for ranges, name in self._tints.get(self.stream, ()):
            for i, inside in enumerate(ranges.mask(start, stop)):
                if inside:
                    out[i] = name
        return out

    def _hits_in(self, start: int, stop: int) -> tuple[tuple[int, int], ...]:
        lo = bisect.bisect_left(self._hit_starts, start - self._longest_hit + 1)
        hi = bisect.bisect_left(self._hit_starts, stop)
        return tuple(h for h in self._hits[lo:hi] if h[1] > start)

    def _style(
        self,
        part: Part,
        shade: int,
        selected: bool,
        fault: bool,
        cursor: bool,
        hit: int = _NO_HIT,
        masked: bool = False,
        bookmark: bool = False,
        ranged: bool = False,
        tint: str = "",
    ) -> Style:
        key = (part, shade, selected, fault, cursor, hit, masked, bookmark, ranged, tint)
        style = self._styles.get(key)
        if style is not None:
            return style
        get = self.get_component_rich_style
        style = get(_PART_CLASS[part])
        if selected:
            style += Style(bgcolor=get("hex--selected").bgcolor)
        elif shade and part not in (Part.UNPARSED, Part.DEFLATED):
            style += Style(bgcolor=get(f"hex--depth-{shade}").bgcolor)
        if tint:
            style += Style(bgcolor=get(tint).bgcolor)
        if fault:
            f = get("hex--fault")
            style += Style(color=f.color, bgcolor=f.bgcolor, bold=f.bold, underline=selected)
        if ranged:
            style += Style(bgcolor=get("hex--range").bgcolor)
        if masked:
            style += Style(color=get("hex--masked").color)
        if hit:
            h = get("hex--match-current" if hit == _CURRENT_HIT else "hex--match")
            style += Style(color=h.color, bgcolor=h.bgcolor, bold=h.bold)
        if bookmark:
            b = get("hex--bookmark")
            style += Style(color=b.color, underline=True, bold=True)
        if cursor:
            c = get("hex--cursor" if self.has_focus else "hex--cursor-blurred")
            style += Style(color=c.color, bgcolor=c.bgcolor, bold=True, reverse=c.reverse)
        self._styles[key] = style
        return style

    def _named(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = (
                self.rich_style if name == "base" else self.get_component_rich_style(name)
            )
        return style

    def _gone_style(self, cursor: bool) -> Style:
        key = ("gone", cursor)
        style = self._styles.get(key)
        if style is None:
            style = self._named("base") + self._named("hex--gone")
            if cursor:
                c = self.get_component_rich_style(
                    "hex--cursor" if self.has_focus else "hex--cursor-blurred"
                )
                style += Style(color=c.color, bgcolor=c.bgcolor, bold=True, reverse=c.reverse)
            self._styles[key] = style
        return style

    def _gap_style(
        self, shade: int, selected: bool, fault: bool, ranged: bool, tint: str = ""
    ) -> Style:
        key = ("gap", shade, selected, fault, ranged, tint)
        style = self._styles.get(key)
        if style is None:
            inner = self._style(Part.VALUE, shade, selected, fault, False, ranged=ranged, tint=tint)
            style = self._styles[key] = self._named("base") + Style(bgcolor=inner.bgcolor)
        return style

    def _draw(
        self,
        start: int,
        stop: int,
        cursor: int,
        sel: tuple[int, int] | None,
        hits: tuple[tuple[int, int], ...] = (),
        current: tuple[int, int] | None = None,
        bookmarks: tuple[int, ...] = (),
        rng: tuple[int, int] | None = None,
    ) -> Strip:
        assert self.structure is not None
        structure = self.structure
        lay = self._layout
        per_row = self.bytes_per_row
        base = self._named("base")
        data = self._bytes(start, stop)
        count = stop - start
        have = len(data)  # fewer than count: the file ends sooner now
        parts = structure.parts(self.stream, start, stop)
        marked = structure.marked(self.stream, start, stop)
        hidden = structure.hidden_bytes(self.stream, start, stop)
        hit = [_NO_HIT] * count
        for a, b in hits:
            for i in range(max(a, start) - start, min(b, stop) - start):
                hit[i] = _HIT
        if current is not None:
            for i in range(max(current[0], start) - start, min(current[1], stop) - start):
                hit[i] = _CURRENT_HIT
        marked_here = {b - start for b in bookmarks}
        sel_a, sel_b = sel if sel is not None else (-1, -1)
        rng_a, rng_b = rng if rng is not None else (-1, -1)
        styles: list[Style] = []
        tints = self._tints_in(start, stop)
        shades: list[tuple[int, int, bool, bool, bool, str]] = []
        for i in range(count):
            if i >= have:
                styles.append(self._gone_style(i == cursor))
                shades.append((-2, 0, False, False, False, ""))
                continue
            node, part, depth = parts[i]
            shade = 0 if depth <= 0 else 1 + (depth - 1) % _DEPTH_SHADES
            selected = sel_a <= start + i < sel_b
            ranged = rng_a <= start + i < rng_b
            styles.append(
                self._style(
                    part,
                    shade,
                    selected,
                    marked[i],
                    i == cursor,
                    hit[i],
                    hidden[i],
                    i in marked_here,
                    ranged,
                    tints[i],
                )
            )
            shades.append((node, shade, selected, marked[i], ranged, tints[i]))
        out: list[tuple[str, Style]] = [(f"{start:0{lay.digits}x}", self._named("hex--offset"))]
        frame = self._named("hex--frame")
        x = lay.digits
        for i in range(per_row + 1):
            gap = lay.sep_x[i] - x
            if gap and i == 0 and bookmarks:
                out.append((_BOOKMARK + " " * (gap - 1), self._named("hex--bookmark")))
            elif gap:
                out.append((" " * gap, base))
            here = start + i
            char, style = " ", base
            if sel is not None and i < count and here == sel_a:
                char, style = "[", frame
            elif sel is not None and 0 < i <= count and here == sel_b:
                char, style = "]", frame
            elif 0 < i < count and shades[i - 1] == shades[i]:
                # Inside one element the gap takes its colour, so elements read as blocks.
                style = self._gap_style(*shades[i][1:])
            elif 0 < i < count and rng_a < here < rng_b:
                # The user's selection reads as one band, across element boundaries too.
                style = self._gap_style(0, False, False, True)
            out.append((char, style))
            x = lay.sep_x[i] + 1
            if i < per_row:
                if i >= count:
                    out.append(("  ", base))
                elif i >= have:
                    out.append((_GONE_HEX, styles[i]))
                else:
                    out.append((_MASKED_HEX if hidden[i] else _HEX[data[i]], styles[i]))
                x += 2
        out.append((" " * (lay.ascii_x - x), base))
        for i in range(count):
            if i >= have:
                out.append((_GONE_ASCII, styles[i]))
            else:
                out.append((_MASKED_ASCII if hidden[i] else _PRINTABLE[data[i]], styles[i]))
        if count < per_row:
            out.append((" " * (per_row - count), base))
        # Styles come from the caches above, so equal styles are the same object.
        segments: list[Segment] = []
        text, style = out[0]
        for t, st in out[1:]:
            if st is style:
                text += t
            else:
                segments.append(Segment(text, style))
                text, style = t, st
        segments.append(Segment(text, style))
        return Strip(segments, lay.width)
