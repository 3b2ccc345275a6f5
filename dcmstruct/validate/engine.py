"""Run the rules on one file: index, then every selected rule, then findings in byte order."""

from __future__ import annotations

import os
import traceback
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from dcmstruct.index import ElementIndex, Limits, index_file
from dcmstruct.model import Fault
from dcmstruct.validate.context import Context
from dcmstruct.validate.finding import Finding, Severity
from dcmstruct.validate.registry import FINDINGS_PER_RULE, REGISTRY, load_all


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

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def validate_index(
    index: ElementIndex, selection: Selection | None = None
) -> tuple[list[Finding], list[str]]:
    """Findings of every enabled rule, in byte order, and any internal errors met."""
    selection = selection or Selection()
    load_all()
    ctx = Context(index, selection.severities)
    findings: list[Finding] = []
    internal: list[str] = []
    by_code: dict[str, list[int]] = {}
    for n, fault in enumerate(index.faults):
        by_code.setdefault(fault.code, []).append(n)
    unknown = set(by_code) - set(REGISTRY)
    for code in sorted(unknown):
        internal.append(f"the index recorded a fault {code} that no rule declares")
    for rule in REGISTRY.values():
        if not selection.enabled(rule.name):
            continue
        if rule.check is None:
            findings.extend(
                _from_faults(ctx, [index.faults[n] for n in by_code.get(rule.name, ())])
            )
            continue
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
            internal.append(f"rule {rule.name} failed:\n{traceback.format_exc()}")
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
    name = os.fspath(path)
    limits = (selection or Selection()).limits
    try:
        index = index_file(
            path,
            max_depth=limits.max_depth,
            max_nodes=limits.max_nodes,
            inflate_ratio=limits.inflate_ratio,
        )
    except OSError as exc:
        return FileReport(name, [], error=exc.strerror or str(exc))
    except Exception:  # a bug in the index: report it (exit code 3), never raise
        return FileReport(name, [], internal=[f"indexing failed:\n{traceback.format_exc()}"])
    with index:
        try:
            findings, internal = validate_index(index, selection)
            # Findings about bytes that are no longer the file's would mislead: a file that
            # grew, shrank or was rewritten while it was checked is reported as unreadable.
            index.check_unchanged()
        except OSError as exc:
            return FileReport(name, [], error=exc.strerror or str(exc))
    return FileReport(name, findings, internal=internal)
