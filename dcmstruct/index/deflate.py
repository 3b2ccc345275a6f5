"""Deflated data sets (PS3.5 A.5): inflate with a bound, then walk the inflated stream."""

from __future__ import annotations

from dcmstruct.index.base import WalkerBase
from dcmstruct.index.faults import FaultCode
from dcmstruct.index.window import Window
from dcmstruct.limits import DEFAULT_INFLATE_RATIO, MIN_INFLATE_LIMIT
from dcmstruct.model import Stream
from dcmstruct.schema.layout import EXPLICIT_LE
from dcmstruct.source import Source, inflate
from dcmstruct.wording import count


def inflate_limit(size: int, ratio: float = DEFAULT_INFLATE_RATIO) -> int:
    """The most a data set in a file of ``size`` bytes may inflate to."""
    return max(MIN_INFLATE_LIMIT, int(size * ratio))


class DeflateWalk(WalkerBase):
    def walk_deflated(self, pos: int) -> None:
        """PS3.5 A.5: the data set is a raw deflate stream; index the inflated bytes."""
        result = inflate(self.src, pos, max_inflated=self.max_inflated)
        if result.error is not None or result.source is None:
            # A zlib-wrapped stream (header 78 xx) is a common encoder mistake.
            if self.win.byte(pos) == 0x78:
                wrapped = inflate(self.src, pos, wbits=15, max_inflated=self.max_inflated)
                if wrapped.error is None and wrapped.source is not None:
                    self.fault(
                        FaultCode.DEFLATE_STREAM_INVALID,
                        pos,
                        2,
                        -1,
                        "the data set is zlib-wrapped (RFC 1950 header 78xx); PS3.5 A.5 "
                        "requires a raw RFC 1951 stream",
                    )
                    self.index_inflated(wrapped.source, pos, wrapped.consumed)
                    return
                if wrapped.source is not None:
                    wrapped.source.close()
            if self.detect(pos, self.size) is not None:
                self.fault(
                    FaultCode.DEFLATE_STREAM_INVALID,
                    pos,
                    self.size - pos,
                    -1,
                    "the transfer syntax is deflated but the data set is stored uncompressed; "
                    "read as Explicit VR Little Endian",
                )
                if result.source is not None:
                    result.source.close()
                self.dataset_encoding = EXPLICIT_LE
                self.walk_dataset(pos, EXPLICIT_LE)
                return
            self.fault(
                FaultCode.DEFLATE_STREAM_INVALID,
                pos,
                self.size - pos,
                -1,
                f"the deflated data set cannot be inflated: {result.error}",
            )
            if result.source is not None:
                result.source.close()
            self.trailing(pos, self.size, 0, -1)
            return
        if result.capped:
            self.fault(
                FaultCode.DEFLATE_STREAM_INVALID,
                pos,
                self.size - pos,
                -1,
                f"the data set inflates to more than {self.max_inflated} bytes "
                f"({self.max_inflated / max(1, self.size):.0f} times the file; a deflate bomb?); "
                "indexed up to that limit and no further",
            )
        elif not result.complete:
            self.fault(
                FaultCode.DEFLATE_STREAM_INVALID,
                pos,
                self.size - pos,
                -1,
                "the deflate stream is truncated: the file ends before its final block",
            )
        # Capped: the stream did not end where inflation stopped, so nothing "follows" it.
        self.index_inflated(result.source, pos, None if result.capped else result.consumed)

    def index_inflated(self, inflated: Source, pos: int, consumed: int | None) -> None:
        self.deflated = True
        self.dataset_encoding = EXPLICIT_LE
        self.sources[Stream.INFLATED] = inflated
        end_of_stream = self.size if consumed is None else pos + consumed
        outer = (self.win, self.size)
        self.win, self.size = Window(inflated), inflated.size
        self.stream = Stream.INFLATED
        enc = self.detect(0, self.size) or EXPLICIT_LE
        self.walk_dataset(0, enc)
        self.win, self.size = outer
        self.stream = Stream.FILE
        if consumed is None:
            return
        self.after_stream(end_of_stream, consumed, inflated.size)

    def after_stream(self, end_of_stream: int, consumed: int, inflated_size: int) -> None:
        """What follows the deflate stream: nothing, or (odd stream) one NUL pad byte."""
        extra = self.size - end_of_stream
        odd = consumed % 2 == 1
        if odd and extra == 0:
            self.fault(
                FaultCode.DEFLATE_STREAM_INVALID,
                end_of_stream,
                0,
                -1,
                f"the deflate stream is {count(consumed, 'byte')} long, an odd length, and is "
                "not followed by the single NUL pad byte PS3.5 A.5 requires",
            )
            return
        if odd and extra >= 1 and self.win.byte(end_of_stream) == 0:
            # PS3.5 A.5: an odd-length stream is padded with one 00H; it forms no element but
            # is no fault.
            self.trailing(end_of_stream, end_of_stream + 1, 0, -1)
            end_of_stream += 1
            extra -= 1
        if extra <= 0:
            return
        why = ""
        if extra == 8 and int.from_bytes(self.win.get(self.size - 4, 4), "little") == (
            inflated_size & 0xFFFFFFFF
        ):
            why = " (a gzip CRC-32 and size trailer, which PS3.5 A.5's raw stream has not)"
        node = self.trailing(end_of_stream, self.size, 0, -1)
        self.fault(
            FaultCode.TRAILING_BYTES,
            end_of_stream,
            extra,
            node,
            f"{count(extra, 'byte')} {'follows' if extra == 1 else 'follow'} the end of the "
            f"deflate stream{why}; expected the "
            "file to end there",
        )
