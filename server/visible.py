"""What exists for the caller: datasets and versions looked up through the access rules, so a
dataset they may not see answers exactly as a name that never existed (the same 404 sentence),
and rows as JSON values.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from catalog.access import Principal
from catalog.export import json_value
from catalog.records import Dataset, DatasetRef, Version
from core.errors import InvalidInputError, NotFoundError
from server.deps import Services
from server.schemas import ColumnOut, DatasetOut, VersionOut


def no_dataset(name: str) -> NotFoundError:
    """The one answer for a dataset that does not exist for the caller."""
    return NotFoundError(f"There is no dataset '{name}'.")


def find_dataset(s: Services, principal: Principal, name: str, *, read: bool) -> Dataset:
    """The dataset ``name`` (``stage.name``) if the caller may see it (and read it, when
    ``read``: a gated dataset without a grant is a 403 that says how to ask)."""
    try:
        ref = DatasetRef.parse(name)
    except InvalidInputError:
        raise no_dataset(name) from None
    if ref.version is not None or ref.qualified != name:
        raise no_dataset(name)
    if not s.accounts.may_see(principal, name):
        raise no_dataset(name)
    found = s.dataset(name)
    if found is None:
        raise no_dataset(name)
    if read:
        s.accounts.require_read(principal, name)
    return found


def find_version(s: Services, dataset: Dataset, which: str) -> Version:
    """Version ``which`` (a number, or ``latest``) of ``dataset``."""
    versions = s.versions(dataset.name)
    if not versions:
        raise NotFoundError(f"{dataset.name} has no versions yet.")
    if which == "latest":
        return versions[-1]
    number = int(which) if which.isdigit() else 0
    for version in versions:
        if version.number == number:
            return version
    raise NotFoundError(
        f"{dataset.name} has no version {which}; it has versions 1 to {versions[-1].number}."
    )


def visible_refs(s: Services, principal: Principal, refs: tuple[str, ...]) -> list[str]:
    """The refs (``name@N``) among ``refs`` whose dataset the caller may see."""
    return [r for r in refs if s.accounts.may_see(principal, r.split("@", 1)[0])]


def version_out(s: Services, principal: Principal, version: Version) -> VersionOut:
    return VersionOut.of(version, visible_refs(s, principal, version.parents))


def dataset_out(s: Services, principal: Principal, dataset: Dataset) -> DatasetOut:
    access = s.accounts.access(dataset.name)
    latest = version_out(s, principal, dataset.latest) if dataset.latest else None
    readable = s.accounts.may_read(principal, dataset.name)
    return DatasetOut.of(dataset, access.owner, access.visibility, readable, latest)


def columns_of(version: Version) -> list[ColumnOut]:
    """The version's columns with their statistics."""
    stats = {c.name: c for c in version.stats}
    out = []
    for name, kind in version.columns:
        stat = stats.get(name)
        out.append(
            ColumnOut(name=name, type=kind)
            if stat is None
            else ColumnOut(
                name=name,
                type=kind,
                nulls=stat.nulls,
                distinct=stat.distinct,
                min=stat.min,
                max=stat.max,
                mean=stat.mean,
            )
        )
    return out


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as JSON-ready mappings (non-finite numbers as null, bytes as
    base64)."""
    return [{k: json_value(v) for k, v in row.items()} for row in table.to_pylist()]


def arrow_columns(schema: pa.Schema) -> list[ColumnOut]:
    return [ColumnOut(name=f.name, type=str(f.type)) for f in schema]
