"""Every error the API answers is a problem: ``application/problem+json`` (RFC 9457) with a
type, a title, the status and one sentence of detail.

The project's own exceptions are mapped to statuses once, here, in exception handlers; a
route never builds an error response itself. Anything unexpected is logged on the server and
answered with a generic sentence: never a trace, never a database message.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from catalog.access import AuthenticationError, PermissionDeniedError
from catalog.sandbox import QueryError
from core.errors import InvalidInputError, NotFoundError

log = logging.getLogger("harvest.server")
MEDIA_TYPE = "application/problem+json"
_INTERNAL = "Something went wrong on the server; it was logged, and trying again may help."
# the project's errors and their statuses, the most specific first
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (QueryError, 400),
    (InvalidInputError, 422),
)


class Problem(BaseModel):
    """An error, as RFC 9457 describes it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class TooLargeError(HTTPException):
    """A request body over the server's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class RateLimitedError(HTTPException):
    """A caller over its request rate; ``retry_after`` in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            f"Too many requests; wait {retry_after} second{'s' if retry_after != 1 else ''} "
            "and try again.",
            headers={"Retry-After": str(retry_after)},
        )


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The problem response for ``status`` with one sentence of ``detail``."""
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail)
    return JSONResponse(
        body.model_dump(), status_code=status, headers=headers, media_type=MEDIA_TYPE
    )


# The responses every route may give, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "content": {MEDIA_TYPE: {}},
        "description": HTTPStatus(status).phrase,
    }
    for status in (400, 401, 403, 404, 413, 422, 429)
}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI document) with every error response's body documented as
    ``application/problem+json``, the only type the API answers errors with."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if (
                    str(status)[:1] in "45"
                    and MEDIA_TYPE in content
                    and "application/json" in content
                ):
                    content[MEDIA_TYPE] = content.pop("application/json")
    return schema


def _validation_sentence(error: RequestValidationError) -> str:
    """The first thing wrong with a request, as one sentence without pydantic's internals."""
    errors = error.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    location = [str(part) for part in first.get("loc", ())]
    where = {"body": "the body", "query": "query parameter", "path": "the path parameter"}
    head, fields = (location[0], location[1:]) if location else ("body", [])
    field = ".".join(fields)
    if first.get("type") == "extra_forbidden":
        return f"The field '{field}' is not one this request takes."
    if first.get("type") == "missing":
        return (
            f"The request lacks {where.get(head, head)} '{field}'."
            if field
            else ("The request lacks its body.")
        )
    message = str(first.get("msg", "is not valid")).rstrip(".")
    place = f"{where.get(head, head)} '{field}'" if field else where.get(head, head)
    return f"In {place}: {message[:1].lower()}{message[1:]}."


def install(app: FastAPI) -> None:
    """Answer every error ``app`` meets as a problem."""

    async def harvest_error(request: Request, error: Exception) -> JSONResponse:
        for kind, status in STATUSES:
            if isinstance(error, kind):
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return problem(status, str(error), headers)
        return await internal_error(request, error)

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        detail = error.detail if isinstance(error.detail, str) and error.status_code != 500 else ""
        if error.status_code == 404 and detail == "Not Found":
            detail = "There is no such path in this API; /docs lists them."
        if error.status_code == 405:
            detail = "This path does not take that method; /docs lists what it takes."
        return problem(error.status_code, detail or _INTERNAL, dict(error.headers or {}) or None)

    async def invalid_request(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return problem(422, _validation_sentence(error))

    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return problem(500, _INTERNAL)

    for kind, _ in STATUSES:
        app.add_exception_handler(kind, harvest_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
