"""The bulk walk: clean Explicit VR Little Endian elements at the top of a data set, read as
columns instead of one interpreter round per element.

In a clean file the element-by-element walk spends its time in the interpreter, not on the
bytes. So for each block of the data set this part computes with numpy, for every even offset
from where it starts, where the next header would start if a header started there: the short
form skips its value (PS3.5 Table 7.1-2), the long form too (Table 7.1-1) except SQ, whose
items follow its header, and items and delimiters are 8 bytes (PS3.5 7.5) followed by their
contents. Following that chain from the data set's first element costs one array lookup per
node. The nodes met are then checked, a chunk at a time and as columns, for everything the
walk's inlined cases require: a valid VR, zero reserved bytes, even lengths, every header and
value inside its container, items only in sequences, each delimiter closing the
undefined-length container that is open, nesting within ``max_depth``. Rows are written as
the walk would write them; at ``max_nodes`` the bulk walk stops as the walk does
(``NodeLimit`` at the first node that does not fit). At the first thing it cannot vouch for,
it drops whatever it wrote of the top-level element that holds it and hands over to the walk
at that element's header, so a fault is always found, placed and worded by the walk (which
tries the bulk walk again after it: ``Walker.walk_dataset``).

``tests/test_index_bulk.py`` checks that the index is the same, node for node and fault for
fault, with and without this part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dcmstruct.index.base import NO_PAUSE, SQ, UN, VR_CODES, WalkerBase
from dcmstruct.index.table import (
    BIG_FIELDS,
    EXPLICIT_BIT,
    SMALL_FIELDS,
    STREAM_SHIFT,
    NodeLimit,
)
from dcmstruct.model import I8, UNDEFINED, Kind
from dcmstruct.schema.layout import (
    IMPLICIT_HEADER,
    IMPLICIT_LENGTH_AT,
    ITEM,
    ITEM_DELIMITER,
    ITEM_GROUP,
    LONG_HEADER,
    LONG_LENGTH_AT,
    LONG_LENGTH_VRS,
    SEQUENCE_DELIMITER,
    SHORT_HEADER,
    SHORT_LENGTH_AT,
    TAG_SIZE,
    UNDEFINED_LENGTH,
    VR_AT,
)

if TYPE_CHECKING:
    import numpy.typing as npt


# The header's fields as 16-bit words from its start. Values have even lengths (PS3.5 7.1.1),
# so every header is an even distance from where the bulk walk starts; an odd length hands
# over to the walk, and the bulk walk starting again after it reads at odd offsets.
_W_GROUP = 0
_W_ELEMENT = TAG_SIZE // 4
_W_VR = VR_AT // 2
_W_SHORT = SHORT_LENGTH_AT // 2
_W_LONG = LONG_LENGTH_AT // 2  # low word; the high word follows
_W_ITEM = IMPLICIT_LENGTH_AT // 2  # an item's or delimiter's 32-bit length
_WORDS = LONG_LENGTH_AT // 2 + 2  # words a header may need: the long form's
assert VR_AT % 2 == SHORT_LENGTH_AT % 2 == LONG_LENGTH_AT % 2 == IMPLICIT_LENGTH_AT % 2 == 0
assert TAG_SIZE == 4 and _WORDS * 2 == LONG_HEADER

# What the walk's inlined cases do with each VR, indexed by its two bytes read as a
# little-endian word: 0 hand over (not a VR, or UN, which may hold a sequence, PS3.5 6.2.2).
_SHORT_VR, _LONG_VR, _SQ_VR = 1, 2, 3
_CLASS = np.zeros(1 << 16, dtype=np.uint8)
_VR_CODE = np.zeros(1 << 16, dtype=np.int64)
for _vr, _code in VR_CODES.items():
    _word = _vr[0] | _vr[1] << 8
    _VR_CODE[_word] = _code
    if _vr not in LONG_LENGTH_VRS:
        _CLASS[_word] = _SHORT_VR
    elif _code == SQ:
        _CLASS[_word] = _SQ_VR
    elif _code != UN:
        _CLASS[_word] = _LONG_VR

_ITEM_ELEMENT = ITEM & 0xFFFF
_ITEM_DELIMITER_ELEMENT = ITEM_DELIMITER & 0xFFFF
_SEQ_DELIMITER_ELEMENT = SEQUENCE_DELIMITER & 0xFFFF

# Blocks grow while the chain runs on through them and start small again after a jump over a
# large value, so a file of a few headers and 500 MB of pixels reads one small block.
MIN_BLOCK = 1 << 14
MAX_BLOCK = 1 << 16
# Nodes checked at a time: with the block size, what bounds the bulk walk's working set (a
# few MB, whatever the file) while keeping numpy's per-call cost small beside the work.
CHUNK = 4096
# Below this many bytes of data set the walk is quicker than the column set-up.
MIN_BULK = 1 << 14
# A block costs the bulk walk about what the walk spends on a hundred nodes (numpy calls over
# the block, whatever it holds): one that holds fewer nodes than this hands over to the walk
# (at the top level; Walker.walk_dataset tries the bulk walk again later).
MIN_YIELD = 128
_NEVER = NO_PAUSE  # the end of a container that is still open: beyond any offset
# Sequences nested deeper than this go to the walk: finding an element's container costs the
# bulk walk a numpy pass per level it climbs, the walk nothing (real files nest a few levels).
BULK_DEPTH = 16


def steps(w: npt.NDArray[np.uint16], count: int) -> I8:
    """For each even offset ``2k`` (``k < count``) of a block read as little-endian words
    ``w`` (at least ``count + 5`` of them): how many bytes on the next header starts if one
    starts there, or 0 where the bulk walk must hand over."""
    vr = w[_W_VR : _W_VR + count]
    short = w[_W_SHORT : _W_SHORT + count].astype(np.int64)
    long = w[_W_LONG : _W_LONG + count].astype(np.int64)
    long |= w[_W_LONG + 1 : _W_LONG + 1 + count].astype(np.int64) << 16
    cls = _CLASS[vr]
    step = np.where(cls == _SHORT_VR, SHORT_HEADER + short, 0)
    reserved_zero = short == 0  # bytes 6-7 of the long form (Table 7.1-1)
    valued = (cls == _LONG_VR) & reserved_zero & (long != UNDEFINED_LENGTH)
    step[valued] = LONG_HEADER + long[valued]
    step[(cls == _SQ_VR) & reserved_zero] = LONG_HEADER  # its items follow
    grouped = np.flatnonzero(w[_W_GROUP:count] == ITEM_GROUP)
    if len(grouped):
        elem = w[grouped + _W_ELEMENT]
        length = (
            w[grouped + _W_ITEM].astype(np.int64) | w[grouped + _W_ITEM + 1].astype(np.int64) << 16
        )
        delimiter = (elem == _ITEM_DELIMITER_ELEMENT) | (elem == _SEQ_DELIMITER_ELEMENT)
        ok = (elem == _ITEM_ELEMENT) | (delimiter & (length == 0))
        step[grouped] = np.where(ok, IMPLICIT_HEADER, 0)
    step[(step & 1) != 0] = 0
    return step


# A sequence or item the bulk walk is in, as a list (the hot loop makes one per container):
# its row, whether it is a sequence, whether its length is defined, where its contents must
# end (its end, or its parent's limit), the depth of the nodes directly inside it, its place
# in the container columns of the block being checked, and its offset.
_NODE, _SEQ, _DEFINED, _LIMIT, _INNER, _CI, _AT = range(7)
Open = list[Any]


class BulkWalk(WalkerBase):
    """The bulk walk, for the walker to call before it walks a data set's top level."""

    BULK = True  # off: every node is walked (tests compare the two)

    def bulk(self, pos: int, limit: int) -> int:
        """Index the clean top-level elements of an Explicit VR Little Endian data set from
        ``pos``; return where the walk must go on (``limit`` if everything was indexed)."""
        if limit - pos < MIN_BULK or self.hidden:
            return pos
        first = len(self.t)
        stack: list[Open] = []
        last_top = (first, pos)  # the newest top-level node: where a cut goes back to
        size = MIN_BLOCK
        src = self.win.src
        while pos < limit:
            base = pos
            n = min(max(size, 2 * LONG_HEADER), limit - base)
            data = src.read(base, n)
            if base + n >= limit:
                data += bytes(LONG_HEADER + (len(data) & 1))  # a header near the end reads 0s
                count = (n + 1) // 2
            else:
                count = (n - LONG_HEADER) // 2 + 1
            w = np.frombuffer(data, dtype="<u2")
            view = steps(w, count).data
            r = 0
            met = 0
            while True:  # a chunk of nodes at a time, so the working set has a bound
                found, r, stopped = _chase(view, r, 2 * count, CHUNK)
                met += len(found)
                failed, at, newest = self._rows(w, base, found, stack, limit)
                if newest is not None:
                    last_top = newest
                if failed:
                    return self._cut(first, at if at is not None else last_top)
                if stopped or len(found) < CHUNK:
                    break
            pos = base + r
            if stopped or pos >= limit:
                if _close_until(stack, pos):
                    return pos
                return self._cut(first, last_top)
            if met < MIN_YIELD and _close_until(stack, pos):
                # Large values, few headers: a block costs the bulk walk more than the walk
                # spends on its nodes. Back at the top level, the walk goes on from here.
                return pos
            size = min(size * 2, MAX_BLOCK) if pos < base + n + size else MIN_BLOCK
        return pos

    def _cut(self, first: int, at: tuple[int, int]) -> int:
        """Drop the rows from ``at`` (row and offset of a top-level node: the one that holds
        the first node the bulk walk cannot vouch for) and return where the walk takes over."""
        row, pos = at
        assert row >= first
        t = self.t
        del t.big[row * BIG_FIELDS :]
        del t.small[row * SMALL_FIELDS :]
        return pos

    def _rows(
        self,
        w: npt.NDArray[np.uint16],
        base: int,
        found: I8,
        stack: list[Open],
        limit: int,
    ) -> tuple[bool, tuple[int, int] | None, tuple[int, int] | None]:
        """Check the nodes at block offsets ``found`` (``w``: the block's words, ``base``: its
        offset) and append their rows. Returns whether a node failed; the row and offset to
        cut at if that node is itself at the top level (else the cut goes back to the newest
        top-level node before it); and the newest top-level node of this block that passed."""
        t = self.t
        row0 = len(t)
        n = len(found)
        if n == 0:
            return False, None, None
        k = found >> 1
        pos = found + base
        group = w[k + _W_GROUP].astype(np.int64)
        elem = w[k + _W_ELEMENT].astype(np.int64)
        vrw = w[k + _W_VR]
        short = w[k + _W_SHORT].astype(np.int64)
        long = w[k + _W_LONG].astype(np.int64) | w[k + _W_LONG + 1].astype(np.int64) << 16
        item_length = w[k + _W_ITEM].astype(np.int64) | w[k + _W_ITEM + 1].astype(np.int64) << 16
        grouped = group == ITEM_GROUP
        cls = np.where(grouped, 0, _CLASS[vrw])
        is_seq = cls == _SQ_VR
        is_item = grouped & (elem == _ITEM_ELEMENT)
        header = np.where((cls == _LONG_VR) | is_seq, LONG_HEADER, SHORT_HEADER)
        raw = np.where(cls == _SHORT_VR, short, np.where(grouped, item_length, long))
        raw[grouped & ~is_item] = 0  # delimiters: steps() let only length 0 through
        undefined = (is_seq | is_item) & (raw == UNDEFINED_LENGTH)
        length = np.where(undefined, UNDEFINED, raw)
        value = pos + header
        # An open container's end is its limit until its delimiter sets it, as in the walk.
        end = np.where(undefined, limit, value + raw)
        element_kind = int(Kind.ELEMENT)
        kind = np.full(n, element_kind, dtype=np.int64)
        kind[is_item] = int(Kind.ITEM)
        kind[grouped & (elem == _ITEM_DELIMITER_ELEMENT)] = int(Kind.ITEM_DELIMITER)
        kind[grouped & (elem == _SEQ_DELIMITER_ELEMENT)] = int(Kind.SEQUENCE_DELIMITER)
        parent = np.full(n, -1, dtype=np.int64)
        depth = np.zeros(n, dtype=np.int64)
        bad, bad_top = n, False

        # -- sequences, items and delimiters in order, with what is open carried across blocks
        carried = len(stack)
        for ci, o in enumerate(stack):
            o[_CI] = ci
        carried_at = [o[_AT] for o in stack]
        carried_node = [o[_NODE] for o in stack]
        carried_seq = [o[_SEQ] for o in stack]
        carried_inner = [o[_INNER] for o in stack]
        carried_end = [o[_LIMIT] if o[_DEFINED] else _NEVER for o in stack]
        c_limit = [o[_LIMIT] for o in stack]
        c_parent = list(range(-1, carried - 1))  # each container's parent, as its place here
        opened: list[int] = []  # the sequences and items this block opens, as its rows
        room = t.max_nodes - row0
        events = np.flatnonzero(is_seq | grouped)
        if room < n:
            # The node at the cap is checked (the walk reports its fault before it stops), and
            # nothing from it on may close a container: the walk stops before that.
            events = events[events <= room]
        ev_parent: list[int] = []
        ev_depth: list[int] = []
        depth_limit = min(self.max_depth, BULK_DEPTH)  # d + 1 may not pass it
        item_kind, seq_delimiter_kind = int(Kind.ITEM), int(Kind.SEQUENCE_DELIMITER)
        for i, p, kd, e, v, und in zip(
            events.tolist(),
            pos[events].tolist(),
            kind[events].tolist(),
            end[events].tolist(),
            value[events].tolist(),
            undefined[events].tolist(),
            strict=True,
        ):
            # Leave the defined-length containers that have ended (see _close_until); an
            # undefined-length one that reaches its limit lacks its delimiter.
            while stack and p >= stack[-1][_LIMIT] and stack[-1][_DEFINED]:
                stack.pop()
            top = stack[-1] if stack else None
            if top is not None and p >= top[_LIMIT]:
                bad = i
                break
            parent_limit = top[_LIMIT] if top is not None else limit
            if kd in (element_kind, item_kind):
                # A sequence or an item: entered. An element directly in a sequence, or an
                # item outside one, is the walk's to report.
                if (kd == element_kind) == (top is not None and top[_SEQ]):
                    bad, bad_top = i, top is None
                    break
                d = top[_INNER] if top is not None else 0
                if d >= depth_limit or (v if und else e) > parent_limit:
                    bad, bad_top = i, top is None
                    break
                seq = kd == element_kind
                c_parent.append(top[_CI] if top is not None else -1)
                own = parent_limit if und else e
                if und:  # until its delimiter: the limit it borrows, as the walk writes it
                    end[i] = own
                c_limit.append(own)
                opened.append(i)
                stack.append(
                    [row0 + i, seq, not und, own, d + 1 if seq else d, len(c_limit) - 1, p]
                )
            else:  # a delimiter: it must close the undefined-length container that is open
                if (
                    top is None
                    or top[_DEFINED]
                    or top[_SEQ] != (kd == seq_delimiter_kind)
                    or p + IMPLICIT_HEADER > parent_limit
                ):
                    bad, bad_top = i, top is None
                    break
                if i >= room:
                    break  # the first node past the cap: the walk stops before it closes
                d = top[_INNER]
                stack.pop()
                closed = p + IMPLICIT_HEADER
                node = top[_NODE]
                if node >= row0:
                    end[node - row0] = closed
                else:
                    carried_end[top[_CI]] = closed
                    t.set_end(node, closed)
            ev_parent.append(top[_NODE] if top is not None else -1)
            ev_depth.append(d)
        done = events[: len(ev_parent)]
        parent[done] = ev_parent
        depth[done] = ev_depth

        # -- elements: in the innermost container that holds them ------------------------------
        plain = np.flatnonzero(~(is_seq | grouped))
        plain = plain[plain < bad]
        if len(plain):
            at = pos[plain]
            lim = np.full(len(plain), limit, dtype=np.int64)
            in_seq = np.zeros(len(plain), dtype=np.bool_)
            held = np.zeros(len(plain), dtype=np.bool_)
            if c_limit:
                # Every container, those carried in first, in file order; one still open ends
                # never, for this.
                new = np.asarray(opened, dtype=np.int64)
                seqs = is_seq[new]
                c_end = np.concatenate([np.asarray(carried_end, dtype=np.int64), end[new]])
                for o in stack:
                    if not o[_DEFINED]:
                        c_end[o[_CI]] = _NEVER
                c_at = np.concatenate([np.asarray(carried_at, dtype=np.int64), pos[new]])
                parents = np.asarray(c_parent, dtype=np.int64)
                c = np.searchsorted(c_at, at, side="right") - 1
                while True:  # out of every container that has ended before the element
                    inside = np.flatnonzero(c >= 0)
                    left = inside[c_end[c[inside]] <= at[inside]]
                    if not len(left):
                        break
                    c[left] = parents[c[left]]
                held = c >= 0
                c = c[held]
                c_node = np.concatenate([np.asarray(carried_node, dtype=np.int64), row0 + new])
                c_inner = np.concatenate(
                    [np.asarray(carried_inner, dtype=np.int64), depth[new] + seqs]
                )
                c_seq = np.concatenate([np.asarray(carried_seq, dtype=np.bool_), seqs])
                parent[plain[held]] = c_node[c]
                depth[plain[held]] = c_inner[c]
                in_seq[held] = c_seq[c]
                lim[held] = np.asarray(c_limit, dtype=np.int64)[c]
            failed = np.flatnonzero(in_seq | (end[plain] > lim))
            if len(failed):
                f = int(failed[0])
                bad, bad_top = int(plain[f]), not bool(held[f])
        capped = room < bad  # the node cap: the walk stops at that node (NodeLimit)
        if capped:
            bad = room
        tops = np.flatnonzero(parent[:bad] == -1)
        newest = (row0 + int(tops[-1]), int(pos[tops[-1]])) if len(tops) else None
        # The rows before the first failure are written even then: the cut goes back to a
        # top-level node, which may be one of them.
        if bad:
            ok = slice(0, bad)
            flags = np.where(kind[ok] == element_kind, element_kind | EXPLICIT_BIT, kind[ok])
            flags |= int(self.stream) << STREAM_SHIFT
            vr = np.where(kind[ok] == element_kind, _VR_CODE[vrw[ok]], 0)
            tag = group[ok] << 16 | elem[ok]
            big = np.stack([pos[ok], end[ok], tag, length[ok], value[ok]], axis=1)
            small = np.stack([parent[ok], depth[ok], vr, flags], axis=1).astype(np.int32)
            try:
                t.big.frombytes(big.data.cast("B"))
                t.small.frombytes(small.data.cast("B"))
            except MemoryError:  # as Table.add: both row arrays as they were, then the stop
                del t.big[row0 * BIG_FIELDS :]
                del t.small[row0 * SMALL_FIELDS :]
                raise NodeLimit(row0, int(pos[0]), int(self.stream), memory=True) from None
        if capped:
            # As the walk would: every row before the first that does not fit, then the stop.
            raise NodeLimit(row0 + bad, int(pos[bad]), int(self.stream))
        if bad < n:
            return True, (row0 + bad, int(pos[bad])) if bad_top else None, newest
        return False, None, newest


def _close_until(stack: list[Open], at: int) -> bool:
    """Leave the defined-length containers that end at or before ``at``; False if an
    undefined-length one reaches its limit there (it lacks its delimiter), else whether none
    is left open.

    A defined-length container is left where the node after its last one starts, which need
    not be a sequence, an item or a delimiter; that it ends exactly there, with no node
    across its end, the checks of its elements (each ends within its parent) and of the
    headers of its sequences, items and delimiters (each fits in it) make sure."""
    while stack and at >= stack[-1][_LIMIT]:
        if not stack[-1][_DEFINED]:
            return False
        stack.pop()
    return not stack


def _chase(view: memoryview, r: int, stop: int, most: int) -> tuple[I8, int, bool]:
    """Follow the steps in ``view`` from block offset ``r`` while they stay below ``stop``,
    for at most ``most`` nodes: the offsets met, where the chain is now, and whether it
    stopped on a step of 0."""
    found: list[int] = []
    add = found.append
    for _ in range(most):
        if r >= stop:
            break
        s = view[r >> 1]
        if s <= 0:
            return np.asarray(found, dtype=np.int64), r, True
        add(r)
        r += s
    return np.asarray(found, dtype=np.int64), r, False
