"""A whole DICOM Part 10 file (PS3.10 7.1): preamble, prefix, file meta group, data set."""

from __future__ import annotations

from typing import Any

from construct import Bytes, Const, Struct, Switch

from dcmstruct import specdata
from dcmstruct.schema.dataset import grammar
from dcmstruct.schema.deflate import RawDeflate
from dcmstruct.schema.layout import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    PREAMBLE_LENGTH,
    PREFIX,
    TRANSFER_SYNTAX_UID,
    dataset_encoding,
    guess_encoding,
)
from dcmstruct.schema.repeat import RepeatUntilTag

__all__ = [
    "PREAMBLE_LENGTH",
    "PREFIX",
    "TRANSFER_SYNTAX_UID",
    "FileMetaGroup",
    "Part10File",
    "Preamble",
    "Prefix",
    "dataset_encoding",
    "meta_transfer_syntax",
]
# PS3.10 7.1: a 128-byte File Preamble, content unspecified (all zero if unused).
Preamble = Bytes(PREAMBLE_LENGTH)
# PS3.10 7.1: the four-byte DICOM Prefix.
Prefix = Const(PREFIX)
# PS3.10 7.1: the File Meta Information group (0002,xxxx), always Explicit VR Little Endian.
FileMetaGroup = RepeatUntilTag(
    grammar(EXPLICIT_LE).element, lambda tag: tag >> 16 != 0x0002, big_endian=False
)


def meta_transfer_syntax(meta: Any) -> specdata.TransferSyntax | None:
    """The transfer syntax that (0002,0010) of a parsed meta group names, if known."""
    for element in meta:
        if (element.group << 16 | element.element) == TRANSFER_SYNTAX_UID:
            uid = bytes(element.value).rstrip(b"\0 ").decode("ascii", "replace")
            return specdata.transfer_syntax(uid)
    return None


def _dataset_form(ctx: Any) -> str:
    ts = meta_transfer_syntax(ctx.meta)
    if ts is None:
        # No (0002,0010), or an unknown UID: guessed from the first element's header, as the
        # index guesses it. Peeked, not consumed.
        stream = ctx._io
        pos = stream.tell()
        head = stream.read(8)
        stream.seek(pos)
        return _FORMS[guess_encoding(head) or IMPLICIT_LE]
    if ts.deflated:
        return "deflated"
    return _FORMS[dataset_encoding(ts) or EXPLICIT_LE]


_FORMS = {EXPLICIT_LE: "explicit_le", IMPLICIT_LE: "implicit_le", EXPLICIT_BE: "explicit_be"}

Part10File = Struct(
    "preamble" / Preamble,
    "prefix" / Prefix,
    "meta" / FileMetaGroup,
    # PS3.10 7.1 / PS3.5 10: the data set, encoded as (0002,0010) says.
    "dataset"
    / Switch(
        _dataset_form,
        {
            "explicit_le": grammar(EXPLICIT_LE).dataset,  # PS3.5 A.2
            "implicit_le": grammar(IMPLICIT_LE).dataset,  # PS3.5 A.1
            "explicit_be": grammar(EXPLICIT_BE).dataset,  # PS3.5 A.3 (retired)
            "deflated": RawDeflate(grammar(EXPLICIT_LE).dataset),  # PS3.5 A.5
        },
    ),
)
