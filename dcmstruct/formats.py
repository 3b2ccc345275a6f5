"""The report formats of ``dcmstruct validate --format``, named once. The command line and the
config check against this without importing the report writers (and the validator under
them), so that ``dump``, ``rule`` and ``--help`` start without loading either."""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("text", "json", "jsonl", "sarif", "junit")
