"""The rule registry: one rule, one stable name, one place in the code, one documented entry.

A rule is declared with :func:`rule` on its check function, or with :func:`index_rule` when the
element index itself detects the fault while parsing (the check then only turns the index's
faults of that code into findings). A name never changes meaning once released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcmstruct.validate.finding import Finding, Severity

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from dcmstruct.validate.batch import Batch
    from dcmstruct.validate.context import Context

Check = Callable[["Context"], Iterable[Finding]]
#: Per file of a batch: may the rule have a finding there? (see :mod:`dcmstruct.validate.batch`)
Screen = Callable[["Batch"], "npt.NDArray[np.bool_]"]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity  # default severity
    standard: str  # the section of the standard, e.g. "PS3.5 7.1.1"
    summary: str  # what it catches, one line
    why: str  # why it matters
    example: str  # a tiny example of the fault
    check: Check | None  # None: findings come from the index's faults of this name
    module: str

    @property
    def from_index(self) -> bool:
        return self.check is None

    def doc(self) -> str:
        """The documentation entry ``dcmstruct rule NAME`` prints."""
        return (
            f"{self.name} ({self.severity.label})\n\n"
            f"What it catches\n    {self.summary}\n\n"
            f"Why it matters\n    {_indent(self.why)}\n\n"
            f"Example\n    {_indent(self.example)}\n\n"
            f"Reference\n    {self.standard}\n"
        )


def _indent(text: str) -> str:
    return "\n    ".join(text.strip().splitlines())


REGISTRY: dict[str, Rule] = {}
#: The screens of rules that have one, by rule name.
SCREENS: dict[str, Screen] = {}

# Per file and rule, findings beyond this many are not listed (one more finding says so).
FINDINGS_PER_RULE = 1000


def _register(r: Rule) -> None:
    if r.name in REGISTRY:
        raise ValueError(f"rule {r.name} is declared twice")
    REGISTRY[r.name] = r


def rule(
    name: str,
    severity: str,
    standard: str,
    *,
    summary: str,
    why: str,
    example: str,
) -> Callable[[Check], Check]:
    """Declare a rule checked by the decorated function ``check(ctx) -> Iterable[Finding]``."""

    def decorate(check: Check) -> Check:
        parsed = Severity.parse(severity)
        _register(Rule(name, parsed, standard, summary, why, example, check, check.__module__))
        return check

    return decorate


def screen(name: str) -> Callable[[Screen], Screen]:
    """Declare the decorated function the batch screen of rule ``name``: given a
    :class:`~dcmstruct.validate.batch.Batch`, it flags each file where the rule's check may
    find anything (never fewer: a file it clears is never checked)."""

    def decorate(fn: Screen) -> Screen:
        if name in SCREENS:
            raise ValueError(f"rule {name} has two screens")
        SCREENS[name] = fn
        return fn

    return decorate


def index_rule(
    name: str, severity: str, standard: str, *, summary: str, why: str, example: str, module: str
) -> None:
    """Declare a rule whose faults the element index records while parsing."""
    _register(Rule(name, Severity.parse(severity), standard, summary, why, example, None, module))


def load_all() -> dict[str, Rule]:
    """Import every rule module (each registers its rules on import) and return the registry."""
    from dcmstruct.validate import rules  # noqa: F401 - imported for its registrations

    return REGISTRY
