"""Lazy decoding of element values by VR (PS3.5 6.2), on demand, never of pixel data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dcmstruct import specdata
from dcmstruct.index import ElementIndex
from dcmstruct.model import Kind, Stream

if TYPE_CHECKING:
    import numpy.typing as npt

# PS3.5 6.2 Table 6.2-1: numeric VRs and their numpy element types (byte order added later).
NUMERIC_DTYPES: dict[str, str] = {
    "US": "u2",
    "SS": "i2",
    "UL": "u4",
    "SL": "i4",
    "UV": "u8",
    "SV": "i8",
    "FL": "f4",
    "FD": "f8",
    "OW": "u2",
    "OL": "u4",
    "OV": "u8",
    "OF": "f4",
    "OD": "f8",
    "AT": "u2",
}
_PREVIEW_BYTES = 256  # never decode more than this for a one-line preview


def decode_numbers(vr: str, raw: bytes, little: bool) -> npt.NDArray[np.generic]:
    """The whole values of binary VR ``vr`` in ``raw`` (a partial last value is left out), in
    the given byte order; no copy of ``raw``."""
    dtype = np.dtype(NUMERIC_DTYPES[vr]).newbyteorder("<" if little else ">")
    return np.frombuffer(raw[: len(raw) - len(raw) % dtype.itemsize], dtype=dtype)


def little_endian(index: ElementIndex, i: int) -> bool:
    """The byte order of node ``i``'s value: the meta group is always little endian."""
    c = index.columns
    if int(c.tag[i]) >> 16 == 0x0002 or int(c.stream[i]) == Stream.INFLATED:
        return True
    enc = index.dataset_encoding
    return enc is None or enc.little_endian


def short_value(index: ElementIndex, i: int, width: int = 48) -> str:
    """A one-line preview of node ``i``'s value, at most ``width`` characters."""
    node = index.node(i)
    if node.kind != Kind.ELEMENT or node.length is None or node.vr in (None, "SQ"):
        return ""
    raw = index.value_bytes(i, _PREVIEW_BYTES)
    if raw is None:
        return ""
    total = int(index.columns.end[i]) - int(index.columns.value_offset[i])
    vr = node.vr
    info = specdata.vr_info(vr) if vr else None
    if info is not None and info.is_string:
        text = raw.decode("latin-1").rstrip(" \0")
        text = "".join(ch if ch.isprintable() else "." for ch in text)
        if total > _PREVIEW_BYTES:
            text += "..."
        return _clip(text, width)
    if vr in NUMERIC_DTYPES and vr not in ("OW", "OL", "OV", "OF", "OD"):
        values = decode_numbers(vr, raw, little_endian(index, i))
        usable = values.nbytes
        if vr == "AT":
            pairs = values[: len(values) - len(values) % 2].reshape(-1, 2)
            parts = [f"({g:04X},{e:04X})" for g, e in pairs.tolist()]
        else:
            parts = [repr(v) if isinstance(v, float) else str(v) for v in values.tolist()]
        text = "\\".join(parts)
        if usable != len(raw) or total > _PREVIEW_BYTES:
            text += "..."
        return _clip(text, width)
    text = " ".join(f"{b:02x}" for b in raw[: width // 3 + 1])
    return _clip(text + (" ..." if total > width // 3 + 1 else ""), width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
