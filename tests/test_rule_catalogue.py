"""The rule catalogue: every rule registered, documented, referenced and exercised by a fixture;
every fixture's file produces its rule's finding at the offset the fixture computed."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from dcmstruct.index import DEFAULT_MAX_NODES, index_bytes
from dcmstruct.model import Stream
from dcmstruct.validate.engine import validate_index
from dcmstruct.validate.finding import Severity
from dcmstruct.validate.registry import load_all
from fixtures.make_rule_fixtures import write
from fixtures.rule_fixtures import all_fixtures
from fixtures.rule_fixtures.base import RuleFixture

ROOT = Path(__file__).resolve().parent.parent
SHARED_RULES = ROOT.parent / "shared" / "spec" / "rules.tsv"
RULES = load_all()
FIXTURES = all_fixtures()


def shared_catalogue() -> dict[str, str]:
    if not SHARED_RULES.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_RULES} is missing")
        pytest.skip("the shared rule catalogue is not beside this checkout")
    with SHARED_RULES.open() as f:
        return {row["rule"]: row["severity"] for row in csv.DictReader(f, delimiter="\t")}


def test_every_catalogue_rule_is_registered_with_its_severity() -> None:
    catalogue = shared_catalogue()
    missing = sorted(set(catalogue) - set(RULES))
    assert not missing, f"rules of the catalogue not implemented: {missing}"
    wrong = {
        n: (RULES[n].severity.label, s)
        for n, s in catalogue.items()
        if RULES[n].severity.label != s
    }
    assert not wrong, wrong


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_is_documented(name: str) -> None:
    rule = RULES[name]
    # Real prose, not placeholders: a sentence each, and a section of the standard.
    assert len(rule.summary.split()) >= 2, rule.summary
    assert len(rule.why.split()) >= 10, rule.why
    assert len(rule.example.strip()) >= 8, rule.example
    assert rule.standard.startswith(("PS3.", "(safety")), rule.standard
    doc = rule.doc()
    assert rule.summary.strip().split()[0] in doc and rule.standard in doc


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_has_a_fixture(name: str) -> None:
    assert any(fx.rule == name for fx in FIXTURES), f"no fixture for {name}"


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_fixture_yields_its_finding_at_its_offset(fx: RuleFixture) -> None:
    index = index_bytes(fx.data, max_nodes=fx.max_nodes or DEFAULT_MAX_NODES)
    findings, internal = validate_index(index)
    assert not internal
    stream = Stream.INFLATED if fx.stream == "inflated" else Stream.FILE
    hits = [f for f in findings if f.rule == fx.rule]
    got = [(f.rule, hex(f.offset)) for f in findings]
    assert hits, f"{fx.rule} not reported; got {got}"
    where = [(f.offset, f.stream) for f in hits]
    expected = f"{fx.rule} at {[hex(o) for o, _ in where]}, expected {fx.offset:#x}"
    assert (fx.offset, stream) in where, expected
    noise = sorted({f.rule for f in findings} - {fx.rule, *fx.also})
    assert not noise, f"{fx.name} also yields {noise}: declare them in `also` or fix the fixture"


def test_committed_rule_fixtures_are_what_the_builder_makes(tmp_path: Path) -> None:
    written = write(tmp_path)
    committed = ROOT / "fixtures" / "rules"
    assert sorted(p.name for p in committed.glob("*.dcm")) == sorted(p.name for p in written)
    for path in written:
        assert path.read_bytes() == (committed / path.name).read_bytes(), path.name
    assert (tmp_path / "INDEX.tsv").read_text() == (committed / "INDEX.tsv").read_text()


@pytest.mark.parametrize("path", sorted((ROOT / "fixtures").glob("*.dcm")), ids=lambda p: p.name)
def test_clean_fixtures_have_no_error(path: Path) -> None:
    findings, internal = validate_index(index_bytes(path.read_bytes()))
    assert not internal
    errors = [(f.rule, hex(f.offset), f.message) for f in findings if f.severity == Severity.ERROR]
    assert not errors
