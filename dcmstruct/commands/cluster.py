"""Validate on a dask.distributed cluster: ``validate --scheduler ADDRESS`` or
``--local-cluster N``.

The same tasks as the local pool (:func:`dcmstruct.commands.batch.validate_rows`: a chunk of
files indexed, screened and checked together), submitted to the cluster's workers; the
reports come back in input order through the same writers, so findings, report and exit code
are those of the local run (``tests/test_cluster.py`` compares them).

Nothing lost, nothing twice:

- every target becomes one report, in input order, whatever happens to the task that held it;
- a worker that dies mid-task has its task run again on another worker by the scheduler (up
  to its ``distributed.scheduler.allowed-failures``); a task that still fails (KilledWorker)
  is split into one task per file, so only the file that kills workers is reported, as an
  internal error (exit code 3), and the others keep their findings;
- a file that cannot be read is reported with ``error`` (exit code 2), never dropped;
- a task lost with the cluster (the scheduler gone, the connection cut) turns into an
  internal error for each of its files: they are listed, not dropped, and a run with
  ``--output-dir`` started again goes on where this one stopped.

The workers read the files by the paths the client sends: an absolute path of a file system
they share with the client (the report shows each path as it was given). Standard input,
spooled on the client, is validated on the client. dask is imported here only: the base
install does not need it (``pip install 'dcmstruct[distributed]'``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from dcmstruct.commands.batch import (
    Entry,
    Listing,
    Target,
    TargetRow,
    chunks,
    entry,
    list_directory,
    target_rows,
    validate_rows,
    validate_targets,
    walk,
)
from dcmstruct.spool import STDIN_NAME
from dcmstruct.validate.engine import FileReport

if TYPE_CHECKING:
    from distributed import Client, Future

    from dcmstruct.validate.engine import Selection

# A task of a cluster costs the scheduler about a millisecond and a network round trip: more
# files per task than the local pool's 256 (a task of small files then takes about half a
# second), fewer where their bytes add up (a task of big files is not one worker's hour).
CLUSTER_CHUNK = 512
CLUSTER_CHUNK_BYTES = 64 << 20
# Tasks submitted ahead per worker thread: enough to keep each busy while results travel.
AHEAD_PER_THREAD = 4
# Directory listings asked for ahead of the walk, when the workers list the trees.
LIST_AHEAD = 64
# How long to wait for the scheduler before the run is a usage error.
CONNECT_TIMEOUT = 30.0

INSTALL_HINT = "pip install 'dcmstruct[distributed]'"


class ClusterError(Exception):
    """The cluster cannot be used (dask missing, the scheduler unreachable): exit code 2."""


@contextmanager
def connect(
    address: str | None, local_workers: int | None = None, timeout: float = CONNECT_TIMEOUT
) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a ``LocalCluster`` of
    ``local_workers`` worker processes (one thread each: validation holds the GIL) started
    here and closed on the way out."""
    try:
        import logging

        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError(f"the cluster needs dask.distributed ({exc}): {INSTALL_HINT}") from None
    cluster: Any = None
    try:
        if local_workers:
            cluster = LocalCluster(
                n_workers=local_workers,
                threads_per_worker=1,
                processes=True,
                # The scheduler serves HTTP whatever is asked (8787 by default): on a port of
                # its own, so a second run beside a cluster does not warn that 8787 is taken.
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout=timeout)
            try:
                # Tasks sent to a cluster without workers would wait for ever.
                client.wait_for_workers(1, timeout=timeout)
            except Exception:
                client.close()
                raise ClusterError(
                    f"the scheduler at {address} has no workers (waited {timeout:g} s; "
                    "--connect-timeout)"
                ) from None
    except ClusterError:
        raise
    except Exception as exc:  # an address dask cannot use raises what its protocol raises
        if cluster is not None:
            cluster.close()
        where = f"the scheduler at {address}" if not local_workers else "a local cluster"
        raise ClusterError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def workers_of(client: Client) -> int:
    """How many workers the scheduler has now."""
    try:
        return len(client.scheduler_info(n_workers=-1).get("workers", {}))
    except Exception:  # the count is for the progress line: never worth a failed run
        return 0


def _task(rows: list[TargetRow], selection: Selection | None, devices: bool) -> list[Any]:
    """One task, on a worker: the local pool's :func:`validate_rows`."""
    from dcmstruct.validate.registry import load_all

    load_all()
    return validate_rows(rows, selection, devices)


@dataclass
class _Remote:
    targets: list[Target]
    future: Future | None = None
    reports: list[FileReport] | None = None


ReportsFn: TypeAlias = Callable[[list[Target]], list[FileReport]]


def run_on_cluster(
    targets: Iterable[Target],
    selection: Selection | None,
    client: Client,
    *,
    chunk: int = CLUSTER_CHUNK,
    chunk_bytes: int = CLUSTER_CHUNK_BYTES,
    window: int | None = None,
    on_wait: Callable[[], None] | None = None,
    devices: bool = False,
) -> Iterator[FileReport]:
    """One report per target, in input order, as they come back (see the module's text).
    At most ``window`` tasks are pending (default: ``AHEAD_PER_THREAD`` per worker thread);
    ``on_wait`` is called whenever the next report is not back yet."""
    wait = on_wait or (lambda: None)
    runner = _Runner(client, selection, devices)
    try:
        threads = sum(client.nthreads().values()) or 1
    except Exception:  # the cluster is already gone: each task says so below
        threads = 1
    limit = max(2, window if window is not None else AHEAD_PER_THREAD * threads)
    pending: deque[_Remote] = deque()
    for part in chunks(targets, chunk, chunk_bytes):
        pending.append(runner.submit(part))
        while len(pending) >= limit:
            yield from runner.result(pending.popleft(), wait)
    while pending:
        yield from runner.result(pending.popleft(), wait)


class _Runner:
    def __init__(self, client: Client, selection: Selection | None, devices: bool) -> None:
        self.client = client
        self.selection = selection
        self.devices = devices
        self.lost: BaseException | None = None  # the cluster is gone: nothing more is sent

    def submit(self, targets: list[Target]) -> _Remote:
        job = _Remote(targets)
        local = all(t.error is not None for t in targets) or any(
            t.label == STDIN_NAME for t in targets
        )
        if local:  # nothing to read, or a spooled standard input only this machine has
            job.reports = validate_targets(targets, self.selection, self.devices)
        elif self.lost is not None:
            job.reports = [_lost(t, self.lost) for t in targets]
        else:
            try:
                job.future = self._send([_absolute(t) for t in targets])
            except Exception as exc:  # the client is closed: the scheduler went away
                self.lost = exc
                job.reports = [_lost(t, exc) for t in targets]
        return job

    def _send(self, targets: list[Target]) -> Future:
        # pure=False: a task is never answered from another's result (files change).
        return self.client.submit(
            _task, target_rows(targets), self.selection, self.devices, pure=False
        )

    def result(self, job: _Remote, wait: Callable[[], None]) -> list[FileReport]:
        if job.reports is not None:
            return job.reports
        assert job.future is not None
        if not job.future.done():
            wait()
        try:
            return [FileReport(*row) for row in job.future.result()]
        except Exception as exc:
            if not _killed(exc):
                self.lost = exc  # not one task's fault: the cluster itself failed
            return self._failed(job.targets, exc)

    def _failed(self, targets: list[Target], exc: Exception) -> list[FileReport]:
        """The task failed as a whole: a worker died on it each time it ran, or the cluster
        went away. Each file is then run alone, one after the other, to find the one that
        kills workers; a file is tried twice, as a task that was only queued on a worker a
        killer took down counts as suspect too. A file that cannot be run is an internal
        error in its report, never left out."""
        if not _killed(exc) or self.lost is not None:
            return [_lost(t, exc) for t in targets]
        reports = []
        for target in targets:
            report: FileReport | None = None
            for _ in range(_TRIES_ALONE):
                try:
                    report = FileReport(*self._send([_absolute(target)]).result()[0])
                    break
                except Exception as alone:
                    exc = alone
                    if not _killed(alone):
                        self.lost = alone
                        break
            reports.append(report if report is not None else _lost(target, exc))
        return reports


# A file run alone is tried this many times before it is called the one that kills workers.
_TRIES_ALONE = 2


def _killed(exc: BaseException) -> bool:
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker)


def _absolute(target: Target) -> Target:
    """The target as a worker reads it: by an absolute path (a worker's current directory is
    its own), reported as given."""
    path = os.path.abspath(target.path)
    if path == target.path:
        return target
    return Target(path, target.error, target.label or target.path, target.size, target.mtime)


# How the internal entries this module writes begin: not bugs, but files the cluster lost.
LOST_PREFIXES = ("the worker validating this file died", "the cluster did not return")


def _lost(target: Target, exc: BaseException) -> FileReport:
    from distributed.scheduler import KilledWorker

    shown = target.label or target.path
    if isinstance(exc, KilledWorker):
        text = (
            "the worker validating this file died each time it ran (a crash or kill; "
            "the scheduler's distributed.scheduler.allowed-failures)"
        )
    else:
        text = (
            f"the cluster did not return this file's report ({type(exc).__name__}: {exc}); "
            "a run with --output-dir started again validates it"
        )
    return FileReport(shown, [], internal=[text])


# -- the walk on the workers (--list-on-workers) ------------------------------------------


def _scan(path: str, top: bool) -> tuple[str | None, list[Entry]]:
    """On a worker: ``path`` itself (``top``), or the listing of the directory ``path``, its
    entries stat'ed there (the same functions as the client's walk)."""
    if top:
        return None, [entry(path)]
    why, entries = list_directory(path)
    return why, list(entries)


def worker_targets(
    paths: Iterable[str], client: Client, stdin: Target | None = None
) -> Iterator[Target]:
    """What :func:`dcmstruct.commands.batch.iter_targets` yields, in the same order (the same
    :func:`~dcmstruct.commands.batch.walk`), with the directories listed and the files
    stat'ed on the workers: for trees on a file system the client reaches slowly. Listings
    are asked for up to ``LIST_AHEAD`` directories ahead."""
    for given in paths:
        if stdin is not None and given == STDIN_NAME:
            yield stdin
            continue
        yield from _walk(client, given)


def _walk(client: Client, given: str) -> Iterator[Target]:
    top = os.path.abspath(given)
    asked: dict[str, Future] = {}

    def shown(target: Target) -> Target:
        """The worker's absolute path, reported as the client was given it."""
        path = target.path
        if path == top:
            label = None if given == top else given
        else:
            label = os.path.join(given, os.path.relpath(path, top))
        return replace(target, label=label)

    def ask(path: str) -> None:
        if path not in asked:
            asked[path] = client.submit(_scan, path, False, pure=False)

    def listing(path: str) -> Listing:
        ask(path)
        future = asked.pop(path)
        try:
            why, entries = future.result()
        except Exception as exc:
            return f"listing it on a worker failed: {type(exc).__name__}: {exc}", ()
        # Ask ahead for the subdirectories to come, so that workers list them meanwhile.
        for sub in entries:
            if sub[0] == "d" and len(asked) < LIST_AHEAD:
                ask(sub[1])
        return why, entries

    _, (first,) = client.submit(_scan, top, True, pure=False).result()
    yield from walk(first, listing, shown)


__all__ = [
    "CLUSTER_CHUNK",
    "CLUSTER_CHUNK_BYTES",
    "LOST_PREFIXES",
    "ClusterError",
    "connect",
    "run_on_cluster",
    "worker_targets",
    "workers_of",
]
