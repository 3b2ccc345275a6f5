"""Smoke test of ``bench/bench_index.py``: the benchmark's logic on tiny files.

It runs the script's ``main`` with tiny sizes and one run, and checks that it generated its
files and printed a table with a row per file and numeric figures. It asserts nothing about
how fast anything is: timings are the benchmark's output, never a test's verdict.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("pydicom")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_index.py"
FILES = (
    "baseline_tiny.dcm",
    "many_small.dcm",
    "many_small_implicit.dcm",
    "multiframe_500mb.dcm",
    "encapsulated_500mb.dcm",
)
# "seconds / MiB", both numeric.
FIGURE = re.compile(r"^\d+\.\d{3} / \d+$")


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_index", BENCH)
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
