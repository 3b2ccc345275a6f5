#!/usr/bin/env python
"""Benchmark: ``validate`` on a dask.distributed cluster beside the local pool (issue 10).

A measurement script, not a test. Over bench_core's 10,000 small files (64x64 16-bit native
images, generated once into the work directory), each a whole command in a fresh process,
best of ``--runs``, start-up included:

1. ``validate -j 2 --format json DIR``: the built-in process pool;
2. ``validate --scheduler ADDR --format json DIR``: a LocalCluster of 2 worker processes
   started by this script beforehand (a cluster that is already up, as in production); the
   command's connect, walk, tasks and report;
3. the same with ``--list-on-workers``;
4. ``validate --local-cluster 2``: a cluster started and stopped by the command;
5. ``validate -j 2 --output-dir``: a new DIR each run (shards, Parquet, manifest);
6. the same DIR again: every file done, all skipped (a resumed run's cost per file);
7. references over the same files in one call: ``dcmdump -q +sd DIR`` and pydicom
   (``dcmread`` of each file, in one process).

It checks that 1-4 print the same report, and prints a markdown table: seconds and files per
second. On one machine the cluster cannot beat the pool (the same two cores, plus the
scheduler's round trips): the figure is what the cluster path costs per file, the part that
does not shrink when workers are added.

Usage::

    python bench/bench_cluster.py [--runs 3] [--files 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import bench_core as bc  # noqa: E402
import bench_index as bi  # noqa: E402

PYDICOM_SNIPPET = """
import sys, pydicom
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path, force=True)
    for el in ds.iterall():
        el.value
"""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--workdir", type=Path, default=bi.DEFAULT_WORKDIR)
    args = ap.parse_args(argv)
    import distributed

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    small, _ = bc.ensure_small_files(workdir, args.files)
    directory = str(small[0].parent)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    address = cluster.scheduler_address
    lines: list[tuple[str, bc.Measured]] = []
    reports: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as cwd:
            ctx = bc.Env(sys.executable, env, Path(cwd), bi.gnu_time(), args.runs)
            print("# dcmstruct cluster benchmark (issue 10)\n")
            for key, value in bi.machine_info(ctx.time_path):
                print(f"- {key}: {value}")
            print(f"- files: {len(small):,} in {directory}")
            print(f"- started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
            common = ("validate", "--no-config", "--format", "json", directory)
            cases = [
                ("1 local pool, -j 2", ctx.dcmstruct(*common, "-j", "2")),
                ("2 --scheduler (cluster up)", ctx.dcmstruct(*common, "--scheduler", address)),
                (
                    "3 --scheduler --list-on-workers",
                    ctx.dcmstruct(*common, "--scheduler", address, "--list-on-workers"),
                ),
                ("4 --local-cluster 2", ctx.dcmstruct(*common, "--local-cluster", "2")),
            ]
            for label, argv in cases:
                m = bc.measure(label, argv, ctx, warm=small, ok_codes=(0, 1), keep_stdout=True)
                lines.append((label, m))
                if m.runs:
                    reports[label] = hashlib.sha256(m.runs[-1].output.encode()).hexdigest()[:16]
            out = Path(cwd) / "out"
            fresh = ctx.dcmstruct(
                "validate", "--no-config", directory, "-j", "2", "--output-dir", str(out)
            )
            cleanup = [sys.executable, "-c", f"import shutil; shutil.rmtree({str(out)!r}, True)"]
            m = bc.Measured("5 -j 2 --output-dir (new DIR)", fresh, (0, 1))
            for _ in range(args.runs):
                bc.run_once(cleanup, ctx)
                m.runs.append(bc.run_once(fresh, ctx))
            lines.append((m.label, m))
            lines.append(
                ("6 the same DIR again (all done)",
                 bc.measure("6 resumed", fresh, ctx, ok_codes=(0, 1)))
            )  # fmt: skip
            lines.append(
                ("7a dcmdump -q +sd DIR",
                 bc.measure("dcmdump", ["dcmdump", "-q", "+sd", directory], ctx, warm=small,
                            ok_codes=(0, 1)))
            )  # fmt: skip
            names = [str(p) for p in small]
            pyd = [sys.executable, "-c", PYDICOM_SNIPPET, *names]
            lines.append(("7b pydicom dcmread + walk", bc.measure("pydicom", pyd, ctx, warm=small)))
            shutil.rmtree(out, ignore_errors=True)
    finally:
        cluster.close()
    print("| # | command | best of runs | files/s |")
    print("|---|---|---|---|")
    for label, m in lines:
        rate = f"{len(small) / m.best:,.0f}" if m.ok else "-"
        print(f"| {label.split()[0]} | {' '.join(label.split()[1:])} | {m.cell()} | {rate} |")
    print()
    same = len(set(reports.values())) == 1
    print(f"Reports of 1-4: {'identical' if same else 'DIFFERENT'} ({reports})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
