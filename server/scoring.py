"""``harvest models serve``: a standalone scoring server that speaks MLflow's protocol.

A client written for ``mlflow models serve`` works unchanged: ``GET /ping`` and ``GET /health``
(200 while a model is loaded), ``GET /version``, and ``POST /invocations`` with a JSON body
holding one of ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, or a
``text/csv`` body; the answer is ``{"predictions": [...]}`` plus ``"model"``, the version that
answered (also in the ``X-Harvest-Model`` header). The model follows its champion without a
restart (:class:`training.serving.ServedModel`).

Errors carry MLflow's ``error_code`` and ``message`` and RFC 9457's ``title``, ``detail`` and
``status``, as ``application/problem+json``; bad input is a 4xx with one sentence, never a
traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import threading
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog.access import Accounts, AuthenticationError
from core.errors import HarvestError, InvalidInputError, NotFoundError
from training.serving import ServedModel, frame_from_csv, frame_from_payload, predict_rows

MAX_BODY_BYTES = 16 * 1024 * 1024
PROBLEM = "application/problem+json"
TITLES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHENTICATED", "Unauthorized"),
    404: ("RESOURCE_DOES_NOT_EXIST", "Not found"),
    413: ("BAD_REQUEST", "Request body too large"),
    415: ("BAD_REQUEST", "Unsupported media type"),
}


class Problem(Exception):
    """A request refused with ``status`` and one sentence."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem(status: int, detail: str) -> JSONResponse:
    code, title = TITLES.get(status, ("INTERNAL_ERROR", "Error"))
    body = {"error_code": code, "message": detail, "title": title, "detail": detail}
    return JSONResponse({**body, "status": status}, status_code=status, media_type=PROBLEM)


def harvest_version() -> str:
    try:
        return package_version("harvest")
    except PackageNotFoundError:
        return "unknown"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"The body is larger than the limit of {limit} bytes; send fewer rows.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(
                413, f"The body is larger than the limit of {limit} bytes; send fewer rows."
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(body: bytes, content_type: str, features: tuple[str, ...]) -> pd.DataFrame:
    """The frame in an ``/invocations`` body of the given content type (MLflow's rules)."""
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    options = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in parameters)}
    if options.get("charset", "utf-8").lower() != "utf-8" or set(options) - {"charset"}:
        raise Problem(415, "The scoring server reads UTF-8 bodies with no content type options.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(400, "The body is not valid UTF-8 text.") from error
    if mime.lower() == "text/csv":
        return frame_from_csv(text)
    if mime.lower() != "application/json":
        raise Problem(415, f"Send application/json or text/csv, not {mime or 'no content type'}.")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise Problem(
            400, f"The body is not valid JSON: {error.msg} at line {error.lineno}."
        ) from error
    except RecursionError as error:
        raise Problem(400, "The body's JSON is nested too deeply.") from error
    return frame_from_payload(payload, features)


def create_app(
    served: ServedModel, max_body_bytes: int = MAX_BODY_BYTES, accounts: Accounts | None = None
) -> FastAPI:
    """The scoring app for ``served``. With ``accounts`` of a workspace that has users,
    ``/invocations`` needs a bearer token whose user may use the model (any other caller is
    told the model does not exist); without users it serves anyone who reaches it, so
    ``harvest models serve`` binds such a workspace to loopback only."""
    app = FastAPI(title=f"Harvest scoring server: {served.name}", version=harvest_version())

    @app.exception_handler(Problem)
    async def refused(_: Request, error: Problem) -> JSONResponse:
        return problem(error.status, error.detail)

    @app.exception_handler(HarvestError)
    async def harvest_error(_: Request, error: HarvestError) -> JSONResponse:
        return problem(404 if isinstance(error, NotFoundError) else 400, str(error))

    @app.get("/ping")
    @app.get("/health")
    def ping() -> dict[str, str]:
        """200 while a model is loaded (it is loaded before the server starts)."""
        return {"status": "ok", "model": served.ref}

    @app.get("/version", response_class=PlainTextResponse)
    def version() -> str:
        return harvest_version()

    def authorise(request: Request) -> None:
        if accounts is None or not accounts.has_users():
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Send a token as 'Authorization: Bearer TOKEN'.")
        try:
            principal = accounts.authenticate(token.strip())
        except AuthenticationError as error:
            raise Problem(401, str(error)) from error
        if not accounts.may_use_model(principal, served.name, served.model.version.dataset):
            raise Problem(404, f"There is no model '{served.name}'.")

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        await run_in_threadpool(authorise, request)
        body = await read_body(request, max_body_bytes)
        model = served.current()  # this request finishes on this version, whatever is promoted
        frame = parse_body(body, request.headers.get("content-type", ""), model.features)
        scored = await run_in_threadpool(predict_rows, model, frame)
        return JSONResponse(
            {"predictions": scored.predictions(), "model": scored.ref},
            headers={"X-Harvest-Model": scored.ref},
        )

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port), or one sentence."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise InvalidInputError(f"Cannot bind to {host!r}: it is not a known host.") from error
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise HarvestError(
                f"Port {port} is already in use; choose another with --port."
            ) from error
        raise HarvestError(f"Cannot listen on {host}:{port}: {error.strerror}.") from error
    sock.listen(128)
    return sock


def make_server(app: FastAPI) -> uvicorn.Server:
    """A uvicorn server for ``app``; ``server.run(sockets=[bind(...)])`` serves until Ctrl-C."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` on a thread of this process while the block runs; yields its base URL."""
    sock = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise HarvestError(f"The server on {host}:{port} did not start.")
            time.sleep(0.01)
        bound_host, bound_port = sock.getsockname()[:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
