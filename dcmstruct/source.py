"""Read-only access to a file's bytes (mmap) or to an inflated data set, never a copy."""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from dcmstruct.schema.deflate import RAW_DEFLATE_WBITS

Buffer = bytes | mmap.mmap | memoryview

# Inflation is done in bounded chunks into a temporary file, so a deflate bomb costs disk that
# is capped by ``max_inflated``, not memory.
_INFLATE_CHUNK = 1 << 20


@dataclass
class Source:
    """The bytes of one stream: ``file`` (the file itself) or ``inflated`` (PS3.5 A.5)."""

    buf: Buffer
    size: int
    stream: str = "file"
    _closers: list[BinaryIO | mmap.mmap] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Source:
        f = open(path, "rb")  # noqa: SIM115 - lives as long as the Source
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            f.close()
            return cls(b"", 0)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        f.close()  # the mapping stays valid after the descriptor is closed
        if hasattr(mmap, "MADV_RANDOM"):
            # Indexing reads a header, then jumps over the value: without this the kernel reads
            # ahead (and maps) megabytes of pixel data around every fragment header it touches.
            mm.madvise(mmap.MADV_RANDOM)
        return cls(mm, size, "file", [mm])

    @classmethod
    def from_bytes(cls, data: bytes, stream: str = "file") -> Source:
        return cls(data, len(data), stream)

    def close(self) -> None:
        for c in self._closers:
            # A caller may still hold a memoryview of the map; it is freed with the last view.
            with contextlib.suppress(BufferError, ValueError):
                c.close()
        self._closers.clear()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    """Inflate ``src[start:]`` into an mmapped temporary file (PS3.5 A.5)."""
    inflater = zlib.decompressobj(wbits)
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the Source
    written = 0
    pos = start
    error: str | None = None
    capped = False
    view = memoryview(src.buf)
    try:
        pending: memoryview | bytes = b""
        while not inflater.eof:
            if not pending:
                if pos >= src.size:
                    break
                pending = view[pos : min(pos + _INFLATE_CHUNK, src.size)]
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
            tmp.write(tail)
            written += len(tail)
    except zlib.error as exc:
        error = str(exc)
    finally:
        view.release()
    consumed = pos - len(inflater.unused_data) - len(inflater.unconsumed_tail) - start
    if written == 0:
        tmp.close()
        return InflateResult(None, consumed, error, inflater.eof, capped)
    tmp.flush()
    mm = mmap.mmap(tmp.fileno(), 0, access=mmap.ACCESS_READ)
    source = Source(mm, written, "inflated", [mm, tmp])
    return InflateResult(source, consumed, error, inflater.eof, capped)
