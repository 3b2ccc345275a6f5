"""``dcmstruct.check``: the validator's findings for one file, as a list.

>>> import dcmstruct
>>> from dcmstruct.sample import sample_path
>>> dcmstruct.check(sample_path())
[]
>>> data = bytearray(sample_path().read_bytes())
>>> data[0x5a6:0x5a8] = b"PX"  # PatientName's VR: not a VR
>>> for f in dcmstruct.check(bytes(data), select="INVALID_VR"):
...     print(f.rule, f.severity.label, hex(f.offset), f.length, f.tag_text, f.path)
INVALID_VR error 0x5a6 2 0010,0010 0010,0010
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable

from dcmstruct.dataset import Dataset, open
from dcmstruct.index import ElementIndex, Limits
from dcmstruct.validate.engine import Selection, validate_index
from dcmstruct.validate.finding import Finding
from dcmstruct.validate.registry import REGISTRY, load_all

__all__ = ["InternalError", "check"]


class InternalError(RuntimeError):
    """A bug in dcmstruct, not a fault of the file: a rule failed. The other rules' findings
    are in ``findings``, the failures (with tracebacks) in ``errors``."""

    def __init__(self, findings: list[Finding], errors: list[str]) -> None:
        first = errors[0].splitlines()[0] if errors else ""
        super().__init__(f"{len(errors)} internal error(s) while checking: {first}")
        self.findings = findings
        self.errors = errors


def check(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview | Dataset | ElementIndex,
    *,
    select: str | Iterable[str] | None = None,
    ignore: str | Iterable[str] = (),
    limits: Limits | None = None,
) -> list[Finding]:
    """The findings of the validator's rules on ``source``, in byte order.

    ``source``: a path, DICOM bytes, or a file already opened (:func:`dcmstruct.open`, or an
    :class:`~dcmstruct.index.ElementIndex`), which is left open. ``select``: only these rules
    (names as ``dcmstruct validate --select``; None: all); ``ignore``: not these. A name that is
    no rule's raises ``ValueError``. ``limits``: the index's safety limits, for a path or
    bytes (an open file was indexed with its own). Each finding has ``.rule .severity .offset
    .length .tag .path .message`` (:class:`~dcmstruct.validate.finding.Finding`).

    Raises ``OSError`` for a path that cannot be read or a file that changed while it was
    checked, and :class:`InternalError` if a rule failed (a bug: the findings of the others are
    on the exception). Never raises for what the bytes hold.
    """
    selection = Selection(
        select=None if select is None else _rule_names(select),
        ignore=_rule_names(ignore),
        limits=limits or Limits(),
    )
    if isinstance(source, Dataset | ElementIndex):
        index = source.index if isinstance(source, Dataset) else source
        findings, errors = validate_index(index, selection)
    else:
        with open(source, limits=selection.limits) as ds:
            findings, errors = validate_index(ds.index, selection)
            # Findings about bytes that are no longer the file's would mislead.
            ds.index.check_unchanged()
    if errors:
        raise InternalError(findings, errors)
    return findings


def _rule_names(names: str | Iterable[str]) -> Collection[str]:
    listed = [names] if isinstance(names, str) else list(names)
    load_all()
    for name in listed:
        if name not in REGISTRY:
            import difflib  # here: only a miss needs it, and it costs start-up

            close = difflib.get_close_matches(name, sorted(REGISTRY), n=3)
            hint = f" (close: {', '.join(close)})" if close else ""
            raise ValueError(f"{name!r} is not a rule name{hint}")
    return frozenset(listed)
