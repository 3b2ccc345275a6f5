"""``validate --scheduler``: the same report on a dask.distributed cluster, nothing lost.

One ``LocalCluster`` of two worker processes serves the module (the scheduler runs in this
process). The command runs in-process (``cli.main``) with ``--scheduler`` and without, and
the outputs must be equal byte for byte, exit codes too. Worker deaths are real: a worker
plugin makes a worker process exit (``os._exit``) on a task, once or every time, and the run
must still report every file exactly once.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dcmstruct import cli
from tests.corpus import corpus_files

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    import logging

    import dask

    # One death is enough to call a task a killer here (the default is 3): fewer restarts.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        try:
            yield cluster.scheduler_address
        finally:
            cluster.close()


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["validate", "--no-config", *argv])
    return code, out.getvalue()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "text"])
def test_the_fixtures_report_as_here(scheduler: str, fmt: str) -> None:
    paths = [str(FIXTURES), "no/such/file.dcm"]
    here = _run(*paths, "--format", fmt, "--color", "never")
    there = _run(*paths, "--format", fmt, "--color", "never", "--scheduler", scheduler)
    assert there == here
    assert here[0] == 2  # the missing file: reported, never dropped


def test_the_corpus_reports_as_here(scheduler: str, tmp_path: Path) -> None:
    files = [str(p) for p in corpus_files()]
    if not files:
        pytest.skip("no corpus")
    here = _run(*files, "--format", "json")
    there = _run(*files, "--format", "json", "--scheduler", scheduler)
    assert there == here
    assert len(json.loads(there[1])["files"]) == len(files)


def test_workers_list_the_trees_in_the_same_order(scheduler: str) -> None:
    here = _run(str(FIXTURES), "--format", "json")
    there = _run(str(FIXTURES), "--format", "json", "--scheduler", scheduler, "--list-on-workers")
    assert there == here


def test_relative_paths_are_reported_as_given(
    scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES)
    here = _run("rules", "--format", "jsonl")
    there = _run("rules", "--format", "jsonl", "--scheduler", scheduler, "--list-on-workers")
    assert there == here
    assert '"file": "rules/' in there[1]


# -- worker deaths --------------------------------------------------------------------------


class _Killer(distributed.WorkerPlugin):  # type: ignore[misc]
    """On each worker (restarted ones too): a task whose files include ``always`` kills its
    worker process every time; the first task that runs after ``once`` is created kills it
    once (the marker is then removed)."""

    name = "dcmstruct-test-killer"

    def __init__(self, always: str, once: str) -> None:
        self.always = always
        self.once = once

    def setup(self, worker: Any) -> None:
        import dcmstruct.commands.cluster as cluster

        real = self.real = cluster.validate_rows
        always, once = self.always, self.once

        def dying(rows: list[Any], *args: Any, **kwargs: Any) -> Any:
            if always and any(always in row[0] for row in rows):
                os._exit(1)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(once)
                os._exit(1)
            return real(rows, *args, **kwargs)

        cluster.validate_rows = dying

    def teardown(self, worker: Any) -> None:
        import dcmstruct.commands.cluster as cluster

        cluster.validate_rows = self.real


@contextlib.contextmanager
def _killer(scheduler: str, always: str = "", once: str = "") -> Iterator[None]:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    client = distributed.Client(scheduler)
    try:
        client.register_plugin(_Killer(always, once))
        yield
    finally:
        client.unregister_worker_plugin(_Killer.name)  # its teardown puts the real task back
        client.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_worker_that_dies_once_loses_nothing(scheduler: str, tmp_path: Path) -> None:
    marker = tmp_path / "die-once"
    marker.write_text("")
    here = _run(str(FIXTURES), "--format", "json")
    with _killer(scheduler, once=str(marker)):
        there = _run(str(FIXTURES), "--format", "json", "--scheduler", scheduler)
    assert not marker.exists()  # a worker did die
    assert there == here


def test_a_file_that_kills_every_worker_is_the_only_one_lost(
    scheduler: str, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("a.dcm", "b-KILLS-WORKERS.dcm", "c.dcm"):
        (folder / name).write_bytes((FIXTURES / "rules" / "ODD_VALUE_LENGTH.dcm").read_bytes())
    with _killer(scheduler, always="KILLS-WORKERS"):
        code, out = _run(str(folder), "--format", "json", "--scheduler", scheduler)
    assert code == 3  # an internal error: the file that kills workers
    files = json.loads(out)["files"]
    assert [Path(f["path"]).name for f in files] == ["a.dcm", "b-KILLS-WORKERS.dcm", "c.dcm"]
    assert [bool(f.get("internal")) for f in files] == [False, True, False]
    assert [len(f["findings"]) for f in files] == [1, 0, 1]
    assert "died" in files[1]["internal"][0]


# -- settings and usage -----------------------------------------------------------------------


def test_the_scheduler_from_the_environment_and_the_config(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    f = str(FIXTURES / "rules" / "ODD_VALUE_LENGTH.dcm")
    unreachable = "tcp://127.0.0.1:9"
    (tmp_path / "dcmstruct.toml").write_text(f'scheduler = "{scheduler}"\n')
    code, out = _run_config(f, "--format", "jsonl", "--connect-timeout", "3")
    assert code == 1 and "ODD_VALUE_LENGTH" in out
    # The environment comes before the file, the flag before both.
    monkeypatch.setenv("DCMSTRUCT_SCHEDULER", unreachable)
    assert _run_config(f, "--connect-timeout", "0.3")[0] == 2
    assert _run_config(f, "--scheduler", scheduler, "--format", "jsonl")[0] == 1


def _run_config(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["validate", *argv])
    return code, out.getvalue()


def test_an_unreachable_scheduler_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    f = str(FIXTURES / "rules" / "ODD_VALUE_LENGTH.dcm")
    args = ["validate", "--no-config", f, "--scheduler", "tcp://127.0.0.1:9"]
    assert cli.main([*args, "--connect-timeout", "0.3"]) == 2
    assert "cannot reach the scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert cli.main(["validate", "--no-config", f, "--list-on-workers"]) == 2
    assert "needs a cluster" in capsys.readouterr().err


def test_the_progress_line() -> None:
    from dcmstruct.commands.validate import _Progress

    stream = io.StringIO()
    progress = _Progress(stream, 4)
    for _ in range(4):
        progress.step("a.dcm", 1_000_000)
    line = stream.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert line.startswith("[####################] 4/4 (")
    assert "files/s" in line and "MB/s" in line and "a.dcm" in line
    stream = io.StringIO()
    progress = _Progress(stream, 100)
    progress.step("b.dcm", 10)
    assert "ETA " in stream.getvalue()


def test_an_output_dir_fills_the_same_from_the_cluster(scheduler: str, tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    _run(str(FIXTURES), "--output-dir", str(here), "--shard-files", "50")
    _run(str(FIXTURES), "--output-dir", str(there), "--shard-files", "50", "--scheduler", scheduler)
    for name in sorted(p.name for p in here.glob("shard-*.jsonl")):
        assert (there / name).read_bytes() == (here / name).read_bytes(), name
    assert (there / "summary.json").read_bytes() == (here / "summary.json").read_bytes()


def test_a_cluster_gone_mid_run_loses_no_file(scheduler: str) -> None:
    """Every file still gets its report when the client can no longer reach the cluster: an
    internal error that names the cause (exit 3), never a gap or a traceback."""
    from dcmstruct.commands.batch import iter_targets
    from dcmstruct.commands.cluster import run_on_cluster

    targets = list(iter_targets([str(FIXTURES / "rules")]))
    client = distributed.Client(scheduler)
    client.close()
    reports = list(run_on_cluster(iter(targets), None, client, chunk=7))
    assert [r.path for r in reports] == [t.path for t in targets]
    assert all(r.internal and "--output-dir started again" in r.internal[0] for r in reports)
