"""The package's architecture: the layers, and the simulator and the optimiser never importing each other.

The rules are import-linter contracts in pyproject.toml ([tool.importlinter]); these tests run them, show
that each one can fail (a copy of the package with a planted bad import breaks it), and check at run time
what importing the light entry points loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from tests.conftest import HANG_GUARD_SECONDS

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"  # installed by the `test` extra


def _env(src: Path) -> dict[str, str]:
    """The environment for a subprocess that must see the package under ``src`` (ahead of any install)."""
    paths = [str(src), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _lint_imports(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` run in ``root`` (its pyproject.toml) on ``root/src``; no cache left in the tree."""
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} missing: install the test extra (pip install -e '.[test]')"
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=root,
        env=_env(root / "src"),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"
    assert f"{len(_contracts())} kept, 0 broken" in result.stdout, result.stdout


# One planted import per contract: each contract, run alone on a copy of the package holding its plant, must fail.
PLANTED = {
    "layers": ("engine/streams.py", "import caresim.simulation\n"),  # a lower layer reaching up
    "optimize-stands-alone": ("optimize/problem.py", "import simpy\n"),
    "optimize-only-from-planning": ("calibration/fit.py", "import caresim.optimize\n"),
    "simulator-without-planner": ("results/contrast.py", "import caresim.planning.seeds\n"),
    "steps-get-a-world": ("engine/steps/effects.py", "import caresim.engine.model\n"),
    "report-reads-folders": ("report/folder.py", "import caresim.config.errors\n"),
    "hydra-at-the-edge": ("planning/seeds.py", "import hydra\n"),
    # A type-only import counts: this cycle exists only for the type checker.
    "no-cycles": (
        "engine/world.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import caresim.engine.model\n",
    ),
}


def test_every_contract_is_planted():
    assert set(PLANTED) == set(_contracts())


@pytest.mark.parametrize("contract", sorted(PLANTED))
def test_a_planted_bad_import_breaks_its_contract(contract, tmp_path):
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    shutil.copytree(SRC / "caresim", tmp_path / "src" / "caresim", ignore=shutil.ignore_patterns("__pycache__"))
    module, line = PLANTED[contract]
    with open(tmp_path / "src" / "caresim" / module, "a") as source:
        source.write("\n" + line)

    result = _lint_imports(tmp_path, "--contract", contract)
    assert result.returncode == 1, f"{contract} kept despite the planted import:\n{result.stdout}\n{result.stderr}"
    assert "0 kept, 1 broken" in result.stdout, result.stdout


def test_a_new_top_level_module_must_be_given_a_layer(tmp_path):
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    shutil.copytree(SRC / "caresim", tmp_path / "src" / "caresim", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src" / "caresim" / "unplaced.py").write_text("VALUE = 1\n")

    result = _lint_imports(tmp_path, "--contract", "layers")
    assert result.returncode == 1 and "caresim.unplaced" in result.stdout, result.stdout


# The no-cycles contract (acyclic_siblings) compares sibling packages, so it misses a cycle through a package's
# own __init__ (calibration/fit.py importing caresim.calibration, whose __init__ imports fit's importers).
# This finds cycles between single modules on the same graph: TYPE_CHECKING imports counted, same exceptions.


def _module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself), Tarjan's way."""
    modules = sorted(m for m in graph.modules if m == "caresim" or m.startswith("caresim."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph.find_modules_directly_imported_by(module):
                cycles.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def _graph_without_ignored_cycles() -> grimp.ImportGraph:
    graph = grimp.build_graph("caresim", exclude_type_checking_imports=False, cache_dir=None)
    for expression in _contracts()["no-cycles"].get("ignore_imports", []):
        importer, imported = (part.strip() for part in expression.split("->"))
        assert graph.direct_import_exists(importer=importer, imported=imported), f"stale exception: {expression}"
        graph.remove_import(importer=importer, imported=imported)
    return graph


def test_no_import_cycles_between_modules():
    assert _module_cycles(_graph_without_ignored_cycles()) == []


def test_a_cycle_through_a_package_init_is_found():
    graph = _graph_without_ignored_cycles()
    graph.add_import(importer="caresim.calibration.fit", imported="caresim.calibration")
    assert any("caresim.calibration.fit" in cycle for cycle in _module_cycles(graph))


def _modules_loaded_by(statement: str) -> set[str]:
    """The modules in ``sys.modules`` after ``statement`` in a fresh interpreter."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(SRC),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_optimiser_loads_no_simulator():
    loaded = _modules_loaded_by("import caresim.optimize")
    assert "caresim.optimize" in loaded
    assert not {name for name in loaded if _top(name) in ("simpy", "mesa")}
    foreign = {name for name in loaded if name.startswith("caresim.") and not name.startswith("caresim.optimize")}
    assert not foreign, f"import caresim.optimize loaded {sorted(foreign)}"


def test_importing_caresim_alone_loads_no_layer():
    loaded = _modules_loaded_by("import caresim")
    heavy = {name for name in loaded if _top(name) in ("simpy", "mesa", "pyomo")}
    assert not heavy, f"import caresim loaded {sorted(heavy)}"
    assert not {name for name in loaded if name.startswith("caresim.")}, "caresim/__init__.py should load lazily"
