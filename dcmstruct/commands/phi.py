"""``dcmstruct phi``: every identifying byte range of each file, for a pipeline to gate on.

What is identifying, and what the confidentiality profile does to it, is decided once in
:mod:`dcmstruct.privacy`; this module walks the paths (as ``validate`` does) and writes the
ranges. Nothing it writes quotes a value: a range is its offset, length, tag, path, action and
reason (the reason names the attribute, never its content).

Exit codes: 0 no range found, 1 some, 2 a usage error or a path that cannot be read (the run
goes on), 3 an internal error (a bug).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple, TextIO

from dcmstruct.commands.batch import Target, iter_targets
from dcmstruct.commands.streams import isatty
from dcmstruct.exitcode import ExitCode
from dcmstruct.index import Limits, index_file
from dcmstruct.model import Stream
from dcmstruct.privacy import Mark, classify
from dcmstruct.safetext import clean, terminal_safe
from dcmstruct.schema.layout import format_tag

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from dcmstruct.index import ElementIndex


class FileRanges(NamedTuple):
    """One file's ranges, or why there are none: ``error`` (unreadable), ``internal`` (a bug)."""

    path: str
    ranges: list[dict[str, object]]
    error: str | None = None
    internal: str | None = None


def run(args: argparse.Namespace) -> ExitCode:
    options = tuple(args.option or ())
    fmt = args.format or ("text" if isatty(sys.stdout) else "json")
    files = ranges = unreadable = internal = 0
    out = sys.stdout
    writer = _WRITERS[fmt](out)
    limits = getattr(args, "limits", None) or Limits()
    for report in _reports(iter_targets(args.paths), options, limits):
        files += 1
        ranges += len(report.ranges)
        unreadable += report.error is not None
        internal += report.internal is not None
        writer.file(report)
        if report.error is not None and fmt != "text":
            print(
                f"dcmstruct phi: {terminal_safe(report.path)}: cannot read: "
                f"{terminal_safe(report.error)}",
                file=sys.stderr,
            )
        if report.internal is not None:
            print(
                f"dcmstruct phi: {terminal_safe(report.path)}: internal error (a bug: please "
                f"report it):\n{terminal_safe(report.internal)}",
                file=sys.stderr,
            )
    writer.finish(
        {
            "files": files,
            "ranges": ranges,
            "unreadable": unreadable,
            "internal": internal,
        }
    )
    if internal:
        return ExitCode.INTERNAL
    if unreadable:
        return ExitCode.USAGE
    return ExitCode.FINDINGS if ranges else ExitCode.OK


def _reports(
    targets: Iterator[Target], options: tuple[str, ...], limits: Limits
) -> Iterator[FileRanges]:
    for target in targets:
        name = target.label or target.path
        if target.error is not None:
            yield FileRanges(name, [], error=target.error)
            continue
        try:
            yield FileRanges(name, _ranges(target.path, options, limits))
        except OSError as exc:  # unreadable, or changed while it was read
            yield FileRanges(name, [], error=exc.strerror or str(exc))
        except Exception:  # a bug: reported (exit code 3), the run goes on
            yield FileRanges(name, [], internal=traceback.format_exc())


def _ranges(path: str, options: tuple[str, ...], limits: Limits) -> list[dict[str, object]]:
    with index_file(path, **limits._asdict()) as index:
        marks = classify(index, options)
        found = []
        if marks:
            from dcmstruct.paths import item_numbers

            numbers = item_numbers(index.columns)
            found = [range_record(index, numbers, mark) for mark in marks]
        index.check_unchanged()
    return found


def range_record(
    index: ElementIndex,
    numbers: npt.NDArray[np.int32],
    mark: Mark,
    *,
    offset: int | None = None,
    length: int | None = None,
) -> dict[str, object]:
    """The contract's range object (and ``"stream": "inflated"`` inside a deflated data set):
    ``mark``'s, or the part of it at ``offset``/``length`` (what redact changed in it).
    ``numbers``: :func:`dcmstruct.paths.item_numbers` of the index, for the path."""
    from dcmstruct.paths import node_path

    has_path = mark.node >= 0 and mark.tag is not None
    rec: dict[str, object] = {
        "offset": mark.offset if offset is None else offset,
        "length": mark.length if length is None else length,
        "tag": None if mark.tag is None else format_tag(mark.tag),
        "path": node_path(index.columns, numbers, mark.node) if has_path else "",
        "action": mark.action,
        "reason": mark.reason,
    }
    if mark.stream == Stream.INFLATED:
        rec["stream"] = "inflated"
    return rec


class _Writer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def file(self, report: FileRanges) -> None:
        raise NotImplementedError

    def finish(self, summary: dict[str, int]) -> None:
        self.out.flush()


class _Json(_Writer):
    """The contract's document: ``{"files": [{"path", "phi": [...]}], "summary": {...}}``;
    a file's entry is one line, with ``error`` or ``internal`` where it has one."""

    count = 0

    def file(self, report: FileRanges) -> None:
        rec: dict[str, object] = {"path": clean(report.path), "phi": report.ranges}
        if report.error is not None:
            rec["error"] = clean(report.error)
        if report.internal is not None:
            rec["internal"] = clean(report.internal)
        head = '{"files": [\n' if self.count == 0 else ",\n"
        self.count += 1
        self.out.write(head + json.dumps(rec))

    def finish(self, summary: dict[str, int]) -> None:
        head = '{"files": [' if self.count == 0 else "\n"
        self.out.write(f'{head}],\n"summary": {json.dumps(summary)}}}\n')
        self.out.flush()


class _Jsonl(_Writer):
    """One range a line, with its ``file``; an unreadable file is a line with ``error``."""

    def file(self, report: FileRanges) -> None:
        path = clean(report.path)
        lines = [json.dumps({"file": path, **r}) for r in report.ranges]
        if report.error is not None:
            lines.append(json.dumps({"file": path, "error": clean(report.error)}))
        if report.internal is not None:
            lines.append(json.dumps({"file": path, "internal": clean(report.internal)}))
        if lines:
            self.out.write("\n".join(lines) + "\n")


class _Text(_Writer):
    """A line a range: ``path: 0x2f0 +16 0010,0010 Z Patient's Name (PS3.15 E.1-1)``."""

    def file(self, report: FileRanges) -> None:
        path = terminal_safe(report.path)
        if report.error is not None:
            self.out.write(f"{path}: cannot read: {terminal_safe(report.error)}\n")
            return
        if report.internal is not None:
            self.out.write(f"{path}: internal error\n")
            return
        if not report.ranges:
            self.out.write(f"{path}: no identifying range\n")
            return
        lines = []
        for r in report.ranges:
            where = f"{r['offset']:#x}" + (" (inflated)" if r.get("stream") else "")
            tag = str(r["tag"] or "-")
            nested = str(r["path"]) if r["path"] and r["path"] != tag else ""
            lines.append(
                f"{path}: {where} +{r['length']} {tag} {nested + ' ' if nested else ''}"
                f"{r['action']} {terminal_safe(str(r['reason']))}"
            )
        self.out.write("\n".join(lines) + "\n")

    def finish(self, summary: dict[str, int]) -> None:
        self.out.write(f"{summary['ranges']} identifying range(s) in {summary['files']} file(s)\n")
        self.out.flush()


_WRITERS: dict[str, type[_Writer]] = {"json": _Json, "jsonl": _Jsonl, "text": _Text}
FORMATS = tuple(_WRITERS)

__all__ = ["FORMATS", "range_record", "run"]
