"""The simulator and the optimiser never import each other: they meet through plain data."""

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "caresim"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_optimiser_does_not_import_the_simulator():
    for path in (SOURCE / "optimize").glob("*.py"):
        foreign = {
            name for name in _imports(path) if name.startswith("caresim") and not name.startswith("caresim.optimize")
        }
        assert not foreign, f"{path.name} imports {foreign}"


EDGES = {"__init__.py", "cli.py"}  # the Python API and the command line may reach every layer


def test_simulator_does_not_import_the_optimiser_or_the_planner():
    for path in SOURCE.glob("*.py"):
        if path.name in EDGES:
            continue
        names = _imports(path)
        assert not any(name.startswith(("caresim.optimize", "caresim.planning")) for name in names), path.name


def test_simulator_and_optimiser_meet_only_in_the_planning_layer():
    planning = set().union(*(_imports(path) for path in (SOURCE / "planning").glob("*.py")))
    assert any(name.startswith("caresim.optimize") for name in planning)
    assert any(name in ("caresim.simulation", "caresim.engine.model", "caresim.results.evaluation") for name in planning)
    assert not any(name.startswith("hydra") for name in planning), "Hydra stays at the edge (cli)"
