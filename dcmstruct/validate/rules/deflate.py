"""Rules: the deflated data set (PS3.5 A.5). The index finds the faults while inflating."""

from __future__ import annotations

from dcmstruct.validate.registry import index_rule

index_rule(
    "DEFLATE_STREAM_INVALID",
    "error",
    "PS3.5 A.5",
    summary=(
        "Deflated transfer syntax but the data set is not a valid raw RFC 1951 stream "
        "(corrupt, truncated, zlib-wrapped, or stored uncompressed), or an odd-length stream "
        "without its single trailing NUL pad byte (that one pad byte is legal, not trailing "
        "bytes)"
    ),
    why=(
        "Under Deflated Explicit VR Little Endian everything after the file meta group is one\n"
        "raw deflate stream (RFC 1951: no zlib header, no checksum). A zlib-wrapped or gzip\n"
        "stream, a stream cut short, corrupt blocks, or a data set written uncompressed under\n"
        "the deflated UID make strict readers (dcmtk, pydicom) fail with an inflate error and\n"
        "lose the whole data set; lenient ones guess, and different readers guess differently.\n"
        "PS3.5 A.5 also keeps the file even: a stream of odd length is followed by exactly one\n"
        "NUL pad byte. That byte is part of a legal file (no TRAILING_BYTES); its absence after\n"
        "an odd-length stream is reported here, as an empty finding where it belongs."
    ),
    example=(
        "(0002,0010) UI 1.2.840.10008.1.2.1.99\n"
        "data set at 0x00d4: 78 9C ...   # zlib header: expected a raw deflate stream"
    ),
    module=__name__,
)
