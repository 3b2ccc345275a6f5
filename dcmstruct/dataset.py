"""A DICOM file opened for reading: elements found by keyword, tag or path, values decoded.

:func:`open` indexes a file (or bytes) and returns a :class:`Dataset`, which wraps the
:class:`~dcmstruct.index.ElementIndex` (``ds.index``). Nothing is decoded until asked for, and
no value is read whole unless it is asked for and fits the limit.

>>> import dcmstruct
>>> from dcmstruct.sample import sample_path
>>> with dcmstruct.open(sample_path()) as ds:
...     name = ds["PatientName"]
...     print(name)
...     print(ds.value(name), ds.value("0028,0010"), ds.value("WindowCenter"))
...     print(ds.value("ReferencedImageSequence[0]/ReferencedSOPInstanceUID"))
Element(0010,0010 PN PatientName, offset=0x5a2, length=16)
DCMSTRUCT^SAMPLE 256 [40.0, -600.0]
1.2.826.0.1.3680043.10.1455.2.7
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dcmstruct import paths, specdata
from dcmstruct.index import ElementIndex, Limits, index_source
from dcmstruct.model import Fault, Kind, Stream
from dcmstruct.schema.layout import format_tag
from dcmstruct.source import Source
from dcmstruct.values import (
    NUMERIC_DTYPES,
    decode_numbers,
    decode_tags,
    little_endian,
    split_values,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from dcmstruct.validate.grammar import Charset

__all__ = ["DEFAULT_VALUE_LIMIT", "Dataset", "Element", "Value", "ValueTooLarge", "open"]

#: :meth:`Dataset.value` reads at most this many bytes of one value unless told otherwise.
DEFAULT_VALUE_LIMIT = 64 << 20

# PS3.5 Table 6.2-1: leading spaces are padding too (trailing spaces are, for every text VR).
_LEADING_PAD = frozenset({"AE", "CS", "DS", "IS", "LO", "SH"})
_ARRAY_VRS = frozenset({"OB", "OW", "OL", "OV", "OF", "OD", "UN"})
_DELIMITERS = (Kind.ITEM_DELIMITER, Kind.SEQUENCE_DELIMITER)
_SPECIFIC_CHARACTER_SET = 0x00080005
_CHARSET_VALUE_BYTES = 1024  # a (0008,0005) value is a few terms of 16 characters at most
# PS3.5 Table 6.2-1: the IS and DS grammars (Python's int() and float() accept more: "1_0").
_IS = re.compile(r"[+-]?[0-9]+")
_DS = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class ValueTooLarge(ValueError):
    """A value longer than the ``limit`` :meth:`Dataset.value` was given: it is not read."""


@dataclass(frozen=True, slots=True)
class Element:
    """One node of a data set, where it is and what it is (its value: :meth:`Dataset.value`).

    ``offset`` is where the node's header starts, ``value_offset`` where its value starts and
    ``end`` where its bytes end; ``length`` is the value length field (None: undefined length).
    Offsets count in ``stream``: the file, or the inflated data set of a deflated file.
    ``path`` is the validator's path (``0008,1140[0]/0008,1155``), which ``ds[...]`` accepts.
    """

    node: int  # its row in the index (``ds.index.node(n)``)
    kind: Kind
    tag: int | None
    vr: str | None
    length: int | None
    offset: int
    value_offset: int | None
    end: int
    stream: Stream
    path: str

    @property
    def keyword(self) -> str | None:
        """The dictionary keyword of an element ("PatientName"); None if unknown or private."""
        if self.tag is None or self.kind != Kind.ELEMENT:
            return None
        return specdata.keyword(self.tag)

    @property
    def tag_text(self) -> str | None:
        return None if self.tag is None else format_tag(self.tag)

    def __repr__(self) -> str:
        what = self.path or self.kind.label
        if self.kind == Kind.ELEMENT:
            what += f" {self.vr or '--'}"
            if self.keyword:
                what += f" {self.keyword}"
        elif self.path:
            what += f" {self.kind.label}"
        length = str(self.length)
        if self.length is None and self.kind in (Kind.ELEMENT, Kind.ITEM):
            length = "undefined"  # FFFFFFFFH; other nodes (preamble, delimiters) have no field
        return f"Element({what}, offset={self.offset:#x}, length={length})"


Scalar = str | int | float | None
#: What :meth:`Dataset.value` returns.
Value = Scalar | bytes | list[Scalar] | list[Element]


class Dataset:
    """An indexed DICOM file: look elements up, decode their values. A context manager.

    ``ds[key]`` gives the :class:`Element` that ``key`` names, or raises ``KeyError`` (with
    close keywords when the key is not one). A key is a keyword (``"PatientName"``, any case),
    a tag (``"0010,0010"``, ``"(0010,0010)"``, ``0x00100010``) or a path of those through
    sequence items counted from 0 (``"300A,0010[0]/300A,0012"``,
    ``"ReferencedImageSequence[-1]/ReferencedSOPInstanceUID"``); a path that ends with an item
    position names the item. The first element with the tag wins if a (broken) data set
    repeats it. Top-level keys see the file meta group too.

    >>> import dcmstruct
    >>> from dcmstruct.sample import sample_path
    >>> ds = dcmstruct.open(sample_path())
    >>> ds["(0008,2112)"]
    Element(0008,2112 SQ SourceImageSequence, offset=0x40a, length=undefined)
    >>> [ds.children(item) for item in ds.children("SourceImageSequence")[1:]]
    [[Element(0008,2112[1]/0008,1150 UI ReferencedSOPClassUID, offset=0x4e2, length=26), \
Element(0008,2112[1]/0008,1155 UI ReferencedSOPInstanceUID, offset=0x504, length=32)]]
    >>> "PatientWeight" in ds, ds.get("PatientWeight")
    (False, None)
    >>> ds["PatientsName"]
    Traceback (most recent call last):
    ...
    KeyError: "'PatientsName' is neither a keyword nor a tag GGGG,EEEE at the top level; \
close: PatientName, PatientSex, PatientAge"
    >>> ds.close()
    """

    def __init__(self, index: ElementIndex) -> None:
        self.index = index
        self._numbers: npt.NDArray[np.int32] | None = None
        self._charsets: dict[int, Charset] = {}

    # -- the file ----------------------------------------------------------------------------

    @property
    def faults(self) -> list[Fault]:
        """Structural faults met while indexing (the validator turns them into findings)."""
        return self.index.faults

    @property
    def transfer_syntax_uid(self) -> str | None:
        return self.index.transfer_syntax_uid

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- elements ----------------------------------------------------------------------------

    def __getitem__(self, key: str | int) -> Element:
        return self.element(paths.resolve(self.index, paths.parse(key)))

    def get(self, key: str | int, default: Element | None = None) -> Element | None:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str | int) and self.get(key) is not None

    def __iter__(self) -> Iterator[Element]:
        """The top-level elements (the file meta group, then the data set), in file order."""
        c = self.index.columns
        for i in self.index.children(-1):
            if int(c.kind[i]) == Kind.ELEMENT:
                yield self.element(i)

    def element(self, node: int) -> Element:
        """The :class:`Element` view of index node ``node``."""
        n = self.index.node(node)
        if self._numbers is None:
            self._numbers = paths.item_numbers(self.index.columns)
        return Element(
            node=node,
            kind=n.kind,
            tag=n.tag,
            vr=n.vr,
            length=n.length,
            offset=n.offset,
            value_offset=n.value_offset,
            end=n.end,
            stream=n.stream,
            path=paths.node_path(self.index.columns, self._numbers, node),
        )

    def children(self, element: Element | str | int) -> list[Element]:
        """What ``element`` holds, in file order: a sequence's items, encapsulated pixel data's
        fragments (the Basic Offset Table first), an item's elements; delimiters left out.
        Empty for an element with a value (:meth:`value`)."""
        el = element if isinstance(element, Element) else self[element]
        if not _is_container(el):
            return []
        c = self.index.columns
        return [
            self.element(i) for i in self.index.children(el.node) if c.kind[i] not in _DELIMITERS
        ]

    # -- values ------------------------------------------------------------------------------

    def raw(
        self, element: Element | str | int, *, limit: int = DEFAULT_VALUE_LIMIT
    ) -> bytes | None:
        """The value's bytes as they are in the file (None: undefined length or no value);
        ``ValueTooLarge`` if there are more than ``limit``."""
        el = element if isinstance(element, Element) else self[element]
        if el.value_offset is None or el.length is None:
            return None
        size = el.end - el.value_offset
        if size > limit:
            raise ValueTooLarge(
                f"{el.path}: the value is {size} bytes, more than limit={limit}; pass a larger "
                "limit, or read it in parts with ds.index.read(element.stream, offset, n)"
            )
        return self.index.value_bytes(el.node, size)

    def value(self, element: Element | str | int, *, limit: int = DEFAULT_VALUE_LIMIT) -> Value:
        """The value of ``element`` (an :class:`Element` or a key) as Python values, by VR.

        - text VRs: ``str``, padding stripped, or a list of them when a backslash separates
          several values (not in LT, ST, UT, UR); SH, LO, ST, LT, PN, UC and UT are decoded with
          the Specific Character Set (0008,0005) in force (an item's own, else its enclosing
          data set's), undecodable bytes as U+FFFD; values that use ISO 2022 escape sequences
          are decoded as latin-1, escapes included (``raw()`` has the bytes);
        - IS, DS: ``int``, ``float`` (or lists); a value that is not a number stays ``str``;
        - US, SS, UL, SL, UV, SV: ``int``; FL, FD: ``float``; AT: the tag as an ``int``
          (lists when there are several), in the file's byte order;
        - OB, OW, OL, OV, OF, OD, UN, unknown VRs: the ``bytes`` as in the file;
        - a sequence, any element of undefined length, an item: :meth:`children`, a list of
          :class:`Element`;
        - ``None`` when the value is empty (or the node has none).

        A value cut short by the end of the file (or of its item) is decoded from the bytes
        there are; the faults say it was cut. A value of more than ``limit`` bytes is not read:
        ``ValueTooLarge`` (a ``ValueError``) is raised.
        """
        el = element if isinstance(element, Element) else self[element]
        if _is_container(el):
            return self.children(el)
        raw = self.raw(el, limit=limit)
        if not raw:
            return None
        if el.kind != Kind.ELEMENT:
            return raw
        vr = el.vr
        if vr is None or vr in _ARRAY_VRS or vr not in specdata.VR_CODES:
            return raw
        if vr in NUMERIC_DTYPES:
            little = little_endian(self.index, el.node)
            if vr == "AT":
                return _one_or_list(decode_tags(raw, little).tolist())
            return _one_or_list(decode_numbers(vr, raw, little).tolist())
        return _text(vr, raw.decode(self._codec(el.node, vr, raw), errors="replace"))

    def _codec(self, node: int, vr: str, raw: bytes) -> str:
        """How to decode a value of text VR ``vr``: by the character set in force if the VR
        may use one, else as latin-1 (the default repertoire is ASCII; no byte is lost)."""
        from dcmstruct.validate.grammar import EXTENDED, ISO2022_SINGLE, CharsetKind

        if vr not in EXTENDED:
            return "latin_1"
        cs = self._charset(int(self.index.columns.parent[node]))
        if cs.kind in (CharsetKind.SINGLE, CharsetKind.MULTI) and cs.codec:
            codec = cs.codec
        elif cs.kind == CharsetKind.ISO2022 and b"\x1b" not in raw:
            codec = ISO2022_SINGLE.get(cs.terms[0], "latin_1")  # G0/G1 of the first term
        else:
            return "latin_1"
        try:
            codecs.lookup(codec)
        except LookupError:  # JIS X 0201 (ISO_IR 13) has no Python codec
            return "latin_1"
        return codec

    def _charset(self, owner: int) -> Charset:
        """The character set of data set ``owner`` (an item, or -1: the top level); an item
        without its own (0008,0005) has that of the data set its sequence is in."""
        from dcmstruct.validate.grammar import DEFAULT, parse_charset

        known = self._charsets.get(owner)
        if known is not None:
            return known
        c = self.index.columns
        cs: Charset | None = None
        for i in self.index.children(owner):
            if int(c.tag[i]) == _SPECIFIC_CHARACTER_SET and int(c.kind[i]) == Kind.ELEMENT:
                cs = parse_charset(self.index.value_bytes(i, _CHARSET_VALUE_BYTES))
                break
        if cs is None:
            sequence = int(c.parent[owner]) if owner >= 0 else -1
            cs = DEFAULT if sequence < 0 else self._charset(int(c.parent[sequence]))
        self._charsets[owner] = cs
        return cs


def _is_container(el: Element) -> bool:
    return el.kind == Kind.ITEM or el.vr == "SQ" or (el.kind == Kind.ELEMENT and el.length is None)


def _one_or_list(values: list[Scalar]) -> Value:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _text(vr: str, text: str) -> Value:
    parts = split_values(vr, text)
    lead = vr in _LEADING_PAD
    out: list[Scalar] = []
    for part in parts:
        part = part.rstrip(" \0")
        if lead:
            part = part.lstrip(" ")
        out.append(_number(vr, part) if vr in ("IS", "DS") else part)
    if len(out) == 1 and out[0] == "":
        return None
    return _one_or_list(out)


def _number(vr: str, text: str) -> str | int | float | None:
    """An IS or DS value as a number (PS3.5 Table 6.2-1 grammars); other text as it is."""
    if not text:
        return None
    if vr == "IS":
        return int(text) if _IS.fullmatch(text) else text
    return float(text) if _DS.fullmatch(text) else text


def open(  # the front door is dcmstruct.open, as tarfile.open is tarfile's
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    limits: Limits | None = None,
) -> Dataset:
    """Index a DICOM file (a path) or DICOM bytes and return the :class:`Dataset`.

    Never raises for what the bytes hold: a broken file gives the nodes that could be read and
    ``ds.faults``. Raises ``OSError`` for a path that cannot be read (missing, a directory, a
    FIFO or device: those are refused, never opened). The file is read with ``pread`` on
    demand and stays open until ``close()`` or the end of the ``with`` block. ``limits``: the
    index's safety limits (:class:`dcmstruct.index.Limits`).

    >>> import dcmstruct
    >>> from dcmstruct.sample import sample_path
    >>> data = sample_path().read_bytes()
    >>> with dcmstruct.open(data) as ds:
    ...     print(ds.transfer_syntax_uid, ds.value("Rows"), len(ds.faults))
    1.2.840.10008.1.2.1 256 0
    >>> with dcmstruct.open(data[:0x5b0]) as ds:  # cut inside PatientName's value
    ...     print(ds.value("PatientName"), *(f.code for f in ds.faults))
    DCMSTR FILE_TRUNCATED
    """
    lim = limits or Limits()
    if isinstance(source, bytes | bytearray | memoryview):
        src = Source.from_bytes(bytes(source))
        name = None
    else:
        src = Source.open(source)
        name = os.fspath(source)
    index = index_source(
        src,
        path=name,
        max_depth=lim.max_depth,
        max_nodes=lim.max_nodes,
        inflate_ratio=lim.inflate_ratio,
    )
    return Dataset(index)
