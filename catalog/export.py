"""Export a dataset version to Parquet, CSV or JSON Lines, atomically (a temp file, then a rename)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from catalog.engine import first_line, quote_literal
from catalog.store import Catalog
from core.errors import HarvestError, InvalidInputError

FORMATS = {
    "parquet": "(FORMAT parquet)",
    "csv": "(FORMAT csv, HEADER true)",
    "jsonl": "(FORMAT json)",
}
_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def format_for(path: Path, fmt: str | None) -> str:
    """The export format named, or the one the file's suffix implies."""
    chosen = (fmt or _SUFFIXES.get(path.suffix.lower(), "")).lower()
    if chosen not in FORMATS:
        raise InvalidInputError(
            f"Cannot tell which format to write '{path.name}' in: use a .parquet, .csv or .jsonl name, or --format."
        )
    return chosen


def export(
    catalog: Catalog, ref: str, path: str | Path, fmt: str | None = None
) -> tuple[Path, int]:
    """Write version ``ref`` to ``path``; return the path and the number of rows written.

    The version's files are checked against what its commit recorded first.
    """
    target = Path(path)
    chosen = format_for(target, fmt)
    if not target.parent.is_dir():
        raise InvalidInputError(f"The folder '{target.parent}' does not exist.")
    version = catalog.ensure_intact(ref)  # never export rows that are not the committed ones
    source = catalog.table_sql(version)
    partial = target.with_name(f".{target.name}.partial")
    try:
        catalog.cursor().execute(
            f"COPY (SELECT * FROM {source}) TO {quote_literal(str(partial))} {FORMATS[chosen]}"
        )
        os.replace(partial, target)
    except duckdb.Error as error:
        partial.unlink(missing_ok=True)
        raise HarvestError(f"Could not export {ref} to '{target}': {first_line(error)}") from error
    return target, version.rows
