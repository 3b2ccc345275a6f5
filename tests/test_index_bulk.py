"""The bulk walk (dcmstruct.index.bulk) gives the index the walk gives, node for node and fault
for fault: on every fixture, rule fixture and corpus file, on mutated files, at every node cap
and depth limit, with blocks and chunks small enough that every structure crosses a block
boundary. And it does the work: on clean files the walk is left nothing of the data set."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dcmstruct.builder import E, Item, Raw, Seq, Writer, part10
from dcmstruct.index import ElementIndex, index_source
from dcmstruct.index import bulk as bulk_module
from dcmstruct.index.walker import Walker
from dcmstruct.schema.layout import EXPLICIT_LE
from dcmstruct.source import Source
from tests.corpus import corpus_files
from tests.same_index import assert_same_index

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "fixtures").glob("*.dcm")) + sorted(
    (ROOT / "fixtures" / "rules").glob("*.dcm")
)
SOP = [E("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.7"), E("SOPInstanceUID", "UI", "1.2.3.4")]


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Blocks of a few headers and chunks of a few nodes, the bulk walk on any file size."""
    monkeypatch.setattr(bulk_module, "MIN_BLOCK", 32)
    monkeypatch.setattr(bulk_module, "MAX_BLOCK", 96)
    monkeypatch.setattr(bulk_module, "CHUNK", 3)
    monkeypatch.setattr(bulk_module, "MIN_BULK", 0)
    yield


def _index(source: Source, *, bulk: bool, **limits: int) -> ElementIndex:
    saved = Walker.BULK
    Walker.BULK = bulk
    try:
        return index_source(source, **limits)  # type: ignore[arg-type]
    finally:
        Walker.BULK = saved


def _same(data: bytes, path: Path | None = None, **limits: int) -> None:
    with_bulk = _index(
        Source.open(path) if path is not None else Source.from_bytes(data), bulk=True, **limits
    )
    walked = _index(Source.from_bytes(data), bulk=False, **limits)
    with with_bulk, walked:
        assert_same_index(with_bulk, walked)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixtures(path: Path, tiny: None) -> None:
    _same(path.read_bytes(), path)


def test_fixtures_with_the_real_block_sizes() -> None:
    for path in FILES:
        _same(path.read_bytes(), path)


def test_corpus(tiny: None) -> None:
    files = [p for p in corpus_files() if p.stat().st_size <= 4 << 20]
    if not files:
        pytest.skip("no corpus installed")
    for path in files:
        _same(path.read_bytes(), path)


@pytest.mark.parametrize("seed", range(300))
def test_mutations(seed: int, tiny: None) -> None:
    rng = random.Random(seed)
    data = bytearray(rng.choice([p for p in FILES if p.stat().st_size > 256]).read_bytes())
    for _ in range(rng.randrange(1, 6)):
        at = rng.randrange(132, len(data))
        if rng.random() < 0.5:
            data[at] = rng.randrange(256)
        else:  # a length field's low byte a little off, the commonest real damage
            data[at] = (data[at] + rng.choice((-2, -1, 1, 2, 8))) & 0xFF
    _same(bytes(data))


def _content(count: int) -> Seq:
    """``count`` items, each with a sequence inside (defined and undefined lengths mixed)."""
    items = []
    for n in range(count):
        inner = Seq(
            [Item([E("CodeValue", "SH", f"C{n}"), E("CodeMeaning", "LO", "x" * (n % 7))])],
            undefined=n % 2 == 0,
        )
        items.append(
            Item(
                [
                    E("ReferencedSOPInstanceUID", "UI", f"1.2.3.{n}"),
                    E("ConceptNameCodeSequence", "SQ", inner),
                    E("TextValue", "UT", "t" * (n % 5 * 2)),
                ],
                undefined=n % 3 == 0,
            )
        )
    return Seq(items, undefined=count % 2 == 1)


def nested(count: int) -> bytes:
    """Sequences of defined and undefined length, inside items of both kinds, three deep,
    with short and long values around them and native pixel data at the end."""
    return part10(
        [
            *SOP,
            E("PatientName", "PN", "BULK^TEST"),
            E("ContentSequence", "SQ", _content(count)),
            E("ReferencedImageSequence", "SQ", Seq([])),
            E("Rows", "US", 16),
            E("Columns", "US", 16),
            E("PixelData", "OW", bytes(512)),
        ]
    )


def test_the_bulk_walk_leaves_the_walk_nothing_on_a_clean_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = nested(400)
    assert len(data) > bulk_module.MIN_BULK
    starts: list[int] = []
    real_walk = Walker.walk

    def walk(self: Walker, pos: int, stack: list[object], **pause: int) -> int:
        starts.append(pos)
        return real_walk(self, pos, stack, **pause)  # type: ignore[arg-type]

    monkeypatch.setattr(Walker, "walk", walk)
    index = _index(Source.from_bytes(data), bulk=True)
    # The meta group's walk, then the data set's: handed over at its end, with nothing left.
    assert starts[-1] == len(data)
    assert len(index) > 400 * 7 and not index.faults
    _same(data)


@pytest.mark.parametrize("count", [1, 2, 3, 40])
def test_nested_sequences(count: int, tiny: None) -> None:
    _same(nested(count))


def test_every_node_cap(tiny: None) -> None:
    data = nested(6)
    nodes = len(_index(Source.from_bytes(data), bulk=False))
    for cap in range(1, nodes + 2):
        _same(data, max_nodes=cap)


def test_every_depth_limit(tiny: None) -> None:
    data = nested(6)
    for depth in range(0, 5):
        _same(data, max_depth=depth)


def test_a_fault_deep_in_a_clean_file_is_the_walks(tiny: None) -> None:
    """Damage inside the third block of a sequence: the rows before it stay, the walk
    reports the fault exactly as without the bulk walk."""
    data = bytearray(nested(40))
    at = data.index(b"C21")  # a CodeValue deep in the content sequence
    data[at - 2] = 0x7F  # its 16-bit length: now runs past its item
    _same(bytes(data))


def test_the_bulk_walk_goes_on_after_what_it_hands_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """An odd-length element (a fault: every later header starts at an odd offset) and a UN
    element near the start of a large data set: the walk takes each, and the bulk walk reads
    the rest (the index is the same as without it)."""
    writer = Writer(EXPLICIT_LE)
    odd = writer.header(0x00081030, "LO", 9) + b"ODDLENGTH"  # Study Description
    plain = nested(400)
    data = part10(
        [
            *SOP,
            Raw(odd),
            E(0x00091010, "UN", b"opaque"),
            E("ContentSequence", "SQ", _content(400)),
        ]
    )
    assert len(data) > len(plain) // 2
    read_in_bulk = 0
    real_bulk = Walker.bulk

    def bulk(self: Walker, pos: int, limit: int) -> int:
        nonlocal read_in_bulk
        stop = real_bulk(self, pos, limit)
        read_in_bulk += stop - pos
        return stop

    monkeypatch.setattr(Walker, "bulk", bulk)
    index = _index(Source.from_bytes(data), bulk=True)
    after = data.index(b"opaque") + len(b"opaque")
    assert read_in_bulk > 0.95 * (len(data) - after)
    assert [f.code for f in index.faults] == []  # odd lengths are the validator's to report
    _same(data)


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.parent.name == "rules"], ids=lambda p: p.name
)
def test_every_node_cap_on_faulty_files(path: Path, tiny: None) -> None:
    """At the cap the walk reports the fault of the node that does not fit before it stops
    (an overrun, say), and leaves open what that node would have closed: the bulk walk too."""
    data = path.read_bytes()
    nodes = len(_index(Source.from_bytes(data), bulk=False))
    for cap in range(1, nodes + 2):
        _same(data, max_nodes=cap)


@pytest.mark.parametrize(
    "body",
    [
        # Large values, one header per block: the bulk walk would pay a block per node.
        [E(0x00091000 + i, "OB", bytes(33_000)) for i in range(400)],
        # A UN element (handed to the walk) after every 4 KiB value: a try per pair.
        [
            e
            for i in range(400)
            for e in (E(0x00091000 + 2 * i, "OB", bytes(4096)), E(0x00091001 + 2 * i, "UN", b"ab"))
        ],
    ],
    ids=["large-values", "value-then-UN"],
)
def test_the_bulk_walk_backs_off_where_it_does_not_pay(
    body: list[E], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data sets where a block holds a node or two: the bulk walk hands over and is tried
    again ever further apart, so it reads a few blocks (each costs about what the walk spends
    on a hundred nodes), not one per node; and the index is the same."""
    data = part10([*SOP, E(0x00090010, "LO", "BULK"), *body])
    blocks = 0
    real_steps = bulk_module.steps

    def steps(w: np.ndarray, count: int) -> np.ndarray:
        nonlocal blocks
        blocks += 1
        return real_steps(w, count)

    monkeypatch.setattr(bulk_module, "steps", steps)
    index = _index(Source.from_bytes(data), bulk=True)
    assert len(index) > len(body)
    assert blocks <= 40, blocks
    _same(data)
