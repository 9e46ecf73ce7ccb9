"""``harvest serve``: the HTTP API of the current workspace on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from catalog.access import Accounts
from catalog.store import Catalog
from core.errors import InvalidInputError
from core.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8600,
    rate: Annotated[
        float, typer.Option("--rate", min=0.1, help="Requests a second each caller may make.")
    ] = 20.0,
    burst: Annotated[
        int, typer.Option("--burst", min=1, help="Requests each caller may make at once.")
    ] = 200,
) -> None:
    """Serve the API (datasets, SQL, models, jobs) on http://HOST:PORT; /docs describes it."""
    import uvicorn

    from server.app import check_binding, create_app
    from server.deps import Settings

    if not 0 < port < 65536:
        raise InvalidInputError(f"{port} is not a port: use a number from 1 to 65535.")
    workspace: Workspace = ctx.obj
    with Catalog.open(workspace) as catalog:
        check_binding(host, Accounts(catalog).has_users())
    typer.echo(
        f"Harvest API on http://{host}:{port} (workspace {workspace.home}); Ctrl+C stops it."
    )
    app = create_app(workspace, Settings(rate=rate, burst=burst))
    uvicorn.run(app, host=host, port=port, log_level="info")
