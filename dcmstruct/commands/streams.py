"""What every command reads from standard input and writes to stderr: the stream, one safe
line per problem."""

from __future__ import annotations

import sys
from typing import BinaryIO, TextIO

from dcmstruct.safetext import terminal_safe
from dcmstruct.spool import STDIN_NAME, SpoolError


def stdin_stream() -> BinaryIO:
    """Standard input as bytes; ``SpoolError`` if there is none."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise SpoolError(0, "standard input is closed")
    return stream  # type: ignore[no-any-return]


def reason(exc: BaseException) -> str:
    """One line for stderr: ``PATH: why`` (safe for a terminal), or the message."""
    if isinstance(exc, OSError):
        why = exc.strerror or str(exc)
        if isinstance(exc, SpoolError):
            return terminal_safe(f"{STDIN_NAME}: {why}")
        name = exc.filename
        return terminal_safe(f"{name}: {why}" if name is not None else why)
    return terminal_safe(str(exc))


def safe_lines(text: str) -> str:
    """A traceback, line by line made safe (it quotes file names and values)."""
    return "\n".join(terminal_safe(line) for line in text.splitlines())


def isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["isatty", "reason", "safe_lines", "stdin_stream"]
