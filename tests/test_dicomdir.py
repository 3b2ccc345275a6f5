"""The DICOMDIR record tree (dcmstruct.dicomdir) on DICOMDIRs built here: the offsets to
expect are where the builder measured each record's item (checked against the bytes: an item
tag at each), and pydicom's reading of its own test DICOMDIRs where it is installed."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from dcmstruct.builder import DirectoryRecord, E, dicomdir
from dcmstruct.dicomdir import (
    MASKED,
    Directory,
    Locator,
    Note,
    Record,
    file_id,
    is_directory,
    locate,
    read_directory,
    record_keys,
    record_type,
)
from dcmstruct.index import ElementIndex, index_bytes, index_file
from dcmstruct.privacy import masked_nodes
from dcmstruct.sample import sample_path

ITEM_TAG = struct.pack("<HH", 0xFFFE, 0xE000)
# (0004,1400) is each record's first element: its value follows the item header (8 bytes)
# and its own explicit short header (8 bytes).
NEXT_VALUE = 16
# (0004,1420) is third, after (0004,1400) UL (12 bytes) and (0004,1410) US (10 bytes).
LOWER_VALUE = 8 + 12 + 10 + 8


def records() -> list[DirectoryRecord]:
    return [
        DirectoryRecord(
            "p1",
            "PATIENT",
            [E("PatientName", "PN", "DOE^JANE"), E("PatientID", "LO", "ID-0001")],
            next="p2",
            lower="st",
        ),
        DirectoryRecord(
            "st",
            "STUDY",
            [
                E("StudyDate", "DA", "20240101"),
                E("StudyInstanceUID", "UI", "1.2.826.0.1.3680043.10.1455.7"),
            ],
            lower="se",
        ),
        DirectoryRecord("se", "SERIES", [E("Modality", "CS", "CT")], lower="i1"),
        DirectoryRecord(
            "i1",
            "IMAGE",
            [E("ReferencedFileID", "CS", ["DIR1", "IM1"]), E("InstanceNumber", "IS", 1)],
            next="i2",
        ),
        DirectoryRecord(
            "i2",
            "IMAGE",
            [E("ReferencedFileID", "CS", ["DIR1", "IM2"]), E("InstanceNumber", "IS", 2)],
        ),
        DirectoryRecord("p2", "PATIENT", [E("PatientID", "LO", "ID-0002")]),
    ]


def shape(entries: list[Record | Note], index: ElementIndex) -> list[object]:
    """(type, offset, children) per record, ("note", offset) per note."""
    out: list[object] = []
    for e in entries:
        if isinstance(e, Note):
            out.append(("note", e.offset))
        else:
            out.append((record_type(index, e.node), e.offset, shape(e.children, index)))
    return out


def build(bend: object = None) -> tuple[ElementIndex, dict[str, int], Directory]:
    data, starts = dicomdir(records(), "p1", bend=bend)  # type: ignore[arg-type]
    for start in starts.values():
        assert data[start : start + 4] == ITEM_TAG
    index = index_bytes(data)
    found = read_directory(index)
    assert found is not None
    return index, starts, found


def test_the_tree_follows_the_offsets() -> None:
    index, s, d = build()
    assert is_directory(index)
    assert shape(d.entries, index) == [
        (
            "PATIENT",
            s["p1"],
            [
                (
                    "STUDY",
                    s["st"],
                    [("SERIES", s["se"], [("IMAGE", s["i1"], []), ("IMAGE", s["i2"], [])])],
                )
            ],
        ),
        ("PATIENT", s["p2"], []),
    ]
    assert d.unreached == [] and d.notes == []
    image = d.entries[0]
    assert isinstance(image, Record)
    first_image = image.children[0].children[0].children[0]  # type: ignore[union-attr]
    found = file_id(index, first_image.node)
    assert found is not None and found[1] == ["DIR1", "IM1"]
    keys = record_keys(index, first_image.node, lambda node: False)
    assert keys == [("InstanceNumber", "1")]


def test_identifying_keys_are_masked() -> None:
    index, _, d = build()
    hidden = masked_nodes(index)
    patient = d.entries[0]
    assert isinstance(patient, Record)
    shown = record_keys(index, patient.node, lambda n: bool(hidden[n]))
    assert shown == [("PatientID", MASKED), ("PatientName", MASKED)]
    assert record_keys(index, patient.node, lambda n: False) == [
        ("PatientID", "ID-0001"),
        ("PatientName", "DOE^JANE"),
    ]


def test_a_loop_ends_with_a_note() -> None:
    def bend(offsets: dict[str, int], starts: dict[str, int]) -> None:
        offsets["p2.next"] = starts["p1"]  # the root chain comes back to its start
        offsets["i2.next"] = starts["i2"]  # a record that is its own next

    index, s, d = build(bend)
    top = shape(d.entries, index)
    assert top[1] == ("PATIENT", s["p2"], [])
    assert top[2] == ("note", s["p2"] + NEXT_VALUE)
    series = top[0][2][0][2][0]  # type: ignore[index]
    assert series[2] == [
        ("IMAGE", s["i1"], []),
        ("IMAGE", s["i2"], []),
        ("note", s["i2"] + NEXT_VALUE),
    ]
    note = d.entries[2]
    assert isinstance(note, Note) and f"is {s['p1']:#x}" in note.text and "loop" in note.text


def test_dangling_offsets_become_notes() -> None:
    def bend(offsets: dict[str, int], starts: dict[str, int]) -> None:
        offsets["p1.next"] = starts["p2"] + 2  # into the second patient's item
        offsets["se.lower"] = 0x100000  # past the end of the file

    index, s, d = build(bend)
    assert shape(d.entries, index) == [
        (
            "PATIENT",
            s["p1"],
            [("STUDY", s["st"], [("SERIES", s["se"], [("note", s["se"] + LOWER_VALUE)])])],
        ),
        ("note", s["p1"] + NEXT_VALUE),
    ]
    past, into = d.entries[0].children[0].children[0].children[0], d.entries[1]  # type: ignore[union-attr]
    assert isinstance(past, Note) and "past the end of the file" in past.text
    assert isinstance(into, Note) and f"2 bytes into the record at {s['p2']:#x}" in into.text
    # What no offset reaches any more is listed apart, in file order.
    assert [r.offset for r in d.unreached] == [s["i1"], s["i2"], s["p2"]]


def test_no_root_and_not_a_directory() -> None:
    def bend(offsets: dict[str, int], starts: dict[str, int]) -> None:
        offsets["root.first"] = 0
        offsets["root.last"] = 0

    _, s, d = build(bend)
    assert d.entries == [] and [r.offset for r in d.unreached] == sorted(s.values())
    with index_file(sample_path()) as sample:
        assert not is_directory(sample) and read_directory(sample) is None


def test_locate_finds_files_in_any_case_and_never_leaves_the_directory(tmp_path: Path) -> None:
    (tmp_path / "dir1").mkdir()
    (tmp_path / "dir1" / "im1").write_bytes(b"x")
    assert locate(tmp_path, ["DIR1", "IM1"]) == tmp_path / "dir1" / "im1"
    assert locate(tmp_path, ["DIR1", "IM2"]) is None
    assert locate(tmp_path, ["DIR1"]) is None  # a directory is no file
    (tmp_path / "secret").write_bytes(b"x")
    assert locate(tmp_path / "dir1", ["..", "SECRET"]) is None
    assert locate(tmp_path, ["/etc/passwd"]) is None and locate(tmp_path, []) is None


def test_a_locator_lists_each_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of records whose names changed case costs one listing per directory, not a
    scan of the directory per record."""
    (tmp_path / "img").mkdir()
    for k in range(50):
        (tmp_path / "img" / f"f{k}").write_bytes(b"x")
    (tmp_path / "img" / "twice").write_bytes(b"x")
    (tmp_path / "img" / "TWICE").write_bytes(b"x")
    listed: list[Any] = []
    scandir = os.scandir

    def counted(path: Any) -> Any:
        listed.append(path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    find = Locator(tmp_path)
    found = [find(["IMG", f"F{k}"]) for k in range(50)]
    assert found == [tmp_path / "img" / f"f{k}" for k in range(50)]
    assert find(["IMG", "F50"]) is None and find(["IMG", "Twice"]) is None  # none; two
    assert find(["img", "twice"]) == tmp_path / "img" / "twice"  # as written: no listing
    assert sorted(map(str, listed)) == [str(tmp_path), str(tmp_path / "img")]


PYDICOM_DIRS = ["DICOMDIR", "DICOMDIR-reordered", "DICOMDIR-bigEnd", "DICOMDIR-implicit"]


@pytest.mark.filterwarnings("ignore:The DICOMDIR dataset uses an invalid transfer syntax")
@pytest.mark.parametrize("name", PYDICOM_DIRS)
def test_the_tree_is_pydicoms(name: str) -> None:
    """pydicom's own test DICOMDIRs: the same records (offset, type, file ID), nested the
    same way, as pydicom's FileSet reads them."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.fileset import FileSet

    path = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / name
    if not path.exists():
        pytest.skip(f"{path} is not installed")

    def theirs(node: object) -> list[object]:
        out = []
        for child in node.children:  # type: ignore[attr-defined]
            r = child._record
            fid = r.get("ReferencedFileID")
            parts = None if fid is None else ([fid] if isinstance(fid, str) else list(fid))
            out.append((r.seq_item_tell, r.DirectoryRecordType, parts, theirs(child)))
        return out

    def ours(entries: list[Record | Note], index: ElementIndex) -> list[object]:
        out = []
        for e in entries:
            assert isinstance(e, Record), e
            fid = file_id(index, e.node)
            parts = None if fid is None else fid[1]
            out.append((e.offset, record_type(index, e.node), parts, ours(e.children, index)))
        return out

    expected = theirs(FileSet(pydicom.dcmread(path))._tree)
    assert len(expected) >= 2  # patients
    with index_file(path) as index:
        d = read_directory(index)
        assert d is not None and not d.unreached
        assert ours(d.entries, index) == expected
        # The files it references are there, beside it.
        image = d.entries[0]
        while isinstance(image, Record) and image.children:
            image = image.children[0]
        assert isinstance(image, Record)
        fid = file_id(index, image.node)
        assert fid is not None and locate(path.parent, fid[1]) == path.parent.joinpath(*fid[1])


def test_the_viewers_mask_hides_referenced_file_ids() -> None:
    """File IDs are file names, often made from the patient's name: the viewer's mask hides
    them (PS3.15 does not list (0004,1500), so phi and redact leave them)."""
    from dcmstruct.model import Stream
    from dcmstruct.tui.structure import Structure

    index, _, _ = build()
    data = index.sources[Stream.FILE].read(0, index.sources[Stream.FILE].size)
    at = data.find(b"DIR1\\IM1")
    assert at > 0
    structure = Structure(index)
    assert not structure.hides(Stream.FILE, at, at + 8)
    structure.set_masking(True)
    assert all(structure.hidden_bytes(Stream.FILE, at, at + 8))
    assert not masked_nodes(index)[structure.innermost(Stream.FILE, at)]
