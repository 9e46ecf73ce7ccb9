"""The dashboard's loaders: cached calls into the catalog (and, through them, the packages).

The Catalog and the SQL sandbox are one per workspace and process (``st.cache_resource``);
everything read from them is cached for a few seconds (``st.cache_data`` with a ttl), so
pages stay fast and new versions appear without a restart. Every loader is keyed by the
workspace folder, so one process can serve (and test) several workspaces.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import streamlit as st
from croniter import croniter

import jobs
from catalog import Catalog, Dataset, Diff, Version
from catalog.access import ADMIN, ANONYMOUS, Accounts, AuthenticationError, Principal
from catalog.drift import DriftReport, version_drift
from catalog.export import export
from catalog.records import DatasetRef
from catalog.sandbox import Sandbox, prestart
from catalog.subscriptions import Delivery, Subscription, Subscriptions
from core.errors import HarvestError, NotFoundError
from core.workspace import Workspace
from delivery.run import subscribe as subscribe_for
from scrapers.runs import CrawlRun, last_runs
from scrapers.sources import source_files
from scrapers.spec import load_spec
from training.data import prepare
from training.registry import ModelVersion, Registry
from training.runs import RunProgress, list_runs, read_progress
from training.spec import spec_from_mapping

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
    prestart()  # its worker process starts while the page renders, not at the first query
    return Sandbox(Workspace.at(home))


def sandbox() -> Sandbox:
    """The workspace's read-only SQL sandbox, opened once per process (its queries run in a
    pool of worker processes shared by the whole dashboard)."""
    return _sandbox(home())


# -- who is looking ---------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _accounts(home: str) -> Accounts:
    return Accounts(_catalog(home))


def accounts() -> Accounts:
    """The workspace's access rules (``catalog.access``), opened once per process."""
    return _accounts(home())


def principal() -> Principal:
    """Who this session is: the administrator of a workspace without accounts; else the
    signed-in user, checked again on every run (a revoked token or a removed user signs the
    session out), or anonymous."""
    rules = accounts()
    if not rules.has_users():
        return ADMIN
    credentials = st.session_state.get("credentials")
    if not credentials:
        return ANONYMOUS
    kind, value = credentials
    try:
        if kind == "token":
            return rules.authenticate(value)
        if value in {u.name for u in rules.users()}:
            return rules.principal(value)
    except AuthenticationError:
        pass
    st.session_state.credentials = None
    return ANONYMOUS


def sign_in(user: str, password: str, token: str) -> Principal:
    """Start this session's sign-in with a token, or a username and password."""
    rules = accounts()
    found = rules.authenticate(token.strip()) if token.strip() else rules.login(user, password)
    st.session_state.credentials = ("token", token.strip()) if token.strip() else ("user", user)
    return found


def may_read(name: str) -> bool:
    """Whether this session may read the rows of dataset ``name``."""
    return accounts().may_read(principal(), name)


def may_maintain(name: str) -> bool:
    """Whether this session may change dataset ``name`` (scrape it, promote its models)."""
    return accounts().may_maintain(principal(), name)


def _dataset_name(ref: str) -> str:
    return DatasetRef.parse(ref).qualified


def _readable(ref: str) -> str:
    """``ref``, once this session may read it (else the one sentence a missing one gets)."""
    accounts().require_read(principal(), _dataset_name(ref))
    return ref


# -- datasets ----------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _datasets(home: str) -> list[Dataset]:
    return _catalog(home).datasets()


def datasets() -> list[Dataset]:
    """Every dataset this session may see, with its listing and latest version."""
    rules, who = accounts(), principal()
    return [d for d in _datasets(home()) if rules.may_see(who, d.name)]


def readable_datasets() -> list[Dataset]:
    """The datasets whose rows this session may read."""
    rules, who = accounts(), principal()
    return [d for d in datasets() if rules.may_read(who, d.name)]


def dataset(name: str) -> Dataset:
    """One dataset, from the cached listing when it is there."""
    accounts().require_see(principal(), _dataset_name(name))
    found = next((d for d in datasets() if d.name == name), None)
    return found or catalog().dataset(name)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _versions(home: str, name: str) -> list[Version]:
    return _catalog(home).versions(name)


def versions(name: str) -> list[Version]:
    """Every version of a dataset, oldest first."""
    accounts().require_see(principal(), _dataset_name(name))
    return _versions(home(), name)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _all_versions(home: str) -> list[Version]:
    cat = _catalog(home)
    return [v for d in cat.datasets() for v in cat.versions(d.name)]


def all_versions() -> list[Version]:
    """Every version of every dataset this session may see (for lineage)."""
    rules, who = accounts(), principal()
    return [v for v in _all_versions(home()) if rules.may_see(who, v.dataset)]


@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def _read(home: str, ref: str, limit: int | None) -> pa.Table:
    return _catalog(home).read(ref, limit=limit)


def read(ref: str, limit: int | None = None) -> pa.Table:
    """The rows of a version (versions never change, so this is cached longer)."""
    return _read(home(), _readable(ref), limit)


@st.cache_data(ttl=300, show_spinner=False, max_entries=16)
def _diff(home: str, before: str, after: str) -> Diff:
    return _catalog(home).diff(before, after)


def diff(before: str, after: str) -> Diff:
    """Rows added, removed and changed between two versions."""
    return _diff(home(), _readable(before), _readable(after))


@st.cache_data(ttl=300, show_spinner=False)
def _report(home: str, ref: str) -> object:
    return _catalog(home).report(ref)


def report(ref: str) -> object:
    """The quality report stored with a version, or None."""
    return _report(home(), _readable(ref))


@st.cache_data(ttl=300, show_spinner=False, max_entries=32)
def _drift(home: str, before: str, after: str) -> DriftReport:
    return version_drift(_catalog(home), before, after)


def drift(before: str, after: str) -> DriftReport:
    """Per-column drift from version ``before`` to version ``after`` (catalog/drift.py)."""
    return _drift(home(), _readable(before), _readable(after))


@st.cache_data(ttl=300, show_spinner=False, max_entries=16)
def _export_bytes(home: str, ref: str, fmt: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path, _ = export(_catalog(home), ref, Path(folder) / f"data.{fmt}", fmt)
        return path.read_bytes()


def export_bytes(ref: str, fmt: str) -> bytes:
    """A version written as ``parquet``, ``csv`` or ``jsonl``, for a download button."""
    return _export_bytes(home(), _readable(ref), fmt)


def query(sql: str) -> pa.Table:
    """Run one read-only query in the sandbox, over the datasets this session may read (not
    cached: people rerun to see new data)."""
    who = principal()
    if who.admin:
        return sandbox().query(sql)
    names = [d.name for d in _datasets(home())]
    return sandbox().query(sql, accounts().readable(who, names))


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


# -- models ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _registry(home: str) -> Registry:
    return Registry(_catalog(home))


def registry() -> Registry:
    """The workspace's model registry, opened once per process."""
    return _registry(home())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _model_versions(home: str) -> list[ModelVersion]:
    return _registry(home).versions()


def model_versions(model: str | None = None) -> list[ModelVersion]:
    """Every model version this session may use (of one model when given), oldest first."""
    rules, who = accounts(), principal()
    return [
        v
        for v in _model_versions(home())
        if (model is None or v.model == model) and rules.may_use_model(who, v.model, v.dataset)
    ]


def model_inputs() -> list[tuple[str, str]]:
    """(model version, dataset version it was trained on) pairs, for lineage."""
    return [(v.ref, v.dataset) for v in model_versions()]


@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def _card(home: str, ref: str) -> dict[str, Any]:
    registry = _registry(home)
    return registry.card(registry.get(ref))


def card(ref: str) -> dict[str, Any]:
    """A model version's card (versions are immutable, so this is cached longer)."""
    version = registry().get(ref)
    if not accounts().may_use_model(principal(), version.model, version.dataset):
        raise NotFoundError(f"There is no model '{ref}'.")
    return _card(home(), ref)


@dataclass(frozen=True)
class TargetCheck:
    """What training would make of a target: its task and metric, or why it cannot be trained."""

    task: str = ""
    metric: str = ""
    features: int = 0
    split: str = ""
    problem: str = ""


@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def _check_target(home: str, ref: str, target: str) -> TargetCheck:
    try:
        spec = spec_from_mapping({"dataset": ref, "target": target}, origin="the Train page")
        prepared = prepare(spec, _catalog(home))
    except HarvestError as error:
        return TargetCheck(problem=str(error))
    counts = prepared.counts()
    return TargetCheck(
        task=prepared.task.value,
        metric=prepared.metric.name,
        features=len(prepared.profile.columns),
        split=" / ".join(
            f"{counts[k]} {k}" for k in ("train", "validation", "test") if k in counts
        ),
    )


def check_target(ref: str, target: str) -> TargetCheck:
    """Read, check and split ``ref`` for ``target`` the way training will (cached per pair)."""
    return _check_target(home(), ref, target)


def scrape_job(source: str, launched: str | None) -> jobs.Job | None:
    """The crawl of ``source`` this session launched, else one still running (started by
    another session, the command line or the API, or before the dashboard restarted)."""
    workspace = Workspace.at(home())
    if launched:
        with contextlib.suppress(NotFoundError):
            return jobs.get(workspace, launched)
    crawls = jobs.list_jobs(workspace, kind="scrape", what=source)
    return next((job for job in crawls if not job.status().finished), None)


def runs() -> list[RunProgress]:
    """Every training run's progress, newest first (read fresh: runs move on)."""
    return list_runs(Workspace.at(home()))


def progress(run_id: str) -> RunProgress:
    """One run's progress (its job's, which knows when Dagster gave up on a queued run;
    a run started in a shell has no job, only its progress file)."""
    workspace = Workspace.at(home())
    with contextlib.suppress(NotFoundError):
        run = jobs.get(workspace, run_id).run_progress()
        if run is not None:
            return run
    return read_progress(workspace, run_id)


def subscriptions_of(name: str) -> list[Subscription]:
    """This session's subscriptions to dataset ``name`` (every one, for the administrator)."""
    who = principal()
    found = Subscriptions(catalog()).subscriptions(name)
    return [s for s in found if who.admin or s.subscriber == who.user]


def deliveries_of(name: str) -> list[Delivery]:
    """The deliveries of this session's subscriptions to dataset ``name``, newest first."""
    mine = {s.name for s in subscriptions_of(name)}
    return [d for d in Subscriptions(catalog()).deliveries() if d.subscription in mine]


def subscribe(name: str, target: str, fmt: str, mode: str) -> Subscription:
    """Subscribe ``target`` to dataset ``name`` for this session (see delivery.run.subscribe)."""
    who = principal()
    base = f"{who.name}-{name.replace('.', '-')}"
    taken = {s.name for s in Subscriptions(catalog()).subscriptions()}
    chosen = next(n for n in (base, *(f"{base}-{i}" for i in range(2, 1000))) if n not in taken)
    wanted = Subscription(chosen, name, target.strip(), format=fmt, mode=mode)
    return subscribe_for(catalog(), who, wanted)
