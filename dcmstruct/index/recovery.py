"""Recovery: what the walker does when the bytes at hand are not the element they should be.

A length that runs past its container, bytes that are no element (garbage, a zero run, text),
a VR that is no VR code, a header written in the wrong form. Each becomes a fault; the walk then
goes on at the next plausible element, found by a scan that is linear in the bytes it passes
(numpy over 1 MiB pieces, zero runs skipped at memory speed) and has no window: valid elements
after a damaged region of any length are found and listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct import specdata
from dcmstruct.index.base import (
    FRAME_NAMES,
    VALID_VRS,
    Frame,
    FrameKind,
    WalkerBase,
    implicit_vr,
    vr_str,
)
from dcmstruct.index.faults import FaultCode
from dcmstruct.model import Kind, vr_code
from dcmstruct.safetext import safe_bytes
from dcmstruct.schema.layout import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    HEADER,
    IMPLICIT_HEADER,
    IMPLICIT_LE,
    IMPLICIT_LENGTH_AT,
    ITEM_GROUP,
    LENGTH_32_SIZE,
    LONG_HEADER,
    LONG_LENGTH_AT,
    PIXEL_DATA,
    RESERVED_AT,
    SHORT_HEADER,
    SHORT_LENGTH_AT,
    UNDEFINED_LENGTH,
    VR_AT,
    Encoding,
    format_tag,
)
from dcmstruct.wording import count

if TYPE_CHECKING:
    import numpy.typing as npt

# Groups no element of a file's data set can have: 0000 is the command group of DIMSE
# messages (PS3.7), FFFF is illegal (PS3.5 7.8.1). At a header position they mean garbage:
# a zero run, FF padding, or text.
GARBAGE_GROUPS = frozenset({0x0000, 0xFFFF})
# Bytes scanned at a time when looking for the next element: the scan's numpy temporaries are
# about 60 bytes per byte scanned, so a quarter MiB keeps them near 16 MiB.
_SCAN_PIECE = 1 << 18
_ZERO_PROBE = 1 << 20  # bytes of a garbage run looked at to call it a zero run
# For the scan: is this 16-bit value (first byte high) a VR code?
_VR_TABLE = np.zeros(1 << 16, dtype=np.bool_)
for _vr in VALID_VRS:
    _VR_TABLE[vr_code(_vr)] = True


def _form(n: int) -> str:
    """The verb after ``count(n, "byte")``: "1 byte forms", "2 bytes form"."""
    return "forms" if n == 1 else "form"


def _u16(raw: npt.NDArray[np.uint8], at: int, n: int, little: bool) -> npt.NDArray[np.int64]:
    """The 16-bit words at ``at .. at + n - 1`` (vectorised header reads for the scan)."""
    a = raw[at : at + n].astype(np.int64)
    b = raw[at + 1 : at + 1 + n].astype(np.int64)
    return (a | (b << 8)) if little else ((a << 8) | b)


class RecoveryWalk(WalkerBase):
    # -- finding the next element ------------------------------------------------------------

    def resync(
        self, start: int, limit: int, f: Frame, *, after_tag: int, confirm: int
    ) -> int | None:
        """The next offset in [start, limit) where a plausible element header starts.

        Plausible: its tag is greater than ``after_tag`` (data sets are sorted, PS3.5 7.1), its
        VR (explicit) is a VR code, its length fits in ``limit``; with ``confirm`` = n, the n
        elements after it must be plausible too (each ascending), or the chain must end exactly
        at ``limit``. The scan covers everything up to ``limit``: its cost is linear in the
        bytes passed, and pieces of zeros cost a comparison each.
        """
        enc = f.enc
        stop = limit - HEADER
        if stop < start:
            return None
        for cand in self.candidates(start, stop, limit, after_tag, enc):
            tag = self.peek_tag(cand, enc, limit) or 0
            if not enc.explicit_vr and specdata.lookup(tag) is None:
                continue
            if not self.header_fits(cand, enc, limit):
                continue
            if self.chain(cand, tag, enc, limit, confirm):
                return cand
        return None

    def chain(self, pos: int, tag: int, enc: Encoding, limit: int, links: int) -> bool:
        """Are the ``links`` elements after the one at ``pos`` plausible and ascending?"""
        for _ in range(links):
            nxt = self.element_end(pos, enc)
            if nxt == limit:
                return True
            if nxt is None or nxt > limit or not self.header_fits(nxt, enc, limit):
                return False
            following = self.peek_tag(nxt, enc, limit) or 0
            if following <= tag:
                return False
            pos, tag = nxt, following
        return True

    def candidates(
        self, start: int, stop: int, limit: int, after_tag: int, enc: Encoding
    ) -> Iterator[int]:
        """Offsets in [start, stop] whose header has an ascending tag of a usable group and, in
        explicit VR, a VR code at bytes 4-5; in implicit VR, a length that fits."""
        little = enc.little_endian
        explicit = enc.explicit_vr
        for base, data in self.win.chunks(start, stop + 1, 8, _SCAN_PIECE):
            raw = np.frombuffer(data, dtype=np.uint8)
            n = min(stop + 1 - base, _SCAN_PIECE, len(raw) - 7)
            if n <= 0:
                continue
            if not raw[: n + 7].any():
                continue  # a zero run: no header starts here
            group = _u16(raw, 0, n, little)
            element = _u16(raw, 2, n, little)
            tag = (group << 16) | element
            ok = (tag > after_tag) & (group != ITEM_GROUP) & (group != 0) & (group != 0xFFFF)
            if explicit:
                ok &= _VR_TABLE[_u16(raw, 4, n, False)]
            else:
                lo, hi = _u16(raw, 4, n, little), _u16(raw, 6, n, little)
                length = (lo | (hi << 16)) if little else ((lo << 16) | hi)
                at = np.arange(n, dtype=np.int64) + base
                ok &= (length == UNDEFINED_LENGTH) | (at + IMPLICIT_HEADER + length <= limit)
            yield from (np.flatnonzero(ok) + base).tolist()

    # -- bytes that are no element -------------------------------------------------------------

    def garbage(self, f: Frame, pos: int, why: str) -> int:
        """Bytes at ``pos`` that are no element: re-synchronise, or the rest is trailing."""
        limit = f.end
        after = self.last_tag(f)
        # From pos + 1: a header one byte off (VL 3 with 4 bytes written) is the common slip.
        nxt = self.resync(pos + 1, limit, f, after_tag=after, confirm=1)
        if nxt is None and after >= 0:
            # The elements after the damage may not ascend from the last one before it (the
            # damage may have been read as an element with a high tag): a longer chain of
            # elements is then the evidence instead.
            nxt = self.resync(pos + 1, limit, f, after_tag=-1, confirm=3)
        stop = limit if nxt is None else nxt
        node = self.trailing(pos, stop, f.depth, f.node)
        # Classify from at most the first MiB: the run may be gigabytes (never copy it whole).
        probe = self.win.get(pos, min(stop - pos, _ZERO_PROBE))
        zeros = not probe.strip(b"\0")
        if zeros and stop - pos > _ZERO_PROBE:
            what = "byte (the first MiB all zero)"
        else:
            what = "zero byte" if zeros else "byte"
        self.fault(
            FaultCode.TRAILING_BYTES,
            pos,
            stop - pos,
            node,
            f"{count(stop - pos, what)} at {pos:#x} {_form(stop - pos)} no element ({why})"
            + (f"; re-synchronised at {nxt:#x}" if nxt is not None else ""),
        )
        return stop

    def leftover(self, f: Frame, pos: int, stack: list[Frame]) -> None:
        """Fewer bytes than a header before the frame's limit."""
        limit = f.end
        n = limit - pos
        if f.defined:
            code = (
                FaultCode.SEQUENCE_LENGTH_MISMATCH
                if f.kind == FrameKind.SEQUENCE
                else FaultCode.TRAILING_BYTES
            )
            msg = (
                f"{count(n, 'byte')} at the end of a defined-length {FRAME_NAMES[f.kind]} "
                f"{_form(n)} no element; expected the container to end with its last element"
            )
        elif f.kind in (FrameKind.DATASET, FrameKind.META) and self.partial_header(f, pos):
            code = FaultCode.FILE_TRUNCATED
            msg = f"the file ends {count(n, 'byte')} into an element header"
        elif f.kind in (FrameKind.DATASET, FrameKind.META):
            code = FaultCode.TRAILING_BYTES
            msg = (
                f"{count(n, 'byte')} after the last element {_form(n)} no element; expected the "
                "file to end with its last element"
            )
        else:
            code = FaultCode.FILE_TRUNCATED
            msg = f"the file ends {count(n, 'byte')} into a {FRAME_NAMES[f.kind]} header"
        node = self.trailing(pos, limit, f.depth, f.node)
        if self.first_cut(limit) or not f.defined:
            self.fault(code, pos, n, node, msg)

    def sequence_overrun(self, f: Frame, pos: int, stack: list[Frame]) -> bool:
        """Does the defined length of sequence ``f`` run past its last item, into the elements
        of the data set that holds it? Then close the sequence at ``pos`` and say so once.

        The bytes at ``pos`` (no item) must read as the enclosing data set's next elements: a
        tag above the sequence's, headers that fit the enclosing container and ascend, on to
        the sequence's declared end and one element past it (or the container's end). A
        writer that counted an element or two too many loses nothing that way; an element
        written into the sequence with a lower tag stays ITEM_EXPECTED.
        """
        node = f.node
        if f.kind != FrameKind.SEQUENCE or not f.defined or node < 0 or len(stack) < 2:
            return False
        parent = stack[-2]
        if stack[-1] is not f or parent.kind not in (FrameKind.DATASET, FrameKind.ITEM):
            return False
        t = self.t
        declared = t.length(node)
        if declared < 0 or t.value_offset(node) + declared != f.end:
            return False  # cut at its container's end: that fault is already reported
        enc, limit = parent.enc, parent.end
        seq_tag = t.tag(node)
        first = self.parent_element(pos, seq_tag, enc, limit)
        if first is None:
            return False
        at, last = pos, first
        while True:
            end = self.element_end(at, enc)
            if end is None or end > limit:
                return False
            if end >= f.end:
                break
            nxt = self.parent_element(end, last, enc, limit)
            if nxt is None:
                return False
            at, last = end, nxt
        if end < limit and self.parent_element(end, last, enc, limit) is None:
            return False
        n = f.end - pos
        where = FRAME_NAMES[parent.kind]
        after = "its last item" if len(t) - 1 > node else "its header (it holds no item)"
        self.fault(
            FaultCode.SEQUENCE_LENGTH_MISMATCH,
            pos,
            n,
            node,
            f"({format_tag(seq_tag)}) has a defined length of {declared} that runs "
            f"{count(n, 'byte')} past {after}: the bytes at {pos:#x} read as the enclosing "
            f"{where}'s next elements, from ({format_tag(first)}); the sequence is closed at "
            f"{pos:#x} and the walk resumed with the enclosing {where}",
        )
        stack.pop()
        t.set_end(node, pos)
        return True

    def parent_element(self, pos: int, after_tag: int, enc: Encoding, limit: int) -> int | None:
        """The tag of a plausible element header at ``pos`` (ascending after ``after_tag``)."""
        if not self.header_fits(pos, enc, limit):
            return None
        tag = self.peek_tag(pos, enc, limit) or 0
        group = tag >> 16
        if tag <= after_tag or group == ITEM_GROUP or group in GARBAGE_GROUPS:
            return None
        if not enc.explicit_vr and specdata.lookup(tag) is None and not group & 1:
            return None  # implicit VR: no VR to check, so an unknown standard tag is no evidence
        return tag

    def partial_header(self, f: Frame, pos: int) -> bool:
        """Do the (fewer than 8, or 8-11) bytes at ``pos`` start like the next element's header?"""
        n = min(f.end, self.size) - pos
        if n < 4:
            return False
        group, elem = self.win.unpack(f.enc.tag, pos)
        tag = group << 16 | elem
        if group in GARBAGE_GROUPS or tag <= self.last_tag(f):
            return False
        return not f.enc.explicit_vr or n < VR_AT + 2 or self.win.get(pos + VR_AT, 2) in VALID_VRS

    # -- lengths that do not fit ---------------------------------------------------------------

    def overrun(
        self,
        f: Frame,
        tag: int,
        length: int,
        pos: int,
        header: int,
        explicit: bool,
        limit: int,
        *,
        resync: bool,
    ) -> int:
        """A defined length that runs past its container: resynchronise, or clamp to the limit.

        The fault points at the length field: 16-bit at +6 in the short explicit form (PS3.5
        Table 7.1-2), 32-bit at +8 in the long form (Table 7.1-1) and at +4 in implicit VR.
        """
        value_offset = pos + header
        if header == LONG_HEADER:
            field_at, field_size = pos + LONG_LENGTH_AT, 4
        elif explicit:
            field_at, field_size = pos + SHORT_LENGTH_AT, 2
        else:
            field_at, field_size = pos + IMPLICIT_LENGTH_AT, 4
        node = len(self.t)
        where = self.container_name(f)
        over = value_offset + length - limit
        found = None
        if resync and tag != PIXEL_DATA:
            found = self.resync(value_offset, limit, f, after_tag=tag, confirm=1)
        if found is not None:
            self.fault(
                FaultCode.VALUE_OVERRUNS_PARENT,
                field_at,
                field_size,
                node,
                f"({format_tag(tag)}) value length {length} runs {count(over, 'byte')} past the "
                f"end of {where}; re-synchronised at the next plausible element at {found:#x}",
            )
            return found
        if not self.first_cut(limit):
            return limit
        truncated = limit == self.size and not (f.kind == FrameKind.ITEM and f.defined)
        hostile = length >= self.size
        code = (
            FaultCode.FILE_TRUNCATED
            if truncated and not hostile
            else FaultCode.VALUE_OVERRUNS_PARENT
        )
        self.fault(
            code,
            field_at,
            field_size,
            node,
            f"({format_tag(tag)}) value length {length} runs {count(over, 'byte')} past the end "
            f"of {where}; the value is cut at {limit:#x}",
        )
        return limit

    def implausible(self, f: Frame, pos: int, tag: int, header: int, explicit: bool) -> bool:
        """Is the element header at ``pos`` one no writer would produce?"""
        if explicit:
            # PS3.5 7.1.2: the reserved bytes of the long form are 0000H.
            return header == LONG_HEADER and self.win.get(pos + RESERVED_AT, 2) != b"\0\0"
        if specdata.lookup(tag) is not None:
            return False
        return not self.private_with_creator(f, tag)

    def private_with_creator(self, f: Frame, tag: int) -> bool:
        """Is ``tag`` a private element whose creator was recorded in frame ``f``?"""
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 0 or element < 0x1000:
            return False  # an unknown standard tag, or a private one in a reserved range
        creator = (group << 16) | (element >> 8)
        t = self.t
        for i in range(len(t) - 1, max(-1, len(t) - 4097), -1):
            if t.parent(i) == f.node and t.tag(i) == creator:
                return True
        return False

    # -- headers in the wrong form -------------------------------------------------------------

    def short_form_instead(
        self, pos: int, tag: int, short_length: int, long_length: int, limit: int, enc: Encoding
    ) -> bool:
        """A long-form VR whose header reads better in the short form (PS3.5 Table 7.1-2)?

        Only when the 16-bit reading ends where a plausible next element (or the container)
        starts and the 32-bit reading does not: nonzero reserved bytes alone are not enough.
        """
        short_end = pos + SHORT_HEADER + short_length
        if short_end > limit:
            return False
        if short_end < limit and not (
            self.header_fits(short_end, enc, limit)
            and (self.peek_tag(short_end, enc, limit) or 0) > tag
        ):
            return False
        if long_length == UNDEFINED_LENGTH:
            return False
        long_end = pos + LONG_HEADER + long_length
        return long_end > limit or (long_end < limit and not self.header_fits(long_end, enc, limit))

    def long_form_instead(self, f: Frame, pos: int) -> int | None:
        """Was the element just before ``pos`` a short-form VR written in the long form?

        Read in the short form, its reserved bytes 0000H became a zero length and its 32-bit
        length became the start of a "next element" with no valid VR: the one at ``pos``.
        """
        t = self.t
        last = len(t) - 1
        if last < 0 or t.kind(last) != Kind.ELEMENT or t.end(last) != pos:
            return None
        start = t.offset(last)
        if (
            t.length(last) != 0
            or not t.vr_explicit(last)
            or t.value_offset(last) != start + SHORT_HEADER
            or t.parent(last) != f.node
            or pos + LENGTH_32_SIZE > f.end  # the 32-bit length the long form adds
        ):
            return None
        length = int(self.win.unpack(f.enc.u32, pos)[0])
        end = pos + LENGTH_32_SIZE + length
        if length == UNDEFINED_LENGTH or end > f.end:
            return None
        if end < f.end and not self.header_fits(end, f.enc, f.end):
            return None
        t.set_value(last, length, pos + LENGTH_32_SIZE, end)
        vr = vr_str(t.vr(last))
        self.fault(
            FaultCode.LENGTH_FIELD_FORM_WRONG,
            start + RESERVED_AT,
            LONG_HEADER - RESERVED_AT,
            last,
            f"({format_tag(t.tag(last))}) {vr} takes a 16-bit length (PS3.5 Table "
            f"7.1-2), but is written with 2 reserved bytes and a 32-bit length {length}",
        )
        return end

    def bad_vr(self, f: Frame, pos: int, tag: int, vr: bytes, stack: list[Frame]) -> int:
        """Explicit VR bytes that are no VR code: implicit VR here, or a damaged header."""
        enc = f.enc
        limit = f.end
        fixed = self.long_form_instead(f, pos)
        if fixed is not None:
            return fixed
        if tag <= self.last_tag(f):
            # Neither a VR nor an ascending tag: no element starts here.
            return self.garbage(f, pos, f"no VR, and ({format_tag(tag)}) does not ascend")
        implicit = IMPLICIT_LE if enc.little_endian else None
        node = len(self.t)
        if (
            implicit is not None
            and self.header_fits(pos, implicit, limit)
            and (specdata.lookup(tag) is not None or tag & 0x10000)
        ):
            self.fault(
                FaultCode.TRANSFER_SYNTAX_MISMATCH,
                pos,
                8,
                node,
                f"({format_tag(tag)}) is encoded Implicit VR (bytes 4-5 '{safe_bytes(vr)}' are "
                f"no VR) inside an {enc.name} data set",
            )
            length = self.win.unpack(implicit.u32, pos + IMPLICIT_LENGTH_AT)[0]
            return self.finish_element(
                f, pos, tag, implicit_vr(tag), False, IMPLICIT_HEADER, length, stack
            )
        known = specdata.lookup(tag) is not None or self.private_with_creator(f, tag)
        invalid = f"({format_tag(tag)}) VR bytes '{safe_bytes(vr)}' are not a VR code of PS3.5 6.2"
        # Guess the header form from the bytes that would be a long form's reserved field. A
        # guess is taken only if the element after it reads as one too (or ends the container):
        # random bytes with a high tag would otherwise become an "element" whose tag hides
        # every valid element after it from re-synchronisation.
        if self.win.get(pos + RESERVED_AT, 2) == b"\0\0" and pos + LONG_HEADER <= limit:
            length = self.win.unpack(enc.u32, pos + LONG_LENGTH_AT)[0]
            if length == UNDEFINED_LENGTH or (
                pos + LONG_HEADER + length <= limit
                and (known or self.follows(pos + LONG_HEADER + length, tag, f))
            ):
                self.fault(FaultCode.INVALID_VR, pos + VR_AT, 2, node, invalid)
                return self.finish_element(
                    f, pos, tag, vr_code(vr), True, LONG_HEADER, length, stack
                )
        length = self.win.unpack(enc.u16, pos + SHORT_LENGTH_AT)[0]
        end = pos + SHORT_HEADER + length
        if end <= limit and (known or self.follows(end, tag, f)):
            self.fault(FaultCode.INVALID_VR, pos + VR_AT, 2, node, invalid)
            return self.finish_element(f, pos, tag, vr_code(vr), True, SHORT_HEADER, length, stack)
        # Neither header form gives a length that fits: not an element with a bad VR, but
        # bytes that are no element at all.
        return self.garbage(
            f, pos, f"no valid VR, and no length that leads to an element at {pos:#x}"
        )

    def follows(self, end: int, tag: int, f: Frame) -> bool:
        """Does a plausible element with a greater tag start at ``end`` (or the frame end)?"""
        if end == f.end:
            return True
        return (
            end < f.end
            and self.header_fits(end, f.enc, f.end)
            and (self.peek_tag(end, f.enc, f.end) or 0) > tag
        )

    def explicit_in_implicit(self, f: Frame, pos: int, tag: int, stack: list[Frame]) -> int | None:
        """A single explicit VR element inside an implicit VR data set (PS3.5 A.1)?"""
        enc = f.enc
        vr = self.win.get(pos + VR_AT, 2)
        explicit = EXPLICIT_LE if enc.little_endian else EXPLICIT_BE
        if vr not in VALID_VRS or not self.header_fits(pos, explicit, f.end):
            return None
        self.fault(
            FaultCode.TRANSFER_SYNTAX_MISMATCH,
            pos,
            8,
            len(self.t),
            f"({format_tag(tag)}) is encoded with an explicit VR '{vr.decode()}' "
            "inside an Implicit VR data set",
        )
        f.enc = explicit
        try:
            return self.element(f, pos, stack)
        finally:
            f.enc = enc
