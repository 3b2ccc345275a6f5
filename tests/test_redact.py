"""``dcmstruct redact``: every identifying range overwritten, every byte of structure kept.

Over every fixture, rule fixture and corpus file: the output has the same size (unless the data
set is deflated), the same nodes (offsets, lengths, tags, VRs, nesting) and the same structural
findings as the input, value rules aside (a replaced value is judged as what it now is, and a
zeroed preamble is no longer non-zero); pydicom reads it wherever it read the input. On the
generated marker file no marker survives anywhere in the output, inflated where deflated.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from dcmstruct import cli
from dcmstruct.builder import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, E, part10
from dcmstruct.commands.redact import _odd_ending, run
from dcmstruct.index import index_file
from dcmstruct.model import Stream
from dcmstruct.redaction import filler, same_length_uid
from dcmstruct.schema.layout import RAW_DEFLATE_WBITS
from dcmstruct.validate.engine import validate_path
from dcmstruct.validate.registry import REGISTRY, load_all
from tests.corpus import corpus_files
from tests.test_phi import CT, MARKERS, _dataset, _file

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "fixtures").glob("*.dcm")) + sorted(
    (ROOT / "fixtures" / "rules").glob("*.dcm")
)
load_all()
# Findings about what a value holds, not about structure: a replaced value is judged anew.
VALUE_RULES = frozenset(
    {r.name for r in REGISTRY.values() if r.module.endswith(".values")} | {"PREAMBLE_NONZERO"}
)
COLUMNS = ("kind", "offset", "end", "tag", "vr", "length", "value_offset", "parent", "stream")


def _redact(src: Path, out: Path, *options: str) -> int:
    with contextlib.redirect_stderr(io.StringIO()):
        return int(
            run(argparse.Namespace(input=src, output=out, option=list(options), report=None))
        )


def _refused(path: Path) -> bool:
    """Files redact refuses: a deflated data set that does not inflate whole cannot be written
    again, and bytes the index did not record (node or depth limit) may hold anything."""
    refused = {"DEFLATE_STREAM_INVALID", "NODE_LIMIT_EXCEEDED", "NESTING_TOO_DEEP"}
    with index_file(path) as index:
        return any(f.code in refused and not _only_pad_missing(f, index.size) for f in index.faults)


def _only_pad_missing(fault: object, size: int) -> bool:
    """The one DEFLATE_STREAM_INVALID that redact keeps: the stream is whole and ends the
    file, and the finding is the empty range where its pad byte belongs."""
    return (
        getattr(fault, "code", None) == "DEFLATE_STREAM_INVALID"
        and getattr(fault, "offset", None) == size
        and getattr(fault, "length", None) == 0
    )


def _structure(path: Path) -> set[tuple[str, int]]:
    return {(f.rule, f.offset) for f in validate_path(path).findings if f.rule not in VALUE_RULES}


def _assert_same_structure(src: Path, out: Path) -> None:
    with index_file(src) as a, index_file(out) as b:
        if a.deflated:
            # Its stream was deflated again: offsets after it move, the inflated ones do not.
            for name in COLUMNS:
                old = getattr(a.columns, name)[a.columns.stream == Stream.INFLATED]
                new = getattr(b.columns, name)[b.columns.stream == Stream.INFLATED]
                assert np.array_equal(old, new), name
            assert {r for r, _ in _structure(src)} == {r for r, _ in _structure(out)}
            return
        assert a.size == b.size
        for name in COLUMNS:
            assert np.array_equal(getattr(a.columns, name), getattr(b.columns, name)), name
    assert _structure(src) == _structure(out)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixtures_keep_their_structure(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    code = _redact(path, out)
    if _refused(path):
        assert code == 2 and not out.exists()  # refused, said why
        return
    assert code == 0
    _assert_same_structure(path, out)


def test_corpus_keeps_its_structure_and_reads_in_pydicom(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    files = corpus_files()
    if not files:
        pytest.skip("no corpus")
    out = tmp_path / "out.dcm"
    for path in files:
        if path.stat().st_size > 4 << 20:
            continue
        if _redact(path, out) != 0:
            assert _refused(path), path
            continue
        _assert_same_structure(path, out)
        try:
            pydicom.dcmread(path, force=True)
        except Exception:
            continue  # pydicom does not read the input: nothing to compare
        pydicom.dcmread(out, force=True)


def test_no_marker_survives(tmp_path: Path) -> None:
    src, out = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(_file())
    assert _redact(src, out) == 0
    data = out.read_bytes()
    for marker in [*MARKERS.values(), "MRKTRAILJJJ", "MRK CREATOR"]:
        assert marker.encode() not in data, marker
    _assert_same_structure(src, out)


def test_a_deflated_data_set_is_redacted_inside(tmp_path: Path) -> None:
    src, out = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(part10(_dataset(), transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN))
    assert _redact(src, out) == 0
    with index_file(src) as a, index_file(out) as b:
        start = a.dataset_offset
        assert start is not None and b.deflated
        # The same nodes before the data set and in the inflated stream (after the stream, a
        # pad byte moves with the stream's new length).
        keep_a = (a.columns.stream == 1) | (a.columns.offset < start)
        keep_b = (b.columns.stream == 1) | (b.columns.offset < start)
        for name in COLUMNS:
            old, new = getattr(a.columns, name)[keep_a], getattr(b.columns, name)[keep_b]
            assert np.array_equal(old, new), name
    inflated = zlib.decompressobj(RAW_DEFLATE_WBITS).decompress(out.read_bytes()[start:])
    for what in ("name", "id", "un", "address", "comments", "private", "nested"):
        assert MARKERS[what].encode() not in inflated, what
    assert _structure(src) == _structure(out)


def test_a_missing_pad_stays_missing(tmp_path: Path) -> None:
    """An odd-length deflate stream without its pad byte (PS3.5 A.5): OUT's stream, deflated
    again, is of odd length too and ends the file, so the receiver sees the same fault."""
    src = ROOT / "fixtures" / "rules" / "DEFLATE_STREAM_INVALID--odd-without-pad.dcm"
    out = tmp_path / "out.dcm"
    assert _redact(src, out) == 0
    data = out.read_bytes()
    with index_file(src) as index:
        start = index.dataset_offset
    assert start is not None
    unpack = zlib.decompressobj(RAW_DEFLATE_WBITS)
    unpack.decompress(data[start:])
    assert unpack.eof and unpack.unused_data == b""  # the stream ends the file
    assert (len(data) - start) % 2 == 1
    found = [(f.rule, f.offset, f.length) for f in validate_path(out).findings]
    assert ("DEFLATE_STREAM_INVALID", len(data), 0) in found


def test_a_stream_can_end_at_either_parity() -> None:
    """_odd_ending's premise: among the endings, one gives an odd stream, whatever came
    before (and every ending inflates to the same bytes)."""
    rng = np.random.default_rng(7)
    for n in range(1500):
        body = rng.bytes(int(rng.integers(0, 64))) + b"A" * int(rng.integers(0, 3000))
        packer = zlib.compressobj(6, zlib.DEFLATED, RAW_DEFLATE_WBITS)
        head = packer.compress(body)
        tail = _odd_ending(packer, len(head))
        assert (len(head) + len(tail)) % 2 == 1, n
        assert zlib.decompressobj(RAW_DEFLATE_WBITS).decompress(head + tail) == body


def test_uids_are_replaced_consistently(tmp_path: Path) -> None:
    uid = "1.2.826.0.1.3680043.10.1455.7.7.7"
    for name in ("a", "b"):
        (tmp_path / f"{name}.dcm").write_bytes(
            part10(
                [
                    E("0008,0016", "UI", CT),
                    E("0008,0018", "UI", uid),
                    E("0020,000D", "UI", uid + ".1"),
                ]
            )
        )
        assert _redact(tmp_path / f"{name}.dcm", tmp_path / f"{name}.out") == 0
    a, b = (tmp_path / "a.out").read_bytes(), (tmp_path / "b.out").read_bytes()
    assert a == b and uid.encode() not in a
    new = same_length_uid(uid.encode() + b"\0")
    assert len(new) == len(uid) + 1 and new.endswith(b"\0") and new.startswith(b"2.25.")
    assert new != same_length_uid((uid + ".1").encode())


def test_fillers_are_valid_for_their_vr() -> None:
    assert filler("DA", 8, dummy=True) == b"19000101"
    assert filler("TM", 4, dummy=True) == b"0000"
    assert filler("PN", 10, dummy=True) == b"REDACTED  "
    assert filler("LO", 6, dummy=False) == b"      "
    assert filler("AE", 4, dummy=False) == b"REDA"  # all spaces is no AE at all
    assert filler("US", 4, dummy=True) == bytes(4)
    assert filler("DA", 6, dummy=True) == b"      "  # no room for a date: empty


def test_the_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "in.dcm"
    src.write_bytes(_file())
    report = tmp_path / "report.json"
    assert (
        cli.main(["redact", str(src), "-o", str(tmp_path / "out.dcm"), "--report", str(report)])
        == 0
    )
    doc = json.loads(report.read_text())
    assert doc["summary"]["ranges"] == len(doc["files"][0]["phi"]) > 0
    assert all(marker not in report.read_text() for marker in MARKERS.values())
    capsys.readouterr()
    assert cli.main(["redact", str(src), "-o", str(src)]) == 2  # never over its input
    assert "never writes over its input" in capsys.readouterr().err
    assert src.read_bytes() == _file()
    assert cli.main(["redact", str(tmp_path / "missing.dcm"), "-o", str(tmp_path / "x")]) == 2


def test_no_removed_value_survives_in_the_corpus(tmp_path: Path) -> None:
    """Every string value the profile removes, empties or replaces (6 bytes or more) is
    searched in the redacted file: where it is found again, it is the value of an attribute
    that is kept, unchanged at that place (e.g. MONOCHROME2 of the image itself, when an
    icon's is removed), or a replacement that happens to read the same (a time 000000);
    never the original bytes left in a range that was listed."""
    from dcmstruct import specdata
    from dcmstruct.model import vr_text
    from dcmstruct.privacy import classify
    from dcmstruct.values import decoding_vr

    out = tmp_path / "out.dcm"
    paths = [*FILES, *corpus_files()]
    checked = 0
    for path in paths:
        if path.stat().st_size > 4 << 20 or _redact(path, out) != 0:
            continue
        before, after = path.read_bytes(), out.read_bytes()
        with index_file(path) as index:
            if index.deflated:
                continue  # its bytes are written again: test_a_deflated_data_set_is_redacted_inside
            c = index.columns
            marks = [m for m in classify(index) if m.stream == Stream.FILE]
            listed = [(m.offset, m.offset + m.length) for m in marks if m.node >= 0]
            for m in marks:
                if m.node < 0 or m.action == "C":
                    continue
                vr = decoding_vr(int(c.tag[m.node]), vr_text(int(c.vr[m.node])) or "")
                info = specdata.vr_info(vr)
                if info is None or not info.is_string or vr == "UI":
                    continue
                value = (index.value_bytes(m.node, 4096) or b"").strip(b" \0")
                if len(value) < 6:
                    continue
                checked += 1
                at = after.find(value)
                while at >= 0:
                    end = at + len(value)
                    inside = any(a < end and at < b for a, b in listed)
                    if inside:  # a listed place: found only if what replaced it looks alike
                        assert before[at:end] != after[at:end], (path.name, hex(at))
                    else:  # a kept attribute's own value, as it was
                        assert before[at:end] == value, (path.name, hex(at))
                    at = after.find(value, at + 1)
    assert checked > 1000


def test_an_icons_encapsulated_pixels_go_with_its_sequence(tmp_path: Path) -> None:
    """Icon Image Sequence is removed (X): its fragments are overwritten, its items kept."""
    from dcmstruct.builder import JPEG_BASELINE, Frags, Item, Seq

    icon = Item(
        [
            E("Rows", "US", 2),
            E("Columns", "US", 2),
            E("PixelData", "OB", Frags([b"ICONPIXELSECRET!"])),
        ]
    )
    src, out = tmp_path / "icon.dcm", tmp_path / "out.dcm"
    src.write_bytes(part10([E("0008,0016", "UI", CT), E("IconImageSequence", "SQ", Seq([icon]))],
                           transfer_syntax=JPEG_BASELINE))  # fmt: skip
    assert _redact(src, out) == 0
    assert b"ICONPIXELSECRET" not in out.read_bytes()
    _assert_same_structure(src, out)


def _leak_cases() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """Places a review found a marker survived redact in, each with the options it needs."""
    from dcmstruct.builder import IMPLICIT_VR_LITTLE_ENDIAN, Item, Raw, Seq, file_meta

    base = [E("0008,0016", "UI", CT), E("0008,0018", "UI", "1.2.3.4")]
    meta = file_meta(
        CT, "1.2.3.4", "1.2.840.10008.1.2.1", extra=[E("0002,0102", "OB", b"MKMETAPRIV")]
    )
    return {
        "odd group 0003": (part10([*base, E("0003,0010", "LO", "MKODDGROUP")]), ()),
        "garbage in a private item": (
            part10([*base, E("0009,0010", "LO", "ACME"),
                    E("0009,1001", "SQ", Seq([Item([Raw(b"\x01\x02MKGARBAGE1")])]))]),
            (),
        ),
        "a removed SQ whose value is no items": (
            part10([*base, E("0040,0275", "UN", b"MKNOTITEMS")]),
            (),
        ),
        "a private number in a private sequence": (
            part10([*base, E("0009,0010", "LO", "ACME"),
                    E("0009,1001", "SQ", Seq([Item([E("0009,1002", "FD", b"MKPRIVFD")])]))]),
            (),
        ),
        "clean descriptors": (
            part10([*base, E("0008,1030", "LO", "MKSTUDYDESC")]),
            ("clean_descriptors",),
        ),
        "clean structured content": (
            part10([*base, E("0040,A730", "SQ",
                              Seq([Item([E("0040,A160", "UT", "MKREPORTTEXT")])]))]),
            ("clean_structured_content",),
        ),
        "meta private information": (part10(base, meta=meta), ()),
        # A length past the end of the file: the index reads no items, yet the bytes that are
        # there may be any attribute; under a tag that names no one.
        "a cut UN holding an implicit sequence": (
            part10([*base, Raw(struct.pack("<HH2sHI", 0x0028, 0x9110, b"UN", 0, 300)
                               + struct.pack("<HHI", 0xFFFE, 0xE000, 200)
                               + struct.pack("<HHI", 0x0010, 0x0010, 10) + b"MKCUTUNSEQ")]),
            (),
        ),
        "a cut UN whose tag is no sequence": (
            part10([*base, Raw(struct.pack("<HH2sHI", 0x0028, 0x0030, b"UN", 0, 300)
                               + struct.pack("<HHI", 0xFFFE, 0xE000, 200)
                               + struct.pack("<HHI", 0x0010, 0x0010, 10) + b"MKCUTUNDS")]),
            (),
        ),
        "a cut implicit sequence": (
            part10([*base, Raw(struct.pack("<HHI", 0x0028, 0x9110, 300)
                               + struct.pack("<HHI", 0xFFFE, 0xE000, 200)
                               + struct.pack("<HHI", 0x0010, 0x0010, 10) + b"MKCUTIMPL")],
                   transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN),
            (),
        ),
    }  # fmt: skip


@pytest.mark.parametrize("case", list(_leak_cases()))
def test_found_leaks_stay_closed(case: str, tmp_path: Path) -> None:
    from dcmstruct.privacy import classify, masked_nodes, masked_ranges

    data, options = _leak_cases()[case]
    import re

    found = re.search(rb"MK[A-Z0-9]+", data)
    assert found is not None
    marker = found.group()
    at = data.find(marker)
    src, out = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(data)
    with index_file(src) as index:
        marks = [m for m in classify(index, options) if m.stream == Stream.FILE]
    assert any(m.offset <= at and at + len(marker) <= m.offset + m.length for m in marks)
    if not options:  # the mask hides it too
        with index_file(src) as index:
            hidden = masked_ranges(index, masked_nodes(index))[Stream.FILE]
        assert all(offset in hidden for offset in range(at, at + len(marker)))
    assert _redact(src, out, *options) == 0
    assert marker[:8] not in out.read_bytes()
    _assert_same_structure(src, out)


def test_the_report_is_phi_json_and_not_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.dcm"
    src.write_bytes(_file())
    out = tmp_path / "out.dcm"
    assert cli.main(["redact", str(src), "-o", str(out), "--report", str(out)]) == 2
    report = tmp_path / "r.json"
    assert cli.main(["redact", str(src), "-o", str(out), "--report", str(report)]) == 0
    ranges = json.loads(report.read_text())["files"][0]["phi"]
    assert {"offset", "length", "tag", "path", "action", "reason"} <= set(ranges[0])
    assert "0040,0275[0]/0040,0008[0]/0008,0104" in {r["path"] for r in ranges}


def test_unparsed_bytes_are_blanked_without_forming_an_element(tmp_path: Path) -> None:
    """Zeros would read as a (0000,0000) element in Implicit VR; FFH reads as none. A header cut
    short by the end of the file (a tag, a VR: no value) stays as it is, and so does its fault."""
    from dcmstruct.builder import IMPLICIT_VR_LITTLE_ENDIAN, Raw

    base = [E("0008,0016", "UI", CT), E("0008,0018", "UI", "1.2.3.4")]
    trailing = part10([*base, Raw(b"\x01MKTRAILING")], transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN)
    cut = part10([*base, E("0010,0010", "PN", "DOE^JANE")])[:-14]  # ends inside PN's header
    for name, data in (("trailing", trailing), ("cut", cut)):
        src, out = tmp_path / f"{name}.dcm", tmp_path / f"{name}.out"
        src.write_bytes(data)
        assert _redact(src, out) == 0
        assert b"MKTRAILING" not in out.read_bytes()
        _assert_same_structure(src, out)


def test_a_file_deeper_than_the_limit_is_redacted_with_a_higher_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal names --max-depth: redact (and phi) take it, as dump and validate do."""
    src = ROOT / "fixtures" / "rules" / "NESTING_TOO_DEEP.dcm"
    out = tmp_path / "out.dcm"
    assert cli.main(["redact", str(src), "-o", str(out)]) == 2
    assert "--max-depth" in capsys.readouterr().err and not out.exists()
    assert cli.main(["redact", str(src), "-o", str(out), "--max-depth", "200"]) == 0
    assert out.stat().st_size == src.stat().st_size
    capsys.readouterr()
    assert cli.main(["phi", str(src), "--format", "json", "--max-depth", "200"]) in (0, 1)
    ranges = json.loads(capsys.readouterr().out)["files"][0]["phi"]
    assert not any("depth limit" in r["reason"] for r in ranges)
