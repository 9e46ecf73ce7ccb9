"""The import graph points one way: the foundation imports nothing of Harvest's, the packages
never import the launcher or a shell, and the launcher never imports a shell's command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what each top-level package may import of Harvest's own (besides itself)
ALLOWED = {
    "core": set(),
    "catalog": {"core"},
    "scrapers": {"core", "catalog"},
    "training": {"core", "catalog"},
    "jobs": {"core", "catalog", "scrapers", "training", "dagster_project"},
    "demo_site": {"core"},
    "server": {"core", "catalog", "scrapers", "training", "jobs", "delivery"},
    "delivery": {"core", "catalog", "training"},
}
OURS = {*ALLOWED, "harvest", "dashboard", "dagster_project", "bench", "tests"}


def _imports(file: Path) -> set[str]:
    tree = ast.parse(file.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        str(file.relative_to(ROOT)): sorted(_imports(file) - ALLOWED[package] - {package})
        for file in sorted((ROOT / package).rglob("*.py"))
    }
    assert {file: names for file, names in wrong.items() if names} == {}
