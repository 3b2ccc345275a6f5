"""``validate --output-dir``: shards, a manifest, resumed runs, Parquet, and findings by device.

The oracle is the plain run: ``validate --format json`` over the same tree. Whatever happens
to a run (stopped between a shard line and its manifest line, stopped mid-line, files changed
between runs), the shards of DIR must hold exactly the files of that report, each once.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dcmstruct import cli
from dcmstruct.builder import E, part10

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "fixtures" / "rules"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["validate", "--no-config", *argv])
    return code, out.getvalue()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Forty rule fixtures, in two folders."""
    root = tmp_path / "tree"
    files = sorted(RULES.glob("*.dcm"))[:40]
    for k, f in enumerate(files):
        folder = root / ("a" if k % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, folder / f.name)
    return root


def _plain(root: Path) -> tuple[int, dict[str, object]]:
    code, out = _run(str(root), "--format", "json")
    report = json.loads(out)
    return code, {f["path"]: f for f in report["files"]}


def _shards(out: Path) -> list[dict[str, object]]:
    """The shard lines, without ``key`` (each line's absolute path: checked here)."""
    lines = [json.loads(line) for f in sorted(out.glob("shard-*.jsonl")) for line in f.open()]
    for line in lines:
        key = line.pop("key")
        assert isinstance(key, str) and Path(key).is_absolute()
        assert key.endswith(str(line["path"]).lstrip("."))
    return lines


def _assert_once(root: Path, out: Path) -> None:
    _, plain = _plain(root)
    lines = _shards(out)
    assert [line["path"] for line in lines].count(next(iter(plain))) == 1
    assert len(lines) == len(plain)
    assert {line["path"]: line for line in lines} == plain  # type: ignore[misc]


def test_the_shards_are_the_report(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, printed = _run(
        str(tree), "--output-dir", str(out), "--shard-files", "7", "--format", "json"
    )
    plain_code, plain = _plain(tree)
    assert code == plain_code == 1
    _assert_once(tree, out)
    assert len(list(out.glob("shard-*.jsonl"))) == -(-len(plain) // 7)
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(printed) == summary
    _, report = _run(str(tree), "--format", "json")
    assert summary["summary"] == json.loads(report)["summary"]
    assert summary["this_run"] == {
        "validated": len(plain),
        "skipped_as_done": 0,
        "not_seen": 0,
        "pruned": 0,
    }


def test_parquet_holds_every_finding_and_every_file(tree: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out), "--shard-files", "9")
    rows = [r for f in sorted(out.glob("shard-*.parquet")) for r in pq.read_table(f).to_pylist()]
    lines = _shards(out)
    expected = []
    for line in lines:
        for finding in line["findings"] or [{}]:  # type: ignore[attr-defined]
            expected.append((line["path"], finding.get("rule"), finding.get("offset")))
    assert [(r["file"], r["rule"], r["offset"]) for r in rows] == expected


def test_a_second_run_skips_what_is_done_and_redoes_what_changed(
    tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out), "--shard-files", "5")
    code, printed = _run(str(tree), "--output-dir", str(out), "--format", "json")
    assert json.loads(printed)["this_run"]["validated"] == 0
    # One file grows (a new finding), one is touched, one is new.
    grown = sorted((tree / "a").iterdir())[3]
    with grown.open("ab") as f:
        f.write(b"\x01\x02\x03")
    touched = sorted((tree / "b").iterdir())[1]
    touched.touch()
    shutil.copy(RULES / "ODD_VALUE_LENGTH.dcm", tree / "a" / "zz-new.dcm")
    code, printed = _run(str(tree), "--output-dir", str(out), "--format", "json")
    assert json.loads(printed)["this_run"]["validated"] == 3
    assert code == _plain(tree)[0]
    _assert_once(tree, out)
    # and the manifest still says where each line is
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").open()][1:]
    assert len(manifest) == len({m["key"] for m in manifest}) == len(_shards(out))
    for m in manifest:
        data = (out / f"shard-{m['shard']:05d}.jsonl").read_bytes()
        line = json.loads(data[m["end"] - m["bytes"] : m["end"]])
        assert m["key"].endswith(line["path"].split("tree/", 1)[1])


@pytest.mark.parametrize("stop", ["between the two writes", "mid-line"])
def test_a_stopped_run_goes_on_where_it_stopped(tree: Path, tmp_path: Path, stop: str) -> None:
    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out), "--shard-files", "6")
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    if stop == "between the two writes":
        # The last three files' shard lines were written, their manifest lines not.
        manifest.write_text("".join(lines[:-3]))
    else:
        manifest.write_text("".join(lines[:-3]) + lines[-3][:17])
        last = sorted(out.glob("shard-*.jsonl"))[-1]
        with last.open("a") as f:
            f.write('{"path": "cut sh')
    _, printed = _run(str(tree), "--output-dir", str(out), "--format", "json")
    assert json.loads(printed)["this_run"]["validated"] == 3
    _assert_once(tree, out)


def test_other_settings_and_a_second_writer_are_refused(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out))
    args = ["validate", "--no-config", str(tree), "--output-dir", str(out)]
    assert cli.main([*args, "--ignore", "ODD_VALUE_LENGTH"]) == 2
    assert "other settings" in capsys.readouterr().err
    # Another process holds DIR's lock (a POSIX lock is per process: not this one).
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert cli.main(args) == 2
        assert "another run is writing it" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert cli.main(args) in (0, 1)  # the lock went with its process
    assert cli.main([*args, "-o", str(tmp_path / "r.json")]) == 2
    assert cli.main(["validate", "--no-config", "-", "--output-dir", str(out)]) == 2
    assert cli.main(["validate", "--no-config", str(tree), "--prune"]) == 2
    (tmp_path / "a-file").write_text("")
    assert (
        cli.main(["validate", "--no-config", str(tree), "--output-dir", str(tmp_path / "a-file")])
        == 2
    )
    assert "not a directory" in capsys.readouterr().err


_HOLD = """
import fcntl, sys, time
f = open(sys.argv[1], "ab")
fcntl.lockf(f.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_findings_by_device(tmp_path: Path) -> None:
    root = tmp_path / "devices"
    root.mkdir()
    ct = "1.2.840.10008.5.1.4.1.1.2"

    def write(name: str, maker: str, model: str, odd: bool) -> None:
        elements = [
            E("0008,0016", "UI", ct),
            E("0008,0018", "UI", f"1.2.3.{len(name)}"),
            E("0008,0070", "LO", maker),
            E("0008,1030", "LO", "ABC" if odd else "ABCD"),  # odd: ODD_VALUE_LENGTH
            E("0008,1090", "LO", model),
            E("0018,1020", "LO", ["V1", "V2"]),
        ]
        raw = part10(elements)
        if odd:  # the builder pads: write the odd length back by hand
            at = raw.index(b"ABC ")
            raw = raw[: at - 2] + (3).to_bytes(2, "little") + raw[at : at + 3] + raw[at + 4 :]
        (root / name).write_bytes(raw)

    write("1.dcm", "ACME", "Scanner 1", odd=True)
    write("2.dcm", "ACME", "Scanner 1", odd=True)
    write("3.dcm", "ACME", "Scanner 2", odd=False)
    write("4.dcm", "OTHER", "X", odd=True)
    table_file = tmp_path / "devices.json"
    _run(str(root), "--device-summary", str(table_file), "--format", "json")
    table = json.loads(table_file.read_text())["devices"]
    rows = {(d["manufacturer"], d["model"], d["software"]): d for d in table}
    s1 = rows[("ACME", "Scanner 1", "V1\\V2")]
    assert s1["files"] == 2 and s1["files_with_findings"] == 2
    assert [d["files"] for d in table] == [2, 1, 1]  # most files first
    assert rows[("ACME", "Scanner 2", "V1\\V2")]["rules"] == {}
    odd = [d["rules"].get("ODD_VALUE_LENGTH") for d in table]
    assert odd.count(None) == 1
    # The same table in an output directory's summary, after a second run too.
    out = tmp_path / "out"
    _run(str(root), "--output-dir", str(out))
    _run(str(root), "--output-dir", str(out))
    assert json.loads((out / "summary.json").read_text())["devices"] == table


@pytest.mark.parametrize("stop", ["before the manifest is committed", "after it"])
def test_a_run_stopped_in_its_compaction_loses_nothing(
    tree: Path, tmp_path: Path, stop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compaction writes new shards, commits a new manifest, then deletes the old shards:
    a stop at either point leaves a DIR the next run reads (no line lost, none twice)."""
    import dcmstruct.commands.archive as archive

    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out), "--shard-files", "8")
    changed = sorted((tree / "a").iterdir())[:3]
    for f in changed:
        with f.open("ab") as g:
            g.write(b"\0\0")
    real_replace, real_unlink = archive.os.replace, archive.os.unlink

    class Stop(Exception):
        pass

    def replace(src: str, dst: str) -> None:
        if stop.startswith("before") and str(dst).endswith(archive.MANIFEST):
            raise Stop
        real_replace(src, dst)

    def unlink(path: str) -> None:
        if stop == "after it" and str(path).endswith(".jsonl"):
            raise Stop
        real_unlink(path)

    monkeypatch.setattr(archive.os, "replace", replace)
    monkeypatch.setattr(archive.os, "unlink", unlink)
    # The command turns any exception into an internal error (exit 3): here, the stop.
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert cli.main(["validate", "--no-config", str(tree), "--output-dir", str(out)]) == 3
    assert "Stop" in err.getvalue()
    monkeypatch.undo()
    code, _printed = _run(str(tree), "--output-dir", str(out), "--format", "json")
    assert code == _plain(tree)[0]
    _assert_once(tree, out)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").open()][1:]
    assert len(manifest) == len({m["key"] for m in manifest}) == len(_shards(out))


def test_a_file_that_met_an_internal_error_is_validated_again(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internal error (a bug, a worker or the cluster lost) is no report to keep."""
    import dcmstruct.commands.batch as batch

    out = tmp_path / "out"
    victim = sorted((tree / "b").iterdir())[2].name
    real = batch.check_opened

    def failing(opened: list, selection: object = None) -> list:  # type: ignore[type-arg]
        if any(path.endswith(victim) for path, _ in opened):
            raise RuntimeError("a bug met here")
        return real(opened, selection)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "check_opened", failing)
    code, _ = _run(str(tree), "--output-dir", str(out), "-j", "1")
    assert code == 3
    monkeypatch.undo()
    code, printed = _run(str(tree), "--output-dir", str(out), "--format", "json")
    assert json.loads(printed)["this_run"]["validated"] == 1
    assert code == _plain(tree)[0]
    _assert_once(tree, out)


def test_a_broken_manifest_is_refused_not_misread(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out))
    manifest = out / "manifest.jsonl"
    good = manifest.read_bytes()
    args = ["validate", "--no-config", str(tree), "--output-dir", str(out)]
    lines = good.split(b"\n")
    for bad in (b'{"oops": 1}', b"\xff\xfe not text", b'{"key": [1]}'):
        manifest.write_bytes(b"\n".join([*lines[:5], bad, *lines[6:]]))
        assert cli.main(args) == 2, bad
        assert "line 6 is not a manifest entry" in capsys.readouterr().err
    # A last line cut short is where a run stopped: it is dropped, and the file done again.
    manifest.write_bytes(good.rstrip(b"\n")[:-7])
    _code, printed = _run(str(tree), "--output-dir", str(out), "--format", "json")
    assert json.loads(printed)["this_run"]["validated"] == 1
    _assert_once(tree, out)
    # Shards without their manifest: refused, not written twice.
    manifest.unlink()
    assert cli.main(args) == 2
    assert "no manifest.jsonl" in capsys.readouterr().err
    manifest.mkdir()
    assert cli.main(args) == 2


def test_prune_takes_out_what_this_run_did_not_see(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(str(tree), "--output-dir", str(out))
    gone = sorted((tree / "a").iterdir())[0]
    gone.unlink()
    code, printed = _run(str(tree), "--output-dir", str(out), "--format", "text")
    assert "1 file(s) of DIR were not among this run's paths" in printed
    assert len(_shards(out)) == len(_plain(tree)[1]) + 1  # kept until pruned
    code, printed = _run(str(tree), "--output-dir", str(out), "--prune", "--format", "json")
    assert json.loads(printed)["this_run"]["pruned"] == 1
    assert code == _plain(tree)[0]
    _assert_once(tree, out)


def test_dir_inside_the_tree_and_paths_given_twice(tree: Path) -> None:
    files = len(_plain(tree)[1])
    out = tree / "reports"
    _run(str(tree), "--output-dir", str(out))
    _run(str(tree), str(tree / "a"), str(tree), "--output-dir", str(out))
    lines = _shards(out)
    assert len(lines) == len({line["path"] for line in lines}) == files
    assert not any("reports" in str(line["path"]) for line in lines)


def test_parquet_says_which_files_could_not_be_read(tree: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    (tree / "a" / "dangling.dcm").symlink_to(tree / "no-such-file")
    out = tmp_path / "out"
    assert _run(str(tree), "--output-dir", str(out))[0] == 2
    rows = [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    dangling = [r for r in rows if r["file"].endswith("dangling.dcm")]
    assert len(dangling) == 1 and dangling[0]["rule"] is None
    assert "dangling" in dangling[0]["error"]
    assert all(r["error"] is None for r in rows if r is not dangling[0])
