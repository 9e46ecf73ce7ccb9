"""The table a crawl commits: landed records typed by the spec.

The schema comes from the spec (field types, each extractor's fixed columns, provenance),
so a column keeps its type even when a crawl saw no value for it, and the dataset's
content hash only changes when the content does. Table headers found by the ``tables``
extractor are text columns after the spec's.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj

from scrapers.landing import ITEMS
from scrapers.spec import COLUMN_TYPES, MEDIA_TYPES, PROVENANCE, SourceSpec

_ARROW: dict[str, pa.DataType] = {
    "text": pa.string(),
    "url": pa.string(),
    "image": pa.string(),
    "file": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "price": pa.float64(),
    "date": pa.date32(),
    "bool": pa.bool_(),
    "texts": pa.list_(pa.string()),
}
_PROVENANCE_TYPES: dict[str, pa.DataType] = {
    "_url": pa.string(),
    "_fetched_at": pa.timestamp("us", tz="UTC"),
    "_status": pa.int32(),
    "_source": pa.string(),
    "_run_id": pa.string(),
    "_content_hash": pa.string(),
}


def column_types(spec: SourceSpec) -> dict[str, pa.DataType]:
    """The Arrow type of every column the spec defines (table headers aside), in order."""
    types: dict[str, pa.DataType] = {}
    for name, spec_field in (spec.item.fields if spec.item else {}).items():
        kind = _ARROW[spec_field.type]
        types[name] = pa.list_(kind) if spec_field.many else kind
        if spec_field.type == "price":
            types[f"{name}_currency"] = pa.string()
        if spec_field.type in MEDIA_TYPES:
            types[f"{name}_url"] = pa.list_(pa.string()) if spec_field.many else pa.string()
    for column in spec.columns():
        if column not in types and column not in PROVENANCE:
            types[column] = _ARROW[COLUMN_TYPES[column]]
    return types


def landed_table(folder: Path, spec: SourceSpec) -> pa.Table:
    """The records in ``folder/items.jsonl`` as a table: spec columns (typed), then columns the
    spec does not know (table headers, a subclass's additions), then provenance; rows sorted
    by the record key."""
    types = column_types(spec)
    known = pa.schema([*types.items(), *((name, _PROVENANCE_TYPES[name]) for name in PROVENANCE)])
    path = folder / ITEMS
    if not path.exists() or path.stat().st_size == 0:
        return known.empty_table()
    as_read = pa.schema([pa.field(f.name, _dates_as_text(f.type)) for f in known])
    options = pj.ParseOptions(explicit_schema=as_read, unexpected_field_behavior="infer")
    read = pj.read_json(path, parse_options=options)
    extra = [name for name in read.column_names if name not in known.names]
    target = pa.schema(
        [
            known.field(n) if n in known.names else _extra(read.schema.field(n))
            for n in read.column_names
        ]
    )
    table = read.cast(target).select([*types, *extra, *PROVENANCE])
    keys = dict.fromkeys((*spec.key, "_url", "_row"))
    return table.sort_by([(name, "ascending") for name in keys if name in table.column_names])


def _extra(found: pa.Field) -> pa.Field:
    """A column the spec does not know (a table header, a subclass's addition): as read,
    or text when no row had a value."""
    return pa.field(found.name, pa.string()) if pa.types.is_null(found.type) else found


def _dates_as_text(kind: pa.DataType) -> pa.DataType:
    """Arrow's JSON reader reads dates as text; they are cast afterwards."""
    if pa.types.is_date32(kind):
        return pa.string()
    if pa.types.is_list(kind) and pa.types.is_date32(kind.value_type):
        return pa.list_(pa.string())
    return kind
