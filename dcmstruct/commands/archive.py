"""``validate --output-dir DIR``: the report of an archive, as shards, resumable.

DIR holds:

* ``shard-NNNNN.jsonl``: one line per file, the ``files`` entry of the JSON format
  (``{"path", "findings", "summary"}``, plus ``error`` or ``internal``), in input order; a new
  shard every ``SHARD_FILES`` files or ``SHARD_BYTES`` bytes;
* ``shard-NNNNN.parquet``, where pyarrow is installed: the same as a table, a row per finding
  (``file``, ``rule``, ``severity``, ``offset``, ``length``, ``tag``, ``path``, ``message``)
  and, so that every file is in it, a row with no rule for a file without any;
* ``manifest.jsonl``: a header line (the settings the run checks with), then a line per file
  done: its absolute path, size and mtime (the key of a resumed run), the shard and where its
  line ends there, its counts and its device;
* ``summary.json``: the summary of everything in DIR (this run and those before it), with
  findings by rule and device.

A run given a DIR that has a manifest goes on from it: a file whose path, size and mtime are
in it is not validated again. A shard's line is written (and flushed) before its manifest
line, so a run stopped between the two leaves a line no manifest entry covers: it is cut off
when the next run starts. A file that changed since it was done is validated again, and its
old line is taken out of its shard when the run ends: every file is in DIR exactly once. The
settings (rules, severities, limits, --fail-on) must be those of the manifest: findings made
under other settings do not mix (a usage error; start a new DIR). One run at a time: DIR is
locked while a run writes it.
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
from dcmstruct.report.devices import DeviceTable
from dcmstruct.report.json import clean_record, file_record
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


def settings_record(selection: Selection, fail_on: Severity) -> dict[str, object]:
    """What a resumed run must share with the manifest."""
    return {
        "select": None if selection.select is None else sorted(selection.select),
        "ignore": sorted(selection.ignore),
        "severities": {k: Severity(v).label for k, v in sorted(selection.severities.items())},
        "limits": list(selection.limits),
        "fail_on": fail_on.label,
    }


@dataclass
class Archive:
    """DIR, open for a run (see the module's text)."""

    root: str
    settings: dict[str, object]
    show_values: bool = False
    shard_files: int = SHARD_FILES
    shard_bytes: int = SHARD_BYTES
    done: dict[str, _Done] = field(default_factory=dict)
    skipped: int = 0
    written: int = 0
    _shard: int = -1
    _out: IO[str] | None = None
    _manifest: IO[str] | None = None
    _lock: IO[bytes] | None = None
    _in_shard: int = 0
    _stale: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    # -- opening ------------------------------------------------------------------------

    def open(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
            self._lock = open(os.path.join(self.root, LOCK), "ab")  # noqa: SIM115
        except OSError as exc:
            raise ArchiveError(f"{self.root}: {exc.strerror or exc}") from None
        import fcntl

        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ArchiveError(f"{self.root}: another run is writing it") from None
        path = os.path.join(self.root, MANIFEST)
        if os.path.exists(path):
            self._read_manifest(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                header = {"manifest": _FORMAT, "dcmstruct": version(), "settings": self.settings}
                f.write(json.dumps(header) + "\n")
        self._manifest = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def _read_manifest(self, path: str) -> None:
        ends: dict[int, int] = {}
        with open(path, encoding="utf-8") as f:
            first = f.readline()
            try:
                header = json.loads(first)
            except ValueError:
                raise ArchiveError(f"{path}: not a manifest of dcmstruct") from None
            if not isinstance(header, dict) or header.get("manifest") != _FORMAT:
                raise ArchiveError(f"{path}: not a manifest this version reads")
            if header.get("settings") != self.settings:
                raise ArchiveError(
                    f"{path}: written with other settings (rules, severities, limits or "
                    "--fail-on): their findings would not mix; give another --output-dir"
                )
            kept = len(first)
            for line in f:
                try:
                    rec = json.loads(line)
                    done = _Done.of(rec)
                except (ValueError, KeyError, TypeError, AttributeError):
                    break  # a line cut short by a stop: what follows it was never written
                if not self._shard_has(done):
                    break  # the shard lost what the manifest says it holds (a crash)
                previous = self.done.get(rec["key"])
                if previous is not None:
                    self._stale.setdefault(previous.shard, []).append(
                        (self._start_of(previous), previous.end)
                    )
                self.done[rec["key"]] = done
                ends[done.shard] = max(ends.get(done.shard, 0), done.end)
                kept += len(line)
        # Cut off what no manifest line covers: shard lines, and a manifest line, cut short.
        with open(path, "r+b") as f:
            f.truncate(kept)
        for shard in self._shards():
            name = self._name(shard, "jsonl")
            end = ends.get(shard, 0)
            if os.path.getsize(name) > end:
                with open(name, "r+b") as f:
                    f.truncate(end)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._name(shard, "parquet"))
        self._shard = max(self._shards(), default=-1)

    def _shard_has(self, done: _Done) -> bool:
        try:
            return os.path.getsize(self._name(done.shard, "jsonl")) >= done.end
        except OSError:
            return False

    def _start_of(self, done: _Done) -> int:
        """Where a file's line starts in its shard: after the line before it there."""
        return done.end - done.length

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

    def pending(self, targets: Iterator[Target]) -> Iterator[Target]:
        """The targets not done yet (a file done before and unchanged since is skipped)."""
        for target in targets:
            key = _key(target)
            done = self.done.get(key)
            unchanged = done is not None and (done.size, done.mtime) == (target.size, target.mtime)
            if unchanged and target.error is None:
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
        clean = not report.findings and report.error is None and not report.internal
        line = (clean_record(report) if clean else json.dumps(file_record(report))) + "\n"
        self._out.write(line)
        self._out.flush()
        key = _key(target)
        previous = self.done.get(key)
        if previous is not None:  # done before, changed since: its old line goes
            self._stale.setdefault(previous.shard, []).append(
                (self._start_of(previous), previous.end)
            )
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
            _shared(tuple(sorted(_rules(report).items()))),
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
        self._out = open(self._name(self._shard, "jsonl"), "a", encoding="utf-8")  # noqa: SIM115
        self._in_shard = 0

    def finish(self, fail_on: Severity) -> tuple[Summary, dict[str, object]]:
        """Close the shards, take out the old lines of changed files, write summary.json;
        the summary of everything in DIR, and what summary.json holds."""
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._stale:
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
                devices.add(done.device, [r for r, n in done.rules for _ in range(n)])
        record: dict[str, object] = {
            "summary": summary.contract(),
            "this_run": {"validated": self.written, "skipped_as_done": self.skipped},
            "shards": len(self._shards()),
            **devices.record(),
        }
        with open(os.path.join(self.root, SUMMARY), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        return summary, record

    def _compact(self) -> None:
        """Rewrite the shards that hold old lines of changed files without them, and the
        manifest with the new ends."""
        moved: dict[tuple[int, int], int] = {}  # (shard, old end) -> new end
        for shard, ranges in self._stale.items():
            name = self._name(shard, "jsonl")
            with open(name, "rb") as f:
                data = f.read()
            drop = sorted(ranges)
            out, pos, removed = bytearray(), 0, 0
            for start, end in drop:
                out += data[pos:start]
                pos = max(pos, end)
            out += data[pos:]
            # New ends of the lines kept: each end moves back by the bytes dropped before it.
            for done in self.done.values():
                if done.shard == shard:
                    removed = sum(e - s for s, e in drop if e <= done.end)
                    moved[(shard, done.end)] = done.end - removed
            tmp = name + ".tmp"
            with open(tmp, "wb") as f:
                f.write(out)
            os.replace(tmp, name)
        self._stale.clear()
        assert self._manifest is not None
        self._manifest.close()
        path = os.path.join(self.root, MANIFEST)
        with open(path, encoding="utf-8") as f:
            header = f.readline()
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(header)
            for key, done in sorted(self.done.items(), key=lambda kv: (kv[1].shard, kv[1].end)):
                done.end = moved.get((done.shard, done.end), done.end)
                f.write(json.dumps(done.record(key)) + "\n")
        os.replace(tmp, path)
        self._manifest = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        for f in (self._out, self._manifest, self._lock):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._out = self._manifest = None
        self._lock = None


def _key(target: Target) -> str:
    return os.path.abspath(target.path)


def _rules(report: FileReport) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in report.findings:
        out[f.rule] = out.get(f.rule, 0) + 1
    return out


_PARQUET_COLUMNS = ("file", "rule", "severity", "offset", "length", "tag", "path", "message")


def _to_parquet(jsonl: str) -> bool:
    """Write the Parquet table of a shard beside it, where pyarrow is installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    columns: dict[str, list[object]] = {name: [] for name in _PARQUET_COLUMNS}
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            findings = rec["findings"] or [{}]
            for finding in findings:
                columns["file"].append(rec["path"])
                for name in _PARQUET_COLUMNS[1:]:
                    columns[name].append(finding.get(name))
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
        ]
    )
    table = pa.table(columns, schema=schema)
    tmp = jsonl[: -len(".jsonl")] + ".parquet.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, jsonl[: -len(".jsonl")] + ".parquet")
    return True


__all__ = ["Archive", "ArchiveError", "settings_record"]
