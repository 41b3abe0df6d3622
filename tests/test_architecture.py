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


def test_simulator_does_not_import_the_optimiser():
    for path in SOURCE.glob("*.py"):
        assert not any(name.startswith("caresim.optimize") for name in _imports(path)), path.name
