"""Validate many files: walk the paths, run files in worker processes, stream the reports.

What is taken: every path given; in a directory, every regular file below it, recursively, in
name order, whatever its name or extension (a PACS folder holds files without extension, and
a file that is not DICOM simply gets findings). Symbolic links are followed; a link that loops
back to a directory that contains it is reported, not followed. Nothing is skipped silently:
a path that cannot be read (missing, a dangling link, permission denied, an unreadable
directory, a FIFO, socket or device, a ``/proc`` or ``/sys`` pseudo-file) becomes a report
with ``error`` set, and the batch goes on; such a file is never opened.

Reports come out in input order. With ``jobs > 1`` files run in a pool of worker processes
(``fork`` where the platform has it), in chunks of a few files per task, and at most
``window`` chunks (default ``4 * workers``) are in flight or waiting to be written, so a batch
of any size holds a bounded number of reports. The pool has at most ``jobs`` workers, at most
``JOBS_PER_CORE`` per usable core, and, for a batch that ends within the first round of tasks
(counted before the pool starts; a longer one is never listed whole), at most one per file.

A worker that dies (a crash, the OOM killer) does not end the batch: its chunks are run
again, and a chunk lost twice runs file by file, each alone; a file whose worker dies then
gets an internal error.
"""

from __future__ import annotations

import os
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, TypeAlias

from dcmstruct.devices import device_of
from dcmstruct.source import check_regular
from dcmstruct.spool import STDIN_NAME
from dcmstruct.validate.batch import BATCH_NODES, BATCH_ROWS
from dcmstruct.validate.engine import FileReport, Selection, check_opened, open_index

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.context import BaseContext

    from dcmstruct.index import ElementIndex
    from dcmstruct.validate.finding import Finding

# multiprocessing and concurrent.futures (with socket, pickle, logging, hashlib) are imported
# only when a pool starts: most runs, and every run of one file, need none of them.


@dataclass(frozen=True, slots=True)
class Target:
    """A path to validate; ``error``: why it cannot be read, found while walking; ``label``:
    the path its report shows, if not ``path`` (``-`` for standard input spooled to a file);
    ``size``: its size when the walk saw it."""

    path: str
    error: str | None = None
    label: str | None = None
    # Bytes, as the walk found it (0: not known): sets the chunks, not what the target is.
    size: int = field(default=0, compare=False)
    # Modification time in ns, as the walk found it (0: not known): a resumed run's key.
    mtime: int = field(default=0, compare=False)


# -- the walk -----------------------------------------------------------------------------


def iter_targets(
    paths: Iterable[str | os.PathLike[str]], stdin: Target | None = None
) -> Iterator[Target]:
    """Every file to validate under ``paths``, lazily (a huge tree is never listed whole).
    ``stdin``: what a path ``-`` stands for (without it, ``-`` is a file of that name)."""
    for p in paths:
        path = os.fspath(p)
        if stdin is not None and path == STDIN_NAME:
            yield stdin
            continue
        yield from walk(entry(path), list_directory)


# What the walk meets: ("f", Target) a file (or a path that cannot be read: its error set),
# or ("d", path, st_dev, st_ino) a directory. Plain tuples: they cross to a cluster's workers
# when those list the trees (dcmstruct.commands.cluster).
Entry: TypeAlias = "tuple[Any, ...]"
# How a directory is listed: why it cannot be (None: it can), and its entries in name order.
Listing: TypeAlias = "tuple[str | None, Iterable[Entry]]"
LOOP = "symbolic link loop: links to a directory that contains it"


def entry(path: str) -> Entry:
    """What ``path`` is, from one ``stat``."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return ("f", Target(path, reason(exc, path)))
    if stat.S_ISDIR(st.st_mode):
        return ("d", path, st.st_dev, st.st_ino)
    return ("f", file_target(path, st))


def list_directory(directory: str) -> Listing:
    """The entries of ``directory``, names sorted, each stat'ed only when the walk reaches it
    (a directory of a million files is not stat'ed whole before its first file)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return reason(exc, directory), ()
    return None, (entry(os.path.join(directory, name)) for name in names)


def walk(
    first: Entry,
    listing: Callable[[str], Listing],
    shown: Callable[[Target], Target] | None = None,
) -> Iterator[Target]:
    """The targets of ``first``: itself if a file, else every file below it, depth first in
    name order, with an explicit stack (no recursion on deep trees). A directory that links
    back to one that contains it is reported, not followed. ``listing`` lists a directory
    (here, or on a cluster's workers); ``shown`` gives a target the path its report shows."""
    label = shown or (lambda target: target)
    if first[0] == "f":
        yield label(first[1])
        return
    stack: list[tuple[Iterator[Entry], tuple[int, int]]] = []
    ancestors: set[tuple[int, int]] = set()

    def enter(e: Entry) -> Target | None:
        key = (e[2], e[3])
        if key in ancestors:
            return Target(e[1], LOOP)
        why, entries = listing(e[1])
        if why is not None:
            return Target(e[1], why)
        ancestors.add(key)
        stack.append((iter(entries), key))
        return None

    failed = enter(first)
    if failed is not None:
        yield label(failed)
        return
    while stack:
        entries, key = stack[-1]
        e = next(entries, None)
        if e is None:
            stack.pop()
            ancestors.discard(key)
        elif e[0] == "d":
            failed = enter(e)
            if failed is not None:
                yield label(failed)
        else:
            yield label(e[1])


def file_target(path: str, st: os.stat_result) -> Target:
    try:
        check_regular(path, st)
    except OSError as exc:
        return Target(path, reason(exc, path))
    return Target(path, size=st.st_size, mtime=st.st_mtime_ns)


def reason(exc: OSError, path: str) -> str:
    text = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        text += " (dangling symbolic link)"
    return text


# -- one file -----------------------------------------------------------------------------


def validate_target(
    target: Target, selection: Selection | None = None, devices: bool = False
) -> FileReport:
    """Validate one target. Never raises: an unreadable file is an ``error``, an exception
    anywhere is an ``internal`` entry (a bug)."""
    return validate_targets([target], selection, devices)[0]


def validate_targets(
    targets: list[Target], selection: Selection | None = None, devices: bool = False
) -> list[FileReport]:
    """:func:`validate_target` for each of a chunk of targets (one task of a worker): the files
    are indexed one by one, then checked together, so the rules' screens run once for the
    chunk (:func:`dcmstruct.validate.engine.check_opened`). ``devices``: each report carries
    the file's device (:func:`dcmstruct.devices.device_of`). Never raises."""
    reports: list[FileReport | None] = []
    opened: list[tuple[int, str, ElementIndex]] = []
    rows = 0

    def check_opened_ones() -> None:
        nonlocal rows
        try:
            for (k, _, index), report in zip(opened, _check(opened, selection), strict=True):
                reports[k] = _with_device(report, index) if devices else report
        finally:
            for _, _, index in opened:
                index.close()
            opened.clear()
            rows = 0

    try:
        for target in targets:
            got = _open(target, selection)
            if isinstance(got, FileReport):
                reports.append(got)
            elif len(got) > BATCH_NODES:  # checked at once: big indexes are never held together
                with got:
                    report = _check([(0, target.path, got)], selection)[0]
                    reports.append(_with_device(report, got) if devices else report)
            else:
                if rows + len(got) > BATCH_ROWS:  # the indexes held at once stay bounded
                    check_opened_ones()
                opened.append((len(reports), target.path, got))
                rows += len(got)
                reports.append(None)
        check_opened_ones()
    finally:
        for _, _, index in opened:
            index.close()
    out: list[FileReport] = []
    for target, done in zip(targets, reports, strict=True):
        assert done is not None
        if target.label is not None:
            done.path = target.label
        out.append(done)
    return out


def _with_device(report: FileReport, index: ElementIndex) -> FileReport:
    if report.error is None:
        try:
            found = device_of(index)
            report.device = (found.manufacturer, found.model, found.software)
        except Exception:  # a bug here must not cost the file its findings
            report.internal.append(f"reading its device failed:\n{_traceback()}")
    return report


def _open(target: Target, selection: Selection | None) -> ElementIndex | FileReport:
    path = target.path
    if target.error is not None:
        return FileReport(path, [], error=target.error)
    try:
        # Source.open refuses a FIFO, device or socket before opening it (it could block).
        return open_index(path, selection)
    except OSError as exc:  # gone or changed since the walk
        return FileReport(path, [], error=reason(exc, path))
    except MemoryError:
        return FileReport(path, [], error=_NO_MEMORY)
    except Exception:  # reported as an internal error; the batch goes on
        return FileReport(path, [], internal=[f"validating failed:\n{_traceback()}"])


def _check(
    opened: list[tuple[int, str, ElementIndex]], selection: Selection | None
) -> list[FileReport]:
    pairs = [(path, index) for _, path, index in opened]
    try:
        return check_opened(pairs, selection)
    except Exception as exc:  # MemoryError too
        if len(pairs) > 1:
            # The batch may be what did not fit, or one file's check fails: each file alone,
            # so that the others keep their reports.
            return [_check([item], selection)[0] for item in opened]
        if isinstance(exc, MemoryError):
            return [FileReport(pairs[0][0], [], error=_NO_MEMORY)]
        return [FileReport(pairs[0][0], [], internal=[f"validating failed:\n{_traceback()}"])]


# Not a bug: this file needs more memory than the machine gives (the index stops at its node
# cap, so this is a small machine or a tight limit on the address space).
_NO_MEMORY = "not enough memory to check this file (try a lower --max-nodes)"


def _traceback() -> str:
    import traceback

    return traceback.format_exc()


# -- the batch ----------------------------------------------------------------------------


# Files per task: the rules' screens run once per task over all its files
# (dcmstruct.validate.batch), so a task of small files costs little more than their indexing.
CHUNK = 256
# A task ends sooner where its files add up to this many bytes: big files are not held back
# behind each other (their reports come out as they are done) and are spread over the workers.
CHUNK_BYTES = 8 << 20

# Validation is CPU-bound; a few workers per core still help where files come from a slow
# (network) file system, more only cost memory and start-up time.
JOBS_PER_CORE = 4


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan_pool(jobs: int, seen: list[Target], complete: bool, chunk: int) -> tuple[int, int]:
    """How many workers to start, and how many files per task.

    ``seen``: the first targets of the batch; ``complete``: they are all of them. Never more
    workers than ``jobs``, than ``JOBS_PER_CORE`` per usable core, or than readable files
    known; a batch known to be small is spread over the workers (smaller tasks) so no worker
    is started for nothing. 1 worker means: run in this process."""
    workers = max(1, min(jobs, JOBS_PER_CORE * usable_cores()))
    size = max(1, chunk)
    if complete:
        readable = sum(1 for t in seen if t.error is None)
        workers = max(1, min(workers, readable))
        size = min(size, -(-len(seen) // workers))
    return workers, size


def run_batch(
    targets: Iterable[Target],
    selection: Selection | None = None,
    jobs: int = 1,
    *,
    window: int | None = None,
    chunk: int = CHUNK,
    on_wait: Callable[[], None] | None = None,
    devices: bool = False,
) -> Iterator[FileReport]:
    """One report per target, in input order, as they are ready. ``jobs`` <= 1 runs in this
    process; otherwise a pool of at most ``jobs`` worker processes (see :func:`plan_pool`),
    each task a chunk of up to ``chunk`` files (a small file takes a fraction of a millisecond:
    one file per task would spend more on inter-process traffic than on validation, and the
    rules' screens run once per chunk; a chunk ends sooner at ``CHUNK_BYTES``), with at most
    ``window`` tasks pending (default ``4 * workers``). ``on_wait`` is called whenever no
    further report is ready yet (a writer flushes its output there: a consumer sees every
    report that is done, at a system call per wait rather than per file). ``devices``: see
    :func:`validate_targets`."""
    wait = on_wait or (lambda: None)
    it = iter(targets)
    if jobs <= 1:
        for part in chunks(it, chunk):
            wait()
            yield from validate_targets(part, selection, devices)
        return
    # Look ahead as far as a full first round of tasks: a batch that ends there has a known
    # size, which sets the pool (a huge tree is still never listed whole).
    ahead = max(1, min(jobs, JOBS_PER_CORE * usable_cores())) * max(1, chunk)
    first = list(islice(it, ahead))
    workers, size = plan_pool(jobs, first, len(first) < ahead, chunk)
    rest = chain(first, it)
    if workers <= 1:  # a pool would only add its start-up time
        for part in chunks(rest, chunk):
            wait()
            yield from validate_targets(part, selection, devices)
        return
    pool = _Pool(workers, selection, devices)
    limit = max(2, window if window is not None else 4 * workers)
    pending: deque[_Job] = deque()
    try:
        for part in chunks(rest, size):
            pending.append(pool.submit(part))
            while len(pending) >= limit:
                if not pending[0].ready():
                    wait()
                yield from pool.result(pending.popleft(), pending)
        while pending:
            if not pending[0].ready():
                wait()
            yield from pool.result(pending.popleft(), pending)
    finally:
        pool.shutdown()


def chunks(
    targets: Iterable[Target], count: int, size: int = CHUNK_BYTES
) -> Iterator[list[Target]]:
    """Up to ``count`` targets at a time, fewer where their sizes reach ``size`` bytes."""
    part: list[Target] = []
    total = 0
    for target in targets:
        part.append(target)
        total += target.size
        if len(part) >= count or total >= size:
            yield part
            part, total = [], 0
    if part:
        yield part


def _worker_init() -> None:
    import signal

    from dcmstruct.validate.registry import load_all

    # Ctrl-C goes to the whole process group: the parent stops the batch, workers just end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    load_all()


def _end_with_parent() -> None:
    """On Linux, a worker is killed when the process that started it dies: a parent killed
    with SIGKILL (the OOM killer) leaves no workers behind, blocked on a result pipe that no
    one reads any more. The pool starts its workers from the thread that runs the batch (fork
    start method), the thread this signal watches."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the signal was asked for
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _context() -> BaseContext:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


# Targets and reports cross the process boundary as plain tuples: a tuple pickles several
# times faster than a dataclass instance (at 10,000 small files, a few percent of the run).
TargetRow: TypeAlias = "tuple[str, str | None, str | None, int, int]"
ReportRow: TypeAlias = (
    "tuple[str, list[Finding], str | None, list[str], tuple[str, str, str] | None]"
)


def target_rows(targets: list[Target]) -> list[TargetRow]:
    return [(t.path, t.error, t.label, t.size, t.mtime) for t in targets]


def validate_rows(
    rows: list[TargetRow], selection: Selection | None, devices: bool = False
) -> list[ReportRow]:
    """:func:`validate_targets` in a worker (a process of the pool, or of a cluster), on
    tuples."""
    reports = validate_targets([Target(*row) for row in rows], selection, devices)
    return [(r.path, r.findings, r.error, r.internal, r.device) for r in reports]


@dataclass
class _Job:
    targets: list[Target]
    future: Future[list[ReportRow]] | None = None
    reports: list[FileReport] | None = None
    broken: int = 0  # how many times a pool broke while this job was in it

    def ready(self) -> bool:
        return self.reports is not None or (self.future is not None and self.future.done())


class _Pool:
    """A process pool that survives the death of a worker."""

    def __init__(self, jobs: int, selection: Selection | None, devices: bool = False) -> None:
        self.jobs = jobs
        self.selection = selection
        self.devices = devices
        self.context = _context()
        self.executor = self._new(jobs)

    def _new(self, workers: int) -> ProcessPoolExecutor:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(workers, mp_context=self.context, initializer=_worker_init)

    def submit(self, targets: list[Target]) -> _Job:
        job = _Job(targets)
        if all(t.error is not None for t in targets):
            job.reports = validate_targets(targets, self.selection, self.devices)
        else:
            job.future = self.executor.submit(
                validate_rows, target_rows(targets), self.selection, self.devices
            )
        return job

    def result(self, job: _Job, pending: deque[_Job]) -> list[FileReport]:
        import traceback
        from concurrent.futures.process import BrokenProcessPool

        while True:
            if job.reports is not None:
                return job.reports
            assert job.future is not None
            try:
                return [FileReport(*row) for row in job.future.result()]
            except BrokenProcessPool:
                self._recover([job, *pending])
            except Exception:  # e.g. a report that could not be pickled
                text = f"worker failed:\n{traceback.format_exc()}"
                return [FileReport(t.path, [], internal=[text]) for t in job.targets]

    def _recover(self, jobs: list[_Job]) -> None:
        """A worker died: start a new pool and run again every job the old one lost. A job
        lost twice runs file by file, each alone, to find the file that kills workers."""
        old = self.executor
        old.shutdown(wait=True, cancel_futures=True)
        self.executor = self._new(self.jobs)
        for job in jobs:
            future = job.future
            if job.reports is not None or future is None:
                continue
            if future.done() and not future.cancelled() and future.exception() is None:
                continue  # finished before the pool broke
            job.broken += 1
            if job.broken >= 2:
                job.reports = [self._alone(t) for t in job.targets]
            else:
                job.future = self.executor.submit(
                    validate_rows, target_rows(job.targets), self.selection, self.devices
                )

    def _alone(self, target: Target) -> FileReport:
        """Run one file in a pool of its own, to know whether it is what kills workers."""
        from concurrent.futures.process import BrokenProcessPool

        executor = self._new(1)
        try:
            return executor.submit(validate_target, target, self.selection, self.devices).result()
        except BrokenProcessPool:
            return FileReport(
                target.path,
                [],
                internal=["the worker process died while validating this file (crash or kill)"],
            )
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


__all__ = [
    "JOBS_PER_CORE",
    "LOOP",
    "Entry",
    "Listing",
    "ReportRow",
    "Target",
    "TargetRow",
    "chunks",
    "entry",
    "file_target",
    "iter_targets",
    "list_directory",
    "plan_pool",
    "reason",
    "run_batch",
    "target_rows",
    "usable_cores",
    "validate_rows",
    "validate_target",
    "validate_targets",
    "walk",
]
