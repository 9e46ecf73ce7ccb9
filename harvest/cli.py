"""The ``harvest`` command line: a thin shell over the packages.

Each area's commands live in ``harvest/commands/<area>.py`` and are registered below.
Errors the user can fix (:class:`~core.errors.HarvestError`) print one sentence and
exit 1; a traceback means a bug in Harvest.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import HarvestError
from core.workspace import Workspace
from harvest import output

app = typer.Typer(
    name="harvest",
    help="Harvest: scrape the web into versioned datasets, clean them, train and validate models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", envvar="HARVEST_HOME", help="Workspace folder (default ~/.harvest)."
        ),
    ] = None,
) -> None:
    """Harvest: scrape the web into versioned datasets, clean them, train and validate models."""
    ctx.obj = Workspace.at(home)


def _register() -> None:
    from harvest.commands import (
        access,
        cache,
        catalog,
        dashboard,
        delivery,
        demo,
        jobs,
        orchestration,
        quality,
        scrape,
        server,
        services,
        site,
        training,
    )

    access.register(app)
    cache.register(app)
    catalog.register(app)
    dashboard.register(app)
    delivery.register(app)
    demo.register(app)
    jobs.register(app)
    orchestration.register(app)
    quality.register(app)
    scrape.register(app)
    server.register(app)
    services.register(app)
    site.register(app)
    training.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``harvest`` console script."""
    try:
        app(args=argv, standalone_mode=True)
    except HarvestError as error:
        output.fail(str(error))
        sys.exit(1)
    except KeyboardInterrupt:
        output.fail("Interrupted.")
        sys.exit(130)
