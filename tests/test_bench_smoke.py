"""Smoke tests of ``bench/bench_index.py`` and ``bench/bench_hostile.py`` on tiny files.

Each runs its script's ``main`` with tiny sizes and checks that it generated its files and
printed a table with a row per file (or case) and numeric figures; the hostile generators are
checked against the index: they write what they say they write. Nothing here asserts how fast
anything is: timings are the benchmarks' output, never a test's verdict.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import zlib
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from dcmstruct.index import index_file
from dcmstruct.model import Kind, Stream

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"
FILES = (
    "baseline_tiny.dcm",
    "many_small.dcm",
    "many_small_implicit.dcm",
    "multiframe_500mb.dcm",
    "encapsulated_500mb.dcm",
)
# "seconds / MiB", both numeric.
FIGURE = re.compile(r"^\d+\.\d{3} / \d+$")


def _load_bench(name: str = "bench_index") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def _table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The markdown table's header and its rows, keyed by file name."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(lines) >= 2, f"no markdown table in the output:\n{text}"
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    assert set(cells[1]) == {"---"}
    return header, {row[0]: row for row in rows}


def test_bench_runs_on_tiny_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pydicom")
    bench = _load_bench()
    report = tmp_path / "bench.json"
    argv = ["--quick", "--runs", "1", "--elements", "1500", "--image-mib", "1"]
    argv += ["--workdir", str(tmp_path), "--json", str(report)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out

    header, rows = _table(out)
    assert header[:4] == ["file", "size MiB", "elements", "nodes"]
    tools = header[4:]
    assert "dcmstruct index s / MiB" in tools and "pydicom read+walk s / MiB" in tools
    assert sorted(rows) == sorted(FILES)
    for name, row in rows.items():
        assert len(row) == len(header), row
        assert (tmp_path / name).is_file()
        assert float(row[1]) >= 0
        assert int(row[2].replace(",", "")) > 0, row
        assert int(row[3].replace(",", "")) > int(row[2].replace(",", "")) > 0, row
        for tool, cell in zip(tools, row[4:], strict=True):
            assert FIGURE.match(cell), f"{name}, {tool}: {cell!r} is not 'seconds / MiB'"
    assert int(rows["many_small.dcm"][2].replace(",", "")) >= 1000

    # The generated files are well formed: dcmstruct found no fault in them and pydicom's walk
    # counted the elements the generator wrote (the script prints a WARNING otherwise).
    assert "WARNING" not in out, out
    # The machine block and the JSON report are there, with a figure for every run.
    assert "- pydicom: " in out and "- CPU: " in out
    payload = json.loads(report.read_text())
    assert {f["name"] for f in payload["files"]} == set(FILES)
    for result in payload["results"]:
        assert result["ok"], result
        for run in result["runs"]:
            assert run["seconds"] >= 0 and run["wall"] >= 0

    # A second run reuses the generated files instead of writing them again.
    before = {name: (tmp_path / name).stat().st_mtime_ns for name in FILES}
    assert bench.main([*argv, "--only", "many_small", "--tools", "dcmstruct"]) == 0
    _, rows = _table(capsys.readouterr().out)
    assert sorted(rows) == ["baseline_tiny.dcm", "many_small.dcm"]
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in FILES} == before


def test_bench_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load_bench()
    assert bench.main(["--only", "nonesuch"]) == 2
    assert bench.main(["--tools", "nonesuch"]) == 2
    assert "unknown" in capsys.readouterr().err


# -- bench_hostile.py -------------------------------------------------------------------------


def _elements(path: Path, stream: Stream = Stream.FILE) -> set[tuple[int, int]]:
    """(offset, tag) of every element node the index lists in ``stream`` of ``path``."""
    with index_file(path) as index:
        c = index.columns
        mask = (c.kind == int(Kind.ELEMENT)) & (c.stream == int(stream))
        return set(zip(c.offset[mask].tolist(), c.tag[mask].tolist(), strict=True))


def test_hostile_generators_write_what_they_say(tmp_path: Path) -> None:
    hostile = _load_bench("bench_hostile")

    a = tmp_path / "a.dcm"
    after = hostile.make_defined_items(a, 500)
    with index_file(a) as index:
        kinds = Counter(index.columns.kind.tolist())
        assert kinds[Kind.ITEM] == 500 and not index.faults
    assert len(after) == 14 and set(after) <= _elements(a)

    b = tmp_path / "b.dcm"
    after = hostile.make_undefined_items(b, 300)
    with index_file(b) as index:
        kinds = Counter(index.columns.kind.tolist())
        assert (kinds[Kind.ITEM], kinds[Kind.ITEM_DELIMITER]) == (300, 300), kinds
        assert kinds[Kind.SEQUENCE_DELIMITER] == 1 and not index.faults
    assert set(after) <= _elements(b)

    # Nesting within the index's depth limit: every level parses, and what follows is listed.
    for shape in ("delimited", "defined"):
        h = tmp_path / f"h_{shape}.dcm"
        after = hostile.make_nested(h, 40, shape)
        with index_file(h) as index:
            assert not index.faults, (shape, index.faults)
            assert int(index.columns.depth.max()) == 40
        assert set(after) <= _elements(h)

    # The bomb inflates to what it says (within one element header), far smaller than that:
    # one raw deflate stream (PS3.5 A.5) padded to even length with one NUL, checked with zlib.
    c = tmp_path / "c.dcm"
    inflated = 64 << 20
    hostile.make_bomb(c, inflated)
    assert c.stat().st_size < inflated // 500
    with index_file(c) as index:
        assert index.deflated and index.dataset_offset is not None
        stream = c.read_bytes()[index.dataset_offset :]
        lengths = index.columns.length[index.columns.tag >> 16 == 0x0009].tolist()
    inflater, rest, total = zlib.decompressobj(-15), stream, 0
    while rest and not inflater.eof:
        total += len(inflater.decompress(rest, 1 << 20))
        rest = inflater.unconsumed_tail
    assert inflater.eof and inflater.unused_data in (b"", b"\0") and len(stream) % 2 == 0
    assert inflated - 13 <= total <= inflated
    assert sum(lengths) > inflated - 1000
    assert {0x00100010, 0x7FE00010} <= {tag for _, tag in _elements(c, Stream.INFLATED)}

    # Garbage: seeded, 20-100 KB, from a high tag with an invalid VR; the elements after it
    # are where the generator says.
    junk = hostile.garbage(3, 20_000, 100_000)
    assert junk == hostile.garbage(3, 20_000, 100_000) != hostile.garbage(4, 20_000, 100_000)
    assert 20_000 <= len(junk) <= 100_000
    assert 0x8000 <= int.from_bytes(junk[:2], "little") < 0xFFFE
    assert not junk[4:6].isupper()
    e = tmp_path / "e.dcm"
    after = hostile.make_between(e, junk)
    data = e.read_bytes()
    for offset, tag in after:
        group = int.from_bytes(data[offset : offset + 2], "little")
        element = int.from_bytes(data[offset + 2 : offset + 4], "little")
        assert group << 16 | element == tag


def test_hostile_bench_runs_on_tiny_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = _load_bench("bench_hostile")
    workdir = tmp_path / "work"
    report = tmp_path / "hostile.json"
    argv = ["--quick", "--only", "base,e", "--garbage-cases", "1", "--tools", "index,dump"]
    assert hostile.main([*argv, "--workdir", str(workdir), "--json", str(report)]) == 0
    out = capsys.readouterr().out

    lines = [line for line in out.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header, rows = cells[0], {(row[0], row[1]): row for row in cells[2:]}
    assert header[:6] == ["case", "tool", "file MiB", "exit", "wall s", "peak MiB"]
    assert sorted(rows) == [("base", "dump"), ("base", "index"), ("e1", "dump"), ("e1", "index")]
    column = {name: k for k, name in enumerate(header)}
    for row in rows.values():
        assert len(row) == len(header), row
        assert row[column["exit"]] == "0", row
        assert float(row[column["wall s"]]) > 0 and int(row[column["peak MiB"]]) > 0, row
        assert re.fullmatch(r"\d+/14", row[column["listed after"]]), row
    # On a valid file both the index and the dump list every counted element.
    for tool in ("index", "dump"):
        assert rows[("base", tool)][column["listed after"]] == "14/14"
        assert rows[("base", tool)][column["nodes"]] == rows[("base", "index")][column["nodes"]]
    # The generated files are gone; every run is in the JSON report.
    assert not list(workdir.rglob("*.dcm"))
    payload = json.loads(report.read_text())
    assert len(payload["runs"]) == 4 and all(r["peak_kib"] for r in payload["runs"])

    assert hostile.main(["--only", "zz"]) == 2
    assert "unknown case or tool: zz" in capsys.readouterr().err


# -- bench_core.py ----------------------------------------------------------------------------

CONTOUR_TAGS = [0x30060042, 0x30060044, 0x30060046, 0x30060048, 0x30060050]


def test_core_rtstruct_generator_writes_what_it_says(tmp_path: Path) -> None:
    """Contour items of 5 elements, tags ascending, 12 Contour Data values; nothing else
    faulty and every element the generator counted is in the index."""
    core = _load_bench("bench_core")
    path = tmp_path / "rt.dcm"
    counts = core.write_rtstruct(path, 47)
    data = path.read_bytes()
    with index_file(path) as index:
        assert not index.faults
        c = index.columns
        kind, tag, parent = c.kind.tolist(), c.tag.tolist(), c.parent.tolist()
        assert kind.count(Kind.ELEMENT) == counts["elements"] >= 5 * 47
        contour_sequences = {i for i, t in enumerate(tag) if t == 0x30060040}
        items = [i for i, k in enumerate(kind) if k == Kind.ITEM and parent[i] in contour_sequences]
        assert len(items) == 47
        children: dict[int, list[int]] = {i: [] for i in items}
        for i, p in enumerate(parent):
            if p in children:
                children[p].append(i)
        for item, nodes in children.items():
            assert [tag[n] for n in nodes] == CONTOUR_TAGS, item
            contour_data = nodes[-1]
            start = int(c.value_offset[contour_data])
            value = data[start : start + int(c.length[contour_data])]
            assert len(value.split(b"\\")) == 12


def test_core_bench_quick_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Parts 5 and 6 (the cheapest: three short processes) on tiny inputs: the table has their
    lines, each with a figure and a verdict."""
    core = _load_bench("bench_core")
    argv = ["--quick", "--only", "5,6", "--elements", "800", "--contours", "100"]
    argv += ["--small-files", "2", "--workdir", str(tmp_path)]
    assert core.main(argv) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0][:6] == ["#", "work", "dcmstruct", "reference", "ratio", "target"]
    rows = {row[0]: row for row in cells[2:]}
    assert sorted(rows) == ["5", "6a", "6b"]
    for row in rows.values():
        assert row[-1] in ("met", "**not met**"), row
    assert re.match(r"^\d+\.\d{3} s / \d+ MiB$", rows["5"][2]), rows["5"]
    assert "numpy" in rows["5"][3] and float(rows["5"][4]) > 0
    for key in ("6a", "6b"):
        assert re.match(r"^\d+\.\d{3} s: \d+\.\d\d M el/s$", rows[key][2]), rows[key]
    assert "WARNING" not in out, out
    assert "- pydicom: " in out and "- load average at the end" in out
    assert sorted(p.name for p in (tmp_path / "small_2").iterdir()) == ["s00000.dcm", "s00001.dcm"]
    assert core.main(["--only", "9"]) == 2
    assert "unknown part" in capsys.readouterr().err
