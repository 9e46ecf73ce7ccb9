"""The API's request and response bodies as pydantic models, so the OpenAPI document is the
truth. Requests forbid unknown fields; responses are built from the packages' records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.access import AccessRequest
from catalog.records import Dataset, Version
from catalog.subscriptions import Delivery, Subscription


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListingOut(BaseModel):
    title: str
    description: str
    license: str
    tags: list[str]
    publisher: str
    source_url: str
    cadence: str


class VersionOut(BaseModel):
    """A version as listed: what it is, not what it holds."""

    ref: str
    number: int
    rows: int
    created_at: datetime
    producer: str
    message: str
    content_hash: str
    parents: list[str] = Field(description="Its parents the caller may see.")
    quality_score: float | None

    @classmethod
    def of(cls, version: Version, parents: list[str]) -> VersionOut:
        return cls(
            ref=version.ref,
            number=version.number,
            rows=version.rows,
            created_at=version.created_at,
            producer=version.producer,
            message=version.message,
            content_hash=version.content_hash,
            parents=parents,
            quality_score=version.quality_score,
        )


class ColumnOut(BaseModel):
    name: str
    type: str
    nulls: int | None = None
    distinct: int | None = None
    min: str | None = None
    max: str | None = None
    mean: float | None = None


class VersionDetail(VersionOut):
    """A version with its schema and per-column statistics."""

    columns: list[ColumnOut]


class DatasetOut(BaseModel):
    """A dataset's card: its listing, who owns it, whether the caller may read its rows."""

    name: str
    stage: str
    listing: ListingOut
    key: list[str]
    owner: str | None
    visibility: Literal["public", "private", "gated"]
    readable: bool = Field(description="Whether the caller may read its rows (false: gated).")
    created_at: datetime | None
    version_count: int
    latest: VersionOut | None

    @classmethod
    def of(
        cls,
        dataset: Dataset,
        owner: str | None,
        visibility: str,
        readable: bool,
        latest: VersionOut | None,
    ) -> DatasetOut:
        listing = dataset.listing
        return cls(
            name=dataset.name,
            stage=dataset.stage,
            listing=ListingOut(
                title=listing.title,
                description=listing.description,
                license=listing.license,
                tags=list(listing.tags),
                publisher=listing.publisher,
                source_url=listing.source_url,
                cadence=listing.cadence,
            ),
            key=list(dataset.key),
            owner=owner,
            visibility=visibility,  # type: ignore[arg-type]
            readable=readable,
            created_at=dataset.created_at,
            version_count=dataset.version_count,
            latest=latest,
        )


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    total: int = Field(description="How many datasets match, over every page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class QualityOut(BaseModel):
    ref: str
    quality_score: float | None
    report: dict[str, Any] | None


class LineageOut(BaseModel):
    ref: str
    ancestors: list[VersionOut] = Field(description="What it was made from, nearest first.")
    descendants: list[VersionOut] = Field(description="What was made from it, nearest first.")


class RowsOut(BaseModel):
    ref: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    total: int = Field(description="Rows that pass the filter, over every page.")


class DiffOut(BaseModel):
    before: str
    after: str
    key: list[str]
    added: int
    removed: int
    changed: int
    added_rows: list[dict[str, Any]]
    removed_rows: list[dict[str, Any]]
    changed_cells: list[dict[str, Any]]
    truncated: bool = Field(description="Whether any list holds fewer rows than its count.")


class SqlRequest(Request):
    sql: str = Field(min_length=1, max_length=100_000, description="One read-only statement.")
    format: Literal["json", "arrow"] = "json"


class SqlResult(BaseModel):
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    row_count: int


class ModelOut(BaseModel):
    name: str
    versions: int
    champion: int | None
    latest: int
    task: str
    target: str
    metric: str
    score: float


class ModelVersionOut(BaseModel):
    ref: str
    model: str
    version: int
    task: str
    target: str
    family: str
    metric: str
    score: float
    baseline: float
    dataset: str | None = Field(description="The dataset version it was trained on, if visible.")
    gates_passed: bool
    created_at: datetime
    aliases: list[str]


class PredictRequest(Request):
    records: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class PredictResult(BaseModel):
    model: str
    predictions: list[dict[str, Any]]


class ScrapeRequest(Request):
    source: str = Field(min_length=1, max_length=200)


class JobStatusOut(BaseModel):
    state: Literal["queued", "running", "succeeded", "failed"]
    exit_code: int | None
    message: str


class JobOut(BaseModel):
    id: str
    kind: str
    what: str
    started_at: datetime
    started_by: str
    status: JobStatusOut
    progress: dict[str, Any] | None


class AccessRequestIn(Request):
    reason: str = Field(min_length=1, max_length=2000)
    license_accepted: bool = False


class AccessRequestOut(BaseModel):
    id: str
    dataset: str
    user: str
    reason: str
    license_accepted: bool
    status: str
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, request: AccessRequest) -> AccessRequestOut:
        return cls(**{name: getattr(request, name) for name in cls.model_fields})


class RevokedOut(BaseModel):
    revoked: int


class Me(BaseModel):
    user: str | None
    admin: bool
    scopes: list[str]
    organisations: dict[str, str] = Field(description="Each organisation and the caller's role.")


class SubscriptionIn(Request):
    """A new subscription: what, where, in which format and mode."""

    dataset: str = Field(max_length=200, description="stage.name, or model:NAME.")
    target: str = Field(max_length=2000, description="An https:// webhook URL (a folder or "
                        "s3://bucket/prefix for the workspace's administrator).")  # fmt: skip
    name: str | None = Field(default=None, max_length=63)
    format: Literal["parquet", "csv", "jsonl"] = "parquet"
    gzip: bool = False
    split_rows: int | None = Field(default=None, ge=1)
    mode: Literal["full", "delta"] = "full"
    query: str | None = Field(default=None, max_length=20_000)
    secret: str | None = Field(default=None, max_length=40)


class SubscriptionOut(BaseModel):
    name: str
    dataset: str
    target: str
    format: str
    gzip: bool
    split_rows: int | None
    mode: str
    query: str | None
    subscriber: str | None
    first_version: int
    status: str
    reason: str
    created_at: datetime | None
    signing_key: str | None = Field(
        default=None, description="A webhook's HMAC key; shown to its subscriber only."
    )

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(**{k: getattr(sub, k) for k in cls.model_fields})


class DeliveryOut(BaseModel):
    id: str
    subscription: str
    ref: str
    target: str
    files: list[str]
    bytes: int
    rows: int
    attempts: int
    status: str
    last_error: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, done: Delivery) -> DeliveryOut:
        return cls(**{k: getattr(done, k) for k in cls.model_fields})
