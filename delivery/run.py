"""Running deliveries: every version a subscription has not had yet, in order, to its target.

:func:`deliver_pending` is what ``harvest deliver`` and the Dagster sensor call. Per active
subscription it takes a lock (so two deliverers never deliver one version twice: the second
waits, then finds it delivered), checks that the subscriber may still read the dataset (a
subscription whose access was revoked is paused, not delivered), then delivers each pending
version: files to a folder or bucket (manifest last; a version whose manifest is already
there is not written again), or a signed event to a webhook. Each outcome is recorded in
``harvest.deliveries``. A failed file delivery is tried again on the next run; a webhook
that refused the event, or that failed every attempt, is dead-lettered until retried by hand
(:func:`retry`). A failure stops that subscription's later versions until it is delivered,
so a delta is never taken across a gap.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from catalog.access import Accounts, PermissionDeniedError, Principal
from catalog.links import signed_download
from catalog.records import Version
from catalog.store import Catalog
from catalog.subscriptions import Delivery, Subscription, Subscriptions, delivery_id
from core.errors import HarvestError, NotFoundError
from delivery.content import FileEntry, content, folder_of, manifest, same_delivery
from delivery.targets import open_target
from delivery.webhooks import RetryPolicy, body_of, post
from training.registry import Registry, is_roll_back

_POSTERS = 16  # webhook subscriptions posted to at once
_RECORD_BATCH = 100  # webhook outcomes recorded per catalog commit


@dataclass(frozen=True)
class Settings:
    """How deliveries run in this deployment."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    public_url: str = "http://127.0.0.1:8000"  # the API a webhook's download link points at
    link_hours: float = 24.0  # how long that link works
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_environment(cls, **changes: Any) -> Settings:
        url = os.environ.get("HARVEST_PUBLIC_URL", cls.public_url)
        return replace(cls(public_url=url), **changes)


def deliver_pending(
    catalog: Catalog, *, only: str | None = None, settings: Settings | None = None
) -> list[Delivery]:
    """Deliver what every active subscription (or only ``only``) has pending; the outcomes."""
    with _Run(catalog, settings or Settings.from_environment()) as run:
        subs = run.subs
        chosen = [subs.get(only)] if only else subs.subscriptions()
        active = [s for s in chosen if s.status == "active" and run.may_read(s)]
        outcomes: list[Delivery] = []
        for sub in active:
            if sub.kind != "webhook":
                outcomes += run.sequence(sub, record=True)
        hooks = [s for s in active if s.kind == "webhook"]
        if not hooks:
            return outcomes
        with ThreadPoolExecutor(max_workers=_POSTERS) as pool:
            posted = [pool.submit(run.sequence, sub, record=False) for sub in hooks]
            batch: list[Delivery] = []
            for future in as_completed(posted):
                batch += future.result()
                if len(batch) >= _RECORD_BATCH:
                    outcomes += subs.record_many(batch)
                    batch = []
            outcomes += subs.record_many(batch)
    return outcomes


def retry(catalog: Catalog, id: str, settings: Settings | None = None) -> Delivery:
    """Deliver a failed or dead-lettered delivery again, now."""
    with _Run(catalog, settings or Settings.from_environment()) as run:
        found = run.subs.delivery(id)
        if found.status == "delivered":
            raise HarvestError(f"Delivery {id} ({found.ref}) was delivered already.")
        sub = run.subs.get(found.subscription)
        if not run.may_read(sub):
            raise PermissionDeniedError(
                f"{sub.subscriber} may no longer read {sub.dataset}, so {sub.name} was paused."
            )
        return run.subs.record(run.one(sub, found.version))


def pending(catalog: Catalog, sub: Subscription) -> list[int]:
    """The versions (champion changes, for a model) ``sub`` has not had delivered, in order."""
    return _waiting(sub, _numbers(catalog, sub), Subscriptions(catalog).done(sub.name))


def _waiting(sub: Subscription, numbers: list[int], done: dict[int, Delivery]) -> list[int]:
    return [
        n
        for n in numbers
        if n >= sub.first_version and (n not in done or done[n].status == "failed")
    ]


def first_version(catalog: Catalog, dataset: str) -> int:
    """The first version a new subscription to ``dataset`` gets: the latest one (a model's next
    champion change)."""
    if dataset.startswith("model:"):
        return len(_champion_events(catalog, dataset.removeprefix("model:"))) + 1
    latest = catalog.dataset(dataset).latest
    return latest.number if latest else 1


def _numbers(catalog: Catalog, sub: Subscription) -> list[int]:
    if sub.model is not None:
        return list(range(1, len(_champion_events(catalog, sub.model)) + 1))
    return [v.number for v in catalog.versions(sub.dataset)]


class _Run:
    """One run of deliveries: the workspace's delivery lock held throughout (so two deliverers
    never deliver one version twice: the second waits, then finds it delivered), what was
    delivered read once, versions read once per dataset, and one HTTP client."""

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog, self.settings = catalog, settings
        self.subs = Subscriptions(catalog)
        self._accounts: Accounts | None = None
        self._numbers: dict[str, list[int]] = {}
        self._versions: dict[str, dict[int, Version]] = {}
        self._loading = threading.Lock()
        self._done: dict[str, dict[int, Delivery]] = {}
        self._lock = _lock(catalog.workspace.home)
        self._client: httpx.Client | None = None

    def __enter__(self) -> _Run:
        self._lock.__enter__()
        for done in self.subs.deliveries():  # read after the lock: what the last run did too
            self._done.setdefault(done.subscription, {})[done.version] = done
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        self._lock.__exit__(None, None, None)

    @property
    def client(self) -> httpx.Client:
        """The run's HTTP client, made when the first webhook needs it."""
        with self._loading:
            if self._client is None:
                timeout = self.settings.policy.timeout_seconds
                self._client = httpx.Client(timeout=timeout, follow_redirects=False)
            return self._client

    def may_read(self, sub: Subscription) -> bool:
        """Whether the subscriber may still read what they subscribe to; if not, it is paused."""
        if sub.subscriber is None or sub.is_model:
            return True
        accounts = self._accounts = self._accounts or Accounts(self.catalog)
        if accounts.may_read(accounts.principal(sub.subscriber), sub.dataset):
            return True
        self.subs.set_status(
            sub.name, "paused", f"{sub.subscriber} may no longer read {sub.dataset}"
        )
        return False

    def sequence(self, sub: Subscription, *, record: bool) -> list[Delivery]:
        """Deliver ``sub``'s pending versions in order, stopping at the first failure (each
        outcome recorded as it comes if ``record``; else the caller records them)."""
        with self._loading:  # once per dataset, whichever thread comes first
            if sub.dataset not in self._numbers:
                self._load(sub)
        outcomes = []
        for number in _waiting(sub, self._numbers[sub.dataset], self._done.get(sub.name, {})):
            outcome = self.one(sub, number)
            outcomes.append(self.subs.record(outcome) if record else outcome)
            self._done.setdefault(sub.name, {})[number] = outcome
            if outcome.status != "delivered":
                break
        return outcomes

    def _load(self, sub: Subscription) -> None:
        if sub.model is None:
            found = {v.number: v for v in self.catalog.versions(sub.dataset)}
            self._versions[sub.dataset] = found
            self._numbers[sub.dataset] = list(found)
        else:
            self._numbers[sub.dataset] = _numbers(self.catalog, sub)

    def one(self, sub: Subscription, number: int) -> Delivery:
        """Deliver version ``number`` to ``sub``; the outcome, not yet recorded."""
        before = self._done.get(sub.name, {}).get(number)
        row = Delivery(
            id=delivery_id(sub.name, sub.dataset, number),
            subscription=sub.name,
            dataset=sub.dataset,
            version=number,
            target=sub.target,
            attempts=before.attempts if before else 0,
            created_at=before.created_at if before else None,
        )
        try:
            version = (
                None
                if sub.model is not None
                else self._versions.get(sub.dataset, {}).get(number)
                or self.catalog.version(f"{sub.dataset}@{number}")
            )
            if sub.kind == "webhook":
                return _post(self.catalog, sub, number, version, row, self.settings, self.client)
            assert version is not None  # a model subscription is always a webhook
            return _write(self.catalog, self.subs, sub, version, row, self.settings)
        except HarvestError as error:
            return replace(row, status="failed", attempts=row.attempts + 1, last_error=str(error))


def _write(
    catalog: Catalog,
    subs: Subscriptions,
    sub: Subscription,
    version: Version,
    row: Delivery,
    settings: Settings,
) -> Delivery:
    """Files and manifest to a folder or bucket; nothing rewritten if already delivered."""
    row = replace(row, attempts=row.attempts + 1)
    target = open_target(sub.target, sub.secret, settings.environ)
    target.check()
    folder = folder_of(version)
    found = target.manifest(folder)
    if same_delivery(found, row.id, version):
        done = json.loads(found or b"{}")
        files = done.get("files", [])
        return replace(
            row,
            status="delivered",
            last_error="",
            files=tuple(f"{folder}{f['name']}" for f in files),
            bytes=sum(int(f["size"]) for f in files),
            rows=int(done.get("rows", {}).get("total", 0)),
        )
    target.clear(folder)
    since = _last_delivered(catalog, subs, sub, version.number) if sub.mode == "delta" else None
    made = content(catalog, sub, version, since=since, readable=_readable(catalog, sub))
    entries = [
        FileEntry(p.name, p.rows, *target.put(folder + p.name, p.chunks)) for p in made.parts
    ]
    target.finish(folder, manifest(sub, version, made, entries, row.id))
    return replace(
        row,
        status="delivered",
        last_error="",
        files=tuple(folder + e.name for e in entries),
        bytes=sum(e.size for e in entries),
        rows=made.rows["total"],
    )


def _last_delivered(
    catalog: Catalog, subs: Subscriptions, sub: Subscription, number: int
) -> Version | None:
    done = [d.version for d in subs.deliveries(sub.name) if d.status == "delivered"]
    earlier = [n for n in done if n < number]
    return catalog.version(f"{sub.dataset}@{max(earlier)}") if earlier else None


def _readable(catalog: Catalog, sub: Subscription) -> list[str] | None:
    """The datasets a subscription's query may read: its subscriber's (None: every one)."""
    if sub.subscriber is None:
        return None
    accounts = Accounts(catalog)
    principal = accounts.principal(sub.subscriber)
    return accounts.readable(principal, [d.name for d in catalog.datasets()])


# ----------------------------------------------------------------------------- webhooks


def _post(
    catalog: Catalog,
    sub: Subscription,
    number: int,
    version: Version | None,
    row: Delivery,
    settings: Settings,
    client: httpx.Client,
) -> Delivery:
    event = (
        dataset_event(catalog, version, settings)
        if version is not None
        else model_event(catalog, sub.model or "", number)
    )
    event = {"id": row.id, "subscription": sub.name, **event}
    body = body_of(event)
    result = post(client, sub.target, sub.signing_key or "", row.id, body, settings.policy)
    return replace(
        row,
        status="delivered" if result.status == "delivered" else "dead",
        attempts=row.attempts + result.attempts,
        last_error=result.error,
        bytes=len(body),
        rows=int(event.get("rows") or 0),  # type: ignore[call-overload]
    )


def dataset_event(catalog: Catalog, version: Version, settings: Settings) -> dict[str, object]:
    """What a webhook hears of a new dataset version."""
    url, expires = signed_download(
        catalog.workspace, settings.public_url, version.dataset, version.number,
        settings.link_hours * 3600,
    )  # fmt: skip
    return {
        "type": "dataset.version",
        "created": datetime.now(UTC).isoformat(),
        "dataset": version.dataset,
        "version": version.number,
        "ref": version.ref,
        "rows": version.rows,
        "content_hash": version.content_hash,
        "committed_at": version.created_at.isoformat(),
        **_facts(catalog, version),
        "download": {"url": url, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()},
    }


_FACTS: dict[tuple[str, str, int, int], dict[str, object]] = {}
_FACTS_LOCK = threading.Lock()


def _facts(catalog: Catalog, version: Version) -> dict[str, object]:
    """A version's diff counts and quality verdict, worked out once per process: versions never
    change, and every subscriber's event of one version carries the same ones."""
    key = (catalog.workspace.catalog_uri, version.dataset, version.number, version.snapshot_id)
    with _FACTS_LOCK:  # the posting threads wait for the first one's answer
        found = _FACTS.get(key)
        if found is None:
            found = {"diff": diff_counts(catalog, version), "quality": quality(catalog, version)}
            _FACTS[key] = found
            while len(_FACTS) > 256:
                del _FACTS[next(iter(_FACTS))]
        return found


def diff_counts(catalog: Catalog, version: Version) -> dict[str, object]:
    """Rows added, removed and changed since the version before (all added for the first)."""
    if version.number == 1:
        return {"since": None, "added": version.rows, "removed": 0, "changed": 0}
    diff = catalog.diff(f"{version.dataset}@{version.number - 1}", version.ref)
    changed = diff.changed.select(list(diff.key)).to_pylist() if diff.changed.num_rows else []
    return {
        "since": diff.before,
        "added": diff.added.num_rows,
        "removed": diff.removed.num_rows,
        "changed": len({tuple(r.values()) for r in changed}),
    }


def quality(catalog: Catalog, version: Version) -> dict[str, object]:
    """The version's quality score and the rules that failed (none recorded: empty)."""
    report = catalog.report(version.ref)
    rules = report.get("rules", []) if isinstance(report, dict) else []
    failed = [
        {"name": r.get("name"), "severity": r.get("severity"), "detail": r.get("detail")}
        for r in rules
        if isinstance(r, dict) and not r.get("passed", True)
    ]
    return {"score": version.quality_score, "failed_rules": failed}


def _champion_events(catalog: Catalog, model: str) -> list[Any]:
    try:
        events = Registry(catalog).events(model)
    except NotFoundError:
        return []
    return [e for e in events if e.event == "champion"]


def model_event(catalog: Catalog, model: str, number: int) -> dict[str, object]:
    """What a webhook hears of a model's champion change ``number`` (from 1)."""
    events = Registry(catalog).events(model)
    changes = [e for e in events if e.event == "champion"]
    change = changes[number - 1]
    # the verdicts recorded for that version by the time it became champion: at registration
    # ("gates") or at a promotion by hand ("promotion")
    gates = [
        e for e in events
        if e.event in ("gates", "promotion") and e.version == change.version and e.at <= change.at
    ]  # fmt: skip
    return {
        "type": "model.champion",
        "created": datetime.now(UTC).isoformat(),
        "model": model,
        "version": change.version,
        "previous": changes[number - 2].version if number > 1 else None,
        "change": "roll-back" if is_roll_back(change) else "promotion",
        "changed_at": change.at.isoformat(),
        "detail": _json(change.detail),
        "gates": _json(gates[-1].detail) if gates else None,
    }


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


@contextlib.contextmanager
def _lock(home: Path) -> Iterator[None]:
    """One deliverer at a time on this workspace."""
    folder = home / "deliveries"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "deliver.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def test_target(catalog: Catalog, name: str, settings: Settings | None = None) -> str:
    """Check that ``name``'s target takes deliveries (a webhook gets a signed ``ping`` event,
    tried once); one sentence saying so, else the error."""
    settings = settings or Settings.from_environment()
    sub = Subscriptions(catalog).get(name)
    if sub.kind != "webhook":
        open_target(sub.target, sub.secret, settings.environ).check()
        return f"{sub.target} can be written to."
    event = {"id": f"ping_{name}", "type": "ping", "subscription": name,
             "created": datetime.now(UTC).isoformat()}  # fmt: skip
    once = replace(settings.policy, attempts=1)
    with httpx.Client(timeout=once.timeout_seconds) as client:
        key = sub.signing_key or ""
        result = post(client, sub.target, key, str(event["id"]), body_of(event), once)
    if result.status != "delivered":
        raise HarvestError(result.error.removesuffix(" Gave up after 1 attempts."))
    return f"{sub.target} accepted a signed ping event."


def landed_mark(catalog: Catalog) -> str:
    """A mark that changes whenever a dataset version or a champion change lands, or a
    subscription is added or resumed: what the Dagster sensor compares with its cursor
    ("" when no subscription is active)."""
    active = [s for s in Subscriptions(catalog).subscriptions() if s.status == "active"]
    if not active:
        return ""
    row = (
        catalog.cursor()
        .execute("SELECT count(*), max(created_at) FROM lake.harvest.versions")
        .fetchone()
    )
    models = {s.model for s in active if s.model}
    changes = sum(len(_champion_events(catalog, m)) for m in models)
    names = ",".join(s.name for s in active)
    return f"{row[0] if row else 0}:{row[1] if row else ''}:{changes}:{names}"


def subscribe(catalog: Catalog, principal: Principal, sub: Subscription) -> Subscription:
    """Add ``sub`` for ``principal``: they must read what they subscribe to, and only the
    workspace's administrator writes to folders and buckets (they are where Harvest runs).
    Delivery starts at the dataset's latest version (a model's next champion change)."""
    if not principal.admin:
        principal.require("read")
        if principal.user is None:
            raise PermissionDeniedError("Subscribing needs an account: sign in or send a token.")
        if sub.kind != "webhook":
            raise PermissionDeniedError(
                "Folder and S3 targets write where Harvest runs: only the workspace's "
                "administrator may give them; subscribe an https:// webhook instead."
            )
    if not sub.is_model:
        accounts = Accounts(catalog)
        accounts.require_read(principal, catalog.resolve_name(sub.dataset).qualified)
    subscriber = sub.subscriber if principal.admin else principal.user
    start = first_version(catalog, sub.dataset)
    return Subscriptions(catalog).add(replace(sub, subscriber=subscriber, first_version=start))
