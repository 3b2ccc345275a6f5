"""Declarative construct schemas: the single definition of DICOM's byte layout.

Import the pieces to parse and build byte strings::

    from dcmstruct.schema import Part10File, EXPLICIT_LE
    container = Part10File.parse(data)
    assert Part10File.build(container) == data

Every piece cites the section of the standard it implements.
"""

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
