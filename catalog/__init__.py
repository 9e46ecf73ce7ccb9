"""The dataset catalog: versioned, time-travelling datasets on DuckLake.

``Catalog.open(home)`` is the way in; see ``catalog/store.py``.
"""

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
