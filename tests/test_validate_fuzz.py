"""The whole validate pipeline on broken input: mutated fixtures and random bytes.

Index + every registered rule + every report writer must never raise, never record an
internal error, and stay fast on each file; the text report and the dump text never hold a
control character, and the text report one line per finding, whatever the bytes, the meta
group's UIDs or the file's name. Hypothesis runs derandomized (the same cases on
every run, so CI is reproducible); a seeded mutation corpus also goes through the real command
(files on disk, mmap, worker processes). The whole module runs in well under a minute.
"""

from __future__ import annotations

import io
import json
import os
import random
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmstruct import cli, uids
from dcmstruct.builder import E, Raw, Writer, part10
from dcmstruct.dump import write_text
from dcmstruct.index import index_bytes
from dcmstruct.report import FORMATS, ReportOptions, Summary, make_writer, rule_runs
from dcmstruct.schema.element import EXPLICIT_LE
from dcmstruct.specdata import VR_CODES
from dcmstruct.validate.engine import FileReport, validate_index
from dcmstruct.validate.registry import load_all
from fixtures.rule_fixtures.base import CT_IMAGE_STORAGE, ct_dataset
from tests.test_safetext import assert_terminal_clean

ROOT = Path(__file__).resolve().parent.parent
RULES = load_all()
RUNS = rule_runs(RULES)
SECONDS_PER_FILE = 5.0  # generous for a slow CI machine; a file takes milliseconds


def _nested(depth: int) -> Raw:
    """``depth`` undefined-length sequences, each in an item of the one before (the builder
    recurses, so these are written by hand: PS3.5 7.5.2, explicit VR little endian)."""
    sequence = b"\x08\x00\x99\x11SQ\x00\x00\xff\xff\xff\xff"  # (0008,1199) SQ, undefined
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    item_end = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    sequence_end = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return Raw((sequence + item) * depth + (item_end + sequence_end) * depth)


def _seeds() -> list[bytes]:
    files = sorted((ROOT / "fixtures").glob("*.dcm")) + sorted(
        (ROOT / "fixtures" / "rules").glob("*.dcm")
    )
    seeds = [p.read_bytes() for p in files]
    seeds.append(part10(ct_dataset()))
    seeds.append(part10(ct_dataset(_nested(140))))  # deeper than the default limit of 128
    return [s for s in seeds if len(s) <= 1 << 16]


SEEDS = _seeds()
LENGTHS = [0, 1, 2, 3, 0xFFFF, 0xFFFE, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF]
TAGS = [b"\xfe\xff\x00\xe0", b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0", b"\xe0\x7f\x10\x00",
        b"\x02\x00\x10\x00", b"\x02\x00\x00\x00", b"\x08\x00\x05\x00"]  # fmt: skip
VRS = [v.encode() for v in VR_CODES] + [b"\0\0", b"  ", b"ZZ", b"\xff\xff"]


def mutate(data: bytes, rnd: random.Random, rounds: int) -> bytes:
    """Structure-minded damage: lengths, tags, VRs, cuts, splices, flips."""
    buf = bytearray(data)
    for _ in range(rounds):
        if not buf:
            buf += rnd.randbytes(rnd.randint(1, 64))
            continue
        pos = rnd.randrange(len(buf))
        op = rnd.randrange(9)
        if op == 0:
            buf[pos] ^= 1 << rnd.randrange(8)
        elif op == 1:
            value = rnd.choice([*LENGTHS, len(buf), rnd.getrandbits(32)])
            buf[pos : pos + 4] = value.to_bytes(4, rnd.choice(["little", "big"]))
        elif op == 2:
            buf[pos : pos + 2] = rnd.choice([*LENGTHS, rnd.getrandbits(16)]).to_bytes(4, "little")[
                :2
            ]
        elif op == 3:
            buf[pos : pos + 4] = rnd.choice(TAGS)
        elif op == 4:
            buf[pos : pos + 2] = rnd.choice(VRS)
        elif op == 5:
            del buf[pos:]
        elif op == 6:
            del buf[pos : pos + rnd.randint(1, 16)]
        elif op == 7:
            start = rnd.randrange(len(buf))
            buf[pos:pos] = buf[start : start + rnd.randint(1, 256)]
        else:
            buf[pos:pos] = rnd.randbytes(rnd.randint(1, 32))
    return bytes(buf)


def pipeline(data: bytes, name: str = "fuzz.dcm") -> FileReport:
    """Index, every rule, every writer; checks what all of them must hold on any input."""
    start = time.monotonic()
    with index_bytes(data) as index:
        findings, internal = validate_index(index)
        dump = io.StringIO()
        write_text(index, dump)
        assert_terminal_clean(dump.getvalue())
    report = FileReport(name, findings, internal=internal)
    assert not internal, "\n".join(internal)
    for f in findings:
        assert f.rule in RULES
        assert f.offset >= 0 and f.length >= 0
    for fmt in FORMATS:
        out = io.StringIO()
        writer = make_writer(fmt, out, ReportOptions())
        writer.start(RUNS)
        writer.file(report)
        summary = Summary()
        summary.add(report)
        writer.finish(summary)
        text = out.getvalue()
        if fmt in ("json", "sarif"):
            json.loads(text)
        elif fmt == "jsonl":
            assert len([json.loads(line) for line in text.splitlines()]) == len(findings)
        elif fmt == "junit":
            ET.fromstring(text)
        else:
            assert_terminal_clean(text)
            # a line per finding, the file's summary, a blank line, the totals
            assert text.count("\n") == len(findings) + 3
    elapsed = time.monotonic() - start
    assert elapsed < SECONDS_PER_FILE, f"{elapsed:.1f} s for {len(data)} bytes"
    return report


FUZZ = settings(
    max_examples=150,
    deadline=None,  # timed inside, with a bound that suits a slow CI machine
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(FUZZ, max_examples=400)
@given(seed=st.sampled_from(SEEDS), salt=st.integers(0, 2**32 - 1), rounds=st.integers(1, 8))
def test_mutated_fixtures(seed: bytes, salt: int, rounds: int) -> None:
    pipeline(mutate(seed, random.Random(salt), rounds))


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    pipeline(data)


@FUZZ
@given(data=st.binary(max_size=2048), preamble=st.booleans())
def test_random_bytes_after_a_prefix(data: bytes, preamble: bool) -> None:
    pipeline((bytes(128) if preamble else b"") + b"DICM" + data)


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_every_seed_cut_at_every_tenth_byte(seed: int) -> None:
    data = SEEDS[seed]
    for end in range(0, len(data), max(1, len(data) // 10)):
        pipeline(data[:end])


def test_seeded_corpus_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files on disk through `dcmstruct validate` with two workers, in every format."""
    rnd = random.Random(20240229)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(60):
        seed = rnd.choice(SEEDS)
        (corpus / f"m{i:03}").write_bytes(mutate(seed, rnd, rnd.randint(1, 6)))
    (corpus / "empty").write_bytes(b"")
    (corpus / "random").write_bytes(rnd.randbytes(4096))
    (tmp_path / "dcmstruct.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    for fmt in FORMATS:
        start = time.monotonic()
        code = cli.main(["validate", str(corpus), "-j", "2", "--format", fmt])
        out, err = capsys.readouterr()
        assert code in (0, 1), err
        assert "internal error" not in err
        assert time.monotonic() - start < 62 * SECONDS_PER_FILE
        if fmt == "json":
            assert len(json.loads(out)["files"]) == 62
        elif fmt == "sarif":
            json.loads(out)
        elif fmt == "junit":
            assert len(ET.fromstring(out).findall("testsuite")) == 62


# -- hostile strings: the meta group's UIDs and file names (issue 7, terminal injection) -----

# Characters a terminal acts on, and characters that are fine: a UID or a name drawn from them.
HOSTILE_CHARS = "\x1b\x07\x00\n\r\t\x08\x7f\x85\x9b\x9d]0;[2Jc.19 \xe9\xff"
UIDS = st.one_of(
    st.sampled_from([v for k, v in sorted(vars(uids).items()) if k.isupper()]),
    st.text(st.sampled_from(HOSTILE_CHARS), max_size=70),
    st.binary(max_size=70).map(lambda b: b.decode("latin-1")),
)


def _meta(sop_class: str, sop_instance: str, ts: str, implementation: str) -> list[E | Raw]:
    body: list[E | Raw] = [
        E(0x00020001, "OB", b"\x00\x01"),
        E(0x00020002, "UI", sop_class),
        E(0x00020003, "UI", sop_instance),
        E(0x00020010, "UI", ts),
        E(0x00020012, "UI", implementation),
    ]
    return [E(0x00020000, "UL", len(Writer(EXPLICIT_LE).dataset(body))), *body]


@FUZZ
@given(
    sop_class=st.one_of(st.just(CT_IMAGE_STORAGE), UIDS),
    sop_instance=UIDS,
    ts=UIDS,
    implementation=UIDS,
)
def test_hostile_meta_uids(sop_class: str, sop_instance: str, ts: str, implementation: str) -> None:
    meta = _meta(sop_class, sop_instance, ts, implementation)
    pipeline(part10(ct_dataset(), transfer_syntax=ts, meta=meta))


NAMES = st.one_of(
    st.text(st.characters(codec=None, categories=None), min_size=1, max_size=40),
    st.text(st.sampled_from(HOSTILE_CHARS + "\u202e\u2028\u200b/"), min_size=1, max_size=40),
    st.binary(min_size=1, max_size=40).map(os.fsdecode),  # a POSIX name: any byte
)
NAMED_FILE = part10(ct_dataset(E("0008,0064", "CS", "wsd")))  # lower case: a finding


@settings(FUZZ, max_examples=100)
@given(name=NAMES)
def test_hostile_file_names(name: str) -> None:
    report = pipeline(NAMED_FILE, name)
    assert report.findings


def test_hostile_file_names_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real files with hostile names (any byte but NUL and '/') through `validate` (two
    workers) and `dump`."""
    rnd = random.Random(20250101)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    alphabet = [b for b in range(1, 256) if b != 0x2F]
    names: set[bytes] = set()
    while len(names) < 8:
        names.add(bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 24))) + b"\x1b")
    for raw in names:
        path = os.path.join(os.fsencode(corpus), raw)
        with open(path, "wb") as f:
            f.write(mutate(NAMED_FILE, rnd, rnd.randint(0, 3)))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "--no-config", "corpus", "-j", "2", "--format", "json"]) in (0, 1)
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["files"]) == len(names)
    findings = sum(len(f["findings"]) for f in doc["files"])
    assert cli.main(["validate", "--no-config", "corpus", "-j", "2", "--format", "text"]) in (0, 1)
    out, err = capsys.readouterr()
    assert_terminal_clean(out)
    assert_terminal_clean(err)
    # a line per finding, a summary per file, a blank line, the totals
    assert out.count("\n") == findings + len(names) + 2
    for raw in names:
        assert cli.main(["dump", os.fsdecode(os.path.join(b"corpus", raw))]) == 0
        out, err = capsys.readouterr()
        assert_terminal_clean(out + err)


def _defined_nesting(depth: int) -> bytes:
    """``depth`` levels of defined-length sequences and items, innermost first."""
    inner = b""
    for _ in range(depth):
        item = b"\xfe\xff\x00\xe0" + len(inner).to_bytes(4, "little") + inner
        inner = b"\x08\x00\x40\x11SQ\x00\x00" + len(item).to_bytes(4, "little") + item
    return inner


HOSTILE_SHAPES = {
    # past the depth limit with defined lengths (once an IndexError in the index)
    "defined-nesting-300": lambda: _defined_nesting(300),
    # one fault repeated 100,000 times: findings are capped, not piled up
    "repeated-private": lambda: b"\x19\x00\x01\x10LO\x02\x00AB" * 100_000,
    "stray-delimiters": lambda: b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" * 100_000,
    # a long zero tail: classified from its first MiB, never copied whole
    "zero-tail": lambda: bytes(32 << 20),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_SHAPES))
def test_hostile_shapes_stay_bounded(name: str) -> None:
    import resource

    data = part10(ct_dataset(Raw(HOSTILE_SHAPES[name]())))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    findings, internal = validate_index(index_bytes(data))
    elapsed = time.monotonic() - start
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert not internal
    assert findings
    per_rule: dict[str, int] = {}
    for f in findings:
        per_rule[f.rule] = per_rule.get(f.rule, 0) + 1
    assert max(per_rule.values()) <= 1001, per_rule
    assert elapsed < 30, f"{name}: {elapsed:.1f} s"
    # peak growth over what the process already had: bounded, whatever the findings' count
    assert grown_mib < 400, f"{name}: {grown_mib:.0f} MiB"
