"""Which device made a file: its Manufacturer (0008,0070), Manufacturer's Model Name
(0008,1090) and Software Versions (0018,1020) (PS3.3 C.7.5.1, General Equipment Module), read
from the top level of the index, so that an archive's findings can be counted per device."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct.arrays import member
from dcmstruct.model import Kind

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex

MANUFACTURER = 0x00080070
MODEL = 0x00081090
SOFTWARE = 0x00181020
TAGS = (MANUFACTURER, MODEL, SOFTWARE)
# LO is at most 64 characters (PS3.5 6.2); a longer value is shown cut, not read whole.
_READ = 256


class Device(NamedTuple):
    """The three values as written (padding stripped, values of a multi-valued Software
    Versions joined by ``\\``); an empty string where the file has none."""

    manufacturer: str = ""
    model: str = ""
    software: str = ""


def device_of(index: ElementIndex) -> Device:
    """The device of an indexed file (top-level elements only: a value inside a sequence
    names some other equipment, a source image's for instance)."""
    c = index.columns
    top = (c.kind == Kind.ELEMENT) & (c.parent < 0)
    rows = np.flatnonzero(top & member(c.tag.astype(np.int64), np.array(TAGS, dtype=np.int64)))
    found: dict[int, str] = {}
    for node in rows.tolist():
        tag = int(c.tag[node])
        if tag in found:
            continue  # a duplicate: the first is what a reader sees
        raw = index.value_bytes(node, _READ) or b""
        found[tag] = raw.decode("latin-1").strip(" \0")
    return Device(*(found.get(tag, "") for tag in TAGS))


__all__ = ["Device", "device_of"]
