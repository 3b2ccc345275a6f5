"""Read-only access to a file's bytes, safe against the file changing while it is read.

A memory map of a file that another process truncates kills the reader with SIGBUS at the
first touch of a page past the new end; no Python code can catch that. Pipelines validate
files that are still being written or replaced, so the bytes of a file on disk are read with
``pread`` only: a read that comes back short raises :class:`SourceChanged` (an ``OSError``),
which every command turns into a report for that path. Nothing is ever read whole: callers ask
for the header or value bytes they need, and pixel data is skipped, never copied.

An inflated data set (PS3.5 A.5) is written to an unlinked temporary file of this process and
read back the same way.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from dcmstruct.schema.layout import RAW_DEFLATE_WBITS

Buffer = bytes | mmap.mmap | memoryview

# Inflation is done in bounded chunks into a temporary file, so a deflate bomb costs neither
# memory nor more disk than ``max_inflated``.
_INFLATE_CHUNK = 1 << 20


class SourceChanged(OSError):
    """The file changed (shrank, grew, was rewritten, replaced or removed) while being read."""


class NotRegularFile(OSError):
    """A FIFO, device, socket, directory or a file whose size the kernel does not know (such
    as ``/proc`` files): opening or reading it could block for ever or give nothing."""


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


# Kernel pseudo file systems report size 0 (or 4096) for files that have content: what they
# say about a size is not what they give. Told apart by their device (a symbolic link into them
# is caught too, and a stat costs less than resolving every path).
_PSEUDO_FS = ("/proc", "/sys")
_PSEUDO_DEVICES: set[int] | None = None


def _pseudo_devices() -> set[int]:
    global _PSEUDO_DEVICES
    if _PSEUDO_DEVICES is None:
        devices = set()
        for root in _PSEUDO_FS:
            try:
                devices.add(os.stat(root).st_dev)
            except OSError:
                continue
        _PSEUDO_DEVICES = devices
    return _PSEUDO_DEVICES


def check_regular(path: str | os.PathLike[str], st: os.stat_result | None = None) -> None:
    """Raise :class:`NotRegularFile` unless ``path`` is a regular file with a real size."""
    name = os.fspath(path)
    if st is None:
        st = os.stat(name)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(0, f"not a regular file ({file_kind(st.st_mode)})", name)
    pseudo = st.st_dev in _pseudo_devices()
    if not pseudo and st.st_size in (0, 4096):
        # What such files report: look where the path leads (other mounts under /sys, such as
        # cgroup or debugfs, have devices of their own). Only for these sizes: resolving a
        # path costs a stat per component.
        real = os.path.realpath(name)
        pseudo = any(real == root or real.startswith(root + "/") for root in _PSEUDO_FS)
    if pseudo:
        raise NotRegularFile(
            0, "a kernel pseudo-file (its size is not its content); copy it to a file first", name
        )


class Identity(NamedTuple):
    """What tells a file apart from the same file changed: inode, size and modification time."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class Source:
    """The bytes of one stream: ``file`` (the file itself) or ``inflated`` (PS3.5 A.5).

    ``buf`` is set for streams held in memory or in a private map (bytes given by the caller, an
    inflated data set); a file on disk has none and is read with :meth:`read`.
    """

    buf: Buffer | None
    size: int
    stream: str = "file"
    path: str | None = None
    fd: int = -1
    identity: Identity | None = None
    _closers: list[BinaryIO | mmap.mmap] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Source:
        """Open a regular file for reading. Never blocks: a FIFO, device or socket is refused
        before it is opened (:class:`NotRegularFile`)."""
        name = os.fspath(path)
        check_regular(name)
        # O_NONBLOCK: a FIFO swapped in between the check and the open must not block us.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            check_regular(name, st)
        except BaseException:
            os.close(fd)
            raise
        return cls(None, st.st_size, "file", name, fd, Identity.of(st))

    @classmethod
    def from_bytes(cls, data: bytes, stream: str = "file") -> Source:
        return cls(data, len(data), stream)

    def read(self, offset: int, n: int) -> bytes:
        """The bytes at ``[offset, offset + n)`` clipped to the stream's size (fewer near the
        end, none past it). Raises :class:`SourceChanged` if the file gives fewer bytes than
        the size it had when it was opened."""
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        n = min(n, self.size - offset)
        if self.buf is not None:
            return bytes(self.buf[offset : offset + n])
        data = _pread(self.fd, n, offset)
        if len(data) < n:
            raise self._shrunk(offset + len(data))
        return data

    def read_into(self, offset: int, out: bytearray | memoryview) -> int:
        """Fill ``out`` from ``offset`` (fewer bytes near the end of the stream); the count."""
        want = min(len(out), max(0, self.size - offset))
        if want <= 0:
            return 0
        view = memoryview(out)[:want]
        try:
            if self.buf is not None:
                view[:] = memoryview(self.buf)[offset : offset + want]
                return want
            got = _preadinto(self.fd, view, offset)
        finally:
            view.release()
        if got < want:
            raise self._shrunk(offset + got)
        return want

    def _shrunk(self, at: int) -> SourceChanged:
        return SourceChanged(
            0,
            f"the file changed while being read: it was {self.size} bytes when opened, and "
            f"ends at {at} now",
            self.path,
        )

    def changed(self) -> str | None:
        """Why the file on disk is no longer the file that was opened, if it is not: shrunk,
        grown, rewritten, replaced by another file or removed. None for in-memory streams."""
        if self.identity is None or self.fd < 0 or self.path is None:
            return None
        now = Identity.of(os.fstat(self.fd))
        before = self.identity
        if now.size != before.size:
            return f"its size changed from {before.size} to {now.size} bytes while it was read"
        if now.mtime_ns != before.mtime_ns:
            return "it was modified while it was read"
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return "it was removed while it was read"
        except OSError:
            return None
        if (at_path.st_dev, at_path.st_ino) != (before.dev, before.ino):
            return "it was replaced by another file while it was read"
        return None

    def check_unchanged(self) -> None:
        """Raise :class:`SourceChanged` if :meth:`changed` has a reason."""
        why = self.changed()
        if why is not None:
            raise SourceChanged(0, why, self.path)

    def close(self) -> None:
        for c in self._closers:
            # A caller may still hold a memoryview of a map; it is freed with the last view.
            with contextlib.suppress(BufferError, ValueError):
                c.close()
        self._closers.clear()
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pread(fd: int, n: int, offset: int) -> bytes:
    """``os.pread`` until ``n`` bytes or the end of the file (a read may come back short)."""
    data = os.pread(fd, n, offset)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _preadinto(fd: int, view: memoryview, offset: int) -> int:
    got = 0
    want = len(view)
    while got < want:
        n = os.preadv(fd, [view[got:]], offset + got)
        if n <= 0:
            break
        got += n
    return got


@dataclass
class InflateResult:
    source: Source | None
    consumed: int  # bytes of the compressed stream that inflation used
    error: str | None  # why the stream is not a valid raw deflate stream, if it is not
    complete: bool  # the final deflate block was seen
    capped: bool  # inflation stopped at ``max_inflated``


def inflate(
    src: Source, start: int, *, wbits: int = RAW_DEFLATE_WBITS, max_inflated: int
) -> InflateResult:
    """Inflate ``src[start:]`` into a temporary file (PS3.5 A.5).

    At most ``max_inflated`` bytes are written (a bomb stops there; the temporary file never
    grows past the cap)."""
    import tempfile  # here: with shutil and random, a few ms of every command's start-up

    inflater = zlib.decompressobj(wbits)
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the Source
    written = 0
    pos = start
    error: str | None = None
    capped = False
    try:
        pending: bytes = b""
        while not inflater.eof:
            if not pending:
                if pos >= src.size:
                    break
                pending = src.read(pos, _INFLATE_CHUNK)
                pos += len(pending)
            # Bounded output per call: a deflate bomb must not become one huge bytes object.
            room = max_inflated - written
            data = inflater.decompress(pending, min(_INFLATE_CHUNK, room + 1))
            pending = inflater.unconsumed_tail
            if len(data) > room:
                tmp.write(data[:room])
                written = max_inflated
                capped = True
                break
            tmp.write(data)
            written += len(data)
        if not capped and not inflater.eof:
            tail = inflater.flush()
            if written + len(tail) > max_inflated:
                tail = tail[: max_inflated - written]
                capped = True
            tmp.write(tail)
            written += len(tail)
    except zlib.error as exc:
        error = str(exc)
    except BaseException:
        tmp.close()
        raise
    # At the end of the stream CPython may leave the same leftover bytes in both
    # ``unconsumed_tail`` and ``unused_data``: once the stream has ended only the latter counts.
    pending_input = 0 if inflater.eof else len(inflater.unconsumed_tail)
    consumed = pos - len(inflater.unused_data) - pending_input - start
    if written == 0:
        tmp.close()
        return InflateResult(None, consumed, error, inflater.eof, capped)
    tmp.flush()
    # Read back with pread like a file on disk, not mapped: walking a mapped stream of
    # hundreds of MiB would count every page it touched as this process's memory.
    source = Source(None, written, "inflated", fd=os.dup(tmp.fileno()), _closers=[tmp])
    return InflateResult(source, consumed, error, inflater.eof, capped)
