"""Subscriptions under ``/v1/subscriptions``: a caller subscribes a webhook to a dataset they
may read (or to a model's champion changes), lists, pauses, resumes and removes their own, and
reads their deliveries. Folder and S3 targets write where the server runs, so only the
workspace's administrator may give them. A subscription that is not the caller's does not
exist for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from catalog.access import Principal
from catalog.subscriptions import Subscription, Subscriptions
from core.errors import NotFoundError
from delivery.run import subscribe
from server.deps import PrincipalDep, Services, ServicesDep
from server.problems import RESPONSES
from server.schemas import DeliveryOut, SubscriptionIn, SubscriptionOut
from server.visible import find_dataset

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"], responses=RESPONSES)
Name = Annotated[str, Path(description="The subscription's name.", max_length=63)]


def _mine(s: Services, principal: Principal, name: str) -> Subscription:
    """The caller's subscription ``name``; anyone else's reads as one that does not exist."""
    try:
        sub = Subscriptions(s.catalog).get(name)
    except NotFoundError:
        sub = None
    if sub is None or not (principal.admin or sub.subscriber == principal.user):
        raise NotFoundError(f"There is no subscription '{name}'.")
    return sub


@router.get("", response_model=list[SubscriptionOut], summary="The caller's subscriptions")
def list_subscriptions(s: ServicesDep, principal: PrincipalDep) -> list[SubscriptionOut]:
    found = Subscriptions(s.catalog).subscriptions()
    return [SubscriptionOut.of(x) for x in found
            if principal.admin or x.subscriber == principal.user]  # fmt: skip


@router.post("", response_model=SubscriptionOut, status_code=201, summary="Subscribe")
def add(body: SubscriptionIn, s: ServicesDep, principal: PrincipalDep) -> SubscriptionOut:
    """Deliver the dataset's versions from its latest one on (a model's next champion change)."""
    if not body.dataset.startswith("model:"):
        find_dataset(s, principal, body.dataset, read=True)  # one 404 for what is not theirs
    name = body.name or f"{principal.name}-{body.dataset.replace('.', '-').replace(':', '-')}"
    wanted = Subscription(
        name=name, dataset=body.dataset, target=body.target, secret=body.secret,
        format=body.format, gzip=body.gzip, split_rows=body.split_rows, mode=body.mode,
        query=body.query,
    )  # fmt: skip
    return SubscriptionOut.of(subscribe(s.catalog, principal, wanted))


@router.get("/{name}", response_model=SubscriptionOut, summary="A subscription")
def show(s: ServicesDep, principal: PrincipalDep, name: Name) -> SubscriptionOut:
    return SubscriptionOut.of(_mine(s, principal, name))


@router.post("/{name}/pause", response_model=SubscriptionOut, summary="Pause a subscription")
def pause(s: ServicesDep, principal: PrincipalDep, name: Name) -> SubscriptionOut:
    _mine(s, principal, name)
    return SubscriptionOut.of(Subscriptions(s.catalog).set_status(name, "paused", "paused by hand"))


@router.post("/{name}/resume", response_model=SubscriptionOut, summary="Resume a subscription")
def resume(s: ServicesDep, principal: PrincipalDep, name: Name) -> SubscriptionOut:
    sub = _mine(s, principal, name)
    if not sub.is_model:
        find_dataset(s, principal, sub.dataset, read=True)  # access may have been revoked
    return SubscriptionOut.of(Subscriptions(s.catalog).set_status(name, "active"))


@router.delete("/{name}", status_code=204, summary="Remove a subscription")
def remove(s: ServicesDep, principal: PrincipalDep, name: Name) -> Response:
    _mine(s, principal, name)
    Subscriptions(s.catalog).remove(name)
    return Response(status_code=204)


@router.get(
    "/{name}/deliveries", response_model=list[DeliveryOut], summary="A subscription's deliveries"
)
def deliveries(s: ServicesDep, principal: PrincipalDep, name: Name) -> list[DeliveryOut]:
    _mine(s, principal, name)
    return [DeliveryOut.of(d) for d in Subscriptions(s.catalog).deliveries(name)]
