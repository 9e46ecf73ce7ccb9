"""A team catalog's PostgreSQL as other engines reach it: Dagster's storage and Optuna's study.

``HARVEST_CATALOG=ducklake:postgres:<libpq connection string>`` names the server once; Dagster
(``dagster-postgres``) and Optuna (its RDB storage) connect to the same database through
SQLAlchemy, each in a schema of its own (both keep an ``alembic_version`` table). The URL
names the ``psycopg2`` driver: SQLAlchemy 2.1 defaults ``postgresql://`` to psycopg 3.
Harvest's own small questions to the server (has anything been committed, the writers' lock)
go over one :class:`ProcessConnection` each.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any
from urllib.parse import quote, urlencode

from core.errors import HarvestError
from core.workspace import Workspace

_PREFIXES = ("ducklake:postgres:", "postgres:")
_SETTING = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
# libpq's names for the parts a URL writes outside its query
_URL_PARTS = ("user", "password", "host", "port", "dbname")


def catalog_dsn(workspace: Workspace) -> str | None:
    """The libpq connection string of the workspace's catalog, or None when it is not PostgreSQL."""
    for prefix in _PREFIXES:
        if workspace.catalog_uri.startswith(prefix):
            return workspace.catalog_uri[len(prefix) :]
    return None


def dsn_settings(dsn: str) -> dict[str, str]:
    """The ``key=value`` pairs of a libpq connection string (quoted values unquoted)."""
    found = {}
    for key, value in _SETTING.findall(dsn):
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found[key] = value
    return found


def sqlalchemy_url(dsn: str, schema: str | None = None) -> str:
    """A ``postgresql+psycopg2://`` URL for ``dsn``, its tables in ``schema`` when given."""
    settings = dsn_settings(dsn)
    user = quote(settings.get("user", ""), safe="")
    if settings.get("password"):
        user += ":" + quote(settings["password"], safe="")
    host = settings.get("host", "localhost") + (
        f":{settings['port']}" if "port" in settings else ""
    )
    query = {k: v for k, v in settings.items() if k not in _URL_PARTS}
    if schema is not None:
        query["options"] = f"-csearch_path={schema}"
    url = f"postgresql+psycopg2://{user}{'@' if user else ''}{host}/{settings.get('dbname', '')}"
    return f"{url}?{urlencode(query, quote_via=quote)}" if query else url


def create_schema(dsn: str, schema: str) -> None:
    """Create ``schema`` in the database of ``dsn`` if it is missing (two callers may race)."""
    try:
        import psycopg2
        from psycopg2 import errors, sql
    except ImportError as error:
        raise HarvestError(
            "A catalog on PostgreSQL needs psycopg2 for Dagster and tuning workers: "
            "pip install psycopg2-binary==2.9.13."
        ) from error
    connection = psycopg2.connect(dsn)
    try:
        connection.autocommit = True
        # another process may create it at the same moment
        with connection.cursor() as cursor, contextlib.suppress(errors.UniqueViolation):
            cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    finally:
        connection.close()


class ProcessConnection:
    """One autocommit psycopg2 connection to ``dsn`` for this process, opened when first
    needed and again after :meth:`drop`.

    A fork's copy of the parent's connection is kept, never closed or collected (that would
    end the parent's session on the socket they share, and any lock it holds), and never
    used: the child opens its own. Callers serialise their use of it.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._connection: Any = None
        self._pid = os.getpid()
        self._inherited: list[Any] = []

    @property
    def forked(self) -> bool:
        """Whether this object was copied into another process since it last connected."""
        return self._pid != os.getpid()

    def get(self) -> Any:
        """This process's connection (psycopg2's errors propagate)."""
        import psycopg2

        if self.forked:
            if self._connection is not None:
                self._inherited.append(self._connection)
            self._connection, self._pid = None, os.getpid()
        if self._connection is None or self._connection.closed:
            self._connection = psycopg2.connect(self.dsn, connect_timeout=5)
            self._connection.autocommit = True
        return self._connection

    def drop(self) -> None:
        """Close the connection after a failure; the next :meth:`get` opens another."""
        import psycopg2

        if self._connection is not None and not self.forked:
            with contextlib.suppress(psycopg2.Error):
                self._connection.close()
        self._connection = None
