"""The floors of egraff (docs/architecture.md): every module imports, and the import graph of its packages has
no circle and never points up a floor.

The graph is built from the sources with ``ast`` (imports inside functions count: a lazy import is still a
dependency). Its nodes are the packages and top-level modules of ``python/egraff``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import egraff

SOURCES = Path(__file__).resolve().parents[1] / "python" / "egraff"

#: what each floor may import: its own floor's nodes (without circles) and any lower floor's
FLOORS = {
    0: {"files", "processes", "config", "_runtime", "units", "progress", "contract"},
    1: {"exits", "lammps_adaptor", "jobs"},
    2: {"data", "models"},
    3: {"deploy", "analysis"},
    4: {"train", "md"},
    5: {"benchmark", "learn"},
    6: {"demo", "demo_report"},
    7: {"cli"},
}
FLOOR = {node: floor for floor, nodes in FLOORS.items() for node in nodes}


def node(module: str) -> str | None:
    parts = module.split(".")[1:]
    if not parts:
        return None  # the egraff package itself: its version only
    return parts[0]


def package_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in SOURCES.rglob("*.py"):
        module = ".".join(path.relative_to(SOURCES.parent).with_suffix("").parts).removesuffix(".__init__")
        for found in ast.walk(ast.parse(path.read_text())):
            if isinstance(found, ast.Import):
                targets = [alias.name for alias in found.names]
            elif isinstance(found, ast.ImportFrom) and found.module and found.level == 0:
                targets = [found.module] + [f"{found.module}.{alias.name}" for alias in found.names]
            else:
                continue
            for target in targets:
                source, destination = node(module), node(target)
                if target.split(".")[0] == "egraff" and destination not in (None, source):
                    edges.setdefault(source, set()).add(destination)
    return edges


def test_every_module_imports():
    failures = []
    for module in pkgutil.walk_packages(egraff.__path__, "egraff."):
        try:
            importlib.import_module(module.name)
        except Exception as err:  # noqa: BLE001 — every failure is the finding
            failures.append(f"{module.name}: {type(err).__name__}: {err}")
    assert not failures, failures


def test_no_import_circle_and_no_import_up_a_floor():
    edges = package_graph()
    assert set(edges) | {d for ds in edges.values() for d in ds} <= set(FLOOR), "a package missing from FLOORS"
    upward = sorted(f"{a} (floor {FLOOR[a]}) imports {b} (floor {FLOOR[b]})"
                    for a, ds in edges.items() for b in ds if FLOOR[b] > FLOOR[a])
    assert not upward, upward
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]):
        state[name] = "open"
        for child in sorted(edges.get(name, ())):
            if state.get(child) == "open":
                raise AssertionError("import circle: " + " -> ".join(path[path.index(child):] + [child]))
            if child not in state:
                visit(child, path + [child])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
