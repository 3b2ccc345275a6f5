"""Run the rules on one file: index, then every selected rule, then findings in byte order."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct.index import ElementIndex, Limits, index_file
from dcmstruct.model import Fault
from dcmstruct.validate.batch import BATCH_NODES, Batch
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import FINDINGS_PER_RULE, REGISTRY, SCREENS, Rule, load_all

if TYPE_CHECKING:
    import numpy.typing as npt


@dataclass
class Selection:
    """Which rules run, and at what severity (``--select``, ``--ignore``, config); and the
    index limits files are read with (``--max-nodes``, ``--max-inflate-ratio``)."""

    select: Collection[str] | None = None  # None: all
    ignore: Collection[str] = ()
    severities: dict[str, Severity] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)

    def enabled(self, name: str) -> bool:
        if name in self.ignore:
            return False
        return self.select is None or name in self.select


@dataclass
class FileReport:
    path: str
    findings: list[Finding]
    error: str | None = None  # the file could not be read at all (missing, permission)
    internal: list[str] = field(default_factory=list)  # bugs met: exit code 3
    # Manufacturer, model and software versions, where asked for (dcmstruct.devices).
    device: tuple[str, str, str] | None = None

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def validate_index(
    index: ElementIndex, selection: Selection | None = None
) -> tuple[list[Finding], list[str]]:
    """Findings of every enabled rule, in byte order, and any internal errors met."""
    selection = selection or Selection()
    return _run(index, selection, _checks(selection))


def validate_batch(
    indexes: list[ElementIndex], selection: Selection | None = None
) -> list[tuple[list[Finding], list[str]]]:
    """:func:`validate_index` of each index, the rules' screens run once over all of them
    (see :mod:`dcmstruct.validate.batch`): the same findings, at a fraction of the cost per
    file when the files are many and small."""
    selection = selection or Selection()
    runs, failed = screened(indexes, selection)
    out = []
    for index, run in zip(indexes, runs, strict=True):
        findings, internal = _run(index, selection, run)
        out.append((findings, failed + internal))
    return out


def screened(
    indexes: list[ElementIndex], selection: Selection
) -> tuple[list[list[Rule]], list[str]]:
    """For each index, the enabled checks its screens leave to run; and the screens that
    failed (a bug: their rules then run on every file)."""
    checks = _checks(selection)
    if len(indexes) < 2:
        return [checks for _ in indexes], []
    batch = Batch(indexes)
    flags: list[npt.NDArray[np.bool_] | None] = []
    failed: list[str] = []
    for rule in checks:
        screen = SCREENS.get(rule.name)
        try:
            flags.append(None if screen is None else screen(batch))
        except OSError:  # a file changed under the screen: its own check will say so
            flags.append(None)
        except Exception:  # a screen's bug costs time (the rule runs everywhere), not findings
            flags.append(None)
            failed.append(f"screen of {rule.name} failed:\n{_traceback()}")
    every = np.ones(len(indexes), dtype=np.bool_)
    table = np.array([every if f is None else f for f in flags], dtype=np.bool_).reshape(
        len(checks), len(indexes)
    )
    runs: list[list[Rule]] = [[] for _ in indexes]
    for k in np.flatnonzero(table.any(axis=0)).tolist():
        runs[k] = [checks[r] for r in np.flatnonzero(table[:, k]).tolist()]
    return runs, failed


def _checks(selection: Selection) -> list[Rule]:
    """The enabled rules that have a check of their own (the others come from faults)."""
    load_all()
    return [r for r in REGISTRY.values() if r.check is not None and selection.enabled(r.name)]


def _run(
    index: ElementIndex, selection: Selection, checks: list[Rule]
) -> tuple[list[Finding], list[str]]:
    """Findings of the index's faults (of enabled rules) and of ``checks``, in byte order."""
    if not checks and not index.faults:
        return [], []
    ctx = Context(index, selection.severities)
    findings: list[Finding] = []
    internal: list[str] = []
    by_code: dict[str, list[int]] = {}
    for n, fault in enumerate(index.faults):
        by_code.setdefault(fault.code, []).append(n)
    for code in sorted(set(by_code) - set(REGISTRY)):
        internal.append(f"the index recorded a fault {code} that no rule declares")
    for code, numbers in by_code.items():
        rule = REGISTRY.get(code)
        if rule is not None and rule.check is None and selection.enabled(code):
            findings.extend(_from_faults(ctx, [index.faults[n] for n in numbers]))
    for rule in checks:
        assert rule.check is not None
        try:
            findings.extend(_capped(ctx, rule.name, rule.check(ctx)))
        except OSError:
            raise  # the file changed under the rule (SourceChanged): the file's report says it
        except MemoryError:
            # Not a bug: a file with more nodes than this machine's memory allows for a rule.
            findings.append(
                ctx.finding(
                    "NODE_LIMIT_EXCEEDED",
                    f"memory ran out while checking {rule.name} over {len(index)} nodes: its "
                    "findings are not listed (lower --max-nodes, or give the check more memory)",
                    offset=0,
                    length=0,
                )
            )
        except Exception:  # one rule's bug must not hide the others' findings
            internal.append(f"rule {rule.name} failed:\n{_traceback()}")
    findings.sort(key=lambda f: (int(f.stream), f.offset, f.rule))
    return findings, internal


def findings_from_faults(
    index: ElementIndex, severities: dict[str, Severity] | None = None
) -> list[Finding]:
    """The index's faults as findings, in byte order: each under its rule, at the rule's
    severity (or the one ``severities`` gives it), with its tag and path. The viewer shows
    these while the validator, which reports them too, is still running."""
    load_all()
    found = _from_faults(Context(index, severities), index.faults)
    found.sort(key=lambda f: (int(f.stream), f.offset, f.rule))
    return found


def _from_faults(ctx: Context, faults: Iterable[Fault]) -> list[Finding]:
    return [
        ctx.finding(
            f.code,
            f.message,
            node=f.node,
            offset=f.offset,
            length=f.length,
            stream=f.stream,
        )
        for f in faults
    ]


def _capped(ctx: Context, name: str, found: Iterable[Finding]) -> list[Finding]:
    """At most ``FINDINGS_PER_RULE`` findings of one rule, then one saying there are more.

    The rest are not even generated: a file repeating one fault a million times must not cost
    a million findings' time and memory.
    """
    kept: list[Finding] = []
    for finding in found:
        if len(kept) == FINDINGS_PER_RULE:
            kept.append(
                ctx.finding(
                    name,
                    f"more {name} findings from here on are not listed (the first "
                    f"{FINDINGS_PER_RULE} are)",
                    offset=finding.offset,
                    length=0,
                    stream=finding.stream,
                )
            )
            break
        kept.append(finding)
    return kept


def validate_path(path: str | os.PathLike[str], selection: Selection | None = None) -> FileReport:
    """Validate one file. A file that cannot be opened is an ``error``, not an exception."""
    opened = open_index(path, selection)
    if isinstance(opened, FileReport):
        return opened
    with opened:
        return check_opened([(os.fspath(path), opened)], selection)[0]


def open_index(
    path: str | os.PathLike[str], selection: Selection | None = None
) -> ElementIndex | FileReport:
    """The index of one file, or the report saying why there is none (unreadable: ``error``;
    a bug in the index: ``internal``). Never raises but for MemoryError."""
    name = os.fspath(path)
    limits = (selection or Selection()).limits
    try:
        return index_file(
            path,
            max_depth=limits.max_depth,
            max_nodes=limits.max_nodes,
            inflate_ratio=limits.inflate_ratio,
        )
    except OSError as exc:
        return FileReport(name, [], error=exc.strerror or str(exc))
    except MemoryError:
        raise
    except Exception:  # a bug in the index: report it (exit code 3), never raise
        return FileReport(name, [], internal=[f"indexing failed:\n{_traceback()}"])


def check_opened(
    opened: list[tuple[str, ElementIndex]], selection: Selection | None = None
) -> list[FileReport]:
    """The reports of indexed files (named by the first of each pair), in their order (the
    caller closes the indexes). Small files are screened as one batch (:func:`screened`),
    each larger one is checked on its own."""
    selection = selection or Selection()
    small = [k for k, (_, index) in enumerate(opened) if len(index) <= BATCH_NODES]
    runs: dict[int, list[Rule]] = {}
    failed: list[str] = []
    if len(small) > 1:
        batch_runs, failed = screened([opened[k][1] for k in small], selection)
        runs = dict(zip(small, batch_runs, strict=True))
    checks = _checks(selection)
    reports = []
    for k, (name, index) in enumerate(opened):
        try:
            findings, internal = _run(index, selection, runs.get(k, checks))
            # Findings about bytes that are no longer the file's would mislead: a file that
            # grew, shrank or was rewritten while it was checked is reported as unreadable.
            index.check_unchanged()
        except OSError as exc:
            reports.append(FileReport(name, [], error=exc.strerror or str(exc)))
            continue
        extra = failed if k in runs else []
        reports.append(FileReport(name, findings, internal=extra + internal))
    return reports


def _traceback() -> str:
    import traceback  # only when a bug is met: most runs never need it

    return traceback.format_exc()
