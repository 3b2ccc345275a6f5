"""What a rule's check sees: the index, plus the lookups every family needs."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct.index import ElementIndex
from dcmstruct.model import Kind, Node, Stream
from dcmstruct.schema.layout import HeaderForm, format_tag
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import REGISTRY
from dcmstruct.values import first_int, little_endian

if TYPE_CHECKING:
    import numpy.typing as npt

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
    def _item_numbers(self) -> npt.NDArray[np.int32]:
        from dcmstruct.paths import item_numbers  # only once a finding needs a path

        return item_numbers(self.columns)

    def path(self, node: int) -> str:
        """``0008,1140[0]/0008,1155``: elements by tag, items by index, outermost first."""
        from dcmstruct.paths import node_path

        return node_path(self.columns, self._item_numbers, node)

    def children(self, node: int) -> list[int]:
        """Nodes directly inside ``node`` (-1: the top level), in file order."""
        return self.index.children(node)

    @cached_property
    def dataset_elements(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Every element of every data set, as columns: ``(nodes, keys)``, grouped by data set
        (each group in file order). A data set is the file meta group (key -2), the top level
        without it (key -1), or an item of a sequence (key: the item node). About 16 bytes a
        node, and no Python object per node: rules over every data set are column operations
        on these."""
        c = self.columns
        kinds = c.kind
        parents = c.parent.astype(np.int64)
        elements = kinds == Kind.ELEMENT
        in_item = np.zeros(len(c), dtype=np.bool_)
        inside = elements & (parents >= 0)
        in_item[inside] = kinds[parents[inside]] == Kind.ITEM
        top = elements & (parents == -1)
        nodes = np.flatnonzero(in_item | top)
        keys = parents[nodes]
        keys[(keys == -1) & ((c.tag[nodes] >> 16) == 0x0002)] = -2
        order = np.argsort(keys, kind="stable")
        return nodes[order], keys[order]

    def datasets(self) -> Iterator[tuple[int, list[int]]]:
        """Each data set that has elements, as (key, element nodes in file order); see
        :attr:`dataset_elements` (the meta group's key is -2)."""
        nodes, keys = self.dataset_elements
        if not len(nodes):
            return
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).tolist()
        ends = [*starts[1:], len(nodes)]
        for a, b in zip(starts, ends, strict=True):
            yield int(keys[a]), nodes[a:b].tolist()

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

    def uint(self, node: int, size: int | None = None) -> int | None:
        """The first value of a US/UL element (or an IS string), if it has one; with ``size``,
        the first ``size`` bytes as an unsigned integer whatever the VR
        (:func:`dcmstruct.values.first_int`)."""
        return first_int(self.index, node, size)
