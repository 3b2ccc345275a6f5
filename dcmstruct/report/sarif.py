"""SARIF 2.1.0 (OASIS), for code-scanning dashboards: one run, the rules that ran, one result
per finding located by ``region.byteOffset``/``byteLength`` in the file.

Streaming: the log's head (tool, rules) is written first, then results as files arrive; files
that could not be read and internal errors go into ``invocations`` at the end, as
``toolExecutionNotifications`` (``executionSuccessful`` is false if there are any).

Relative paths are written as relative URIs against ``%SRCROOT%`` (the working directory, in
``originalUriBaseIds``); absolute paths as ``file:`` URIs. A finding inside a deflated data set
has no byte region in the file: its result carries ``properties.stream = "inflated"`` and the
offset/length in the inflated stream instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from dcmstruct.model import Stream
from dcmstruct.report import ReportOptions, RuleRun, Summary, Writer, display_path
from dcmstruct.safetext import clean
from dcmstruct.validate.engine import FileReport
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.version import version

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# RFC 3986 pchar, plus "/" between segments.
_SAFE = "/:@!$&'()*+,;=-._~"


def artifact_location(path: str) -> dict[str, str]:
    """A SARIF artifactLocation for a file path: relative URI against %SRCROOT%, or file: URI.
    The path's raw bytes are percent-encoded, so a name that is not UTF-8 survives."""
    raw = os.fsencode(path)
    if os.sep != "/":
        raw = raw.replace(os.fsencode(os.sep), b"/")
    if os.path.isabs(path):
        uri = quote(raw, safe=_SAFE)
        return {"uri": "file://" + ("" if uri.startswith("/") else "/") + uri}
    uri = quote(raw, safe=_SAFE)
    first = uri.split("/", 1)[0]
    if ":" in first:  # "a:b.dcm" would read as a URI scheme
        uri = "./" + uri
    return {"uri": uri, "uriBaseId": SRCROOT}


def rule_descriptor(run: RuleRun) -> dict[str, object]:
    r = run.rule
    return {
        "id": r.name,
        "shortDescription": {"text": r.summary.strip()},
        "fullDescription": {"text": f"{r.summary.strip().rstrip('.')}. {' '.join(r.why.split())}"},
        "help": {"text": r.doc()},
        "defaultConfiguration": {"level": LEVELS[run.severity]},
        "properties": {"standard": r.standard, "family": r.module.rsplit(".", 1)[-1]},
    }


class SarifWriter(Writer):
    def __init__(self, out: TextIO, options: ReportOptions | None = None) -> None:
        super().__init__(out, options)
        self._started = False
        self._rule_index: dict[str, int] = {}
        self._results = 0
        self._notifications: list[dict[str, object]] = []

    def start(self, rules: Sequence[RuleRun]) -> None:
        self._started = True
        self._rule_index = {run.name: i for i, run in enumerate(rules)}
        root = Path.cwd().as_uri().rstrip("/") + "/"
        driver = {
            "name": "dcmstruct",
            "version": self.options.tool_version or version(),
            "rules": [rule_descriptor(run) for run in rules],
        }
        run_head = {
            "tool": {"driver": driver},
            "originalUriBaseIds": {SRCROOT: {"uri": root}},
        }
        head = json.dumps(run_head)[:-1]  # reopen the run object to stream its results
        self.out.write(
            f'{{"$schema": {json.dumps(SCHEMA_URI)}, "version": "2.1.0", "runs": [\n'
            f'{head}, "results": ['
        )
        self.out.flush()

    def result(self, location: dict[str, str], f: Finding) -> dict[str, object]:
        physical: dict[str, object] = {"artifactLocation": location}
        properties: dict[str, object] = {"tag": f.tag_text, "path": clean(f.path)}
        if f.stream == Stream.INFLATED:
            properties.update(stream="inflated", inflatedOffset=f.offset, inflatedLength=f.length)
        else:
            region: dict[str, int] = {"byteOffset": f.offset}
            if f.length > 0:
                region["byteLength"] = f.length
            physical["region"] = region
        loc: dict[str, object] = {"physicalLocation": physical}
        if f.path:
            loc["logicalLocations"] = [{"fullyQualifiedName": clean(f.path), "kind": "element"}]
        res: dict[str, object] = {
            "ruleId": f.rule,
            "level": LEVELS[f.severity],
            "message": {"text": clean(f.message) or f.rule},
            "locations": [loc],
            "properties": properties,
        }
        if f.rule in self._rule_index:
            res["ruleIndex"] = self._rule_index[f.rule]
        return res

    def file(self, report: FileReport) -> None:
        if not self._started:
            self.start([])
        location = artifact_location(report.path)
        if report.error is not None:
            error = clean(report.error)
            self._notify(location, f"{display_path(report.path)}: cannot read: {error}")
        for text in report.internal:
            self._notify(location, f"{display_path(report.path)}: internal error: {clean(text)}")
        if not report.findings:
            return
        parts = []
        for f in report.findings:
            sep = "\n" if self._results == 0 else ",\n"
            parts.append(sep + json.dumps(self.result(location, f)))
            self._results += 1
        self.out.write("".join(parts))

    def _notify(self, location: dict[str, str], text: str) -> None:
        self._notifications.append(
            {
                "level": "error",
                "message": {"text": text},
                "locations": [{"physicalLocation": {"artifactLocation": location}}],
            }
        )

    def finish(self, summary: Summary) -> None:
        if not self._started:
            self.start([])
        invocation = {
            "executionSuccessful": not self._notifications,
            "toolExecutionNotifications": self._notifications,
            "properties": {"summary": summary.contract()},
        }
        self.out.write(f'\n], "invocations": [{json.dumps(invocation)}]}}\n]}}\n')
        self.out.flush()
