"""Deflated data sets (PS3.5 A.5): a raw RFC 1951 stream with no zlib header or trailer."""

from __future__ import annotations

import io
import zlib
from typing import Any

from construct import Container, SizeofError, Subconstruct
from construct.core import stream_read_entire, stream_write

from dcmstruct.limits import DEFAULT_INFLATE_RATIO, MIN_INFLATE_LIMIT
from dcmstruct.schema.layout import RAW_DEFLATE_WBITS

# The level used when a data set is (re)compressed: any level is valid; one is used everywhere.
DEFLATE_LEVEL = 9


class InflateLimitError(zlib.error):
    """The stream inflates to more than the limit (a deflate bomb, or a limit set too low)."""


def inflate_raw(data: bytes, max_inflated: int | None = None) -> tuple[bytes, bytes]:
    """Inflate a raw deflate stream; return (inflated bytes, bytes after the stream's end).

    At most ``max_inflated`` bytes are produced (default: the same limit the index uses,
    :data:`dcmstruct.limits.DEFAULT_INFLATE_RATIO` times the input, at least
    :data:`~dcmstruct.limits.MIN_INFLATE_LIMIT`); past it :class:`InflateLimitError` is raised
    before more memory is taken."""
    if max_inflated is None:
        max_inflated = max(MIN_INFLATE_LIMIT, len(data) * DEFAULT_INFLATE_RATIO)
    inflater = zlib.decompressobj(RAW_DEFLATE_WBITS)
    inflated = inflater.decompress(data, max_inflated + 1)
    if len(inflated) > max_inflated or (inflater.unconsumed_tail and not inflater.eof):
        raise InflateLimitError(
            f"the deflated data set inflates to more than {max_inflated} bytes "
            "(pass max_inflated= to parse to allow more)"
        )
    if not inflater.eof:
        inflated += inflater.flush()
    if not inflater.eof:
        raise zlib.error("deflate stream ends before its final block")
    return inflated, inflater.unused_data


class RawDeflate(Subconstruct):  # type: ignore[misc]
    """The rest of the stream is ``subcon``, deflated.

    Deflate is not canonical: the same data set compresses to different bytes with other
    encoders or levels. So a parse keeps the original ``compressed`` bytes, and a build writes
    them back unchanged when the data set still builds to what they inflate to; only an edited
    data set is compressed anew.
    """

    def _parse(self, stream: Any, context: Any, path: str) -> Container:
        data = stream_read_entire(stream, path)
        # ``Part10File.parse(data, max_inflated=N)``: parse keywords reach every nested
        # context as ``_params``.
        params = getattr(context, "_params", None) or {}
        limit = params.get("max_inflated")
        inflated, trailing = inflate_raw(data, limit)
        value = self.subcon._parsereport(io.BytesIO(inflated), context, path)
        return Container(
            dataset=value, compressed=data[: len(data) - len(trailing)], trailing=trailing
        )

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        buf = io.BytesIO()
        self.subcon._build(obj["dataset"], buf, context, path)
        inflated = buf.getvalue()
        compressed = obj.get("compressed")
        if compressed is None or inflate_raw(compressed)[0] != inflated:
            deflater = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, RAW_DEFLATE_WBITS)
            compressed = deflater.compress(inflated) + deflater.flush()
        stream_write(stream, compressed, len(compressed), path)
        trailing = obj.get("trailing") or b""
        stream_write(stream, trailing, len(trailing), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("compressed size is not fixed", path=path)
