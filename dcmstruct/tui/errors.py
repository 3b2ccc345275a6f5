"""Errors in words, for the status line and toasts."""

from __future__ import annotations


def reason(error: BaseException | None) -> str:
    """What went wrong: an OSError's reason without its errno and file name (the path is
    shown beside it)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
