"""``harvest cache list|prune``: what this machine keeps of files that live elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from core.copies import Copy, copies, prune
from core.sizes import given_size, shown_size
from core.workspace import Workspace
from harvest import output
from harvest.output import JsonFlag

cache_app = typer.Typer(
    help="Copies this machine keeps of model versions, media and versions read in SQL.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


def _rows(found: Sequence[Copy], workspace: Workspace) -> list[dict[str, object]]:
    return [
        {"path": str(c.path.relative_to(workspace.home)), "kind": c.kind, "bytes": c.size}
        for c in found
    ]


@cache_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: JsonFlag = False,
) -> None:
    """Every copy that could be fetched again, least recently used first."""
    workspace: Workspace = ctx.obj
    found = copies(workspace.ensure())
    if as_json:
        output.emit_json(_rows(found, workspace))
        return
    output.table(
        ["path", "kind", "size"],
        [(c.path.relative_to(workspace.home), c.kind, shown_size(c.size)) for c in found],
    )
    output.console.print(f"{len(found)} copies, {shown_size(sum(c.size for c in found))} in all.")


@cache_app.command("prune")
def prune_command(
    ctx: typer.Context,
    keep: Annotated[
        str, typer.Option(help="How much to keep, most recently used first (e.g. 2GB; 0: none).")
    ] = "0",
    as_json: JsonFlag = False,
) -> None:
    """Remove the least recently used copies until the rest take at most --keep (never one
    used in the last minute); each is fetched again when next used."""
    workspace: Workspace = ctx.obj
    pruned = prune(workspace.ensure(), given_size(keep, "--keep"))
    if as_json:
        output.emit_json(
            {
                "removed": _rows(pruned.removed, workspace),
                "freed": pruned.freed,
                "left": pruned.left,
            }
        )
        return
    output.console.print(
        f"Removed {len(pruned.removed)} copies ({shown_size(pruned.freed)}); "
        f"{len(pruned.kept)} left ({shown_size(pruned.left)})."
    )
