"""``dcmstruct validate``: settings, the batch, one report writer, the exit code."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from dcmstruct.commands.batch import Target, iter_targets, run_batch
from dcmstruct.commands.config import ConfigError, Flags, Settings, environment_jobs, resolve
from dcmstruct.commands.streams import isatty, safe_lines, stdin_stream
from dcmstruct.exitcode import ExitCode
from dcmstruct.report import ReportOptions, Summary, display_path, make_writer, rule_runs, use_color
from dcmstruct.safetext import terminal_safe
from dcmstruct.spool import STDIN_NAME, SpoolError
from dcmstruct.validate.registry import load_all

if TYPE_CHECKING:
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
    if args.output:
        try:
            out: TextIO = open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            why = exc.strerror or str(exc)
            print(f"dcmstruct validate: {terminal_safe(f'{args.output}: {why}')}", file=sys.stderr)
            return ExitCode.USAGE
    else:
        out = sys.stdout
        if isinstance(out, io.TextIOWrapper):
            out.reconfigure(errors="backslashreplace")
    try:
        fmt = settings.format or ("text" if isatty(out) else "json")
        selection = settings.selection
        enabled = [n for n in rules if selection.enabled(n)]
        options = ReportOptions(
            fail_on=settings.fail_on, color=fmt == "text" and use_color(out, args.color)
        )
        writer = make_writer(fmt, out, options)
        writer.start(rule_runs(rules, enabled, selection.severities))
        summary = Summary(fail_on=settings.fail_on)
        progress = None
        if fmt == "text" and isatty(sys.stderr):
            progress = _Progress(sys.stderr, _count(args.paths, stdin))
        jobs = settings.jobs or environment_jobs()
        targets = iter_targets(args.paths, stdin)
        for report in run_batch(targets, selection, jobs, on_wait=writer.flush):
            if report.findings and (args.mask or not args.show_values):
                report.findings = _private(report.findings, every=args.mask)
            if progress is not None:
                progress.clear()
            writer.file(report)
            summary.add(report)
            _diagnose(report, fmt)
            if progress is not None:
                writer.flush()  # the line above the bar, before the bar is drawn again
                progress.step(report.path)
        if progress is not None:
            progress.clear()
        writer.finish(summary)
    finally:
        if out is not sys.stdout:
            out.close()
    return summary.exit_code()


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


def _diagnose(report: FileReport, fmt: str) -> None:
    """Unreadable files and internal errors on stderr (the text report shows the former)."""
    if (report.error is None or fmt == "text") and not report.internal:
        return
    path = terminal_safe(display_path(report.path))
    if report.error is not None and fmt != "text":
        why = terminal_safe(report.error)
        print(f"dcmstruct validate: {path}: cannot read: {why}", file=sys.stderr)
    for text in report.internal:
        note = "internal error (a bug: please report it)"
        print(f"dcmstruct validate: {path}: {note}:\n{safe_lines(text)}", file=sys.stderr)


def _count(paths: Sequence[str], stdin: Target | None) -> int:
    return sum(1 for _ in iter_targets(paths, stdin))


class _Progress:
    """A one-line progress bar on a terminal (stderr), redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.last = 0.0
        self.shown = False

    def step(self, path: str) -> None:
        import shutil
        import time

        self.done += 1
        now = time.monotonic()
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        width = shutil.get_terminal_size((80, 24)).columns
        filled = 20 * self.done // max(1, self.total)
        name = terminal_safe(path)
        text = f"[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} {name}"
        self.stream.write("\r\x1b[K" + text[: max(10, width - 1)])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


__all__ = ["run"]
