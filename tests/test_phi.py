"""``dcmstruct phi`` and the classification under it (:mod:`dcmstruct.privacy`).

A file is generated with a unique marker in each identifying place: names, IDs, an address,
comments, a private element, a sequence nested two levels down, an UN element, the preamble,
unparsed bytes; and the same data set deflated. Every marker must lie inside a listed range
(of the file, or of the inflated stream where the data set is deflated); the command's output
must never hold a marker; the exit codes are the contract's.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from dcmstruct import cli
from dcmstruct.builder import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Raw,
    Seq,
    part10,
)
from dcmstruct.index import index_bytes
from dcmstruct.model import Stream
from dcmstruct.privacy import OPTIONS, classify
from dcmstruct.schema.layout import RAW_DEFLATE_WBITS
from dcmstruct.specdata import deid_entries, deid_entry

CT = "1.2.840.10008.5.1.4.1.1.2"
INSTANCE = "1.2.826.0.1.3680043.10.1455.99.1"
MARKERS = {
    "name": "MRKNAMEAAA",
    "id": "MRKIDBBB",
    "address": "MRKADDRCCC",
    "comments": "MRKCOMMENTDDD",
    "private": "MRKPRIVEEE",
    "nested": "MRKNESTFFF",
    "un": "MRKUNGGG",
    "preamble": "MRKPREAMBLEHHH",
}


def _dataset(trailing: bytes = b"") -> list[E | Raw]:
    nested = Seq(
        [
            Item(
                [
                    E("0040,0008", "SQ", Seq([Item([E("0008,0104", "LO", MARKERS["nested"])])])),
                ]
            )
        ]
    )
    elements: list[E | Raw] = [
        E("0008,0016", "UI", CT),
        E("0008,0018", "UI", INSTANCE),
        E("0009,0010", "LO", "MRK CREATOR"),
        E("0009,1001", "LO", MARKERS["private"]),
        E("0010,0010", "PN", MARKERS["name"]),
        E("0010,0020", "LO", MARKERS["id"]),
        E("0010,1000", "UN", MARKERS["un"].encode()),
        E("0010,1040", "LO", MARKERS["address"]),
        E("0010,4000", "LT", MARKERS["comments"]),
        E("0040,0275", "SQ", nested),
    ]
    if trailing:
        elements.append(Raw(trailing))
    return elements


def _file() -> bytes:
    preamble = MARKERS["preamble"].encode().ljust(128, b"\0")
    # Unparsed bytes: an odd run after the last element, which no header can start.
    return part10(_dataset(b"\x01MRKTRAILJJJ"), preamble=preamble)


def _covered(ranges: list[tuple[int, int]], at: int, size: int) -> bool:
    return any(start <= at and at + size <= start + length for start, length in ranges)


def test_every_marker_is_in_a_listed_range() -> None:
    data = _file()
    with index_bytes(data) as index:
        marks = classify(index)
    ranges = [(m.offset, m.length) for m in marks if m.stream == Stream.FILE]
    for what, marker in [*MARKERS.items(), ("trailing", "MRKTRAILJJJ")]:
        at = data.find(marker.encode())
        assert at > 0 or what == "preamble", what
        assert _covered(ranges, at, len(marker)), f"{what} is in no listed range"


def test_a_deflated_data_set_is_listed_by_what_it_encodes() -> None:
    data = part10(_dataset(), transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    with index_bytes(data) as index:
        marks = classify(index)
        start = index.dataset_offset
    assert start is not None
    inflated = zlib.decompressobj(RAW_DEFLATE_WBITS).decompress(data[start:])
    inside = [(m.offset, m.length) for m in marks if m.stream == Stream.INFLATED]
    for what in ("name", "id", "un", "address", "comments", "private", "nested"):
        marker = MARKERS[what].encode()
        assert _covered(inside, inflated.find(marker), len(marker)), what
    # The compressed bytes themselves are listed too: they encode all of it.
    outside = [(m.offset, m.length) for m in marks if m.stream == Stream.FILE]
    assert _covered(outside, start, len(data) - start)


def test_options_change_the_action() -> None:
    with index_bytes(_file()) as index:
        plain = {m.tag: m.action for m in classify(index)}
        kept = {m.tag: m.action for m in classify(index, ["retain_uids"])}
    assert plain[0x00080018] == "U" and 0x00080018 not in kept  # K: kept, not listed
    assert plain[0x00100010] == kept[0x00100010] == "Z"
    with index_bytes(_file()) as index, pytest.raises(ValueError, match="unknown option"):
        classify(index, ["retain_everything"])


def test_the_table_is_the_standards() -> None:
    """Spot checks of specs/deid_profile.tsv against PS3.15 Table E.1-1 (2026c)."""
    assert {e.basic for e in deid_entries()} <= {
        "D", "Z", "X", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"
    }  # fmt: skip
    assert deid_entry(0x00100010).basic == "Z"  # type: ignore[union-attr]  # Patient's Name
    assert deid_entry(0x00081030).basic == "X"  # type: ignore[union-attr]  # Study Description
    assert deid_entry(0x0020000D).basic == "U"  # type: ignore[union-attr]  # Study Instance UID
    assert deid_entry(0x60043000).basic == "X"  # type: ignore[union-attr]  # Overlay Data
    assert deid_entry(0x60213000) is None  # 60xx is even groups 6000-601E only
    assert deid_entry(0x00280010) is None  # Rows: not identifying
    assert set(OPTIONS) == {
        "retain_safe_private", "retain_uids", "retain_device_identity",
        "retain_institution_identity", "retain_patient_characteristics",
        "retain_long_full_dates", "retain_long_modified_dates", "clean_descriptors",
        "clean_structured_content", "clean_graphics",
    }  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["json", "jsonl", "text"])
def test_the_command_never_prints_a_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / "markers.dcm"
    path.write_bytes(_file())
    code, out, err = _run(capsys, "phi", "--format", fmt, str(path))
    assert code == 1
    for marker in [*MARKERS.values(), "MRKTRAILJJJ", "MRK CREATOR"]:
        assert marker not in out and marker not in err


def test_the_json_document_and_exit_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    marked = tmp_path / "a.dcm"
    marked.write_bytes(_file())
    clean = tmp_path / "clean.dcm"
    explicit_le = E("0002,0010", "UI", "1.2.840.10008.1.2.1")
    clean.write_bytes(
        part10([E("0008,0016", "UI", CT), E("0028,0010", "US", 4)], meta=[explicit_le])
    )
    code, out, _ = _run(capsys, "phi", "--format", "json", str(marked), str(clean))
    doc = json.loads(out)
    assert code == 1
    assert [f["path"] for f in doc["files"]] == [str(marked), str(clean)]
    first = doc["files"][0]["phi"][0]
    assert set(first) >= {"offset", "length", "tag", "path", "action", "reason"}
    assert doc["files"][1]["phi"] == []
    assert doc["summary"]["files"] == 2 and doc["summary"]["ranges"] == len(doc["files"][0]["phi"])
    code, out, _ = _run(capsys, "phi", "--format", "json", str(clean))
    assert code == 0 and json.loads(out)["summary"]["ranges"] == 0
    code, _, err = _run(capsys, "phi", str(tmp_path / "missing.dcm"))
    assert code == 2 and "cannot read" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["phi", "--option", "retain_everything", str(clean)])
    assert exc.value.code == 2


def test_nested_paths_carry_item_indices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(_file())
    _, out, _ = _run(capsys, "phi", "--format", "jsonl", str(path))
    paths = [json.loads(line)["path"] for line in out.splitlines()]
    assert "0040,0275[0]/0040,0008[0]/0008,0104" in paths


def test_every_file_classifies_within_its_bounds() -> None:
    """Fixtures, rule fixtures (every fault), the corpus and mutated files: no exception, and
    every range inside its stream."""
    import random

    from tests.corpus import corpus_files

    root = Path(__file__).resolve().parent.parent
    paths = sorted((root / "fixtures").glob("*.dcm")) + sorted(
        (root / "fixtures" / "rules").glob("*.dcm")
    )
    datas = [p.read_bytes() for p in [*paths, *corpus_files()] if p.stat().st_size < 4 << 20]
    rng = random.Random(9)
    for _ in range(200):
        data = bytearray(rng.choice(datas[: len(paths)]) or b"\0")
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at : at + 1] = bytes([rng.randrange(256)])
        datas.append(bytes(data))
    for data in datas:
        with index_bytes(data) as index:
            for mark in classify(index):
                size = index.sources[mark.stream].size
                assert mark.offset >= 0 and mark.offset + mark.length <= size, mark


def test_validate_quotes_no_identifying_value_unless_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "long.dcm"
    path.write_bytes(
        part10(
            [
                E("0008,0016", "UI", CT),
                E("0008,0060", "CS", "ct"),  # not identifying: its value may be quoted
                E("0009,0010", "LO", "MRKCREATOR'QUOTE" * 5),  # private, too long
                E("0010,0010", "PN", "MRKNAME^O'" + "A" * 70),  # too long, holds a quote
            ]
        )
    )
    for fmt in ("text", "json", "jsonl", "sarif", "junit"):
        _, out, err = _run(capsys, "validate", "--format", fmt, str(path))
        assert "MRK" not in out + err, fmt
        assert "VALUE_TOO_LONG" in out and "'c'" in out, fmt
    _, out, _ = _run(capsys, "validate", "--format", "text", "--show-values", str(path))
    assert "MRKNAME^O'" in out and "MRKCREATOR" in out
    _, out, _ = _run(capsys, "validate", "--format", "text", "--mask", str(path))
    assert "MRK" not in out and "'c'" not in out and "value not shown" in out


def test_dump_mask_shows_no_marker(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "markers.dcm"
    path.write_bytes(_file())
    _, plain, _ = _run(capsys, "dump", str(path))
    assert MARKERS["name"] in plain  # without the mask, values are shown
    _, masked, _ = _run(capsys, "dump", "--mask", str(path))
    for marker in [*MARKERS.values(), "MRKTRAILJJJ", "MRK CREATOR"]:
        assert marker not in masked, marker
    assert "[<masked>]" in masked and "SOPInstanceUID" in masked


def test_validate_mask_shows_no_marker(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "markers.dcm"
    path.write_bytes(_file())
    for fmt in ("text", "json", "jsonl", "sarif", "junit"):
        code, out, err = _run(capsys, "validate", "--mask", "--format", fmt, str(path))
        assert code == 1  # the unparsed bytes: TRAILING_BYTES
        for marker in [*MARKERS.values(), "MRKTRAILJJJ", "MRK CREATOR"]:
            assert marker not in out + err, (fmt, marker)


def test_validate_quotes_nothing_inside_a_private_sequence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inner = Item([E("0008,0104", "LO", "MKINPRIV " + "X" * 70)])  # too long, not identifying
    path = tmp_path / "nested.dcm"
    path.write_bytes(
        part10(
            [
                E("0008,0016", "UI", CT),
                E("0009,0010", "LO", "ACME"),
                E("0009,1001", "SQ", Seq([inner])),
            ]
        )
    )
    _, out, _ = _run(capsys, "validate", "--format", "text", str(path))
    assert "VALUE_TOO_LONG" in out and "MKINPRIV" not in out
