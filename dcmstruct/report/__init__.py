"""Report writers for ``dcmstruct validate``: one module per format, every one streaming.

A writer is told which rules run (:meth:`Writer.start`), then gets one
:class:`~dcmstruct.validate.engine.FileReport` at a time as the batch produces them
(:meth:`Writer.file`), then the totals (:meth:`Writer.finish`). It writes as it goes and keeps
no report once written, so a batch of 100,000 files never sits in memory.

Formats (``--format``):

- ``text``: one line per finding, ``path:0xOFFSET: severity RULE: message (nesting)``, a
  summary line per file, totals; colored on a terminal.
- ``json``: the contract's document ``{"files": [...], "summary": {...}}``, written file by
  file (one file entry per line), the summary last.
- ``jsonl``: one finding per line, with the file in ``file`` and the nesting in ``path``.
- ``sarif``: SARIF 2.1.0, one run, results with byteOffset/byteLength regions.
- ``junit``: JUnit XML, one testsuite per file, one testcase per rule that found something.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple, TextIO

from dcmstruct.exitcode import ExitCode
from dcmstruct.formats import FORMATS
from dcmstruct.model import Stream
from dcmstruct.safetext import clean
from dcmstruct.validate.finding import Finding, Severity

if TYPE_CHECKING:
    from dcmstruct.validate.engine import FileReport
    from dcmstruct.validate.registry import Rule

# format -> (module, class): only the writer asked for is imported. Its keys are FORMATS
# (tests/test_reports.py checks).
_WRITERS = {
    "text": ("text", "TextWriter"),
    "json": ("json", "JsonWriter"),
    "jsonl": ("jsonl", "JsonlWriter"),
    "sarif": ("sarif", "SarifWriter"),
    "junit": ("junit", "JunitWriter"),
}


class ReportOptions(NamedTuple):
    fail_on: Severity = Severity.ERROR  # findings at or above it fail (junit failures, exit 1)
    color: bool = False  # text: ANSI colors
    tool_version: str | None = None  # None: the installed package's (dcmstruct.version)


class RuleRun(NamedTuple):
    """A rule that runs in this batch, with the severity it reports at (config overrides)."""

    rule: Rule
    severity: Severity

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass
class Summary:
    """Totals over the files written so far: the contract's summary, plus extensions."""

    files: int = 0
    error: int = 0
    warning: int = 0
    info: int = 0
    unreadable: int = 0  # files that could not be read at all (exit code 2)
    internal: int = 0  # files where a bug was met (exit code 3)
    failing: int = 0  # files with a finding at or above --fail-on
    fail_on: Severity = Severity.ERROR

    def add(self, report: FileReport) -> None:
        self.files += 1
        if not report.findings and report.error is None and not report.internal:
            return
        counts = severity_counts(report.findings)
        self.error += counts[Severity.ERROR]
        self.warning += counts[Severity.WARNING]
        self.info += counts[Severity.INFO]
        if report.error is not None:
            self.unreadable += 1
        if report.internal:
            self.internal += 1
        if any(f.severity >= self.fail_on for f in report.findings):
            self.failing += 1

    def contract(self) -> dict[str, int]:
        """The contract's summary object (``files``, ``error``, ``warning``, ``info``) and the
        extensions ``unreadable`` and ``internal``."""
        return {
            "files": self.files,
            "error": self.error,
            "warning": self.warning,
            "info": self.info,
            "unreadable": self.unreadable,
            "internal": self.internal,
        }

    def exit_code(self) -> ExitCode:
        """INTERNAL (3) if a bug was met, else USAGE (2) if a path could not be read, else
        FINDINGS (1) if a finding is at or above --fail-on, else OK (0). Counts never go into
        the exit code."""
        if self.internal:
            return ExitCode.INTERNAL
        if self.unreadable:
            return ExitCode.USAGE
        return ExitCode.FINDINGS if self.failing else ExitCode.OK


_SEVERITIES = tuple(Severity)
# Highest first, as the per-file summaries list them, with their labels.
_DESCENDING = tuple((s, s.label) for s in sorted(Severity, reverse=True))


def severity_counts(findings: Sequence[Finding]) -> dict[Severity, int]:
    counts = dict.fromkeys(_SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts


def display_path(path: str) -> str:
    """A path for the formats that escape control characters themselves (JSON, SARIF, JUnit):
    only its undecodable bytes are written as ``\\xNN``. Text for a terminal uses
    :func:`dcmstruct.safetext.terminal_safe` instead."""
    return clean(path)


def finding_record(f: Finding) -> dict[str, object]:
    """The contract's finding object: ``rule``, ``severity``, ``offset``, ``length``, ``tag``,
    ``path``, ``message``; and ``"stream": "inflated"`` for a finding inside a deflated data
    set (its offset then counts from the start of the inflated stream)."""
    rec: dict[str, object] = {
        "rule": f.rule,
        "severity": f.severity.label,
        "offset": f.offset,
        "length": f.length,
        "tag": f.tag_text,
        "path": clean(f.path),
        "message": clean(f.message),
    }
    if f.stream == Stream.INFLATED:
        rec["stream"] = "inflated"
    return rec


def file_summary(report: FileReport) -> dict[str, int]:
    if not report.findings:
        return {label: 0 for _, label in _DESCENDING}
    counts = severity_counts(report.findings)
    return {label: counts[s] for s, label in _DESCENDING}


class Writer(ABC):
    """Writes one report format to ``out`` as file reports arrive."""

    def __init__(self, out: TextIO, options: ReportOptions | None = None) -> None:
        self.out = out
        self.options = options or ReportOptions()

    def start(self, rules: Sequence[RuleRun]) -> None:  # noqa: B027 - optional hook
        """Called once, before the first file, with the rules that run."""

    def flush(self) -> None:
        """Push what is written to the consumer (the batch calls it when no report is ready:
        a consumer sees each report once it is done, without a system call per file)."""
        self.out.flush()

    @abstractmethod
    def file(self, report: FileReport) -> None:
        """Write one file's report (buffered: :meth:`flush` and :meth:`finish` push it)."""

    @abstractmethod
    def finish(self, summary: Summary) -> None:
        """Close the document with the totals."""


def make_writer(fmt: str, out: TextIO, options: ReportOptions | None = None) -> Writer:
    """The writer of format ``fmt`` (one of :data:`FORMATS`)."""
    try:
        module, name = _WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    cls: type[Writer] = getattr(import_module(f"{__name__}.{module}"), name)
    return cls(out, options)


def rule_runs(
    rules: Mapping[str, Rule],
    enabled: Sequence[str] | None = None,
    severities: Mapping[str, Severity] | None = None,
) -> list[RuleRun]:
    """The rules that run (``enabled``: names, default all) with their effective severity,
    sorted by name."""
    severities = severities or {}
    names = sorted(rules) if enabled is None else sorted(n for n in enabled if n in rules)
    return [RuleRun(rules[n], severities.get(n, rules[n].severity)) for n in names]


def use_color(stream: TextIO, mode: str = "auto") -> bool:
    """Whether to color ``stream``: ``always``, ``never``, or ``auto`` (a terminal, unless
    NO_COLOR is set or TERM is dumb; FORCE_COLOR forces it)."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


__all__ = [
    "FORMATS",
    "ReportOptions",
    "RuleRun",
    "Summary",
    "Writer",
    "clean",
    "display_path",
    "file_summary",
    "finding_record",
    "make_writer",
    "rule_runs",
    "severity_counts",
    "use_color",
]
