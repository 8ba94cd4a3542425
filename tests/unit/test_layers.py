"""Imports point one way: every module under ctripctl/ is parsed and each import checked.

Every import counts — at module level, inside a function (the lazy imports that keep
`--help` fast) and under `if TYPE_CHECKING:` — because a lazy import is still a
dependency: it only moves the cycle from import time to run time.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ctripctl"

#: Top to bottom. A unit (a subpackage or a top-level module of ctripctl/) may import
#: units of LOWER rows only; units in the same row are siblings and must not import each
#: other. Why this order:
#: - cli: typer apps and rendering; nothing imports it (`__main__` only starts it).
#: - passes, ops: the cron passes (lock → fetch → decide → write) are the only code that
#:   puts chain I/O, the database and webhook delivery together; ops (status, health,
#:   metrics, logs, chain probes) reads the database and asks nodes the same way, for
#:   the operator, so it sits beside passes.
#: - starter, payment_request: turn what the user typed (`init`, `payment create`, a
#:   CSV) into plain values, checked against the configuration.
#: - config: read at the top (cli, passes, ops) and handed down as plain objects.
#: - chain (network I/O), webhooks (HTTP delivery), db (the database): three kinds of
#:   I/O that never need each other; the passes join them.
#: - evm: pure EVM helpers (keccak, addresses, HD derivation, matching, transactions).
#: - domain: pure logic and the plain records passed between layers; standard library.
#: - errors, faults, urls and the package root (`__version__`): standard library only.
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("passes", "ops"),
    ("starter", "payment_request"),
    ("config",),
    ("chain", "webhooks", "db"),
    ("evm",),
    ("domain",),
    ("errors", "faults", "urls", "ctripctl"),
]
RANK = {unit: row for row, units in enumerate(LAYERS) for unit in units}

#: Units whose frozen dataclasses the I/O layer may name as types, under TYPE_CHECKING
#: only (e.g. db/payments.py takes a PaymentRequest; a chain module a ChainConfig): the
#: values are built at the top and handed down, the module is never imported below.
TYPES_ONLY = {"config", "payment_request"}
IO_LAYER = set(LAYERS[RANK["chain"]])

#: Units that import nothing outside the standard library but the ones listed.
STDLIB_ONLY = {
    "domain": {"errors"},
    "errors": set(),
    "faults": set(),
    "urls": set(),
    "ctripctl": set(),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module (or package), dotted
    line: int
    type_checking: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(dotted: str) -> str:
    """ctripctl.db.models → db; ctripctl.config → config; ctripctl → ctripctl."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

    def walk(node: ast.AST, guarded: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk_one(stmt, True)
                for stmt in child.orelse:
                    yield from walk_one(stmt, guarded)
            else:
                yield from walk_one(child, guarded)

    def walk_one(node: ast.AST, guarded: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, guarded)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from ctripctl import faults` / `from ctripctl.db import claims` name a module
                candidate = f"{source}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*candidate.split("."))
                ).is_dir()
                yield Import(module, candidate if is_module else source, node.lineno, guarded)
        else:
            yield from walk(node, guarded)

    yield from walk(tree, False)


def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE.rglob("*.py")) for i in imports_of(path)]


def internal(imports: list[Import]) -> list[Import]:
    return [i for i in imports if i.target == "ctripctl" or i.target.startswith("ctripctl.")]


def where(i: Import) -> str:
    guard = " (under TYPE_CHECKING)" if i.type_checking else ""
    return f"{i.module}:{i.line} imports {i.target}{guard}"


def test_every_unit_has_a_place_in_the_table() -> None:
    units = {unit_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(RANK))
    assert not missing, f"place these in LAYERS (tests/unit/test_layers.py): {missing}"


def test_imports_point_down() -> None:
    wrong = []
    for i in internal(all_imports()):
        source, target = unit_of(i.module), unit_of(i.target)
        if source == target:
            continue
        if RANK[target] > RANK[source]:
            continue
        if i.type_checking and target in TYPES_ONLY and source in IO_LAYER:
            continue
        kind = "a sibling" if RANK[target] == RANK[source] else "an upper layer"
        wrong.append(f"{where(i)}: {target} is {kind} of {source}")
    assert not wrong, "\n".join(wrong)


def test_no_cycle_between_units() -> None:
    graph: dict[str, set[str]] = {}
    for i in internal(all_imports()):
        source, target = unit_of(i.module), unit_of(i.target)
        if source != target:
            graph.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> None:
        if unit in path:
            pytest.fail("import cycle: " + " → ".join([*path[path.index(unit) :], unit]))
        if unit in done:
            return
        for target in sorted(graph.get(unit, ())):
            visit(target, [*path, unit])
        done.add(unit)

    for unit in sorted(graph):
        visit(unit, [])


def test_bottom_units_use_the_standard_library_only() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    wrong = []
    for i in all_imports():
        unit = unit_of(i.module)
        if unit not in STDLIB_ONLY:
            continue
        top = i.target.split(".")[0]
        if top == "ctripctl":
            target = unit_of(i.target)
            if target != unit and target not in STDLIB_ONLY[unit]:
                wrong.append(where(i))
        elif top not in stdlib:
            wrong.append(where(i))
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_lazy_and_type_checking_imports() -> None:
    """The parser itself: a function-level import and a TYPE_CHECKING import are both found."""
    found = {(i.target, i.type_checking) for i in imports_of(PACKAGE / "passes" / "scan.py")}
    assert ("ctripctl.chain.fetch", False) in found  # inside one_pass()
    assert ("ctripctl.config", True) in found
