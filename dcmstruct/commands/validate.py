"""``dcmstruct validate``: settings, the batch, one report writer, the exit code."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from dcmstruct.commands.batch import Target, iter_targets, run_batch
from dcmstruct.commands.config import ConfigError, Flags, Settings, environment_jobs, resolve
from dcmstruct.commands.streams import isatty, safe_lines, stdin_stream
from dcmstruct.exitcode import ExitCode
from dcmstruct.report import ReportOptions, Summary, display_path, make_writer, rule_runs, use_color
from dcmstruct.safetext import terminal_safe
from dcmstruct.spool import STDIN_NAME, SpoolError
from dcmstruct.validate.registry import load_all

if TYPE_CHECKING:
    from dcmstruct.commands.archive import Archive
    from dcmstruct.report.devices import DeviceTable
    from dcmstruct.validate.engine import FileReport
    from dcmstruct.validate.finding import Finding
    from dcmstruct.validate.registry import Rule


def run(args: argparse.Namespace) -> ExitCode:
    """Validate ``args.paths`` as the parsed command line says; the exit code."""
    rules = load_all()
    limit = 0
    if args.stdin_limit is not None or STDIN_NAME in args.paths:
        from dcmstruct.spool import stdin_limit

        try:
            limit = stdin_limit(args.stdin_limit)
        except ValueError as exc:
            print(f"dcmstruct validate: {terminal_safe(str(exc))}", file=sys.stderr)
            return ExitCode.USAGE
    flags = Flags(
        select=args.select,
        ignore=args.ignore,
        fail_on=args.fail_on,
        format=args.format,
        jobs=args.jobs,
        severity=args.severity,
        config=args.config,
        no_config=args.no_config,
        scheduler=args.scheduler,
        limits={
            "max-nodes": args.max_nodes,
            "max-depth": args.max_depth,
            "max-inflate-ratio": args.max_inflate_ratio,
        },
    )
    try:
        settings = resolve(flags, rules)
    except ConfigError as exc:
        print(f"dcmstruct validate: {terminal_safe(str(exc))}", file=sys.stderr)
        return ExitCode.USAGE
    stdin: Target | None = None
    spooled: str | None = None
    if STDIN_NAME in args.paths:
        stdin, spooled = _spool_target(limit)
    try:
        return _validate(args, rules, settings, stdin)
    finally:
        if spooled is not None:
            with contextlib.suppress(OSError):
                os.unlink(spooled)


def _spool_target(limit: int) -> tuple[Target, str | None]:
    """Standard input as a target of the batch: spooled to a file reported as ``-``, or an
    unreadable path (the batch goes on, exit code 2)."""
    from dcmstruct.spool import spool

    try:
        spooled = spool(stdin_stream(), limit)
    except SpoolError as exc:
        return Target(STDIN_NAME, exc.strerror or str(exc)), None
    return Target(spooled, label=STDIN_NAME), spooled


def _validate(
    args: argparse.Namespace, rules: Mapping[str, Rule], settings: Settings, stdin: Target | None
) -> ExitCode:
    usage = _archive_usage(args, settings)
    if usage is not None:
        return _usage(usage)
    with contextlib.ExitStack() as stack:
        client = None
        if settings.scheduler or args.local_cluster:
            from dcmstruct.commands.cluster import ClusterError, connect

            try:
                client = stack.enter_context(
                    connect(settings.scheduler, args.local_cluster, args.connect_timeout)
                )
            except ClusterError as exc:
                return _usage(str(exc))
        archive = None
        if args.output_dir:
            from dcmstruct.commands.archive import Archive, ArchiveError, settings_record

            messages = "mask" if args.mask else "values" if args.show_values else "private"
            archive = Archive(
                args.output_dir,
                settings_record(settings.selection, settings.fail_on, messages),
                show_values=args.show_values,
                prune=args.prune,
            )
            if args.shard_files is not None:
                archive.shard_files = args.shard_files
            stack.callback(archive.close)
            try:
                archive.open()
            except ArchiveError as exc:
                return _usage(str(exc))
        devices_out: TextIO | None = None
        if args.device_summary:  # opened now: a path that cannot be written fails first
            try:
                devices_out = stack.enter_context(open(args.device_summary, "w", encoding="utf-8"))
            except OSError as exc:
                return _usage(f"{args.device_summary}: {exc.strerror or exc}")
        if args.output and archive is None:
            try:
                out: TextIO = stack.enter_context(open(args.output, "w", encoding="utf-8"))
            except OSError as exc:
                return _usage(f"{args.output}: {exc.strerror or exc}")
        else:
            out = sys.stdout
            if isinstance(out, io.TextIOWrapper):
                out.reconfigure(errors="backslashreplace")
        run = _Run(args, rules, settings, stdin, client, archive, devices_out)
        return run.go(out)


def _archive_usage(args: argparse.Namespace, settings: Settings) -> str | None:
    """Flags of the archive group that do not go together."""
    if args.local_cluster is not None and not 1 <= args.local_cluster <= 1024:
        return f"--local-cluster {args.local_cluster}: must be a whole number from 1 to 1024"
    if not 0 < args.connect_timeout <= 3600:
        return f"--connect-timeout {args.connect_timeout:g}: must be from 0 to 3600 seconds"
    if args.list_on_workers and not (settings.scheduler or args.local_cluster):
        return "--list-on-workers needs a cluster: --scheduler ADDRESS or --local-cluster N"
    if args.shard_files is not None and not (args.output_dir and args.shard_files >= 1):
        return "--shard-files: a whole number from 1, with --output-dir"
    if args.output_dir and args.output:
        return "--output-dir and -o: the report goes to one of them"
    if args.output_dir and STDIN_NAME in args.paths:
        return "--output-dir and -: standard input has no path to resume by"
    if args.prune and not args.output_dir:
        return "--prune goes with --output-dir"
    if args.scheduler is not None and args.local_cluster is not None:
        return "--scheduler and --local-cluster: one cluster at a time"
    return None


def _usage(text: str) -> ExitCode:
    print(f"dcmstruct validate: {terminal_safe(text)}", file=sys.stderr)
    return ExitCode.USAGE


class _Run:
    """One run of the command: the targets, where they are validated, where reports go."""

    def __init__(
        self,
        args: argparse.Namespace,
        rules: Mapping[str, Rule],
        settings: Settings,
        stdin: Target | None,
        client: Any,
        archive: Archive | None,
        devices_out: TextIO | None = None,
    ) -> None:
        self.args = args
        self.devices_out = devices_out
        self.rules = rules
        self.settings = settings
        self.stdin = stdin
        self.client = client
        self.archive = archive
        self.devices: DeviceTable | None = None
        if args.device_summary:
            from dcmstruct.report.devices import DeviceTable

            self.devices = DeviceTable(show_values=args.show_values)

    def targets(self) -> Iterator[Target]:
        if self.client is not None and self.args.list_on_workers:
            from dcmstruct.commands.cluster import worker_targets

            found = worker_targets(self.args.paths, self.client, self.stdin)
        else:
            found = iter_targets(self.args.paths, self.stdin)
        return self.archive.pending(found) if self.archive is not None else found

    def reports(
        self, targets: Iterator[Target], on_wait: Callable[[], None]
    ) -> Iterator[FileReport]:
        devices = self.archive is not None or self.devices is not None
        selection = self.settings.selection
        if self.client is not None:
            from dcmstruct.commands.cluster import run_on_cluster

            return run_on_cluster(targets, selection, self.client, on_wait=on_wait, devices=devices)
        jobs = self.settings.jobs or environment_jobs()
        return run_batch(targets, selection, jobs, on_wait=on_wait, devices=devices)

    def go(self, out: TextIO) -> ExitCode:
        args, settings = self.args, self.settings
        fmt = settings.format or ("text" if isatty(out) else "json")
        selection = settings.selection
        enabled = [n for n in self.rules if selection.enabled(n)]
        options = ReportOptions(
            fail_on=settings.fail_on, color=fmt == "text" and use_color(out, args.color)
        )
        writer = None
        if self.archive is None:
            writer = make_writer(fmt, out, options)
            writer.start(rule_runs(self.rules, enabled, selection.severities))
        summary = Summary(fail_on=settings.fail_on)
        progress = None
        if isatty(sys.stderr) and (fmt == "text" or self.archive is not None):
            progress = _Progress(sys.stderr, self._total(), self.client)
        # Reports come out one per target, in order: the target of each is the oldest taken.
        taken: deque[Target] = deque()

        def take(targets: Iterator[Target]) -> Iterator[Target]:
            for target in targets:
                taken.append(target)
                yield target

        flush = writer.flush if writer is not None else (lambda: None)
        lost = [0]  # files a cluster lost (said on stderr, the first few by name)
        for report in self.reports(take(self.targets()), flush):
            target = taken.popleft()
            if report.findings and (args.mask or not args.show_values):
                report.findings = _private(report.findings, every=args.mask)
            if progress is not None:
                progress.clear()
            if self.archive is not None:
                self.archive.write(target, report)
            else:
                assert writer is not None
                writer.file(report)
            summary.add(report)
            if self.devices is not None and report.error is None:
                self.devices.add_findings(report.device, report.findings)
            _diagnose(report, fmt if writer is not None else "json", lost)
            if progress is not None:
                flush()  # the line above the bar, before the bar is drawn again
                progress.step(report.path, target.size)
        if progress is not None:
            progress.clear()
        if lost[0] > _LOST_SHOWN:
            print(
                f"dcmstruct validate: ... and {lost[0] - _LOST_SHOWN:,} more files not "
                "validated, for the same kind of reason (each is an internal error in the report)",
                file=sys.stderr,
            )
        record: dict[str, Any] = {}
        if self.archive is not None:
            summary, record = self.archive.finish(settings.fail_on)
            if fmt == "text":
                print(_archive_text(args.output_dir, record), file=out)
            else:
                json.dump(record, out)
                out.write("\n")
            out.flush()
        else:
            assert writer is not None
            writer.finish(summary)
        if self.devices is not None and self.devices_out is not None:
            # With --output-dir: the devices of everything in DIR, as in its summary.json.
            table = {"devices": record["devices"]} if self.archive is not None else None
            json.dump(table or self.devices.record(), self.devices_out, indent=1)
            self.devices_out.write("\n")
            self.devices_out.flush()
        return summary.exit_code()

    def _total(self) -> int | None:
        if self.client is not None and self.args.list_on_workers:
            return None  # the tree is listed on the workers: counting it here is what is slow
        found = iter_targets(self.args.paths, self.stdin)
        if self.archive is not None:
            return sum(1 for t in found if not self.archive.is_done(t))
        return sum(1 for _ in found)


def _archive_text(root: str, record: Mapping[str, Any]) -> str:
    s = record["summary"]
    run = record["this_run"]
    text = (
        f"{terminal_safe(root)}: {s['files']:,} files in {record['shards']} shard(s) "
        f"({run['validated']:,} validated now, {run['skipped_as_done']:,} done before): "
        f"{s['error']:,} errors, {s['warning']:,} warnings, {s['info']:,} info, "
        f"{s['unreadable']:,} unreadable, {s['internal']:,} internal errors"
    )
    if run["not_seen"]:
        text += (
            f"; {run['not_seen']:,} file(s) of DIR were not among this run's paths (deleted, "
            "or not given): --prune takes them out"
        )
    if run["pruned"]:
        text += f"; {run['pruned']:,} file(s) not among this run's paths taken out"
    return text


def _private(findings: list[Finding], *, every: bool) -> list[Finding]:
    """The findings with no value of an identifying attribute quoted in their messages (with
    ``every``: no value at all). Private by default: these messages end up in CI logs."""
    from dataclasses import replace

    from dcmstruct.privacy import identifying, identifying_path, without_values

    return [
        replace(f, message=without_values(f.message))
        if "'" in f.message and (every or identifying(f.tag) or identifying_path(f.path))
        else f
        for f in findings
    ]


def _diagnose(report: FileReport, fmt: str, lost: list[int]) -> None:
    """Unreadable files and internal errors on stderr (the text report shows the former).
    Files a cluster lost are no bug: the first few are named, then only counted (``lost``)."""
    if (report.error is None or fmt == "text") and not report.internal:
        return
    path = terminal_safe(display_path(report.path))
    if report.error is not None and fmt != "text":
        why = terminal_safe(report.error)
        print(f"dcmstruct validate: {path}: cannot read: {why}", file=sys.stderr)
    from dcmstruct.commands.cluster import LOST_PREFIXES

    for text in report.internal:
        if text.startswith(LOST_PREFIXES):
            lost[0] += 1
            if lost[0] <= _LOST_SHOWN:
                print(f"dcmstruct validate: {path}: not validated: {safe_lines(text)}",
                      file=sys.stderr)  # fmt: skip
            continue
        note = "internal error (a bug: please report it)"
        print(f"dcmstruct validate: {path}: {note}:\n{safe_lines(text)}", file=sys.stderr)


_LOST_SHOWN = 10


class _Progress:
    """A one-line progress bar on a terminal (stderr), redrawn at most ten times a second:
    files done, files and bytes per second, the cluster's workers, the time left."""

    def __init__(self, stream: TextIO, total: int | None, client: Any = None) -> None:
        from dcmstruct.commands.rate import Rate

        self.stream = stream
        self.total = total
        self.client = client
        self.rate = Rate()
        self.workers: int | None = None
        self.asked = 0.0
        self.last = 0.0
        self.shown = False

    def step(self, path: str, size: int) -> None:
        import shutil
        import time

        self.rate.add(size)
        done = self.rate.files
        now = time.monotonic()
        if now - self.last < 0.1 and done != self.total:
            return
        self.last = now
        if self.client is not None and now - self.asked >= 1.0:
            from dcmstruct.commands.cluster import workers_of

            self.workers, self.asked = workers_of(self.client), now
        width = shutil.get_terminal_size((80, 24)).columns
        if self.total:
            filled = 20 * done // max(1, self.total)
            head = f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total}"
        else:
            head = f"{done:,} files"
        speed = self.rate.text(self.total, self.workers)
        text = f"{head} ({speed}) {terminal_safe(path)}"
        self.stream.write("\r\x1b[K" + text[: max(10, width - 1)])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


__all__ = ["run"]
