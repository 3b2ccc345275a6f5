"""The ``dcmstruct`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Exit codes of the output contract.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dcmstruct", description="Hex-level structure explorer and validator for DICOM files."
    )
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="print the structure of a file, node by node, with offsets")
    d.add_argument("file", nargs="?", help="the file to dump (default: the bundled sample)")
    d.add_argument("--format", choices=("text", "jsonl"), default="text")
    d.add_argument("--width", type=int, default=48, help="value preview width (text format)")
    d.add_argument("--max-depth", type=int, default=None, help="nesting limit (default 128)")
    return p


def _cmd_dump(args: argparse.Namespace) -> int:
    from dcmstruct.dump import write_jsonl, write_text
    from dcmstruct.index import DEFAULT_MAX_DEPTH, index_file
    from dcmstruct.sample import sample_path

    path = Path(args.file) if args.file else sample_path()
    if not args.file:
        print(f"# no FILE given: the bundled sample {path}", file=sys.stderr)
    try:
        index = index_file(path, max_depth=args.max_depth or DEFAULT_MAX_DEPTH)
    except OSError as exc:
        print(f"dcmstruct: {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    with index:
        if args.format == "jsonl":
            write_jsonl(index, sys.stdout)
        else:
            write_text(index, sys.stdout, width=args.width)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "dump":
            return _cmd_dump(args)
    except BrokenPipeError:
        # `dcmstruct dump big.dcm | head` is normal use, not an error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        import traceback

        traceback.print_exc()
        print(f"dcmstruct: internal error: {exc!r}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_USAGE
