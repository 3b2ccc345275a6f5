"""The human format: one line per finding, a summary line per file, totals.

    a.dcm:0x4d2: error ODD_VALUE_LENGTH: VL 11 is odd (0008,1140[0]/0010,0010)
    a.dcm: 1 error, 0 warnings, 0 info
    b.dcm: no findings
    c.dcm: cannot read: No such file or directory

    3 files: 1 error, 0 warnings, 0 info; 1 file could not be read

A finding inside a deflated data set shows its offset in the inflated stream as
``inflated+0xOFFSET``. Colors (severity, rule name) only when asked (a terminal by default).

Every string that comes from a file or a file name (path, message, nesting path, read error)
goes through :func:`~dcmstruct.safetext.terminal_safe` here, at the output edge, whatever its
builder did: a value or a file name cannot move the cursor, retitle the terminal or split a
finding's line, and the only escape sequences written are this module's own colors.
"""

from __future__ import annotations

from dcmstruct.model import Stream
from dcmstruct.report import Summary, Writer, severity_counts
from dcmstruct.safetext import terminal_safe
from dcmstruct.validate.engine import FileReport
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.wording import count

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_COLORS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}
_GREEN = "\x1b[32m"


def counts_text(error: int, warning: int, info: int) -> str:
    return f"{count(error, 'error')}, {count(warning, 'warning')}, {count(info, 'info')}"


class TextWriter(Writer):
    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.options.color else text

    def finding_line(self, path: str, f: Finding) -> str:
        where = f"inflated+{f.offset:#x}" if f.stream == Stream.INFLATED else f"{f.offset:#x}"
        nesting = f" {self._c(_DIM, '(' + terminal_safe(f.path) + ')')}" if f.path else ""
        return (
            f"{path}:{where}: {self._c(_COLORS[f.severity], f.severity.label)} "
            f"{self._c(_BOLD, f.rule)}: {terminal_safe(f.message)}{nesting}"
        )

    def file(self, report: FileReport) -> None:
        path = terminal_safe(report.path)
        lines = [self.finding_line(path, f) for f in report.findings]
        if report.error is not None:
            label = self._c(_COLORS[Severity.ERROR], "cannot read")
            lines.append(f"{path}: {label}: {terminal_safe(report.error)}")
        for text in report.internal:
            first = terminal_safe(text.strip().splitlines()[0]) if text.strip() else "?"
            label = self._c(_COLORS[Severity.ERROR], "internal error")
            lines.append(f"{path}: {label}: {first} (a bug in dcmstruct: please report it)")
        if report.error is None:
            counts = severity_counts(report.findings)
            if report.findings:
                text = counts_text(
                    counts[Severity.ERROR], counts[Severity.WARNING], counts[Severity.INFO]
                )
                failing = any(f.severity >= self.options.fail_on for f in report.findings)
                color = _COLORS[Severity.ERROR] if failing else _COLORS[Severity.WARNING]
                lines.append(f"{path}: {self._c(color, text)}")
            elif not report.internal:
                lines.append(f"{path}: {self._c(_GREEN, 'no findings')}")
        self.out.write("\n".join(lines) + "\n")

    def finish(self, summary: Summary) -> None:
        text = (
            f"{count(summary.files, 'file')}: "
            f"{counts_text(summary.error, summary.warning, summary.info)}"
        )
        if summary.unreadable:
            text += f"; {count(summary.unreadable, 'file')} could not be read"
        if summary.internal:
            text += f"; internal errors in {count(summary.internal, 'file')}"
        self.out.write("\n" + self._c(_BOLD, text) + "\n")
        self.out.flush()
