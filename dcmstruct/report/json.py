"""The contract's JSON document, written incrementally: the summary comes last.

    {"files": [
    {"path": "a.dcm", "findings": [{"rule": "ODD_VALUE_LENGTH", "severity": "error", ...}],
     "summary": {"error": 1, "warning": 0, "info": 0}},
    {"path": "b.dcm", "findings": [], "summary": {...}, "error": "No such file or directory"}
    ],
    "summary": {"files": 2, "error": 1, "warning": 0, "info": 0, "unreadable": 1, "internal": 0}}

Each file entry is one line. Beyond the contract's fields (``path``, ``findings``), an entry has
its own ``summary``, and ``error`` (why the file could not be read) or ``internal`` (bugs met)
when there are any; the document's summary adds ``unreadable`` and ``internal`` counts.
The output is ASCII: anything else is escaped.
"""

from __future__ import annotations

import json

from dcmstruct.report import Summary, Writer, display_path, file_summary, finding_record
from dcmstruct.safetext import clean
from dcmstruct.validate.engine import FileReport


def file_record(report: FileReport) -> dict[str, object]:
    """One entry of ``files``."""
    rec: dict[str, object] = {
        "path": display_path(report.path),
        "findings": [finding_record(f) for f in report.findings],
        "summary": file_summary(report),
    }
    if report.error is not None:
        rec["error"] = clean(report.error)
    if report.internal:
        rec["internal"] = [clean(text) for text in report.internal]
    return rec


def clean_record(report: FileReport) -> str:
    """``json.dumps(file_record(report))`` for a report with no finding, error or internal
    entry (most of a big batch), without building the record."""
    return f'{{"path": {json.dumps(display_path(report.path))}, "findings": [], {_NO_FINDINGS}}}'


_NO_FINDINGS = '"summary": {"error": 0, "warning": 0, "info": 0}'


class JsonWriter(Writer):
    _count = 0

    def file(self, report: FileReport) -> None:
        head = '{"files": [\n' if self._count == 0 else ",\n"
        self._count += 1
        clean = not report.findings and report.error is None and not report.internal
        self.out.write(head + (clean_record(report) if clean else json.dumps(file_record(report))))

    def finish(self, summary: Summary) -> None:
        head = '{"files": [' if self._count == 0 else "\n"
        self.out.write(f'{head}],\n"summary": {json.dumps(summary.contract())}}}\n')
        self.out.flush()
