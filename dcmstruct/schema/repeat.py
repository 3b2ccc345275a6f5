"""A repeater that stops on a peeked tag: the one loop DICOM's grammar needs.

construct's ``GreedyRange`` would do the looping but swallows every error and stops
silently, so a malformed element would vanish from a parse instead of failing it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from construct import Construct, ListContainer, SizeofError, StreamError, Subconstruct
from construct.core import stream_seek, stream_tell


class RepeatUntilTag(Subconstruct):  # type: ignore[misc]
    """Parse ``subcon`` until the stream ends or the next tag satisfies ``stop``.

    The stopping tag is peeked, not consumed: the delimiter that closes a sequence or an item
    (PS3.5 7.5.2) belongs to the enclosing schema, which parses it as a field of its own.
    """

    def __init__(self, subcon: Construct, stop: Callable[[int], bool], big_endian: bool) -> None:
        super().__init__(subcon)
        self.stop = stop
        self.tag_format = struct.Struct(">HH" if big_endian else "<HH")

    def _parse(self, stream: Any, context: Any, path: str) -> ListContainer:
        out = ListContainer()
        while True:
            pos = stream_tell(stream, path)
            head = stream.read(4)
            stream_seek(stream, pos, 0, path)
            if not head:
                return out
            if len(head) < 4:
                raise StreamError(f"{len(head)} bytes left where a tag was expected", path=path)
            group, element = self.tag_format.unpack(head)
            if self.stop((group << 16) | element):
                return out
            out.append(self.subcon._parsereport(stream, context, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        for item in obj:
            self.subcon._build(item, stream, context, path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("a data set has no fixed size", path=path)
