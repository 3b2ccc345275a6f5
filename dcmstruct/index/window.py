"""The walker's access to the bytes of one stream: small reads around where it is.

A file on disk is read with ``pread`` in windows of :data:`WINDOW` bytes (see
:mod:`dcmstruct.source` for why there is no memory map): walking a data set of small
elements reads each byte once, and jumping over a large value reads nothing of it. A stream
held in memory (bytes given by a caller, an inflated data set) is one window from 0 to its end.
"""

from __future__ import annotations

import struct
from typing import Any

from dcmstruct.source import Buffer, Source

WINDOW = 1 << 16  # bytes read at a time from a file on disk


def window_start(pos: int, size: int) -> int:
    """Where a window of :data:`WINDOW` bytes that must hold ``pos`` starts: at ``pos``, or
    earlier near the end of the stream so that it still holds WINDOW bytes (a small file is
    then read whole by its first read)."""
    return max(0, min(pos, size - WINDOW))


class Window:
    """Bytes ``[base, top)`` of ``src`` in ``buf``; :meth:`fill` moves the window."""

    __slots__ = ("base", "buf", "memory", "size", "src", "top")

    def __init__(self, src: Source) -> None:
        self.src = src
        self.size = src.size
        self.buf: Buffer
        if src.buf is not None:
            self.buf, self.base, self.top, self.memory = src.buf, 0, src.size, True
        else:
            self.buf, self.base, self.top, self.memory = b"", 0, 0, False

    def fill(self, pos: int, need: int) -> None:
        """Make ``[pos, pos + need)`` readable (clipped to the stream's end)."""
        if self.memory or (self.base <= pos and pos + need <= self.top):
            return
        # A small file is read whole by its first read (the preamble's), and the rules'
        # reads of it later cost no system call (ElementIndex.keep_window).
        start = window_start(pos, self.size) if need <= WINDOW else pos
        data = self.src.read(start, max(need, WINDOW))
        self.buf, self.base, self.top = data, start, start + len(data)

    def unpack(self, fmt: struct.Struct, pos: int) -> tuple[Any, ...]:
        """``fmt`` read at ``pos``; the caller has checked that it fits in the stream."""
        if not (self.base <= pos and pos + fmt.size <= self.top):
            self.fill(pos, fmt.size)
        return fmt.unpack_from(self.buf, pos - self.base)

    def get(self, pos: int, n: int) -> bytes:
        """At most ``n`` bytes at ``pos`` (fewer at the end of the stream), copied."""
        if n <= 0 or pos >= self.size:
            return b""
        n = min(n, self.size - pos)
        if self.base <= pos and pos + n <= self.top:
            start = pos - self.base
            return bytes(self.buf[start : start + n])
        if self.memory:
            return bytes(self.buf[pos : min(pos + n, self.size)])
        if n > WINDOW:
            return self.src.read(pos, n)  # a big read must not replace the walking window
        self.fill(pos, n)
        start = pos - self.base
        return bytes(self.buf[start : start + n])

    def byte(self, pos: int) -> int:
        if not (self.base <= pos < self.top):
            self.fill(pos, 1)
        return self.buf[pos - self.base]

    def chunks(self, start: int, stop: int, overlap: int, size: int = 1 << 20) -> Any:
        """``(offset, bytes)`` pieces covering ``[start, stop)``, each reaching ``overlap``
        bytes into the next, for scans that look at a few bytes past each position."""
        pos = start
        while pos < stop:
            end = min(stop, pos + size)
            if self.memory:
                data = bytes(self.buf[pos : min(self.size, end + overlap)])
            else:
                data = self.src.read(pos, end + overlap - pos)
            yield pos, data
            pos = end
