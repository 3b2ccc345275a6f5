#!/usr/bin/env python
"""Benchmark: ``dcmstruct view`` on a generated 2 GB sparse file, headless.

A measurement script, not a test: it asserts nothing about timings. It

1. writes ``big_sparse_2gb.dcm`` into ``--workdir`` (default ``bench/out/``, git-ignored): a
   native multi-frame image (1024 x 1024 x 16 bit x 1024 frames = 2 GiB of Pixel Data) whose
   header is written with :mod:`dcmstruct.builder` and whose pixel data is a hole (the file is
   sparse: it takes a few KB of disk and reads as zeros);
2. opens it in the viewer (``App.run_test``, headless, 120x40) and reports

   - *open*: from creating the app to the first screen with the index loaded;
   - *page down*: the time per PgDn key through the Pilot, over ``--pages`` pages, next to
     what the Pilot takes for a key that does nothing;
   - *jump*: go to the middle (as the ``g`` dialog does) and to the end (``ctrl+end``);
   - *draw row*: the cost of drawing one hex row from the mmap (no cache);
   - peak RSS of the process;

3. opens ``multiframe_500mb.dcm`` (made by ``bench/bench_index.py``'s generator if missing) and
   times find, through the find dialog: a byte string near the end of the file (time to the
   first match), one that is nowhere (time to "no match": the whole file scanned), the same
   in any case (a lowered copy of each chunk), and a value search; and, while a search of
   the whole file runs, how long a key press (a cursor move) takes to be handled.

Usage::

    python bench/bench_tui.py
    python bench/bench_tui.py --size-gb 0.5 --pages 50
    python bench/bench_tui.py --skip-open      # the find figures only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import sys
import time
from pathlib import Path

from textual import events

from dcmstruct.builder import EXPLICIT_VR_LITTLE_ENDIAN, E, part10
from dcmstruct.model import Stream
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.search import Mode, Query, parse_query
from dcmstruct.tui.widgets import HexView

BENCH_DIR = Path(__file__).resolve().parent
FRAME = 1024 * 1024 * 2  # bytes of one 1024 x 1024 16-bit frame


def make_sparse(path: Path, frames: int) -> int:
    """Write the header, then extend the file over the pixel data without writing it."""
    pixel_length = frames * FRAME
    header = part10(
        [
            E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7.3"),
            E("SOPInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.9.2048"),
            E("Modality", "CS", "OT"),
            E("PatientName", "PN", "BENCH^SPARSE"),
            E("SamplesPerPixel", "US", 1),
            E("PhotometricInterpretation", "CS", "MONOCHROME2"),
            E("NumberOfFrames", "IS", str(frames)),
            E("Rows", "US", 1024),
            E("Columns", "US", 1024),
            E("BitsAllocated", "US", 16),
            E("BitsStored", "US", 16),
            E("HighBit", "US", 15),
            E("PixelRepresentation", "US", 0),
            # The value is left out here; its header says how long it is.
            E("PixelData", "OW", b"", length=pixel_length),
        ],
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
    )
    total = len(header) + pixel_length
    if not path.exists() or path.stat().st_size != total:
        with open(path, "wb") as f:
            f.write(header)
            f.truncate(total)
    return total


async def measure(path: Path, pages: int) -> dict[str, float]:
    results: dict[str, float] = {}
    start = time.perf_counter()
    app = DcmViewApp(str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        while app.structure is None:
            await pilot.pause(0.001)
        await pilot.pause()
        results["open (s)"] = time.perf_counter() - start
        hex_view = app.query_one(HexView)
        # What the Pilot itself costs per key (a key nothing is bound to), for comparison.
        t = time.perf_counter()
        for _ in range(pages):
            await pilot.press("x")
        await pilot.pause()
        results["pilot, unbound key (ms/key)"] = (time.perf_counter() - t) / pages * 1000
        t = time.perf_counter()
        for _ in range(pages):
            await pilot.press("pagedown")
        await pilot.pause()
        results["page down (ms/page)"] = (time.perf_counter() - t) / pages * 1000
        t = time.perf_counter()
        app._goto(Stream.FILE, hex_view.size_bytes // 2, reveal=True)
        await pilot.pause()
        results["jump to middle (ms)"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        await pilot.press("ctrl+end")
        await pilot.pause()
        results["ctrl+end (ms)"] = (time.perf_counter() - t) * 1000
        per_row = hex_view.bytes_per_row
        rows = 2000
        base = hex_view.size_bytes // 3
        t = time.perf_counter()
        for r in range(rows):
            a = base + r * per_row
            hex_view._draw(a, a + per_row, -1, None)
        results["draw row (ms)"] = (time.perf_counter() - t) / rows * 1000
        await app.workers.wait_for_complete()
    results["peak RSS (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def ensure_multiframe(workdir: Path) -> Path:
    """``multiframe_500mb.dcm`` of bench/bench_index.py, generated the same way if missing."""
    sys.path.insert(0, str(BENCH_DIR))
    import bench_index  # type: ignore[import-not-found]

    spec = next(f for f in bench_index.FILES if f.name == "multiframe_500mb.dcm")
    return Path(bench_index.ensure_file(workdir, spec, bench_index.FULL).path)


async def _search(app: DcmViewApp, pilot: object, query: Query) -> float:
    """Seconds from starting ``query`` (as the dialog does) to the first match, or to the end
    of the scan if there is none."""
    start = time.perf_counter()
    app._goto(Stream.FILE, 0, reveal=True)
    app._start_search(query)
    search = app.search
    assert search is not None
    while search.current < 0 and (search.running or not search.scan.done):
        await pilot.pause(0.001)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    app.action_stop_search()
    await _idle(app, pilot)
    return elapsed


async def _idle(app: DcmViewApp, pilot: object) -> None:
    """Until the stopped search's thread has returned (a cancelled worker never completes)."""
    while any(w.group == "search" and not w.is_finished for w in app.workers):
        await pilot.pause(0.001)  # type: ignore[attr-defined]


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (clean pages, not mapped by anyone), so the
    first search reads from the disk as it would on a file just copied in."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


async def measure_find(path: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    evict(path)
    app = DcmViewApp(str(path), validate=False)
    absent = parse_query("de ad be ef ca fe ba be")
    async with app.run_test(size=(120, 40)) as pilot:
        while app.structure is None:
            await pilot.pause(0.001)
        await pilot.pause()
        structure = app.structure
        sm = structure.streams[Stream.FILE]
        # Keys while a whole-file search of the cold file runs.
        hex_view = app.query_one(HexView)
        start = time.perf_counter()
        app._start_search(absent)
        times: list[float] = []
        while app.search is not None and app.search.running:
            # The Pilot's press waits for the app to be idle, which a running search (its
            # progress updates) delays: post the key as the terminal would, and time until
            # the cursor has moved.
            before = hex_view.cursor
            t = time.perf_counter()
            app.post_message(events.Key("right", None))
            while hex_view.cursor == before:
                await asyncio.sleep(0.0002)
            times.append(time.perf_counter() - t)
            await asyncio.sleep(0.02)
        results["find absent bytes, cold cache, whole file (s)"] = time.perf_counter() - start
        results["keys handled during that search"] = len(times)
        if times:
            results["key press during search, mean (ms)"] = sum(times) / len(times) * 1000
            results["key press during search, max (ms)"] = max(times) * 1000
        await _idle(app, pilot)
        warm = await _search(app, pilot, absent)
        results["find absent bytes, warm, whole file (s)"] = warm
        results["MiB/s, warm"] = sm.size / (1 << 20) / warm
        results["find absent text, any case, warm (s)"] = await _search(
            app, pilot, parse_query("no such text")
        )
        # The file's last 8 bytes (the pixel pattern repeats: the first match comes early).
        tail = structure.read(Stream.FILE, sm.size - 8, 8)
        results["find the last 8 bytes, first match (s)"] = await _search(
            app, pilot, Query(Mode.HEX, tail)
        )
        results["find value 512 (Rows), first match (s)"] = await _search(
            app, pilot, parse_query("value:512")
        )
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=BENCH_DIR / "out")
    p.add_argument("--size-gb", type=float, default=2.0, help="pixel data size in GiB")
    p.add_argument("--pages", type=int, default=200, help="PgDn presses to time")
    p.add_argument("--skip-open", action="store_true", help="only the find figures")
    p.add_argument("--skip-find", action="store_true", help="only the open/page figures")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    frames = max(1, round(args.size_gb * (1 << 30) / FRAME))
    path = args.workdir / f"big_sparse_{args.size_gb:g}gb.dcm"
    size = disk = 0
    if not args.skip_open:
        size = make_sparse(path, frames)
        disk = os.stat(path).st_blocks * 512
    print(f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    if not args.skip_open:
        print(f"# {path.name}: {size:,} bytes ({size / (1 << 30):.2f} GiB), {disk:,} on disk")
        _table(asyncio.run(measure(path, args.pages)))
    if not args.skip_find:
        multiframe = ensure_multiframe(args.workdir)
        print(f"# {multiframe.name}: {multiframe.stat().st_size:,} bytes")
        _table(asyncio.run(measure_find(multiframe)))
    return 0


def _table(results: dict[str, float]) -> None:
    print("| measure | value |")
    print("|---|---|")
    for name, value in results.items():
        print(f"| {name} | {value:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
