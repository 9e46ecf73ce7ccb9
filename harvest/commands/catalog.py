"""``harvest catalog``, ``harvest import``, ``harvest sql``: placeholder until the catalog lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the catalog commands to ``app``."""
