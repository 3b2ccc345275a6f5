"""The batch screens are never laxer than their rules, and a batch changes no report.

Every rule with a screen (:func:`dcmstruct.validate.registry.screen`) is run exactly on each
file; wherever it has a finding, its screen must flag the file, here with the file placed
between two others in the batch (so row numbers, parents and value bytes are not the file's
own). And the reports of files checked together (``validate_batch``, the command's chunks) are
those of each file checked alone: on every fixture, rule fixture, corpus file and on mutated
files. The last test holds the screens to their purpose: a batch of clean files runs no rule.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from dcmstruct.index import ElementIndex, index_bytes, index_file
from dcmstruct.validate.batch import Batch
from dcmstruct.validate.context import Context
from dcmstruct.validate.engine import Selection, screened, validate_batch, validate_index
from dcmstruct.validate.registry import REGISTRY, SCREENS, load_all
from tests.corpus import corpus_files

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("*.dcm"))
RULE_FIXTURES = sorted((ROOT / "fixtures" / "rules").glob("*.dcm"))
FILES = FIXTURES + RULE_FIXTURES
load_all()


@cache
def _filler() -> tuple[bytes, bytes]:
    """Two files to put around the one under test: clean ones, of other encodings."""
    return (
        (ROOT / "fixtures" / "explicit_le.dcm").read_bytes(),
        (ROOT / "fixtures" / "implicit_le.dcm").read_bytes(),
    )


def _assert_screens_hold(data: bytes, name: str) -> None:
    before, after = _filler()
    with index_bytes(before) as a, index_bytes(data) as index, index_bytes(after) as b:
        batch = Batch([a, index, b])
        ctx = Context(index)
        for rule_name, screen in SCREENS.items():
            check = REGISTRY[rule_name].check
            assert check is not None, f"{rule_name} has a screen but no check"
            flags = screen(batch)
            assert flags.shape == (3,) and flags.dtype == bool
            if not flags[1] and list(check(ctx)):
                raise AssertionError(f"{name}: the screen of {rule_name} clears a finding")


def _assert_same_reports(datas: list[bytes]) -> None:
    indexes = [index_bytes(d) for d in datas]
    try:
        together = validate_batch(indexes)
        alone = [validate_index(ix) for ix in indexes]
        assert together == alone
    finally:
        for ix in indexes:
            ix.close()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_screens_hold_on_fixtures(path: Path) -> None:
    _assert_screens_hold(path.read_bytes(), path.name)


def test_screens_hold_on_corpus() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("no corpus (pydicom is not installed)")
    for path in files:
        _assert_screens_hold(path.read_bytes(), str(path))


def test_fixtures_together_as_alone() -> None:
    datas = [p.read_bytes() for p in FILES]
    for k in range(0, len(datas), 40):
        _assert_same_reports(datas[k : k + 40])


def test_corpus_together_as_alone() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("no corpus (pydicom is not installed)")
    datas = [p.read_bytes() for p in files if p.stat().st_size < 4 << 20]
    for k in range(0, len(datas), 40):
        _assert_same_reports(datas[k : k + 40])


def _mutations(count: int, seed: int) -> Iterator[bytes]:
    """Rule fixtures with a few bytes overwritten, inserted or cut: faults of every kind at
    every depth, in combinations no fixture has."""
    rng = random.Random(seed)
    sources = [p.read_bytes() for p in FILES]
    for _ in range(count):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(max(1, len(data)))
            move = rng.random()
            if move < 0.6:
                data[at : at + 1] = bytes([rng.randrange(256)])
            elif move < 0.8:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                del data[at : at + rng.randint(1, 8)]
        yield bytes(data)


def test_screens_hold_on_mutations() -> None:
    for n, data in enumerate(_mutations(400, seed=8)):
        _assert_screens_hold(data, f"mutation {n}")


def test_mutations_together_as_alone() -> None:
    datas = list(_mutations(200, seed=9))
    for k in range(0, len(datas), 25):
        _assert_same_reports(datas[k : k + 25])


def test_clean_files_run_no_rule(tmp_path: Path) -> None:
    """What the screens are for: small clean files, many at once, leave no check to run."""
    clean = [ROOT / "fixtures" / "explicit_le.dcm", ROOT / "fixtures" / "implicit_le.dcm"]
    indexes: list[ElementIndex] = [index_file(p) for p in clean * 4]
    try:
        assert all(not validate_index(ix)[0] for ix in indexes)
        runs, failed = screened(indexes, Selection())
        assert not failed
        assert [[r.name for r in run] for run in runs] == [[]] * len(indexes)
    finally:
        for ix in indexes:
            ix.close()


def test_a_batch_goes_with_its_screening() -> None:
    """What the screens share lives on the batch: nothing keeps a batch (and the indexes it
    holds) alive once the engine is done with it."""
    import gc
    import weakref

    indexes = [index_file(p) for p in FILES[:8]]
    try:
        batch = Batch(indexes)
        for screen in SCREENS.values():
            screen(batch)
        gone = weakref.ref(batch)
        del batch
        gc.collect()
        assert gone() is None
    finally:
        for ix in indexes:
            ix.close()


def test_files_on_disk_together_as_alone(tmp_path: Path) -> None:
    """The command's path: files read from disk (pread, the walk's read window kept for the
    rules), checked in chunks with the screens, report as each file checked alone."""
    from dcmstruct.commands.batch import Target, validate_targets
    from dcmstruct.validate.engine import validate_path

    datas = [p.read_bytes() for p in FILES] + list(_mutations(150, seed=10))
    paths = []
    for n, data in enumerate(datas):
        path = tmp_path / f"f{n:04}.dcm"
        path.write_bytes(data)
        paths.append(path)
    for k in range(0, len(paths), 64):
        part = paths[k : k + 64]
        together = validate_targets([Target(str(p)) for p in part])
        assert together == [validate_path(p) for p in part]
