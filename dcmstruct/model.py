"""The element index's data: node kinds, nodes in columns, and parse faults.

This is the one model that the validator, the TUI and the exports read. Nodes are stored in
numpy columns (a file of a million elements costs tens of MB, not a million Python objects);
:class:`Node` is a light view made on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import numpy as np

from dcmstruct import specdata
from dcmstruct.schema.layout import HeaderForm, format_tag

if TYPE_CHECKING:
    import numpy.typing as npt


class Kind(IntEnum):
    """Node kinds, named as the output contract names them."""

    PREAMBLE = 0
    PREFIX = 1
    ELEMENT = 2
    ITEM = 3
    ITEM_DELIMITER = 4
    SEQUENCE_DELIMITER = 5
    FRAGMENT = 6
    TRAILING = 7  # bytes that form no element

    @property
    def label(self) -> str:
        return self.name.lower()


class Stream(IntEnum):
    FILE = 0
    INFLATED = 1  # PS3.5 A.5: offsets count from the start of the inflated data set

    @property
    def label(self) -> str:
        return self.name.lower()


NO_TAG = 0xFFFFFFFF_FF  # outside the 32-bit tag range: "no tag" for preamble, prefix, trailing
UNDEFINED = -1  # the length column's value for FFFFFFFFH


def vr_code(vr: bytes | str | None) -> int:
    """Two VR bytes packed into one int (0 = none), so the VR column is numeric."""
    if not vr:
        return 0
    b = vr.encode("latin-1") if isinstance(vr, str) else vr
    return (b[0] << 8) | b[1]


def vr_text(code: int) -> str | None:
    if code == 0:
        return None
    return bytes(((code >> 8) & 0xFF, code & 0xFF)).decode("latin-1")


class Fault(NamedTuple):
    """A structural fault met while parsing, with where it is and how parsing went on."""

    code: str  # a rule name of the validator's catalogue
    offset: int
    length: int
    node: int  # the node it belongs to, -1 if none
    message: str
    stream: Stream = Stream.FILE


@dataclass(frozen=True, slots=True)
class Node:
    """One row of the index, as plain values."""

    index: int
    kind: Kind
    offset: int
    end: int
    tag: int | None
    vr: str | None
    vr_explicit: bool  # the VR was read from the file (explicit VR), not looked up
    length: int | None  # None: undefined length (FFFFFFFFH)
    value_offset: int | None
    depth: int
    parent: int
    stream: Stream

    @property
    def tag_text(self) -> str | None:
        return None if self.tag is None else format_tag(self.tag)

    @property
    def keyword(self) -> str | None:
        if self.tag is None or self.kind not in (Kind.ELEMENT,):
            return None
        return specdata.keyword(self.tag)


I8: TypeAlias = "npt.NDArray[np.int64]"


@dataclass
class Columns:
    """The node table: one numpy array per field, all of one length."""

    kind: npt.NDArray[np.uint8]
    offset: I8
    end: I8
    tag: I8  # NO_TAG where none applies
    vr: npt.NDArray[np.uint16]
    vr_explicit: npt.NDArray[np.bool_]
    length: I8  # UNDEFINED for FFFFFFFFH, -2 where none applies
    value_offset: I8  # -1 where none applies
    depth: npt.NDArray[np.int32]
    parent: npt.NDArray[np.int32]
    stream: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def header_form(self, i: int) -> HeaderForm:
        """Which header layout element ``i`` was read with (PS3.5 Tables 7.1-1 to 7.1-3):
        a 12-byte header is the long explicit form; an 8-byte one is short if its VR was read,
        else implicit (items and delimiters are the implicit layout too)."""
        if int(self.value_offset[i]) - int(self.offset[i]) == 12:
            return HeaderForm.LONG
        return HeaderForm.SHORT if bool(self.vr_explicit[i]) else HeaderForm.IMPLICIT

    def node(self, i: int) -> Node:
        tag = int(self.tag[i])
        length = int(self.length[i])
        value_offset = int(self.value_offset[i])
        return Node(
            index=i,
            kind=Kind(int(self.kind[i])),
            offset=int(self.offset[i]),
            end=int(self.end[i]),
            tag=None if tag == NO_TAG else tag,
            vr=vr_text(int(self.vr[i])),
            vr_explicit=bool(self.vr_explicit[i]),
            length=None if length == UNDEFINED else (None if length < 0 else length),
            value_offset=None if value_offset < 0 else value_offset,
            depth=int(self.depth[i]),
            parent=int(self.parent[i]),
            stream=Stream(int(self.stream[i])),
        )
