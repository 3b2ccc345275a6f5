"""Counting words in messages: ``1 byte``, ``3 bytes``, ``2 entries``, ``0 info``."""

from __future__ import annotations

# Nouns whose plural is not noun + "s".
_IRREGULAR = {"info": "info"}


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1; a parenthesised tail stays as it is:
    ``count(2, "byte (the first MiB all zero)")`` is ``2 bytes (the first MiB all zero)``."""
    head, _, tail = noun.partition(" (")
    if n != 1:
        if head in _IRREGULAR:
            head = _IRREGULAR[head]
        elif head.endswith("y") and not head.endswith(("ay", "ey", "oy", "uy")):
            head = head[:-1] + "ies"
        else:
            head += "s"
    return f"{n} {head}" + (f" ({tail}" if tail else "")
