"""Standard input (``-``) spooled to a temporary file, up to a size bound.

The walk reads a file at offsets (``pread``), backwards and forwards, so a pipe cannot be read
in place: it is copied first, in chunks, to a private file in the temporary directory
(``$TMPDIR``). The copy stops at the bound (a runaway ``cat /dev/urandom |`` must not fill the
disk, or the memory where the temporary directory is a tmpfs) and the input is then refused.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import BinaryIO

from dcmstruct.safetext import terminal_safe

# Large enough for nearly every single DICOM object short of whole-slide images; small enough
# that a mistaken pipe stops within seconds.
DEFAULT_STDIN_LIMIT = 1 << 30
STDIN_LIMIT_ENV = "DCMSTRUCT_STDIN_LIMIT"
STDIN_LIMIT_FLAG = "--stdin-limit"
MAX_STDIN_LIMIT = 1 << 50  # 1 PiB: anything above is a typo, not a plan
STDIN_NAME = "-"

_CHUNK = 1 << 20
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"([0-9]{1,20})\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)


class SpoolError(OSError):
    """Standard input cannot be taken: too large, a terminal, or unreadable."""


def parse_size(text: str) -> int:
    """``1073741824``, ``512M``, ``2G``, ``2GiB``: a byte count from 1 to 1 PiB (binary
    units). Raises ``ValueError`` with a one-line reason."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise ValueError("expected a byte count such as 1073741824, 512M or 2G")
    size = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if not 1 <= size <= MAX_STDIN_LIMIT:
        raise ValueError(f"must be from 1 byte to {describe(MAX_STDIN_LIMIT)}")
    return size


def describe(size: int) -> str:
    """``1 GiB``, ``512 MiB``, ``1000 bytes``: a limit as a person writes it."""
    for unit, name in (
        (1 << 50, "PiB"),
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def stdin_limit(flag: str | None) -> int:
    """The bound: the flag, else the environment variable, else the default. Raises
    ``ValueError`` naming where the bad value came from."""
    if flag is not None:
        source, text = STDIN_LIMIT_FLAG, flag
    elif os.environ.get(STDIN_LIMIT_ENV):
        source, text = STDIN_LIMIT_ENV, os.environ[STDIN_LIMIT_ENV]
    else:
        return DEFAULT_STDIN_LIMIT
    try:
        return parse_size(text)
    except ValueError as exc:
        shown = terminal_safe(text if len(text) <= 40 else text[:40] + "...")
        raise ValueError(f"{source} '{shown}': {exc}") from None


def spool(stream: BinaryIO, limit: int) -> str:
    """Copy ``stream`` to a new temporary file and return its path (the caller removes it).
    Raises :class:`SpoolError` if the stream is a terminal, holds more than ``limit`` bytes,
    or cannot be read or copied; no file is left behind then."""
    # Imported here: tempfile (with shutil and random) costs every run of every command a few
    # milliseconds of start-up, and only reading standard input needs it.
    import tempfile

    if _isatty(stream):
        raise SpoolError(0, "standard input is a terminal: pipe or redirect a file into it")
    where = tempfile.gettempdir()
    try:
        fd, path = tempfile.mkstemp(prefix="dcmstruct-stdin-", suffix=".dcm")
    except OSError as exc:
        raise SpoolError(0, f"cannot create a temporary file in {where}: {_why(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            written = 0
            while chunk := _read(stream, min(_CHUNK, limit + 1 - written)):
                written += len(chunk)
                if written > limit:
                    raise SpoolError(
                        0,
                        f"standard input holds more than {describe(limit)}, the limit "
                        f"({STDIN_LIMIT_FLAG} or {STDIN_LIMIT_ENV} sets another)",
                    )
                out.write(chunk)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        if isinstance(exc, OSError) and not isinstance(exc, SpoolError):
            # Reading raised a SpoolError already: an OSError here is the copy (disk full).
            raise SpoolError(0, f"cannot copy standard input to {where}: {_why(exc)}") from None
        raise
    return path


def _read(stream: BinaryIO, n: int) -> bytes:
    try:
        while (chunk := stream.read(n)) is None:
            # A non-blocking pipe with nothing in it yet: wait for data rather than take the
            # empty read for the end.
            import select

            select.select([stream], [], [])
    except OSError as exc:
        raise SpoolError(0, f"cannot read standard input: {_why(exc)}") from None
    return chunk


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _isatty(stream: BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = [
    "DEFAULT_STDIN_LIMIT",
    "STDIN_LIMIT_ENV",
    "STDIN_NAME",
    "SpoolError",
    "describe",
    "parse_size",
    "spool",
    "stdin_limit",
]
