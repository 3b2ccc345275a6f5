"""Compare dcmstruct's findings with dciodvfy's and dcmdump's on the rule fixtures.

    python bench/compare_validators.py [--fixtures DIR] [--markdown]

For every file in fixtures/rules/ (one per rule and variant), prints whether each tool
noticed anything structural: dcmstruct (the fixture's rule at the fixture's offset), dciodvfy
(an "Error"/"Warning" line that is not about IOD content: missing attributes, modules, unknown
private tags are filtered out) and dcmdump (an "E:" or "W:" line of `dcmdump FILE`, or a
non-zero exit). The first line each tool printed is shown so a person can judge whether it is
the same fault.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dcmstruct.index import index_file  # noqa: E402
from dcmstruct.validate.engine import validate_index  # noqa: E402

# dciodvfy lines about the IOD's content, not the file's structure.
IOD_NOISE = re.compile(
    r"Missing attribute|Module=|Unrecognized tag|needed to build DICOMDIR|not a recognized|"
    r"Retired attribute|Attribute is not present in standard DICOM IOD|Dicom dataset contains "
    r"attributes not present|May not be present|Invalid value for Type|is not a defined term|"
    r"Value dubious|Value is zero|A value is required|has incorrect value length - expected 0 ",
    re.IGNORECASE,
)


@dataclass
class Row:
    name: str
    rule: str
    ours: bool
    dciodvfy: str | None
    dcmdump: str | None


def run(cmd: list[str]) -> tuple[int, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def dciodvfy_says(path: Path) -> str | None:
    _, out = run(["dciodvfy", str(path)])
    for line in out.splitlines():
        if ("Error" in line or "Warning" in line) and not IOD_NOISE.search(line):
            return line.strip()
    return None


def dcmdump_says(path: Path) -> str | None:
    code, out = run(["dcmdump", str(path)])
    for line in out.splitlines():
        if line.startswith(("E:", "W:")):
            return line.strip()
    return f"exit status {code}" if code else None


def compare(fixtures: Path) -> list[Row]:
    rows = []
    with (fixtures / "INDEX.tsv").open() as f:
        for entry in csv.DictReader(f, delimiter="\t"):
            path = fixtures / f"{entry['name']}.dcm"
            with index_file(path) as index:
                findings, _ = validate_index(index)
            offset = int(entry["offset"], 16)
            ours = any(x.rule == entry["rule"] and x.offset == offset for x in findings)
            rows.append(
                Row(entry["name"], entry["rule"], ours, dciodvfy_says(path), dcmdump_says(path))
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--fixtures", type=Path, default=ROOT / "fixtures" / "rules")
    p.add_argument("--corpus", action="store_true", help="pydicom's test files instead")
    args = p.parse_args(argv)
    for tool in ("dciodvfy", "dcmdump"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    if args.corpus:
        return corpus_gaps()
    rows = compare(args.fixtures)
    print("| fixture | dcmstruct | dciodvfy | dcmdump |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        cells = [
            "yes" if r.ours else "NO",
            (r.dciodvfy or "-").replace("|", "/")[:90],
            (r.dcmdump or "-").replace("|", "/")[:90],
        ]
        print(f"| {r.name} | " + " | ".join(cells) + " |")
    n = len(rows)
    print()
    print(
        f"fixtures: {n}; dcmstruct reports the fixture's rule at its offset: "
        f"{sum(r.ours for r in rows)}; dciodvfy says something structural: "
        f"{sum(r.dciodvfy is not None for r in rows)}; dcmdump warns or fails: "
        f"{sum(r.dcmdump is not None for r in rows)}"
    )
    return 0


def corpus_gaps() -> int:
    """Corpus files where dciodvfy or dcmdump report something structural and dcmstruct
    reports no finding at all: each is a candidate for a missing rule."""
    from tests.corpus import corpus_files

    files = corpus_files()
    gaps = 0
    for path in files:
        with index_file(path) as index:
            findings, _ = validate_index(index)
        theirs = [t for t in (dciodvfy_says(path), dcmdump_says(path)) if t]
        if theirs and not findings:
            gaps += 1
            print(f"{path.name}: " + " / ".join(x[:100] for x in theirs))
    print(f"corpus files: {len(files)}; where another tool reports and dcmstruct does not: {gaps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
