"""``harvest users|orgs|tokens|access`` and the ``--owner``/``--visibility`` options of the
commands that make datasets: shells over :mod:`catalog.access`.

The local command line is the workspace's administrator (:data:`~catalog.access.ADMIN`), except
``harvest access request``, which asks on behalf of ``--user``. A token's secret is printed once,
by ``harvest tokens create``, and nowhere else.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from catalog import Catalog
from catalog.access import (
    ADMIN,
    TOKEN_PREFIX,
    VISIBILITIES,
    AccessRequest,
    Accounts,
    DatasetAccess,
    Token,
    parse_lifetime,
    parse_scopes,
)
from core.errors import InvalidInputError, NotFoundError
from harvest import output
from harvest.output import JsonFlag

users_app = typer.Typer(
    help="User accounts: add, list, remove, set a password.", no_args_is_help=True
)
orgs_app = typer.Typer(help="Organisations and their members' roles.", no_args_is_help=True)
tokens_app = typer.Typer(
    help="API tokens: create (shown once), list, revoke.", no_args_is_help=True
)
access_app = typer.Typer(
    help="Access to gated datasets: requests, grants, refusals, revocations.", no_args_is_help=True
)
REQUEST_STATES = ("pending", "granted", "refused", "revoked")

OwnerOption = Annotated[
    str | None,
    typer.Option("--owner", help="The user or organisation that owns the dataset made."),
]
VisibilityOption = Annotated[
    str | None,
    typer.Option("--visibility", help="public, private (its owner only) or gated."),
]


def register(app: typer.Typer) -> None:
    """Add ``users``, ``orgs``, ``tokens`` and ``access`` to ``app``."""
    app.add_typer(users_app, name="users")
    app.add_typer(orgs_app, name="orgs")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(access_app, name="access")


def open_accounts(ctx: typer.Context) -> Accounts:
    return Accounts(Catalog.open(ctx.obj))


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _say(line: str) -> None:
    output.console.print(line, markup=False)


def require_user(accounts: Accounts, name: str) -> None:
    if name not in {u.name for u in accounts.users()}:
        raise NotFoundError(f"There is no user '{name}'; `harvest users list` shows them.")


# -- the options of import, scrape and clean ---------------------------------------------


def check_owner(catalog: Catalog, owner: str | None, visibility: str | None) -> None:
    """Refuse an unknown owner or visibility before any work is done."""
    if visibility is not None and visibility not in VISIBILITIES:
        raise InvalidInputError(
            f"'{visibility}' is not a visibility: use one of {', '.join(VISIBILITIES)}."
        )
    if visibility == "private" and owner is None:
        raise InvalidInputError(
            "A private dataset needs an owner, or no one could read it: add --owner USER|ORG."
        )
    if owner is None:
        return
    accounts = Accounts(catalog)
    if owner not in {u.name for u in accounts.users()} | set(accounts.orgs()):
        raise NotFoundError(
            f"There is no user or organisation '{owner}'; `harvest users list` and "
            "`harvest orgs list` show them."
        )


def apply_owner(
    catalog: Catalog,
    dataset: str,
    owner: str | None,
    visibility: str | None,
    auto_grant: bool | None = None,
) -> DatasetAccess | None:
    """Set the owner and visibility of ``dataset`` (nothing when neither is given)."""
    if owner is None and visibility is None:
        return None
    access = Accounts(catalog).set_access(
        dataset,
        owner=owner if owner is not None else False,
        visibility=visibility,
        auto_grant=auto_grant,
    )
    return access


def describe_access(access: DatasetAccess) -> str:
    auto = ", requests granted automatically" if access.auto_grant else ""
    return f"owner {access.owner or '-'}, {access.visibility}{auto}"


def print_access(access: DatasetAccess | None) -> None:
    if access is not None:
        _say(f"{access.dataset}: {describe_access(access)}")


def access_json(access: DatasetAccess) -> dict[str, object]:
    return {"owner": access.owner, "visibility": access.visibility, "auto_grant": access.auto_grant}


# -- users -------------------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The user's name: lower-case letters, digits, - and _.")
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password from standard input.")
    ] = False,
    password: Annotated[
        bool, typer.Option("--password", help="Ask for a password (typed twice, hidden).")
    ] = False,
) -> None:
    """Add a user, with a password for the dashboard if one is given."""
    if password and password_stdin:
        raise InvalidInputError("Give --password or --password-stdin, not both.")
    secret = _read_password(password_stdin) if password or password_stdin else None
    user = open_accounts(ctx).add_user(name, password=secret)
    _say(f"Added user {user.name}" + (" with a password." if user.has_password else "."))


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List users with their organisations' roles."""
    users = open_accounts(ctx).users()
    if as_json:
        output.emit_json(
            [
                {
                    "name": u.name,
                    "created_at": u.created_at,
                    "has_password": u.has_password,
                    "roles": [{"org": org, "role": role} for org, role in u.roles],
                }
                for u in users
            ]
        )
        return
    if not users:
        _say("No users yet: `harvest users add NAME` adds one.")
        return
    output.table(
        ["user", "password", "organisations", "created"],
        [
            (
                u.name,
                "yes" if u.has_password else "no",
                ", ".join(f"{org} ({role})" for org, role in u.roles),
                _time(u.created_at),
            )
            for u in users
        ],
    )


@users_app.command("remove")
def users_remove(ctx: typer.Context, name: str) -> None:
    """Remove a user with their tokens, memberships and grants (datasets they own stay)."""
    open_accounts(ctx).remove_user(name)
    _say(f"Removed user {name}, their tokens, memberships and grants.")


@users_app.command("password")
def users_password(
    ctx: typer.Context,
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's password (asked twice, hidden, unless read from standard input)."""
    accounts = open_accounts(ctx)
    require_user(accounts, name)
    accounts.set_password(name, _read_password(password_stdin))
    _say(f"Set the password of {name}.")


# -- organisations -----------------------------------------------------------------------


@orgs_app.command("add")
def orgs_add(
    ctx: typer.Context,
    name: str,
    owner: Annotated[
        str | None, typer.Option("--owner", help="A user who becomes the organisation's owner.")
    ] = None,
) -> None:
    """Add an organisation, with its first owner if given."""
    open_accounts(ctx).add_org(name, owner=owner)
    _say(f"Added organisation {name}" + (f" owned by {owner}." if owner else "."))


@orgs_app.command("list")
def orgs_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List organisations with their members."""
    accounts = open_accounts(ctx)
    orgs = {org: accounts.members(org) for org in accounts.orgs()}
    if as_json:
        output.emit_json(
            [
                {"name": org, "members": [{"user": m.user, "role": m.role} for m in members]}
                for org, members in orgs.items()
            ]
        )
        return
    if not orgs:
        _say("No organisations yet: `harvest orgs add NAME --owner USER` adds one.")
        return
    output.table(
        ["organisation", "members"],
        [
            (org, ", ".join(f"{m.user} ({m.role})" for m in members))
            for org, members in orgs.items()
        ],
    )


@orgs_app.command("members")
def orgs_members(
    ctx: typer.Context,
    org: str,
    add: Annotated[str | None, typer.Option("--add", help="Give this user a role.")] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help="The role --add gives: reader (default), maintainer or owner."),
    ] = None,
    remove: Annotated[
        str | None, typer.Option("--remove", help="Take this user out of the organisation.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List an organisation's members; --add or --remove one first."""
    if add and remove:
        raise InvalidInputError("Give --add or --remove, not both.")
    if role is not None and not add:
        raise InvalidInputError("--role goes with --add USER: it is the role that user gets.")
    accounts = open_accounts(ctx)
    if add:
        accounts.set_member(org, add, role or "reader")
    elif remove:
        if remove not in {m.user for m in accounts.members(org)}:
            raise NotFoundError(f"{remove} is not a member of {org}.")
        accounts.set_member(org, remove, None)
    members = accounts.members(org)
    if as_json:
        output.emit_json([{"org": m.org, "user": m.user, "role": m.role} for m in members])
        return
    output.table(["user", "role"], [(m.user, m.role) for m in members], title=org)


# -- tokens ------------------------------------------------------------------------------


def _token_json(token: Token, now: datetime) -> dict[str, object]:
    return {
        "id": token.id,
        "user": token.user,
        "scopes": list(token.scopes),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "state": token.state(now),
    }


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Whose token it is.")],
    scopes: Annotated[
        str, typer.Option("--scopes", help="Comma-separated: read, write, train.")
    ] = "read",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime such as 30d, 12h or 15m (default: none)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API token and print it: this is the only time it is shown."""
    chosen = parse_scopes(scopes)
    lifetime = parse_lifetime(expires) if expires is not None else None
    secret, token = open_accounts(ctx).create_token(user, chosen, lifetime)
    if as_json:
        output.emit_json(
            {
                "token": secret,
                "id": token.id,
                "user": token.user,
                "scopes": list(token.scopes),
                "expires_at": token.expires_at,
            }
        )
        return
    sys.stdout.write(secret + "\n")
    output.errors.print(
        f"Token {token.id} for {token.user} ({', '.join(token.scopes)}; "
        f"{'expires ' + _time(token.expires_at) if token.expires_at else 'never expires'}): "
        "store it now, it will not be shown again.",
        markup=False,
    )


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List tokens (never their secrets) with their state: active, expired or revoked."""
    accounts = open_accounts(ctx)
    if user is not None:
        require_user(accounts, user)
    tokens = accounts.tokens(user)
    now = datetime.now(UTC)
    if as_json:
        output.emit_json([_token_json(t, now) for t in tokens])
        return
    if not tokens:
        _say("No tokens yet: `harvest tokens create --user USER` creates one.")
        return
    output.table(
        ["id", "user", "scopes", "created", "expires", "state"],
        [
            (
                t.id,
                t.user,
                ",".join(t.scopes),
                _time(t.created_at),
                _time(t.expires_at) or "never",
                t.state(now),
            )
            for t in tokens
        ],
    )


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[
        str, typer.Argument(help="The token's id, as `harvest tokens list` shows.")
    ],
) -> None:
    """Revoke a token: it stops working at once."""
    public_id = token_id.removeprefix(TOKEN_PREFIX).split("_")[0]  # never echo a secret
    token = open_accounts(ctx).revoke_token(public_id)
    _say(f"Revoked token {token.id} of {token.user}.")


# -- access requests and grants ----------------------------------------------------------


def _dataset(accounts: Accounts, name: str) -> str:
    return accounts.catalog.dataset(name).name


def _request_json(r: AccessRequest) -> dict[str, object]:
    return {
        "id": r.id,
        "dataset": r.dataset,
        "user": r.user,
        "reason": r.reason,
        "license_accepted": r.license_accepted,
        "status": r.status,
        "decided_by": r.decided_by,
        "created_at": r.created_at,
        "decided_at": r.decided_at,
    }


@access_app.command("request")
def access_request(
    ctx: typer.Context,
    dataset: str,
    user: Annotated[str, typer.Option("--user", help="Who asks for access.")],
    reason: Annotated[str, typer.Option("--reason", help="Why they need it.")],
    accept_license: Annotated[
        bool, typer.Option("--accept-license", help="Accept the dataset's licence.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ask for access to a gated dataset on behalf of --user."""
    accounts = open_accounts(ctx)
    require_user(accounts, user)
    made = accounts.request(
        accounts.principal(user), _dataset(accounts, dataset), reason, accept_license
    )
    if as_json:
        output.emit_json(_request_json(made))
        return
    _say(f"Request {made.id} by {made.user} for {made.dataset}: {made.status}.")


@access_app.command("grant")
def access_grant(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Argument(help="The dataset.")] = None,
    user: Annotated[str | None, typer.Argument(help="The user who may read it.")] = None,
    request_id: Annotated[
        str | None, typer.Option("--request", help="Grant this pending request instead.")
    ] = None,
) -> None:
    """Let USER read DATASET, or grant a pending request with --request ID."""
    accounts = open_accounts(ctx)
    if request_id is not None and dataset is None and user is None:
        made = accounts.decide(ADMIN, request_id, grant=True)
    elif request_id is None and dataset is not None and user is not None:
        made = accounts.grant(ADMIN, _dataset(accounts, dataset), user)
    else:
        raise InvalidInputError("Give DATASET and USER, or --request ID.")
    _say(f"Granted {made.user} access to {made.dataset} (request {made.id}).")


@access_app.command("refuse")
def access_refuse(ctx: typer.Context, request_id: str) -> None:
    """Refuse a pending access request."""
    made = open_accounts(ctx).decide(ADMIN, request_id, grant=False)
    _say(f"Refused request {made.id} by {made.user} for {made.dataset}.")


@access_app.command("revoke")
def access_revoke(ctx: typer.Context, dataset: str, user: str) -> None:
    """Take back USER's access to DATASET."""
    accounts = open_accounts(ctx)
    name = _dataset(accounts, dataset)
    require_user(accounts, user)
    if not accounts.revoke(ADMIN, name, user):
        raise InvalidInputError(
            f"{user} holds no grant on {name}; `harvest access list --dataset {name}` shows who does."
        )
    _say(f"Revoked {user}'s access to {name}.")


@access_app.command("list")
def access_list(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, granted, refused or revoked.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List access requests and grants."""
    if status is not None and status not in REQUEST_STATES:
        raise InvalidInputError(
            f"'{status}' is not a request status: use one of {', '.join(REQUEST_STATES)}."
        )
    accounts = open_accounts(ctx)
    name = _dataset(accounts, dataset) if dataset is not None else None
    found = accounts.requests(ADMIN, name, status)
    if as_json:
        output.emit_json([_request_json(r) for r in found])
        return
    if not found:
        _say("No access requests.")
        return
    output.table(
        ["id", "dataset", "user", "status", "reason", "licence", "decided by", "asked", "decided"],
        [
            (
                r.id,
                r.dataset,
                r.user,
                r.status,
                r.reason,
                "accepted" if r.license_accepted else "",
                r.decided_by,
                _time(r.created_at),
                _time(r.decided_at),
            )
            for r in found
        ],
    )
