"""``python -m dcmstruct.tui [FILE]``: the viewer without the ``dcmstruct`` command."""

from __future__ import annotations

import argparse
import sys

from dcmstruct.safetext import terminal_safe
from dcmstruct.source import check_regular
from dcmstruct.tui.app import run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dcmstruct.tui", description="View a DICOM file.")
    p.add_argument("file", nargs="?", help="the file to view (default: the bundled sample)")
    p.add_argument("--mask", action="store_true", help="mask identifying values on screen")
    p.add_argument("--width", type=int, choices=(8, 16, 32), help="bytes per hex row")
    args = p.parse_args(argv)
    if args.file is not None:
        # A FIFO would block the viewer's reader, a /proc file reads as nothing: refuse both
        # before the screen is taken over, with the reason on the terminal.
        try:
            check_regular(args.file)
        except OSError as exc:
            why = exc.strerror or str(exc)
            print(f"dcmstruct: {terminal_safe(f'{args.file}: {why}')}", file=sys.stderr)
            return 2
    return run(args.file, mask=args.mask, bytes_per_row=args.width)


if __name__ == "__main__":
    sys.exit(main())
