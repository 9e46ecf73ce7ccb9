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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog.access import Accounts
from catalog.links import signed_download
from catalog.records import Version
from catalog.store import Catalog
from catalog.subscriptions import Delivery, Subscription, Subscriptions, delivery_id
from core.errors import HarvestError, NotFoundError
from delivery.content import FileEntry, content, folder_of, manifest, same_delivery
from delivery.targets import open_target
from delivery.webhooks import RetryPolicy, body_of, post
from training.registry import Registry, is_roll_back


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
    settings = settings or Settings.from_environment()
    subs = Subscriptions(catalog)
    chosen = [subs.get(only)] if only else subs.subscriptions()
    outcomes: list[Delivery] = []
    for sub in chosen:
        if sub.status != "active":
            continue
        with _lock(catalog.workspace.home, sub.name):
            outcomes += _deliver(catalog, subs, subs.get(sub.name), settings)
    return outcomes


def retry(catalog: Catalog, id: str, settings: Settings | None = None) -> Delivery:
    """Deliver a failed or dead-lettered delivery again, now."""
    subs = Subscriptions(catalog)
    found = subs.delivery(id)
    if found.status == "delivered":
        raise HarvestError(f"Delivery {id} ({found.ref}) was delivered already.")
    sub = subs.get(found.subscription)
    with _lock(catalog.workspace.home, sub.name):
        return _one(catalog, subs, sub, found.version, settings or Settings.from_environment())


def pending(catalog: Catalog, sub: Subscription) -> list[int]:
    """The versions (champion changes, for a model) ``sub`` has not had delivered, in order."""
    done = Subscriptions(catalog).done(sub.name)
    waiting = [
        n
        for n in _numbers(catalog, sub)
        if n >= sub.first_version and (n not in done or done[n].status == "failed")
    ]
    return waiting


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


def _deliver(
    catalog: Catalog, subs: Subscriptions, sub: Subscription, settings: Settings
) -> list[Delivery]:
    if sub.status != "active" or not _may_read(catalog, subs, sub):
        return []
    outcomes = []
    for number in pending(catalog, sub):
        outcome = _one(catalog, subs, sub, number, settings)
        outcomes.append(outcome)
        if outcome.status != "delivered":
            break
    return outcomes


def _may_read(catalog: Catalog, subs: Subscriptions, sub: Subscription) -> bool:
    """Whether the subscriber may still read what they subscribe to; if not, it is paused."""
    if sub.subscriber is None or sub.is_model:
        return True
    accounts = Accounts(catalog)
    if accounts.may_read(accounts.principal(sub.subscriber), sub.dataset):
        return True
    subs.set_status(sub.name, "paused", f"{sub.subscriber} may no longer read {sub.dataset}")
    return False


def _one(
    catalog: Catalog, subs: Subscriptions, sub: Subscription, number: int, settings: Settings
) -> Delivery:
    """Deliver version ``number`` to ``sub`` and record the outcome."""
    did = delivery_id(sub.name, sub.dataset, number)
    before = subs.done(sub.name).get(number)
    row = Delivery(
        id=did,
        subscription=sub.name,
        dataset=sub.dataset,
        version=number,
        target=sub.target,
        attempts=before.attempts if before else 0,
        created_at=before.created_at if before else None,
    )
    try:
        if sub.kind == "webhook":
            row = _post(catalog, sub, number, row, settings)
        else:
            row = _write(catalog, subs, sub, catalog.version(f"{sub.dataset}@{number}"), row,
                         settings)  # fmt: skip
    except HarvestError as error:
        row = replace(row, status="failed", attempts=row.attempts + 1, last_error=str(error))
    return subs.record(row)


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
    catalog: Catalog, sub: Subscription, number: int, row: Delivery, settings: Settings
) -> Delivery:
    event = (
        model_event(catalog, sub.model, number)
        if sub.model is not None
        else dataset_event(catalog, catalog.version(f"{sub.dataset}@{number}"), settings)
    )
    event = {"id": row.id, "subscription": sub.name, **event}
    body = body_of(event)
    result = post(sub.target, sub.signing_key or "", row.id, body, settings.policy)
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
        "diff": diff_counts(catalog, version),
        "quality": quality(catalog, version),
        "download": {"url": url, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()},
    }


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
    gates = [e for e in events if e.event == "gates" and e.version == change.version]
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
def _lock(home: Path, name: str) -> Iterator[None]:
    """One deliverer per subscription at a time on this workspace."""
    folder = home / "deliveries"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a+") as handle:
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
    result = post(sub.target, sub.signing_key or "", str(event["id"]), body_of(event), once)
    if result.status != "delivered":
        raise HarvestError(result.error.removesuffix(" Gave up after 1 attempts."))
    return f"{sub.target} accepted a signed ping event."
