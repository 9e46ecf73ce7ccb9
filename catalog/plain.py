"""When a version's own Parquet files, read alone, give exactly its rows.

Usually they do: one commit writes the table's files, with no delete file, unencrypted, in
the local data path. Then a reader can skip DuckLake's scan (a catalog query to list the
files on every read) and read the files directly, or send a file as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb

from catalog.engine import quote_literal
from catalog.records import DataFile


def read_parquet_sql(files: Sequence[str]) -> str:
    """A query reading exactly ``files``."""
    listed = ", ".join(quote_literal(f) for f in files)
    return f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"


def plain_files(
    con: duckdb.DuckDBPyConnection, table: str, listed: Sequence[DataFile], data_path: str
) -> tuple[str, ...]:
    """``listed`` (the data files of the lake table expression ``table``) when reading them
    alone gives its rows and columns; else nothing. Not when there is a delete file or
    encryption, a file outside the local data path, or columns named or typed otherwise than
    DuckLake's scan gives them (files merged from several snapshots carry an extra column only
    DuckLake's scan filters by)."""
    if "://" in data_path or not listed:
        return ()
    root = os.path.join(os.path.abspath(data_path), "")
    files = tuple(os.path.abspath(f.path) for f in listed)
    if any(f.delete_file is not None or f.encrypted for f in listed) or not all(
        f.startswith(root) for f in files
    ):
        return ()
    lake = [row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
    read = [row[:2] for row in con.execute(f"DESCRIBE {read_parquet_sql(files)}").fetchall()]
    return files if lake == read else ()
