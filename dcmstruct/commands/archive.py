"""``validate --output-dir DIR``: the report of an archive, as shards, resumable.

DIR holds:

* ``shard-NNNNN.jsonl``: one line per file, the ``files`` entry of the JSON format
  (``{"path", "findings", "summary"}``, plus ``error`` or ``internal``) and ``key``, the
  file's absolute path (the same relative path from two directories is two files); in input
  order; a new shard every ``SHARD_FILES`` files or ``SHARD_BYTES`` bytes;
* ``shard-NNNNN.parquet``, where pyarrow is installed: the same as a table, a row per finding
  (``file``, ``rule``, ``severity``, ``offset``, ``length``, ``tag``, ``path``, ``message``,
  and the file's ``error`` and ``internal``) and, so that every file is in it, a row with no
  rule for a file without any;
* ``manifest.jsonl``: a header line (the settings the run checks with), then a line per file
  done: its absolute path, size and mtime (the key of a resumed run), the shard and where its
  line ends there, its counts and its device;
* ``summary.json``: the summary of everything in DIR (this run and those before it), with
  findings by rule and device.

A run given a DIR that has a manifest goes on from it: a file whose path, size and mtime are
in it, with a report to keep, is not validated again; a file that could not be read or met an
internal error (a worker or the cluster lost) is, and so is a file that changed. A shard line
is written (and flushed) before its manifest line, so a run stopped between the two leaves a
line no manifest entry covers: it is cut off when the next run starts, and so is a manifest
line cut short. When a run ends, the lines no entry owns any more (a changed file's old line;
with ``--prune``, the files of DIR this run's paths did not hold) are taken out: the shards
that hold them are written again as new shards, a new manifest is committed (renamed into
place), then the old shards are deleted; a run stopped in between leaves the old state or the
new one, and the next run deletes the shards its manifest does not name. So every file is in
DIR once. The settings (rules, severities, limits, --fail-on, and what messages may quote)
must be those of the manifest (a usage error otherwise; start a new DIR), and so must its
shards (a DIR whose manifest does not match them is refused). One run at a time: DIR is
locked (a POSIX lock, which forked workers do not inherit) while a run writes it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from dcmstruct.commands.batch import Target
from dcmstruct.report import Summary, file_summary
from dcmstruct.report.devices import DeviceTable, rule_counts
from dcmstruct.report.json import file_record
from dcmstruct.validate.engine import FileReport, Selection
from dcmstruct.validate.finding import Severity
from dcmstruct.version import version

SHARD_FILES = 100_000
SHARD_BYTES = 256 << 20
MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
LOCK = ".lock"
_FORMAT = 1  # the manifest's format: a later one is refused, not misread


class ArchiveError(Exception):
    """DIR cannot be used (locked, other settings, not writable): exit code 2."""


@dataclass(slots=True)
class _Done:
    """A file of the manifest, held for the whole run: small (slots, shared tuples), as an
    archive's manifest has millions of them."""

    size: int
    mtime: int
    shard: int
    end: int
    length: int  # bytes of its shard line
    error: int
    warning: int
    info: int
    worst: int | None  # the highest severity found
    unreadable: bool
    internal: bool
    device: tuple[str, ...] | None
    rules: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, rec: dict[str, Any]) -> _Done:
        device = rec.get("device")
        rules = rec.get("rules") or {}
        return cls(
            int(rec["size"]),
            int(rec["mtime"]),
            int(rec["shard"]),
            int(rec["end"]),
            int(rec["bytes"]),
            int(rec["error"]),
            int(rec["warning"]),
            int(rec["info"]),
            None if rec.get("worst") is None else int(rec["worst"]),
            bool(rec["unreadable"]),
            bool(rec["internal"]),
            None if device is None else _shared(tuple(str(v) for v in device)),
            _shared(tuple(sorted((str(k), int(v)) for k, v in rules.items()))),
        )

    def record(self, key: str) -> dict[str, object]:
        """Its manifest line."""
        return {
            "key": key,
            "size": self.size,
            "mtime": self.mtime,
            "shard": self.shard,
            "end": self.end,
            "bytes": self.length,
            "error": self.error,
            "warning": self.warning,
            "info": self.info,
            "worst": self.worst,
            "unreadable": self.unreadable,
            "internal": self.internal,
            "device": None if self.device is None else list(self.device),
            "rules": dict(self.rules),
        }


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One object for equal values: an archive's devices and rule counts repeat."""
    return _SHARED.setdefault(value, value)


def settings_record(selection: Selection, fail_on: Severity, messages: str) -> dict[str, object]:
    """What a resumed run must share with the manifest: what is checked, what fails, and what
    messages may quote (``private``, ``mask`` or ``values``: masked and unmasked messages must
    not mix in one DIR)."""
    return {
        "select": None if selection.select is None else sorted(selection.select),
        "ignore": sorted(selection.ignore),
        "severities": {k: Severity(v).label for k, v in sorted(selection.severities.items())},
        "limits": list(selection.limits),
        "fail_on": fail_on.label,
        "messages": messages,
    }


@dataclass
class Archive:
    """DIR, open for a run (see the module's text)."""

    root: str
    settings: dict[str, object]
    show_values: bool = False
    shard_files: int = SHARD_FILES
    shard_bytes: int = SHARD_BYTES
    prune: bool = False  # drop the files of DIR this run's paths did not hold
    done: dict[str, _Done] = field(default_factory=dict)
    skipped: int = 0
    written: int = 0
    _seen: set[str] = field(default_factory=set)  # keys this run's paths held
    _dirty: set[int] = field(default_factory=set)  # shards holding lines no entry owns
    _shard: int = -1
    _out: IO[str] | None = None
    _manifest: IO[str] | None = None
    _lock: IO[bytes] | None = None
    _in_shard: int = 0

    # -- opening ------------------------------------------------------------------------

    def open(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise ArchiveError(f"{self.root}: not a directory")
        try:
            os.makedirs(self.root, exist_ok=True)
            self._lock = open(os.path.join(self.root, LOCK), "ab")  # noqa: SIM115
        except OSError as exc:
            raise ArchiveError(f"{self.root}: {exc.strerror or exc}") from None
        import fcntl

        try:
            # A POSIX lock, not flock(): a forked pool worker does not inherit it, so a run
            # killed with its workers left behind does not keep DIR locked.
            fcntl.lockf(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ArchiveError(f"{self.root}: another run is writing it") from None
        path = os.path.join(self.root, MANIFEST)
        try:
            if os.path.lexists(path):
                self._read_manifest(path)
            elif self._shards():
                raise ArchiveError(
                    f"{self.root}: holds shards but no {MANIFEST}: not a DIR this command can "
                    "go on with; give a new --output-dir"
                )
            else:
                header = {"manifest": _FORMAT, "dcmstruct": version(), "settings": self.settings}
                with open(path, "w", encoding="utf-8") as f:
                    f.write(json.dumps(header) + "\n")
            self._manifest = open(path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise ArchiveError(f"{path}: {exc.strerror or exc}") from None

    def _read_manifest(self, path: str) -> None:
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        # The last line is cut short (or empty) where a run stopped mid-write: it is dropped.
        # A bad line anywhere else is a DIR this command did not leave so: refused.
        header = _json_line(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("manifest") != _FORMAT:
            raise ArchiveError(f"{path}: not a manifest this version of dcmstruct reads")
        if header.get("settings") != self.settings:
            raise ArchiveError(
                f"{path}: written with other settings (rules, severities, limits, --fail-on, "
                "--mask or --show-values): their reports would not mix; give another --output-dir"
            )
        kept = len(lines[0]) + 1
        body = lines[1:]
        for number, line in enumerate(body, start=2):
            last = number == len(body) + 1
            rec = _json_line(line)
            try:
                if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
                    raise TypeError
                done = _Done.of(rec)
            except (KeyError, TypeError, ValueError, AttributeError):
                if last:
                    break
                raise ArchiveError(
                    f"{path}: line {number} is not a manifest entry; give a new --output-dir"
                ) from None
            key = rec["key"]
            previous = self.done.get(key)
            if previous is not None:  # done again later: its earlier line is stale
                self._dirty.add(previous.shard)
            self.done[key] = done
            kept += len(line) + 1
        kept = min(kept, len(data))
        self._check_shards(path)
        if kept < len(data):
            with open(path, "r+b") as f:
                f.truncate(kept)
                if kept and data[kept - 1 : kept] != b"\n":
                    f.write(b"\n")

    def _check_shards(self, manifest: str) -> None:
        """Cut every shard to what the manifest says it holds, check that the last line it
        names there is that file's, and delete shards no entry names (a run stopped before
        its compaction was committed)."""
        last: dict[int, tuple[str, _Done]] = {}
        for key, done in self.done.items():
            if done.shard not in last or done.end > last[done.shard][1].end:
                last[done.shard] = (key, done)
        for shard in self._shards():
            if shard not in last:
                for ext in ("jsonl", "parquet"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._name(shard, ext))
                continue
            key, done = last[shard]
            name = self._name(shard, "jsonl")
            with open(name, "r+b") as f:
                f.seek(done.end - done.length)
                line = _json_line(f.read(done.length))
                if not isinstance(line, dict) or line.get("key") != key:
                    raise ArchiveError(f"{manifest} does not match {name}: give a new --output-dir")
                if os.path.getsize(name) > done.end:
                    f.truncate(done.end)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._name(shard, "parquet"))
        missing = sorted(set(last) - set(self._shards()))
        if missing:
            raise ArchiveError(
                f"{manifest} names {self._name(missing[0], 'jsonl')}, which is gone: give a new "
                "--output-dir"
            )
        self._shard = max(last, default=-1)
        for name in os.listdir(self.root):
            if name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.root, name))

    def _shards(self) -> list[int]:
        found = []
        for name in os.listdir(self.root):
            if name.startswith("shard-") and name.endswith(".jsonl"):
                with contextlib.suppress(ValueError):
                    found.append(int(name[6:-6]))
        return sorted(found)

    def _name(self, shard: int, ext: str) -> str:
        return os.path.join(self.root, f"shard-{shard:05d}.{ext}")

    # -- the run ------------------------------------------------------------------------

    def is_done(self, target: Target) -> bool:
        """Is ``target`` in DIR as it is now (the same size and mtime), with a report to keep?
        A file that could not be read, or met an internal error (a worker or the cluster
        lost), is done again."""
        done = self.done.get(_key(target))
        return (
            done is not None
            and target.error is None
            and not done.unreadable
            and not done.internal
            and (done.size, done.mtime) == (target.size, target.mtime)
        )

    def pending(self, targets: Iterator[Target]) -> Iterator[Target]:
        """The targets to validate: not done (:meth:`is_done`), not given twice in this run,
        and not DIR's own files."""
        inside = os.path.join(os.path.abspath(self.root), "")
        for target in targets:
            key = _key(target)
            if key.startswith(inside) or key in self._seen:
                continue
            self._seen.add(key)
            if self.is_done(target):
                self.skipped += 1
                continue
            yield target

    def write(self, target: Target, report: FileReport) -> None:
        """The report of ``target``: a shard line, then its manifest line."""
        if (
            self._out is None
            or self._in_shard >= self.shard_files
            or (self._out.tell() >= self.shard_bytes)
        ):
            self._next_shard()
        assert self._out is not None and self._manifest is not None
        key = _key(target)
        # The absolute path too: the same relative path from two directories is two files.
        line = json.dumps({**file_record(report), "key": key}) + "\n"
        self._out.write(line)
        self._out.flush()
        previous = self.done.get(key)
        if previous is not None:  # done before, changed since: its old line goes
            self._dirty.add(previous.shard)
        counts = file_summary(report)
        done = _Done(
            target.size,
            target.mtime,
            self._shard,
            self._out.tell(),
            len(line.encode("utf-8")),
            counts["error"],
            counts["warning"],
            counts["info"],
            max((int(f.severity) for f in report.findings), default=None),
            report.error is not None,
            bool(report.internal),
            None if report.device is None else _shared(tuple(report.device)),
            _shared(tuple(sorted(rule_counts(report.findings).items()))),
        )
        self._manifest.write(json.dumps(done.record(key)) + "\n")
        self._manifest.flush()
        self.done[key] = done
        self._in_shard += 1
        self.written += 1

    def _next_shard(self) -> None:
        if self._out is not None:
            self._out.close()
            _to_parquet(self._name(self._shard, "jsonl"))
        self._shard += 1
        self._out = open(self._name(self._shard, "jsonl"), "w", encoding="utf-8")  # noqa: SIM115
        self._in_shard = 0

    def finish(self, fail_on: Severity) -> tuple[Summary, dict[str, object]]:
        """Close the shards, take out stale lines (and, with ``prune``, the files this run
        did not see), write summary.json; the summary of everything in DIR, and what
        summary.json holds."""
        if self._out is not None:
            self._out.close()
            self._out = None
        unseen = [key for key in self.done if key not in self._seen]
        if self.prune and unseen:
            for key in unseen:
                self._dirty.add(self.done.pop(key).shard)
        if self._dirty:
            self._compact()
        for shard in self._shards():
            name = self._name(shard, "jsonl")
            parquet = self._name(shard, "parquet")
            if not os.path.exists(parquet) or os.path.getmtime(parquet) < os.path.getmtime(name):
                _to_parquet(name)
        summary = Summary(fail_on=fail_on)
        devices = DeviceTable(show_values=self.show_values)
        for done in self.done.values():
            summary.files += 1
            summary.error += done.error
            summary.warning += done.warning
            summary.info += done.info
            summary.unreadable += done.unreadable
            summary.internal += done.internal
            summary.failing += done.worst is not None and done.worst >= int(fail_on)
            if not done.unreadable:
                devices.add(done.device, dict(done.rules))
        record: dict[str, object] = {
            "summary": summary.contract(),
            "this_run": {
                "validated": self.written,
                "skipped_as_done": self.skipped,
                # In DIR, not among this run's paths: deleted, or not given this time.
                "not_seen": 0 if self.prune else len(unseen),
                "pruned": len(unseen) if self.prune else 0,
            },
            "shards": len(self._shards()),
            **devices.record(),
        }
        tmp = os.path.join(self.root, SUMMARY + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        os.replace(tmp, os.path.join(self.root, SUMMARY))
        return summary, record

    def _compact(self) -> None:
        """Rewrite the shards that hold lines no entry owns (a changed file's old line, a
        pruned file's) as new shards, then commit a new manifest, then delete the old ones. A
        run stopped anywhere in between leaves either the old manifest and shards or the new
        ones: the next run deletes the shards its manifest does not name."""
        assert self._manifest is not None
        self._manifest.close()
        by_shard: dict[int, list[_Done]] = {}
        for done in self.done.values():
            if done.shard in self._dirty:
                by_shard.setdefault(done.shard, []).append(done)
        for shard in sorted(self._dirty):
            kept = sorted(by_shard.get(shard, []), key=lambda d: d.end)
            if not kept:
                continue
            self._shard += 1
            new = self._name(self._shard, "jsonl")
            with open(self._name(shard, "jsonl"), "rb") as src, open(new + ".tmp", "wb") as dst:
                for done in kept:
                    src.seek(done.end - done.length)
                    dst.write(src.read(done.length))
                    done.shard, done.end = self._shard, dst.tell()
            os.replace(new + ".tmp", new)
        path = os.path.join(self.root, MANIFEST)
        with open(path, "rb") as f:
            header = f.readline()
        with open(path + ".tmp", "wb") as f:
            f.write(header)
            for key, done in sorted(self.done.items(), key=lambda kv: (kv[1].shard, kv[1].end)):
                f.write(json.dumps(done.record(key)).encode("utf-8") + b"\n")
        os.replace(path + ".tmp", path)  # the commit
        for shard in self._dirty:
            for ext in ("jsonl", "parquet"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._name(shard, ext))
        self._dirty.clear()
        self._manifest = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        for f in (self._out, self._manifest, self._lock):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._out = self._manifest = None
        self._lock = None


def _json_line(raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _key(target: Target) -> str:
    return os.path.abspath(target.path)


_PARQUET_COLUMNS = ("file", "rule", "severity", "offset", "length", "tag", "path", "message")
_FILE_COLUMNS = ("error", "internal")  # of the file, on each of its rows


def _to_parquet(jsonl: str) -> bool:
    """Write the Parquet table of a shard beside it, where pyarrow is installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    columns: dict[str, list[object]] = {n: [] for n in (*_PARQUET_COLUMNS, *_FILE_COLUMNS)}
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            findings = rec["findings"] or [{}]
            internal = "\n".join(rec.get("internal") or []) or None
            for finding in findings:
                columns["file"].append(rec["path"])
                for name in _PARQUET_COLUMNS[1:]:
                    columns[name].append(finding.get(name))
                columns["error"].append(rec.get("error"))
                columns["internal"].append(internal)
    schema = pa.schema(
        [
            ("file", pa.string()),
            ("rule", pa.string()),
            ("severity", pa.string()),
            ("offset", pa.int64()),
            ("length", pa.int64()),
            ("tag", pa.string()),
            ("path", pa.string()),
            ("message", pa.string()),
            ("error", pa.string()),
            ("internal", pa.string()),
        ]
    )
    table = pa.table(columns, schema=schema)
    tmp = jsonl[: -len(".jsonl")] + ".parquet.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, jsonl[: -len(".jsonl")] + ".parquet")
    return True


__all__ = ["Archive", "ArchiveError", "settings_record"]
