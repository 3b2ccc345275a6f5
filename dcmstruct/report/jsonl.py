"""JSON Lines for very large batches: one finding per line, written as it is found.

    {"file": "a.dcm", "rule": "ODD_VALUE_LENGTH", "severity": "error", "offset": 1234,
     "length": 19, "tag": "0010,0010", "path": "0008,1140[0]/0010,0010", "message": "..."}

Each line is the contract's finding object (``path`` is the nesting path, as everywhere) with
the file it belongs to in ``file``. Only findings are written: a file that cannot be read or
meets an internal error has no line here; the command says so on stderr and in its exit code.
"""

from __future__ import annotations

import json

from dcmstruct.report import Summary, Writer, display_path, finding_record
from dcmstruct.validate.engine import FileReport


class JsonlWriter(Writer):
    def file(self, report: FileReport) -> None:
        if not report.findings:
            return
        path = display_path(report.path)
        lines = [json.dumps({"file": path, **finding_record(f)}) for f in report.findings]
        self.out.write("\n".join(lines) + "\n")

    def finish(self, summary: Summary) -> None:
        self.out.flush()
