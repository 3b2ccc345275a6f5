"""The safety limits files are read with: their defaults and the ranges a user may set.

A module of constants only (no imports), so the command line can describe its flags without
importing the index.
"""

from __future__ import annotations

# Nesting levels recorded; deeper branches are walked but not recorded (NESTING_TOO_DEEP).
DEFAULT_MAX_DEPTH = 128
# Nodes indexed per file (NODE_LIMIT_EXCEEDED past it). About 61 bytes of index each, so at
# most 256 MiB of index: a real file rarely has a million nodes; more is a hostile file or a
# very large structured report, and the limit can be raised.
DEFAULT_MAX_NODES = 1 << 22
# A deflated data set may inflate to this many times its file's size, and at least
# MIN_INFLATE_LIMIT bytes (DEFLATE_STREAM_INVALID past it). Real data sets deflate 2 to 20
# times; a bomb a thousand times and more.
DEFAULT_INFLATE_RATIO = 64
MIN_INFLATE_LIMIT = 64 << 20

# Command-line and config ranges (inclusive). Node numbers are stored in 32 bits.
LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "max-nodes": (16, (1 << 31) - 1),
    "max-depth": (1, 1024),
    "max-inflate-ratio": (1, 1_000_000),
}
