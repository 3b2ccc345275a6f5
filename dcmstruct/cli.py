"""The ``dcmstruct`` command line."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn, TextIO

from dcmstruct.report import FORMATS
from dcmstruct.safetext import terminal_safe
from dcmstruct.spool import STDIN_LIMIT_ENV, STDIN_NAME, SpoolError

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex, Limits
    from dcmstruct.validate.batch import Target
    from dcmstruct.validate.config import Settings
    from dcmstruct.validate.engine import FileReport
    from dcmstruct.validate.registry import Rule

# Exit codes of the output contract.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class _Parser(argparse.ArgumentParser):
    """argparse, with what it echoes of the command line made safe for the terminal (it
    quotes an unrecognized argument as given: a file name may hold ESC or a newline)."""

    def error(self, message: str) -> NoReturn:
        super().error(terminal_safe(message))


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}")
        return value

    return parse


_STDIN_HELP = (
    f"at most this many bytes of standard input (FILE -): 1073741824, 512M, 2G (default 1G, "
    f"or ${STDIN_LIMIT_ENV})"
)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="dcmstruct", description="Hex-level structure explorer and validator for DICOM files."
    )
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="print the structure of a file, node by node, with offsets")
    d.add_argument(
        "file", nargs="?", help="the file to dump, - for standard input (default: the sample)"
    )
    d.add_argument("--format", choices=("text", "jsonl"), default="text")
    d.add_argument(
        "--width",
        type=_int_in(8, 1024),
        default=48,
        help="value preview width, 8 to 1024 (text format; default 48)",
    )
    _limit_flags(d)
    d.add_argument("--stdin-limit", metavar="SIZE", help=_STDIN_HELP)
    _validate_parser(sub)
    w = sub.add_parser("view", help="explore a file in the terminal: hex, structure, findings")
    w.add_argument("file", nargs="?", help="the file to open (default: the bundled sample)")
    w.add_argument("--mask", action="store_true", help="mask identifying values on screen")
    w.add_argument("--row-width", type=int, choices=(8, 16, 32), default=None,
                   help="bytes per hex row (default 16)")  # fmt: skip
    _limit_flags(w)
    r = sub.add_parser("rule", help="explain a validation rule, or list them all")
    r.add_argument("name", nargs="?", help="a rule name, e.g. ODD_VALUE_LENGTH")
    r.add_argument("--list", action="store_true", help="list every rule: name, severity, summary")
    return p


def _validate_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
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
    v.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or directories; - for standard input"
    )
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
        help=(
            "worker processes, 1 to 1024: never more than the files or 4 per core (default: "
            "all cores; 1: run in this process)"
        ),
    )
    v.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    v.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="text colors"
    )
    v.add_argument(
        "--config", metavar="FILE", help="read settings from FILE (dcmstruct.toml/pyproject.toml)"
    )
    v.add_argument("--no-config", action="store_true", help="read no config file")
    v.add_argument("--stdin-limit", metavar="SIZE", help=_STDIN_HELP)
    _limit_flags(v)


def _limit_flags(p: argparse.ArgumentParser) -> None:
    """The index's safety limits (dcmstruct.index.Limits), the same on every command."""
    from dcmstruct.limits import LIMIT_RANGES

    low, high = (int(x) for x in LIMIT_RANGES["max-depth"])
    p.add_argument(
        "--max-depth", type=_int_in(low, high), default=None,
        help=f"nesting levels recorded, {low} to {high} (default 128)",
    )  # fmt: skip
    low, high = (int(x) for x in LIMIT_RANGES["max-nodes"])
    p.add_argument(
        "--max-nodes", type=_int_in(low, high), default=None, metavar="N",
        help="nodes indexed per file before the walk stops with NODE_LIMIT_EXCEEDED "
        "(about 61 bytes of memory each; default 4194304)",
    )  # fmt: skip
    lo, hi = LIMIT_RANGES["max-inflate-ratio"]
    p.add_argument(
        "--max-inflate-ratio", type=_number_in(lo, hi), default=None, metavar="R",
        help="a deflated data set may inflate to R times its file's size (and at least 64 MiB) "
        "before DEFLATE_STREAM_INVALID; no temporary file grows past it (default 64)",
    )  # fmt: skip


def _number_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from ``low`` to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:  # also false for nan
            raise argparse.ArgumentTypeError(f"must be a number from {low:g} to {high:g}")
        return value

    return parse


def _limits(args: argparse.Namespace) -> Limits:
    """The limits the dump and view command lines give (validate's go through its config)."""
    from dcmstruct.index import Limits

    default = Limits()
    return Limits(
        max_depth=args.max_depth or default.max_depth,
        max_nodes=args.max_nodes or default.max_nodes,
        inflate_ratio=args.max_inflate_ratio or default.inflate_ratio,
    )


def _cmd_dump(args: argparse.Namespace) -> int:
    from dcmstruct.dump import write_jsonl, write_text
    from dcmstruct.source import SourceChanged

    try:
        index = _open_index(args)
    except (OSError, ValueError) as exc:
        print(f"dcmstruct dump: {_reason(exc)}", file=sys.stderr)
        return EXIT_USAGE
    with index:
        try:
            if args.format == "jsonl":
                write_jsonl(index, sys.stdout)
            else:
                write_text(index, sys.stdout, width=args.width)
            # A dump of bytes that are no longer the file's would mislead (a file still being
            # written, or replaced): say so, and exit 2 as for an unreadable file.
            index.check_unchanged()
        except SourceChanged as exc:
            sys.stdout.flush()
            print(f"dcmstruct dump: {_reason(exc)}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def _open_index(args: argparse.Namespace) -> ElementIndex:
    """The index of dump's FILE: a regular file, standard input (spooled), or the sample.
    Raises ``OSError`` (the file cannot be read as one) or ``ValueError`` (a bad limit)."""
    from dcmstruct.index import index_file, index_source
    from dcmstruct.sample import sample_path
    from dcmstruct.source import Source
    from dcmstruct.spool import spool, stdin_limit

    limits = _limits(args)
    if args.file == STDIN_NAME:
        spooled = spool(_stdin(), stdin_limit(args.stdin_limit))
        try:
            src = Source.open(spooled)
        finally:
            os.unlink(spooled)  # the open file lives on; nothing is left behind
        src.identity = None  # a private copy: nothing can change it, and it has no path now
        try:
            return index_source(
                src,
                path=STDIN_NAME,
                max_depth=limits.max_depth,
                max_nodes=limits.max_nodes,
                inflate_ratio=limits.inflate_ratio,
            )
        except BaseException:
            src.close()
            raise
    if args.stdin_limit is not None:
        stdin_limit(args.stdin_limit)  # checked even when unused: a typo should not wait
    path = Path(args.file) if args.file else sample_path()
    if not args.file:
        print(f"# no FILE given: the bundled sample {terminal_safe(str(path))}", file=sys.stderr)
    return index_file(
        path,
        max_depth=limits.max_depth,
        max_nodes=limits.max_nodes,
        inflate_ratio=limits.inflate_ratio,
    )


def _stdin() -> BinaryIO:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise SpoolError(0, "standard input is closed")
    return stream  # type: ignore[no-any-return]


def _reason(exc: BaseException) -> str:
    """One line for stderr: ``PATH: why`` (safe for a terminal), or the message."""
    if isinstance(exc, OSError):
        why = exc.strerror or str(exc)
        if isinstance(exc, SpoolError):
            return terminal_safe(f"{STDIN_NAME}: {why}")
        name = exc.filename
        return terminal_safe(f"{name}: {why}" if name is not None else why)
    return terminal_safe(str(exc))


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
    from dcmstruct.validate.config import ConfigError, Flags, resolve
    from dcmstruct.validate.registry import load_all

    rules = load_all()
    limit = 0
    if args.stdin_limit is not None or STDIN_NAME in args.paths:
        from dcmstruct.spool import stdin_limit

        try:
            limit = stdin_limit(args.stdin_limit)
        except ValueError as exc:
            print(f"dcmstruct validate: {terminal_safe(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
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
        return EXIT_USAGE
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
    from dcmstruct.validate.batch import Target

    try:
        spooled = spool(_stdin(), limit)
    except SpoolError as exc:
        return Target(STDIN_NAME, exc.strerror or str(exc)), None
    return Target(spooled, label=STDIN_NAME), spooled


def _validate(
    args: argparse.Namespace, rules: Mapping[str, Rule], settings: Settings, stdin: Target | None
) -> int:
    from dcmstruct.report import ReportOptions, Summary, make_writer, rule_runs, use_color
    from dcmstruct.validate.batch import iter_targets, run_batch
    from dcmstruct.validate.config import environment_jobs

    if args.output:
        try:
            out: TextIO = open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            why = exc.strerror or str(exc)
            print(f"dcmstruct validate: {terminal_safe(f'{args.output}: {why}')}", file=sys.stderr)
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
            progress = _Progress(sys.stderr, _count(args.paths, stdin))
        jobs = settings.jobs or environment_jobs()
        for report in run_batch(iter_targets(args.paths, stdin), selection, jobs):
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

    path = terminal_safe(display_path(report.path))
    if report.error is not None and fmt != "text":
        why = terminal_safe(report.error)
        print(f"dcmstruct validate: {path}: cannot read: {why}", file=sys.stderr)
    for text in report.internal:
        note = "internal error (a bug: please report it)"
        print(f"dcmstruct validate: {path}: {note}:\n{_safe_lines(text)}", file=sys.stderr)


def _safe_lines(text: str) -> str:
    """A traceback, line by line made safe (it quotes file names and values)."""
    return "\n".join(terminal_safe(line) for line in text.splitlines())


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


def _count(paths: Sequence[str], stdin: Target | None) -> int:
    from dcmstruct.validate.batch import iter_targets

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
            return _cmd_view(args)
    except BrokenPipeError:
        # `dcmstruct dump big.dcm | head` is normal use, not an error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        import traceback

        print(_safe_lines(traceback.format_exc()), file=sys.stderr)
        print(f"dcmstruct: internal error: {terminal_safe(repr(exc))}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_USAGE


def _cmd_view(args: argparse.Namespace) -> int:
    problem = view_problem(args.file)
    if problem is not None:
        print(f"dcmstruct view: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from dcmstruct.tui.app import run

    return run(args.file, mask=args.mask, bytes_per_row=args.row_width, limits=_limits(args))


def view_problem(file: str | None) -> str | None:
    """Why the viewer cannot open ``file`` (one line, safe for a terminal), or None. The
    viewer reads at offsets and keeps the file open: only a regular, readable file will do."""
    from dcmstruct.source import check_regular

    if file is None:
        return None
    if file == STDIN_NAME:
        return "- (standard input): the viewer needs a file; save the input to one first"
    try:
        check_regular(file)
        if not os.access(file, os.R_OK):
            raise PermissionError(13, "Permission denied", file)
    except OSError as exc:
        return _reason(exc if exc.filename is not None else OSError(0, str(exc), file))
    return None
