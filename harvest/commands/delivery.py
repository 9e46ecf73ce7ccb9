"""``harvest subscriptions``, ``harvest deliveries`` and ``harvest deliver``: shells over
:mod:`catalog.subscriptions` and :mod:`delivery.run`."""

from __future__ import annotations

from typing import Annotated

import typer

from catalog import Catalog
from catalog.access import ADMIN, Accounts
from catalog.subscriptions import Delivery, Subscription, Subscriptions, target_kind
from core.errors import HarvestError
from delivery.run import deliver_pending, retry, subscribe, test_target
from harvest import output
from harvest.output import JsonFlag

subscriptions_app = typer.Typer(
    help="Subscriptions: each new version of a dataset delivered to a folder, S3 or a webhook.",
    no_args_is_help=True,
)
deliveries_app = typer.Typer(
    help="Deliveries made, failed and dead-lettered.", no_args_is_help=True
)
Name = Annotated[str, typer.Argument(help="The subscription's name.")]


def register(app: typer.Typer) -> None:
    app.add_typer(subscriptions_app, name="subscriptions")
    app.add_typer(deliveries_app, name="deliveries")
    app.command("deliver")(deliver)


def _subs(ctx: typer.Context) -> Subscriptions:
    return Subscriptions(Catalog.open(ctx.obj))


def _say(line: str) -> None:
    output.console.print(line, markup=False)


def _name_for(subs: Subscriptions, dataset: str, target: str) -> str:
    base = f"{dataset.replace('.', '-').replace(':', '-')}-{target_kind(target)}"
    taken = {s.name for s in subs.subscriptions()}
    return next(n for n in (base, *(f"{base}-{i}" for i in range(2, 10_000))) if n not in taken)


@subscriptions_app.command("add")
def subscriptions_add(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="stage.name, or model:NAME for champion changes.")],
    to: Annotated[str, typer.Option("--to", help="A folder, s3://bucket/prefix or an https:// URL.")],
    name: Annotated[str | None, typer.Option("--name", help="The subscription's name.")] = None,
    format: Annotated[str, typer.Option("--format", help="parquet, csv or jsonl.")] = "parquet",
    gzip: Annotated[bool, typer.Option("--gzip", help="Compress each file with gzip.")] = False,
    split: Annotated[int | None, typer.Option("--split", help="A new file every N rows.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="full, or delta since the last delivery.")] = "full",
    query: Annotated[str | None, typer.Option("--query", help="SQL narrowing what is delivered.")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="An S3 target's settings: HARVEST_SECRET_<NAME>_*.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="The subscriber, whose access the delivery reads with.")] = None,
) -> None:  # fmt: skip
    """Subscribe a target to a dataset's new versions (from its latest one on)."""
    catalog = Catalog.open(ctx.obj)
    if not dataset.startswith("model:"):
        dataset = catalog.resolve_name(dataset).qualified
        if user is not None:
            accounts = Accounts(catalog)
            accounts.require_read(accounts.principal(user), dataset)
    sub = subscribe(
        catalog,
        ADMIN,
        Subscription(
            name=name or _name_for(Subscriptions(catalog), dataset, to), dataset=dataset,
            target=to, secret=secret, format=format.lower(), gzip=gzip, split_rows=split,
            mode=mode, query=query, subscriber=user,
        ),
    )  # fmt: skip
    _say(f"Subscribed {sub.name}: {sub.dataset} from version {sub.first_version} to {sub.target}.")
    if sub.signing_key:
        _say(f"Its events are signed with {sub.signing_key} (see docs/delivery.md to verify them).")


@subscriptions_app.command("list")
def subscriptions_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List subscriptions."""
    found = _subs(ctx).subscriptions()
    if as_json:
        output.emit_json([_public(s) for s in found])
        return
    if not found:
        _say("No subscriptions yet: `harvest subscriptions add DATASET --to TARGET` adds one.")
        return
    output.table(
        ["name", "dataset", "target", "format", "mode", "status"],
        [(s.name, s.dataset, s.target, _format(s), s.mode, _status(s)) for s in found],
    )


@subscriptions_app.command("show")
def subscriptions_show(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """Show a subscription and its latest deliveries."""
    subs = _subs(ctx)
    sub, done = subs.get(name), subs.deliveries(name)[:10]
    if as_json:
        output.emit_json({**_public(sub), "signing_key": sub.signing_key, "deliveries": done})
        return
    for label, value in [
        ("dataset", sub.dataset), ("target", sub.target), ("secret", sub.secret),
        ("format", _format(sub)), ("mode", sub.mode), ("query", sub.query),
        ("subscriber", sub.subscriber), ("from version", sub.first_version),
        ("status", _status(sub)), ("signing key", sub.signing_key),
    ]:  # fmt: skip
        if value is not None:
            _say(f"{label}: {value}")
    _table(done)


@subscriptions_app.command("pause")
def subscriptions_pause(ctx: typer.Context, name: Name) -> None:
    """Stop delivering to a subscription until it is resumed."""
    _subs(ctx).set_status(name, "paused", "paused by hand")
    _say(f"Paused {name}.")


@subscriptions_app.command("resume")
def subscriptions_resume(ctx: typer.Context, name: Name) -> None:
    """Deliver to a paused subscription again (what it missed is delivered next)."""
    catalog = Catalog.open(ctx.obj)
    sub = Subscriptions(catalog).get(name)
    if sub.subscriber and not sub.is_model:
        accounts = Accounts(catalog)
        accounts.require_read(accounts.principal(sub.subscriber), sub.dataset)
    Subscriptions(catalog).set_status(name, "active")
    _say(f"Resumed {name}.")


@subscriptions_app.command("remove")
def subscriptions_remove(ctx: typer.Context, name: Name) -> None:
    """Remove a subscription (its deliveries stay recorded)."""
    _subs(ctx).remove(name)
    _say(f"Removed {name}.")


@subscriptions_app.command("test")
def subscriptions_test(ctx: typer.Context, name: Name) -> None:
    """Check that a subscription's target takes deliveries (a webhook gets a ping)."""
    _say(test_target(Catalog.open(ctx.obj), name))


@deliveries_app.command("list")
def deliveries_list(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed and dead-lettered ones.")] = False,
    subscription: Annotated[str | None, typer.Option("--subscription", help="Of one subscription.")] = None,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """List deliveries, newest first."""
    done = _subs(ctx).deliveries(subscription, failed=failed)
    if as_json:
        output.emit_json(done)
        return
    if not done:
        _say("No failed deliveries." if failed else "No deliveries yet.")
        return
    _table(done)


@deliveries_app.command("retry")
def deliveries_retry(ctx: typer.Context, id: Annotated[str, typer.Argument(help="The delivery's id.")]) -> None:  # fmt: skip
    """Deliver a failed or dead-lettered delivery again, now."""
    done = retry(Catalog.open(ctx.obj), id)
    _report([done])


def deliver(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Option("--subscription", help="Only this one.")] = None,
) -> None:  # fmt: skip
    """Deliver every pending version to its subscribers, then exit."""
    _report(deliver_pending(Catalog.open(ctx.obj), only=subscription))


def _report(done: list[Delivery]) -> None:
    if not done:
        _say("Nothing to deliver.")
    for d in done:
        detail = (
            f"{d.rows} rows, {len(d.files)} files, {d.bytes} bytes"
            if d.files
            else f"{d.attempts} attempts"
        )
        _say(f"{d.status}: {d.ref} to {d.subscription} ({detail})")
    bad = [d for d in done if d.status != "delivered"]
    if bad:
        raise HarvestError(
            f"{len(bad)} of {len(done)} deliveries failed; the first: {bad[0].last_error}"
        )


def _table(done: list[Delivery]) -> None:
    output.table(
        ["id", "subscription", "version", "status", "attempts", "rows", "bytes", "when", "error"],
        [
            (d.id, d.subscription, d.ref, d.status, d.attempts, d.rows, d.bytes,
             d.updated_at.strftime("%Y-%m-%d %H:%M:%S") if d.updated_at else "", d.last_error)
            for d in done
        ],
    )  # fmt: skip


def _format(sub: Subscription) -> str:
    split = f", every {sub.split_rows} rows" if sub.split_rows else ""
    return sub.format + (".gz" if sub.gzip else "") + split


def _status(sub: Subscription) -> str:
    return f"paused ({sub.reason})" if sub.status == "paused" and sub.reason else sub.status


def _public(sub: Subscription) -> dict[str, object]:
    """A subscription as listings show it: its signing key only in ``show``."""
    return {k: v for k, v in vars(sub).items() if k != "signing_key"}
