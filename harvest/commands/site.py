"""``harvest site serve``: run the bundled demo site in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import errno
from typing import Annotated

import typer

from core.errors import HarvestError
from harvest import output

DEFAULT_PORT = 8700


def serve(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = DEFAULT_PORT,
    day: Annotated[
        int, typer.Option("--day", min=1, help="The day to show: prices, stock and reviews move.")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", help="The seed the site is generated from.")] = 7,
    scale: Annotated[
        int, typer.Option("--scale", min=1, help="Multiply the number of products and articles.")
    ] = 1,
) -> None:
    """Serve the demo shop and magazine on 127.0.0.1 and print its URL."""
    from demo_site import serve_forever

    try:
        serve_forever(port=port, day=day, seed=seed, scale=scale, announce=_announce)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise HarvestError(
                f"Port {port} is already in use; choose another with --port."
            ) from error
        raise
    output.console.print("Demo site stopped.")


def _announce(line: str) -> None:
    output.console.print(line, markup=False)
    output.console.file.flush()


def register(app: typer.Typer) -> None:
    """Add ``harvest site`` to ``app``."""
    site = typer.Typer(help="The bundled demo site.", no_args_is_help=True)
    site.command("serve")(serve)
    app.add_typer(site, name="site")
