"""The index's nodes are the construct schemas' reading of the bytes: on every clean fixture and
every clean corpus file, the spans that ``Part10File.parse`` gives (each header's size built
back from its parsed fields with the schema, values from their parsed lengths and contents)
are exactly the index's nodes: kind, stream, offset, end and tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dcmstruct.index import index_bytes
from dcmstruct.model import NO_TAG, Kind, Stream
from dcmstruct.schema import Part10File
from dcmstruct.schema.element import header_schema, item_header_schema
from dcmstruct.schema.file import meta_transfer_syntax
from dcmstruct.schema.layout import (
    EXPLICIT_LE,
    IMPLICIT_LE,
    PREAMBLE_LENGTH,
    PREFIX,
    UNDEFINED_LENGTH,
    Encoding,
    dataset_encoding,
    guess_encoding,
)
from tests.corpus import corpus_files

ROOT = Path(__file__).resolve().parent.parent
Span = tuple[int, int, int, int, int | None]  # stream, kind, offset, end, tag


class _Spans:
    """Walks a ``Part10File`` parse and lists where each node starts and ends."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.out: list[Span] = []

    def add(self, kind: Kind, offset: int, end: int, tag: int | None) -> None:
        self.out.append((int(self.stream), int(kind), offset, end, tag))

    def dataset(self, elements: Any, enc: Encoding, pos: int) -> int:
        for el in elements:
            pos = self.element(el, enc, pos)
        return pos

    def element(self, el: Any, enc: Encoding, pos: int) -> int:
        tag = el.group << 16 | el.element
        value_at = pos + len(header_schema(enc).build(el))
        value = el.value
        if el.length != UNDEFINED_LENGTH and isinstance(value, bytes):
            end = value_at + el.length
        elif el.length != UNDEFINED_LENGTH:  # a defined-length sequence: its items
            end = value_at + el.length
            self.items(value["items"], IMPLICIT_LE if el.vr == b"UN" else enc, value_at)
        elif "offset_table" in value:  # encapsulated Pixel Data (PS3.5 A.4)
            at = self.fragment(value.offset_table, enc, value_at)
            for frag in value.fragments:
                at = self.fragment(frag, enc, at)
            end = self.delimiter(Kind.SEQUENCE_DELIMITER, value.delimiter, enc, at)
        else:  # an undefined-length sequence; UN's holds Implicit VR LE (PS3.5 6.2.2)
            inner = IMPLICIT_LE if el.vr == b"UN" else enc
            at = self.items(value["items"], inner, value_at)
            end = self.delimiter(Kind.SEQUENCE_DELIMITER, value.delimiter, inner, at)
        self.add(Kind.ELEMENT, pos, end, tag)
        return end

    def items(self, items: Any, enc: Encoding, pos: int) -> int:
        for item in items:
            start = pos
            pos += len(item_header_schema(enc).build(item))
            if item.length == UNDEFINED_LENGTH:
                pos = self.dataset(item.dataset, enc, pos)
                pos = self.delimiter(Kind.ITEM_DELIMITER, item.delimiter, enc, pos)
            else:
                self.dataset(item.dataset, enc, pos)
                pos += item.length
            self.add(Kind.ITEM, start, pos, item.group << 16 | item.element)
        return pos

    def fragment(self, item: Any, enc: Encoding, pos: int) -> int:
        end = pos + len(item_header_schema(enc).build(item)) + item.length
        self.add(Kind.FRAGMENT, pos, end, item.group << 16 | item.element)
        return end

    def delimiter(self, kind: Kind, item: Any, enc: Encoding, pos: int) -> int:
        end = pos + len(item_header_schema(enc).build(item))
        self.add(kind, pos, end, item.group << 16 | item.element)
        return end


def schema_spans(data: bytes) -> list[Span]:
    parsed = Part10File.parse(data)
    spans = _Spans(Stream.FILE)
    spans.add(Kind.PREAMBLE, 0, PREAMBLE_LENGTH, None)
    meta_at = PREAMBLE_LENGTH + len(PREFIX)
    spans.add(Kind.PREFIX, PREAMBLE_LENGTH, meta_at, None)
    dataset_at = spans.dataset(parsed.meta, EXPLICIT_LE, meta_at)
    ts = meta_transfer_syntax(parsed.meta)
    if ts is not None and ts.deflated:
        inflated = _Spans(Stream.INFLATED)
        inflated.dataset(parsed.dataset.dataset, EXPLICIT_LE, 0)
        trailing = parsed.dataset.trailing
        if trailing:  # the NUL pad of an odd-length stream (PS3.5 A.5)
            end = len(data)
            spans.add(Kind.TRAILING, end - len(trailing), end, None)
        return spans.out + inflated.out
    enc = dataset_encoding(ts) or guess_encoding(data[dataset_at : dataset_at + 8]) or IMPLICIT_LE
    spans.dataset(parsed.dataset, enc, dataset_at)
    return spans.out


def index_spans(data: bytes) -> list[Span]:
    c = index_bytes(data).columns
    return [
        (stream, kind, offset, end, None if tag == NO_TAG else tag)
        for stream, kind, offset, end, tag in zip(
            c.stream.tolist(),
            c.kind.tolist(),
            c.offset.tolist(),
            c.end.tolist(),
            c.tag.tolist(),
            strict=True,
        )
    ]


def _clean(data: bytes) -> bool:
    index = index_bytes(data)
    return not index.faults and len(index) > 0 and index.node(0).kind == Kind.PREAMBLE


FIXTURES = [p for p in sorted((ROOT / "fixtures").glob("*.dcm")) if _clean(p.read_bytes())]


def _same(data: bytes) -> None:
    assert sorted(schema_spans(data)) == sorted(index_spans(data))


def test_every_clean_fixture_is_a_clean_fixture_here() -> None:
    # The fixtures of every transfer syntax are clean: none may drop out of this test unseen.
    assert len(FIXTURES) == len(list((ROOT / "fixtures").glob("*.dcm")))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_spans(path: Path) -> None:
    _same(path.read_bytes())


def test_corpus_spans() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("no corpus installed")
    checked = 0
    for path in files:
        data = path.read_bytes()
        if len(data) > 8 << 20 or not _clean(data):
            continue
        _same(data)
        checked += 1
    assert checked >= 200


def test_a_wrong_span_is_seen() -> None:
    # The comparison can fail: one value byte more in the schema's reading is a difference.
    data = (ROOT / "fixtures" / "explicit_le.dcm").read_bytes()
    spans = schema_spans(data)
    stream, kind, offset, end, tag = spans[-1]
    assert sorted([*spans[:-1], (stream, kind, offset, end + 1, tag)]) != sorted(index_spans(data))
