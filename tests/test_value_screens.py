"""The value rules' screens are never laxer than their exact checks.

Each value rule clears most values with a screen over the joined values
(:mod:`dcmstruct.validate.strings`) and checks the rest one by one. Here every value is sent
through the exact checks instead, and the findings must be the same: on every fixture, every
rule fixture, every corpus file and on files of random values of every string VR under several
character sets.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import pytest

from dcmstruct import specdata
from dcmstruct.builder import E, part10
from dcmstruct.index import index_bytes
from dcmstruct.validate.engine import Selection, validate_index
from dcmstruct.validate.rules import values
from tests.corpus import corpus_files

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "fixtures").glob("*.dcm")) + sorted(
    (ROOT / "fixtures" / "rules").glob("*.dcm")
)
RULES = frozenset(
    {
        "VALUE_TOO_LONG",
        "VALUE_BAD_CHARACTERS",
        "VALUE_BAD_FORMAT",
        "VALUE_BAD_PADDING",
        "VM_MISMATCH",
    }
)


def _findings(
    data: bytes, *, screened: bool, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[object, ...]]:
    with monkeypatch.context() as m:
        if not screened:
            # Every value to the exact checks: each screen says "check them all".
            m.setattr(values.strings, "searched", lambda table, find: set(range(len(table))))
            m.setattr(values.strings, "unmatched", lambda table, p: set(range(len(table))))
            for name in ("_screen_bad_padding", "_screen_vm"):
                m.setattr(values, name, lambda table: set(range(len(table))))
        found, internal = validate_index(index_bytes(data), Selection(select=RULES))
    assert not internal
    return [(f.rule, f.offset, f.length, f.message) for f in found]


def _same(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _findings(data, screened=True, monkeypatch=monkeypatch)
    slow = _findings(data, screened=False, monkeypatch=monkeypatch)
    assert fast == slow


def test_the_exact_path_is_really_taken_when_screens_are_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A check on this test itself: with the screens off, a clean value is still judged clean,
    # and a bad one found; with a screen that clears everything, the bad one would be missed.
    data = part10([E("SOPClassUID", "UI", "1.2.3"), E("StudyDate", "DA", "20240230")])
    assert [r for r, *_ in _findings(data, screened=False, monkeypatch=monkeypatch)] == [
        "VALUE_BAD_FORMAT"
    ]
    monkeypatch.setattr(values.strings, "unmatched", lambda table, p: set())
    assert _findings(data, screened=True, monkeypatch=monkeypatch) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixtures(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _same(path.read_bytes(), monkeypatch)


def test_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [p for p in corpus_files() if p.stat().st_size <= 4 << 20]
    if not files:
        pytest.skip("no corpus installed")
    for path in files:
        _same(path.read_bytes(), monkeypatch)


# Bytes that make values interesting for every grammar: digits, separators of every kind,
# signs, exponents, letters of both cases, padding, controls and high bytes.
_ALPHABET = b"0123456789" * 4 + b".\\^=-+: eEDWMYAZaz_" + b"\x00\x1b\t\n\x7f\x80\xa0\xc3\xa9\xff"
_CHARSETS = ["", "ISO_IR 100", "ISO_IR 192", "GB18030", "ISO 2022 IR 6\\ISO 2022 IR 87", "ISO_IR 6"]


@cache
def _string_tags() -> list[tuple[int, str]]:
    """(tag, VR) of standard elements with a single string VR, a few per VR."""
    wanted = {v for v in specdata.VR_CODES if (i := specdata.vr_info(v)) and i.is_string}
    seen: dict[str, int] = {}
    out: list[tuple[int, str]] = []
    specdata.lookup(0x00100010)  # loads the dictionary
    for tag in specdata.known_tags():
        if not 0x00080000 < tag < 0x00400000:
            continue
        entry = specdata.lookup(tag)
        if entry is None or len(entry.vrs) != 1 or entry.vrs[0] not in wanted or entry.retired:
            continue
        vr = entry.vrs[0]
        if seen.get(vr, 0) < 4:
            seen[vr] = seen.get(vr, 0) + 1
            out.append((tag, vr))
        if len(out) >= 4 * len(wanted):
            break
    return out


# Values at the edges of the screens: valid ones they must clear or check, and ones just past.
_EDGES = [
    b"20240131", b"20240229", b"20230229", b"20241331", b"00000101", b"19991231 ", b"2024.01.31",
    b"235959.999999", b"240000", b"12:30:00", b"2359", b"23", b" 23",
    b"2147483647", b"-2147483648", b"2147483648", b"123456789", b" +12 ", b"1 2",
    b"1.5\\2.5", b"1e10", b".5", b"5.", b"-0.0e-0", b"1.2.3e", b"+.e1",
    b"1.2.840.10008", b"1.02.3", b"1..2", b"0.0", b"1.2.3 ",
    b"A^B^C^D^E", b"A^B^C^D^E^F", b"A=B=C", b"A=B=C=D", b"^^^^", b"ABC^DEF",
    b"018Y", b"18Y", b"999W", b"   ", b"", b"X" * 16, b"X" * 17, b"X" * 64, b"X" * 65,
    b"20240131120000", b"20240131120000.5+0100", b"2024", b"2024013",
    b"-.5", b"1-2", b"--1", b"-", b"1.5\\-2.5", b"1.5\\", b"\\1", b"+1", b"1.", b"0.5.",
    b"12.75\\-3\\0.001\\4", b"1.2\\3..4",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(150))
def test_random_values(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    tags = [t for t in _string_tags() if t[0] > 0x00080005]
    chosen = sorted(rng.sample(tags, k=min(len(tags), 40)))
    elements = []
    charset = rng.choice(_CHARSETS)
    if charset:
        elements.append(E("SpecificCharacterSet", "CS", charset))
    for tag, vr in chosen:
        size = rng.choice([0, 1, 2, 3, 5, 8, 9, 16, 17, 26, 64, 65, 70])
        raw = bytes(rng.choice(_ALPHABET) for _ in range(size))
        if rng.random() < 0.5:  # edge values too, so the screens' clear path is used
            raw = rng.choice(_EDGES)
        elements.append(E(tag, vr, raw))
    _same(part10(elements), monkeypatch)
