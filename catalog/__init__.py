"""The dataset catalog: versioned, time-travelling datasets on DuckLake.

``Catalog.open(home)`` is the way in; see ``catalog/store.py``. The names below load on
first use, so a light module such as :mod:`catalog.vocabulary` can be imported (by the
crawl's child process, say) without loading DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catalog.records import (
        ColumnStats,
        CommitResult,
        CommittedFile,
        DataFile,
        Dataset,
        DatasetRef,
        Diff,
        Listing,
        Version,
        VersionCheck,
    )
    from catalog.store import Catalog, Staged

__all__ = [
    "Catalog",
    "ColumnStats",
    "CommitResult",
    "CommittedFile",
    "DataFile",
    "Dataset",
    "DatasetRef",
    "Diff",
    "Listing",
    "Staged",
    "Version",
    "VersionCheck",
]
_HOMES = {
    name: "catalog.store" if name in ("Catalog", "Staged") else "catalog.records"
    for name in __all__
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'catalog' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
