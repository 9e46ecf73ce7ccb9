"""What a machine keeps of files that live elsewhere, and pruning it to a size.

On a team setup (the data path on S3) each machine fetches what it uses into its home:
model versions (``models/<model>/<n>/``, from the file store), crawled media
(``media/...``), and the sandbox's copies of versions it read (``cache/sandbox/``, written
from the catalog). Nothing removes them as they are used, so a long-running server grows
its home with every version it ever served. :func:`prune` removes the least recently used
of those copies until what is left takes at most ``keep`` bytes. A copy is only removed
when it can be fetched again: a model folder or media file whose original is in the file
store, or a sandbox copy (written again from the catalog on its next query). Where the
home is the file store itself (no S3), models and media are originals and are never
pruned.

Using a copy marks it used (:func:`core.objects.mark_used`); copies used within the last
``idle`` seconds are kept, whatever the size, so a process that has just found a folder can
still read it. ``harvest cache prune`` prunes by hand; with ``HARVEST_CACHE_KEEP`` set (a size,
such as ``20GB``) every fetch that adds a copy prunes to it (:func:`after_fetch`), so a
long-running server keeps its home within that size on its own.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.objects import MANIFEST_SUFFIX, MEDIA, FileStore, file_store
from core.sizes import given_size
from core.workspace import Workspace

MODELS = "models"  # the file store's key of model versions (models/<model>/<n>)
KEEP = "HARVEST_CACHE_KEEP"  # the size a machine prunes its copies to after each fetch


@dataclass(frozen=True)
class Copy:
    """One copy on this machine: a model version's folder or a single file."""

    path: Path
    kind: str  # "model", "media" or "sandbox"
    size: int
    used: float  # when it was last used, seconds since the epoch


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed and what it left."""

    removed: tuple[Copy, ...]
    kept: tuple[Copy, ...]

    @property
    def freed(self) -> int:
        return sum(c.size for c in self.removed)

    @property
    def left(self) -> int:
        return sum(c.size for c in self.kept)


def copies(workspace: Workspace, store: FileStore | None = None) -> list[Copy]:
    """Every copy on this machine that could be fetched again, least recently used first."""
    store = store if store is not None else file_store(workspace)
    found = [(path, "sandbox") for path in _files(workspace.cache / "sandbox")]
    if store.local_path(MODELS) != workspace.models:  # the home is not the store
        found += [(folder, "model") for folder in _model_copies(workspace, store)]
        stored = set(store.keys(f"{MEDIA}/"))
        found += [
            (path, "media")
            for path in _files(workspace.media)
            if path.relative_to(workspace.home).as_posix() in stored
        ]
    listed = [c for c in (_copy(path, kind) for path, kind in found) if c is not None]
    return sorted(listed, key=lambda c: (c.used, str(c.path)))


def prune(
    workspace: Workspace, keep: int, *, idle: float = 60.0, store: FileStore | None = None
) -> Pruned:
    """Remove the least recently used copies until the rest take at most ``keep`` bytes,
    never one used within the last ``idle`` seconds."""
    if keep < 0:
        raise ValueError(keep)
    listed = copies(workspace, store)
    total = sum(c.size for c in listed)
    recent = time.time() - idle
    removed = 0
    for copy in listed:  # oldest first: once one is kept, every later one is more recent
        if total <= keep or copy.used > recent:
            break
        _remove(copy.path)
        removed += 1
        total -= copy.size
    return Pruned(tuple(listed[:removed]), tuple(listed[removed:]))


def after_fetch(workspace: Workspace, store: FileStore | None = None) -> Pruned | None:
    """Prune this machine's copies to ``HARVEST_CACHE_KEEP`` after a fetch added one, when
    that is set (None when it is not)."""
    given = os.environ.get(KEEP, "").strip()
    if not given:
        return None
    return prune(workspace, given_size(given, KEEP), store=store)


def _model_copies(workspace: Workspace, store: FileStore) -> list[Path]:
    """Model version folders whose manifest is in the store (so they can be fetched again)."""
    stored = {
        key.removesuffix(MANIFEST_SUFFIX)
        for key in store.keys(f"{MODELS}/")
        if key.endswith(MANIFEST_SUFFIX)
    }
    return [
        folder
        for folder in workspace.models.glob("*/*")
        if folder.is_dir() and folder.relative_to(workspace.home).as_posix() in stored
    ]


def _files(root: Path) -> Iterable[Path]:
    if not root.is_dir():
        return ()
    return (p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _copy(path: Path, kind: str) -> Copy | None:
    """``path`` as a copy, or None when another process pruned it just now."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    size = sum(_size(p) for p in path.rglob("*")) if path.is_dir() else found.st_size
    return Copy(path, kind, size, found.st_mtime)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except FileNotFoundError:  # pruned by another process just now
        return 0


def _remove(path: Path) -> None:
    """Remove a copy so no reader sees half of it: a folder is renamed aside first."""
    if path.is_dir():
        aside = path.with_name(f".pruned-{path.name}-{os.getpid()}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:  # another process pruned it first
            return
        shutil.rmtree(aside, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
