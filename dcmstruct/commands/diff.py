"""``dcmstruct diff A B``: what differs between two files, by structure (:mod:`dcmstruct.diff`).

Formats: ``text`` (default on a terminal), ``json`` and ``jsonl`` (the contract's record per
difference, with ``detail`` as an extension; nodes in a deflated data set carry
``"stream": "inflated"``). The text format shows short values beside a ``value`` change, but
never the value of an identifying attribute (PS3.15 E.1-1, private) unless ``--show-values``.

Exit codes: 0 no ``added``, ``removed`` or ``value`` difference (encoding ones do not count),
1 some, 2 a usage error or a file that cannot be read, 3 an internal error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING, TextIO

from dcmstruct.commands.streams import isatty
from dcmstruct.diff import CHANGES, Difference, Side, compare, tag_text
from dcmstruct.exitcode import ExitCode
from dcmstruct.index import Limits, index_file
from dcmstruct.model import Stream
from dcmstruct.safetext import clean, terminal_safe

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex


def run(args: argparse.Namespace) -> ExitCode:
    ignore = _tags(args.ignore or [])
    if isinstance(ignore, str):
        return _usage(ignore)
    limits = getattr(args, "limits", None) or Limits()
    fmt = args.format or ("text" if isatty(sys.stdout) else "json")
    with ExitStack() as stack:
        indexes = []
        for path in (args.a, args.b):
            try:
                indexes.append(stack.enter_context(index_file(path, **limits._asdict())))
            except OSError as exc:
                return _usage(f"{path}: {exc.strerror or exc}")
        a, b = indexes
        found = compare(a, b, ignore=ignore, ignore_private=args.ignore_private)
        counts = _write(fmt, sys.stdout, args, a, b, found)
        for index in indexes:
            index.check_unchanged()
    changed = counts["added"] + counts["removed"] + counts["value"]
    return ExitCode.FINDINGS if changed else ExitCode.OK


def _tags(given: list[str]) -> set[int] | str:
    """``--ignore`` values: tags (``0008,0018``, ``(0008,0018)``, ``00080018``) or keywords,
    comma-separated; or why one is none."""
    from dcmstruct.paths import typed_tag

    out: set[int] = set()
    for item in given:
        for word in _WORDS.findall(item):
            tag = typed_tag(word)
            if tag is None:
                return f"--ignore {word!r}: not a tag (GGGG,EEEE) or a keyword"
            out.add(tag)
    return out


# A tag's own comma does not split the list: (0008,1030),PatientName,00100020.
_WORDS = re.compile(r"\(?\s*[0-9A-Fa-f]{4}\s*,\s*[0-9A-Fa-f]{4}\s*\)?|[^,\s]+")


def _usage(text: str) -> ExitCode:
    print(f"dcmstruct diff: {terminal_safe(text)}", file=sys.stderr)
    return ExitCode.USAGE


def _side(side: Side | None) -> dict[str, object] | None:
    if side is None:
        return None
    out: dict[str, object] = {"offset": side.offset, "length": side.length, "vr": side.vr}
    if side.stream == Stream.INFLATED:
        out["stream"] = "inflated"
    return out


def record(d: Difference) -> dict[str, object]:
    """The contract's record of a difference (and ``detail``)."""
    return {
        "change": d.change,
        "path": d.path,
        "tag": tag_text(d.tag),
        "a": _side(d.a),
        "b": _side(d.b),
        "detail": d.detail,
    }


def _write(
    fmt: str,
    out: TextIO,
    args: argparse.Namespace,
    a: ElementIndex,
    b: ElementIndex,
    differences: Iterable[Difference],
) -> Counter[str]:
    counts: Counter[str] = Counter(dict.fromkeys(CHANGES, 0))
    if fmt == "json":
        out.write(f'{{"a": {json.dumps(clean(args.a))}, "b": {json.dumps(clean(args.b))}, ')
        out.write('"differences": [')
        first = True
        for d in differences:
            counts[d.change] += 1
            out.write(("\n" if first else ",\n") + json.dumps(record(d)))
            first = False
        out.write(f'],\n"summary": {json.dumps(dict(counts))}}}\n')
    elif fmt == "jsonl":
        for d in differences:
            counts[d.change] += 1
            out.write(json.dumps(record(d)) + "\n")
    else:
        for d in differences:
            counts[d.change] += 1
            out.write(_text_line(d, a, b, args.show_values) + "\n")
        said = ", ".join(f"{counts[c]} {c}" for c in CHANGES)
        out.write(f"{terminal_safe(args.a)} -> {terminal_safe(args.b)}: {said}\n")
    out.flush()
    return counts


def _where(side: Side | None) -> str:
    if side is None:
        return "-"
    length = "undefined" if side.length is None else str(side.length)
    inflated = " (inflated)" if side.stream == Stream.INFLATED else ""
    return f"{side.offset:#x}{inflated} {side.vr or ''} {length}".replace("  ", " ")


def _text_line(d: Difference, a: ElementIndex, b: ElementIndex, show_values: bool) -> str:
    from dcmstruct import specdata

    keyword = specdata.keyword(d.tag) if d.tag is not None else None
    name = f" {keyword}" if keyword else ""
    line = f"{d.change:<8} {d.path}{name}  A {_where(d.a)}  B {_where(d.b)}  {d.detail}"
    if d.change == "value" and d.a_node >= 0 and d.b_node >= 0:
        from dcmstruct.privacy import identifying_path
        from dcmstruct.values import short_value

        if show_values or not identifying_path(d.path):
            line += f": {short_value(a, d.a_node, 32)!r} -> {short_value(b, d.b_node, 32)!r}"
        else:
            line += " (values not shown: identifying; --show-values shows them)"
    return terminal_safe(line)


__all__ = ["record", "run"]
