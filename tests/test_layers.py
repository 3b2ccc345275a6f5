"""The package's layers: data flows one way, so every import points down (or stays on its floor).

    base <- schema <- model/source <- index <- floor (values, paths, ...) <- validate
         <- report <- front (cli, commands, tui, dump, the package itself)

Every ``import`` in every module counts, wherever it is written: at the top, inside a function
(a lazy import is still a dependency) or under ``TYPE_CHECKING``. The imports are read from the
source with :mod:`ast`, nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dcmstruct"

# Lowest first. A module takes the floor of the longest prefix listed; a module not listed is
# a floor module (between the index and the rules), the usual place for a new one.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "dcmstruct.arrays",
            "dcmstruct.data",
            "dcmstruct.exitcode",
            "dcmstruct.formats",
            "dcmstruct.limits",
            "dcmstruct.ranges",
            "dcmstruct.safetext",
            "dcmstruct.sample",
            "dcmstruct.specdata",
            "dcmstruct.specs",
            "dcmstruct.spool",
            "dcmstruct.uids",
            "dcmstruct.version",
            "dcmstruct.wording",
        ),
    ),
    ("schema", ("dcmstruct.schema",)),
    ("model", ("dcmstruct.model", "dcmstruct.source")),
    ("index", ("dcmstruct.index",)),
    ("floor", ()),
    ("validate", ("dcmstruct.validate",)),
    ("report", ("dcmstruct.report",)),
    (
        "front",
        (
            "dcmstruct",  # the package itself and its front door: open(), check()
            "dcmstruct.__main__",
            "dcmstruct.checking",
            "dcmstruct.cli",
            "dcmstruct.commands",
            "dcmstruct.dataset",
            "dcmstruct.dump",
            "dcmstruct.tui",
        ),
    ),
)
RANK = {name: rank for rank, (name, _) in enumerate(FLOORS)}


def floor_of(module: str) -> str:
    best, length = "floor", -1
    for name, prefixes in FLOORS:
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > length:
                best, length = name, len(prefix)
    if length == len("dcmstruct") and module != "dcmstruct":
        return "floor"  # a module not listed
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, module: str, known: set[str]) -> set[str]:
    """The dcmstruct modules ``path`` imports: ``from a import b`` is ``a.b`` if that is a
    module, else ``a``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m == "dcmstruct" or m.startswith("dcmstruct.")}


MODULES = all_modules()


def test_every_floor_is_known_and_the_tree_is_read() -> None:
    assert "dcmstruct.cli" in MODULES and "dcmstruct.index" in MODULES
    assert floor_of("dcmstruct.schema.element") == "schema"
    assert floor_of("dcmstruct.index.walker") == "index"
    assert floor_of("dcmstruct.values") == "floor"
    assert floor_of("dcmstruct.validate.rules.values") == "validate"
    assert floor_of("dcmstruct.commands.batch") == "front"
    assert floor_of("dcmstruct.specdata") == "base"
    assert floor_of("dcmstruct") == "front"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test below could not fail if the imports were not found: show it finds one of
    each form (plain, from, relative, lazy, under TYPE_CHECKING)."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import dcmstruct.report\n"
        "from dcmstruct import cli\n"
        "from ..commands import batch\n"
        "def f():\n"
        "    from dcmstruct.tui.app import run\n"
        "if TYPE_CHECKING:\n"
        "    from dcmstruct.report.json import JsonWriter\n",
        encoding="utf-8",
    )
    found = imported(source, "dcmstruct.validate.probe", set(MODULES))
    assert found == {
        "dcmstruct.report",
        "dcmstruct.cli",
        "dcmstruct.commands.batch",
        "dcmstruct.tui.app",
        "dcmstruct.report.json",
    }


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    own = floor_of(module)
    upward = sorted(
        f"{target} ({floor_of(target)})"
        for target in imported(MODULES[module], module, set(MODULES))
        if RANK[floor_of(target)] > RANK[own]
    )
    assert not upward, f"{module} ({own}) imports upward: {', '.join(upward)}"


def test_the_rule_core_does_not_know_the_command_line() -> None:
    """Batches and config files belong to the command line: nothing in validate/ or report/
    imports them."""
    for module, path in MODULES.items():
        if floor_of(module) in ("validate", "report"):
            targets = imported(path, module, set(MODULES))
            assert not any(t.startswith(("dcmstruct.commands", "dcmstruct.cli")) for t in targets)
