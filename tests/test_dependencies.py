"""Every third-party module egraff imports comes from a distribution pyproject.toml declares
(in project.dependencies, or in tool.egraff.no-deps for packages installed with pip --no-deps)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "python" / "egraff"


def normalized(requirement: str) -> str:
    """The distribution name of a requirement string, normalised as PEP 503 does."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(root: Path) -> dict[str, set[str]]:
    """Top-level module name -> files importing it, for absolute imports outside the standard library."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("egraff", "__future__"):
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = project["project"]["dependencies"] + project["tool"]["egraff"]["no-deps"]
    return {normalized(r) for r in requirements}


def test_every_third_party_import_is_declared():
    declared = declared_distributions()
    providers = importlib.metadata.packages_distributions()
    imports = third_party_imports(PACKAGE)
    assert "torch" in imports and "numpy" in imports  # the scan sees imports at all
    undeclared = {}
    for module, files in sorted(imports.items()):
        distributions = {normalized(d) for d in providers.get(module, [])}
        if not distributions & declared:
            undeclared[module] = (sorted(distributions) or ["not installed"], sorted(files)[:3])
    assert not undeclared, f"imported by egraff but not declared in pyproject.toml: {undeclared}"
