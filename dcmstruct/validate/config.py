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
    jobs = 4                                           # worker processes (default: all cores)

    [severity]              # [tool.dcmstruct.severity] in pyproject.toml
    VR_MISMATCH_DICTIONARY = "error"

A flag on the command line replaces the file's value of the same key (``--select`` replaces
``select``, ``--ignore`` replaces ``ignore``); ``--severity RULE=LEVEL`` overrides the file's
entry for that rule only. Rule names are matched without regard to case; an unknown name, key
or value is a usage error (exit code 2) naming the file and the closest known names.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dcmstruct.report import FORMATS
from dcmstruct.validate.engine import Selection
from dcmstruct.validate.finding import Severity

SEVERITIES = tuple(s.label for s in reversed(Severity))
KEYS = ("select", "ignore", "fail-on", "format", "jobs", "severity")


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


@dataclass
class Settings:
    """The result: which rules, at what severity, what fails, which format."""

    selection: Selection
    fail_on: Severity = Severity.ERROR
    format: str | None = None  # None: text on a terminal, json otherwise
    jobs: int | None = None  # None: all cores
    config: Path | None = None  # the config file read, if any


def find_config(start: Path | None = None) -> Path | None:
    """The config file that applies in ``start`` (default: the current directory)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        own = directory / "dcmstruct.toml"
        if own.is_file():
            return own
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        # A broken pyproject.toml is someone else's problem unless it is meant for us.
        try:
            return "[tool.dcmstruct" in pyproject.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "dcmstruct" in tool


def load_config(path: Path, known: Collection[str]) -> FileConfig:
    """Read a config file; ``known``: the rule names that exist."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    where = str(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("dcmstruct", {}) if isinstance(tool, dict) else {}
        where = f"{path} [tool.dcmstruct]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        data = table
    cfg = FileConfig(path=path)
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {raw_key!r}{_suggest(key, KEYS)}")
        if key in ("select", "ignore"):
            names = _rule_names(
                _string_list(value, f"{where}: {raw_key}"), known, f"{where}: {raw_key}"
            )
            setattr(cfg, key, names)
        elif key == "fail-on":
            cfg.fail_on = _severity(value, f"{where}: fail-on")
        elif key == "format":
            cfg.format = _choice(value, FORMATS, f"{where}: format")
        elif key == "jobs":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: jobs must be a whole number of at least 1")
            cfg.jobs = value
        else:  # severity
            if not isinstance(value, dict):
                raise ConfigError(f'{where}: severity must be a table of RULE = "level"')
            for name, level in value.items():
                (rule,) = _rule_names([str(name)], known, f"{where} severity")
                cfg.severity[rule] = _severity(level, f"{where}: severity of {rule}")
    return cfg


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
    ignore = cfg.ignore or []
    if flags.ignore is not None:
        ignore = _rule_names(_split(flags.ignore), known, "--ignore")
    severities = dict(cfg.severity)
    for item in flags.severity:
        name, sep, level = item.partition("=")
        if not sep:
            example = "--severity VR_MISMATCH_DICTIONARY=error"
            raise ConfigError(f"--severity {item!r}: expected RULE=LEVEL, e.g. {example}")
        (rule,) = _rule_names([name.strip()], known, "--severity")
        severities[rule] = _severity(level.strip(), f"--severity {item}")
    fail_on = cfg.fail_on if cfg.fail_on is not None else Severity.ERROR
    if flags.fail_on is not None:
        fail_on = _severity(flags.fail_on, "--fail-on")
    fmt = cfg.format
    if flags.format is not None:
        fmt = _choice(flags.format, FORMATS, "--format")
    jobs = flags.jobs if flags.jobs is not None else cfg.jobs
    if jobs is not None and jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    return Settings(
        selection=Selection(
            select=None if select is None else frozenset(select),
            ignore=frozenset(ignore),
            severities=severities,
        ),
        fail_on=fail_on,
        format=fmt,
        jobs=jobs,
        config=cfg.path,
    )


def unknown_rule_message(name: str, known: Iterable[str]) -> str:
    """``unknown rule 'X'``, with the closest known names."""
    return f"unknown rule {name!r}{_suggest(name.upper(), sorted(known))}"


# -- helpers ------------------------------------------------------------------------------


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _string_list(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return _split([value])
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _split(value)
    raise ConfigError(f"{where}: expected a list of rule names")


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
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return value.lower()


def environment_jobs() -> int:
    """All cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


__all__ = [
    "ConfigError",
    "FileConfig",
    "Flags",
    "Settings",
    "environment_jobs",
    "find_config",
    "load_config",
    "resolve",
    "unknown_rule_message",
]
