"""The inspector pane: the selected element decoded by VR, and the bytes at the cursor as
numbers of every common type in both byte orders.

It lays its text out itself (labels in a column, values wrapped under their own column), so it
knows its height: a redraw for a new cursor position or element costs no layout pass of the
screen unless the height really changed. A layout pass per key made arrow keys lag.
"""

from __future__ import annotations

import textwrap
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from dcmstruct.model import Stream
from dcmstruct.safetext import terminal_safe
from dcmstruct.tui.decode import CURSOR_BYTES, Line, cursor_numbers, decode, describe
from dcmstruct.tui.messages import JumpRequested
from dcmstruct.tui.pointers import Pointer, pointer_at
from dcmstruct.tui.structure import Part, Structure
from dcmstruct.validate.finding import Finding

_PART_NAMES = {
    Part.UNPARSED: "no element",
    Part.PREAMBLE: "preamble",
    Part.PREFIX: "prefix",
    Part.TAG: "tag",
    Part.VR: "VR",
    Part.RESERVED: "reserved",
    Part.LENGTH: "length field",
    Part.VALUE: "value",
    Part.DEFLATED: "deflated data",
}
_LABEL = 10  # width of the label column
MASKED = "<masked>"
_MASK_NOTE = "identifying or private (PS3.15 Basic Profile); m shows it"


class Inspector(VerticalScroll):
    """Shows what :meth:`show` is given; knows nothing of the other panes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "jump", "Follow the offset under the cursor", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "inspector--heading",
        "inspector--label",
        "inspector--note",
        "inspector--fault",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: tuple[object, ...] | None = None
        self._args: tuple[Structure, int, Stream, int, list[Finding]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="inspector-element")
        yield Static(id="inspector-cursor")

    def show(
        self,
        structure: Structure,
        node: int,
        stream: Stream,
        cursor: int,
        findings: list[Finding],
    ) -> None:
        self._args = (structure, node, stream, cursor, findings)
        width = max(20, self.scrollable_content_region.width)
        # The offset under the cursor comes first: j follows it, so it must be in sight.
        pointer = pointer_at(structure, node, cursor) if node >= 0 else None
        key = (id(structure), node, stream, tuple(findings), width, structure.masking, pointer)
        if key != self._shown:
            self._shown = key
            self._update(
                self.query_one("#inspector-element", Static),
                self._element(*self._args[:3], findings, width, pointer),
            )
        self._update(
            self.query_one("#inspector-cursor", Static), self._cursor(structure, stream, cursor)
        )

    def action_jump(self) -> None:
        self.post_message(JumpRequested())

    def forget(self) -> None:
        """Draw afresh at the next :meth:`show` (the theme changed)."""
        self._shown = None

    def on_resize(self, event: events.Resize) -> None:
        if self._args is not None:
            self.show(*self._args)

    @staticmethod
    def _update(target: Static, text: Text) -> None:
        height = len(text.plain.split("\n"))
        if target.styles.height is None or target.styles.height.value != height:
            target.styles.height = height
            target.update(text)
        else:
            target.update(text, layout=False)

    def _style(self, name: str) -> str:
        return str(self.get_component_rich_style(f"inspector--{name}", partial=True))

    def _section(self, out: Text, title: str, lines: list[Line], width: int, label: str) -> None:
        """Every string here may come from the file (a value, a VR, a finding quoting them):
        shown with its control characters escaped, as Text (never markup)."""
        if out.plain:
            out.append("\n")
        out.append(terminal_safe(title), style=self._style("heading"))
        room = max(8, width - _LABEL)
        for raw in lines:
            line = Line(terminal_safe(raw.label), terminal_safe(raw.text), terminal_safe(raw.note))
            value = line.text + (f"  {line.note}" if line.note else "")
            chunks = textwrap.wrap(value, room, break_long_words=True, drop_whitespace=False) or [
                ""
            ]
            shown = 0
            for n, chunk in enumerate(chunks):
                out.append("\n")
                out.append(f"{line.label if n == 0 else '':<{_LABEL}}", style=label)
                # The note is dimmer: split each wrapped chunk where the note begins.
                start, end = shown, shown + len(chunk)
                split = len(line.text)
                if end <= split:
                    out.append(chunk)
                elif start >= split:
                    out.append(chunk, style=self._style("note"))
                else:
                    out.append(chunk[: split - start])
                    out.append(chunk[split - start :], style=self._style("note"))
                shown = end

    def _element(
        self,
        structure: Structure,
        node: int,
        stream: Stream,
        findings: list[Finding],
        width: int,
        pointer: Pointer | None = None,
    ) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        label = self._style("label")
        if findings:
            # What is wrong here comes first: it is why one looks at a broken file.
            lines = [ln for f in findings for ln in (Line(f.rule, ""), Line("", f.message))]
            self._section(out, "Findings here", lines, width, self._style("fault"))
        if pointer is not None:
            if pointer.target is None:
                line = Line("Points to", "nothing", f"{pointer.problem} ({pointer.what})")
            else:
                note = f"{pointer.what}; j or Enter here jumps"
                if pointer.problem:
                    note += f"; {pointer.problem}"
                line = Line("Points to", f"{pointer.target:#x}", note)
            entry = f"{pointer.value:,}" + (
                f" (entry {pointer.entry + 1} of {pointer.count})" if pointer.count > 1 else ""
            )
            self._section(out, "Offset value", [Line("Value", entry), line], width, label)
        if node >= 0:
            self._section(out, "Element", describe(structure, node), width, label)
            value = decode(structure, node)
            if value and structure.hidden(node):
                value = [Line("Value", MASKED, _MASK_NOTE)]
            if value:
                vr = structure.index.node(node).vr
                title = f"Value as {vr}" if vr else "Value"
                self._section(out, title, value, width, label)
        else:
            if out.plain:
                out.append("\n")
            out.append("No element holds these bytes.", style=self._style("fault"))
        return out

    def _cursor(self, structure: Structure, stream: Stream, cursor: int) -> Text:
        data = structure.read(stream, cursor, CURSOR_BYTES)
        node, part, _depth = structure.parts(stream, cursor, cursor + 1)[0]
        where = _PART_NAMES[part]
        if node >= 0:
            where += f" +{cursor - int(structure.offset[node])}"
        label = self._style("label")
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"Cursor {cursor:#x}: {where}\n", style=self._style("heading"))
        text.append(f"{'':4} {'little endian':>22} {'big endian':>22}", style=label)
        widths = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "f32": 4, "f64": 8}
        if not data and cursor < structure.streams[stream].size:
            text.append("\n(the file no longer holds this byte)", style=self._style("fault"))
        for name, le, be in cursor_numbers(data):
            if structure.hides(stream, cursor, cursor + widths.get(name, 8)):
                le = be = MASKED
            text.append(f"\n{name:4}", style=label)
            text.append(f" {le:>22} {be:>22}")
        return text
