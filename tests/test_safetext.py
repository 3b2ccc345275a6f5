"""Terminal injection (issue 7 item 2): strings from a file or a file name never reach a
terminal or a one-line format raw.

Hostile files are built with the project's builder: a transfer syntax UID that retitles the
terminal, VR bytes that reset it (ESC c) or open a C1 CSI, a (0002,0003) with escapes, private
creators and a character set term holding escapes, and file names with ESC, BEL, a newline and
an undecodable byte. The text report and the dump text of each must hold no control character
and one line per finding; the expected escaped spellings are written out by hand here.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcmstruct import cli
from dcmstruct.builder import E, Raw, file_meta, part10
from dcmstruct.dump import write_jsonl, write_text
from dcmstruct.index import index_bytes
from dcmstruct.safetext import clean, safe_bytes, terminal_safe
from dcmstruct.uids import EXPLICIT_VR_LITTLE_ENDIAN
from fixtures.rule_fixtures.base import CT_IMAGE_STORAGE, ct_dataset

# What no terminal output may hold, spelled independently of dcmstruct.safetext: C0 controls
# but the newline that ends a line (TAB too: no text format here writes one), DEL, C1, the
# Unicode line/paragraph separators, the bidi marks, embeddings, overrides and isolates, and
# lone surrogates (a UTF-8 stream cannot even carry them).
FORBIDDEN = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def assert_terminal_clean(text: str) -> None:
    """``text`` holds no character that a terminal would act on, nor a line break but LF."""
    bad = FORBIDDEN.search(text)
    assert bad is None, (
        f"{bad.group()!r} at {bad.start()} in {text[max(0, bad.start() - 60) :][:120]!r}"
    )


# -- the function -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("1.2.840\x1b]0;HACKED\x07", "1.2.840\\x1b]0;HACKED\\x07"),
        ("\x1bc", "\\x1bc"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x9b2J", "\\x9b2J"),  # C1 CSI: an escape sequence on 8-bit terminals
        ("\x7f\x00", "\\x7f\\x00"),
        ("abc\u202edcba", "abc\\u202edcba"),  # Trojan Source
        ("line\u2028sep", "line\\u2028sep"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        (os.fsdecode(b"raw\xff.dcm"), "raw\\xff.dcm"),  # surrogateescape: the byte itself
        ("caf\xe9 \u4e2d \U0001f600 \\ ok", "caf\xe9 \u4e2d \U0001f600 \\ ok"),  # kept as is
    ],
)
def test_terminal_safe_shows_escapes(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


def test_safe_bytes_and_clean() -> None:
    assert safe_bytes(b"\x1bc") == "\\x1bc"
    assert safe_bytes(b"1.2\x9b\xe9") == "1.2\\x9b\xe9"  # latin-1: every byte one character
    # clean is for formats that escape controls themselves: it leaves them, fixes surrogates
    assert clean("a\x1b\n" + os.fsdecode(b"\xfe")) == "a\x1b\n\\xfe"


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(text=st.text(st.characters(codec=None, categories=None), max_size=40))
def test_terminal_safe_output_is_always_clean(text: str) -> None:
    shown = terminal_safe(text)
    assert_terminal_clean(shown)
    shown.encode("utf-8")
    assert terminal_safe(shown) == shown  # nothing left to escape


# -- hostile files through the commands ----------------------------------------------------

HACK_TS = "1.2.840\x1b]0;HACKED\x07"
HACK_UID = "1.2.3\x1b[2J\x9b1m"
HACK_CREATOR = "EVIL\x1b]0;X\x07"


def _hostile_files() -> dict[str, tuple[bytes, list[str], list[str]]]:
    """File name -> (bytes, what the text report must show, what the dump must show). The
    dump's value previews show non-printable characters as dots (dcmstruct.values)."""
    charset = ct_dataset()
    charset[0] = E("SpecificCharacterSet", "CS", "X\x1b[1m")
    return {
        "ts\x1b]0;T\x07.dcm": (
            part10(ct_dataset(), transfer_syntax=HACK_TS),
            ["1.2.840\\x1b]0;HACKED\\x07"],
            ["transfer syntax 1.2.840\\x1b]0;HACKED\\x07 (unknown)"],
        ),
        "vr\nsplit.dcm": (
            part10(ct_dataset(E("0009,0010", "\x1bc", b"AB"), E("0009,0011", "\x9b2", b"CD"))),
            [
                "\\x1bc' are not a VR code",
                "has VR \\x1bc, expected LO",
                "has VR \\x9b2, expected LO",
            ],
            [") \\x1bc ", ") \\x9b2 "],
        ),
        os.fsdecode(b"uid\xff\x1b[0m.dcm"): (
            part10(
                ct_dataset(),
                meta=file_meta(CT_IMAGE_STORAGE, HACK_UID, EXPLICIT_VR_LITTLE_ENDIAN),
            ),
            ["1.2.3\\x1b[2J\\x9b1m"],
            ["[1.2.3.[2J.1m]"],
        ),
        "creator\u202e.dcm": (
            part10(
                ct_dataset(E("0009,0010", "LO", HACK_CREATOR), E("0009,0011", "LO", HACK_CREATOR))
            ),
            ["'EVIL\\x1b]0;X\\x07' is already reserved"],
            ["[EVIL.]0;X.]"],
        ),
        "charset.dcm": (part10(charset), ["'X.[1m' is not a Defined Term"], ["[X.[1m]"]),
        # an invalid VR of undefined length: the index's message quotes the VR bytes; the
        # output edge must escape them whoever built the message
        "undefined.dcm": (
            part10(ct_dataset(Raw(b"\x08\x00\x70\x00\x1bc\x00\x00\xff\xff\xff\xff"))),
            ["(0008,0070) \\x1bc has undefined length"],
            ["(0008,0070) \\x1bc undefined", "!! UNDEFINED_LENGTH_NOT_ALLOWED: (0008,0070) \\x1bc"],
        ),
    }


# The escaped spelling of each name above, written by hand.
ESCAPED_NAMES = {
    "ts\x1b]0;T\x07.dcm": "ts\\x1b]0;T\\x07.dcm",
    "vr\nsplit.dcm": "vr\\nsplit.dcm",
    os.fsdecode(b"uid\xff\x1b[0m.dcm"): "uid\\xff\\x1b[0m.dcm",
    "creator\u202e.dcm": "creator\\u202e.dcm",
    "charset.dcm": "charset.dcm",
    "undefined.dcm": "undefined.dcm",
}


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, (data, _, _) in _hostile_files().items():
        (folder / name).write_bytes(data)
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_text_of_hostile_files_is_clean_with_one_line_per_finding(
    hostile_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --show-values: the values these files hold in identifying attributes (UIDs, names) are
    # quoted, so that their escaping is what is checked (by default they are not shown).
    _, doc, _ = _run(capsys, "validate", "--no-config", "-j", "1", "--format", "json",
                     "--show-values", str(hostile_dir))  # fmt: skip
    counts = {Path(f["path"]).name: len(f["findings"]) for f in json.loads(doc)["files"]}
    code, text, err = _run(capsys, "validate", "--no-config", "-j", "1", "--format", "text",
                           "--show-values", str(hostile_dir))  # fmt: skip
    assert code == 1, err
    assert_terminal_clean(text)
    assert_terminal_clean(err)
    lines = text.split("\n")
    assert lines[-3:] == ["", lines[-2], ""] and lines[-2].startswith("6 files: ")
    body = lines[:-3]
    finding_line = re.compile(r"^(.*):(?:inflated\+)?0x[0-9a-f]+: (?:error|warning|info) [A-Z_]+: ")
    by_file: dict[str, int] = {}
    for line in body:
        m = finding_line.match(line)
        if m is None:  # the file's summary line
            assert re.match(r"^.*: (\d+ errors?, \d+ warnings?, \d+ info|no findings)$", line)
            continue
        prefix = str(hostile_dir) + "/"
        assert m.group(1).startswith(prefix), line
        by_file[m.group(1)[len(prefix) :]] = by_file.get(m.group(1)[len(prefix) :], 0) + 1
    # every finding is one line, under its file's escaped name
    json_names = {clean(name): name for name in ESCAPED_NAMES}
    assert {ESCAPED_NAMES[json_names[k]]: v for k, v in counts.items() if v} == by_file
    for _data, expected, _ in _hostile_files().values():
        for shown in expected:
            assert shown in text, shown
    assert "TRANSFER_SYNTAX_UNKNOWN" in text and "META_UID_MISMATCH" in text
    assert "PRIVATE_CREATOR_INVALID" in text and "INVALID_VR" in text


def test_validate_text_of_an_unreadable_hostile_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "gone\x1b]0;X\x07\n.dcm"
    code, text, _ = _run(capsys, "validate", "--no-config", "-j", "1", "--format", "text",
                         str(missing))  # fmt: skip
    assert code == 2
    assert_terminal_clean(text)
    assert f"{tmp_path}/gone\\x1b]0;X\\x07\\n.dcm: cannot read: " in text


def test_dump_text_of_hostile_files_is_clean(
    hostile_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (_data, _, expected) in _hostile_files().items():
        code, text, err = _run(capsys, "dump", str(hostile_dir / name))
        assert code == 0, err
        assert_terminal_clean(text)
        lines = text.split("\n")
        assert lines[0].startswith(f"# {hostile_dir}/{ESCAPED_NAMES[name]}: ")
        for shown in expected:
            assert shown in text, (name, shown)
    _, text, _ = _run(capsys, "dump", str(hostile_dir / "ts\x1b]0;T\x07.dcm"))
    assert (
        ", transfer syntax 1.2.840\\x1b]0;HACKED\\x07 (unknown)\n" in text.split("\n", 1)[0] + "\n"
    )
    _, text, _ = _run(capsys, "dump", str(hostile_dir / "vr\nsplit.dcm"))
    assert re.search(r"\(0009,0010\) \\x1bc +2  PrivateCreator", text), text


def test_dump_jsonl_escapes_hostile_vr_as_json() -> None:
    """The contract's JSON Lines keep the VR's bytes; the JSON encoder escapes them."""
    data, _, _ = _hostile_files()["vr\nsplit.dcm"]
    out = io.StringIO()
    with index_bytes(data) as index:
        write_jsonl(index, out)
    text = out.getvalue()
    assert_terminal_clean(text)
    records = [json.loads(line) for line in text.splitlines()]
    vrs = [r["vr"] for r in records if r["kind"] != "fault"]
    assert "\x1bc" in vrs and "\x9b2" in vrs
    assert '"vr": "\\u001bc"' in text


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "junit"])
def test_other_formats_of_hostile_files_stay_valid(
    hostile_dir: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = _run(capsys, "validate", "--no-config", "-j", "1", "--format", fmt,
                          str(hostile_dir))  # fmt: skip
    assert code == 1, err
    assert "\x1b" not in out and "\x07" not in out
    if fmt == "junit":
        ET.fromstring(out)
    elif fmt == "jsonl":
        records = [json.loads(line) for line in out.splitlines()]
        assert any("\x1b" in r["message"] or "\\x1b" in r["message"] for r in records)
    else:
        json.loads(out)


def test_dump_text_in_process_of_a_hostile_meta_uid() -> None:
    data, _, _ = _hostile_files()[os.fsdecode(b"uid\xff\x1b[0m.dcm")]
    out = io.StringIO()
    with index_bytes(data) as index:
        write_text(index, out)
    assert_terminal_clean(out.getvalue())
    # The preview (dcmstruct.values.short_value) shows non-printable characters as dots.
    assert "[1.2.3.[2J.1m]" in out.getvalue()
