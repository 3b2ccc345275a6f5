"""What a rule's check sees: the index, plus the lookups every family needs."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Literal

from dcmstruct.index import ElementIndex
from dcmstruct.model import Kind, Node, Stream
from dcmstruct.schema.element import HeaderForm, format_tag
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import REGISTRY
from dcmstruct.values import little_endian

# Never hand a rule more than this many bytes of one value to look at.
MAX_VALUE_BYTES = 1 << 20


class Context:
    """The element index of one file and helpers over it. Read-only; rules share one."""

    def __init__(self, index: ElementIndex, severities: dict[str, Severity] | None = None) -> None:
        self.index = index
        self.columns = index.columns
        self.severities = severities or {}

    # -- findings --------------------------------------------------------------------------

    def finding(
        self,
        rule: str,
        message: str,
        *,
        node: int = -1,
        offset: int | None = None,
        length: int | None = None,
        tag: int | None = None,
        stream: Stream | None = None,
    ) -> Finding:
        """A finding of ``rule``; offset, length, tag, path and stream default to ``node``'s."""
        severity = self.severities[rule] if rule in self.severities else REGISTRY[rule].severity
        if node >= 0:
            c = self.columns
            if offset is None:
                offset = int(c.offset[node])
            if length is None:
                length = int(c.end[node]) - offset
            if tag is None and int(c.kind[node]) == Kind.ELEMENT:
                tag = int(c.tag[node])
            if stream is None:
                stream = Stream(int(c.stream[node]))
        return Finding(
            rule=rule,
            severity=severity,
            offset=0 if offset is None else offset,
            length=0 if length is None else max(0, length),
            tag=tag,
            path=self.path(node) if node >= 0 else (format_tag(tag) if tag is not None else ""),
            message=message,
            stream=stream or Stream.FILE,
            node=node,
        )

    # -- structure -------------------------------------------------------------------------

    def node(self, i: int) -> Node:
        return self.index.node(i)

    @cached_property
    def _item_numbers(self) -> dict[int, int]:
        """For each item node, its position among the items of its sequence (from 0)."""
        numbers: dict[int, int] = {}
        counts: dict[int, int] = {}
        c = self.columns
        for i in range(len(c)):
            if int(c.kind[i]) in (Kind.ITEM, Kind.FRAGMENT):
                parent = int(c.parent[i])
                numbers[i] = counts.get(parent, 0)
                counts[parent] = numbers[i] + 1
        return numbers

    def path(self, node: int) -> str:
        """``0008,1140[0]/0008,1155``: elements by tag, items by index, outermost first."""
        c = self.columns
        parts: list[str] = []
        i = node
        while i >= 0:
            kind = int(c.kind[i])
            if kind == Kind.ELEMENT:
                parts.append(format_tag(int(c.tag[i])))
            elif kind in (Kind.ITEM, Kind.FRAGMENT):
                parent = int(c.parent[i])
                number = self._item_numbers.get(i, 0)
                if parent >= 0:
                    parts.append(f"{format_tag(int(c.tag[parent]))}[{number}]")
                    i = int(c.parent[parent])
                    continue
                parts.append(f"[{number}]")
            i = int(c.parent[i])
        return "/".join(reversed(parts))

    def children(self, node: int) -> list[int]:
        """Nodes directly inside ``node`` (-1: the top level), in file order."""
        return self.index.children(node)

    @cached_property
    def tags(self) -> list[int]:
        """The tag column as a list: indexing a list is far cheaper than a numpy scalar."""
        return self.columns.tag.tolist()  # type: ignore[no-any-return]

    @cached_property
    def _datasets(self) -> list[tuple[int, list[int]]]:
        c = self.columns
        kinds = c.kind.tolist()
        parents = c.parent.tolist()
        tags = self.tags
        element, item = int(Kind.ELEMENT), int(Kind.ITEM)
        members: dict[int, list[int]] = {}
        owners = [-1]
        for i, kind in enumerate(kinds):
            if kind == element:
                parent = parents[i]
                if parent == -1 and tags[i] >> 16 == 0x0002:
                    continue  # the file meta group is not part of the data set
                members.setdefault(parent, []).append(i)
            elif kind == item:
                owners.append(i)
        return [(owner, members.get(owner, [])) for owner in owners]

    def datasets(self) -> Iterator[tuple[int, list[int]]]:
        """Every data set as (owner, element nodes): the top level (owner -1, the file meta
        group excluded) and each item of a sequence (owner: the item node)."""
        return iter(self._datasets)

    def meta(self) -> list[int]:
        """The element nodes of the file meta group (group 0002 at the top level)."""
        c = self.columns
        return [
            i
            for i in self.children(-1)
            if int(c.kind[i]) == Kind.ELEMENT and int(c.tag[i]) >> 16 == 0x0002
        ]

    def find_top(self, tag: int) -> int | None:
        """The first top-level element with ``tag``."""
        c = self.columns
        for i in self.children(-1):
            if int(c.tag[i]) == tag and int(c.kind[i]) == Kind.ELEMENT:
                return i
        return None

    def length_field(self, node: int) -> tuple[int, int]:
        """Offset and size of ``node``'s value length field: 16-bit at +6 in the short
        explicit form (PS3.5 Table 7.1-2), else the 4 bytes before the value (Table 7.1-1's
        long form, Table 7.1-3's implicit VR, and items, PS3.5 7.5)."""
        c = self.columns
        if c.header_form(node) == HeaderForm.SHORT:
            return int(c.offset[node]) + 6, 2
        return int(c.value_offset[node]) - 4, 4

    # -- values ----------------------------------------------------------------------------

    def value_bytes(self, node: int, limit: int = MAX_VALUE_BYTES) -> bytes | None:
        """At most ``limit`` bytes of ``node``'s value (None: undefined length or no value)."""
        return self.index.value_bytes(node, limit)

    def text(self, node: int) -> str | None:
        """A string value decoded (latin-1: every byte maps, so offsets stay countable)."""
        raw = self.value_bytes(node)
        return None if raw is None else raw.decode("latin-1")

    def little_endian(self, node: int) -> bool:
        return little_endian(self.index, node)

    def uint(self, node: int) -> int | None:
        """The first value of a US/UL element (or an IS string), if it has one."""
        raw = self.value_bytes(node, 64)
        vr = self.node(node).vr
        if raw is None:
            return None
        order: Literal["little", "big"] = "little" if self.little_endian(node) else "big"
        if vr == "US" and len(raw) >= 2:
            return int.from_bytes(raw[:2], order)
        if vr == "UL" and len(raw) >= 4:
            return int.from_bytes(raw[:4], order)
        if vr in ("IS", "DS", "UN", None):
            text = raw.decode("latin-1").split("\\")[0].strip(" \0")
            try:
                return int(text)
            except ValueError:
                return None
        return None
