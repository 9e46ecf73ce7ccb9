"""What a person reads in the Dagster UI about a materialisation: version, rows, preview, diff.

Pure formatting of catalog records into Dagster metadata; no IO beyond reading the catalog
it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableSchema

from catalog import Catalog, Diff, Version

PREVIEW_ROWS = 10
DIFF_ROWS = 10
CELL_CHARS = 60

Metadata = dict[str, Any]


def cell(value: object) -> str:
    """One value as a Markdown table cell: short, one line, pipes escaped."""
    if value is None:
        return ""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def markdown_table(table: pa.Table, limit: int = PREVIEW_ROWS, total: int | None = None) -> str:
    """The first ``limit`` rows of ``table`` (of ``total`` in all) as a Markdown table."""
    if table.num_columns == 0:
        return "_(no columns)_"
    names = table.column_names
    lines = [
        "| " + " | ".join(cell(name) for name in names) + " |",
        "|" + "---|" * len(names),
    ]
    for row in table.slice(0, limit).to_pylist():
        lines.append("| " + " | ".join(cell(row[name]) for name in names) + " |")
    total = table.num_rows if total is None else total
    if total > min(limit, table.num_rows):
        lines.append(f"\n_{min(limit, table.num_rows)} of {total} rows._")
    elif total == 0:
        lines.append("\n_(no rows)_")
    return "\n".join(lines)


def readable_columns(table: pa.Table, key: Sequence[str] = ()) -> pa.Table:
    """The columns people read first: the key, data columns and ``_url``; provenance left out."""
    keep = [n for n in table.column_names if not n.startswith("_") or n in (*key, "_url")]
    return table.select(keep) if keep else table


def diff_markdown(diff: Diff, limit: int = DIFF_ROWS) -> str:
    """Rows added, removed and changed between two versions, with a sample of each."""
    parts = [
        f"**{diff.before} → {diff.after}** by key `{', '.join(diff.key) or '(whole row)'}`: "
        f"{diff.added.num_rows} added, {diff.removed.num_rows} removed, "
        f"{diff.changed.num_rows} values changed."
    ]
    for title, rows in (
        ("Added", diff.added),
        ("Removed", diff.removed),
        ("Changed", diff.changed),
    ):
        if rows.num_rows:
            shown = readable_columns(rows, diff.key)
            parts.append(f"\n**{title}**\n\n{markdown_table(shown, limit)}")
    return "\n".join(parts)


def column_schema(version: Version) -> TableSchema:
    """The version's columns as a Dagster table schema (shown in the asset's overview)."""
    return TableSchema(columns=[TableColumn(name, type_) for name, type_ in version.columns])


def version_metadata(catalog: Catalog, version: Version, *, diff: bool = True) -> Metadata:
    """Metadata for a dataset version: ref, rows, schema, preview and diff against the previous."""
    key = catalog.dataset(version.dataset).key
    metadata: Metadata = {
        "dataset": version.ref,
        "version": version.number,
        "dagster/row_count": version.rows,
        "dagster/column_schema": column_schema(version),
        "content_hash": version.content_hash,
        "producer": version.producer,
        "parents": ", ".join(version.parents) or "(none)",
        "preview": MetadataValue.md(
            markdown_table(
                readable_columns(catalog.read(version, limit=PREVIEW_ROWS), key),
                total=version.rows,
            )
        ),
    }
    if version.quality_score is not None:
        metadata["quality_score"] = MetadataValue.float(float(version.quality_score))
    if diff and version.number > 1:
        previous = f"{version.dataset}@{version.number - 1}"
        metadata["diff"] = MetadataValue.md(diff_markdown(catalog.diff(previous, version.ref)))
    return metadata


def numbers(values: Mapping[str, object]) -> Metadata:
    """Numeric entries of ``values`` as float metadata (metrics, crawl counts)."""
    return {
        key: MetadataValue.float(float(value))
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def bullet_list(lines: Sequence[str]) -> MetadataValue:
    """Lines as a Markdown bullet list."""
    return MetadataValue.md("\n".join(f"- {line}" for line in lines) or "_(none)_")
