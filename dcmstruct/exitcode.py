"""The exit codes of every ``dcmstruct`` command (the output contract): one definition for
the command line, the report's summary and the viewer."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # nothing at or above --fail-on
    FINDINGS = 1  # a finding at or above --fail-on
    USAGE = 2  # a usage error, or a path that cannot be read
    INTERNAL = 3  # a bug was met


__all__ = ["ExitCode"]
