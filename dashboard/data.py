"""The dashboard's loaders: cached calls into the catalog (and, through them, the packages).

The Catalog and the SQL sandbox are one per workspace and process (``st.cache_resource``);
everything read from them is cached for a few seconds (``st.cache_data`` with a ttl), so
pages stay fast and new versions appear without a restart. Every loader is keyed by the
workspace folder, so one process can serve (and test) several workspaces.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import streamlit as st
from croniter import croniter

from catalog import Catalog, Dataset, Diff, Version
from catalog.export import export
from catalog.sandbox import Sandbox
from harvest.errors import HarvestError
from harvest.workspace import Workspace
from scrapers.runs import CrawlRun, last_runs
from scrapers.sources import source_files
from scrapers.spec import load_spec

TTL_S = 5


def home() -> str:
    """The workspace this dashboard serves (``HARVEST_HOME``, as ``harvest dashboard`` sets it)."""
    return str(Workspace.at().home)


@st.cache_resource(show_spinner=False)
def _catalog(home: str) -> Catalog:
    return Catalog.open(home)


def catalog() -> Catalog:
    """The workspace's Catalog, opened once per process."""
    return _catalog(home())


@st.cache_resource(show_spinner=False)
def _sandbox(home: str) -> Sandbox:
    _catalog(home)  # the catalog must exist before a read-only connection can attach it
    return Sandbox(Workspace.at(home))


def sandbox() -> Sandbox:
    """The workspace's read-only SQL sandbox, opened once per process."""
    return _sandbox(home())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _datasets(home: str) -> list[Dataset]:
    return _catalog(home).datasets()


def datasets() -> list[Dataset]:
    """Every dataset with its listing and latest version: one catalog query."""
    return _datasets(home())


def dataset(name: str) -> Dataset:
    """One dataset, from the cached listing when it is there."""
    found = next((d for d in datasets() if d.name == name), None)
    return found or catalog().dataset(name)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _versions(home: str, name: str) -> list[Version]:
    return _catalog(home).versions(name)


def versions(name: str) -> list[Version]:
    """Every version of a dataset, oldest first."""
    return _versions(home(), name)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _all_versions(home: str) -> list[Version]:
    cat = _catalog(home)
    return [v for d in cat.datasets() for v in cat.versions(d.name)]


def all_versions() -> list[Version]:
    """Every version of every dataset (for lineage)."""
    return _all_versions(home())


@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def _read(home: str, ref: str, limit: int | None) -> pa.Table:
    return _catalog(home).read(ref, limit=limit)


def read(ref: str, limit: int | None = None) -> pa.Table:
    """The rows of a version (versions never change, so this is cached longer)."""
    return _read(home(), ref, limit)


@st.cache_data(ttl=300, show_spinner=False, max_entries=16)
def _diff(home: str, before: str, after: str) -> Diff:
    return _catalog(home).diff(before, after)


def diff(before: str, after: str) -> Diff:
    """Rows added, removed and changed between two versions."""
    return _diff(home(), before, after)


@st.cache_data(ttl=300, show_spinner=False)
def _report(home: str, ref: str) -> object:
    return _catalog(home).report(ref)


def report(ref: str) -> object:
    """The quality report stored with a version, or None."""
    return _report(home(), ref)


@st.cache_data(ttl=300, show_spinner=False, max_entries=16)
def _export_bytes(home: str, ref: str, fmt: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path, _ = export(_catalog(home), ref, Path(folder) / f"data.{fmt}", fmt)
        return path.read_bytes()


def export_bytes(ref: str, fmt: str) -> bytes:
    """A version written as ``parquet``, ``csv`` or ``jsonl``, for a download button."""
    return _export_bytes(home(), ref, fmt)


def query(sql: str) -> pa.Table:
    """Run one read-only query in the sandbox (not cached: people rerun to see new data)."""
    return sandbox().query(sql)


@dataclass(frozen=True)
class Source:
    """A source spec as the Sources page shows it."""

    name: str
    origin: str
    path: Path
    title: str
    dataset: str
    schedule: str
    next_run: datetime | None
    problem: str = ""


def next_run(schedule: str, now: datetime | None = None) -> datetime | None:
    """When a cron schedule next fires (UTC), or None without one."""
    if not schedule:
        return None
    return croniter(schedule, now or datetime.now(UTC)).get_next(datetime)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _sources(home: str) -> list[Source]:
    found = []
    for source in source_files(Workspace.at(home)):
        try:
            spec = load_spec(source.path)
        except HarvestError as error:
            found.append(
                Source(
                    source.name,
                    source.origin,
                    source.path,
                    source.name,
                    f"raw.{source.name}",
                    "",
                    None,
                    str(error),
                )
            )
            continue
        found.append(
            Source(
                name=spec.name,
                origin=source.origin,
                path=source.path,
                title=spec.title or spec.name,
                dataset=f"raw.{spec.name}",
                schedule=spec.schedule or "",
                next_run=next_run(spec.schedule or ""),
            )
        )
    return found


def sources() -> list[Source]:
    """Every source spec (the user's and the bundled ones), with its schedule's next run."""
    return _sources(home())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _crawls(home: str, source: str | None, limit: int) -> list[CrawlRun]:
    return last_runs(_catalog(home), source, limit)


def crawls(source: str | None = None, limit: int = 20) -> list[CrawlRun]:
    """The latest crawls, newest first."""
    return _crawls(home(), source, limit)
