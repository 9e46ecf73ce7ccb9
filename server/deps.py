"""What every route is given: the app's services and the caller, as FastAPI dependencies.

:func:`current_principal` turns a bearer token into a :class:`~catalog.access.Principal`
(no token: anonymous, except in a workspace with no users, where every caller is the
administrator, as on the command line), after the caller's rate limit. Tokens travel in the
``Authorization`` header only, which the access log does not print; they are never logged.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from catalog.access import ADMIN, ANONYMOUS, Accounts, AuthenticationError, Principal
from catalog.commits import watch_commits
from catalog.records import Dataset, Version
from catalog.sandbox import Limits, Sandbox
from catalog.store import Catalog
from core.workspace import Workspace
from server.problems import RateLimitedError
from training.predict import LoadedModel
from training.registry import Registry

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The server's limits, chosen when it starts."""

    rate: float = 20.0  # requests per second a caller may make over time
    burst: int = 200  # requests a caller may make at once
    max_body: int = 2**20  # bytes in a request body
    max_page: int = 100  # datasets or models in one page of a listing
    max_rows: int = 1000  # rows in one page of a version's rows or a diff
    sql: Limits = field(default_factory=Limits)  # time, memory and rows of one query


class RateLimiter:
    """A token bucket per caller, in memory: ``burst`` at once, ``rate`` a second after."""

    def __init__(self, rate: float, burst: int, keep: int = 10_000) -> None:
        self.rate, self.burst, self.keep = rate, burst, keep
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> tokens, when
        self._lock = threading.Lock()

    def take(self, caller: str) -> None:
        """Count one request of ``caller``; RateLimitedError when its bucket is empty."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                raise RateLimitedError(max(1, math.ceil((1.0 - tokens) / self.rate)))
            if len(self._buckets) >= self.keep and caller not in self._buckets:
                self._buckets.clear()  # a flood of new callers: forget the old ones
            self._buckets[caller] = (tokens - 1.0, now)


class Kept(Generic[T]):
    """The last ``size`` values made for keys that never change meaning (``model@N``)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._values: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


@dataclass
class Services:
    """The objects one app shares between requests, opened when it starts."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog
    accounts: Accounts
    sandbox: Sandbox
    registry: Registry
    limiter: RateLimiter
    loaded: Kept[LoadedModel] = field(default_factory=Kept)

    def __post_init__(self) -> None:
        self._commits = watch_commits(self.workspace, self.catalog.cursor)
        self._kept: dict[str, tuple[int | None, Any]] = {}
        self._kept_lock = threading.Lock()

    def datasets(self) -> list[Dataset]:
        """Every dataset with its latest version, listed again only after a commit
        (``catalog/commits.py`` notices one)."""
        return self._since_commit("datasets", self.catalog.datasets)

    def dataset(self, name: str) -> Dataset | None:
        """The dataset ``name`` (``stage.name``), or None."""
        return next((d for d in self.datasets() if d.name == name), None)

    def versions(self, name: str) -> list[Version]:
        """Every version of dataset ``name``, oldest first, read again only after a commit."""
        return self._since_commit(f"versions {name}", lambda: self.catalog.versions(name))

    def _since_commit(self, key: str, read: Callable[[], T]) -> T:
        """``read()``, kept until the next commit to the catalog (a few hundred answers)."""
        mark = self._commits.mark() if self._commits is not None else None
        kept = self._kept.get(key)
        if mark is None or kept is None or kept[0] != mark:
            kept = (mark, read())
            with self._kept_lock:
                self._kept[key] = kept
                while len(self._kept) > 512:
                    del self._kept[next(iter(self._kept))]
        return kept[1]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sandbox.close()
        self.catalog.close()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


_bearer = HTTPBearer(auto_error=False, description="A token from `harvest tokens create`.")


def _caller(request: Request, token: str | None) -> str:
    """Whom a rate limit counts: a token's public id, else the client's address."""
    if token and token.startswith("hvt_") and token.count("_") >= 2:
        return "token " + token.split("_")[1][:16]
    return "address " + (request.client.host if request.client else "unknown")


def current_principal(
    request: Request,
    found: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller: the owner of a valid bearer token, else anonymous (or the administrator
    of a workspace without users)."""
    token = credentials.credentials if credentials else None
    found.limiter.take(_caller(request, token))
    if token is not None:
        return found.accounts.authenticate(token)
    if request.headers.get("authorization"):
        raise AuthenticationError("Send the token as 'Authorization: Bearer <token>'.")
    return ADMIN if not found.accounts.has_users() else ANONYMOUS


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
