"""``harvest demo``: the main job on the bundled data (the full pipeline lands with orchestration)."""

from __future__ import annotations

import typer

from catalog import Catalog
from catalog.importer import import_file
from catalog.samples import IRIS, IRIS_LISTING
from catalog.sandbox import run_sql
from harvest import output


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(ctx: typer.Context) -> None:
    """Import the bundled sample data, then show the listing and an SQL answer."""
    catalog = Catalog.open(ctx.obj)
    result, _ = import_file(
        catalog, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="demo"
    )
    output.console.print(f"Workspace: {catalog.workspace.home}", markup=False)
    output.console.print(
        f"{'Committed' if result.created else 'Already current:'} {result.version.ref}",
        markup=False,
    )
    output.table(
        ["dataset", "title", "version", "rows", "licence"],
        [
            (
                d.name,
                d.listing.title,
                d.latest.number if d.latest else "",
                d.latest.rows if d.latest else "",
                d.listing.license,
            )
            for d in catalog.datasets()
        ],
        title="Catalog",
    )
    query = (
        "SELECT species, count(*) AS flowers, round(avg(petal_length_cm), 2) AS mean_petal_cm "
        "FROM imports.iris GROUP BY species ORDER BY species"
    )
    output.console.print(f'harvest sql "{query}"', markup=False, style="dim")
    answer = run_sql(catalog.workspace, query)
    output.table(answer.column_names, (tuple(r.values()) for r in answer.to_pylist()), title="SQL")
