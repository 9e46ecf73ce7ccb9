"""``harvest services up|down|status|env``: the team setup's servers on loopback, for one machine."""

from __future__ import annotations

import shlex

import typer

from core import services
from core.errors import HarvestError
from core.workspace import Workspace
from harvest import output
from harvest.output import JsonFlag

services_app = typer.Typer(
    help="Start the servers of a team setup (PostgreSQL, an S3 server, Redis) on loopback.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")


def _where(found: services.Services) -> dict[str, str | None]:
    return {
        "postgres": f"127.0.0.1:{found.postgres.port}" if found.postgres else None,
        "s3": f"http://{found.s3.endpoint}" if found.s3 else None,
        "redis": found.redis.url if found.redis else None,
    }


@services_app.command("up")
def up_command(ctx: typer.Context) -> None:
    """Start PostgreSQL, the S3 server and Redis for this workspace (or find them running)."""
    workspace: Workspace = ctx.obj
    found = services.start(workspace.ensure().home)
    listed = ", ".join(f"{name} on {where}" for name, where in _where(found).items())
    output.console.print(
        f'Running: {listed}. `eval "$(harvest services env)"` points this shell\'s harvest at them.',
        markup=False,
    )


@services_app.command("down")
def down_command(ctx: typer.Context) -> None:
    """Stop the servers this workspace started."""
    workspace: Workspace = ctx.obj
    stopped = services.stop(workspace.home)
    output.console.print(
        f"Stopped {', '.join(stopped)}." if stopped else "Nothing was running.", markup=False
    )


@services_app.command("status")
def status_command(
    ctx: typer.Context,
    as_json: JsonFlag = False,
) -> None:
    """Which servers are running, where."""
    workspace: Workspace = ctx.obj
    where = _where(services.running(workspace.home))
    if as_json:
        output.emit_json(where)
        return
    for name, address in where.items():
        output.console.print(
            f"{name}: running on {address}" if address else f"{name}: not running", markup=False
        )


@services_app.command("env")
def env_command(ctx: typer.Context) -> None:
    """The `export` lines that point a shell's harvest commands at the running servers."""
    workspace: Workspace = ctx.obj
    found = services.running(workspace.home)
    if not found.complete:
        raise HarvestError("The servers are not all running: `harvest services up` starts them.")
    for name, value in found.environment().items():
        typer.echo(f"export {name}={shlex.quote(value)}")
