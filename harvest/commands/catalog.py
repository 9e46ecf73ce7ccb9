"""``harvest catalog list|show|versions|diff|drift|export|verify|vacuum|owner|visibility``, ``harvest import``
and ``harvest sql``."""

from __future__ import annotations

import csv as csv_module
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from catalog import Catalog, Dataset, Listing, Version
from catalog.access import Accounts
from catalog.export import export
from catalog.importer import import_file
from catalog.sandbox import Limits, run_sql
from core.workspace import Workspace
from harvest import output
from harvest.commands.access import (
    OwnerOption,
    VisibilityOption,
    access_json,
    apply_owner,
    check_owner,
    describe_access,
    print_access,
)
from harvest.output import JsonFlag

catalog_app = typer.Typer(
    help="Browse datasets, their versions and diffs; export a version.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the catalog commands to ``app``."""
    app.add_typer(catalog_app, name="catalog")
    app.command("import")(import_command)
    app.command("sql")(sql_command)


def open_catalog(ctx: typer.Context) -> Catalog:
    workspace: Workspace = ctx.obj
    return Catalog.open(workspace)


def _age(version: Version | None) -> str:
    return version.created_at.strftime("%Y-%m-%d %H:%M") if version else ""


@catalog_app.command("list")
def list_command(
    ctx: typer.Context,
    stage: Annotated[
        str | None, typer.Option(help="Only this stage: raw, clean, imports, predictions.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List every dataset with its latest version."""
    datasets = open_catalog(ctx).datasets(stage)
    if as_json:
        output.emit_json([_dataset_summary(d) for d in datasets])
        return
    if not datasets:
        output.console.print(
            "No datasets yet: `harvest import FILE --name NAME` or `harvest scrape SOURCE` adds one."
        )
        return
    output.table(
        ["dataset", "title", "version", "rows", "quality", "updated", "tags"],
        [
            (
                d.name,
                d.listing.title,
                d.latest.number if d.latest else "-",
                d.latest.rows if d.latest else "",
                _score(d.latest),
                _age(d.latest),
                ", ".join(d.listing.tags),
            )
            for d in datasets
        ],
    )


def _score(version: Version | None) -> str:
    return f"{version.quality_score:.0f}" if version and version.quality_score is not None else ""


def _dataset_summary(d: Dataset) -> dict[str, object]:
    return {
        "name": d.name,
        "listing": d.listing,
        "key": d.key,
        "versions": d.version_count,
        "latest": _version_summary(d.latest) if d.latest else None,
    }


def _version_summary(v: Version) -> dict[str, object]:
    return {
        "ref": v.ref,
        "version": v.number,
        "snapshot_id": v.snapshot_id,
        "rows": v.rows,
        "columns": [{"name": n, "type": t} for n, t in v.columns],
        "content_hash": v.content_hash,
        "producer": v.producer,
        "parents": v.parents,
        "message": v.message,
        "created_at": v.created_at,
        "quality_score": v.quality_score,
    }


@catalog_app.command("show")
def show_command(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """Show a dataset's card, key and latest version with column statistics."""
    catalog = open_catalog(ctx)
    dataset = catalog.dataset(name)
    version = catalog.version(name) if dataset.latest else None
    access = Accounts(catalog).access(dataset.name)
    if as_json:
        summary = _dataset_summary(dataset)
        summary["access"] = access_json(access)
        summary["stats"] = version.stats if version else []
        output.emit_json(summary)
        return
    card = dataset.listing
    lines = [
        f"[bold]{dataset.name}[/]  {card.title}",
        card.description,
        f"licence: {card.license or '-'}   publisher: {card.publisher or '-'}   cadence: {card.cadence or '-'}",
        f"source: {card.source_url or '-'}   tags: {', '.join(card.tags) or '-'}   key: {', '.join(dataset.key) or '-'}",
        f"access: {describe_access(access)}",
    ]
    for line in lines:
        output.console.print(line, markup=line is lines[0])
    if version is None:
        output.console.print("No versions yet.")
        return
    output.console.print(
        f"version {version.number} of {dataset.version_count}: {version.rows} rows, by {version.producer}, "
        f"{_age(version)}"
        + (f", quality {version.quality_score:.0f}" if version.quality_score is not None else ""),
        markup=False,
    )
    output.table(
        ["column", "type", "nulls", "distinct", "min", "max", "mean"],
        [
            (
                s.name,
                s.type,
                s.nulls,
                s.distinct,
                s.min,
                s.max,
                f"{s.mean:.4g}" if s.mean is not None else "",
            )
            for s in version.stats
        ],
    )


@catalog_app.command("versions")
def versions_command(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """List every version of a dataset with its producer, parents and message."""
    versions = open_catalog(ctx).versions(name)
    if as_json:
        output.emit_json([_version_summary(v) for v in versions])
        return
    output.table(
        ["version", "rows", "created", "producer", "parents", "message", "snapshot"],
        [
            (v.number, v.rows, _age(v), v.producer, ", ".join(v.parents), v.message, v.snapshot_id)
            for v in versions
        ],
    )


@catalog_app.command("diff")
def diff_command(
    ctx: typer.Context,
    before: Annotated[str, typer.Argument(help="The older version, e.g. raw.products@1.")],
    after: Annotated[str, typer.Argument(help="The newer version, e.g. raw.products@2.")],
    limit: Annotated[int, typer.Option(help="Rows to show of each kind.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Rows added, removed and changed between two versions, matched by the dataset key."""
    diff = open_catalog(ctx).diff(before, after)
    if as_json:
        output.emit_json(
            {
                "before": diff.before,
                "after": diff.after,
                "key": diff.key,
                "added": diff.added.slice(0, limit).to_pylist(),
                "removed": diff.removed.slice(0, limit).to_pylist(),
                "changed": diff.changed.slice(0, limit).to_pylist(),
                "counts": {
                    "added": diff.added.num_rows,
                    "removed": diff.removed.num_rows,
                    "changed": diff.changed.num_rows,
                },
            }
        )
        return
    output.console.print(
        f"{diff.before} -> {diff.after} by {', '.join(diff.key)}: {diff.added.num_rows} added, "
        f"{diff.removed.num_rows} removed, {diff.changed.num_rows} value(s) changed",
        markup=False,
    )
    for title, table in (
        ("added", diff.added),
        ("removed", diff.removed),
        ("changed", diff.changed),
    ):
        if table.num_rows:
            _print_arrow(table.slice(0, limit), title=title)


@catalog_app.command("drift")
def drift_command(
    ctx: typer.Context,
    before: Annotated[str, typer.Argument(help="The reference version, e.g. clean.products@1.")],
    after: Annotated[
        str, typer.Argument(help="The version compared with it, e.g. clean.products@2.")
    ],
    threshold: Annotated[
        float, typer.Option(help="Flag columns whose score (PSI) is above this.")
    ] = 0.2,  # catalog.drift.DEFAULT_THRESHOLD (imported when the command runs)
    as_json: JsonFlag = False,
) -> None:
    """Per-column drift between two versions: PSI and KS for numbers, PSI and Jensen-Shannon
    distance for categories, length and vocabulary shift for text, missing-rate change."""
    from catalog.drift import version_drift  # numpy loads only for this command

    report = version_drift(open_catalog(ctx), before, after)
    if as_json:
        output.emit_json(report.to_json())
        return
    output.console.print(report.summary(threshold), markup=False)
    output.table(
        ["column", "kind", "score", "statistics", "missing change", ""],
        [
            (
                c.column,
                c.kind,
                f"{c.score:.3f}",
                ", ".join(
                    f"{name} {value:.3f}"
                    for name, value in c.statistics().items()
                    if name != "missing_change"
                ),
                f"{c.missing_change:+.1%}",
                "drift" if c.score > threshold else "",
            )
            for c in report.columns
        ],
    )


def _print_arrow(table: pa.Table, title: str | None = None) -> None:
    output.table(table.column_names, (tuple(r.values()) for r in table.to_pylist()), title=title)


@catalog_app.command("export")
def export_command(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(help="The version to export, e.g. clean.products@3 (latest without @N)."),
    ],
    path: Annotated[Path, typer.Argument(help="The file to write: .parquet, .csv or .jsonl.")],
    fmt: Annotated[str | None, typer.Option("--format", help="parquet, csv or jsonl.")] = None,
) -> None:
    """Write a version to a Parquet, CSV or JSON Lines file."""
    catalog = open_catalog(ctx)
    written, rows = export(catalog, ref, path, fmt)
    output.console.print(
        f"Wrote {rows} rows of {catalog.version(ref).ref} to {written}", markup=False
    )


@catalog_app.command("verify")
def verify_command(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="Only this dataset's versions (every dataset without).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every version's data files against the sizes and checksums its commit recorded."""
    checks = open_catalog(ctx).verify(name)
    failed = [c for c in checks if c.failed]
    if as_json:
        output.emit_json([{"version": c.ref, "status": c.status, "files": c.files} for c in checks])
    else:
        output.table(
            ["version", "status", "files"], [(c.ref, c.status, ", ".join(c.files)) for c in checks]
        )
        for check in failed:
            output.fail(check.sentence)
        counts = Counter(c.status for c in checks)
        output.console.print(
            ", ".join(f"{counts[s]} {s}" for s in ("intact", "altered", "missing", "unverified")),
            markup=False,
        )
    if failed:
        raise typer.Exit(1)


@catalog_app.command("vacuum")
def vacuum_command(
    ctx: typer.Context,
    older_than_hours: Annotated[float, typer.Option(help="Only files older than this.")] = 1.0,
) -> None:
    """Merge the registry's small files and remove files no version needs (merged, or left by killed writers)."""
    removed = open_catalog(ctx).vacuum(older_than_hours)
    output.console.print(f"Removed {removed} unused file(s).")


@catalog_app.command("owner")
def owner_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset, e.g. raw.products.")],
    owner: Annotated[str, typer.Argument(help="The user or organisation that owns it.")],
) -> None:
    """Give a dataset an owner: a user, or an organisation whose members read it when private."""
    catalog = open_catalog(ctx)
    dataset = catalog.dataset(name).name
    print_access(apply_owner(catalog, dataset, owner, None))


@catalog_app.command("visibility")
def visibility_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset, e.g. raw.products.")],
    visibility: Annotated[
        str, typer.Argument(help="public, private (its owner only) or gated (rows need a grant).")
    ],
    auto_grant: Annotated[
        bool | None,
        typer.Option(
            "--auto-grant/--no-auto-grant", help="Grant access requests at once (gated datasets)."
        ),
    ] = None,
) -> None:
    """Set who may read a dataset: everyone, its owner only, or those granted access."""
    catalog = open_catalog(ctx)
    dataset = catalog.dataset(name).name
    print_access(apply_owner(catalog, dataset, None, visibility, auto_grant=auto_grant))


def import_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV, TSV, JSON Lines, JSON, Parquet or Excel file.")
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", help="Dataset name: NAME or imports.NAME (imports go nowhere else)."
        ),
    ],
    key: Annotated[str | None, typer.Option(help="Comma-separated key columns.")] = None,
    title: Annotated[
        str | None, typer.Option(help="Listing title (any listing option replaces the card).")
    ] = None,
    description: Annotated[str, typer.Option(help="Listing description.")] = "",
    license: Annotated[str, typer.Option("--license", help="Licence of the data.")] = "",
    tags: Annotated[str, typer.Option(help="Comma-separated tags.")] = "",
    message: Annotated[str, typer.Option(help="Version message.")] = "",
    owner: OwnerOption = None,
    visibility: VisibilityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import a file as a new version of imports.NAME, reporting anything messy found in it."""
    catalog = open_catalog(ctx)
    check_owner(catalog, owner, visibility)
    listing = None
    if title or description or license or tags:  # any listing option replaces the card
        listing = Listing(
            title=title or file.stem.replace("_", " ").title(),
            description=description,
            license=license,
            tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
            source_url=str(file.resolve()),
        )
    with output.console.status(f"Importing {file.name}..."):
        result, report = import_file(
            catalog,
            file,
            name,
            listing=listing,
            message=message,
            key=tuple(k.strip() for k in key.split(",")) if key else None,
        )
    access = apply_owner(catalog, result.version.dataset, owner, visibility)
    if as_json:
        output.emit_json(
            {
                "version": _version_summary(result.version),
                "created": result.created,
                "findings": report.findings(),
                **({"access": access_json(access)} if access else {}),
            }
        )
        return
    verb = "Committed" if result.created else "Unchanged, still"
    output.console.print(
        f"{verb} {result.version.ref}: {result.version.rows} rows, "
        f"{len(result.version.columns)} columns ({report.format})",
        markup=False,
    )
    for finding in report.findings():
        output.console.print(f"  - {finding}", markup=False)
    print_access(access)


def sql_command(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(help="One SELECT; datasets are stage.name, versions stage.name@N.")
    ],
    as_json: JsonFlag = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    max_rows: Annotated[int, typer.Option(help="At most this many rows.")] = 1000,
    timeout: Annotated[float, typer.Option(help="Seconds before the query is stopped.")] = 30.0,
) -> None:
    """Run a read-only SQL query over the catalog in the sandbox."""
    table = run_sql(ctx.obj, query, Limits(seconds=timeout, max_rows=max_rows))
    if as_json:
        output.emit_json(table.to_pylist())
    elif csv:
        writer = csv_module.writer(sys.stdout, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(tuple(row.values()) for row in table.to_pylist())
    else:
        _print_arrow(table)
        output.console.print(f"{table.num_rows} row(s)", style="dim")
