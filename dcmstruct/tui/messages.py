"""Messages the widgets post up to the app; the app answers by setting attributes down."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from dcmstruct.model import Stream


@dataclass
class CursorMoved(Message):
    """The hex cursor moved to byte ``offset`` of ``stream``."""

    stream: Stream
    offset: int


@dataclass
class ElementChosen(Message):
    """The user chose a tree entry that starts at ``offset``; ``node`` is -1 for a group
    ("File Meta", "Data Set") that is no node of the index. ``explicit``: chosen with Enter or
    a click, not just highlighted by moving through the tree."""

    stream: Stream
    offset: int
    node: int
    explicit: bool


@dataclass
class FindingChosen(Message):
    """The user chose finding number ``position`` of the findings list."""

    position: int


@dataclass
class JumpRequested(Message):
    """The user asked to follow the offset value under the cursor (Enter in the inspector),
    or, with ``offset``, to go to byte ``offset`` of ``stream`` (Enter on a fragment in the
    pixel preview)."""

    stream: Stream | None = None
    offset: int | None = None


@dataclass
class BookmarkDeleted(Message):
    """The user deleted the bookmark at ``offset`` of ``stream`` in the bookmarks dialog."""

    stream: Stream
    offset: int


@dataclass
class RangeChanged(Message):
    """The user selected bytes [start, end) of ``stream`` in the hex pane (shift+arrows or a
    mouse drag); ``start`` is None when the selection was cleared."""

    stream: Stream
    start: int | None
    end: int = 0


@dataclass
class BookmarkRenamed(Message):
    """The user named the bookmark at ``offset`` of ``stream`` in the bookmarks dialog."""

    stream: Stream
    offset: int
    name: str
