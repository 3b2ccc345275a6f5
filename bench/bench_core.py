#!/usr/bin/env python
"""Benchmark: the figures of issue 8's "Done means", whole commands side by side in one run.

A measurement script, not a test: it asserts nothing about timings. It generates its inputs
into ``--workdir`` once (reused while their sidecar manifests match), then measures, each
command in a fresh process under GNU ``/usr/bin/time -f %M`` (``--runs`` times: best wall
time, highest peak RSS), with the input read in full just before (warm page cache):

1. ``dcmstruct validate --format json`` on two 100,000-element files: (a) an enhanced
   multi-frame header (``bench_index.many_small_dataset``) and (b) an RTSTRUCT-like file,
   20,000 contour items x 5 elements, beside ``pydicom.dcmread`` + a walk touching every
   element's value (``bench_index.PYDICOM_WALK_SNIPPET``) and beside ``dciodvfy FILE``;
2. ``dcmstruct validate -j 2 --format json`` over 10,000 small files (64x64 16-bit native
   images) in one call, beside ``dcmdump -q`` over the same files in one call;
3. ``dcmstruct dump --format jsonl`` on the files of 1, beside ``dcmdump -q``;
4. ``dcmstruct validate`` on a 500 MiB native multi-frame file (``bench_index``'s);
5. ``dcmstruct validate`` of one small file, beside ``python -c "import numpy"``;
6. ``dcmstruct.index.index_file`` in-process on the files of 1 (best of ``--index-repeats``,
   after imports, one process per file): elements per second;
7. ``dcmstruct view`` of file 1b, headless (``App.run_test``) in a fresh process: seconds
   from before the process is started to the first hex row drawn and to the findings being
   ready (``DcmViewApp.busy`` dropped by the validation worker's result, the findings table
   filled).

It prints machine information, versions and load, then one markdown table with a line per
figure: dcmstruct's, the reference's, their ratio, the target and whether it is met.

Usage::

    python bench/bench_core.py                       # full sizes, 3 runs each
    python bench/bench_core.py --runs 1 --only 1,4   # some parts only
    python bench/bench_core.py --quick               # small sizes, 1 run (smoke)
    python bench/bench_core.py --code ../other       # measure another checkout

Every command runs with its working directory in a fresh temporary directory (outside any
checkout: ``python -m`` puts the working directory first on ``sys.path``, and ``validate``
looks for a config file from there upward). ``--code DIR`` puts DIR first on ``PYTHONPATH``
of every measured command; the inputs are always generated with this checkout's builder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import bench_index as bi  # noqa: E402

from dcmstruct.builder import E, Item, Raw, Seq, part10  # noqa: E402
from dcmstruct.schema.element import PIXEL_DATA  # noqa: E402
from dcmstruct.uids import EXPLICIT_VR_LITTLE_ENDIAN  # noqa: E402

MIB = 1 << 20
RUN_TIMEOUT = 900  # seconds for one run of one command
# Bump when what a generator writes changes, so stale files in the work directory are remade.
GENERATOR_VERSION = 1
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
UID_ROOT = bi.UID_ROOT
PARTS = ("1", "2", "3", "4", "5", "6", "7")


@dataclass(frozen=True)
class Sizes:
    elements: int  # data elements of file 1a
    contours: int  # contour items of file 1b (5 elements each)
    small_files: int  # files of part 2
    image_mib: float  # pixel data of part 4's file


FULL = Sizes(elements=100_000, contours=20_000, small_files=10_000, image_mib=500)
QUICK = Sizes(elements=5_000, contours=1_000, small_files=50, image_mib=20)


# -- generating the inputs --------------------------------------------------------------------

ROIS = 10  # the contours are shared out among this many ROIs


def _contour_item(k: int) -> Item:
    """One Contour Sequence item: 5 elements, tags ascending, 4 points (12 DS values)."""
    z = -100.0 + 2.5 * (k // 20)
    x0, y0 = -40.0 + (k % 20) * 0.75, 25.0 - (k % 13) * 0.5
    points = [(x0, y0), (x0 + 12.5, y0), (x0 + 12.5, y0 - 9.25), (x0, y0 - 9.25)]
    data = [f"{v:.2f}" for x, y in points for v in (x, y, z)]
    return Item(
        [
            E(0x30060042, "CS", "CLOSED_PLANAR"),  # Contour Geometric Type
            E(0x30060044, "DS", "2.5"),  # Contour Slab Thickness
            E(0x30060046, "IS", len(points)),  # Number of Contour Points
            E(0x30060048, "IS", k + 1),  # Contour Number
            E(0x30060050, "DS", data),  # Contour Data
        ]
    )


def rtstruct_dataset(contours: int) -> list[E | Raw]:
    """An RT Structure Set whose ROI Contour Sequence holds ``contours`` contour items (5
    elements each) shared out among :data:`ROIS` ROIs, with the modules around them."""
    frame_of_reference = f"{UID_ROOT}.8.1"
    rois = min(ROIS, max(1, contours))
    per_roi = [contours // rois + (1 if r < contours % rois else 0) for r in range(rois)]
    starts = [sum(per_roi[:r]) for r in range(rois)]
    structure_set_rois: list[Item | Raw] = [
        Item(
            [
                E(0x30060022, "IS", r + 1),  # ROI Number
                E(0x30060024, "UI", frame_of_reference),
                E(0x30060026, "LO", f"ROI {r + 1}"),  # ROI Name
                E(0x30060036, "CS", "MANUAL"),  # ROI Generation Algorithm
            ]
        )
        for r in range(rois)
    ]
    roi_contours: list[Item | Raw] = [
        Item(
            [
                E(0x3006002A, "IS", [255, (37 * r) % 256, 0]),  # ROI Display Color
                E(
                    0x30060040,
                    "SQ",
                    Seq([_contour_item(starts[r] + j) for j in range(per_roi[r])]),
                ),
                E(0x30060084, "IS", r + 1),  # Referenced ROI Number
            ]
        )
        for r in range(rois)
    ]
    observations: list[Item | Raw] = [
        Item(
            [
                E(0x30060082, "IS", r + 1),  # Observation Number
                E(0x30060084, "IS", r + 1),  # Referenced ROI Number
                E(0x300600A4, "CS", "ORGAN"),  # RT ROI Interpreted Type
                E(0x300600A6, "PN", ""),  # ROI Interpreter
            ]
        )
        for r in range(rois)
    ]
    dataset: list[E | Raw] = [
        E(0x00080005, "CS", "ISO_IR 100"),
        E(0x00080012, "DA", "20240131"),
        E(0x00080013, "TM", "101502"),
        E(0x00080016, "UI", RT_STRUCTURE_SET),
        E(0x00080018, "UI", f"{UID_ROOT}.8.2"),
        E(0x00080020, "DA", "20240131"),
        E(0x00080030, "TM", "100301"),
        E(0x00080050, "SH", "BENCH0008"),
        E(0x00080060, "CS", "RTSTRUCT"),
        E(0x00080070, "LO", "DCMSTRUCT"),
        E(0x00080090, "PN", "REFERRER^ROBERT"),
        E(0x00081090, "LO", "BENCH-RT"),
        E(0x00100010, "PN", "BENCH^PATIENT"),
        E(0x00100020, "LO", "BENCH-0001"),
        E(0x00100030, "DA", "19700101"),
        E(0x00100040, "CS", "O"),
        E(0x00181020, "LO", "dcmstruct bench"),
        E(0x0020000D, "UI", f"{UID_ROOT}.1"),
        E(0x0020000E, "UI", f"{UID_ROOT}.8.3"),
        E(0x00200010, "SH", "1"),
        E(0x00200011, "IS", 1),
        E(0x30060002, "SH", "BENCH"),  # Structure Set Label
        E(0x30060008, "DA", "20240131"),  # Structure Set Date
        E(0x30060009, "TM", "101502"),  # Structure Set Time
        E(0x30060020, "SQ", Seq(structure_set_rois)),  # Structure Set ROI Sequence
        E(0x30060039, "SQ", Seq(roi_contours)),  # ROI Contour Sequence
        E(0x30060080, "SQ", Seq(observations)),  # RT ROI Observations Sequence
    ]
    return dataset


def write_rtstruct(path: Path, contours: int) -> dict[str, int]:
    dataset = rtstruct_dataset(contours)
    path.write_bytes(part10(dataset, transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN))
    return {"elements": 7 + bi._count(dataset), "fragments": 0}


def small_dataset(k: int) -> list[E | Raw]:
    """The ``k``-th small file: a 64x64 16-bit native Secondary Capture image (~9 KB)."""
    dataset: list[E | Raw] = [
        *bi._common_top_level(SECONDARY_CAPTURE, f"7.{k}", 64, 64),
        E(0x00080060, "CS", "OT"),
        E(0x00080064, "CS", "WSD"),  # Conversion Type
        E(0x00280100, "US", 16),
        E(0x00280101, "US", 16),
        E(0x00280102, "US", 15),
        E(0x00280103, "US", 0),
        E(PIXEL_DATA, "OW", bi._pattern(64 * 64 * 2)),
    ]
    dataset.sort(key=lambda e: e.tag_int if isinstance(e, E) else 0)
    return dataset


def ensure_small_files(workdir: Path, count: int) -> tuple[list[Path], bool]:
    """``count`` small files in ``workdir/small_COUNT/`` (nothing else in there: part 2 may
    hand the directory itself to the tools); reused while the manifest beside it matches."""
    directory = workdir / f"small_{count}"
    manifest = workdir / f"small_{count}.json"
    paths = [directory / f"s{k:05d}.dcm" for k in range(count)]
    params = {"generator": GENERATOR_VERSION, "count": count}
    try:
        if json.loads(manifest.read_text()) == params and sorted(directory.iterdir()) == paths:
            return paths, True
    except (OSError, ValueError):
        pass
    manifest.unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for k, path in enumerate(paths):
        path.write_bytes(part10(small_dataset(k), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN))
    manifest.write_text(json.dumps(params))
    return paths, False


def input_specs(sizes: Sizes) -> dict[str, bi.FileSpec]:
    """The single files, by part name; names carry the size, so quick and full runs in one
    work directory do not remake each other's files."""
    many = bi.Sizes(elements=sizes.elements, image_mib=sizes.image_mib)
    native = next(f for f in bi.FILES if f.name == "multiframe_500mb.dcm")
    return {
        "1a": bi.FileSpec(
            f"enhanced_{sizes.elements}.dcm",
            "Enhanced MR header, per-frame functional groups (bench_index.many_small_dataset)",
            lambda p, s: bi.write_many_small(p, many, EXPLICIT_VR_LITTLE_ENDIAN),
            lambda s: {"elements": sizes.elements, "core": GENERATOR_VERSION},
        ),
        "1b": bi.FileSpec(
            f"rtstruct_{sizes.contours}.dcm",
            f"RTSTRUCT-like: {sizes.contours:,} contour items x 5 elements, tags ascending",
            lambda p, s: write_rtstruct(p, sizes.contours),
            lambda s: {"contours": sizes.contours, "core": GENERATOR_VERSION},
        ),
        # At bench_index's size, bench_index's own file (and manifest): made once for both.
        "4": native
        if sizes.image_mib == bi.FULL.image_mib
        else bi.FileSpec(
            f"multiframe_{sizes.image_mib:g}mib.dcm",
            native.description,
            lambda p, s: bi.write_native(p, many),
            lambda s: {"image_mib": sizes.image_mib},
        ),
    }


# -- running commands -------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float  # wall time of the whole process, measured here
    peak_kib: int | None
    returncode: int
    error: str = ""
    output: str = ""  # stdout, when kept


@dataclass
class Measured:
    label: str
    argv: list[str]
    ok_codes: tuple[int, ...]
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.returncode in self.ok_codes for r in self.runs)

    @property
    def best(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def peak_mib(self) -> float | None:
        peaks = [r.peak_kib for r in self.runs if r.peak_kib is not None]
        return max(peaks) / 1024 if peaks else None

    def cell(self) -> str:
        if not self.ok:
            codes = ", ".join(str(r.returncode) for r in self.runs) or "none"
            return f"failed (exit {codes})"
        peak = self.peak_mib
        return f"{self.best:.3f} s / {peak:.0f} MiB" if peak is not None else f"{self.best:.3f} s"


@dataclass
class Env:
    """Where and how every measured command runs."""

    python: str
    env: dict[str, str]
    cwd: Path  # a fresh directory outside any checkout
    time_path: str | None
    runs: int

    def dcmstruct(self, *args: str) -> list[str]:
        """The command a user types: the installed ``dcmstruct`` entry point (pip's script
        beside the interpreter, which imports ``dcmstruct.cli``: with ``--code`` the checkout on
        PYTHONPATH wins), or ``python -m dcmstruct`` where there is none. The two differ: under
        ``-m`` the interpreter's module runner adds about 14 ms on this machine (numpy's typing
        module imports slower there), a cost a user of the command never pays."""
        script = Path(self.python).parent / "dcmstruct"
        if script.is_file():
            return [self.python, str(script), *args]
        return [self.python, "-m", "dcmstruct", *args]


def run_once(
    argv: Sequence[str],
    ctx: Env,
    *,
    keep_stdout: bool = False,
    stderr_is_output: bool = False,
) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        rss_file = os.path.join(tmp, "rss")
        out_file = os.path.join(tmp, "stdout")
        err_file = os.path.join(tmp, "stderr")
        full = [*argv]
        if ctx.time_path is not None:
            full = [ctx.time_path, "-f", "%M", "-o", rss_file, *full]
        with open(out_file, "wb") as out, open(err_file, "wb") as err:
            stdout = out if keep_stdout else subprocess.DEVNULL
            # dciodvfy writes its report to stderr: it goes where the others' reports go.
            stderr = subprocess.DEVNULL if stderr_is_output else err
            start = time.perf_counter()
            # Its own process group, so a run that times out is ended with its children.
            proc = subprocess.Popen(
                full,
                stdout=stdout,
                stderr=stderr,
                cwd=ctx.cwd,
                env=ctx.env,
                start_new_session=True,
            )
            timed_out = bi.wait_exactly(proc, RUN_TIMEOUT)
            seconds = time.perf_counter() - start
        error = Path(err_file).read_text(errors="replace").strip()[-2000:]
        if timed_out:
            error += f"\ntimed out after {RUN_TIMEOUT} s"
        output = Path(out_file).read_text(errors="replace") if keep_stdout else ""
        peak: int | None = None
        if ctx.time_path is not None and os.path.exists(rss_file):
            lines = Path(rss_file).read_text().split()
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else None
    return Run(seconds, peak, proc.returncode, error, output)


def measure(
    label: str,
    argv: list[str],
    ctx: Env,
    *,
    warm: Sequence[Path] = (),
    ok_codes: tuple[int, ...] = (0,),
    keep_stdout: bool = False,
    stderr_is_output: bool = False,
    runs: int | None = None,
) -> Measured:
    print(f"measuring {label} ...", file=sys.stderr, flush=True)
    m = Measured(label, argv, ok_codes)
    for path in warm:
        bi.warm(path)
    # One run not counted: the page cache and the bytecode cache are as a user's second run.
    run_once(argv, ctx, keep_stdout=False, stderr_is_output=stderr_is_output)
    for _ in range(ctx.runs if runs is None else runs):
        r = run_once(argv, ctx, keep_stdout=keep_stdout, stderr_is_output=stderr_is_output)
        m.runs.append(r)
        if r.returncode not in ok_codes:
            print(f"  {label} failed (exit {r.returncode}): {r.error[-600:]}", file=sys.stderr)
            break  # a failing command fails every time: do not wait for it again
    return m


def validate_summary(m: Measured) -> str:
    """Files and findings in a run's JSON report: a command that broke shows here."""
    if not m.runs or not m.runs[-1].output:
        return "no report"
    try:
        report = json.loads(m.runs[-1].output)
        files = report["files"]
        findings = sum(len(f["findings"]) for f in files)
        rules = sorted({x["rule"] for f in files for x in f["findings"]})
    except (ValueError, KeyError, TypeError):
        return "report not readable as JSON"
    shown = ", ".join(rules[:6]) + (", ..." if len(rules) > 6 else "")
    return f"{len(files):,} file(s), {findings:,} finding(s)" + (f" ({shown})" if rules else "")


# -- in-process snippets ----------------------------------------------------------------------

# Best of N index_file calls on one file after the imports; the element count from the index.
INDEX_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
from dcmstruct.index import index_file
t1 = time.perf_counter()
repeats, path = int(sys.argv[1]), sys.argv[2]
best, nodes, elements, faults = float("inf"), 0, None, 0
for _ in range(repeats):
    t = time.perf_counter()
    index = index_file(path)
    nodes = len(index)
    best = min(best, time.perf_counter() - t)
    faults = len(index.faults)
    try:
        from dcmstruct.model import Kind
        elements = int((index.columns.kind == int(Kind.ELEMENT)).sum())
    except Exception:
        elements = None
    index.close()
print(json.dumps({"import_s": t1 - t0, "best_s": best, "nodes": nodes,
                  "elements": elements, "faults": faults}))
"""

# The viewer, headless, in a fresh process: times are seconds since argv[2] (the parent's
# time.time() just before it started this process), written as JSON to argv[3].
VIEW_SNIPPET = """
import asyncio, json, sys, time
path, start, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
timeout = float(sys.argv[4])
result = {}
marks = {}
from dcmstruct.tui.app import DcmViewApp
from dcmstruct.tui.widgets import HexView
result["imported_s"] = time.time() - start
original = HexView.render_line

def render_line(self, y):
    strip = original(self, y)
    # The first line drawn with the file's bytes in it (not the blank before loading).
    if "row" not in marks and self.structure is not None and strip.text.strip():
        marks["row"] = time.time()
    return strip

HexView.render_line = render_line

async def main():
    app = DcmViewApp(path)
    async with app.run_test(size=(120, 40)):
        deadline = time.monotonic() + timeout
        # busy drops when the validation worker's findings are shown (_show_validation,
        # which fills the findings table in the same handler) or when a worker fails.
        while app.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        ready = time.time()
        result["timed_out"] = app.busy
        result["ready_s"] = ready - start
        result["first_row_s"] = marks["row"] - start if "row" in marks else None
        result["findings"] = len(app.findings)
        panel = app.findings_panel
        result["table_rows"] = panel.row_count
        result["validated"] = bool(getattr(app, "_validated", False))
        result["subtitle"] = str(panel.border_subtitle or "")

asyncio.run(main())
with open(out, "w") as f:
    json.dump(result, f)
"""


def run_view(path: Path, ctx: Env, timeout: float) -> tuple[Measured, list[dict[str, object]]]:
    print("measuring view ...", file=sys.stderr, flush=True)
    bi.warm(path)
    m = Measured("view", [], (0,))
    results: list[dict[str, object]] = []
    for _ in range(ctx.runs):
        with tempfile.TemporaryDirectory(prefix="bench-core-view-") as tmp:
            out = Path(tmp) / "view.json"
            start = time.time()
            argv = [ctx.python, "-c", VIEW_SNIPPET, str(path), repr(start), str(out), f"{timeout}"]
            r = run_once(argv, ctx)
            m.runs.append(r)
            if r.returncode != 0 or not out.exists():
                print(f"  view failed (exit {r.returncode}): {r.error[-600:]}", file=sys.stderr)
                r.returncode = r.returncode or 1
                break
            results.append(json.loads(out.read_text()))
    return m, results


# -- the report -------------------------------------------------------------------------------


@dataclass
class Line:
    part: str
    work: str
    ours: str
    reference: str
    ratio: str
    target: str
    met: bool | None  # None: could not be measured

    def row(self) -> list[str]:
        verdict = "n/a" if self.met is None else "met" if self.met else "**not met**"
        return [self.part, self.work, self.ours, self.reference, self.ratio, self.target, verdict]


def table(lines: list[Line]) -> str:
    header = ["#", "work", "dcmstruct", "reference", "ratio", "target", ""]
    rows = [header, ["---"] * len(header), *(line.row() for line in lines)]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def speedup_line(part: str, work: str, ours: Measured, ref: Measured, name: str) -> Line:
    """Target: the reference takes at least 5x dcmstruct's time."""
    if not (ours.ok and ref.ok):
        return Line(part, work, ours.cell(), ref.cell(), "n/a", f"{name}/dcmstruct ≥ 5", None)
    ratio = ref.best / ours.best
    return Line(
        part,
        work,
        ours.cell(),
        f"{ref.label}: {ref.cell()}",
        f"{ratio:.2f}",
        f"{name} / dcmstruct ≥ 5",
        ratio >= 5,
    )


def slowdown_line(
    part: str, work: str, ours: Measured, ref: Measured, limit: float, name: str
) -> Line:
    """Target: dcmstruct takes at most ``limit`` times the reference's time."""
    target = f"dcmstruct / {name} ≤ {limit:g}" if limit != 1 else f"dcmstruct < {name}"
    if not (ours.ok and ref.ok):
        return Line(part, work, ours.cell(), ref.cell(), "n/a", target, None)
    ratio = ours.best / ref.best
    met = ratio <= limit if limit != 1 else ratio < 1
    return Line(part, work, ours.cell(), f"{ref.label}: {ref.cell()}", f"{ratio:.2f}", target, met)


# -- the parts -------------------------------------------------------------------------------


@dataclass
class Bench:
    ctx: Env
    files: dict[str, bi.InputFile]  # by part: 1a, 1b, 4
    small: list[Path]
    repeats: int  # index_file calls per file (part 6)
    view_timeout: float
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def part1(self) -> None:
        ctx = self.ctx
        for key in ("1a", "1b"):
            f = self.files[key]
            ours = measure(
                f"validate {key}",
                ctx.dcmstruct("validate", "--format", "json", str(f.path)),
                ctx,
                warm=[f.path],
                ok_codes=(0, 1),
                keep_stdout=True,
            )
            pyd = measure(
                "pydicom",
                [ctx.python, "-c", bi.PYDICOM_WALK_SNIPPET, str(f.path)],
                ctx,
                warm=[f.path],
                keep_stdout=True,
            )
            # dciodvfy exits 1 when it has errors to report (about the IOD, here).
            dci = measure(
                "dciodvfy",
                ["dciodvfy", str(f.path)],
                ctx,
                warm=[f.path],
                ok_codes=(0, 1),
                stderr_is_output=True,
            )
            work = f"`validate --format json` {f.name}"
            self.lines.append(speedup_line(key, work, ours, pyd, "pydicom"))
            self.lines.append(speedup_line(key, work, ours, dci, "dciodvfy"))
            self.notes.append(f"{key}: dcmstruct's report: {validate_summary(ours)}")
            if pyd.ok:
                walked = json.loads(pyd.runs[-1].output.strip().splitlines()[-1])["elements"]
                if walked != f.elements:
                    self.notes.append(f"WARNING: pydicom walked {walked} elements of {f.name}")

    def part2(self) -> None:
        ctx, small = self.ctx, self.small
        names = [str(s) for s in small]
        # Arguments and environment must fit in ARG_MAX, with a pointer for each.
        room = os.sysconf("SC_ARG_MAX") - sum(len(k) + len(v) + 10 for k, v in ctx.env.items())
        if sum(len(n) + 9 for n in names) + 4096 < room:
            ours_argv = ctx.dcmstruct("validate", "-j", "2", "--format", "json", *names)
            ref_argv = ["dcmdump", "-q", *names]
            how = f"every file named on the command line ({len(names):,} arguments)"
        else:
            directory = str(small[0].parent)
            ours_argv = ctx.dcmstruct("validate", "-j", "2", "--format", "json", directory)
            ref_argv = ["dcmdump", "-q", "+sd", directory]
            how = "the directory (`dcmstruct validate DIR`, `dcmdump -q +sd DIR`)"
        ours = measure(
            "validate -j 2, small files",
            ours_argv,
            ctx,
            warm=small,
            ok_codes=(0, 1),
            keep_stdout=True,
        )
        ref = measure("dcmdump -q", ref_argv, ctx, warm=small)
        work = f"`validate -j 2 --format json`, {len(small):,} small files, one call"
        self.lines.append(slowdown_line("2", work, ours, ref, 1, "dcmdump"))
        self.notes.append(f"2: both given {how}; dcmstruct's report: {validate_summary(ours)}")

    def part3(self) -> None:
        for key in ("1a", "1b"):
            f = self.files[key]
            argv = self.ctx.dcmstruct("dump", "--format", "jsonl", str(f.path))
            ours = measure(f"dump {key}", argv, self.ctx, warm=[f.path])
            ref = measure("dcmdump -q", ["dcmdump", "-q", str(f.path)], self.ctx, warm=[f.path])
            work = f"`dump --format jsonl` {f.name}"
            self.lines.append(slowdown_line(f"3{key[1]}", work, ours, ref, 1.5, "dcmdump"))

    def part4(self) -> None:
        f = self.files["4"]
        argv = self.ctx.dcmstruct("validate", str(f.path))
        ours = measure("validate, multi-frame", argv, self.ctx, warm=[f.path], ok_codes=(0, 1))
        met: bool | None = None
        if ours.ok and ours.peak_mib is not None:
            met = ours.best <= 0.3 and ours.peak_mib <= 50
        work = f"`validate` {f.name} ({f.size / MIB:.0f} MiB)"
        self.lines.append(Line("4", work, ours.cell(), "", "", "≤ 0.3 s and ≤ 50 MiB", met))

    def part5(self) -> None:
        one = self.small[0]
        argv = self.ctx.dcmstruct("validate", str(one))
        ours = measure("validate, one small file", argv, self.ctx, warm=[one], ok_codes=(0, 1))
        numpy = [self.ctx.python, "-c", "import numpy"]
        ref = measure('python -c "import numpy"', numpy, self.ctx)
        work = "`validate` of one small file"
        self.lines.append(slowdown_line("5", work, ours, ref, 1.6, "numpy"))

    def part6(self) -> None:
        target = "≥ 1 M el/s"
        for key in ("1a", "1b"):
            f = self.files[key]
            m = measure(
                f"index_file {key}",
                [self.ctx.python, "-c", INDEX_SNIPPET, str(self.repeats), str(f.path)],
                self.ctx,
                warm=[f.path],
                keep_stdout=True,
                runs=1,  # the repeats are in the process
            )
            part, work = f"6{key[1]}", f"`index_file` in-process, {f.name}, best of {self.repeats}"
            if not m.ok:
                self.lines.append(Line(part, work, m.cell(), "", "", target, None))
                continue
            r = json.loads(m.runs[-1].output.strip().splitlines()[-1])
            counted = r["elements"] if r["elements"] is not None else f.elements
            rate = counted / r["best_s"]
            cell = f"{r['best_s']:.3f} s: {rate / 1e6:.2f} M el/s"
            self.lines.append(Line(part, work, cell, "", "", target, rate >= 1e6))
            self.notes.append(
                f"{part}: {counted:,} elements ({r['nodes']:,} nodes, {r['faults']} faults); "
                f"importing dcmstruct.index took {r['import_s']:.3f} s (not counted)"
            )
            if r["elements"] is not None and r["elements"] != f.elements:
                self.notes.append(
                    f"WARNING: the index lists {r['elements']} elements in {f.name}, the "
                    f"generator wrote {f.elements}"
                )

    def part7(self) -> None:
        f = self.files["1b"]
        m, results = run_view(f.path, self.ctx, self.view_timeout)
        work = f"`view` {f.name}: first hex row, findings ready"
        target = "findings ≤ 1 s after the first row"
        good = [
            r
            for r in results
            if not r["timed_out"] and r["first_row_s"] is not None and r["validated"]
        ]
        if not m.ok or not good:
            self.lines.append(Line("7", work, m.cell(), "", "", target, None))
            why = results or (m.runs[-1].error[-300:] if m.runs else "not run")
            self.notes.append(f"7: no reliable figure: {why}")
            return
        first = min(_f(r["first_row_s"]) for r in good)
        ready = min(_f(r["ready_s"]) for r in good)
        gap = min(_f(r["ready_s"]) - _f(r["first_row_s"]) for r in good)
        peak = "" if m.peak_mib is None else f" / {m.peak_mib:.0f} MiB"
        cell = f"row {first:.3f} s, findings {ready:.3f} s{peak}"
        self.lines.append(Line("7", work, cell, "", f"gap {gap:.3f} s", target, gap <= 1))
        last = good[-1]
        imported = min(_f(r["imported_s"]) for r in good)
        self.notes.append(
            f"7: seconds from before the process started (interpreter and imports included: "
            f"imports done at {imported:.3f} s); gap: the best run's; {last['findings']:,} "
            f"findings, {last['table_rows']:,} rows in the findings table, panel subtitle "
            f"{last['subtitle']!r}"
        )
        if len(good) < len(results):
            self.notes.append(f"7: {len(results) - len(good)} run(s) gave no reliable signal")


def _f(value: object) -> float:
    assert isinstance(value, int | float), value
    return float(value)


# -- main -------------------------------------------------------------------------------------


def _git(code: Path, *args: str) -> str:
    """A read-only git command's output in ``code``; empty if it is not a checkout."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(code), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _measured_module(ctx: Env) -> str:
    """Which dcmstruct the measured commands import (``--code`` must win over the venv's)."""
    argv = [ctx.python, "-c", "import dcmstruct; print(dcmstruct.__file__)"]
    proc = subprocess.run(
        argv, capture_output=True, text=True, cwd=ctx.cwd, env=ctx.env, check=False
    )
    return proc.stdout.strip() or f"import failed: {proc.stderr.strip()[-300:]}"


def _parse_parts(text: str | None) -> list[str] | None:
    if text is None:
        return list(PARTS)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown part(s): {', '.join(unknown)} (1 to 7)", file=sys.stderr)
        return None
    return parts


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--runs", type=int, help="runs of each command (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="small sizes, 1 run (a smoke run)")
    p.add_argument("--only", help="parts to run, comma-separated: 1 to 7 (default all)")
    p.add_argument("--workdir", type=Path, help="inputs go here (default bench/out[/quick])")
    p.add_argument("--code", type=Path, help="measure the dcmstruct checkout in DIR")
    p.add_argument("--elements", type=int, help="elements of file 1a")
    p.add_argument("--contours", type=int, help="contour items of file 1b")
    p.add_argument("--small-files", type=int, help="files of part 2")
    p.add_argument("--image-mib", type=float, help="pixel data MiB of part 4's file")
    p.add_argument("--index-repeats", type=int, help="index_file calls per file (default 5)")
    p.add_argument("--view-timeout", type=float, default=300, help="seconds (default 300)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = _parse_parts(args.only)
    if parts is None:
        return 2
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        elements=args.elements or base.elements,
        contours=args.contours or base.contours,
        small_files=args.small_files or base.small_files,
        image_mib=args.image_mib or base.image_mib,
    )
    default_workdir = bi.DEFAULT_WORKDIR / "quick" if args.quick else bi.DEFAULT_WORKDIR
    workdir: Path = (args.workdir or default_workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    code = (args.code or BENCH_DIR.parent).resolve()
    env = dict(os.environ)
    # Measure what a user runs: an installed package has its bytecode compiled (pip does it at
    # install time). This machine sets PYTHONDONTWRITEBYTECODE and an editable checkout has no
    # __pycache__, which would add ~55 ms of compiling to every command: the measured commands
    # keep their bytecode in the work directory instead, and each command is run once before
    # it is measured (see measure()).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    if args.code is not None:
        if not (code / "dcmstruct" / "__init__.py").is_file():
            print(f"--code {code}: no dcmstruct package there", file=sys.stderr)
            return 2
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    runs = args.runs or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-core-cwd-") as cwd:
        ctx = Env(sys.executable, env, Path(cwd), bi.gnu_time(), runs)
        print("# dcmstruct core benchmark (issue 8)\n")
        for key, value in bi.machine_info(ctx.time_path):
            print(f"- {key}: {value}")
        commit = _git(code, "log", "-1", "--format=%h %cI")
        print(f"- measured code: {code}, commit {commit or 'unknown (not a git checkout)'}")
        if commit:
            dirty = _git(code, "status", "--short", "--untracked-files=no").splitlines()
            print(f"- uncommitted changes there: {len(dirty)} tracked file(s)")
        print(f"- measured commands import: {_measured_module(ctx)}")
        print(f"- measured command: {' '.join(ctx.dcmstruct('validate'))} ...")
        print(f"- started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        print(
            f"- runs per command: {runs} (best wall time, highest peak RSS), after one run "
            "not counted; bytecode cached as in an installed package"
        )
        if args.quick:
            print("- QUICK sizes: the targets are defined for the full sizes")
        print()
        files, small = prepare_inputs(parts, sizes, workdir)
        repeats = args.index_repeats or (1 if args.quick else 5)
        bench = Bench(ctx, files, small, repeats, args.view_timeout)
        started = time.perf_counter()
        for part in parts:
            getattr(bench, f"part{part}")()
    print(table(bench.lines))
    print()
    print(
        "Cells: best wall time of the runs (the whole process, start-up included, except in 6) "
        "/ highest peak RSS of the runs (whole process)."
    )
    for note in bench.notes:
        print(f"- {note}")
    print(f"- measuring took {time.perf_counter() - started:.0f} s")
    print(f"- load average at the end (1, 5, 15 min): {bi._load()}")
    return 0


def prepare_inputs(
    parts: list[str], sizes: Sizes, workdir: Path
) -> tuple[dict[str, bi.InputFile], list[Path]]:
    """Generate (or reuse) what ``parts`` need, and list it."""
    specs = input_specs(sizes)
    need = {"1a", "1b"} if {"1", "3", "6", "7"} & set(parts) else set()
    if "4" in parts:
        need.add("4")
    files: dict[str, bi.InputFile] = {}
    for key in sorted(need):
        start = time.perf_counter()
        f = bi.ensure_file(workdir, specs[key], bi.Sizes(sizes.elements, sizes.image_mib))
        how = "reused" if f.reused else f"generated in {time.perf_counter() - start:.1f} s"
        print(f"input {f.name}: {f.size:,} bytes, {how}", file=sys.stderr)
        files[key] = f
    small: list[Path] = []
    if {"2", "5"} & set(parts):
        start = time.perf_counter()
        small, reused = ensure_small_files(workdir, sizes.small_files)
        how = "reused" if reused else f"generated in {time.perf_counter() - start:.1f} s"
        print(f"input {len(small):,} small files: {how}", file=sys.stderr)
    print("Inputs:")
    for key, f in files.items():
        count = "?" if f.elements is None else f"{f.elements:,}"
        print(f"- {key}: `{f.name}`, {f.size / MIB:.1f} MiB, {count} elements: {f.description}")
    if small:
        size = sum(s.stat().st_size for s in small)
        print(
            f"- 2, 5: {len(small):,} files of 64x64 16-bit native Secondary Capture images, "
            f"{size / len(small) / 1024:.1f} KiB each"
        )
    print()
    return files, small


if __name__ == "__main__":
    raise SystemExit(main())
