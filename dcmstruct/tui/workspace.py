"""Saved workspaces: what the viewer had open on a file (cursor, named bookmarks, the pane in
focus, the row width, the pixel preview), written when it closes and restored the next time
the same file is opened.

Where: one JSON file per viewed file in the user's data directory
(``$XDG_DATA_HOME/dcmstruct/workspaces``, else ``~/.local/share/...``), named by a hash of the
file's real path, so nothing is written beside the files (often a read-only archive, or one a
PACS watches). ``--workspace FILE`` names another place, say one beside the file to share.

What is never saved: values from the file, and search queries (a query may be a patient's
name). Bookmark names are the user's own words or a tag's keyword. A workspace is the user's
convenience, never a reason to fail: one that cannot be read or written is ignored with a
message, and one saved for other bytes (the file changed) restores only what still fits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dcmstruct.model import Stream

VERSION = 1
_HEAD = 1 << 16  # bytes hashed at each end of the file to tell it from another
_MAX_BYTES = 1 << 20  # a workspace file bigger than this is not one of ours
_MAX_BOOKMARKS = 10_000
PANES = ("hex", "tree", "inspector", "findings")
_STREAMS = frozenset(int(s) for s in Stream)


@dataclass
class Bookmark:
    stream: int
    offset: int
    name: str


@dataclass
class Workspace:
    """The state saved for one file; ``size`` and ``head`` say which bytes it was saved for."""

    path: str
    size: int
    head: str
    stream: int = int(Stream.FILE)
    cursor: int = 0
    bytes_per_row: int | None = None
    focus: str = "hex"
    pixels: bool = False
    frame: int = 0
    mask: bool = False
    bookmarks: list[Bookmark] = field(default_factory=list)
    version: int = VERSION

    def fits(self, path: str) -> bool:
        """Whether it was saved for the bytes ``path`` holds now (else only positions that
        still exist are restored)."""
        size, head = fingerprint(path)
        return (size, head) == (self.size, self.head)


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dcmstruct" / "workspaces"


def default_location(path: str) -> Path:
    real = os.path.realpath(path)
    name = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return data_dir() / f"{name}.json"


def fingerprint(path: str) -> tuple[int, str]:
    """The file's size and a hash of its first and last 64 KiB (two reads, whatever the
    size): an edit of the header or a file rewritten with other data shows."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            ends = os.pread(fd, _HEAD, 0) + os.pread(fd, _HEAD, max(0, size - _HEAD))
        finally:
            os.close(fd)
    except OSError:
        return -1, ""
    return size, hashlib.sha256(ends).hexdigest()


def new(path: str) -> Workspace:
    size, head = fingerprint(path)
    return Workspace(os.path.realpath(path), size, head)


def load(location: Path) -> Workspace | None:
    """The workspace at ``location``; None if there is none. Raises ValueError when the file
    is there but is no workspace (the caller says so and goes on without it)."""
    try:
        with open(location, "rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read {location}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_BYTES:
        raise ValueError(f"{location} is too big to be a workspace")
    try:
        data = json.loads(raw)
        return _from_json(data)
    except RecursionError:
        raise ValueError(f"{location} is no workspace: nested too deeply") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{location} is no workspace: {exc}") from None


def _from_json(data: Any) -> Workspace:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("not version 1")

    def whole(key: str, default: int, low: int = 0) -> int:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{key} is no whole number")
        return value

    marks = data.get("bookmarks", [])
    if not isinstance(marks, list):
        raise ValueError("bookmarks is no list")
    bookmarks = []
    for m in marks[:_MAX_BOOKMARKS]:
        if not isinstance(m, dict):
            raise ValueError("a bookmark is no object")
        stream, offset, name = m.get("stream"), m.get("offset"), m.get("name")
        if not isinstance(stream, int) or stream not in _STREAMS:
            raise ValueError("a bookmark has no stream")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("a bookmark has no offset")
        bookmarks.append(Bookmark(stream, offset, str(name)[:200]))
    width = data.get("bytes_per_row")
    focus = data.get("focus", "hex")
    stream = whole("stream", int(Stream.FILE))
    if stream not in _STREAMS:
        raise ValueError("stream is unknown")
    return Workspace(
        path=str(data.get("path", "")),
        size=whole("size", -1, -1),
        head=str(data.get("head", "")),
        stream=stream,
        cursor=whole("cursor", 0),
        bytes_per_row=width if width in (8, 16, 32) else None,
        focus=focus if focus in PANES else "hex",
        pixels=data.get("pixels") is True,
        frame=whole("frame", 0),
        mask=data.get("mask") is True,
        bookmarks=bookmarks,
    )


def save(workspace: Workspace, location: Path) -> None:
    """Write it whole or not at all (a temporary file renamed over the old one), readable by
    the user only. Raises OSError."""
    location.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(workspace), indent=1)
    fd, tmp = tempfile.mkstemp(prefix=".workspace-", dir=location.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, location)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
