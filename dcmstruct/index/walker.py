"""The walk: data sets, sequences, items and fragments, with its own stack (never recursion).

The common case (a header that fits, a short value that fits) is inlined in :meth:`walk`;
anything else goes through :meth:`element` and the recovery and container parts.
"""

from __future__ import annotations

from dcmstruct.index.base import (
    NO_PAUSE,
    SQ,
    UN,
    VALID_VRS,
    VR_CODES,
    Frame,
    FrameKind,
    implicit_vr,
    vr_str,
)
from dcmstruct.index.bulk import BulkWalk
from dcmstruct.index.container import ContainerWalk
from dcmstruct.index.deflate import DeflateWalk
from dcmstruct.index.faults import FaultCode
from dcmstruct.index.recovery import GARBAGE_GROUPS, RecoveryWalk
from dcmstruct.index.table import B_END, BIG_FIELDS, EXPLICIT_BIT, STREAM_SHIFT
from dcmstruct.model import UNDEFINED, Kind
from dcmstruct.schema.layout import (
    EXPLICIT_LE,
    HEADER,
    IMPLICIT_HEADER,
    IMPLICIT_LE,
    IMPLICIT_LENGTH_AT,
    ITEM,
    ITEM_DELIMITER,
    ITEM_GROUP,
    LENGTH_32_SIZE,
    LONG_HEADER,
    LONG_LENGTH_AT,
    LONG_LENGTH_VRS,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    SHORT_LENGTH_AT,
    UNDEFINED_LENGTH,
    Encoding,
    format_tag,
    items_follow,
)
from dcmstruct.wording import count

_ELEMENT = int(Kind.ELEMENT)
# Explicit VR codes of the short header form (PS3.5 Table 7.1-2): the walk's inlined case.
SHORT_VR_CODES: dict[bytes, int] = {
    vr: code for vr, code in VR_CODES.items() if vr not in LONG_LENGTH_VRS
}
# Long-form VRs the inlined case takes: not UN (it may hold a sequence, PS3.5 6.2.2).
_LONG_VR_CODES: dict[bytes, int] = {
    vr: code for vr, code in VR_CODES.items() if vr in LONG_LENGTH_VRS and vr != b"UN"
}
_ITEM_ELEMENT = ITEM & 0xFFFF
_SEQ_DELIMITER_ELEMENT = SEQUENCE_DELIMITER & 0xFFFF
_ITEM_FLAGS = int(Kind.ITEM)
_SEQ_DELIMITER_FLAGS = int(Kind.SEQUENCE_DELIMITER)
_ITEM_DELIMITER_ELEMENT = ITEM_DELIMITER & 0xFFFF
_ITEM_DELIMITER_FLAGS = int(Kind.ITEM_DELIMITER)
# Implicit VR: the packed VR of a tag, or -1 where it is SQ or UN (not the inlined case).
_FAST_IMPLICIT: dict[int, int] = {}
# Rows that count as the bulk walk getting somewhere (Walker.walk_dataset: a try costs about
# what the walk spends on a hundred nodes); how far the walk goes on before the next try after
# a second miss, and how many times in a row that may double (to 4 KiB << 12: 16 MiB).
RESUME_ROWS = 256
RESUME_GAP = 1 << 12
MAX_RESUME_DOUBLINGS = 12


class Walker(ContainerWalk, DeflateWalk, RecoveryWalk, BulkWalk):
    # The walk inlines the common cases; with INLINE off every node goes through the general
    # methods, and tests/test_index_inline.py checks that both give the same index.
    INLINE = True

    def walk_dataset(self, pos: int, enc: Encoding) -> None:
        """A data set's top level from ``pos`` to the end of the stream. In Explicit VR Little
        Endian its clean elements are read in bulk (:mod:`.bulk`), and the walk takes the
        top-level element the bulk walk cannot vouch for (or the rest of a block of large
        values, where the bulk walk does not pay). The bulk walk is tried again right after;
        each time in a row it adds fewer than ``RESUME_ROWS`` rows, the walk goes on twice as
        far (from ``RESUME_GAP`` bytes) before the next try. So a file with a fault near its
        start is still read in bulk, and one with faults or large values everywhere costs the
        walk's time and a few tries more."""
        stack = [Frame(FrameKind.DATASET, -1, self.size, False, enc, 0)]
        if not (enc is EXPLICIT_LE and self.INLINE and self.BULK):
            self.walk(pos, stack)
            return
        misses = 0
        while True:
            rows = len(self.t)
            pos = self.bulk(pos, self.size)
            misses = 0 if len(self.t) - rows >= RESUME_ROWS else misses + 1
            gap = 1 if misses <= 1 else RESUME_GAP << min(misses - 2, MAX_RESUME_DOUBLINGS)
            pos = self.walk(pos, stack, pause=pos + gap)  # at least one element, then back
            if not stack:
                return

    def walk(self, pos: int, stack: list[Frame], pause: int = NO_PAUSE) -> int:
        """Walk from ``pos`` until ``stack`` is empty, or until the walk is back at the top
        level (only the data set's frame on ``stack``) at or past ``pause``; return where the
        walk stopped."""
        t = self.t
        win = self.win
        big, small = t.big, t.small
        big_extend, small_extend = big.extend, small.extend
        max_nodes = t.max_nodes
        max_depth = self.max_depth
        inline = self.INLINE
        stream_bits = int(self.stream) << STREAM_SHIFT
        short_codes = SHORT_VR_CODES
        long_codes = _LONG_VR_CODES
        fast_implicit = _FAST_IMPLICIT
        buf, base, top = win.buf, win.base, win.top
        while stack:
            f = stack[-1]
            if pos >= pause and len(stack) == 1 and f.kind == FrameKind.DATASET and pos < f.end:
                return pos  # back at the top level: walk_dataset tries the bulk walk again
            t.hidden = self.hidden = hidden = f.hidden
            limit = f.end
            if pos >= limit:
                if inline and f.defined and f.node >= 0:  # the common close, inlined
                    stack.pop()
                    big[f.node * BIG_FIELDS + B_END] = pos
                else:
                    self.close(f, pos, stack, at_limit=True)
                continue
            fk = f.kind
            if fk == FrameKind.SEQUENCE or fk == FrameKind.FRAGMENTS:
                # The common case inlined: an item of a sequence whose length fits, or the
                # sequence's zero-length delimiter. Fragments, faults: in_sequence().
                if inline and fk == FrameKind.SEQUENCE and pos + HEADER <= limit and not hidden:
                    if pos < base or pos + HEADER > top:
                        win.fill(pos, HEADER)
                        buf, base, top = win.buf, win.base, win.top
                    group, elem, length = f.enc.implicit.unpack_from(buf, pos - base)
                    if group == ITEM_GROUP and len(small) < (max_nodes << 2):
                        if elem == _ITEM_ELEMENT:
                            if length == UNDEFINED_LENGTH:
                                end, defined = limit, False
                            else:
                                end, defined = pos + IMPLICIT_HEADER + length, True
                            if end <= limit:
                                item = len(small) >> 2
                                big_extend(
                                    (
                                        pos,
                                        end,
                                        ITEM,
                                        UNDEFINED if not defined else length,
                                        pos + IMPLICIT_HEADER,
                                    )
                                )
                                small_extend((f.node, f.depth, 0, _ITEM_FLAGS | stream_bits))
                                frame = Frame(
                                    FrameKind.ITEM, item, end, defined, f.enc, f.depth, False
                                )
                                if f.depth + 1 <= max_depth:
                                    stack.append(frame)
                                else:
                                    self.push(stack, frame)
                                pos += IMPLICIT_HEADER
                                continue
                        elif elem == _SEQ_DELIMITER_ELEMENT and length == 0 and not f.defined:
                            big_extend((pos, pos + HEADER, SEQUENCE_DELIMITER, 0, pos + HEADER))
                            small_extend((f.node, f.depth, 0, _SEQ_DELIMITER_FLAGS | stream_bits))
                            pos += HEADER
                            self.close(f, pos, stack)
                            continue
                pos = self.in_sequence(f, pos, stack)
                buf, base, top = win.buf, win.base, win.top
                continue

            # A data set: the top level, the meta group or an item. The common case (a header
            # that fits, a short value that fits) is inlined, rows appended directly; anything
            # else (long VRs, sequences, faults) goes through element() and ends this loop.
            # What the loop needs of the frame, worked out once per frame (a data set is
            # entered again after each sequence inside it).
            setup = f.setup
            if setup is None or setup[0] is not f.enc:
                enc = f.enc
                explicit = enc.explicit_vr
                setup = f.setup = (
                    enc,
                    explicit,
                    enc.short.unpack_from if explicit else enc.implicit.unpack_from,
                    enc.u32.unpack_from,
                    fk == FrameKind.META,
                    f.node,
                    f.depth,
                    _ELEMENT | (EXPLICIT_BIT if explicit else 0) | stream_bits,
                    fk == FrameKind.ITEM and not f.defined,  # closed by an Item Delimitation Item
                )
            enc, explicit, unpack, u32, meta, node, depth, flags, closes = setup
            room = 0 if hidden or not inline else max_nodes - (len(small) >> 2)
            while True:
                if pos + HEADER > limit:
                    if pos < limit:
                        self.leftover(f, pos, stack)
                        pos = limit
                    break
                if pos < base or pos + HEADER > top:
                    win.fill(pos, HEADER)
                    buf, base, top = win.buf, win.base, win.top
                if explicit:
                    group, elem, vr, length = unpack(buf, pos - base)
                    vrc = short_codes.get(vr, -1)
                    if (
                        vrc < 0
                        and length == 0
                        and room > 0
                        and pos + LONG_HEADER <= limit
                        and vr in long_codes
                        and not (meta and group != 0x0002)
                    ):
                        # A long-form VR with its reserved bytes 0000H (PS3.5 Table 7.1-1).
                        vrc = long_codes[vr]
                        if pos + LONG_HEADER > top:
                            win.fill(pos, LONG_HEADER)
                            buf, base, top = win.buf, win.base, win.top
                        length = u32(buf, pos + LONG_LENGTH_AT - base)[0]
                        tag = group << 16 | elem
                        if vrc == SQ:
                            if length == UNDEFINED_LENGTH:
                                end, defined, length = limit, False, UNDEFINED
                            else:
                                end, defined = pos + LONG_HEADER + length, True
                            if end <= limit:
                                big_extend((pos, end, tag, length, pos + LONG_HEADER))
                                small_extend((node, depth, vrc, flags))
                                frame = Frame(
                                    FrameKind.SEQUENCE, (len(small) >> 2) - 1, end, defined,
                                    enc, depth + 1, False,
                                )  # fmt: skip
                                if depth + 1 <= max_depth:  # push(), inlined
                                    stack.append(frame)
                                else:
                                    self.push(stack, frame)
                                pos += LONG_HEADER
                                break
                        elif length != UNDEFINED_LENGTH and pos + LONG_HEADER + length <= limit:
                            end = pos + LONG_HEADER + length
                            big_extend((pos, end, tag, length, pos + LONG_HEADER))
                            small_extend((node, depth, vrc, flags))
                            room -= 1
                            pos = end
                            continue
                        pos = self.element(f, pos, stack)
                        buf, base, top = win.buf, win.base, win.top
                        break
                else:
                    group, elem, length = unpack(buf, pos - base)
                    tag = group << 16 | elem
                    vrc = fast_implicit.get(tag, -2)
                    if vrc == -2:
                        vrc = implicit_vr(tag)
                        vrc = fast_implicit[tag] = -1 if vrc in (SQ, UN) else vrc
                if meta and group != 0x0002:
                    stack.pop()
                    break
                if group == ITEM_GROUP:
                    if explicit:  # PS3.5 7.5: no VR; bytes 4-7 are a 32-bit length
                        length = u32(buf, pos + IMPLICIT_LENGTH_AT - base)[0]
                    if closes and elem == _ITEM_DELIMITER_ELEMENT and length == 0 and room > 0:
                        # The common end of an undefined-length item, inlined.
                        big_extend((pos, pos + HEADER, ITEM_DELIMITER, 0, pos + HEADER))
                        small_extend((node, depth, 0, _ITEM_DELIMITER_FLAGS | stream_bits))
                        pos += HEADER
                        stack.pop()
                        big[node * BIG_FIELDS + B_END] = pos
                        break
                    pos = self.group_fffe(f, pos, stack)
                    buf, base, top = win.buf, win.base, win.top
                    break
                end = pos + HEADER + length  # a short explicit or an implicit header
                if vrc >= 0 and end <= limit and room > 0:
                    big_extend((pos, end, group << 16 | elem, length, pos + HEADER))
                    small_extend((node, depth, vrc, flags))
                    room -= 1
                    pos = end
                    continue
                if vrc >= 0 and end <= limit and hidden:
                    pos = end
                    continue
                pos = self.element(f, pos, stack)
                buf, base, top = win.buf, win.base, win.top
                break
        return pos

    def in_sequence(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        """The next item, delimiter or stray element in a sequence or fragment list."""
        add = self.t.add
        stream = int(self.stream)
        enc = f.enc
        fk = f.kind
        limit = f.end
        if pos + IMPLICIT_HEADER > limit:
            if self.sequence_overrun(f, pos, stack):
                return pos
            self.leftover(f, pos, stack)
            return limit
        group, elem, length = self.win.unpack(enc.implicit, pos)
        tag = group << 16 | elem
        if tag == ITEM:
            return self.open_item(f, pos, length, stack)
        if tag == SEQUENCE_DELIMITER:
            node = add(
                Kind.SEQUENCE_DELIMITER, pos, pos + IMPLICIT_HEADER, tag, 0, False, length,
                pos + IMPLICIT_HEADER,
                f.depth, f.node, stream,
            )  # fmt: skip
            self.check_delimiter_length(pos, length, node)
            if f.defined:
                self.fault(
                    FaultCode.DELIMITER_IN_DEFINED_LENGTH,
                    pos,
                    8,
                    node,
                    "a Sequence Delimitation Item inside a sequence of defined length",
                )
            else:
                self.close(f, pos + IMPLICIT_HEADER, stack)
            return pos + IMPLICIT_HEADER
        if tag == ITEM_DELIMITER:
            node = add(
                Kind.ITEM_DELIMITER, pos, pos + IMPLICIT_HEADER, tag, 0, False, length,
                pos + IMPLICIT_HEADER,
                f.depth, f.node, stream,
            )  # fmt: skip
            self.fault(
                FaultCode.STRAY_DELIMITER,
                pos,
                8,
                node,
                "an Item Delimitation Item directly inside a sequence, with no item open",
            )
            return pos + IMPLICIT_HEADER
        fragments = fk == FrameKind.FRAGMENTS
        what = "fragments of encapsulated Pixel Data" if fragments else "a sequence"
        if f.defined:
            if not fragments and self.sequence_overrun(f, pos, stack):
                return pos
            self.fault(
                FaultCode.ENCAPSULATED_NOT_ITEM if fragments else FaultCode.ITEM_EXPECTED,
                pos,
                limit - pos,
                f.node,
                f"({format_tag(tag)}) where an item (FFFE,E000) was expected in "
                f"{what}; the rest of its defined length is skipped",
            )
            self.trailing(pos, limit, f.depth, f.node)
            return limit
        if not fragments and tag <= self.t.tag(f.node):
            # Not the next element of the enclosing data set either (its tag would be
            # greater than the sequence's): an element where an item should be.
            self.fault(
                FaultCode.ITEM_EXPECTED,
                pos,
                8,
                f.node,
                f"({format_tag(tag)}) where an item (FFFE,E000) or a Sequence Delimitation "
                f"Item was expected in {what}; read as an element and skipped",
            )
            return self.element(f, pos, stack)
        self.fault(
            FaultCode.ENCAPSULATED_NOT_ITEM if fragments else FaultCode.SEQUENCE_DELIMITER_MISSING,
            pos,
            8,
            f.node,
            f"({format_tag(tag)}) where an item or a Sequence Delimitation "
            f"Item was expected in {what}; closed it here, and the element "
            "is read as the next one of the enclosing data set",
        )
        self.close(f, pos, stack)
        return pos

    def element(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        """One data element at ``pos`` in data set frame ``f``; returns where the next starts."""
        win = self.win
        enc = f.enc
        limit = f.end
        explicit = enc.explicit_vr
        group = win.unpack(enc.u16, pos)[0]
        if group in GARBAGE_GROUPS:
            return self.garbage(f, pos, f"group {group:04X} is not used in files")
        if explicit:
            group, elem, vr, length = win.unpack(enc.short, pos)
            tag = group << 16 | elem
            if vr in LONG_LENGTH_VRS:
                if pos + LONG_HEADER > limit:
                    self.leftover(f, pos, stack)
                    return limit
                short_length = length  # bytes 6-7: reserved in the long form
                length = win.unpack(enc.long, pos)[4]
                header = 12
                if short_length and self.short_form_instead(
                    pos, tag, short_length, length, limit, enc
                ):
                    self.fault(
                        FaultCode.LENGTH_FIELD_FORM_WRONG,
                        pos + SHORT_LENGTH_AT,
                        2,
                        len(self.t),
                        f"({format_tag(tag)}) {vr.decode()} needs 2 reserved "
                        "bytes and a 32-bit length (PS3.5 Table 7.1-1), but is written with a "
                        f"16-bit length {short_length}",
                    )
                    length, header = short_length, 8
                # Other nonzero reserved bytes are the validator's (RESERVED_BYTES_NONZERO).
            elif vr in VALID_VRS:
                header = 8
            else:
                return self.bad_vr(f, pos, tag, vr, stack)
            vrc = (vr[0] << 8) | vr[1]
        else:
            group, elem, length = win.unpack(enc.implicit, pos)
            header = 8
            tag = group << 16 | elem
            vrc = implicit_vr(tag)
            if length != UNDEFINED_LENGTH and pos + IMPLICIT_HEADER + length > limit:
                done = self.explicit_in_implicit(f, pos, tag, stack)
                if done is not None:
                    return done
        return self.finish_element(f, pos, tag, vrc, explicit, header, length, stack)

    def finish_element(
        self,
        f: Frame,
        pos: int,
        tag: int,
        vrc: int,
        explicit: bool,
        header: int,
        length: int,
        stack: list[Frame],
    ) -> int:
        limit = f.end
        value_offset = pos + header
        if length == UNDEFINED_LENGTH:
            node = self.t.add(
                Kind.ELEMENT, pos, limit, tag, vrc, explicit, UNDEFINED, value_offset,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            return self.open_undefined(f, node, tag, vrc, explicit, value_offset, stack)
        end = value_offset + length
        if end > limit and limit == self.size and self.implausible(f, pos, tag, header, explicit):
            # Text or junk after the last element reads as a header with a huge length: calling
            # it a truncated element would send the user looking for missing bytes.
            return self.garbage(f, pos, "its header reads as an element that cannot be")
        if end > limit:
            # A sequence's items are walked up to the limit instead: their own headers say more
            # than a resync guess would.
            end = self.overrun(f, tag, length, pos, header, explicit, limit, resync=vrc != SQ)
        node = self.t.add(
            Kind.ELEMENT, pos, end, tag, vrc, explicit, length, value_offset,
            f.depth, f.node, self.stream,
        )  # fmt: skip
        enc = f.enc
        if vrc == UN:
            # Implicit VR, unknown tag: a sequence if its value reads as items. Explicit UN of a
            # tag the dictionary calls SQ (or a private one) that reads as items: a sequence
            # written by a reader that did not know the tag, in Implicit VR LE (PS3.5 6.2.2).
            if explicit:
                enc = IMPLICIT_LE
                if implicit_vr(tag) not in (SQ, UN):
                    return end
            if not self.starts_with_item(value_offset, end, enc):
                return end
        elif vrc != SQ:
            return end
        self.push(stack, Frame(FrameKind.SEQUENCE, node, end, True, enc, f.depth + 1, f.hidden))
        return value_offset

    def starts_with_item(self, pos: int, end: int, enc: Encoding) -> bool:
        """A value of unknown VR, defined length: does it read as a sequence of items? The
        schemas' decision too (``layout.items_follow``)."""
        if pos + IMPLICIT_HEADER > end:
            return False
        return items_follow(self.win.get(pos, IMPLICIT_HEADER), enc, end - pos)

    def open_undefined(
        self,
        f: Frame,
        node: int,
        tag: int,
        vrc: int,
        explicit: bool,
        value_offset: int,
        stack: list[Frame],
    ) -> int:
        """An element of undefined length: a sequence, UN (CP-246) or encapsulated pixel data."""
        if tag == PIXEL_DATA and vrc != SQ:
            self.push(
                stack, Frame(FrameKind.FRAGMENTS, node, f.end, False, f.enc, f.depth + 1, f.hidden)
            )
        elif vrc == UN:
            # PS3.5 6.2.2: UN of undefined length holds Implicit VR Little Endian (CP-246).
            enc = IMPLICIT_LE
            if explicit and self.explicit_content(value_offset, f.end, f.enc):
                self.fault(
                    FaultCode.UN_UNDEFINED_CONTENT_NOT_IMPLICIT,
                    value_offset + IMPLICIT_HEADER,  # the first header inside the first item
                    8,
                    node,
                    f"({format_tag(tag)}) UN of undefined length holds {f.enc.name} items; "
                    "PS3.5 6.2.2 requires Implicit VR Little Endian. Read as written",
                )
                enc = f.enc
            self.push(
                stack, Frame(FrameKind.SEQUENCE, node, f.end, False, enc, f.depth + 1, f.hidden)
            )
        elif vrc == SQ or not explicit:
            self.push(
                stack, Frame(FrameKind.SEQUENCE, node, f.end, False, f.enc, f.depth + 1, f.hidden)
            )
        else:
            self.fault(
                FaultCode.UNDEFINED_LENGTH_NOT_ALLOWED,
                value_offset - LENGTH_32_SIZE,
                4,
                node,
                f"({format_tag(tag)}) {vr_str(vrc)} has undefined length (FFFFFFFFH); only SQ, UN "
                "and encapsulated Pixel Data may",
            )
            nxt = self.peek_tag(value_offset, f.enc, f.end)
            if nxt in (ITEM, SEQUENCE_DELIMITER):
                # Laid out as a sequence: read it as one so the items are not lost.
                self.push(
                    stack,
                    Frame(FrameKind.SEQUENCE, node, f.end, False, f.enc, f.depth + 1, f.hidden),
                )
            elif node >= 0:
                self.t.set_end(node, value_offset)
        return value_offset

    def explicit_content(self, pos: int, limit: int, enc: Encoding) -> bool:
        """Does the first element of the first item at ``pos`` read as explicit VR only?"""
        if pos + 16 > limit or self.peek_tag(pos, enc, limit) != ITEM:
            return False
        first = pos + IMPLICIT_HEADER
        return self.header_fits(first, enc, limit) and not self.header_fits(
            first, IMPLICIT_LE, limit
        )

    def group_fffe(self, f: Frame, pos: int, stack: list[Frame]) -> int:
        """An item or delimiter met where a data element was expected."""
        group, elem, length = self.win.unpack(f.enc.implicit, pos)
        tag = group << 16 | elem
        t = self.t
        if tag == ITEM_DELIMITER:
            node = t.add(
                Kind.ITEM_DELIMITER, pos, pos + IMPLICIT_HEADER, tag, 0, False, length,
                pos + IMPLICIT_HEADER,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            self.check_delimiter_length(pos, length, node)
            if f.kind == FrameKind.ITEM and not f.defined:
                self.close(f, pos + IMPLICIT_HEADER, stack)
            elif f.kind == FrameKind.ITEM:
                self.fault(
                    FaultCode.DELIMITER_IN_DEFINED_LENGTH, pos, 8, node,
                    "an Item Delimitation Item inside an item of defined length",
                )  # fmt: skip
            else:
                self.fault(
                    FaultCode.STRAY_DELIMITER, pos, 8, node,
                    "an Item Delimitation Item where no item is open; expected a data element",
                )  # fmt: skip
            return pos + IMPLICIT_HEADER
        if tag == SEQUENCE_DELIMITER:
            if (
                f.kind == FrameKind.ITEM
                and not f.defined
                and len(stack) >= 2
                and not stack[-2].defined
            ):
                self.fault(
                    FaultCode.ITEM_DELIMITER_MISSING,
                    pos,
                    0,
                    f.node,
                    "the item has no Item Delimitation Item before the sequence's delimiter",
                )
                self.close(f, pos, stack)
                return pos
            node = t.add(
                Kind.SEQUENCE_DELIMITER, pos, pos + IMPLICIT_HEADER, tag, 0, False, length,
                pos + IMPLICIT_HEADER,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            if f.kind == FrameKind.ITEM:
                self.fault(
                    FaultCode.DELIMITER_IN_DEFINED_LENGTH, pos, 8, node,
                    "a Sequence Delimitation Item inside an item of defined length",
                )  # fmt: skip
            else:
                self.fault(
                    FaultCode.STRAY_DELIMITER, pos, 8, node,
                    "a Sequence Delimitation Item where no sequence is open; expected a data "
                    "element",
                )  # fmt: skip
            return pos + IMPLICIT_HEADER
        if (
            tag == ITEM
            and f.kind == FrameKind.ITEM
            and not f.defined
            and len(stack) >= 2
            and stack[-2].kind == FrameKind.SEQUENCE
        ):
            # The next item of the same sequence: this one was never closed.
            self.fault(
                FaultCode.ITEM_DELIMITER_MISSING,
                pos,
                8,
                f.node,
                f"the undefined-length item at {t.offset(f.node):#x} is not closed "
                "by an Item Delimitation Item before the next item starts",
            )
            self.close(f, pos, stack)
            return pos
        if tag == ITEM:
            self.fault(
                FaultCode.ITEM_OUTSIDE_SEQUENCE,
                pos,
                8,
                len(t),
                "an Item (FFFE,E000) directly inside a data set, not in a sequence; read as one",
            )
            return self.open_item(f, pos, length, stack)
        # Some other FFFE element: no VR in any encoding (PS3.5 7.5); read its length and go on.
        end = pos + IMPLICIT_HEADER + (0 if length == UNDEFINED_LENGTH else length)
        if end > f.end:
            end = f.end
        t.add(
            Kind.ELEMENT, pos, end, tag, 0, False,
            UNDEFINED if length == UNDEFINED_LENGTH else length, pos + IMPLICIT_HEADER,
            f.depth, f.node, self.stream,
        )  # fmt: skip
        return max(end, pos + IMPLICIT_HEADER)

    def check_delimiter_length(self, pos: int, length: int, node: int) -> None:
        if length != 0:
            self.fault(
                FaultCode.DELIMITER_NONZERO_LENGTH,
                pos + IMPLICIT_LENGTH_AT,
                4,
                node,
                f"a delimitation item's length is {length:#010x}, expected 00000000H",
            )

    def open_item(self, f: Frame, pos: int, length: int, stack: list[Frame]) -> int:
        """An item of a sequence, or a fragment of encapsulated pixel data."""
        limit = f.end
        fragments = f.kind == FrameKind.FRAGMENTS
        kind = Kind.FRAGMENT if fragments else Kind.ITEM
        value_offset = pos + IMPLICIT_HEADER
        if length == UNDEFINED_LENGTH:
            node = self.t.add(
                kind, pos, limit, ITEM, 0, False, UNDEFINED, value_offset,
                f.depth, f.node, self.stream,
            )  # fmt: skip
            if fragments:
                self.fault(
                    FaultCode.FRAGMENT_UNDEFINED_LENGTH,
                    pos + IMPLICIT_LENGTH_AT,
                    4,
                    node,
                    "a pixel data fragment has undefined length (FFFFFFFFH)",
                )
                if node >= 0:
                    self.t.set_end(node, value_offset)
                return value_offset
            self.push(stack, Frame(FrameKind.ITEM, node, limit, False, f.enc, f.depth, f.hidden))
            return value_offset
        end = value_offset + length
        node = len(self.t)
        if end > limit and not self.first_cut(limit):
            end = limit
        if end > limit:
            where = self.container_name(f) if f.defined else "its container"
            if f.defined:
                code = FaultCode.ITEM_OVERRUNS_SEQUENCE
            elif limit == self.size:
                code = FaultCode.FILE_TRUNCATED
            else:
                code = FaultCode.VALUE_OVERRUNS_PARENT
            self.fault(
                code,
                pos + IMPLICIT_LENGTH_AT,
                4,
                node,
                f"{'fragment' if fragments else 'item'} length {length} runs "
                f"{count(end - limit, 'byte')} past the end of {where}; cut at {limit:#x}",
            )
            end = limit
        # Past the depth limit nothing is recorded and add() returns -1: the frame must hold
        # that, not the row number the item would have had.
        node = self.t.add(
            kind, pos, end, ITEM, 0, False, length, value_offset, f.depth, f.node, self.stream
        )
        if not fragments:
            self.push(stack, Frame(FrameKind.ITEM, node, end, True, f.enc, f.depth, f.hidden))
            return value_offset
        return end

    def push(self, stack: list[Frame], frame: Frame) -> None:
        inner = frame.depth + (1 if frame.kind == FrameKind.ITEM else 0)
        if inner > self.max_depth and not frame.hidden:
            frame.hidden = True
            node = frame.node
            if self.hidden or node < 0:
                stack.append(frame)
                return
            self.fault(
                FaultCode.NESTING_TOO_DEEP,
                self.t.offset(node),
                8,
                node,
                f"nesting deeper than {self.max_depth} levels: the contents of this "
                "branch are walked but not recorded",
            )
        stack.append(frame)

    def close(self, f: Frame, pos: int, stack: list[Frame], *, at_limit: bool = False) -> None:
        """Pop frame ``f`` (the top of ``stack``), which ends at ``pos``.

        ``at_limit``: the walk reached the frame's limit; an undefined-length item or sequence
        that gets there was never closed by its delimiter.
        """
        stack.pop()
        self.t.set_end(f.node, pos)
        if not at_limit or f.defined or f.kind in (FrameKind.DATASET, FrameKind.META):
            return
        if not self.first_cut(f.end):
            return
        if f.end == self.size:
            code = FaultCode.FILE_TRUNCATED
        elif f.kind == FrameKind.ITEM:
            code = FaultCode.ITEM_DELIMITER_MISSING
        else:
            code = FaultCode.SEQUENCE_DELIMITER_MISSING
        if f.kind == FrameKind.FRAGMENTS:
            what = "the encapsulated Pixel Data"
            closer = " by a Sequence Delimitation Item"
        else:
            what = "the undefined-length " + ("item" if f.kind == FrameKind.ITEM else "sequence")
            closer = ""
        self.fault(
            code,
            pos,
            0,
            f.node,
            f"{what} at {self.t.offset(f.node):#x} is not closed{closer} "
            f"before the end of {'the file' if f.end == self.size else 'its container'}",
        )
