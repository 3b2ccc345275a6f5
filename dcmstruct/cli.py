"""The ``dcmstruct`` command line: one parser for every command and flag, and the small
commands (``dump``, ``view``, ``rule``); ``validate`` runs in :mod:`dcmstruct.commands`.

Nothing heavy is imported here: each command imports what it uses when it runs, so
``dcmstruct --version`` or ``--help`` loads argparse and little else.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dcmstruct.commands.streams import reason, safe_lines, stdin_stream
from dcmstruct.exitcode import ExitCode
from dcmstruct.safetext import terminal_safe
from dcmstruct.spool import STDIN_LIMIT_ENV, STDIN_NAME

if TYPE_CHECKING:
    from dcmstruct.index import ElementIndex, Limits


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it: ``$COLUMNS``, else the
    terminal of standard output, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout at the width argparse would choose, found without importing
    shutil (and with it bz2, lzma and fnmatch): argparse makes a formatter for every flag it
    adds, so every command's start-up paid for that import."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


class _Parser(argparse.ArgumentParser):
    """argparse, with what it echoes of the command line made safe for the terminal (it
    quotes an unrecognized argument as given: a file name may hold ESC or a newline)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)  # subcommands' parsers too
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        super().error(terminal_safe(message))


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from dcmstruct.version import version

        print(f"dcmstruct {version()}")
        parser.exit()


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


_STDIN_HELP = (
    f"at most this many bytes of standard input (FILE -): 1073741824, 512M, 2G (default 1G, "
    f"or ${STDIN_LIMIT_ENV})"
)


def _parser() -> argparse.ArgumentParser:
    return _parsers()[0]


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command line, and the parser of each command by name."""
    p = _Parser(
        prog="dcmstruct", description="Hex-level structure explorer and validator for DICOM files."
    )
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="print the structure of a file, node by node, with offsets")
    d.add_argument(
        "file", nargs="?", help="the file to dump, - for standard input (default: the sample)"
    )
    d.add_argument("--format", choices=("text", "jsonl"), default="text")
    d.add_argument(
        "--mask",
        action="store_true",
        help="show no value of an identifying or private element, nor quote one (text format)",
    )
    d.add_argument(
        "--width",
        type=_int_in(8, 1024),
        default=48,
        help="value preview width, 8 to 1024 (text format; default 48)",
    )
    _limit_flags(d)
    d.add_argument("--stdin-limit", metavar="SIZE", help=_STDIN_HELP)
    _validate_parser(sub)
    _phi_parser(sub)
    _redact_parser(sub)
    _diff_parser(sub)
    _view_flags(
        sub.add_parser("view", help="explore a file in the terminal: hex, structure, findings")
    )
    r = sub.add_parser("rule", help="explain a validation rule, or list them all")
    r.add_argument("name", nargs="?", help="a rule name, e.g. ODD_VALUE_LENGTH")
    r.add_argument("--list", action="store_true", help="list every rule: name, severity, summary")
    return p, dict(sub.choices)


def _view_flags(w: argparse.ArgumentParser) -> None:
    """The viewer's command line, the same for ``dcmstruct view`` and ``python -m
    dcmstruct.tui``."""
    w.add_argument("file", nargs="?", help="the file to open (default: the bundled sample)")
    w.add_argument(
        "other",
        nargs="?",
        metavar="B",
        help="a second file: both side by side, moving together by path, differences marked",
    )
    w.add_argument("--mask", action="store_true", help="mask identifying values on screen")
    w.add_argument(
        "--mask-uids",
        action="store_true",
        help="with the mask, hide UIDs too (shown by default: one follows them); implies --mask",
    )
    w.add_argument("--row-width", type=int, choices=(8, 16, 32), default=None,
                   help="bytes per hex row (default 16)")  # fmt: skip
    w.add_argument(
        "--workspace",
        metavar="FILE",
        help="keep the workspace (cursor, named bookmarks, panes) in FILE: restored on open, "
        "saved on quit (default: one per file in the user's data directory)",
    )
    w.add_argument(
        "--no-workspace",
        action="store_true",
        help="neither restore nor save a workspace",
    )
    _limit_flags(w)
    w.set_defaults(command="view", prog=w.prog)  # the name its messages begin with


def _phi_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    v = sub.add_parser(
        "phi",
        help="list every identifying byte range (PS3.15 Basic Profile): offset, tag, action",
        description=(
            "List every byte range that the PS3.15 Basic Application Level Confidentiality "
            "Profile would remove, empty or replace (Table E.1-1), plus private attributes, a "
            "non-zero preamble, unparsed bytes and pixel data that may show burned-in text. "
            "Values are never printed. Exit code: 0 none found, 1 some, 2 usage error or a "
            "path that cannot be read, 3 internal error."
        ),
    )
    v.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    v.add_argument(
        "--format", choices=("text", "json", "jsonl"), help="text on a terminal, else json"
    )
    _option_flag(v)
    _limit_flags(v)


def _diff_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    d = sub.add_parser(
        "diff",
        help="compare two files by structure: added, removed, changed values, encoding",
        description=(
            "Compare A and B element by element, matched by path with item indices "
            "(0008,1140[1]/0008,1155). Each difference is added, removed, value (the decoded "
            "values differ) or encoding (the same value in other bytes: explicit/implicit VR, "
            "byte order, length form, padding, group lengths, transfer syntax), with offsets "
            "in both files. Exit code: 0 no added, removed or value difference, 1 some, 2 "
            "usage error or unreadable input, 3 internal error."
        ),
    )
    d.add_argument("a", metavar="A", help="the first file")
    d.add_argument("b", metavar="B", help="the second file")
    d.add_argument(
        "--format", choices=("text", "json", "jsonl"), help="text on a terminal, else json"
    )
    d.add_argument(
        "--ignore",
        action="append",
        metavar="TAGS",
        help="leave out these tags or keywords, and all they hold (comma-separated, repeatable)",
    )
    d.add_argument("--ignore-private", action="store_true", help="leave out private elements")
    d.add_argument(
        "--show-values",
        action="store_true",
        help="text: show the values of identifying attributes beside a value change too",
    )
    _limit_flags(d)


def _option_flag(p: argparse.ArgumentParser) -> None:
    """``--option NAME``: an option of the confidentiality profile, for phi and redact."""
    from dcmstruct.specdata import DEID_OPTIONS

    p.add_argument(
        "--option",
        action="append",
        choices=DEID_OPTIONS,
        metavar="NAME",
        help="a profile option of PS3.15 E.3 (repeatable): " + ", ".join(DEID_OPTIONS),
    )


def _redact_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    r = sub.add_parser(
        "redact",
        help="write a copy with every identifying range overwritten, structure and faults kept",
        description=(
            "Write OUT: IN with every range that 'dcmstruct phi' lists (same options) "
            "overwritten in place by bytes of the same length (same offsets, length fields "
            "and structural faults; a deflated data set is deflated again). Never writes over "
            "IN. Exit code: 0 written, 2 usage error or unreadable input, 3 internal error."
        ),
    )
    r.add_argument("input", metavar="IN", help="the file to redact")
    r.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write")
    _option_flag(r)
    r.add_argument("--report", metavar="FILE", help="write the changed ranges there (phi JSON)")
    _limit_flags(r)


def _validate_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    from dcmstruct.formats import FORMATS

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
        "--show-values",
        action="store_true",
        help="let messages about identifying attributes (PS3.15 E.1-1, private) quote values",
    )
    v.add_argument(
        "--mask",
        action="store_true",
        help="quote no value in any message (as the viewer's mask): for logs that leave the site",
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
    a = v.add_argument_group(
        "archive scale", "(a cluster needs the extra: pip install 'dcmstruct[distributed]')"
    )
    a.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help=(
            "run on the dask.distributed cluster of this scheduler (tcp://HOST:8786); also "
            "DCMSTRUCT_SCHEDULER or the config key scheduler. Workers read the files by "
            "their absolute paths"
        ),
    )
    a.add_argument(
        "--connect-timeout",
        type=float,
        metavar="SECONDS",
        default=30.0,
        help="how long to wait for the scheduler before giving up (exit 2; default 30)",
    )
    a.add_argument(
        "--local-cluster",
        type=int,
        metavar="N",
        default=None,
        help="start a dask LocalCluster of N worker processes here and run on it",
    )
    a.add_argument(
        "--list-on-workers",
        action="store_true",
        help="list directories on the cluster's workers (trees this machine walks slowly)",
    )
    a.add_argument(
        "--output-dir",
        metavar="DIR",
        default=None,
        help=(
            "write the report as sharded JSON Lines (and Parquet with pyarrow) with a "
            "manifest; a run given the same DIR again skips the files already done"
        ),
    )
    a.add_argument(
        "--prune",
        action="store_true",
        help="with --output-dir: take out the files of DIR this run's paths do not hold",
    )
    a.add_argument(
        "--shard-files",
        type=int,
        metavar="N",
        default=None,
        help="with --output-dir: files per shard (default 100,000)",
    )
    a.add_argument(
        "--device-summary",
        metavar="FILE",
        default=None,
        help="write findings by rule x Manufacturer / Model / Software Versions to FILE (JSON)",
    )


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


def _limits(args: argparse.Namespace) -> Limits:
    """The limits the dump and view command lines give (validate's go through its config)."""
    from dcmstruct.index import Limits

    default = Limits()
    return Limits(
        max_depth=args.max_depth or default.max_depth,
        max_nodes=args.max_nodes or default.max_nodes,
        inflate_ratio=args.max_inflate_ratio or default.inflate_ratio,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return _run(parse(sys.argv[1:] if argv is None else argv))


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed command line. When it starts with a command, that command's parser reads the
    rest directly (what the top-level parser would hand it, with the same result and the same
    messages): the top level would first collect every argument for it, which costs as much
    again as parsing them (``validate`` over 10,000 file names: 30 ms)."""
    top, commands = _parsers()
    command = commands.get(argv[0]) if argv else None
    if command is None:
        return top.parse_args(argv)
    args, extras = command.parse_known_args(argv[1:], argparse.Namespace(command=argv[0]))
    if extras:
        top.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def view_main(argv: Sequence[str] | None = None, prog: str = "python -m dcmstruct.tui") -> int:
    """The ``view`` command line on its own (``python -m dcmstruct.tui``): same flags, same
    checks, same exit codes as ``dcmstruct view``."""
    p = _Parser(prog=prog, description="Explore a DICOM file in the terminal.")
    _view_flags(p)
    return _run(p.parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "dump":
            return _cmd_dump(args)
        if args.command == "validate":
            from dcmstruct.commands.validate import run

            return run(args)
        if args.command == "redact":
            from dcmstruct.commands.redact import run as run_redact

            args.limits = _limits(args)
            return run_redact(args)
        if args.command == "phi":
            from dcmstruct.commands.phi import run as run_phi

            args.limits = _limits(args)
            return run_phi(args)
        if args.command == "diff":
            from dcmstruct.commands.diff import run as run_diff

            args.limits = _limits(args)
            return run_diff(args)
        if args.command == "rule":
            return _cmd_rule(args)
        if args.command == "view":
            return _cmd_view(args)
    except BrokenPipeError:
        # `dcmstruct dump big.dcm | head` is normal use, not an error.
        sys.stderr.close()
        return ExitCode.OK
    except Exception as exc:
        import traceback

        print(safe_lines(traceback.format_exc()), file=sys.stderr)
        print(f"dcmstruct: internal error: {terminal_safe(repr(exc))}", file=sys.stderr)
        return ExitCode.INTERNAL
    return ExitCode.USAGE


# -- dump ---------------------------------------------------------------------------------


def _cmd_dump(args: argparse.Namespace) -> ExitCode:
    from dcmstruct.dump import write_jsonl, write_text
    from dcmstruct.source import SourceChanged

    try:
        index = _open_index(args)
    except (OSError, ValueError) as exc:
        print(f"dcmstruct dump: {reason(exc)}", file=sys.stderr)
        return ExitCode.USAGE
    with index:
        try:
            if args.format == "jsonl":
                write_jsonl(index, sys.stdout)
            else:
                write_text(index, sys.stdout, width=args.width, mask=args.mask)
            # A dump of bytes that are no longer the file's would mislead (a file still being
            # written, or replaced): say so, and exit 2 as for an unreadable file.
            index.check_unchanged()
        except SourceChanged as exc:
            sys.stdout.flush()
            print(f"dcmstruct dump: {reason(exc)}", file=sys.stderr)
            return ExitCode.USAGE
    return ExitCode.OK


def _open_index(args: argparse.Namespace) -> ElementIndex:
    """The index of dump's FILE: a regular file, standard input (spooled), or the sample.
    Raises ``OSError`` (the file cannot be read as one) or ``ValueError`` (a bad limit)."""
    from dcmstruct.index import index_file, index_source
    from dcmstruct.sample import sample_path
    from dcmstruct.source import Source
    from dcmstruct.spool import spool, stdin_limit

    limits = _limits(args)
    if args.file == STDIN_NAME:
        spooled = spool(stdin_stream(), stdin_limit(args.stdin_limit))
        try:
            src = Source.open(spooled)
        finally:
            os.unlink(spooled)  # the open file lives on; nothing is left behind
        src.identity = None  # a private copy: nothing can change it, and it has no path now
        return index_source(
            src,
            path=STDIN_NAME,
            max_depth=limits.max_depth,
            max_nodes=limits.max_nodes,
            inflate_ratio=limits.inflate_ratio,
        )
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


# -- rule ---------------------------------------------------------------------------------


def _cmd_rule(args: argparse.Namespace) -> ExitCode:
    from dcmstruct.commands.config import unknown_rule_message
    from dcmstruct.validate.registry import load_all

    rules = load_all()
    if args.list:
        if args.name:
            print("dcmstruct rule: give a NAME or --list, not both", file=sys.stderr)
            return ExitCode.USAGE
        width = max((len(n) for n in rules), default=4)
        for name in sorted(rules):
            r = rules[name]
            print(f"{name:<{width}}  {r.severity.label:<7}  {r.summary.strip()}")
        if not rules:
            print("dcmstruct rule: no rule is registered", file=sys.stderr)
        return ExitCode.OK
    if not args.name:
        print("dcmstruct rule: give a rule NAME, or --list", file=sys.stderr)
        return ExitCode.USAGE
    rule = rules.get(args.name.upper())
    if rule is None:
        print(f"dcmstruct rule: {unknown_rule_message(args.name, rules)}", file=sys.stderr)
        return ExitCode.USAGE
    print(rule.doc(), end="")
    return ExitCode.OK


# -- view ---------------------------------------------------------------------------------


def _cmd_view(args: argparse.Namespace) -> int:
    for file in (args.file, args.other):
        problem = view_problem(file)
        if problem is not None:
            print(f"{args.prog}: {problem}", file=sys.stderr)
            return ExitCode.USAGE
    if args.other is not None:
        from dcmstruct.tui.compare import run as run_compare

        if args.workspace is not None:
            print(
                f"{args.prog}: --workspace keeps one file's workspace, not A B's", file=sys.stderr
            )
            return ExitCode.USAGE

        return run_compare(
            args.file,
            args.other,
            mask=args.mask,
            mask_uids=args.mask_uids,
            bytes_per_row=args.row_width,
            limits=_limits(args),
            prog=args.prog,
        )
    from dcmstruct.tui.app import run

    return run(
        args.file,
        mask=args.mask,
        bytes_per_row=args.row_width,
        limits=_limits(args),
        mask_uids=args.mask_uids,
        workspace=args.workspace,
        keep_workspace=not args.no_workspace,
    )


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
        return reason(exc if exc.filename is not None else OSError(0, str(exc), file))
    return None
