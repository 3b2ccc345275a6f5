"""What a rule reports: a finding, located by byte offset and by path."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from dcmstruct.model import Stream


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


@dataclass(frozen=True, slots=True)
class Finding:
    """One fault: which rule, where (offset and length of the faulty bytes), and what."""

    rule: str
    severity: Severity
    offset: int
    length: int
    tag: int | None  # the element the fault is in, if any
    path: str  # nesting with item indices: "0008,1140[0]/0008,1155"
    message: str  # what was found and what was expected
    stream: Stream = Stream.FILE
    node: int = -1  # the index node it belongs to, -1 if none

    @property
    def tag_text(self) -> str | None:
        return None if self.tag is None else f"{self.tag >> 16:04X},{self.tag & 0xFFFF:04X}"
