"""``harvest services up|down|status|env``: the team setup's servers on loopback, for one machine."""

from __future__ import annotations

from typing import Annotated

import typer

from core.errors import HarvestError
from core.services import running_postgres, start_postgres, stop_postgres
from core.workspace import Workspace
from harvest import output

services_app = typer.Typer(
    help="Start the servers of a team setup (PostgreSQL for the catalog) on loopback.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")


@services_app.command("up")
def up_command(ctx: typer.Context) -> None:
    """Start PostgreSQL for this workspace (or find it running); `harvest services env` next."""
    workspace: Workspace = ctx.obj
    server = start_postgres(workspace.ensure().home)
    output.console.print(
        f"PostgreSQL listens on 127.0.0.1:{server.port} (process {server.pid}). "
        '`eval "$(harvest services env)"` points the catalog at it.',
        markup=False,
    )


@services_app.command("down")
def down_command(ctx: typer.Context) -> None:
    """Stop the servers this workspace started."""
    workspace: Workspace = ctx.obj
    stopped = stop_postgres(workspace.home)
    output.console.print("PostgreSQL stopped." if stopped else "Nothing was running.", markup=False)


@services_app.command("status")
def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which servers are running, where."""
    workspace: Workspace = ctx.obj
    server = running_postgres(workspace.home)
    if as_json:
        output.emit_json({"postgres": {"port": server.port, "pid": server.pid} if server else None})
        return
    output.console.print(
        f"postgres: running on 127.0.0.1:{server.port} (process {server.pid})"
        if server
        else "postgres: not running (`harvest services up` starts it)",
        markup=False,
    )


@services_app.command("env")
def env_command(ctx: typer.Context) -> None:
    """The `export` lines that point a shell's harvest commands at the running servers."""
    workspace: Workspace = ctx.obj
    server = running_postgres(workspace.home)
    if server is None:
        raise HarvestError("No server is running: `harvest services up` starts them.")
    typer.echo(f"export HARVEST_CATALOG='{server.catalog_uri}'")
