"""Declarative construct schemas: the single definition of DICOM's byte layout.

Import the pieces to parse and build byte strings::

    from dcmstruct.schema import Part10File, EXPLICIT_LE
    container = Part10File.parse(data)
    assert Part10File.build(container) == data

Every piece cites the section of the standard it implements.

The names below are loaded on first use (PEP 562): the index needs only
:mod:`dcmstruct.schema.element`, and importing the package must not build the recursive data
set grammars for it (a few milliseconds of every command's start-up).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dcmstruct.schema.dataset import (
        DataElement,
        DataSetToEnd,
        DataSetUntilDelimiter,
        Item,
        UndefinedLengthSequence,
    )
    from dcmstruct.schema.deflate import RawDeflate
    from dcmstruct.schema.element import (
        EXPLICIT_BE,
        EXPLICIT_LE,
        IMPLICIT_LE,
        Encoding,
        HeaderForm,
    )
    from dcmstruct.schema.file import FileMetaGroup, Part10File, Preamble, Prefix
    from dcmstruct.schema.pixel import BasicOffsetTable, EncapsulatedPixelData, Fragment

# name -> the submodule that defines it
_WHERE = {
    "DataElement": "dataset",
    "DataSetToEnd": "dataset",
    "DataSetUntilDelimiter": "dataset",
    "Item": "dataset",
    "UndefinedLengthSequence": "dataset",
    "RawDeflate": "deflate",
    "EXPLICIT_BE": "element",
    "EXPLICIT_LE": "element",
    "IMPLICIT_LE": "element",
    "Encoding": "element",
    "HeaderForm": "element",
    "FileMetaGroup": "file",
    "Part10File": "file",
    "Preamble": "file",
    "Prefix": "file",
    "BasicOffsetTable": "pixel",
    "EncapsulatedPixelData": "pixel",
    "Fragment": "pixel",
}


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{where}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "EXPLICIT_BE",
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "BasicOffsetTable",
    "DataElement",
    "DataSetToEnd",
    "DataSetUntilDelimiter",
    "EncapsulatedPixelData",
    "Encoding",
    "FileMetaGroup",
    "Fragment",
    "HeaderForm",
    "Item",
    "Part10File",
    "Preamble",
    "Prefix",
    "RawDeflate",
    "UndefinedLengthSequence",
]
