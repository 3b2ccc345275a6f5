"""What replaces each identifying range, byte for byte, so that a broken file can be shared.

Every de-identifier that goes through a DICOM library rewrites the file, and repairs, drops or
refuses exactly the fault its receiver needs to see. Here a file is never re-encoded: each range
that :func:`dcmstruct.privacy.classify` lists is overwritten in place by bytes of the same
length, so every offset, every length field and every structural fault stays as it was. Only
values change, never a header, an item or a delimiter:

* a UID (VR UI, whatever the action) becomes a UID of the same length derived from the original
  (``2.25.`` and digits of its SHA-256, PS3.5 B.2), so references between files still match;
* the preamble becomes zeros and unparsed bytes FFH (no walk reads that as an element);
* a private value becomes an empty value of its VR (spaces, or zeros where the VR is binary or
  unknown), and a private creator a name derived from the original (hex digits of its hash: two
  creators of one group coincide only by a collision);
* a value the profile replaces with a dummy (an action with D) becomes a dummy valid for its VR
  (``19000101`` for DA, ``REDACTED`` for names and texts, ``0`` for numbers), padded to length;
* a value it empties or removes (Z, X) becomes spaces (a string) or zeros (binary): an empty
  value of the same length, since the element itself stays;
* a sequence that is removed keeps its items; every value inside is replaced as above, but
  numbers that are neither private nor in the table (an icon's Rows): they name no one, and
  zeroing them would add faults;
* a value the profile cleans (C, under an option) is emptied: nothing here can clean it;
* pixel data that may show burned-in text (action C) is left as it is: no change to its bytes
  can be known to remove the text (the caller says so).

Values are read only to derive UIDs; nothing here returns or logs an original value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from dcmstruct import specdata
from dcmstruct.model import UNDEFINED, Kind, Stream, vr_text
from dcmstruct.privacy import Mark, identifying
from dcmstruct.schema.layout import PIXEL_DATA
from dcmstruct.values import decoding_vr

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex


class Patch(NamedTuple):
    """New bytes for ``[offset, offset + len(data))`` of ``stream``, and the range they redact."""

    stream: Stream
    offset: int
    data: bytes
    mark: Mark


#: Dummy values by VR (PS3.5 6.2): each valid for its VR, cut to the room there is.
_DUMMIES = {
    "DA": (b"19000101",),
    "DT": (b"19000101", b"1900"),
    "TM": (b"000000", b"0000", b"00"),
    "AS": (b"000Y",),
    "DS": (b"0",),
    "IS": (b"0",),
}
_TEXT_DUMMY = b"REDACTED"
_UID_ROOT = b"2.25."  # PS3.5 B.2: a UID derived from a UUID-sized integer


def patches(index: ElementIndex, marks: Iterable[Mark]) -> tuple[list[Patch], list[Mark]]:
    """The patches that redact ``marks`` (those of ``index``), in stream and offset order, and
    the marks left as they are: pixel data to clean by other means, and ranges the index did
    not record (the caller refuses those files). A deflated data set's file bytes are neither:
    the caller writes them again from the patched inflated stream."""
    out: list[Patch] = []
    left: list[Mark] = []
    c = index.columns
    for mark in marks:
        if mark.node < 0:
            if mark.stream == Stream.FILE and index.deflated:
                continue  # the deflated data set: written again from its redacted contents
            left.append(mark)
            continue
        kind = int(c.kind[mark.node])
        if kind in (Kind.PREAMBLE, Kind.TRAILING):
            out.append(Patch(mark.stream, mark.offset, _blank(kind, mark.length), mark))
            continue
        if mark.action == "C" and int(c.tag[mark.node]) == PIXEL_DATA:
            left.append(mark)  # no change to pixel bytes is known to remove burned-in text
            continue
        patch = _value_patch(index, mark)
        if patch is not None:
            out.append(patch)
    out.sort(key=lambda p: (int(p.stream), p.offset))
    return out, left


def _blank(kind: int, size: int) -> bytes:
    """What replaces the preamble (zeros, PS3.10 7.1's advice) or unparsed bytes: FFH, which
    no walk reads as an element (group FFFF is not used, and FFFFH is no VR), where zeros
    would read as a (0000,0000) element in Implicit VR and change the file's structure."""
    return bytes(size) if kind == Kind.PREAMBLE else b"\xff" * size


def _value_patch(index: ElementIndex, mark: Mark) -> Patch | None:
    """The patch of an element's value field (never its header), if it has one to replace."""
    c = index.columns
    node = mark.node
    start = int(c.value_offset[node])
    end = int(c.end[node])
    tag = int(c.tag[node])
    vr = decoding_vr(tag, vr_text(int(c.vr[node])) or "")
    if start < 0 or end <= start or int(c.length[node]) == UNDEFINED:
        return None  # no value, or an undefined length: its items are marks of their own
    if len(index.children(node, array=True)):
        return None  # a value read as items (a sequence, UN holding one): its nodes are marked
    if mark.inside and vr in _NUMBERS and not identifying(tag):
        # In a removed sequence, numbers (an icon's Rows, Bits Allocated) name no one, and
        # zeroing them would add faults the file does not have; its texts and pixels go, and
        # so does any number that is private or in the table itself.
        return None
    size = end - start
    if vr == "SQ":
        return Patch(Stream(int(c.stream[node])), start, bytes(size), mark)  # no items read
    if (tag >> 16) & 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF:
        data = private_creator(index.value_bytes(node, size) or b"", size)
    elif (tag >> 16) & 1 and vr != "UI":
        data = filler(vr, size, dummy=False)  # a private value: spaces, or zeros if binary
    elif vr == "UI":
        raw = index.value_bytes(node, size) or b""
        data = same_length_uid(raw)
    else:
        data = filler(vr, size, dummy="D" in mark.action)
    return Patch(Stream(int(c.stream[node])), start, data, mark)


# Binary numeric VRs (PS3.5 6.2): kept inside a removed sequence (see _value_patch).
_NUMBERS = frozenset({"AT", "FD", "FL", "SL", "SS", "SV", "UL", "US", "UV"})


def filler(vr: str, size: int, *, dummy: bool) -> bytes:
    """``size`` bytes valid as a value of ``vr``: a dummy, or an empty value (spaces for a
    string, zeros for binary data; an AE of spaces is no value at all, so it gets the dummy)."""
    info = specdata.vr_info(vr)
    if info is None or not info.is_string:
        return bytes(size)
    if dummy or vr == "AE":
        for candidate in _DUMMIES.get(vr, (_TEXT_DUMMY,)):
            if len(candidate) <= size:
                return candidate.ljust(size, b" ")
        if vr not in _DUMMIES:
            return _TEXT_DUMMY[:size]
    return b" " * size


def private_creator(raw: bytes, size: int) -> bytes:
    """A private creator of ``size`` bytes derived from the original: never empty, and two
    creators of one group stay two (an empty or a repeated creator is a fault of its own,
    PS3.5 7.8.1, that redaction must not add)."""
    name = raw.rstrip(b" \0")
    code = hashlib.sha256(b"dcmstruct:" + name).hexdigest().upper().encode()
    # Hex digits only up to 12 characters (16**n names), "PRIV" and digits beyond: two
    # creators of one group coincide only by a hash collision of that many digits.
    body = code[: len(name)] if len(name) <= 12 else (b"PRIV" + code)[: len(name)]
    return body.ljust(size, b" ")


def same_length_uid(raw: bytes) -> bytes:
    """A UID of ``len(raw)`` bytes, derived from the UID in ``raw`` (its padding kept): the
    same original always gives the same replacement, and different ones differ."""
    text = raw.rstrip(b"\0 ")
    pad = raw[len(text) :]
    digits = str(int.from_bytes(hashlib.sha256(b"dcmstruct:" + text).digest(), "big"))
    room = len(text)
    while len(digits) < room:  # never short of digits, however long the original
        digits += str(int.from_bytes(hashlib.sha256(digits.encode()).digest(), "big"))
    if room > len(_UID_ROOT):
        body = _UID_ROOT + digits[: room - len(_UID_ROOT)].encode()
    else:
        body = digits[:room].encode()  # one component; its first digit is never 0
    return body + pad


def apply(data: bytearray, base: int, found: Iterable[Patch], stream: Stream) -> None:
    """Write the patches of ``stream`` that fall in ``data`` (which holds the stream's bytes
    from ``base``)."""
    end = base + len(data)
    for patch in found:
        if patch.stream != stream:
            continue
        lo, hi = max(patch.offset, base), min(patch.offset + len(patch.data), end)
        if lo < hi:
            data[lo - base : hi - base] = patch.data[lo - patch.offset : hi - patch.offset]
