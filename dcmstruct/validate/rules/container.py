"""Rules: the Part 10 container (PS3.10 7): preamble, prefix, what follows the last element.

Most of these faults are met by the element index while it walks the file (it has to decide
where the meta group and the data set start, and where the bytes stop making sense), so they
are declared with :func:`index_rule`; :func:`preamble_nonzero` looks at the preamble itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from dcmstruct.model import Kind, Stream
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import index_rule, rule, screen

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.validate.batch import Batch

PREAMBLE_LENGTH = 128  # PS3.10 7.1
PREFIX = b"DICM"
# The screens here and in the meta and DICOMDIR rules read values up to (0008,0018) SOP Instance
# UID, which a data set holds near its start: they read this many bytes of each file, and leave
# to its exact check a file whose bytes they need lie further.
HEAD_BYTES = 1024


class Heads(NamedTuple):
    """The first :data:`HEAD_BYTES` bytes of each file of a batch (its ``file`` stream), one
    row per file, zero-padded: byte ``o`` of file ``f`` is ``rows[f, o]`` where
    ``o < size[f]``."""

    rows: npt.NDArray[np.uint8]
    size: npt.NDArray[np.int64]

    def has(
        self,
        files: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        n: int | npt.NDArray[np.int64],
    ) -> npt.NDArray[np.bool_]:
        """Per range: are its ``n`` bytes at ``offsets`` of ``files`` in the table?"""
        inside: npt.NDArray[np.bool_] = (offsets >= 0) & (offsets + n <= self.size[files])
        return inside

    def take(
        self, files: npt.NDArray[np.int64], offsets: npt.NDArray[np.int64], n: int
    ) -> npt.NDArray[np.uint8]:
        """The ``n`` bytes at each offset, as rows; meaningless where :meth:`has` is False."""
        flat = self.rows.ravel()
        last = flat.size - n
        if last < 0:
            return np.zeros((len(files), n), dtype=np.uint8)
        # Every n-byte window of the table, as a view: picking rows of it copies n bytes each
        # at once, where an index per byte would cost several times more.
        windows: npt.NDArray[np.uint8] = np.ndarray(
            (last + 1, n), dtype=np.uint8, buffer=flat, strides=(1, 1)
        )
        got: npt.NDArray[np.uint8] = windows[
            np.minimum(np.maximum(files * HEAD_BYTES + offsets, 0), last)
        ]
        return got


class Top(NamedTuple):
    """The top-level elements of every file of a batch (any stream), in row order."""

    rows: npt.NDArray[np.int64]
    tags: npt.NDArray[np.int64]
    files: npt.NDArray[np.int64]


def top_elements(batch: Batch) -> Top:
    """:class:`Top` of ``batch``, found once for the screens of the container, meta and
    DICOMDIR rules."""
    return batch.shared(_top_elements)


def _top_elements(batch: Batch) -> Top:
    rows = (batch.top & batch.elements).nonzero()[0]
    return Top(rows, batch.columns.tag[rows], batch.file[rows])


def file_heads(batch: Batch) -> Heads:
    """:class:`Heads` of ``batch``: one read per file for every screen that looks at values
    near its start. For a file on disk that read fills the index's read window, which the
    reads of later screens and checks share."""
    return batch.shared(_file_heads)


def _file_heads(batch: Batch) -> Heads:
    parts = [ix.read(Stream.FILE, 0, HEAD_BYTES) for ix in batch.indexes]
    data = b"".join(p.ljust(HEAD_BYTES, b"\0") for p in parts)
    rows = np.frombuffer(data, dtype=np.uint8).reshape(len(parts), HEAD_BYTES)
    size = np.array([len(p) for p in parts], dtype=np.int64)
    return Heads(rows, size)


def first_kinds(batch: Batch) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per file, the kinds of its first two nodes (-1 where it has fewer)."""
    c = batch.columns
    start, stop = batch.base[:-1], batch.base[1:]
    last = max(len(c) - 1, 0)
    kinds = c.kind.astype(np.int64) if len(c) else np.zeros(1, dtype=np.int64)
    first = np.where(start < stop, kinds[np.minimum(start, last)], -1)
    second = np.where(start + 1 < stop, kinds[np.minimum(start + 1, last)], -1)
    return first, second


index_rule(
    "PREAMBLE_MISSING",
    "error",
    "PS3.10 7.1",
    summary="No 128-byte preamble before the prefix: a bare data set, or 'DICM' at offset 0",
    why="""\
A Part 10 file starts with 128 bytes of preamble and 'DICM' at offset 128 (PS3.10 7.1).
Readers that check the prefix (pydicom without force=True, PACS import folders, file-type
sniffers) reject a bare data set or 'DICM' at offset 0 as "not DICOM"; lenient ones (dcmtk)
fall back to reading a bare data set and must guess its transfer syntax, since there is no
meta group to name it.
The finding points at offset 0: at 'DICM' when it is there, at the stray bytes before a data
set when there are any, and is empty (length 0) for a bare data set.""",
    example="""\
00000000  44 49 43 4d 02 00 00 00 55 4c 04 00 ...   'DICM' at 0, then (0002,0000) UL
00000000  08 00 05 00 43 53 0a 00 49 53 4f ...      a bare data set: (0008,0005) CS first""",
    module=__name__,
)

index_rule(
    "PREFIX_NOT_DICM",
    "error",
    "PS3.10 7.1",
    summary="Bytes 128-131 are not 'DICM'",
    why="""\
The four bytes after the preamble identify the file as DICOM (PS3.10 7.1). Prefix-checking
readers (pydicom without force=True, OS and PACS file sniffers) refuse the file outright;
lenient ones (dcmtk) try to read it as a bare data set from offset 0 and fail on the
preamble bytes. The meta group is still parsed here, from offset 132, so the rest of the
file can be checked. When no data element follows either, the file is not DICOM at all (a
PNG, a JSON or a ZIP file given a .dcm name): the one finding says so, naming the format
when its first bytes are a known signature, and the file is one unparsed run.""",
    example="""\
00000080  44 49 43 58 02 00 00 00 55 4c 04 00   'DICX' where 'DICM' belongs""",
    module=__name__,
)

index_rule(
    "FILE_TOO_SHORT",
    "error",
    "PS3.10 7.1",
    summary="File (even empty) too short to hold preamble, prefix and a file meta group",
    why="""\
A file of fewer than 132 bytes that does not start with a data set cannot be a Part 10
file: there is no room for preamble, 'DICM' and a meta group. Such files come from aborted
transfers, zero-byte placeholders and disks that filled up; a PACS import fails on them with
an unhelpful parse error, or silently skips them. The finding covers the whole file.""",
    example="""\
(0 bytes)                                  an empty file
00000000  00 00 00 00 ... (50 bytes)       too short for preamble + 'DICM'""",
    module=__name__,
)

index_rule(
    "DATASET_MISSING",
    "error",
    "PS3.10 7",
    summary="File meta group present but no data set follows",
    why="""\
A DICOM file is a meta group followed by a data set (PS3.10 7); a file that stops after the
meta group (or right after 'DICM') holds no image, no patient, no SOP instance. Readers
return an empty data set or fail on the missing SOP Class/Instance UIDs; an archive would
store an object with no content. The finding is empty (length 0), at the end of the file.""",
    example="""\
00000084  02 00 00 00 55 4c 04 00 ... (0002,0013) SH 'DCMSTRUCT_0_1'   <end of file>""",
    module=__name__,
)

index_rule(
    "TRAILING_BYTES",
    "error",
    "PS3.10 7.2; PS3.5 7.1",
    summary="Bytes after the last element that do not form an element (garbage, zero run, one "
    "odd byte)",
    why="""\
Every byte of a data set belongs to a data element (PS3.5 7.1); padding at the end of a file
must be the Data Set Trailing Padding element (FFFC,FFFC) (PS3.10 7.2), which is legal and
not reported. Bytes that form no element are read differently by each reader: some stop
with a parse error, some read a bogus element from them, some ignore them, and a tool that
round-trips the file may drop or mangle them. They usually mean a buggy writer (an odd byte
left over, a buffer written past its end) or two files concatenated. The finding covers the
bytes that form no element.""",
    example="""\
000001cc  01                      one odd byte after the last element
000001cc  67 61 72 62 61 67 65 21 'garbage!' after the last element""",
    module=__name__,
)

index_rule(
    "FILE_TRUNCATED",
    "error",
    "PS3.10 7; PS3.5 7.1",
    summary="File ends inside the meta group, an element header, a value, an item or a sequence",
    why="""\
A truncated file (an interrupted transfer, a full disk, a copy cut short) loses the end of
its data set: usually pixel data, so viewers show a partial or black image, or the reader
fails on the short read (dcmtk: premature end of stream) and shows nothing. The finding
points at what the end of the file cut: the length field of the value cut short, the
partial header, or the end of the file where an undefined-length item or sequence was
still open.""",
    example="""\
000001a6  10 00 10 00 50 4e 0c 00 52 55 4c 45   (0010,0010) PN VL 12, 4 bytes left""",
    module=__name__,
)

index_rule(
    "NESTING_TOO_DEEP",
    "error",
    "(safety limit)",
    summary="Nesting deeper than the configured limit; parsing of that branch stops, the rest "
    "of the file goes on",
    why="""\
No real IOD nests sequences more than a dozen levels deep; thousands of nested
undefined-length sequences are a known way to crash readers that recurse on nesting (stack
overflow, or Python's RecursionError). dcmstruct walks the branch without
recording it and goes on with the rest of the file. The finding points at the item that
would open the first level beyond the limit (128 by default).""",
    example="""\
(0040,A730) SQ FFFFFFFF > (FFFE,E000) FFFFFFFF > (0040,A730) SQ FFFFFFFF > ... x 200""",
    module=__name__,
)


index_rule(
    "NODE_LIMIT_EXCEEDED",
    "error",
    "(safety limit)",
    summary="More nodes than the configured limit (or than memory allows); the rest of the "
    "file is not indexed or checked",
    why="""\
Memory for a file's index is about 61 bytes per node, so it is bounded by the node count,
not by what the file's lengths claim. A hostile or broken file can pack a node into every 8
bytes: 6,000,000 empty items fit in 48 MB. Past the limit (4,194,304 nodes by default,
--max-nodes to change it) the walk stops with this finding instead of growing without
bound, and the bytes after it are not checked. The finding points at the first node that did
not fit and covers the rest of the stream.""",
    example="""\
(3006,0039) SQ FFFFFFFF > (FFFE,E000) 00000000 x 6,000,000""",
    module=__name__,
)


@rule(
    "PREAMBLE_NONZERO",
    "info",
    "PS3.10 7.1",
    summary="Preamble holds non-zero bytes (legal, e.g. a TIFF header); reported for awareness",
    why="""\
PS3.10 7.1 lets an application put anything in the 128-byte preamble (e.g. a TIFF header
that makes the file a dual-personality DICOM/TIFF file), and readers ignore it. It is
reported because a non-zero preamble is also where executable or polyglot content hides
(a file that is both DICOM and a Windows PE, CVE-2019-11687), which de-identification and
security scanners want to know about. The finding covers the non-zero bytes: from the first
to the last non-zero byte of the preamble.""",
    example="""\
00000000  49 49 2a 00 08 00 00 00 ... 44 49 43 4d   a little-endian TIFF header, then 'DICM'""",
)
def preamble_nonzero(ctx: Context) -> Iterator[Finding]:
    c = ctx.columns
    if len(c) == 0 or int(c.kind[0]) != Kind.PREAMBLE:
        return
    src = ctx.index.sources.get(Stream.FILE)
    if src is None or src.size < PREAMBLE_LENGTH + len(PREFIX):
        return
    head = src.read(0, PREAMBLE_LENGTH + len(PREFIX))
    if head[PREAMBLE_LENGTH:] != PREFIX:
        return  # no 'DICM': PREFIX_NOT_DICM says it, and this may be no preamble at all
    preamble = head[:PREAMBLE_LENGTH]
    stripped = preamble.strip(b"\0")
    if not stripped:
        return
    first = len(preamble) - len(preamble.lstrip(b"\0"))
    last = len(preamble.rstrip(b"\0"))
    count = sum(1 for b in preamble if b)
    message = (
        f"the preamble holds {count} non-zero byte{'s' if count != 1 else ''} "
        f"between {first:#x} and {last - 1:#x}"
    )
    kind = _preamble_kind(preamble)
    if kind:
        message += f"; it starts like {kind}"
    yield ctx.finding(
        "PREAMBLE_NONZERO", message + " (legal: PS3.10 lets applications use it)",
        offset=first, length=last - first, stream=Stream.FILE,
    )  # fmt: skip


@screen("PREAMBLE_NONZERO")
def _screen_preamble_nonzero(batch: Batch) -> npt.NDArray[np.bool_]:
    """Exact: a finding needs a preamble node first, 'DICM' at 128 and a non-zero byte before
    it, which is what this asks of each file's first 132 bytes."""
    heads = file_heads(batch)
    head = heads.rows[:, : PREAMBLE_LENGTH + len(PREFIX)]
    flags: npt.NDArray[np.bool_] = (
        (first_kinds(batch)[0] == Kind.PREAMBLE)
        & (heads.size >= PREAMBLE_LENGTH + len(PREFIX))
        & (head[:, PREAMBLE_LENGTH:] == np.frombuffer(PREFIX, dtype=np.uint8)).all(axis=1)
        & head[:, :PREAMBLE_LENGTH].any(axis=1)
    )
    return flags


def _preamble_kind(preamble: bytes) -> str | None:
    """What the preamble's first bytes look like, if they are a known file signature."""
    if preamble.startswith((b"II*\0", b"MM\0*")):
        return "a TIFF header"
    if preamble.startswith(b"MZ"):
        return "a Windows executable (MZ header)"
    if preamble.startswith(b"\x7fELF"):
        return "an ELF executable"
    if preamble.startswith(b"%PDF"):
        return "a PDF document"
    return None
