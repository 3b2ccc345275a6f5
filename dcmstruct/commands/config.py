"""Settings of ``dcmstruct validate``: defaults, a config file, command-line flags.

The config file is the nearest, from the current directory upwards, of:

- ``dcmstruct.toml``, keys at the top level;
- ``pyproject.toml`` with a ``[tool.dcmstruct]`` table (a pyproject.toml without one is
  passed over, and the search goes on upwards).

In one directory ``dcmstruct.toml`` wins over ``pyproject.toml``. ``--config FILE`` names the
file instead; ``--no-config`` reads none. Only the one file is read (no merging).

Keys::

    select = ["ODD_VALUE_LENGTH", "TRAILING_BYTES"]   # only these rules (default: all)
    ignore = ["UNKNOWN_STANDARD_TAG"]                  # never these
    fail-on = "warning"                                # error (default), warning, info
    format = "json"                                    # text, json, jsonl, sarif, junit
    jobs = 4                                           # worker processes, 1 to 1024
                                                       # (default: all cores)
    max-nodes = 4194304                                # nodes indexed per file (safety limit)
    max-depth = 128                                    # nesting levels recorded
    max-inflate-ratio = 64                             # deflated data set: inflated / file size
    scheduler = "tcp://scheduler.example:8786"         # run on this dask cluster

    [severity]              # [tool.dcmstruct.severity] in pyproject.toml
    VR_MISMATCH_DICTIONARY = "error"

A flag on the command line replaces the file's value of the same key (``--select`` replaces
``select``, ``--ignore`` replaces ``ignore``); ``--severity RULE=LEVEL`` overrides the file's
entry for that rule only. For ``scheduler``, the environment variable ``DCMSTRUCT_SCHEDULER``
comes between the two (the flag, then the environment, then the file).

Rule names are matched without regard to case; an unknown name, key
or value, a value of the wrong type or out of range, a selection that leaves no rule, and a
file that is not valid TOML, is larger than 1 MiB or is not a regular file, are usage errors
(exit code 2) with a one-line reason naming the file and the closest known names.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dcmstruct.commands.batch import usable_cores
from dcmstruct.formats import FORMATS
from dcmstruct.index import Limits
from dcmstruct.limits import LIMIT_RANGES
from dcmstruct.safetext import terminal_safe
from dcmstruct.source import check_regular
from dcmstruct.validate.engine import Selection
from dcmstruct.validate.finding import Severity

SEVERITIES = tuple(s.label for s in reversed(Severity))
KEYS = (
    "select",
    "ignore",
    "fail-on",
    "format",
    "jobs",
    "severity",
    "max-nodes",
    "max-depth",
    "max-inflate-ratio",
    "scheduler",
)
SCHEDULER_ENV = "DCMSTRUCT_SCHEDULER"

# A value beyond these is a typo or an attack, not a setting (run_batch also caps the workers
# at the files known and at a few per core).
MAX_JOBS = 1024
# A config file is a few lines: a larger one is not one, and is not read whole.
MAX_CONFIG_BYTES = 1 << 20


class ConfigError(ValueError):
    """A usage error in the config file or the flags: exit code 2, with this message."""


@dataclass
class FileConfig:
    """What a config file says (None: the key is absent)."""

    path: Path | None = None
    select: list[str] | None = None
    ignore: list[str] | None = None
    fail_on: Severity | None = None
    format: str | None = None
    jobs: int | None = None
    severity: dict[str, Severity] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)  # LIMIT_RANGES keys
    scheduler: str | None = None


@dataclass
class Flags:
    """What the command line says (None: the flag was not given)."""

    select: list[str] | None = None  # each entry may hold comma-separated names
    ignore: list[str] | None = None
    fail_on: str | None = None
    format: str | None = None
    jobs: int | None = None
    severity: list[str] = field(default_factory=list)  # "RULE=LEVEL"
    config: str | None = None
    no_config: bool = False
    limits: dict[str, float | None] = field(default_factory=dict)  # LIMIT_RANGES keys
    scheduler: str | None = None


@dataclass
class Settings:
    """The result: which rules, at what severity, what fails, which format."""

    selection: Selection
    fail_on: Severity = Severity.ERROR
    format: str | None = None  # None: text on a terminal, json otherwise
    jobs: int | None = None  # None: all cores
    config: Path | None = None  # the config file read, if any
    scheduler: str | None = None  # a dask scheduler's address (None: run here)


def find_config(start: Path | None = None) -> Path | None:
    """The config file that applies in ``start`` (default: the current directory)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        own = directory / "dcmstruct.toml"
        if own.exists():  # not a regular file: load_config says so, rather than pass it over
            return own
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        raw = _read_bounded(pyproject)
    except OSError:
        return False
    if b"dcmstruct" not in raw and b"\\u" not in raw and b"\\U" not in raw:
        # No table of ours can be written without its name (bar a \u escape in a quoted
        # key): another tool's pyproject.toml is passed over without parsing it.
        return False
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError):
        # A broken pyproject.toml is someone else's problem unless it is meant for us.
        return b"[tool.dcmstruct" in raw
    tool = data.get("tool")
    return isinstance(tool, dict) and "dcmstruct" in tool


def _read_bounded(path: Path) -> bytes:
    """The bytes of a config file, at most ``MAX_CONFIG_BYTES + 1`` of them. Never blocks on
    a FIFO (refused, like devices and ``/proc`` files)."""
    check_regular(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    with os.fdopen(os.open(path, flags), "rb") as f:
        check_regular(path, os.fstat(f.fileno()))  # swapped for a FIFO after the check
        return f.read(MAX_CONFIG_BYTES + 1)


def _parse(path: Path) -> dict[str, object]:
    where = _safe(str(path))
    try:
        raw = _read_bounded(path)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {_safe(exc.strerror or str(exc))}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where}: larger than 1 MiB: not a config file")
    import tomllib

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: not UTF-8 at byte {exc.start}") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{where}: not valid TOML: nested too deeply") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError, or a number Python refuses
        raise ConfigError(f"{where}: not valid TOML: {_safe(str(exc))}") from None


def load_config(path: Path, known: Collection[str]) -> FileConfig:
    """Read a config file; ``known``: the rule names that exist."""
    data = _parse(path)
    where = _safe(str(path))
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("dcmstruct", {}) if isinstance(tool, dict) else {}
        where = f"{where} [tool.dcmstruct]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table, not {_kind(table)}")
        data = table
    cfg = FileConfig(path=path)
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {_show(raw_key)}{_suggest(key, KEYS)}")
        shown = raw_key  # a known key, as spelled
        if key in ("select", "ignore"):
            names = _rule_names(
                _string_list(value, f"{where}: {shown}"), known, f"{where}: {shown}"
            )
            if key == "select" and not names:
                raise ConfigError(f"{where}: select names no rule (leave it out to run them all)")
            setattr(cfg, key, names)
        elif key == "fail-on":
            cfg.fail_on = _severity(value, f"{where}: {shown}")
        elif key == "format":
            cfg.format = _choice(value, FORMATS, f"{where}: {shown}")
        elif key == "jobs":
            cfg.jobs = check_jobs(value, f"{where}: {shown}")
        elif key in LIMIT_RANGES:
            cfg.limits[key] = check_limit(key, value, f"{where}: {shown}")
        elif key == "scheduler":
            cfg.scheduler = check_scheduler(value, f"{where}: {shown}")
        else:  # severity
            if not isinstance(value, dict):
                raise ConfigError(
                    f'{where}: severity must be a table of RULE = "level", not {_kind(value)}'
                )
            for name, level in value.items():
                (rule,) = _rule_names([name], known, f"{where}: severity")
                cfg.severity[rule] = _severity(level, f"{where}: severity of {rule}")
    return cfg


def check_jobs(value: object, where: str) -> int:
    """A number of worker processes: a whole number from 1 to ``MAX_JOBS``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_JOBS:
        raise ConfigError(f"{where} {_show(value)}: must be a whole number from 1 to {MAX_JOBS}")
    return value


def check_scheduler(value: object, where: str) -> str:
    """A scheduler's address: ``tcp://HOST:PORT`` (or another dask protocol, or HOST:PORT)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 1024:
        raise ConfigError(f"{where} {_show(value)}: must be an address, e.g. tcp://HOST:8786")
    if any(ord(ch) < 0x20 or ch.isspace() for ch in value.strip()):
        raise ConfigError(f"{where} {_show(value)}: an address holds no space or control")
    return value.strip()


def check_limit(key: str, value: object, where: str) -> float:
    """One of the index's limits, in its range (:data:`LIMIT_RANGES`)."""
    low, high = LIMIT_RANGES[key]
    whole = key != "max-inflate-ratio"
    number: float | None = None
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and not whole
    ):
        number = value
    if number is None or not low <= number <= high:
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{where} {_show(value)}: must be {kind} from {low:g} to {high:g}")
    return number


def _limits(flags: Flags, cfg: FileConfig) -> Limits:
    values: dict[str, float] = dict(cfg.limits)
    for key, value in flags.limits.items():
        if value is not None:
            values[key] = check_limit(key, value, f"--{key}")
    default = Limits()
    return Limits(
        max_depth=int(values.get("max-depth", default.max_depth)),
        max_nodes=int(values.get("max-nodes", default.max_nodes)),
        inflate_ratio=float(values.get("max-inflate-ratio", default.inflate_ratio)),
    )


def resolve(flags: Flags, known: Collection[str], cwd: Path | None = None) -> Settings:
    """Defaults, overridden by the config file, overridden by the flags."""
    cfg = FileConfig()
    if flags.config is not None:
        cfg = load_config(Path(flags.config), known)
    elif not flags.no_config:
        found = find_config(cwd)
        if found is not None:
            cfg = load_config(found, known)
    select = cfg.select
    if flags.select is not None:
        select = _rule_names(_split(flags.select), known, "--select")
        if not select:
            given = _show(",".join(flags.select))
            raise ConfigError(f"--select {given}: names no rule; e.g. --select ODD_VALUE_LENGTH")
    ignore = cfg.ignore or []
    if flags.ignore is not None:
        ignore = _rule_names(_split(flags.ignore), known, "--ignore")
    severities = dict(cfg.severity)
    for item in flags.severity:
        name, sep, level = item.partition("=")
        if not sep:
            example = "--severity VR_MISMATCH_DICTIONARY=error"
            raise ConfigError(f"--severity {_show(item)}: expected RULE=LEVEL, e.g. {example}")
        (rule,) = _rule_names([name.strip()], known, "--severity")
        severities[rule] = _severity(level.strip(), f"--severity {rule}")
    fail_on = cfg.fail_on if cfg.fail_on is not None else Severity.ERROR
    if flags.fail_on is not None:
        fail_on = _severity(flags.fail_on, "--fail-on")
    fmt = cfg.format
    if flags.format is not None:
        fmt = _choice(flags.format, FORMATS, "--format")
    jobs = cfg.jobs
    if flags.jobs is not None:
        jobs = check_jobs(flags.jobs, "--jobs")
    scheduler = cfg.scheduler
    env = os.environ.get(SCHEDULER_ENV)
    if env:
        scheduler = check_scheduler(env, SCHEDULER_ENV)
    if flags.scheduler is not None:
        scheduler = check_scheduler(flags.scheduler, "--scheduler")
    selection = Selection(
        select=None if select is None else frozenset(select),
        ignore=frozenset(ignore),
        severities=severities,
        limits=_limits(flags, cfg),
    )
    if known and not any(selection.enabled(n) for n in known):
        raise ConfigError(f"{_selection_source(flags, cfg)}: no rule left to run")
    return Settings(
        selection=selection,
        fail_on=fail_on,
        format=fmt,
        jobs=jobs,
        config=cfg.path,
        scheduler=scheduler,
    )


def _selection_source(flags: Flags, cfg: FileConfig) -> str:
    """Where the selection came from, for a message: ``--select and --ignore``,
    ``FILE: select and ignore``, ``FILE: select and --ignore``."""
    parts = []
    if flags.select is not None:
        parts.append("--select")
    elif cfg.select is not None:
        parts.append("select")
    if flags.ignore is not None:
        parts.append("--ignore")
    elif cfg.ignore:
        parts.append("ignore")
    said = " and ".join(parts)
    if cfg.path is not None and any(not p.startswith("--") for p in parts):
        return f"{_safe(str(cfg.path))}: {said}"
    return said


def unknown_rule_message(name: str, known: Iterable[str]) -> str:
    """``unknown rule 'X'``, with the closest known names (``X`` made safe for a terminal)."""
    return f"unknown rule {_show(name)}{_suggest(name.upper(), sorted(known))}"


# -- helpers ------------------------------------------------------------------------------

_SHOWN = 60  # characters of a user's value quoted in a message


def _safe(text: str) -> str:
    return terminal_safe(text)


def _show(value: object) -> str:
    """A value from the command line or a config file, quoted in a one-line message: a
    string clipped and made safe for a terminal, a number as written; anything else named by
    its kind (the repr of a hostile nested value could be as long as the file, or too deep to
    print)."""
    if isinstance(value, str):
        text = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        return f"'{terminal_safe(text)}'"  # not repr: it would double the escapes' backslashes
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 128:
        return str(value)
    return f"({_kind(value)})"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return "a whole number"
    for types, name in (
        (str, "a string"),
        (float, "a number with a fraction"),
        (list, "a list"),
        (dict, "a table"),
    ):
        if isinstance(value, types):
            return name
    return "a date or time"


def _suggest(name: str, choices: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _string_list(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return _split([value])
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _split(value)
    raise ConfigError(f"{where}: expected a list of rule names, not {_kind(value)}")


def _rule_names(names: Iterable[str], known: Collection[str], where: str) -> list[str]:
    out: list[str] = []
    for name in names:
        upper = name.upper()
        if upper not in known:
            hint = "" if known else " (no rule is registered)"
            listing = "`dcmstruct rule --list` lists them"
            raise ConfigError(f"{where}: {unknown_rule_message(name, known)}{hint}; {listing}")
        out.append(upper)
    return out


def _severity(value: object, where: str) -> Severity:
    return Severity.parse(_choice(value, SEVERITIES, where))


def _choice(value: object, choices: Collection[str], where: str) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ConfigError(f"{where}: {_show(value)} is not one of {', '.join(choices)}")
    return value.lower()


def environment_jobs() -> int:
    """All cores this process may run on."""
    return usable_cores()


__all__ = [
    "MAX_JOBS",
    "SCHEDULER_ENV",
    "ConfigError",
    "FileConfig",
    "Flags",
    "Settings",
    "check_jobs",
    "check_scheduler",
    "environment_jobs",
    "find_config",
    "load_config",
    "resolve",
    "unknown_rule_message",
]
