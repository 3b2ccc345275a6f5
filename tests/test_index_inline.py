"""The walk's inlined common cases agree with its general methods, node for node and fault for
fault: on every fixture, every rule fixture, every corpus file and on mutated files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dcmstruct.index import ElementIndex, index_source
from dcmstruct.index.walker import Walker
from dcmstruct.source import Source
from tests.corpus import corpus_files
from tests.same_index import assert_same_index

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "fixtures").glob("*.dcm")) + sorted(
    (ROOT / "fixtures" / "rules").glob("*.dcm")
)


def _index(data: bytes, *, inline: bool) -> ElementIndex:
    saved = Walker.INLINE
    Walker.INLINE = inline
    try:
        return index_source(Source.from_bytes(data), max_nodes=1 << 20)
    finally:
        Walker.INLINE = saved


def _same(data: bytes) -> None:
    assert_same_index(_index(data, inline=True), _index(data, inline=False))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixtures(path: Path) -> None:
    _same(path.read_bytes())


def test_corpus() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("no corpus installed")
    for path in files:
        data = path.read_bytes()
        if len(data) <= 8 << 20:
            _same(data)


@pytest.mark.parametrize("seed", range(200))
def test_mutations(seed: int) -> None:
    rng = random.Random(seed)
    data = bytearray(rng.choice([p for p in FILES if p.stat().st_size > 256]).read_bytes())
    for _ in range(rng.randrange(1, 8)):
        at = rng.randrange(128, len(data))
        data[at] = rng.randrange(256)
    _same(bytes(data))
