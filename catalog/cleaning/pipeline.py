"""``clean(catalog, source, spec)``: one raw version in, one clean version (or nothing) out.

Reads ``raw.<source>@N``, settles the spec (given, the file beside the source spec, or
inferred), transforms the table, profiles it, checks the rules and scores it. When an
``error`` rule fails nothing is committed; otherwise ``clean.<output>`` gets a new version
whose lineage names the raw version, whose producer is ``clean:<spec hash>``, and which
carries the quality score and the whole report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from catalog.cleaning.infer import complete_spec, infer_spec
from catalog.cleaning.profile import profile_table
from catalog.cleaning.report import (
    QualityReport,
    RowCounts,
    SchemaChange,
    Timing,
    to_json,
)
from catalog.cleaning.rules import RuleContext, RuleResult, check_all
from catalog.cleaning.score import quality_score
from catalog.cleaning.spec import CleanSpec, find_spec, load_spec
from catalog.cleaning.transform import transform
from catalog.drift import table_drift
from catalog.records import Dataset, DatasetRef, Listing, Version
from catalog.store import Catalog
from core.errors import NotFoundError

VOLATILE = ("_fetched_at", "_run_id")


@dataclass(frozen=True)
class CleanResult:
    """What ``clean`` did: the report always; the version unless an error rule failed."""

    report: QualityReport
    version: Version | None
    created: bool

    @property
    def blocked(self) -> bool:
        return self.version is None

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return self.report.failed

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return self.report.warnings

    @property
    def score(self) -> float:
        return self.report.score.value


def raw_ref(catalog: Catalog, source_name: str) -> Version:
    """The raw version ``source_name`` names (``products``, ``products@3``, ``raw.products@3``)."""
    ref = DatasetRef.parse(source_name, default_stage="raw")
    return catalog.version(str(ref))


def settle_spec(
    catalog: Catalog,
    source: str,
    spec: CleanSpec | Path | None,
    table: pa.Table,
    key: tuple[str, ...],
) -> CleanSpec:
    """The spec to use: given, else the file beside the source spec, else inferred; then
    completed with the raw columns it leaves out."""
    if isinstance(spec, Path):
        spec = load_spec(spec, source)
    if spec is None:
        found = find_spec(catalog.workspace, source)
        spec = load_spec(found, source) if found else infer_spec(source, table, key)
    return complete_spec(spec, table, key)


def _previous(catalog: Catalog, dataset: str) -> Version | None:
    try:
        versions = catalog.versions(dataset)
    except NotFoundError:
        return None
    return versions[-1] if versions else None


def _duckdb_types(table: pa.Table) -> list[tuple[str, str]]:
    con = duckdb.connect()
    try:
        con.register("typed", table)
        return [(str(r[0]), str(r[1])) for r in con.execute("DESCRIBE typed").fetchall()]
    finally:
        con.close()


def schema_changes(
    before: tuple[tuple[str, str], ...], after: list[tuple[str, str]]
) -> tuple[SchemaChange, ...]:
    """Columns added, removed or retyped between two schemas."""
    old, new = dict(before), dict(after)
    changes = [
        SchemaChange(name, old.get(name), new.get(name))
        for name in new
        if old.get(name) != new[name]
    ]
    changes += [SchemaChange(name, old[name], None) for name in old if name not in new]
    return tuple(changes)


def _listing(
    catalog: Catalog, raw: Dataset, dataset: str, spec: CleanSpec, exists: bool
) -> Listing | None:
    """The clean dataset's card: the raw one's (first version) with the spec's overrides."""
    wanted = spec.listing
    if exists and not (wanted.title or wanted.description or wanted.tags):
        return None
    base = catalog.dataset(dataset).listing if exists else raw.listing
    return Listing(
        title=wanted.title or base.title or dataset,
        description=wanted.description
        or (base.description + (" " if base.description else "") + f"Cleaned from {raw.name}."),
        license=base.license,
        tags=tuple(dict.fromkeys((*base.tags, *wanted.tags, "clean"))),
        publisher=base.publisher,
        source_url=base.source_url,
        cadence=base.cadence,
    )


def clean(
    catalog: Catalog,
    source_name: str,
    spec: CleanSpec | Path | None = None,
    *,
    now: datetime | None = None,
) -> CleanResult:
    """Clean the raw version ``source_name`` into ``clean.<output>`` (see the module docstring)."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    raw = raw_ref(catalog, source_name)
    source = raw.dataset.split(".", 1)[1]
    table = catalog.read(raw)
    raw_dataset = catalog.dataset(raw.dataset)
    raw_key = raw_dataset.key
    read_s = time.perf_counter() - started
    settled = settle_spec(catalog, source, spec, table, raw_key)
    dataset = f"clean.{settled.target}"
    previous = _previous(catalog, dataset)
    done = transform(table, settled)
    clean_table = done.table
    profile = profile_table(clean_table)
    key = tuple(c.output for k in (settled.key or ()) for c in settled.columns if c.name == k) or (
        settled.key or ()
    )
    context = RuleContext(
        key=key,
        previous_rows=previous.rows if previous else None,
        freshness=settled.freshness,
        now=now,
    )
    rules = check_all(settled.rules, clean_table, context)
    score = quality_score(
        profile,
        parsed=sum(c.parsed for c in done.columns),
        unparseable=sum(c.unparseable for c in done.columns),
        rules=rules,
        outlier_rows=done.outlier_rows,
        rows=clean_table.num_rows,
    )
    duplicates = sum(d.removed for d in done.duplicates)
    drift_started = time.perf_counter()
    drift = (
        table_drift(catalog, previous, clean_table, label=f"{dataset}@{previous.number + 1}")
        if previous
        else None
    )
    drift_s = time.perf_counter() - drift_started
    before = previous.rows if previous else None
    change = clean_table.num_rows - before if before is not None else None
    report = QualityReport(
        dataset=dataset,
        source=raw.ref,
        spec_hash=settled.hash,
        spec_origin=settled.origin,
        created_at=now.isoformat(),
        rows=RowCounts(
            raw=table.num_rows,
            clean=clean_table.num_rows,
            dropped_missing=done.dropped_missing,
            duplicates=duplicates,
            previous=before,
            change=change,
            change_share=change / before if change is not None and before else None,
        ),
        columns=done.columns,
        duplicates=done.duplicates,
        pii=done.pii,
        outlier_rows=done.outlier_rows,
        schema_changes=schema_changes(previous.columns, _duckdb_types(clean_table))
        if previous
        else (),
        profile=profile,
        rules=rules,
        score=score,
        spec=settled,
        drift=drift,
        timings=(
            Timing("read", round(read_s, 4)),
            *done.timings,
            Timing("drift", round(drift_s, 4)),
            Timing("total", round(time.perf_counter() - started, 4)),
        ),
    )
    if report.failed:
        return CleanResult(report, None, False)
    committed = catalog.commit(
        dataset,
        clean_table,
        producer=f"clean:{settled.hash}",
        message=f"Cleaned {raw.ref} with spec {settled.hash} ({settled.origin or 'given'})",
        parents=(raw.ref,),
        key=key if all(k in clean_table.column_names for k in key) else (),
        volatile=tuple(c for c in VOLATILE if c in clean_table.column_names),
        listing=_listing(catalog, raw_dataset, dataset, settled, previous is not None),
        quality_score=score.value,
        report=to_json(report),
    )
    return CleanResult(replace(report), committed.version, committed.created)
