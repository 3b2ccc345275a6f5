"""``dcmstruct diff A B`` on pairs with known edits, built here from readable code.

Each pair differs by one edit of a known kind at a known place; the test states the expected
differences by hand (change, path, tag) and checks the offsets against the bytes themselves
(the offset of a side is where its tag is in that file).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from dcmstruct import cli
from dcmstruct.builder import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    E,
    Item,
    Seq,
    part10,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def _dataset(
    *,
    description: str = "HEAD",
    thickness: str = "1.25",
    series: list[str] | None = None,
    extra: list[E] | None = None,
    referenced: str = "1.2.3.4.5.7",
    undefined: bool = False,
    drop_rows: bool = False,
) -> list[E]:
    refs = Seq(
        [
            Item([E("0008,1150", "UI", CT), E("0008,1155", "UI", uid)], undefined=undefined)
            for uid in (series or ["1.2.3.4.5.6", referenced])
        ],
        undefined=undefined,
    )
    elements = [
        E("0008,0016", "UI", CT),
        E("0008,0018", "UI", "1.2.3.4"),
        E("0008,0060", "CS", "CT"),
        E("0008,1030", "LO", description),
        E("0008,1140", "SQ", refs),
        E("0010,0010", "PN", "DOE^JOHN"),
        E("0018,0050", "DS", thickness),
        E("0020,0013", "IS", "7"),
        E("0028,0010", "US", 2),
        E("0028,0011", "US", 2),
        E("7FE0,0010", "OW", b"\x01\x00\x02\x00\x03\x00\x04\x00"),
    ]
    if drop_rows:
        elements = [e for e in elements if e.tag != "0028,0010"]
    for e in extra or []:
        elements.append(e)
    elements.sort(key=lambda e: e.tag_int)
    return elements


def _pair(tmp_path: Path, a: bytes, b: bytes) -> tuple[Path, Path]:
    pa, pb = tmp_path / "a.dcm", tmp_path / "b.dcm"
    pa.write_bytes(a)
    pb.write_bytes(b)
    return pa, pb


def _diff(pa: Path, pb: Path, *flags: str) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["diff", str(pa), str(pb), "--format", "jsonl", *flags])
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def _changes(found: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [(d["change"], d["path"], d["tag"]) for d in found]


def _at_tag(data: bytes, side: object, tag: str, little: bool = True) -> None:
    """The side's offset is where ``tag`` is written in ``data``."""
    assert isinstance(side, dict)
    group, element = (int(x, 16) for x in tag.split(","))
    order = "little" if little else "big"
    head = group.to_bytes(2, order) + element.to_bytes(2, order)
    assert data[side["offset"] : side["offset"] + 4] == head


def test_identical_files_differ_in_nothing(tmp_path: Path) -> None:
    data = part10(_dataset())
    code, found = _diff(*_pair(tmp_path, data, data))
    assert (code, found) == (0, [])


def test_a_changed_value(tmp_path: Path) -> None:
    a, b = part10(_dataset()), part10(_dataset(description="CHEST"))
    code, found = _diff(*_pair(tmp_path, a, b))
    assert code == 1
    assert _changes(found) == [("value", "0008,1030", "0008,1030")]
    _at_tag(a, found[0]["a"], "0008,1030")
    _at_tag(b, found[0]["b"], "0008,1030")
    assert found[0]["a"] == {"offset": found[0]["a"]["offset"], "length": 4, "vr": "LO"}  # type: ignore[index]
    assert found[0]["b"]["length"] == 6  # type: ignore[index]


def test_an_added_and_a_removed_element(tmp_path: Path) -> None:
    a = part10(_dataset())
    b = part10(_dataset(drop_rows=True, extra=[E("0020,0011", "IS", "3")]))
    code, found = _diff(*_pair(tmp_path, a, b))
    assert code == 1
    assert _changes(found) == [
        ("removed", "0028,0010", "0028,0010"),
        ("added", "0020,0011", "0020,0011"),
    ]
    assert found[0]["b"] is None and found[1]["a"] is None
    _at_tag(a, found[0]["a"], "0028,0010")
    _at_tag(b, found[1]["b"], "0020,0011")


def test_a_changed_value_inside_an_item(tmp_path: Path) -> None:
    a = part10(_dataset())
    b = part10(_dataset(referenced="1.2.3.4.5.9"))
    code, found = _diff(*_pair(tmp_path, a, b))
    assert code == 1
    assert _changes(found) == [("value", "0008,1140[1]/0008,1155", "0008,1155")]


def test_an_added_item_is_one_difference(tmp_path: Path) -> None:
    a = part10(_dataset())
    b = part10(_dataset(series=["1.2.3.4.5.6", "1.2.3.4.5.7", "1.2.3.4.5.8"]))
    code, found = _diff(*_pair(tmp_path, a, b))
    assert code == 1
    # The sequence's length field grew: that is how its new item is written, not a value.
    assert _changes(found) == [("added", "0008,1140[2]", "FFFE,E000")]
    _at_tag(b, found[0]["b"], "FFFE,E000")


@pytest.mark.parametrize(
    "syntax",
    [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN],
    ids=["implicit", "big-endian", "deflated"],
)
def test_the_same_data_set_re_encoded_differs_in_encoding_only(tmp_path: Path, syntax: str) -> None:
    a = part10(_dataset())
    b = part10(_dataset(undefined=True), transfer_syntax=syntax)
    code, found = _diff(*_pair(tmp_path, a, b))
    assert code == 0, found
    assert found and {d["change"] for d in found} == {"encoding"}
    paths = {d["path"]: d["detail"] for d in found}
    assert "0002,0010" in paths  # the transfer syntax
    # The meta group's length changes with the UID's (the big endian one has the same length).
    assert ("0002,0000" in paths) == (len(syntax) != len("1.2.840.10008.1.2.1"))
    assert "length form" in paths["0008,1140"] and "length form" in paths["0008,1140[0]"]
    if syntax == EXPLICIT_VR_BIG_ENDIAN:
        assert "byte order" in paths["0028,0010"] and "byte order" in paths["7FE0,0010"]
    if syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        assert "explicit / implicit VR" in paths["0008,1030"]
    if syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        assert all(
            d["b"]["stream"] == "inflated"  # type: ignore[index]
            for d in found
            if d["b"] is not None and not str(d["path"]).startswith("0002")
        )


def test_padding_is_encoding_and_a_number_is_its_value(tmp_path: Path) -> None:
    """' 1.25' and '1.25 ' are one DS value; 2 written big endian is still 2."""
    a = part10(_dataset(extra=[E("0018,0088", "DS", "1.25")]))
    b = part10(_dataset(extra=[E("0018,0088", "DS", " 1.25 ")]))
    code, found = _diff(*_pair(tmp_path, a, b))
    assert code == 0
    assert _changes(found) == [("encoding", "0018,0088", "0018,0088")]
    b = part10(_dataset(extra=[E("0018,0088", "DS", "1.250")]))
    assert _changes(_diff(*_pair(tmp_path, a, b))[1]) == [("value", "0018,0088", "0018,0088")]


def test_ignore_tags_keywords_and_private(tmp_path: Path) -> None:
    a = part10(_dataset(extra=[E("0009,0010", "LO", "ACME"), E("0009,1001", "LO", "X")]))
    b = part10(
        _dataset(
            description="CHEST", extra=[E("0009,0010", "LO", "ACME"), E("0009,1001", "LO", "Y")]
        )
    )
    pa, pb = _pair(tmp_path, a, b)
    assert len(_diff(pa, pb)[1]) == 2
    code, found = _diff(pa, pb, "--ignore", "StudyDescription", "--ignore-private")
    assert (code, found) == (0, [])
    assert _diff(pa, pb, "--ignore", "0008,1030,(0009,1001)")[0] == 0
    assert _diff(pa, pb, "--ignore", "NoSuchKeyword")[0] == 2


def test_formats_and_exit_codes(tmp_path: Path) -> None:
    pa, pb = _pair(tmp_path, part10(_dataset()), part10(_dataset(thickness="2.5")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["diff", str(pa), str(pb), "--format", "json"]) == 1
    doc = json.loads(out.getvalue())
    assert doc["summary"] == {"added": 0, "removed": 0, "value": 1, "encoding": 0}
    assert [d["path"] for d in doc["differences"]] == ["0018,0050"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["diff", str(pa), str(pb), "--format", "text"])
    assert "'1.25' -> '2.5'" in out.getvalue()
    # An identifying value is not shown in text unless asked.
    pc = tmp_path / "c.dcm"
    pc.write_bytes(part10(_dataset(description="CHEST")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["diff", str(pa), str(pc), "--format", "text"])
    assert "HEAD" not in out.getvalue() and "values not shown" in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["diff", str(pa), str(pc), "--format", "text", "--show-values"])
    assert "'HEAD' -> 'CHEST'" in out.getvalue()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert cli.main(["diff", str(pa), str(tmp_path / "missing.dcm")]) == 2
    assert "missing.dcm" in err.getvalue()


@pytest.mark.parametrize("other", ["MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_pydicoms_re_encoded_files_differ_in_encoding_only(other: str) -> None:
    """pydicom's test set holds one MR image written three ways (by other tools than ours)."""
    data = pytest.importorskip("pydicom.data")
    a, b = Path(data.get_testdata_file("MR_small.dcm")), Path(data.get_testdata_file(other))
    code, found = _diff(a, b)
    assert code == 0
    assert found and {d["change"] for d in found} == {"encoding"}
    # Every element of A's data set is matched in B: 75 of them, plus the meta group's.
    assert sum(1 for d in found if d["a"] is not None and d["b"] is not None) >= 70
