"""Fixtures shared by every test: a fresh workspace and its catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog
from core.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """An empty workspace in a temporary folder, also set as HARVEST_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("HARVEST_HOME", str(home))
    monkeypatch.delenv("HARVEST_CATALOG", raising=False)
    monkeypatch.delenv("HARVEST_DATA_PATH", raising=False)
    return Workspace.at(home).ensure()


@pytest.fixture
def catalog(workspace: Workspace) -> Iterator[Catalog]:
    """The catalog of the temporary workspace."""
    with Catalog.open(workspace) as opened:
        yield opened
