"""Finding source specs: the bundled ones in ``scrapers/sources/`` and the user's own.

A source is named by its file: ``<name>.yaml`` (or ``.yml``) in ``HARVEST_HOME/sources/``
or, failing that, in the bundled folder; a user's spec with a bundled name wins. Cleaning
specs live in the same folders as ``<name>.clean.yaml`` and are not sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import NotFoundError
from core.workspace import Workspace

BUNDLED = Path(__file__).parent / "sources"
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SourceFile:
    """A spec file and where it comes from ('user' or 'bundled')."""

    name: str
    path: Path
    origin: str


def source_files(workspace: Workspace) -> list[SourceFile]:
    """Every source, user specs first shadowing bundled ones of the same name, sorted by name."""
    found: dict[str, SourceFile] = {}
    for origin, folder in (("user", workspace.sources), ("bundled", BUNDLED)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in _SUFFIXES and "." not in path.stem and path.stem not in found:
                found[path.stem] = SourceFile(name=path.stem, path=path, origin=origin)
    return sorted(found.values(), key=lambda s: s.name)


def find_source(name: str, workspace: Workspace) -> SourceFile:
    """The source called ``name``."""
    sources = source_files(workspace)
    for source in sources:
        if source.name == name:
            return source
    known = ", ".join(s.name for s in sources) or "none"
    raise NotFoundError(
        f"No source named '{name}' (known: {known}); put {name}.yaml in {workspace.sources} "
        "or pass --spec FILE.yaml."
    )
