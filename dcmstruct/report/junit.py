"""JUnit XML for CI dashboards (GitLab, Jenkins): one ``testsuite`` per file.

Inside a file's suite there is one ``testcase`` per rule that found something (``classname`` =
the file, ``name`` = the rule): a ``failure`` if any of its findings is at or above
``--fail-on``, else a passing case whose findings are listed in ``system-out``. A file with no
finding has one passing case named ``no findings``; a file that cannot be read, or met an
internal error, has a case with an ``error``. Every finding of the case is a line of the
failure text: ``0xOFFSET severity: message (nesting)``.

Streaming: the root ``testsuites`` element carries no totals (they are not known until the
end; GitLab and Jenkins add the suites up). The output is ASCII XML 1.0: characters XML cannot
hold are written as ``\\xNN``, anything else outside ASCII as a character reference.
"""

from __future__ import annotations

import re

from dcmstruct.model import Stream
from dcmstruct.report import Summary, Writer, display_path
from dcmstruct.safetext import clean
from dcmstruct.validate.engine import FileReport
from dcmstruct.validate.finding import Finding

_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _legal(text: str) -> str:
    return _INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", clean(text))


def xml_text(text: str) -> str:
    """Element content: escaped, XML 1.0 legal, ASCII."""
    text = _legal(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def xml_attr(text: str) -> str:
    """An attribute value with its quotes; newlines and tabs survive as references."""
    text = xml_text(text).replace('"', "&quot;")
    return '"' + text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;") + '"'


def finding_text(f: Finding) -> str:
    where = f"inflated+{f.offset:#x}" if f.stream == Stream.INFLATED else f"{f.offset:#x}"
    nesting = f" ({f.path})" if f.path else ""
    return f"{where} {f.severity.label}: {f.message}{nesting}"


class JunitWriter(Writer):
    _started = False

    def _head(self) -> None:
        if not self._started:
            self._started = True
            self.out.write(
                '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="dcmstruct validate">\n'
            )

    def file(self, report: FileReport) -> None:
        self._head()
        path = display_path(report.path)
        cls = xml_attr(path)
        cases: list[str] = []
        failures = errors = 0
        if report.error is not None:
            errors += 1
            cases.append(
                f'    <testcase classname={cls} name="read" file={cls}>\n'
                f"      <error message={xml_attr('cannot read: ' + report.error)} "
                f'type="unreadable"/>\n    </testcase>\n'
            )
        for text in report.internal:
            errors += 1
            first = text.strip().splitlines()[0] if text.strip() else "internal error"
            cases.append(
                f'    <testcase classname={cls} name="internal error" file={cls}>\n'
                f'      <error message={xml_attr(first)} type="internal">{xml_text(text)}'
                "</error>\n    </testcase>\n"
            )
        by_rule: dict[str, list[Finding]] = {}
        for f in report.findings:
            by_rule.setdefault(f.rule, []).append(f)
        for rule, findings in sorted(by_rule.items()):
            body = xml_text("\n".join(finding_text(f) for f in findings))
            failing = [f for f in findings if f.severity >= self.options.fail_on]
            head = f"    <testcase classname={cls} name={xml_attr(rule)} file={cls}>\n"
            if failing:
                failures += 1
                n = len(findings)
                message = f"{n} finding{'s' if n > 1 else ''}: {failing[0].message}"
                cases.append(
                    f"{head}      <failure message={xml_attr(message)} type={xml_attr(rule)}>"
                    f"{body}</failure>\n    </testcase>\n"
                )
            else:
                cases.append(f"{head}      <system-out>{body}</system-out>\n    </testcase>\n")
        if not cases:
            cases.append(f'    <testcase classname={cls} name="no findings" file={cls}/>\n')
        self.out.write(
            f'  <testsuite name={cls} tests="{len(cases)}" failures="{failures}" '
            f'errors="{errors}" skipped="0">\n' + "".join(cases) + "  </testsuite>\n"
        )

    def finish(self, summary: Summary) -> None:
        self._head()
        self.out.write("</testsuites>\n")
        self.out.flush()
