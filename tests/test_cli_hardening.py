"""Hostile command lines: non-regular files, standard input, out-of-range flags and config files.

Every case must end promptly with exit code 2 and a one-line reason on stderr, never a
traceback, a hang or raw control characters on the terminal.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from dcmstruct import cli
from dcmstruct.builder import E, part10
from dcmstruct.commands import batch
from dcmstruct.commands.batch import Target, plan_pool, run_batch
from dcmstruct.commands.config import MAX_JOBS
from dcmstruct.index import index_file
from dcmstruct.source import NotRegularFile
from dcmstruct.spool import DEFAULT_STDIN_LIMIT, parse_size
from dcmstruct.validate.registry import load_all
from fixtures.rule_fixtures.base import ct_dataset

RULES = load_all()
CLEAN = part10(ct_dataset())
ODD = part10(ct_dataset(E("0008,0070", "LO", b"ACME1", length=5)))  # ODD_VALUE_LENGTH
PROC = "/proc/self/status"


@contextmanager
def deadline(seconds: float = 10) -> Iterator[None]:
    """Fail instead of hanging: a regression that opens a FIFO blocks in open(2), which the
    alarm interrupts (the handler raises, so the call is not retried)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with deadline():
        code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The single line of an error message, checked to be single, plain and safe."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "\x1b" not in err
    return err


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory (no config file of the checkout applies), a private
    temporary directory (to see that spooled input is removed), no limit from the caller."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "dcmstruct.toml").write_text("")
    monkeypatch.chdir(work)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    monkeypatch.delenv("DCMSTRUCT_STDIN_LIMIT", raising=False)
    yield work
    assert list(spool_dir.iterdir()) == [], "spooled standard input left behind"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.dcm"
    os.mkfifo(path)
    return path


def feed(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# -- non-regular files --------------------------------------------------------------------


def test_dump_refuses_a_fifo(capsys: pytest.CaptureFixture[str], fifo: Path) -> None:
    code, out, err = run(capsys, "dump", str(fifo))
    assert code == 2 and out == ""
    assert one_line(err) == f"dcmstruct dump: {fifo}: not a regular file (a FIFO)\n"


def test_validate_refuses_a_fifo(capsys: pytest.CaptureFixture[str], fifo: Path) -> None:
    code, out, err = run(capsys, "validate", str(fifo), "--format", "json")
    assert code == 2
    assert json.loads(out)["files"][0]["error"] == "not a regular file (a FIFO)"
    assert "not a regular file (a FIFO)" in one_line(err)


def test_view_refuses_a_fifo_before_the_screen_is_taken(
    capsys: pytest.CaptureFixture[str], fifo: Path
) -> None:
    code, out, err = run(capsys, "view", str(fifo))
    assert code == 2 and out == ""
    assert one_line(err) == f"dcmstruct view: {fifo}: not a regular file (a FIFO)\n"


def test_the_viewer_module_refuses_a_fifo(capsys: pytest.CaptureFixture[str], fifo: Path) -> None:
    viewer = importlib.import_module("dcmstruct.tui.__main__")
    with deadline():
        code = viewer.main([str(fifo)])
    assert code == 2
    err = one_line(capsys.readouterr().err)
    assert err == f"python -m dcmstruct.tui: {fifo}: not a regular file (a FIFO)\n"


def test_the_viewer_module_is_the_view_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m dcmstruct.tui`` and ``dcmstruct view``: same flags, same call."""
    from dcmstruct.tui import app

    calls: list[tuple[object, dict[str, object]]] = []

    def fake_run(path: object, **kwargs: object) -> int:
        calls.append((path, kwargs))
        return 0

    monkeypatch.setattr(app, "run", fake_run)
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    flags = [str(f), "--mask", "--row-width", "32", "--max-nodes", "1000", "--max-depth", "9"]
    viewer = importlib.import_module("dcmstruct.tui.__main__")
    assert viewer.main(flags) == 0
    assert cli.main(["view", *flags]) == 0
    assert len(calls) == 2 and calls[0] == calls[1]
    path, kwargs = calls[0]
    assert path == str(f) and kwargs["mask"] is True and kwargs["bytes_per_row"] == 32
    limits = kwargs["limits"]
    assert getattr(limits, "max_nodes", None) == 1000 and getattr(limits, "max_depth", None) == 9
    with pytest.raises(SystemExit) as done:
        viewer.main([str(f), "--width", "32"])  # the old second command line's flag
    assert done.value.code == 2
    assert "unrecognized arguments: --width" in capsys.readouterr().err


def test_index_file_refuses_a_fifo(fifo: Path) -> None:
    with deadline(), pytest.raises(NotRegularFile, match="a FIFO"):
        index_file(fifo)


def test_config_that_is_a_fifo_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fifo: Path
) -> None:
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, out, err = run(capsys, "validate", str(f), "--config", str(fifo))
    assert code == 2 and out == ""
    assert "not a regular file (a FIFO)" in one_line(err)


def test_a_config_found_upwards_that_is_a_fifo_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "fifo_config"
    work.mkdir()
    os.mkfifo(work / "dcmstruct.toml")
    monkeypatch.chdir(work)
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, out, err = run(capsys, "validate", str(f))
    assert code == 2 and out == ""
    assert "dcmstruct.toml: cannot read: not a regular file (a FIFO)" in one_line(err)


@pytest.mark.skipif(not os.path.exists(PROC), reason="no /proc")
@pytest.mark.parametrize("command", ["dump", "view", "validate"])
def test_proc_files_are_refused(capsys: pytest.CaptureFixture[str], command: str) -> None:
    # /proc files say they are 0 bytes long and have content: never FILE_TOO_SHORT.
    code, _, err = run(capsys, command, PROC)
    assert code == 2
    assert "kernel pseudo-file" in one_line(err)
    with pytest.raises(NotRegularFile):
        index_file(PROC)


def test_a_directory_given_to_dump_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "dump", str(tmp_path))
    assert code == 2 and "a directory" in one_line(err)


# -- standard input -----------------------------------------------------------------------


def test_dump_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    f = tmp_path / "odd.dcm"
    f.write_bytes(ODD)
    _, from_file, _ = run(capsys, "dump", str(f), "--format", "jsonl")
    feed(monkeypatch, ODD)
    code, from_stdin, err = run(capsys, "dump", "-", "--format", "jsonl")
    assert code == 0 and err == ""
    assert from_stdin == from_file and len(from_stdin.splitlines()) > 10
    feed(monkeypatch, ODD)
    code, text, _ = run(capsys, "dump", "-")
    assert code == 0 and text.startswith(f"# -: {len(ODD)} bytes, ")


def test_validate_reads_standard_input_among_other_paths(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    feed(monkeypatch, ODD)
    code, out, err = run(capsys, "validate", str(f), "-", "--format", "json", "-j", "1")
    assert code == 1 and err == ""
    files = json.loads(out)["files"]
    assert [x["path"] for x in files] == [str(f), "-"]
    assert files[0]["findings"] == []
    assert "ODD_VALUE_LENGTH" in {x["rule"] for x in files[1]["findings"]}


def test_the_stdin_bound_is_enforced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    feed(monkeypatch, CLEAN * 3)
    assert len(CLEAN * 3) > 1024
    code, out, err = run(capsys, "dump", "-", "--stdin-limit", "1K")
    assert code == 2 and out == ""
    assert "standard input holds more than 1 KiB" in one_line(err)
    # The environment variable sets it too; the input exactly at the bound is taken.
    monkeypatch.setenv("DCMSTRUCT_STDIN_LIMIT", str(len(CLEAN)))
    feed(monkeypatch, CLEAN)
    assert run(capsys, "dump", "-")[0] == 0
    feed(monkeypatch, CLEAN + b"\0")
    code, _, err = run(capsys, "dump", "-")
    assert code == 2 and f"more than {len(CLEAN)} bytes" in one_line(err)
    # validate: standard input over the bound is an unreadable path; the batch goes on.
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    feed(monkeypatch, CLEAN + b"\0")
    code, out, err = run(capsys, "validate", "-", str(f), "--format", "json")
    assert code == 2
    files = json.loads(out)["files"]
    assert files[0]["path"] == "-" and "holds more than" in files[0]["error"]
    assert "error" not in files[1]
    assert "holds more than" in one_line(err)


@pytest.mark.parametrize("limit", ["0", "-1", "1X", "", "99999999999999999999G", "\x1b[2J"])
def test_a_bad_stdin_limit_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    feed(monkeypatch, CLEAN)
    for command in ("dump", "validate"):
        code, out, err = run(capsys, command, "-", f"--stdin-limit={limit}")
        assert code == 2 and out == ""
        assert "--stdin-limit" in one_line(err)


def test_parse_size() -> None:
    assert parse_size("1073741824") == parse_size("1G") == parse_size("1 GiB") == 1 << 30
    assert parse_size("512m") == 512 << 20 and parse_size("4K") == 4096
    assert DEFAULT_STDIN_LIMIT == 1 << 30
    for bad in ("0", "1.5G", "G", "1E", "2000T"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_a_terminal_on_stdin_is_refused_not_waited_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Terminal(CLEAN)))
    code, _, err = run(capsys, "dump", "-")
    assert code == 2 and "standard input is a terminal" in one_line(err)


def test_view_does_not_take_standard_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "view", "-")
    assert code == 2 and "standard input" in one_line(err)


def test_the_installed_command_reads_a_pipe(tmp_path: Path) -> None:
    # The real thing once: a pipe on file descriptor 0, through sys.stdin.buffer.
    exe = Path(sys.executable).with_name("dcmstruct")
    tmp_path = tmp_path / "own"
    tmp_path.mkdir()
    done = subprocess.run(
        [str(exe), "validate", "-", "--format", "json", "--no-config"],
        input=ODD,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 1, done.stderr
    (report,) = json.loads(done.stdout)["files"]
    assert report["path"] == "-" and report["findings"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- flags --------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["99999999999999999999", "0", "-1", str(MAX_JOBS + 1)])
def test_absurd_jobs_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, jobs: str
) -> None:
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, out, err = run(capsys, "validate", str(f), "-j", jobs)
    assert code == 2 and out == ""
    assert one_line(err) == (
        f"dcmstruct validate: --jobs {jobs}: must be a whole number from 1 to {MAX_JOBS}\n"
    )


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--select", ""], "--select '': names no rule"),
        (["--select", " , "], "names no rule"),
        (
            ["--select", "ODD_VALUE_LENGTH", "--ignore", "odd_value_length"],
            "--select and --ignore: no rule left to run",
        ),
    ],
)
def test_a_selection_that_leaves_no_rule_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], reason: str
) -> None:
    f = tmp_path / "odd.dcm"
    f.write_bytes(ODD)  # a broken file: exiting 0 here without a word was the bug
    code, out, err = run(capsys, "validate", str(f), *argv)
    assert code == 2 and out == ""
    assert reason in one_line(err)


def test_ignoring_every_rule_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "odd.dcm"
    f.write_bytes(ODD)
    code, _, err = run(capsys, "validate", str(f), "--ignore", ",".join(RULES))
    assert code == 2 and "--ignore: no rule left to run" in one_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["dump", "--width", "0"],
        ["dump", "--width", "99999999999999999999"],
        ["dump", "--max-depth", "0"],
        ["dump", "--max-depth", "-5"],
        ["dump", "--max-depth", "1e9"],
    ],
)
def test_dump_numbers_out_of_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with deadline(), pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "must be a whole number from" in err.splitlines()[-1]
    assert "Traceback" not in err


# -- config files -------------------------------------------------------------------------


def config_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | bytes) -> str:
    config = tmp_path / "dcmstruct.toml"
    if isinstance(text, str):
        config.write_text(text, encoding="utf-8")
    else:
        config.write_bytes(text)
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, out, err = run(capsys, "validate", str(f), "--config", str(config))
    assert code == 2 and out == ""
    assert err.startswith(f"dcmstruct validate: {config}")
    return one_line(err)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("jobs = 99999999999999999999\n", "jobs 99999999999999999999: must be a whole number"),
        ("jobs = 1025\n", "jobs 1025: must be a whole number from 1 to 1024"),
        ("jobs = -3\n", "jobs -3: must be"),
        ("jobs = 1.5\n", "jobs (a number with a fraction): must be"),
        ("jobs = true\n", "jobs (the boolean true): must be"),
        ('jobs = "4"\n', "jobs '4': must be"),
        ("select = 3\n", "select: expected a list of rule names, not a whole number"),
        ("select = [1, 2]\n", "expected a list of rule names, not a list"),
        ("select = []\n", "select names no rule"),
        ("ignore = {a = 1}\n", "ignore: expected a list of rule names, not a table"),
        ("fail-on = 1\n", "fail-on: 1 is not one of error, warning, info"),
        ("format = []\n", "format: (a list) is not one of"),
        ("format = 1979-05-27\n", "format: (a date or time) is not one of"),
        ('severity = "error"\n', "severity must be a table"),
        ("[severity]\nODD_VALUE_LENGTH = 2\n", "severity of ODD_VALUE_LENGTH: 2 is not one"),
        ("[severity.ODD_VALUE_LENGTH]\nx = 1\n", "severity of ODD_VALUE_LENGTH: (a table)"),
        (
            'select = ["ODD_VALUE_LENGTH"]\nignore = ["ODD_VALUE_LENGTH"]\n',
            "dcmstruct.toml: select and ignore: no rule left to run",
        ),
        ("[" * 100_000, "not valid TOML"),
        ("a = " + "[" * 100_000, "not valid TOML: nested too deeply"),
        ("a = " + "{b = " * 100_000, "not valid TOML"),
        ("jobs = 1" + "0" * 5000 + "\n", "not valid TOML"),
        ("# " + "x" * (1 << 20) + "\n", "larger than 1 MiB"),
        (b"jobs = 4 # \xff\xfe\n", "not UTF-8 at byte 11"),
    ],
    ids=lambda v: repr(v)[:40],  # a 100,000-character test name helps nobody
)
def test_hostile_config_files_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | bytes, reason: str
) -> None:
    assert reason in config_error(capsys, tmp_path, text)


def test_pyproject_table_of_the_wrong_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool]\ndcmstruct = 5\n")
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, _, err = run(capsys, "validate", str(f), "--config", str(config))
    assert code == 2 and "[tool.dcmstruct]: must be a table, not a whole number" in one_line(err)


def test_a_hostile_pyproject_found_upwards_is_passed_over(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone else's broken pyproject.toml is not ours to refuse, however deep it nests.
    work = tmp_path / "other"
    work.mkdir()
    (work / "pyproject.toml").write_text("a = " + "[" * 100_000)
    monkeypatch.chdir(work)
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, out, err = run(capsys, "validate", str(f), "--format", "json")
    assert code == 0 and err == "" and json.loads(out)["files"][0]["findings"] == []


# -- what is echoed is made safe ------------------------------------------------------------


HOSTILE = "a\x1b]0;HACKED\x07\nb\u202e"


def test_file_names_in_messages_are_made_safe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / HOSTILE)
    code, _, err = run(capsys, "dump", missing)
    assert code == 2
    assert "a\\x1b]0;HACKED\\x07\\nb\\u202e: No such file" in one_line(err)
    code, _, err = run(capsys, "validate", missing, "--format", "json")
    assert code == 2 and "\\x1b]0;HACKED\\x07\\nb" in one_line(err)
    code, _, err = run(capsys, "view", missing)
    assert code == 2 and "\\x1b]0;HACKED" in one_line(err)
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    code, _, err = run(capsys, "validate", str(f), "-o", str(tmp_path / "no" / HOSTILE))
    assert code == 2 and "\\x1b]0;HACKED" in one_line(err)


def test_user_input_in_messages_is_made_safe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "clean.dcm"
    f.write_bytes(CLEAN)
    for argv in (
        ["rule", HOSTILE],
        ["validate", str(f), "--select", HOSTILE],
        ["validate", str(f), "--severity", HOSTILE],
        ["validate", str(f), "--severity", f"ODD_VALUE_LENGTH={HOSTILE}"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "\\x1b]0;HACKED" in one_line(err), argv
    # TOML has no raw control characters, but its escapes make any key
    key = '"a\\u001b]0;HACKED\\u0007\\nb"'
    assert "unknown key 'a\\x1b]0;HACKED\\x07\\nb'" in config_error(capsys, tmp_path, f"{key} = 1")
    # argparse quotes an argument it does not know as given
    with deadline(), pytest.raises(SystemExit):
        cli.main(["dump", str(f), HOSTILE])
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;HACKED" in err


def test_a_long_value_is_clipped_in_the_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = config_error(capsys, tmp_path, f"{'k' * 100_000} = 1\n")
    assert "unknown key 'kkkk" in err and len(err) < 400


# -- the pool -----------------------------------------------------------------------------


def targets(n: int, error: int = 0) -> list[Target]:
    return [Target(f"f{i}") for i in range(n)] + [Target(f"e{i}", "gone") for i in range(error)]


def test_plan_pool_caps_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "usable_cores", lambda: 2)
    assert plan_pool(1000, targets(3), True, 8) == (3, 1)  # one file per worker
    assert plan_pool(1000, targets(1, error=50), True, 8) == (1, 8)  # 1: in this process
    assert plan_pool(1000, targets(64), False, 8) == (8, 8)  # 4 per core, batch size unknown
    assert plan_pool(2, targets(12, error=1), True, 8) == (2, 7)
    assert plan_pool(3, targets(100), True, 8) == (3, 8)


def test_jobs_1000_with_3_files_starts_3_workers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = batch._Pool.__init__

    def recording(self: batch._Pool, jobs: int, *args: object) -> None:
        sizes.append(jobs)
        real(self, jobs, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(batch._Pool, "__init__", recording)
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"f{i}.dcm"))
        Path(paths[-1]).write_bytes(ODD if i == 1 else CLEAN)
    code, out, _ = run(capsys, "validate", *paths, "-j", "1000", "--format", "json")
    assert code == 1 and sizes == [3]
    assert [f["path"] for f in json.loads(out)["files"]] == paths
    sizes.clear()
    reports = list(run_batch([Target(p) for p in paths[:1]], jobs=1000))
    assert sizes == [] and len(reports) == 1  # one file: no pool at all
