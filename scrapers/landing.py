"""The landing folder: what a crawl child hands its parent, and the table built from it.

``HARVEST_HOME/landing/<run_id>/`` holds ``job.json`` (what to crawl, written by the
parent), ``items.jsonl`` (one record per line, written as items pass the pipelines),
``progress.json`` (counts, rewritten every half second) and ``stats.json`` (written when
the spider closes). A crawl that never wrote ``stats.json`` did not finish. The parent
turns the items into an Arrow table whose schema comes from the spec, so a column keeps
its type even when a crawl saw no value for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from scrapers.extract import COLUMN_TYPES
from scrapers.spec import MEDIA_TYPES, PROVENANCE, SourceSpec

ITEMS = "items.jsonl"
STATS = "stats.json"
PROGRESS = "progress.json"
JOB = "job.json"

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
}
_PROVENANCE_TYPES: dict[str, pa.DataType] = {
    "_url": pa.string(),
    "_fetched_at": pa.timestamp("us", tz="UTC"),
    "_status": pa.int32(),
    "_source": pa.string(),
    "_run_id": pa.string(),
    "_content_hash": pa.string(),
}


@dataclass(frozen=True)
class Job:
    """What the crawl child is asked to do."""

    run_id: str
    source: str
    spec_path: str
    home: str
    base_url: str | None = None
    max_pages: int | None = None
    replay: bool = False


@dataclass(frozen=True)
class CrawlError:
    """One request that failed for good (after its retries)."""

    url: str
    reason: str
    status: int | None = None


@dataclass(frozen=True)
class CrawlStats:
    """What a crawl did, as the parent and the ``harvest.crawls`` table see it."""

    pages: int = 0
    items: int = 0
    errors: int = 0
    retries: int = 0
    duration_s: float = 0.0
    finish_reason: str = ""
    media: int = 0
    robots_forbidden: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    error_samples: tuple[CrawlError, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrawlStats:
        samples = tuple(CrawlError(**e) for e in data.get("error_samples", ()))
        known = {
            k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "error_samples"
        }
        return cls(**known, error_samples=samples)


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (readers never see half a file)."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(_plain(value), default=str), encoding="utf-8")
    os.replace(partial, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


class ItemWriter:
    """Appends records to ``items.jsonl``; dates and datetimes as ISO text."""

    def __init__(self, folder: Path) -> None:
        self._file: TextIO = (folder / ITEMS).open("a", encoding="utf-8")

    def write(self, row: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(row, default=_iso, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.close()


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_items(folder: Path) -> Iterator[dict[str, Any]]:
    """The records a crawl landed (a line cut short by a killed writer is skipped)."""
    path = folder / ITEMS
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


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


def build_table(rows: Iterable[Mapping[str, Any]], spec: SourceSpec) -> pa.Table:
    """Records as a table: spec columns (typed), then any table headers (text), then provenance."""
    records = list(rows)
    types = column_types(spec)
    extra: dict[str, None] = {}
    for record in records:
        for column in record:
            if column not in types and column not in _PROVENANCE_TYPES:
                extra[column] = None
    schema = pa.schema(
        [
            *((name, kind) for name, kind in types.items()),
            *((name, pa.string()) for name in extra),
            *((name, _PROVENANCE_TYPES[name]) for name in PROVENANCE),
        ]
    )
    records.sort(key=lambda r: tuple(str(r.get(k, "")) for k in (*spec.key, "_url", "_row")))
    columns = {
        f.name: pa.array([_typed(r.get(f.name), f.type) for r in records], type=f.type)
        for f in schema
    }
    return pa.table(columns, schema=schema)


def _typed(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_list(kind):
        return (
            [_typed(v, kind.value_type) for v in value]
            if isinstance(value, list)
            else [_typed(value, kind.value_type)]
        )
    if pa.types.is_date32(kind):
        return date.fromisoformat(value) if isinstance(value, str) else value
    if pa.types.is_timestamp(kind):
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if pa.types.is_string(kind):
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, list | dict)
            else str(value)
        )
    if pa.types.is_integer(kind):
        return int(value)
    if pa.types.is_floating(kind):
        return float(value)
    return value
