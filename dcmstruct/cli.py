"""The ``dcmstruct`` command line."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dcmstruct.report import FORMATS

if TYPE_CHECKING:
    from dcmstruct.validate.engine import FileReport

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
    _validate_parser(sub)
    w = sub.add_parser("view", help="explore a file in the terminal: hex, structure, findings")
    w.add_argument("file", nargs="?", help="the file to open (default: the bundled sample)")
    w.add_argument("--mask", action="store_true", help="mask identifying values on screen")
    w.add_argument("--row-width", type=int, choices=(8, 16, 32), default=None,
                   help="bytes per hex row (default 16)")  # fmt: skip
    r = sub.add_parser("rule", help="explain a validation rule, or list them all")
    r.add_argument("name", nargs="?", help="a rule name, e.g. ODD_VALUE_LENGTH")
    r.add_argument("--list", action="store_true", help="list every rule: name, severity, summary")
    return p


def _validate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser(
        "validate",
        help="check files against the structure rules of the standard",
        description=(
            "Check DICOM files for structural faults, each located by byte offset. PATHs may be "
            "files or directories (every regular file below a directory is checked). Exit "
            "code: 0 no finding at or above --fail-on, 1 some, 2 usage error or a path that "
            "cannot be read, 3 internal error."
        ),
    )
    v.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    v.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="report format (default: text on a terminal, json otherwise)",
    )
    v.add_argument(
        "--fail-on",
        choices=("error", "warning", "info"),
        default=None,
        help="exit 1 if a finding is at or above this severity (default: error)",
    )
    v.add_argument(
        "--select",
        action="append",
        metavar="RULES",
        help="run only these rules (comma-separated, repeatable)",
    )
    v.add_argument(
        "--ignore",
        action="append",
        metavar="RULES",
        help="skip these rules (comma-separated, repeatable)",
    )
    v.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="RULE=LEVEL",
        help="report RULE at LEVEL (error, warning, info) instead of its default",
    )
    v.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="worker processes (default: all cores; 1: run in this process)",
    )
    v.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    v.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="text colors"
    )
    v.add_argument(
        "--config", metavar="FILE", help="read settings from FILE (dcmstruct.toml/pyproject.toml)"
    )
    v.add_argument("--no-config", action="store_true", help="read no config file")


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


def _cmd_rule(args: argparse.Namespace) -> int:
    from dcmstruct.validate.config import unknown_rule_message
    from dcmstruct.validate.registry import load_all

    rules = load_all()
    if args.list:
        if args.name:
            print("dcmstruct rule: give a NAME or --list, not both", file=sys.stderr)
            return EXIT_USAGE
        width = max((len(n) for n in rules), default=4)
        for name in sorted(rules):
            r = rules[name]
            print(f"{name:<{width}}  {r.severity.label:<7}  {r.summary.strip()}")
        if not rules:
            print("dcmstruct rule: no rule is registered", file=sys.stderr)
        return EXIT_OK
    if not args.name:
        print("dcmstruct rule: give a rule NAME, or --list", file=sys.stderr)
        return EXIT_USAGE
    rule = rules.get(args.name.upper())
    if rule is None:
        print(f"dcmstruct rule: {unknown_rule_message(args.name, rules)}", file=sys.stderr)
        return EXIT_USAGE
    print(rule.doc(), end="")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from dcmstruct.report import ReportOptions, Summary, make_writer, rule_runs, use_color
    from dcmstruct.validate.batch import iter_targets, run_batch
    from dcmstruct.validate.config import ConfigError, Flags, environment_jobs, resolve
    from dcmstruct.validate.registry import load_all

    rules = load_all()
    flags = Flags(
        select=args.select,
        ignore=args.ignore,
        fail_on=args.fail_on,
        format=args.format,
        jobs=args.jobs,
        severity=args.severity,
        config=args.config,
        no_config=args.no_config,
    )
    try:
        settings = resolve(flags, rules)
    except ConfigError as exc:
        print(f"dcmstruct validate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output:
        try:
            out: TextIO = open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            print(f"dcmstruct validate: {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        out = sys.stdout
        if isinstance(out, io.TextIOWrapper):
            out.reconfigure(errors="backslashreplace")
    try:
        fmt = settings.format or ("text" if _isatty(out) else "json")
        selection = settings.selection
        enabled = [n for n in rules if selection.enabled(n)]
        options = ReportOptions(
            fail_on=settings.fail_on,
            color=fmt == "text" and use_color(out, args.color),
            tool_version=_version(),
        )
        writer = make_writer(fmt, out, options)
        writer.start(rule_runs(rules, enabled, selection.severities))
        summary = Summary(fail_on=settings.fail_on)
        progress = None
        if fmt == "text" and _isatty(sys.stderr):
            progress = _Progress(sys.stderr, _count(args.paths))
        jobs = settings.jobs or environment_jobs()
        for report in run_batch(iter_targets(args.paths), selection, jobs):
            if progress is not None:
                progress.clear()
            writer.file(report)
            summary.add(report)
            _diagnose(report, fmt)
            if progress is not None:
                progress.step(report.path)
        if progress is not None:
            progress.clear()
        writer.finish(summary)
    finally:
        if out is not sys.stdout:
            out.close()
    return summary.exit_code()


def _diagnose(report: FileReport, fmt: str) -> None:
    """Unreadable files and internal errors on stderr (the text report shows the former)."""
    from dcmstruct.report import display_path

    path = display_path(report.path)
    if report.error is not None and fmt != "text":
        print(f"dcmstruct validate: {path}: cannot read: {report.error}", file=sys.stderr)
    for text in report.internal:
        note = "internal error (a bug: please report it)"
        print(f"dcmstruct validate: {path}: {note}:\n{text}", file=sys.stderr)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dcmstruct")
    except PackageNotFoundError:
        return "0"


def _count(paths: Sequence[str]) -> int:
    from dcmstruct.validate.batch import iter_targets

    return sum(1 for _ in iter_targets(paths))


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
        text = f"[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} {path}"
        self.stream.write("\r\x1b[K" + text[: max(10, width - 1)])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "dump":
            return _cmd_dump(args)
        if args.command == "validate":
            return _cmd_validate(args)
        if args.command == "rule":
            return _cmd_rule(args)
        if args.command == "view":
            from dcmstruct.tui.app import run

            if args.file and not Path(args.file).is_file():
                print(f"dcmstruct: {args.file}: not a readable file", file=sys.stderr)
                return EXIT_USAGE
            return run(args.file, mask=args.mask, bytes_per_row=args.row_width)
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
