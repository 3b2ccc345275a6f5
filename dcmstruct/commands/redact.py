"""``dcmstruct redact IN -o OUT``: a copy of a file with every identifying range overwritten.

The ranges are ``dcmstruct phi``'s (same options); what replaces each is decided in
:mod:`dcmstruct.redaction`. OUT has the same size, offsets, length fields and structural
faults as IN. A deflated data set is inflated, redacted the same way and deflated again, so
that OUT's size may differ (said on standard error). OUT is written to a temporary file beside
it and renamed into place; IN is never written, and OUT may not be IN.

Exit codes: 0 written, 2 a usage error or an input that cannot be read, 3 an internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from dcmstruct.commands.phi import range_record
from dcmstruct.exitcode import ExitCode
from dcmstruct.index import Limits, index_file
from dcmstruct.model import Stream
from dcmstruct.privacy import classify
from dcmstruct.redaction import Patch, apply, patches
from dcmstruct.safetext import clean, terminal_safe
from dcmstruct.schema.layout import RAW_DEFLATE_WBITS, format_tag
from dcmstruct.source import Source, check_regular

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex

_CHUNK = 1 << 20
_DEFLATE_LEVEL = 6


def run(args: argparse.Namespace) -> ExitCode:
    src, out = os.fspath(args.input), os.fspath(args.output)
    try:
        check_regular(src)
        if os.path.exists(out) and os.path.samefile(src, out):
            return _usage(f"{out}: is the input; redact never writes over its input")
        if args.report and os.path.exists(args.report) and os.path.samefile(src, args.report):
            return _usage(f"{args.report}: is the input")
        if args.report and os.path.abspath(args.report) == os.path.abspath(out):
            return _usage(f"{args.report}: is OUT too; the report needs a file of its own")
        limits = getattr(args, "limits", None) or Limits()
        index = index_file(src, **limits._asdict())
    except OSError as exc:
        return _usage(f"{src}: {exc.strerror or exc}")
    refused = _refusal(index)
    if refused is not None:
        index.close()
        return _usage(f"{src}: {refused}, so it is not redacted")
    try:
        with index:
            marks = classify(index, tuple(args.option or ()))
            found, left = patches(index, marks)
            size = _write(index, src, out, found)
            ranges = _ranges(index, found) if args.report else []
    except OSError as exc:
        return _usage(f"{exc.filename or src}: {exc.strerror or exc}")
    except NoOddEnding:
        return _usage(
            f"{src}: its deflate stream lacks the pad byte of an odd length, and no stream "
            "deflated again came out odd to keep that fault, so it is not redacted"
        )
    if size != index.size:
        _say(
            f"the deflated data set was redacted and deflated again: {out} is {size:,} bytes, "
            f"{src} {index.size:,}"
        )
    for mark in left:
        if mark.action == "C":
            _say(f"left as it is: {format_tag(mark.tag or 0)} at {mark.offset:#x}: {mark.reason}")
    if args.report:
        try:
            _report(args.report, src, ranges)
        except OSError as exc:
            return _usage(f"{args.report}: {exc.strerror or exc}")
    return ExitCode.OK


def _refusal(index: ElementIndex) -> str | None:
    """Why a file cannot be redacted: a deflated data set that does not inflate whole cannot
    be written again, and what the index did not record may hold anything."""
    for fault in index.faults:
        if fault.code == "DEFLATE_STREAM_INVALID" and not _pad_missing(index):
            return (
                f"its deflated data set does not inflate whole ({fault.message}): it cannot be "
                "written again"
            )
        if fault.code in ("NODE_LIMIT_EXCEEDED", "NESTING_TOO_DEEP"):
            return (
                f"the index did not record all of it ({fault.code}): what it did not record "
                "may hold anything (raise --max-nodes or --max-depth)"
            )
    return None


def _pad_missing(index: ElementIndex) -> bool:
    """Is a deflated data set's one fault that its odd-length stream, which inflates whole and
    ends the file, lacks the NUL pad byte (PS3.5 A.5)? Then OUT keeps that fault: its stream
    is written to an odd length too, with no pad."""
    faults = [f for f in index.faults if f.code == "DEFLATE_STREAM_INVALID"]
    if not faults or index.dataset_offset is None or Stream.INFLATED not in index.sources:
        return False
    if any(f.offset != index.size or f.length != 0 for f in faults):
        return False
    used, whole = _stream_length(index.sources[Stream.FILE], index.dataset_offset)
    return whole and used % 2 == 1 and index.dataset_offset + used == index.size


def _usage(text: str) -> ExitCode:
    _say(text)
    return ExitCode.USAGE


def _say(text: str) -> None:
    print(f"dcmstruct redact: {terminal_safe(text)}", file=sys.stderr)


def _write(index: ElementIndex, src: str, out: str, found: list[Patch]) -> int:
    """Write OUT through a temporary file beside it; return its size."""
    folder = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".redact-", dir=folder)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, out) from None  # name OUT, not the temporary
    try:
        with os.fdopen(fd, "wb") as dst:
            source = index.sources[Stream.FILE]
            if index.deflated and index.dataset_offset is not None:
                start = index.dataset_offset
                _copy(dst, source, 0, start, found, Stream.FILE)
                written = start + _deflated(dst, index, source, start, found)
            else:
                _copy(dst, source, 0, index.size, found, Stream.FILE)
                written = index.size
        # The copy gets the input's permissions, not the private ones of a temporary file.
        os.chmod(tmp, os.stat(src).st_mode & 0o777)
        # A file that changed while it was read would be redacted by the wrong ranges: OUT is
        # never put in place then.
        index.check_unchanged()
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def _copy(
    dst: BinaryIO, src: Source, start: int, end: int, found: list[Patch], stream: Stream
) -> None:
    for base, data in _chunks(src, start, end):
        apply(data, base, found, stream)
        dst.write(data)


def _chunks(src: Source, start: int, end: int) -> Iterator[tuple[int, bytearray]]:
    pos = start
    while pos < end:
        data = bytearray(src.read(pos, min(_CHUNK, end - pos)))
        if not data:
            return
        yield pos, data
        pos += len(data)


def _deflated(
    dst: BinaryIO, index: ElementIndex, source: Source, start: int, found: list[Patch]
) -> int:
    """The redacted inflated stream, deflated again (PS3.5 A.5), then what followed the
    original stream in the file, zeroed (unparsed bytes); the bytes written."""
    inflated = index.sources.get(Stream.INFLATED)
    written = 0
    if inflated is not None:
        packer = zlib.compressobj(_DEFLATE_LEVEL, zlib.DEFLATED, RAW_DEFLATE_WBITS)
        for base, data in _chunks(inflated, 0, inflated.size):
            apply(data, base, found, Stream.INFLATED)
            piece = packer.compress(bytes(data))
            dst.write(piece)
            written += len(piece)
        if _pad_missing(index):
            piece = _odd_ending(packer, written)
        else:
            piece = packer.flush()
            if (written + len(piece)) % 2:
                piece += b"\0"  # PS3.5 A.5: an odd-length stream gets one NUL pad byte
        dst.write(piece)
        written += len(piece)
    rest = index.size - start - _stream_length(source, start)[0]
    if rest > 0:
        dst.write(bytes(rest))
        written += rest
    return written


# Ways to end a deflate stream: each adds empty blocks of its own length (an aligned empty
# stored block, an empty fixed block), so that among them both parities of the whole stream
# are found (checked by tests/test_redact.py over many streams).
_ENDINGS = (
    (zlib.Z_FINISH,),
    (zlib.Z_SYNC_FLUSH, zlib.Z_FINISH),
    (zlib.Z_PARTIAL_FLUSH, zlib.Z_FINISH),
    (zlib.Z_SYNC_FLUSH, zlib.Z_FULL_FLUSH, zlib.Z_FINISH),
    (zlib.Z_PARTIAL_FLUSH, zlib.Z_SYNC_FLUSH, zlib.Z_FINISH),
)


class NoOddEnding(Exception):
    """No ending of the deflate stream gives it the odd length that keeps a missing pad."""


def _odd_ending(packer: zlib._Compress, written: int) -> bytes:
    """The end of a stream of which ``written`` bytes are out, such that the whole stream is
    of odd length: the input's missing pad byte stays missing, and stays a fault."""
    for ending in _ENDINGS:
        trial = packer.copy()
        piece = b"".join(trial.flush(mode) for mode in ending)
        if (written + len(piece)) % 2:
            return piece
    raise NoOddEnding


def _stream_length(source: Source, start: int) -> tuple[int, bool]:
    """How many bytes from ``start`` the original deflate stream (and its NUL pad) takes, and
    whether it ends there (False: it runs to the end of the file unfinished)."""
    unpack = zlib.decompressobj(RAW_DEFLATE_WBITS)
    used = 0
    for _base, data in _chunks(source, start, source.size):
        unpack.decompress(bytes(data), 1)  # the output is not wanted: only where it ends
        while unpack.unconsumed_tail and not unpack.eof:
            unpack.decompress(unpack.unconsumed_tail, 1 << 16)
        if unpack.eof:
            used += len(data) - len(unpack.unused_data)
            pad = unpack.unused_data[:1] == b"\0" and used % 2 == 1
            return used + (1 if pad else 0), True
        used += len(data)
    return used, False


def _ranges(index: ElementIndex, found: list[Patch]) -> list[dict[str, object]]:
    """What was changed, as ``phi``'s range objects (each patch's own bytes)."""
    from dcmstruct.paths import item_numbers

    numbers = item_numbers(index.columns)
    return [
        range_record(index, numbers, p.mark, offset=p.offset, length=len(p.data)) for p in found
    ]


def _report(path: str, src: str, ranges: list[dict[str, object]]) -> None:
    doc = {"files": [{"path": clean(src), "phi": ranges}], "summary": {"files": 1,
           "ranges": len(ranges)}}  # fmt: skip
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
        f.write("\n")


__all__ = ["run"]
