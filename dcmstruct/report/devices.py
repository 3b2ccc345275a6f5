"""Findings by rule and device (Manufacturer, Manufacturer's Model Name, Software Versions):
which device produces which fault, over a whole run.

The device of each file is read from its index (:mod:`dcmstruct.devices`). A value that
:func:`dcmstruct.privacy.identifying` names is never shown unless asked for (none of the three
is in PS3.15 Table E.1-1 today; the check keeps it so if the table changes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dcmstruct.devices import TAGS
from dcmstruct.privacy import identifying
from dcmstruct.safetext import clean
from dcmstruct.validate.finding import Finding

Device = tuple[str, str, str]
HIDDEN = "(hidden)"
_FIELDS = ("manufacturer", "model", "software")


@dataclass
class _Row:
    files: int = 0
    failing: int = 0  # files with any finding
    rules: Counter[str] = field(default_factory=Counter)  # findings per rule
    rule_files: Counter[str] = field(default_factory=Counter)  # files per rule


@dataclass
class DeviceTable:
    """Totals per device; ``show_values``: show identifying values (see the module's text)."""

    show_values: bool = False
    rows: dict[Device, _Row] = field(default_factory=dict)

    def add(self, device: Iterable[str] | None, rules: Mapping[str, int]) -> None:
        """One file: its device (None: not read, an unreadable file) and its findings per
        rule (:func:`rule_counts`)."""
        key: Device = tuple(device) if device is not None else ("", "", "")  # type: ignore[assignment]
        row = self.rows.setdefault(key, _Row())
        row.files += 1
        if rules:
            row.failing += 1
        row.rules.update(rules)
        row.rule_files.update(rules.keys())

    def add_findings(self, device: Iterable[str] | None, findings: Iterable[Finding]) -> None:
        """:meth:`add` of a file's findings."""
        self.add(device, rule_counts(findings))

    def record(self) -> dict[str, object]:
        """``{"devices": [...]}``: most files first; per device its values, ``files``,
        ``files_with_findings`` and ``rules`` (per rule: ``files`` and ``findings``)."""
        out = []
        for key, row in sorted(self.rows.items(), key=lambda kv: (-kv[1].files, kv[0])):
            entry: dict[str, object] = {
                name: self._shown(tag, value)
                for name, tag, value in zip(_FIELDS, TAGS, key, strict=True)
            }
            entry["files"] = row.files
            entry["files_with_findings"] = row.failing
            entry["rules"] = {
                rule: {"files": row.rule_files[rule], "findings": count}
                for rule, count in sorted(row.rules.items(), key=lambda kv: (-kv[1], kv[0]))
            }
            out.append(entry)
        return {"devices": out}

    def _shown(self, tag: int, value: str) -> str:
        if value and not self.show_values and identifying(tag):
            return HIDDEN
        return clean(value)


def rule_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per rule."""
    return dict(Counter(f.rule for f in findings))


__all__ = ["DeviceTable", "rule_counts"]
