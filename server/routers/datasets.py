"""Datasets: the listing and search, a dataset's card and versions, one version's schema,
statistics, quality report, lineage, rows and download, and the diff of two versions.

A pinned version (``name@N``) never changes, so its resources carry an ``ETag`` and
``Cache-Control: immutable``, and ``If-None-Match`` gets a 304.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from catalog import export, lineage, market
from catalog.access import ADMIN, AuthenticationError
from catalog.links import download_path, link_allows
from catalog.profile import quote_ident
from catalog.records import Version
from core.errors import InvalidInputError
from server.deps import PrincipalDep, ServicesDep
from server.problems import RESPONSES
from server.schemas import (
    DatasetOut,
    DatasetPage,
    DiffOut,
    LineageOut,
    QualityOut,
    RowsOut,
    VersionDetail,
    VersionOut,
)
from server.visible import (
    columns_of,
    dataset_out,
    find_dataset,
    find_version,
    json_rows,
    version_out,
)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=RESPONSES)

Name = Annotated[str, Path(description="The dataset, as stage.name.", max_length=200)]
Which = Annotated[
    str,
    Path(description="A version number, or `latest`.", pattern=r"^(latest|[1-9][0-9]{0,8})$"),
]
FRESHNESS = {
    "any": "Any time",
    "1d": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
SORTS = {
    "updated": "Recently updated",
    "name": "Name",
    "rows": "Most rows",
    "quality": "Best quality",
    "versions": "Most versions",
}
MEDIA = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "jsonl": "application/jsonl",
}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix == "offset" and number.isdigit() and len(number) < 10:
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInputError("The cursor is not one this API gave; start again without it.")


def _condition(text: str) -> tuple[str, str]:
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise InvalidInputError(f"'{text}' is not a filter: write column=value.")
    return column, value


def _cached(request: Request, response: Response, version: Version, pinned: bool) -> bool:
    """Set the version's ETag and caching on ``response``; True when the caller's copy is
    current (answer with :func:`_not_modified`)."""
    response.headers.update(_cache_headers(request, version, pinned))
    asked = request.headers.get("if-none-match", "")
    tag = response.headers["ETag"]
    return tag in [t.strip() for t in asked.split(",")] or asked.strip() == "*"


def _cache_headers(request: Request, version: Version, pinned: bool) -> dict[str, str]:
    """A pinned version never changes: cached for good; ``latest`` is checked each time."""
    variant = f"{version.ref}:{version.content_hash}:{request.url.path}?{request.url.query}"
    return {
        "ETag": '"' + hashlib.sha256(variant.encode()).hexdigest()[:32] + '"',
        "Cache-Control": "private, max-age=31536000, immutable" if pinned else "private, no-cache",
    }


def _not_modified(response: Response) -> Response:
    kept = {k: response.headers[k] for k in ("ETag", "Cache-Control")}
    return Response(status_code=304, headers=kept)


@router.get("", response_model=DatasetPage, summary="List and search datasets")
def list_datasets(
    s: ServicesDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(max_length=200, description="Words to find.")] = "",
    stage: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006 (FastAPI copies it)
    tag: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    license: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    freshness: Literal["any", "1d", "7d", "30d"] = "any",
    min_quality: Annotated[float, Query(ge=0, le=100)] = 0.0,
    sort: Literal["updated", "name", "rows", "quality", "versions"] = "updated",
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> DatasetPage:
    """Datasets the caller may see (gated ones included), filtered, sorted and paged."""
    size = min(limit, s.settings.max_page)
    start = _offset(cursor)
    seen = [d for d in s.datasets() if s.accounts.may_see(principal, d.name)]
    filters = market.Filters(
        text=q,
        stages=tuple(stage),
        tags=tuple(tag),
        licenses=tuple(license),
        freshness=FRESHNESS[freshness],
        min_quality=min_quality,
        sort=SORTS[sort],
    )
    found = market.search(seen, filters, datetime.now(UTC))
    page = found[start : start + size]
    more = start + size < len(found)
    return DatasetPage(
        items=[dataset_out(s, principal, d) for d in page],
        total=len(found),
        next_cursor=_cursor(start + size) if more else None,
    )


@router.get("/{name}", response_model=DatasetOut, summary="A dataset's card")
def dataset_card(s: ServicesDep, principal: PrincipalDep, name: Name) -> DatasetOut:
    return dataset_out(s, principal, find_dataset(s, principal, name, read=False))


@router.get("/{name}/versions", response_model=list[VersionOut], summary="A dataset's versions")
def dataset_versions(s: ServicesDep, principal: PrincipalDep, name: Name) -> list[VersionOut]:
    """Every version, oldest first (what each is, not what it holds)."""
    dataset = find_dataset(s, principal, name, read=False)
    return [version_out(s, principal, v) for v in s.versions(dataset.name)]


@router.get(
    "/{name}/versions/{version}",
    response_model=VersionDetail,
    summary="One version's schema and statistics",
)
def dataset_version(
    s: ServicesDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
    name: Name,
    version: Which,
) -> VersionDetail | Response:
    found = find_version(s, find_dataset(s, principal, name, read=True), version)
    if _cached(request, response, found, version != "latest"):
        return _not_modified(response)
    base = version_out(s, principal, found)
    return VersionDetail(**base.model_dump(), columns=columns_of(found))


@router.get(
    "/{name}/versions/{version}/quality",
    response_model=QualityOut,
    summary="One version's quality report",
)
def dataset_quality(
    s: ServicesDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
    name: Name,
    version: Which,
) -> QualityOut | Response:
    """The quality report a clean version was committed with (null for other stages)."""
    found = find_version(s, find_dataset(s, principal, name, read=True), version)
    if _cached(request, response, found, version != "latest"):
        return _not_modified(response)
    report = s.catalog.report(found.ref)
    return QualityOut(
        ref=found.ref,
        quality_score=found.quality_score,
        report=report if isinstance(report, dict) else None,
    )


@router.get(
    "/{name}/versions/{version}/lineage", response_model=LineageOut, summary="One version's lineage"
)
def dataset_lineage(
    s: ServicesDep, principal: PrincipalDep, name: Name, version: Which
) -> LineageOut:
    """What the version was made from and what was made from it, among the datasets the
    caller may see (the others end their branch, unnamed)."""
    found = find_version(s, find_dataset(s, principal, name, read=False), version)
    seen = [d.name for d in s.datasets() if s.accounts.may_see(principal, d.name)]
    versions = [v for n in seen for v in s.versions(n)]
    return LineageOut(
        ref=found.ref,
        ancestors=[
            version_out(s, principal, v) for v in lineage.ancestors(found.ref, versions)[1:]
        ],
        descendants=[
            version_out(s, principal, v) for v in lineage.descendants(found.ref, versions)
        ],
    )


@router.get("/{name}/versions/{version}/rows", response_model=RowsOut, summary="Rows of a version")
def dataset_rows(
    s: ServicesDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
    name: Name,
    version: Which,
    offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    columns: Annotated[
        str | None, Query(max_length=10_000, description="Comma-separated columns to return.")
    ] = None,
    where: Annotated[
        list[str],
        Query(max_length=20, description="`column=value` (compared as text); all must hold."),
    ] = [],  # noqa: B006
) -> RowsOut | Response:
    """A page of rows, as the Hugging Face dataset viewer's ``/rows`` and ``/filter`` give."""
    found = find_version(s, find_dataset(s, principal, name, read=True), version)
    if _cached(request, response, found, version != "latest"):
        return _not_modified(response)
    known = dict(found.columns)
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else []
    chosen = chosen or list(known)
    conditions = [_condition(text) for text in where]
    unknown = [c for c in [*chosen, *(c for c, _ in conditions)] if c not in known]
    if unknown:
        raise InvalidInputError(f"{found.ref} has no column '{unknown[0]}'.")
    size = min(limit, s.settings.max_rows)
    source = s.catalog.source_sql(found)
    test = " AND ".join(f"CAST({quote_ident(c)} AS VARCHAR) = ?" for c, _ in conditions)
    clause = f" WHERE {test}" if test else ""
    params = [v for _, v in conditions]
    cur = s.catalog.cursor()
    total = (
        cur.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchone()
        if conditions
        else (found.rows,)
    )
    picked = ", ".join(quote_ident(c) for c in chosen)
    table = cur.execute(
        f"SELECT {picked} FROM {source}{clause} LIMIT {size} OFFSET {offset}", params
    ).fetch_arrow_table()
    kinds = {c.name: c for c in columns_of(found)}
    return RowsOut(
        ref=found.ref,
        columns=[kinds[c] for c in chosen],
        rows=json_rows(table),
        offset=offset,
        limit=size,
        total=int(total[0]) if total else 0,
    )


@router.get(
    "/{name}/versions/{version}/download",
    summary="Download a version as Parquet, CSV or JSON Lines",
    response_class=StreamingResponse,
    responses={200: {"content": {m: {} for m in [*MEDIA.values(), "application/gzip"]}}},
)
def dataset_download(
    s: ServicesDep,
    principal: PrincipalDep,
    request: Request,
    name: Name,
    version: Which,
    format: Literal["parquet", "csv", "jsonl"] = "parquet",
    compression: Literal["none", "gzip"] = "none",
    expires: Annotated[int | None, Query(description="A signed link's expiry (Unix time).")] = None,
    signature: Annotated[str | None, Query(max_length=64, description="A signed link's signature.")] = None,
) -> Response:  # fmt: skip
    """Every row of the version, streamed a batch at a time. A signed link (a webhook event's)
    reads it without a token until it expires."""
    if expires is not None or signature is not None:
        path = download_path(name, int(version) if version.isdigit() else 0)
        if not link_allows(s.workspace, path, expires or 0, signature or ""):
            raise AuthenticationError("This download link has expired or is not valid.")
        principal = ADMIN
    found = find_version(s, find_dataset(s, principal, name, read=True), version)
    headers = Response(status_code=200)
    if _cached(request, headers, found, version != "latest"):
        return _not_modified(headers)
    gzip = compression == "gzip"
    chunks = export.stream(s.catalog, found, format, gzip=gzip)
    filename = f"{found.ref.replace('@', '-v')}.{format}" + (".gz" if gzip else "")
    return StreamingResponse(
        chunks,
        media_type="application/gzip" if gzip else MEDIA[format],
        headers={
            **_cache_headers(request, found, version != "latest"),
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


@router.get("/{name}/diff", response_model=DiffOut, summary="The diff of two versions")
def dataset_diff(
    s: ServicesDep,
    principal: PrincipalDep,
    name: Name,
    before: Annotated[int, Query(ge=1, le=10**9)],
    after: Annotated[int, Query(ge=1, le=10**9)],
    limit: Annotated[int, Query(ge=0, le=100_000, description="Rows in each list at most.")] = 100,
) -> DiffOut:
    """Rows added, removed and changed from ``before`` to ``after``, by the dataset's key."""
    dataset = find_dataset(s, principal, name, read=True)
    a, b = (find_version(s, dataset, str(n)) for n in (before, after))
    diff = s.catalog.diff(a.ref, b.ref)
    size = min(limit, s.settings.max_rows)
    tables = (diff.added, diff.removed, diff.changed)
    return DiffOut(
        before=diff.before,
        after=diff.after,
        key=list(diff.key),
        added=diff.added.num_rows,
        removed=diff.removed.num_rows,
        changed=diff.changed.num_rows,
        added_rows=json_rows(diff.added.slice(0, size)),
        removed_rows=json_rows(diff.removed.slice(0, size)),
        changed_cells=json_rows(diff.changed.slice(0, size)),
        truncated=any(t.num_rows > size for t in tables),
    )
