"""Start-up of ``dcmstruct view``: the time from the command to the first hex row on screen,
beside the import floor (``python -c "import numpy, textual.app"``), measured the way a user
meets it.

Each run starts the command in a pseudo-terminal of 120 x 40 (a real terminal to Textual: its
driver, its escape sequences), reads what it writes until the sample's first hex row
(``00000000`` and the preamble's bytes) has been drawn, then sends ``q``. The floor is the
same interpreter importing what the viewer cannot do without, in a fresh process each run.
Both are whole processes, start-up included: what the user waits for.

    python bench/bench_startup.py [--runs 11] [FILE]

Prints a table (best and median of the runs, in seconds) and the ratio of the medians; the
issue's target is 1.5x the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROWS, COLUMNS = 40, 120
FIRST_ROW = b"00000000"  # the offset column of the first hex row
TIMEOUT = 30.0


def _viewer() -> list[str]:
    exe = shutil.which("dcmstruct", path=str(Path(sys.executable).parent))
    if exe is None:
        raise SystemExit("bench_startup: dcmstruct is not installed beside this python")
    return [exe, "view", "--no-workspace"]


def first_row(argv: list[str]) -> float:
    """Seconds from starting ``argv`` in a pty until the first hex row is on screen."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of ROWS x COLUMNS, then the command
        os.environ["TERM"] = "xterm-256color"
        os.environ["COLUMNS"], os.environ["LINES"] = str(COLUMNS), str(ROWS)
        os.environ["DCMSTRUCT_PICTURES"] = "off"  # no terminal query: see README
        os.execv(argv[0], argv)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    start = time.perf_counter()
    seen = b""
    elapsed = None
    try:
        while time.perf_counter() - start < TIMEOUT:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen = (seen + chunk)[-4096:]
            # The row's offset, and on the same row the preamble's first bytes.
            at = seen.find(FIRST_ROW)
            if at >= 0 and b"00" in seen[at + len(FIRST_ROW) :]:
                elapsed = time.perf_counter() - start
                break
        os.write(fd, b"q")
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            with_data, _, _ = select.select([fd], [], [], 0.05)
            if with_data:
                with contextlib.suppress(OSError):
                    os.read(fd, 65536)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        os.close(fd)
    if elapsed is None:
        raise SystemExit(f"bench_startup: no hex row within {TIMEOUT} s from {argv}")
    return elapsed


def floor() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy, textual.app"], check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("file", nargs="?", help="the file to open (default: the bundled sample)")
    p.add_argument("--runs", type=int, default=11)
    args = p.parse_args(argv)
    command = _viewer() + ([args.file] if args.file else [])
    # An installed package has its bytecode compiled (pip does it); a sandbox that forbids
    # writing it would time the compiler, not the start-up. The warm-up run writes it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    first_row(command)  # once to warm the page cache and the bytecode
    floor()
    views: list[float] = []
    floors: list[float] = []
    for _ in range(args.runs):  # interleaved: a change of load hits both alike
        views.append(first_row(command))
        floors.append(floor())
    load = os.getloadavg()[0]
    print(f"# {args.runs} runs each, interleaved; load {load:.2f}; {os.cpu_count()} cores")
    print("| command | best (s) | median (s) |")
    print("|---|---:|---:|")
    what = " ".join(["dcmstruct", *command[1:]])
    print(f"| `{what}`: first hex row | {min(views):.3f} | {statistics.median(views):.3f} |")
    print(
        f'| `python -c "import numpy, textual.app"` | {min(floors):.3f} | '
        f"{statistics.median(floors):.3f} |"
    )
    ratio = statistics.median(views) / statistics.median(floors)
    print(f"\nratio of the medians: {ratio:.2f}x the import floor (target: 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
