"""Lazy decoding of element values by VR (PS3.5 6.2), on demand, never of pixel data.

The one decoder of the validator, the viewer, the dump and the front door: the byte order of a
value is decided here (:func:`little_endian`), binary values are decoded here
(:func:`decode_numbers`, :func:`decode_uints`, :func:`decode_tags`, :func:`first_int`) and
string values are split here (:func:`split_values`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from dcmstruct import specdata
from dcmstruct.index import ElementIndex
from dcmstruct.model import Kind, Stream
from dcmstruct.source import SourceChanged

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
# PS3.5 6.2: these string VRs hold one value; a backslash in them is text, not a separator.
SINGLE_VALUED = frozenset({"LT", "ST", "UT", "UR"})
# Binary VRs whose first value :func:`first_int` reads, and their sizes.
_UINT_SIZES = {"US": 2, "UL": 4}
# VRs whose value :func:`first_int` reads as a written number: IS, and what may hold one.
_TEXT_INTEGERS = ("IS", "DS", "UN", None)
_FIRST_BYTES = 64  # bytes read for a first value
_PREVIEW_BYTES = 256  # never decode more than this for a one-line preview
_META_GROUP = 0x0002


def _decode(code: str, raw: bytes, little: bool) -> npt.NDArray[np.generic]:
    dtype = np.dtype(code).newbyteorder("<" if little else ">")
    return np.frombuffer(raw[: len(raw) - len(raw) % dtype.itemsize], dtype=dtype)


def decode_numbers(vr: str, raw: bytes, little: bool) -> npt.NDArray[np.generic]:
    """The whole values of binary VR ``vr`` in ``raw`` (a partial last value is left out), in
    the given byte order; no copy of ``raw``."""
    return _decode(NUMERIC_DTYPES[vr], raw, little)


def decode_uints(raw: bytes, size: int, little: bool) -> npt.NDArray[np.generic]:
    """The whole unsigned integers of ``size`` bytes (1, 2, 4 or 8) in ``raw``, whatever the
    VR (a table of offsets, a lookup table), a partial last one left out; no copy."""
    return _decode(f"u{size}", raw, little)


def decode_tags(raw: bytes, little: bool) -> npt.NDArray[np.int64]:
    """The tags of an AT value (PS3.5 Table 6.2-1: a group number, then an element number,
    each 16 bits in the value's byte order), as ``group << 16 | element``; a partial last tag
    is left out."""
    words = decode_numbers("AT", raw, little)
    pairs = words[: len(words) - len(words) % 2].reshape(-1, 2).astype(np.int64)
    tags: npt.NDArray[np.int64] = (pairs[:, 0] << 16) | pairs[:, 1]
    return tags


def split_values(vr: str, text: str) -> list[str]:
    """The values of a string value, split at backslashes (PS3.5 6.4), except in the VRs that
    hold one value (:data:`SINGLE_VALUED`). Padding is left to the caller."""
    return [text] if vr in SINGLE_VALUED else text.split("\\")


def decoding_vr(tag: int, vr: str) -> str:
    """The VR a value is encoded in: the dictionary's where the file says UN, nothing, or bytes
    that are no VR (PS3.5 6.2.2: a UN value is the implicit little endian encoding of the real
    VR); ``vr`` itself where the dictionary gives none, or more than one."""
    if vr not in ("UN", "") and specdata.vr_info(vr) is not None:
        return vr
    entry = specdata.lookup(tag)
    if entry is None or len(entry.vrs) != 1 or entry.vrs[0] in ("NONE", "UN"):
        return vr
    return entry.vrs[0]


def little_endian(index: ElementIndex, i: int) -> bool:
    """The byte order node ``i``'s value was read in, decided for everyone here.

    A deflated data set is little endian (PS3.5 A.5). An element of group 0002 is in the byte
    order its own tag was written in: the file meta group is little endian (PS3.10 7.1), but a
    writer that encoded it big endian gets it read big endian (META_NOT_EXPLICIT_LE), and so
    does a group 0002 element misplaced in a big endian data set. Anything else is in the data
    set's byte order."""
    c = index.columns
    if int(c.stream[i]) == Stream.INFLATED:
        return True
    if int(c.tag[i]) >> 16 == _META_GROUP:
        return not _tag_written_big_endian(index, i)
    enc = index.dataset_encoding
    return enc is None or enc.little_endian


def _tag_written_big_endian(index: ElementIndex, i: int) -> bool:
    c = index.columns
    try:
        head = index.read(Stream(int(c.stream[i])), int(c.offset[i]), 2)
    except (SourceChanged, OSError):
        return False  # the file changed since it was indexed: the meta group's rule stands
    return head == _META_GROUP.to_bytes(2, "big")


def byte_order(index: ElementIndex, i: int) -> Literal["little", "big"]:
    """:func:`little_endian` as ``int.from_bytes`` takes it."""
    return "little" if little_endian(index, i) else "big"


def first_int(index: ElementIndex, i: int, size: int | None = None) -> int | None:
    """The first value of node ``i`` as an integer, if it has one: an unsigned integer of
    ``size`` bytes whatever its VR; without ``size``, by its VR: US and UL unsigned, and an
    IS value (or DS, UN or an unknown VR) whose first value is written as a whole number."""
    raw = index.value_bytes(i, _FIRST_BYTES if size is None else size)
    if raw is None:
        return None
    vr = index.node(i).vr if size is None else None
    width = size if size is not None else _UINT_SIZES.get(vr or "")
    if width is not None:
        return int.from_bytes(raw[:width], byte_order(index, i)) if len(raw) >= width else None
    if vr in _TEXT_INTEGERS:
        text = raw.decode("latin-1").split("\\")[0].strip(" \0")
        try:
            return int(text)
        except ValueError:
            return None
    return None


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
        little = little_endian(index, i)
        if vr == "AT":
            tags = decode_tags(raw, little).tolist()
            usable = len(raw) - len(raw) % 2  # as for US: a lone group number is not flagged
            parts = [f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in tags]
        else:
            values = decode_numbers(vr, raw, little)
            usable = values.nbytes
            parts = [repr(v) if isinstance(v, float) else str(v) for v in values.tolist()]
        text = "\\".join(parts)
        if usable != len(raw) or total > _PREVIEW_BYTES:
            text += "..."
        return _clip(text, width)
    text = " ".join(f"{b:02x}" for b in raw[: width // 3 + 1])
    return _clip(text + (" ..." if total > width // 3 + 1 else ""), width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
