"""dcmstruct: a hex-level structure explorer and validator for DICOM files.

The library's front door is two functions:

- :func:`open` indexes a file (a path, or bytes) and returns a :class:`Dataset`: elements by
  keyword, tag or path (``ds["PatientName"]``, ``ds["0010,0010"]``,
  ``ds["300A,0010[0]/300A,0012"]``), each with its offsets, and values decoded by VR
  (``ds.value(...)``);
- :func:`check` runs the validator's rules and returns the findings, each with
  ``.rule .severity .offset .length .tag .path .message``.

>>> import dcmstruct
>>> from dcmstruct.sample import sample_path
>>> with dcmstruct.open(sample_path()) as ds:
...     print(ds.value("PatientID"), ds["PixelData"])
SAMPLE-0001 Element(7FE0,0010 OW PixelData, offset=0xb06, length=131072)
>>> dcmstruct.check(sample_path(), ignore=["UNKNOWN_STANDARD_TAG"])
[]

``import dcmstruct`` imports nothing else: each name below loads its module on first use.
"""

from __future__ import annotations

from importlib import import_module

# Not typing.TYPE_CHECKING: importing typing would cost more than the rest of this module
# (type checkers treat any constant of this name alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from dcmstruct.checking import InternalError, check
    from dcmstruct.dataset import Dataset, Element, ValueTooLarge, open
    from dcmstruct.index import ElementIndex, Limits
    from dcmstruct.schema import Part10File
    from dcmstruct.validate.finding import Finding, Severity

    __version__: str

__all__ = [
    "Dataset",
    "Element",
    "ElementIndex",
    "Finding",
    "InternalError",
    "Limits",
    "Part10File",
    "Severity",
    "ValueTooLarge",
    "check",
    "open",
]

# Where each public name lives; loaded on first access (PEP 562), so the command line and
# ``import dcmstruct`` do not pay for numpy, the index or the rules until they are used.
_LAZY = {
    "open": "dcmstruct.dataset",
    "Dataset": "dcmstruct.dataset",
    "Element": "dcmstruct.dataset",
    "ValueTooLarge": "dcmstruct.dataset",
    "check": "dcmstruct.checking",
    "InternalError": "dcmstruct.checking",
    "ElementIndex": "dcmstruct.index",
    "Limits": "dcmstruct.index",
    "Part10File": "dcmstruct.schema",
    "Finding": "dcmstruct.validate.finding",
    "Severity": "dcmstruct.validate.finding",
}


def __getattr__(name: str) -> object:
    if name == "__version__":
        from dcmstruct.version import version

        value: object = version()
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'dcmstruct' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
