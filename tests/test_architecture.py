"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml), no module-level import
cycle, every module in a layer, and the policy engine on the standard library alone.

Function-level (deferred) imports count as imports here: grimp reads every ``import`` statement of a module,
wherever it is. Imports under ``if TYPE_CHECKING:`` (annotations only) do not.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent


def _config() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return dict(tomllib.load(f)["tool"]["importlinter"])


def _contract(contract_id: str) -> dict[str, Any]:
    return next(c for c in _config()["contracts"] if c["id"] == contract_id)


def _ignored(contract_id: str) -> set[tuple[str, str]]:
    """The imports a contract ignores (known violations, each with its owner in a comment)."""
    pairs = (line.split("->") for line in _contract(contract_id).get("ignore_imports", []))
    return {(a.strip(), b.strip()) for a, b in pairs}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("diag", include_external_packages=True, exclude_type_checking_imports=True)


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative): each is an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_cycles_and_only_cycles() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": [], "f": ["f2"], "f2": ["f"]}
    assert sorted(cycles(edges)) == [["a", "b", "c"], ["f", "f2"]]
    assert cycles({"a": ["b"], "b": ["c"], "c": []}) == []


def test_import_linter_contracts_hold() -> None:
    """`lint-imports` (the layers, no sibling cycles, the terminal only at the face, a pure engine)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


def test_no_module_import_cycle(graph: grimp.ImportGraph) -> None:
    """No two modules import each other, directly or through others, even from inside a function."""
    ignored = _ignored("no-cycles")
    edges = {
        m: [d for d in graph.find_modules_directly_imported_by(m) if d.startswith("diag") and (m, d) not in ignored]
        for m in graph.modules
        if m.startswith("diag")
    }
    assert cycles(edges) == []


def test_every_module_sits_in_a_layer(graph: grimp.ImportGraph) -> None:
    """A new module is placed in a layer (or inside a package that is one), so the contract checks it."""
    layers = {m.strip() for layer in _contract("layers")["layers"] for m in layer.replace("|", ":").split(":")}
    unplaced = []
    for module in sorted(m for m in graph.modules if m.startswith("diag.")):  # not `diag`: the API face
        parts = module.split(".")
        if any(".".join(parts[:i]) in layers for i in range(2, len(parts) + 1)):
            continue
        internal = [d for d in graph.find_modules_directly_imported_by(module) if d.startswith("diag")]
        if graph.find_children(module) and not internal:
            continue  # a package whose __init__ imports nothing of kmsdiag (its modules are placed one by one)
        unplaced.append(module)
    assert unplaced == []


#: The engine's one third-party import: its JSON parser (policy documents and fingerprints; ~14x
#: faster than the standard json module on a key policy). No I/O, no other package.
ENGINE_PARSER_DEPENDENCIES = {"orjson"}
#: kmsdiag's lowest layer (pyproject: "standard library only: the engine may use them too"): ARNs and
#: times. The engine may import them; they import only the standard library themselves (checked below).
STANDARD_LIBRARY_ONLY = {"diag.arn", "diag.times"}


def test_policy_engine_imports_only_the_standard_library(graph: grimp.ImportGraph) -> None:
    ignored = _ignored("pure-engine")
    outside = {
        (m, d)
        for m in graph.find_descendants("diag.policy") | {"diag.policy"}
        for d in graph.find_modules_directly_imported_by(m)
        if not d.startswith("diag.policy")
        and d.split(".")[0] not in sys.stdlib_module_names
        and d.split(".")[0] not in ENGINE_PARSER_DEPENDENCIES
        and d not in STANDARD_LIBRARY_ONLY
    }
    assert outside - ignored == set()
    below = {(m, d) for m in STANDARD_LIBRARY_ONLY for d in graph.find_modules_directly_imported_by(m)}
    assert {(m, d) for m, d in below if d.split(".")[0] not in sys.stdlib_module_names} == set()
