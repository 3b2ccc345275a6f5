"""``python -m dcmstruct.tui [FILE]``: the viewer without the ``dcmstruct`` command; the one
``view`` command line of :mod:`dcmstruct.cli` (same flags, checks and exit codes)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from dcmstruct.cli import view_main

    return view_main(argv)


if __name__ == "__main__":
    sys.exit(main())
