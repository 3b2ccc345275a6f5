"""`dcmstruct validate` and `dcmstruct rule`: exit codes, flags, config files, batches."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcmstruct import cli
from dcmstruct.builder import E, part10
from dcmstruct.commands import batch
from dcmstruct.commands.batch import Target, iter_targets, run_batch
from dcmstruct.commands.config import ConfigError, Flags, find_config, resolve
from dcmstruct.validate.context import Context
from dcmstruct.validate.engine import FileReport
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import REGISTRY, SCREENS, load_all
from fixtures.rule_fixtures.base import ct_dataset

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULES = load_all()

CLEAN = part10(ct_dataset())
TRAILING = CLEAN + b"\0"  # TRAILING_BYTES (error) at len(CLEAN)
INFO_ONLY = part10(ct_dataset(), preamble=b"\x01" * 128)  # PREAMBLE_NONZERO (info) at 0
# RESERVED_BYTES_NONZERO and VR_MISMATCH_DICTIONARY: warnings only
WARNING_ONLY = part10(ct_dataset(E("0008,0070", "UT", "ACME", reserved=1)))


def needs(*names: str) -> None:
    missing = [n for n in names if n not in RULES]
    assert not missing, f"rules these tests rely on are not registered: {missing}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(autouse=True)
def isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs in an empty directory: no config file of the checkout applies."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "dcmstruct.toml").write_text("")  # stops the upward search here
    monkeypatch.chdir(work)
    yield work


# -- exit codes ---------------------------------------------------------------------------


def test_clean_file_exits_0_and_writes_the_contract_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = write(tmp_path / "clean.dcm", CLEAN)
    code, out, _ = run(capsys, "validate", str(f), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["files"] == [
        {"path": str(f), "findings": [], "summary": {"error": 0, "warning": 0, "info": 0}}
    ]
    assert doc["summary"] == {
        "files": 1, "error": 0, "warning": 0, "info": 0, "unreadable": 0, "internal": 0
    }  # fmt: skip


def test_json_is_the_default_when_stdout_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = write(tmp_path / "clean.dcm", CLEAN)
    code, out, _ = run(capsys, "validate", str(f))
    assert code == 0
    assert set(json.loads(out)) == {"files", "summary"}


def test_a_finding_exits_1_with_the_contract_fields(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    needs("TRAILING_BYTES")
    f = write(tmp_path / "t.dcm", TRAILING)
    code, out, _ = run(capsys, "validate", str(f), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    (entry,) = doc["files"]
    assert entry["path"] == str(f)
    hit = next(x for x in entry["findings"] if x["rule"] == "TRAILING_BYTES")
    assert list(hit) == ["rule", "severity", "offset", "length", "tag", "path", "message"]
    assert hit["severity"] == "error"
    assert hit["offset"] == len(CLEAN)
    assert hit["length"] == 1
    assert doc["summary"]["files"] == 1
    assert doc["summary"]["error"] >= 1


def test_fail_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    needs("PREAMBLE_NONZERO", "RESERVED_BYTES_NONZERO")
    info = write(tmp_path / "info.dcm", INFO_ONLY)
    warning = write(tmp_path / "warning.dcm", WARNING_ONLY)
    assert run(capsys, "validate", str(info))[0] == 0
    assert run(capsys, "validate", str(info), "--fail-on", "warning")[0] == 0
    assert run(capsys, "validate", str(info), "--fail-on", "info")[0] == 1
    assert run(capsys, "validate", str(warning))[0] == 0
    assert run(capsys, "validate", str(warning), "--fail-on", "warning")[0] == 1
    assert run(capsys, "validate", str(warning), "--fail-on", "info")[0] == 1


def test_missing_path_exits_2_and_the_batch_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    needs("TRAILING_BYTES")
    bad = write(tmp_path / "bad.dcm", TRAILING)
    code, out, err = run(capsys, "validate", str(tmp_path / "nope.dcm"), str(bad))
    assert code == 2  # an unreadable path outranks findings
    doc = json.loads(out)
    assert [f["path"] for f in doc["files"]] == [str(tmp_path / "nope.dcm"), str(bad)]
    assert doc["files"][0]["error"] == "No such file or directory"
    assert doc["files"][1]["findings"]
    assert doc["summary"]["unreadable"] == 1
    assert "nope.dcm: cannot read: No such file or directory" in err


def test_dangling_symlink_and_fifo_are_unreadable_without_blocking(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Tests run as root, so chmod 000 cannot deny a read: a dangling link and a FIFO are
    # honest paths that cannot be read as a file. Opening the FIFO would block for ever.
    d = tmp_path / "d"
    d.mkdir()
    write(d / "a.dcm", CLEAN)
    (d / "dangling").symlink_to(d / "gone")
    os.mkfifo(d / "fifo")
    start = time.monotonic()
    code, out, _ = run(capsys, "validate", str(d), str(d / "fifo"), "-j", "1")
    assert time.monotonic() - start < 30
    assert code == 2
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert set(files) == {"a.dcm", "dangling", "fifo"}
    assert "error" not in files["a.dcm"]
    assert "dangling symbolic link" in files["dangling"]["error"]
    assert files["fifo"]["error"] == "not a regular file (a FIFO)"
    assert len(json.loads(out)["files"]) == 4  # the FIFO named twice is reported twice


def test_unreadable_directory_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    write(d / "a.dcm", CLEAN)
    real = os.listdir

    def listdir(path: str) -> list[str]:
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    targets = list(iter_targets([d]))
    assert targets == [Target(str(d / "a.dcm")), Target(str(d / "sub"), "Permission denied")]


def test_internal_error_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not any(r.check is not None for r in RULES.values()):
        pytest.skip("no check rule registered yet")
    name = next(n for n, r in sorted(RULES.items()) if r.check is not None)

    def boom(ctx: Context) -> list[Finding]:
        raise RuntimeError("a deliberate bug")

    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(REGISTRY[name], check=boom))
    # Without its screen the broken check runs on every file, clean ones too.
    monkeypatch.delitem(SCREENS, name, raising=False)
    f = write(tmp_path / "clean.dcm", CLEAN)
    other = write(tmp_path / "other.dcm", CLEAN)
    code, out, err = run(capsys, "validate", str(f), str(other), "-j", "1")
    assert code == 3
    doc = json.loads(out)
    assert len(doc["files"]) == 2
    assert "a deliberate bug" in doc["files"][0]["internal"][0]
    assert doc["summary"]["internal"] == 2
    assert "internal error" in err and "a deliberate bug" in err


def test_an_exception_outside_the_rules_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: object, selection: object = None) -> FileReport:
        raise ValueError("the index broke")

    monkeypatch.setattr("dcmstruct.commands.batch.open_index", broken)
    f = write(tmp_path / "clean.dcm", CLEAN)
    code, out, _ = run(capsys, "validate", str(f), "-j", "1")
    assert code == 3
    assert "the index broke" in json.loads(out)["files"][0]["internal"][0]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = write(tmp_path / "clean.dcm", CLEAN)
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", str(f), "--fail-on", "fatal"])
    assert exc.value.code == 2
    capsys.readouterr()
    if RULES:
        name = sorted(RULES)[0]
        code, out, err = run(capsys, "validate", str(f), "--select", name[:-1] + "X")
        assert code == 2
        assert out == ""
        assert f"did you mean {name}" in err
    code, _, err = run(capsys, "validate", str(f), "--ignore", "NO_SUCH_RULE_AT_ALL")
    assert code == 2 and "unknown rule 'NO_SUCH_RULE_AT_ALL'" in err
    code, _, err = run(capsys, "validate", str(f), "-j", "0")
    assert code == 2 and "--jobs" in err
    code, _, err = run(capsys, "validate", str(f), "--severity", "nonsense")
    assert code == 2 and "RULE=LEVEL" in err


# -- selection ----------------------------------------------------------------------------


def rules_of(out: str) -> set[str]:
    return {x["rule"] for f in json.loads(out)["files"] for x in f["findings"]}


def test_select_and_ignore(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    needs("ODD_VALUE_LENGTH", "TRAILING_BYTES")
    f = write(tmp_path / "odd.dcm", part10(ct_dataset(E("0008,0070", "LO", b"ACME1", length=5))))
    _, out, _ = run(capsys, "validate", str(f))
    everything = rules_of(out)
    assert {"ODD_VALUE_LENGTH", "TRAILING_BYTES"} <= everything
    code, out, _ = run(capsys, "validate", str(f), "--select", "ODD_VALUE_LENGTH")
    assert code == 1 and rules_of(out) == {"ODD_VALUE_LENGTH"}
    _, out, _ = run(capsys, "validate", str(f), "--select", "odd_value_length,TRAILING_BYTES")
    assert rules_of(out) == {"ODD_VALUE_LENGTH", "TRAILING_BYTES"}
    _, out, _ = run(
        capsys, "validate", str(f), "--select", "ODD_VALUE_LENGTH", "--select", "TRAILING_BYTES"
    )
    assert rules_of(out) == {"ODD_VALUE_LENGTH", "TRAILING_BYTES"}
    _, out, _ = run(capsys, "validate", str(f), "--ignore", "ODD_VALUE_LENGTH")
    assert rules_of(out) == everything - {"ODD_VALUE_LENGTH"}
    code, out, _ = run(capsys, "validate", str(f), "--ignore", ",".join(everything))
    assert code == 0 and rules_of(out) == set()


def test_severity_override_changes_findings_and_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    needs("TRAILING_BYTES")
    f = write(tmp_path / "t.dcm", TRAILING)
    code, out, _ = run(capsys, "validate", str(f), "--severity", "trailing_bytes=warning")
    assert code == 0
    (hit,) = [x for x in json.loads(out)["files"][0]["findings"] if x["rule"] == "TRAILING_BYTES"]
    assert hit["severity"] == "warning"


def test_severity_override_to_info(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    needs("TRAILING_BYTES")
    f = write(tmp_path / "t.dcm", TRAILING)
    code, out, _ = run(capsys, "validate", str(f), "--severity", "TRAILING_BYTES=info")
    (hit,) = [x for x in json.loads(out)["files"][0]["findings"] if x["rule"] == "TRAILING_BYTES"]
    assert hit["severity"] == "info"
    assert code == 0


# -- config files -------------------------------------------------------------------------


def test_config_file_precedence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs("PREAMBLE_NONZERO")
    f = write(tmp_path / "info.dcm", INFO_ONLY)
    project = tmp_path / "project"
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.dcmstruct]\nfail-on = "info"\nformat = "jsonl"\n'
    )
    (project / "a" / "pyproject.toml").write_text('[project]\nname = "no dcmstruct table"\n')
    monkeypatch.chdir(sub)
    assert find_config() == project / "pyproject.toml"
    code, out, _ = run(capsys, "validate", str(f))
    assert code == 1  # fail-on = "info" from two directories up
    assert json.loads(out.splitlines()[0])["rule"] == "PREAMBLE_NONZERO"  # format = "jsonl"
    # the command line wins over the file
    code, out, _ = run(capsys, "validate", str(f), "--fail-on", "error", "--format", "json")
    assert code == 0 and "summary" in json.loads(out)
    # --no-config reads nothing
    assert run(capsys, "validate", str(f), "--no-config")[0] == 0
    # a nearer dcmstruct.toml wins; in one directory dcmstruct.toml wins over pyproject.toml
    (project / "a" / "dcmstruct.toml").write_text('fail-on = "error"\n')
    assert find_config() == project / "a" / "dcmstruct.toml"
    assert run(capsys, "validate", str(f))[0] == 0
    (project / "a" / "b" / "pyproject.toml").write_text('[tool.dcmstruct]\nfail-on = "info"\n')
    (project / "a" / "b" / "dcmstruct.toml").write_text('fail-on = "warning"\n')
    assert find_config() == sub / "dcmstruct.toml"
    assert run(capsys, "validate", str(f))[0] == 0
    # --config names the file
    code, _, _ = run(capsys, "validate", str(f), "--config", str(sub / "pyproject.toml"))
    assert code == 1


def test_a_pyproject_table_is_found_however_it_is_spelled(tmp_path: Path) -> None:
    """A pyproject.toml that does not name dcmstruct is passed over unparsed; one that does,
    as a table, an inline table or a quoted key with an escape, is found."""
    spellings = [
        '[tool.dcmstruct]\nfail-on = "info"\n',
        '[tool]\ndcmstruct = { fail-on = "info" }\n',
        '[tool."dcm\\u0073truct"]\nfail-on = "info"\n',
    ]
    for n, text in enumerate(spellings):
        work = tmp_path / f"p{n}"
        work.mkdir()
        (work / "pyproject.toml").write_text(text)
        assert find_config(work) == work / "pyproject.toml", text
        assert resolve(Flags(), RULES, cwd=work).fail_on == Severity.INFO
    for n, text in enumerate(
        ["[tool.black]\nline-length = 99\n", '[tool.x]\ny = "dcm\\u0073truct"\n']
    ):
        other = tmp_path / f"other{n}"
        other.mkdir()
        (other / "pyproject.toml").write_text(text)
        assert find_config(other) != other / "pyproject.toml", text


def test_config_select_ignore_and_severity_table(tmp_path: Path) -> None:
    needs("TRAILING_BYTES", "ODD_VALUE_LENGTH", "PREAMBLE_NONZERO")
    (tmp_path / "pyproject.toml").write_text(
        "[tool.dcmstruct]\n"
        'select = ["trailing_bytes", "ODD_VALUE_LENGTH", "PREAMBLE_NONZERO"]\n'
        'ignore = "ODD_VALUE_LENGTH"\n'
        "jobs = 3\n"
        "[tool.dcmstruct.severity]\n"
        'PREAMBLE_NONZERO = "error"\n'
    )
    s = resolve(Flags(), RULES, cwd=tmp_path)
    assert s.selection.select == {"TRAILING_BYTES", "ODD_VALUE_LENGTH", "PREAMBLE_NONZERO"}
    assert set(s.selection.ignore) == {"ODD_VALUE_LENGTH"}
    assert s.selection.severities == {"PREAMBLE_NONZERO": Severity.ERROR}
    assert s.jobs == 3 and s.config == tmp_path / "pyproject.toml"
    # flags replace the file's select/ignore; --severity overrides per rule
    s = resolve(
        Flags(select=["TRAILING_BYTES"], ignore=[], severity=["PREAMBLE_NONZERO=info"]),
        RULES,
        cwd=tmp_path,
    )
    assert s.selection.select == {"TRAILING_BYTES"} and not s.selection.ignore
    assert s.selection.severities == {"PREAMBLE_NONZERO": Severity.INFO}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('selct = ["X"]\n', "unknown key 'selct'; did you mean select?"),
        ('fail-on = "fatal"\n', "'fatal' is not one of error, warning, info"),
        ('format = "xml"\n', "'xml' is not one of text"),
        ("jobs = 0\n", "jobs 0: must be a whole number from 1 to 1024"),
        ("select = 3\n", "expected a list of rule names"),
        ('select = ["NOT_A_RULE_NAME"]\n', "unknown rule 'NOT_A_RULE_NAME'"),
        ('[severity]\nNOT_A_RULE_NAME = "info"\n', "unknown rule 'NOT_A_RULE_NAME'"),
        ("this is not toml\n", "not valid TOML"),
    ],
)
def test_config_errors_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tmp_path / "dcmstruct.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"dcmstruct\.toml") as exc:
        resolve(Flags(), RULES, cwd=tmp_path)
    assert message in str(exc.value)
    f = write(tmp_path / "clean.dcm", CLEAN)
    code, out, err = run(capsys, "validate", str(f), "--config", str(tmp_path / "dcmstruct.toml"))
    assert code == 2 and out == "" and message in err


def test_severity_table_in_dcmstruct_toml(tmp_path: Path) -> None:
    needs("TRAILING_BYTES")
    (tmp_path / "dcmstruct.toml").write_text('[severity]\nTRAILING_BYTES = "info"\n')
    s = resolve(Flags(), RULES, cwd=tmp_path)
    assert s.selection.severities == {"TRAILING_BYTES": Severity.INFO}


# -- batches ------------------------------------------------------------------------------


def tree(root: Path) -> list[Path]:
    files = [
        write(root / "b" / "IM0001", CLEAN),  # no extension, as in a PACS folder
        write(root / "b" / "deeper" / "x.dcm", TRAILING),
        write(root / "a.dcm", INFO_ONLY),
        write(root / "c" / "notes.txt", b"not DICOM at all\n"),
    ]
    return files


def test_directories_are_walked_recursively_in_name_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    tree(root)
    (root / "empty").mkdir()
    code, out, _ = run(capsys, "validate", str(root), "-j", "1")
    names = [Path(f["path"]).relative_to(root).as_posix() for f in json.loads(out)["files"]]
    assert names == ["a.dcm", "b/IM0001", "b/deeper/x.dcm", "c/notes.txt"]
    assert code == (1 if RULES else 0)
    notes = json.loads(out)["files"][3]
    if RULES:
        assert notes["findings"], "a file that is not DICOM gets findings"


def test_symlink_loop_is_reported_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write(root / "sub" / "a.dcm", CLEAN)
    (root / "sub" / "loop").symlink_to(root)
    (root / "link.dcm").symlink_to(root / "sub" / "a.dcm")
    targets = list(iter_targets([root]))
    loop = "symbolic link loop: links to a directory that contains it"
    assert targets == [
        Target(str(root / "link.dcm")),
        Target(str(root / "sub" / "a.dcm")),
        Target(str(root / "sub" / "loop"), loop),
    ]


def test_jobs_2_writes_what_jobs_1_writes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    tree(root)
    paths = [str(root), str(FIXTURES), str(tmp_path / "missing.dcm")]
    for fmt in ("json", "jsonl", "text", "junit"):
        one = run(capsys, "validate", *paths, "-j", "1", "--format", fmt)
        two = run(capsys, "validate", *paths, "-j", "2", "--format", fmt)
        assert one == two, fmt
    assert one[0] == 2


@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_run_batch_keeps_input_order_with_a_small_window(tmp_path: Path, chunk: int) -> None:
    paths = [write(tmp_path / f"f{i:02}.dcm", TRAILING if i % 3 else CLEAN) for i in range(12)]
    targets = [Target(str(p)) for p in paths] + [Target("gone", "No such file or directory")]
    reports = list(run_batch(targets, jobs=2, window=2, chunk=chunk))
    assert [r.path for r in reports] == [t.path for t in targets]
    assert reports[-1].error == "No such file or directory"
    assert [r.findings for r in reports] == [r.findings for r in run_batch(targets, jobs=1)]


def test_a_worker_that_dies_costs_only_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool forks, so the workers inherit this patch; the killer file ends its worker.
    from dcmstruct.validate.engine import open_index as real

    def crashy(path: str, selection: object = None) -> object:
        if Path(path).name == "killer.dcm":
            os._exit(9)
        return real(path, selection)  # type: ignore[arg-type]

    if batch._context().get_start_method() != "fork":
        pytest.skip("workers inherit the patch only when forked")
    monkeypatch.setattr("dcmstruct.commands.batch.open_index", crashy)
    paths = [write(tmp_path / f"f{i}.dcm", CLEAN) for i in range(6)]
    paths.insert(3, write(tmp_path / "killer.dcm", CLEAN))
    reports = list(run_batch([Target(str(p)) for p in paths], jobs=2))
    assert [r.path for r in reports] == [str(p) for p in paths]
    bad = [r for r in reports if r.internal]
    assert [r.path for r in bad] == [str(tmp_path / "killer.dcm")]
    assert "worker process died" in bad[0].internal[0]


def test_output_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = write(tmp_path / "clean.dcm", CLEAN)
    report = tmp_path / "out" / "report.xml"
    report.parent.mkdir()
    code, out, _ = run(capsys, "validate", str(f), "--format", "junit", "-o", str(report))
    assert code == 0 and out == ""
    assert report.read_text().startswith("<?xml")
    code, _, err = run(capsys, "validate", str(f), "-o", str(tmp_path / "no" / "dir" / "r"))
    assert code == 2 and "No such file or directory" in err


# -- text and progress --------------------------------------------------------------------


def test_text_format_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    needs("TRAILING_BYTES")
    t = write(tmp_path / "t.dcm", TRAILING)
    c = write(tmp_path / "c.dcm", CLEAN)
    code, out, err = run(capsys, "validate", str(t), str(c), "--format", "text")
    assert code == 1
    assert err == ""  # not a terminal: no progress bar
    lines = out.splitlines()
    assert f"{t}:{len(CLEAN):#x}: error TRAILING_BYTES: " in lines[0]
    assert f"{t}: 1 error, 0 warnings, 0 info" in lines
    assert f"{c}: no findings" in lines
    assert lines[-1] == "2 files: 1 error, 0 warnings, 0 info"
    assert "\x1b[" not in out
    _, colored, _ = run(capsys, "validate", str(t), "--format", "text", "--color", "always")
    assert "\x1b[31merror\x1b[0m" in colored


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_with_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = write(tmp_path / "c.dcm", CLEAN)
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    cli.main(["validate", str(f), "--format", "text"])
    assert "1/1" in term.getvalue() and "\r\x1b[K" in term.getvalue()
    term.seek(0)
    term.truncate()
    cli.main(["validate", str(f), "--format", "json"])
    assert term.getvalue() == ""
    capsys.readouterr()


# -- dcmstruct rule -----------------------------------------------------------------------


def test_rule_doc(capsys: pytest.CaptureFixture[str]) -> None:
    if not RULES:
        pytest.skip("no rule registered yet")
    name = sorted(RULES)[0]
    code, out, _ = run(capsys, "rule", name)
    assert code == 0 and out == RULES[name].doc()
    code, out, _ = run(capsys, "rule", name.lower())
    assert code == 0 and out == RULES[name].doc()


def test_rule_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rule", "--list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(RULES)
    for line, name in zip(lines, sorted(RULES), strict=True):
        got_name, severity, summary = line.split(maxsplit=2)
        assert got_name == name
        assert severity == RULES[name].severity.label
        assert summary == RULES[name].summary.strip()


def test_rule_unknown_suggests_close_names(capsys: pytest.CaptureFixture[str]) -> None:
    needs("ODD_VALUE_LENGTH")
    code, out, err = run(capsys, "rule", "ODD_VALUE_LENGHT")
    assert code == 2 and out == ""
    assert "unknown rule 'ODD_VALUE_LENGHT'; did you mean ODD_VALUE_LENGTH" in err
    assert run(capsys, "rule")[0] == 2


# -- the real command ---------------------------------------------------------------------


def test_the_installed_command(tmp_path: Path) -> None:
    needs("TRAILING_BYTES")
    f = write(tmp_path / "t.dcm", TRAILING)
    proc = subprocess.run(
        [sys.executable, "-m", "dcmstruct", "validate", str(f), str(FIXTURES), "-j", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["files"][0]["path"] == str(f)
    assert len(doc["files"]) > 1
    assert proc.stderr == ""


def test_start_up_imports_only_what_the_command_uses(tmp_path: Path) -> None:
    """``import dcmstruct.cli`` loads no numpy; validating one file loads no process pool,
    no package metadata, no TOML parser (no config file of ours around), no writer but its
    own and no numpy.typing (annotations only)."""
    f = write(tmp_path / "c.dcm", CLEAN)
    script = (
        "import sys\n"
        "import dcmstruct.cli\n"
        "print(' '.join(sorted(sys.modules)))\n"
        f"code = dcmstruct.cli.main(['validate', '--format', 'json', {str(f)!r}])\n"
        "print(' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at_import, after = set(lines[0].split()), set(lines[-1].split())
    assert "numpy" not in at_import and "dcmstruct.index" not in at_import
    assert {"numpy", "dcmstruct.index", "dcmstruct.report.json"} <= after  # it did run
    unwanted = {
        "multiprocessing",
        "concurrent.futures",
        "importlib.metadata",
        "tomllib",
        "numpy.typing",
        "dcmstruct.report.junit",
        "dcmstruct.report.sarif",
        "dcmstruct.report.text",
    }
    assert not unwanted & after, sorted(unwanted & after)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"dcmstruct {metadata.version('dcmstruct')}\n"


def test_version_of_a_tree_that_is_not_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out == "dcmstruct 0+unknown\n"


def test_sarif_names_the_installed_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from importlib import metadata

    f = write(tmp_path / "c.dcm", CLEAN)
    code, out, _ = run(capsys, "validate", str(f), "--format", "sarif")
    assert code == 0
    driver = json.loads(out)["runs"][0]["tool"]["driver"]
    assert driver["version"] == metadata.version("dcmstruct")


def test_deep_directory_tree_is_walked_without_recursion(tmp_path: Path) -> None:
    deep = tmp_path / "deep"
    levels = [deep]
    for _ in range(sys.getrecursionlimit() + 100):  # a recursive walk would fail here
        levels.append(levels[-1] / "d")
    try:
        for level in levels:
            level.mkdir()  # one level at a time: pathlib's parents=True recurses
        (levels[-1] / "IM1").write_bytes(CLEAN)
        assert list(iter_targets([deep])) == [Target(str(levels[-1] / "IM1"))]
    finally:
        # shutil.rmtree (pytest's clean-up of old temporary directories) recurses too
        (levels[-1] / "IM1").unlink(missing_ok=True)
        for level in reversed(levels):
            if level.exists():
                level.rmdir()


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "a.dcm", "b.dcm", "-j", "2", "--format", "jsonl"],
        ["validate", "--select", "ODD_VALUE_LENGTH", "--", "-odd-name.dcm"],
        ["dump", "x.dcm", "--width", "64"],
        ["view", "--mask", "x.dcm"],
        ["view"],
        ["rule", "--list"],
    ],
)
def test_a_command_first_is_parsed_as_the_top_level_would(argv: list[str]) -> None:
    assert cli.parse(argv) == cli._parser().parse_args(argv)


def test_unrecognised_arguments_are_the_top_levels_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    messages = []
    for parse in (cli.parse, cli._parser().parse_args):
        with pytest.raises(SystemExit) as exc:
            parse(["rule", "A", "B"])
        assert exc.value.code == 2
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1] and "unrecognized arguments: B" in messages[0]
