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

_RECORDS = ("ColumnStats", "CommitResult", "CommittedFile", "DataFile", "Dataset", "DatasetRef")
_HOMES = {
    **dict.fromkeys((*_RECORDS, "Diff", "Listing", "Version", "VersionCheck"), "catalog.records"),
    **dict.fromkeys(("Catalog", "Staged"), "catalog.store"),
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'catalog' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
