"""What happened to the file on disk since the viewer opened it: shrank, grew, modified,
replaced or removed.

The viewer reads the file with ``pread`` (:class:`dcmstruct.source.Source`), so a file cut
short by another process costs a short read, not a signal. :meth:`Source.changed` says whether
the file is still the one that was opened; this module says how it changed, in the words the
banner shows, from the identity the source recorded when it opened the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dcmstruct.source import Source


@dataclass(frozen=True, slots=True)
class FileChange:
    """``kind``: "shrank", "grew", "modified", "replaced", "removed" or "changed" (a change
    the source saw but that fits none of these); sizes of the open file, in bytes."""

    kind: str
    opened: int  # when it was opened (what the index describes)
    now: int  # now

    def describe(self) -> str:
        if self.kind == "shrank":
            return (
                f"the file shrank on disk from {self.opened:,} to {self.now:,} bytes: "
                f"bytes from {self.now:#x} on are gone (shown as --)"
            )
        if self.kind == "grew":
            return (
                f"the file grew on disk from {self.opened:,} to {self.now:,} bytes: "
                "the bytes added are not shown"
            )
        if self.kind == "modified":
            return "the file was modified on disk: what is shown may no longer be what it holds"
        if self.kind == "replaced":
            return "the file was replaced on disk by another file: this is the old one"
        if self.kind == "removed":
            return "the file was removed from disk: this is what it held"
        return "the file changed on disk"


def size_now(src: Source) -> int:
    """The size of the open file now (the stream's size for one held in memory), never more
    than the size it had when it was opened: only those bytes are indexed."""
    if src.fd < 0:
        return src.size
    try:
        return min(src.size, os.fstat(src.fd).st_size)
    except OSError:
        return src.size


def detect(src: Source) -> FileChange | None:
    """How the file of ``src`` changed since it was opened; None if it did not (or is no file
    on disk)."""
    try:
        if src.changed() is None:
            return None
        st = os.fstat(src.fd)
    except (OSError, ValueError):
        return None
    before = src.identity
    if before is None:
        return None
    now = st.st_size
    kind = "changed"
    if now != before.size:
        kind = "shrank" if now < before.size else "grew"
    elif st.st_mtime_ns != before.mtime_ns:
        kind = "modified"
    elif src.path is not None:
        try:
            at_path = os.stat(src.path)
        except FileNotFoundError:
            kind = "removed"
        except OSError:
            pass
        else:
            if (at_path.st_dev, at_path.st_ino) != (before.dev, before.ino):
                kind = "replaced"
    return FileChange(kind, before.size, now)
