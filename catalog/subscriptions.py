"""Subscriptions and their deliveries: the ``harvest.subscriptions`` and ``harvest.deliveries``
rows in the catalog (so a team catalog on PostgreSQL carries them, as it carries access).

A subscription names what is delivered (a dataset ``stage.name``, or ``model:NAME`` for a
model's champion changes), optionally narrowed by a saved query run in the sandbox with the
subscriber's access, where it goes (a folder, ``s3://bucket/prefix`` with the name of a secret
in the workspace settings, never keys, or an ``http(s)://`` webhook), in which format, and
whether each delivery is the whole version or the delta since the last one delivered.

A delivery is one version to one subscription: its row records the files, bytes, rows,
attempts, status (``running``, ``delivered``, ``failed``, ``dead``), last error and times.
Doing the delivering is :mod:`delivery`'s; this module only keeps the rows.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb

from catalog.engine import LAKE
from catalog.records import DatasetRef
from catalog.store import Catalog
from core.errors import InvalidInputError, NotFoundError

META = f"{LAKE}.harvest"
FORMATS = ("parquet", "csv", "jsonl")
MODES = ("full", "delta")
MODEL_PREFIX = "model:"
Status = Literal["running", "delivered", "failed", "dead"]
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,38}$")
_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")

_TABLES = {
    "subscriptions": """name VARCHAR, dataset VARCHAR, target VARCHAR, secret VARCHAR,
        format VARCHAR, gzip BOOLEAN, split_rows BIGINT, mode VARCHAR, query VARCHAR,
        subscriber VARCHAR, signing_key VARCHAR, first_version INTEGER, status VARCHAR,
        reason VARCHAR, created_at TIMESTAMPTZ""",
    "deliveries": """id VARCHAR, subscription VARCHAR, dataset VARCHAR, version INTEGER,
        target VARCHAR, files VARCHAR[], bytes BIGINT, rows BIGINT, attempts INTEGER,
        status VARCHAR, last_error VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ""",
}
_PREPARED: set[str] = set()  # catalogs whose tables this process has seen


@dataclass(frozen=True)
class Subscription:
    """What is delivered, where, how, and for whom."""

    name: str
    dataset: str  # stage.name, or model:NAME
    target: str  # a folder, s3://bucket/prefix, or an http(s) URL
    secret: str | None = None  # the settings' secret an S3 target's endpoint and keys come from
    format: str = "parquet"
    gzip: bool = False
    split_rows: int | None = None  # a new file every this many rows
    mode: str = "full"
    query: str | None = None
    subscriber: str | None = None  # the user whose access the delivery reads with (None: admin)
    signing_key: str | None = None  # a webhook's HMAC key
    first_version: int = 1  # versions before this one are not delivered
    status: str = "active"  # active or paused
    reason: str = ""  # why it is paused
    created_at: datetime | None = None

    @property
    def kind(self) -> Literal["folder", "s3", "webhook"]:
        return target_kind(self.target)

    @property
    def model(self) -> str | None:
        """The model whose champion changes this subscription receives, if it is one."""
        return self.dataset.removeprefix(MODEL_PREFIX) if self.is_model else None

    @property
    def is_model(self) -> bool:
        return self.dataset.startswith(MODEL_PREFIX)


@dataclass(frozen=True)
class Delivery:
    """One version delivered (or being, or failing to be) to one subscription."""

    id: str
    subscription: str
    dataset: str
    version: int
    target: str
    files: tuple[str, ...] = ()
    bytes: int = 0
    rows: int = 0
    attempts: int = 0
    status: str = "running"
    last_error: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


def target_kind(target: str) -> Literal["folder", "s3", "webhook"]:
    """Which kind of target ``target`` names."""
    if target.startswith(("http://", "https://")):
        return "webhook"
    if target.startswith("s3://"):
        return "s3"
    if "://" in target:
        raise InvalidInputError(
            f"'{target}' is not a target: give a folder, s3://bucket/prefix or an https:// URL."
        )
    return "folder"


def s3_location(target: str) -> tuple[str, str]:
    """The bucket and key prefix (ending in ``/`` unless empty) of ``s3://bucket/prefix``."""
    match = _S3.match(target)
    if not match:
        raise InvalidInputError(
            f"'{target}' is not an S3 location: write it as s3://bucket/prefix."
        )
    prefix = (match["prefix"] or "").strip("/")
    return match["bucket"], f"{prefix}/" if prefix else ""


def delivery_id(subscription: str, dataset: str, version: int) -> str:
    """The one id of a version's delivery to a subscription: also a webhook's event id, so a
    receiver that sees it twice knows it is the same event."""
    digest = hashlib.sha256(f"{subscription}\0{dataset}\0{version}".encode()).hexdigest()
    return f"evt_{digest[:24]}"


def check_subscription(sub: Subscription) -> Subscription:
    """``sub`` if its fields make sense together; else one sentence saying what is wrong."""
    if not _NAME.match(sub.name):
        raise InvalidInputError(
            f"'{sub.name}' cannot name a subscription: use lower-case letters, digits, '-' and "
            "'_', starting with a letter."
        )
    kind = target_kind(sub.target)
    if sub.format not in FORMATS:
        raise InvalidInputError(f"'{sub.format}' is not a format: use one of {', '.join(FORMATS)}.")
    if sub.mode not in MODES:
        raise InvalidInputError(f"'{sub.mode}' is not a mode: use full or delta.")
    if sub.split_rows is not None and sub.split_rows < 1:
        raise InvalidInputError("--split must be a positive number of rows.")
    if sub.is_model:
        if kind != "webhook":
            raise InvalidInputError(
                "A model's champion changes go to a webhook only: give an https:// URL."
            )
    else:
        DatasetRef.parse(sub.dataset)
    if kind == "s3":
        s3_location(sub.target)
        if not sub.secret or not _SECRET_NAME.match(sub.secret):
            raise InvalidInputError(
                "An S3 target needs --secret NAME, the name of the HARVEST_SECRET_<NAME>_* "
                "settings holding its endpoint and keys (keys are never stored in a subscription)."
            )
    if kind == "webhook" and sub.query:
        raise InvalidInputError("A webhook receives an event, not rows: drop --query.")
    if sub.mode == "delta" and sub.query:
        raise InvalidInputError(
            "A delta is taken by the dataset's key, so it cannot be narrowed by a query: "
            "use --mode full with --query."
        )
    return sub


class Subscriptions:
    """The subscription and delivery rows of one catalog. Safe to share between threads."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        if catalog.workspace.catalog_uri in _PREPARED:  # tables are never dropped
            return
        present = catalog.cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
            [LAKE, "harvest"],
        )
        if set(_TABLES) - {row[0] for row in present.fetchall()}:  # the first time only
            catalog.transaction(self._create_tables, what="prepare the subscription tables")
        _PREPARED.add(catalog.workspace.catalog_uri)

    @staticmethod
    def _create_tables(cur: duckdb.DuckDBPyConnection) -> None:
        for name, columns in _TABLES.items():
            cur.execute(f"CREATE TABLE IF NOT EXISTS {META}.{name} ({columns})")

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.catalog.cursor().execute(sql, list(params)).fetchall()

    # -- subscriptions -----------------------------------------------------------------------

    def subscriptions(self, dataset: str | None = None) -> list[Subscription]:
        where, params = ("WHERE dataset = ?", [dataset]) if dataset else ("", [])
        rows = self._rows(f"SELECT * FROM {META}.subscriptions {where} ORDER BY name", params)
        return [_subscription(row) for row in rows]

    def get(self, name: str) -> Subscription:
        rows = self._rows(f"SELECT * FROM {META}.subscriptions WHERE name = ?", [name])
        if not rows:
            raise NotFoundError(
                f"There is no subscription '{name}'; `harvest subscriptions list` shows them."
            )
        return _subscription(rows[0])

    def add(self, sub: Subscription) -> Subscription:
        """Record ``sub`` (checked); a webhook gets its signing key here."""
        check_subscription(sub)
        if self._rows(f"SELECT 1 FROM {META}.subscriptions WHERE name = ?", [sub.name]):
            raise InvalidInputError(
                f"There is already a subscription '{sub.name}': choose another name."
            )
        if sub.kind == "webhook" and not sub.signing_key:
            sub = replace(sub, signing_key=f"whsec_{secrets.token_urlsafe(24)}")
        sub = replace(sub, created_at=datetime.now(UTC), status="active", reason="")
        values = [getattr(sub, f.name) for f in fields(Subscription)]
        marks = ", ".join("?" for _ in values)
        self._write(f"INSERT INTO {META}.subscriptions VALUES ({marks})", values)
        return sub

    def set_status(self, name: str, status: str, reason: str = "") -> Subscription:
        """Pause (with a reason) or resume a subscription."""
        sub = self.get(name)
        self._write(
            f"UPDATE {META}.subscriptions SET status = ?, reason = ? WHERE name = ?",
            [status, reason, name],
        )
        return replace(sub, status=status, reason=reason)

    def remove(self, name: str) -> None:
        self.get(name)
        self._write(f"DELETE FROM {META}.subscriptions WHERE name = ?", [name])

    def pause_subscriber(self, user: str, dataset: str, reason: str) -> list[str]:
        """Pause ``user``'s active subscriptions to ``dataset``; the names paused."""
        paused = [
            s.name
            for s in self.subscriptions(dataset)
            if s.subscriber == user and s.status == "active"
        ]
        for name in paused:
            self.set_status(name, "paused", reason)
        return paused

    # -- deliveries --------------------------------------------------------------------------

    def deliveries(
        self, subscription: str | None = None, *, failed: bool = False
    ) -> list[Delivery]:
        """Deliveries newest first (of one subscription; only failed and dead ones)."""
        where, params = [], []
        if subscription:
            where.append("subscription = ?")
            params.append(subscription)
        if failed:
            where.append("status IN ('failed', 'dead')")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(
            f"SELECT * FROM {META}.deliveries {clause} ORDER BY created_at DESC, id", params
        )
        return [_delivery(row) for row in rows]

    def delivery(self, id: str) -> Delivery:
        rows = self._rows(f"SELECT * FROM {META}.deliveries WHERE id = ?", [id])
        if not rows:
            raise NotFoundError(
                f"There is no delivery '{id}'; `harvest deliveries list` shows them."
            )
        return _delivery(rows[0])

    def done(self, subscription: str) -> dict[int, Delivery]:
        """The subscription's deliveries by version."""
        return {d.version: d for d in self.deliveries(subscription)}

    def record(self, delivery: Delivery) -> Delivery:
        """Write ``delivery``'s row as it is now (one row per id)."""
        return self.record_many([delivery])[0]

    def record_many(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Write several deliveries' rows in one commit."""
        now = datetime.now(UTC)
        made = [replace(d, created_at=d.created_at or now, updated_at=now) for d in deliveries]
        if not made:
            return []
        rows = [[getattr(d, f.name) for f in fields(Delivery)] for d in made]
        for row, done in zip(rows, made, strict=True):
            row[_FILES] = list(done.files)
        marks = ", ".join("?" for _ in rows[0])

        def write(cur: duckdb.DuckDBPyConnection) -> None:
            ids = [d.id for d in made]
            cur.execute(f"DELETE FROM {META}.deliveries WHERE id IN (SELECT unnest(?))", [ids])
            cur.executemany(f"INSERT INTO {META}.deliveries VALUES ({marks})", rows)

        self.catalog.transaction(write, what="record deliveries")
        return made

    def _write(self, sql: str, params: list[object]) -> None:
        self.catalog.transaction(lambda cur: cur.execute(sql, params), what="change a subscription")


_FILES = [f.name for f in fields(Delivery)].index("files")


def _subscription(row: Sequence[Any]) -> Subscription:
    values = dict(zip([f.name for f in fields(Subscription)], row, strict=True))
    values["gzip"] = bool(values["gzip"])
    values["first_version"] = int(values["first_version"] or 1)
    values["reason"] = values["reason"] or ""
    return Subscription(**values)


def _delivery(row: Sequence[Any]) -> Delivery:
    values = dict(zip([f.name for f in fields(Delivery)], row, strict=True))
    values["files"] = tuple(values["files"] or ())
    values["last_error"] = values["last_error"] or ""
    return Delivery(**values)
