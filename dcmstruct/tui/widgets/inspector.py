"""The inspector pane: the selected element decoded by VR, and the bytes at the cursor as
numbers of every common type in both byte orders."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from dcmstruct.model import Stream
from dcmstruct.tui.decode import Line, cursor_numbers, decode, describe
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


class Inspector(VerticalScroll):
    """Shows what :meth:`show` is given; knows nothing of the other panes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "inspector--heading",
        "inspector--label",
        "inspector--note",
        "inspector--fault",
    }

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="inspector-body")

    def show(
        self,
        structure: Structure,
        node: int,
        stream: Stream,
        cursor: int,
        findings: list[Finding],
    ) -> None:
        self.query_one("#inspector-body", Static).update(
            self._render_all(structure, node, stream, cursor, findings)
        )

    def _style(self, name: str) -> str:
        return str(self.get_component_rich_style(f"inspector--{name}", partial=True))

    def _lines(self, title: str, lines: list[Line]) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(style=self._style("label"), no_wrap=True)
        table.add_column(overflow="fold")
        table.title = title
        table.title_justify = "left"
        table.title_style = self._style("heading")
        for line in lines:
            value = Text(line.text)
            if line.note:
                value.append(f"  {line.note}", style=self._style("note"))
            table.add_row(line.label, value)
        return table

    def _render_all(
        self,
        structure: Structure,
        node: int,
        stream: Stream,
        cursor: int,
        findings: list[Finding],
    ) -> RenderableType:
        parts: list[RenderableType] = []
        if node >= 0:
            parts.append(self._lines("Element", describe(structure, node)))
            value = decode(structure, node)
            if value:
                vr = structure.index.node(node).vr
                parts.append(self._lines(f"Value as {vr}" if vr else "Value", value))
        else:
            parts.append(Text("No element holds these bytes.", style=self._style("fault")))
        if findings:
            table = Table.grid(padding=(0, 1))
            table.add_column(style=self._style("fault"), no_wrap=True)
            table.add_column(overflow="fold")
            table.title = "Findings here"
            table.title_justify = "left"
            table.title_style = self._style("heading")
            for f in findings:
                table.add_row(f.rule, f.message)
            parts.append(table)
        parts.append(self._cursor_table(structure, stream, cursor))
        return Group(*parts)

    def _cursor_table(self, structure: Structure, stream: Stream, cursor: int) -> Table:
        sm = structure.streams[stream]
        node, part, _depth = structure.parts(stream, cursor, cursor + 1)[0]
        where = _PART_NAMES[part]
        if node >= 0:
            where += f" +{cursor - int(structure.offset[node])}"
        table = Table(
            box=None,
            padding=(0, 1),
            title=f"Cursor {cursor:#x}: {where}",
            title_justify="left",
            title_style=self._style("heading"),
            header_style=self._style("label"),
        )
        table.add_column("type", style=self._style("label"), no_wrap=True)
        table.add_column("little endian", no_wrap=True)
        table.add_column("big endian", no_wrap=True)
        for name, le, be in cursor_numbers(sm.buf, sm.size, cursor):
            table.add_row(name, le, be)
        return table
