"""The API's application: :func:`create_app` wires the routers, the problem handlers, the body
limit and one catalog, accounts, sandbox and registry per app (opened when it starts, closed
when it stops). ``harvest serve`` runs it on uvicorn.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.access import Accounts
from catalog.sandbox import Sandbox
from catalog.store import Catalog
from core.errors import InvalidInputError
from core.workspace import Workspace
from server.deps import RateLimiter, Services, Settings
from server.problems import TooLargeError, document_problems, install, problem
from server.routers import access, datasets, jobs, models, sql, subscriptions
from training.registry import Registry


class BodyLimit:
    """Refuse a request body over ``limit`` bytes (413), by its Content-Length or as it
    arrives, before it is read whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            too_large = TooLargeError(self.limit)
            status = 413 if length.isdigit() else 400
            detail = (
                str(too_large.detail) if status == 413 else "The Content-Length is not a number."
            )
            await problem(status, detail)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise TooLargeError(self.limit)
            return message

        await self.app(scope, counted, send)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, has_users: bool) -> None:
    """Refuse to serve a workspace without accounts anywhere but loopback: every caller of
    such a workspace is its administrator."""
    if not has_users and not is_loopback(host):
        raise InvalidInputError(
            f"This workspace has no users, so anyone reaching {host} would be its administrator: "
            "serve it on 127.0.0.1, or add a user first with `harvest users add`."
        )


def open_services(workspace: Workspace, settings: Settings) -> Services:
    catalog = Catalog.open(workspace)
    try:
        return Services(
            workspace=workspace,
            settings=settings,
            catalog=catalog,
            accounts=Accounts(catalog),
            sandbox=Sandbox(workspace, settings.sql),
            registry=Registry(catalog),
            limiter=RateLimiter(settings.rate, settings.burst),
        )
    except BaseException:
        catalog.close()
        raise


def create_app(
    workspace: Workspace | str | None = None, settings: Settings | None = None
) -> FastAPI:
    """The API over ``workspace`` (default: ``HARVEST_HOME``)."""
    where = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
    chosen = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = open_services(where, chosen)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(
        title="Harvest",
        version="1",
        summary="Datasets, SQL, models and jobs of one Harvest workspace.",
        lifespan=lifespan,
    )
    install(app)
    for module in (datasets, sql, models, jobs, access, subscriptions):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=chosen.max_body)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
