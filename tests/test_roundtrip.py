"""``Part10File.build(Part10File.parse(data)) == data`` for every well-formed file we have."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcmstruct.index import index_file
from dcmstruct.model import Kind
from dcmstruct.schema import Part10File
from tests.corpus import corpus_files


def _well_formed(path: Path) -> bool:
    """A Part 10 file (preamble and prefix) in which the tolerant index met no fault."""
    with index_file(path) as index:
        return not index.faults and len(index) > 0 and index.node(0).kind == Kind.PREAMBLE


def _corpus() -> list[Path]:
    try:
        return [p for p in corpus_files() if _well_formed(p)]
    except ImportError:
        return []


CORPUS = _corpus()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_round_trip(path: Path) -> None:
    data = path.read_bytes()
    container = Part10File.parse(data)
    assert Part10File.build(container) == data


def test_corpus_round_trip_covers_every_encoding() -> None:
    if not CORPUS:
        pytest.skip("pydicom's test files are not installed")
    uids = set()
    for path in CORPUS:
        with index_file(path) as index:
            uids.add(index.transfer_syntax_uid)
    # Implicit LE, explicit LE, explicit BE, deflated and encapsulated syntaxes all round-trip.
    assert {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"} <= uids
    assert "1.2.840.10008.1.2.4.50" in uids
    assert len(CORPUS) >= 200
