"""Access requests, as on gated Hugging Face datasets: ask with a reason, and a maintainer
grants or refuses; a maintainer may also take a grant back. And who the caller is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from server.deps import PrincipalDep, ServicesDep
from server.problems import RESPONSES
from server.schemas import AccessRequestIn, AccessRequestOut, Me, RevokedOut
from server.visible import find_dataset

router = APIRouter(prefix="/v1", tags=["access"], responses=RESPONSES)
Name = Annotated[str, Path(description="The dataset, as stage.name.", max_length=200)]
RequestId = Annotated[str, Path(max_length=100)]


@router.get("/me", response_model=Me, summary="Who the caller is")
def me(principal: PrincipalDep) -> Me:
    return Me(
        user=principal.user,
        admin=principal.admin,
        scopes=sorted(principal.scopes),
        organisations=dict(principal.roles),
    )


@router.get(
    "/datasets/{name}/access-requests",
    response_model=list[AccessRequestOut],
    summary="Access requests for a dataset",
)
def list_requests(s: ServicesDep, principal: PrincipalDep, name: Name) -> list[AccessRequestOut]:
    """The caller's own requests, or every request when they maintain the dataset."""
    find_dataset(s, principal, name, read=False)
    return [AccessRequestOut.of(r) for r in s.accounts.requests(principal, name)]


@router.post(
    "/datasets/{name}/access-requests",
    response_model=AccessRequestOut,
    status_code=201,
    summary="Ask for access to a gated dataset",
)
def ask(
    body: AccessRequestIn, s: ServicesDep, principal: PrincipalDep, name: Name
) -> AccessRequestOut:
    find_dataset(s, principal, name, read=False)
    made = s.accounts.request(principal, name, body.reason, body.license_accepted)
    return AccessRequestOut.of(made)


@router.post(
    "/access-requests/{request_id}/grant",
    response_model=AccessRequestOut,
    summary="Grant a request",
)
def grant(s: ServicesDep, principal: PrincipalDep, request_id: RequestId) -> AccessRequestOut:
    return AccessRequestOut.of(s.accounts.decide(principal, request_id, grant=True))


@router.post(
    "/access-requests/{request_id}/refuse",
    response_model=AccessRequestOut,
    summary="Refuse a request",
)
def refuse(s: ServicesDep, principal: PrincipalDep, request_id: RequestId) -> AccessRequestOut:
    return AccessRequestOut.of(s.accounts.decide(principal, request_id, grant=False))


@router.delete(
    "/datasets/{name}/grants/{user}", response_model=RevokedOut, summary="Take a grant back"
)
def revoke(
    s: ServicesDep,
    principal: PrincipalDep,
    name: Name,
    user: Annotated[str, Path(max_length=100)],
) -> RevokedOut:
    find_dataset(s, principal, name, read=False)
    return RevokedOut(revoked=s.accounts.revoke(principal, name, user))
