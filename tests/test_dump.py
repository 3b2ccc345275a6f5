"""`dcmstruct dump`: the JSON Lines contract, the text format, exit codes."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dcmstruct.cli import main
from dcmstruct.dump import write_jsonl, write_text
from dcmstruct.index import index_bytes, index_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
CONTRACT_FIELDS = [
    "kind",
    "offset",
    "end",
    "tag",
    "vr",
    "length",
    "value_offset",
    "depth",
    "keyword",
]
KINDS = {
    "preamble", "prefix", "element", "item", "item_delimiter", "sequence_delimiter",
    "fragment", "trailing",
}  # fmt: skip
TAG = re.compile(r"^[0-9A-F]{4},[0-9A-F]{4}$")


def jsonl(path: Path) -> list[dict[str, object]]:
    out = io.StringIO()
    with index_file(path) as index:
        write_jsonl(index, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_contract_example_line_is_what_we_write() -> None:
    # The contract's example, verbatim: the group length of every standard meta group.
    example = (
        '{"kind": "element", "offset": 132, "end": 144, "tag": "0002,0000", "vr": "UL", '
        '"length": 4, "value_offset": 140, "depth": 0, "keyword": "FileMetaInformationGroupLength"}'
    )
    out = io.StringIO()
    with index_file(FIXTURES / "explicit_le.dcm") as index:
        write_jsonl(index, out)
    assert out.getvalue().splitlines()[2] == example


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.dcm")), ids=lambda p: p.name)
def test_every_record_follows_the_contract(path: Path) -> None:
    records = jsonl(path)
    assert records
    offsets = []
    for rec in records:
        keys = list(rec)
        assert keys[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
        assert keys[len(CONTRACT_FIELDS) :] in ([], ["stream"])
        assert rec["kind"] in KINDS
        assert isinstance(rec["offset"], int) and isinstance(rec["end"], int)
        assert rec["offset"] <= rec["end"]
        if rec["kind"] in ("preamble", "prefix", "trailing"):
            assert rec["tag"] is None
        else:
            assert isinstance(rec["tag"], str) and TAG.match(rec["tag"])
        assert rec["length"] is None or isinstance(rec["length"], int)
        if rec.get("stream") is not None:
            assert rec["stream"] == "inflated"
        offsets.append((rec.get("stream", "file"), rec["offset"]))
    # file order within each stream
    for stream in {s for s, _ in offsets}:
        seq = [o for s, o in offsets if s == stream]
        assert seq == sorted(seq)


def test_undefined_length_is_null_and_ends_after_the_delimiter() -> None:
    records = jsonl(FIXTURES / "explicit_le.dcm")
    seq = next(r for r in records if r["tag"] == "0008,2112")
    assert seq["length"] is None
    delimiters = [r for r in records if r["kind"] == "sequence_delimiter"]
    assert seq["end"] in {d["end"] for d in delimiters}


def test_deflated_nodes_say_inflated() -> None:
    records = jsonl(FIXTURES / "deflated.dcm")
    meta = [r for r in records if r["tag"] and str(r["tag"]).startswith("0002,")]
    data = [r for r in records if r["tag"] and not str(r["tag"]).startswith("0002,")]
    assert all("stream" not in r for r in meta)
    assert data and all(r["stream"] == "inflated" for r in data)
    assert data[0]["offset"] == 0


@pytest.mark.parametrize("name", ["explicit_le", "deflated", "encapsulated_jpeg"])
def test_text_dump_matches_reviewed_golden(name: str) -> None:
    out = io.StringIO()
    with index_file(FIXTURES / f"{name}.dcm") as index:
        write_text(index, out)
    text = re.sub(r"^# .*/fixtures/", "# fixtures/", out.getvalue(), count=1)
    assert text == (GOLDEN / f"{name}.dump.txt").read_text()


def test_faults_are_printed_in_place() -> None:
    data = (FIXTURES / "explicit_le.dcm").read_bytes() + b"\x00"
    out = io.StringIO()
    write_text(index_bytes(data), out)
    last = out.getvalue().splitlines()[-2:]
    assert last[0] == f"{len(data) - 1:08x}  [trailing] 1 byte"
    assert "!! TRAILING_BYTES" in last[1]


def test_dump_survives_mutated_files() -> None:
    rng = random.Random(1455)
    sources = [p.read_bytes() for p in sorted(FIXTURES.glob("*.dcm"))]
    for _ in range(400):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            data[pos : pos + 4] = rng.choice(
                [
                    b"\xff\xff\xff\xff",
                    b"\xfe\xff\x00\xe0",
                    b"\xfe\xff\xdd\xe0",
                    bytes([rng.randrange(256)]),
                ]
            )
        index = index_bytes(bytes(data))
        write_text(index, io.StringIO())
        write_jsonl(index, io.StringIO())


def test_cli_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dump", str(tmp_path / "nope.dcm")]) == 2
    assert "nope.dcm" in capsys.readouterr().err


def test_cli_dumps_the_bundled_sample_without_a_file() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dcmstruct", "dump", "--format", "jsonl"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert records[0]["kind"] == "preamble"
    assert any(r["tag"] == "7FE0,0010" for r in records)
    assert "bundled sample" in proc.stderr


def test_cli_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "dcmstruct", "dump", str(empty)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0
    assert "FILE_TOO_SHORT" in proc.stdout


def _reference_jsonl(index: object) -> str:
    from dcmstruct.dump import jsonl_records

    dumps = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    return "".join(dumps(rec) + "\n" for rec in jsonl_records(index))  # type: ignore[arg-type]


def test_fast_jsonl_writer_equals_json_of_the_records() -> None:
    rng = random.Random(7)
    sources = [p.read_bytes() for p in sorted(FIXTURES.glob("*.dcm"))]
    cases = list(sources)
    for _ in range(200):  # broken files too: invalid VR bytes must be escaped the same way
        data = bytearray(rng.choice(sources))
        for _ in range(4):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        cases.append(bytes(data))
    for data in cases:
        index = index_bytes(data)
        out = io.StringIO()
        write_jsonl(index, out)
        assert out.getvalue() == _reference_jsonl(index)


def test_jsonl_carries_faults_in_offset_order_among_the_nodes() -> None:
    # The contract: faults are lines of their own, in offset order among their stream's nodes.
    path = ROOT / "fixtures" / "rules" / "SEQUENCE_LENGTH_MISMATCH.dcm"
    out = io.StringIO()
    with index_file(path) as index:
        write_jsonl(index, out)
        expected = sorted((f.offset, str(f.code)) for f in index.faults)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    faults = [r for r in records if r["kind"] == "fault"]
    assert [(r["offset"], r["rule"]) for r in faults] == expected and faults
    assert set(faults[0]) == {"kind", "rule", "offset", "length", "tag", "message"}
    # Each fault comes after every node of its stream that starts at or before it, and before
    # the first that starts after it.
    for k, rec in enumerate(records):
        if rec["kind"] != "fault":
            continue
        before = [r["offset"] for r in records[:k] if r["kind"] != "fault"]
        after = [r["offset"] for r in records[k + 1 :] if r["kind"] != "fault"]
        assert all(o <= rec["offset"] for o in before) and all(o > rec["offset"] for o in after)
