"""The element index: a tolerant, iterative walk of a DICOM file's structure.

It reads headers with the :mod:`struct` formats derived from the construct schemas
(:mod:`dcmstruct.schema.element`), keeps its own stack instead of recursing, never trusts a
length field for an allocation and never copies a value. Every structural fault becomes a
:class:`~dcmstruct.model.Fault` with its offset, and the walk resumes where it safely can:
bounded by the enclosing container's length, or re-synchronised on the next plausible element.

Parts: :mod:`.container` (preamble, prefix, meta group, encoding), :mod:`.walker` (data sets,
sequences, items, fragments), :mod:`.recovery` (what to do when bytes are not an element),
:mod:`.deflate` (PS3.5 A.5), :mod:`.table` (rows and the memory budget), :mod:`.faults`.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from dcmstruct.index.deflate import inflate_limit
from dcmstruct.index.element_index import ElementIndex
from dcmstruct.index.faults import FAULTS_PER_CODE, FaultCode
from dcmstruct.index.table import NodeLimit
from dcmstruct.index.walker import Walker
from dcmstruct.limits import DEFAULT_INFLATE_RATIO, DEFAULT_MAX_DEPTH, DEFAULT_MAX_NODES
from dcmstruct.source import Source, SourceChanged

__all__ = [
    "DEFAULT_INFLATE_RATIO",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "FAULTS_PER_CODE",
    "ElementIndex",
    "FaultCode",
    "Limits",
    "SourceChanged",
    "index_bytes",
    "index_file",
    "index_source",
]


class Limits(NamedTuple):
    """The index's safety limits; each has a command-line flag and a config key.

    ``max_depth``: nesting levels recorded (NESTING_TOO_DEEP past it); ``max_nodes``: nodes
    indexed (NODE_LIMIT_EXCEEDED past it; about 61 bytes of memory each); ``inflate_ratio``:
    how many times its file's size a deflated data set may inflate to (DEFLATE_STREAM_INVALID
    past it, and no temporary file grows beyond it)."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_nodes: int = DEFAULT_MAX_NODES
    inflate_ratio: float = DEFAULT_INFLATE_RATIO


def index_source(
    src: Source,
    *,
    path: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_inflated: int | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    inflate_ratio: float = DEFAULT_INFLATE_RATIO,
) -> ElementIndex:
    """Index the bytes of ``src``; the index owns ``src`` from here on (closed with it, and
    closed here if indexing raises). Never raises on any content; raises ``SourceChanged`` (an
    ``OSError``) if the file changes under it so that a read comes back short."""
    if max_inflated is None:
        max_inflated = inflate_limit(src.size, inflate_ratio)
    w: Walker | None = None
    try:
        w = Walker(src, max_depth, max_inflated, max_nodes)
        _run(w)
        index = ElementIndex(
            path=path,
            size=src.size,
            rows=w.t,
            faults=w.log.finish(),
            sources=w.sources,
            transfer_syntax=w.ts,
            transfer_syntax_uid=w.ts_uid,
            dataset_encoding=w.dataset_encoding,
            dataset_offset=w.dataset_offset,
            deflated=w.deflated,
        )
        win = w.win
        if win.src is src and isinstance(win.buf, bytes):
            index.keep_window(win.buf, win.base)
        return index
    except BaseException:
        src.close()
        for s in w.sources.values() if w is not None else ():
            s.close()  # the inflated data set's, if the walk made one
        raise


def _run(w: Walker) -> None:
    """The walk, stopped by a limit or by running out of memory as by the end of the file."""
    try:
        w.run()
    except NodeLimit as stop:
        w.stop_at_limit(stop)
    except MemoryError:
        # Out of memory before the cap (a small machine, or a limit on the address space):
        # what was indexed so far is kept, and the fault says where it stopped.
        t = w.t
        last = len(t) - 1
        at = t.end(last) if last >= 0 else 0
        w.stop_at_limit(NodeLimit(len(t), at, int(w.stream), memory=True))


def index_file(
    path: str | os.PathLike[str],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_inflated: int | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    inflate_ratio: float = DEFAULT_INFLATE_RATIO,
) -> ElementIndex:
    """Index the file at ``path``, read with ``pread`` (never mapped: see
    :mod:`dcmstruct.source`). Raises ``OSError`` for a path that cannot be read, including
    ``NotRegularFile`` for FIFOs, devices and sockets (opening them could block)."""
    return index_source(
        Source.open(path),
        path=os.fspath(path),
        max_depth=max_depth,
        max_inflated=max_inflated,
        max_nodes=max_nodes,
        inflate_ratio=inflate_ratio,
    )


def index_bytes(
    data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, max_nodes: int = DEFAULT_MAX_NODES
) -> ElementIndex:
    return index_source(Source.from_bytes(data), max_depth=max_depth, max_nodes=max_nodes)
