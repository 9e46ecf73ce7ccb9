"""Who may read what: users, organisations, tokens, owners, visibility and access grants.

Access is a catalog concern, not a server one. Its rows are ``harvest.*`` tables in the
catalog database (so a team catalog on PostgreSQL carries them), and one object,
:class:`Accounts`, answers every question a reader asks: who a token belongs to, which
datasets a principal may see and read, who maintains a dataset. The API, the dashboard and
the sandbox all go through it, so a dataset a caller may not read does not exist for them
anywhere.

The rules:

- A dataset has an owner (a user or an organisation; none for a dataset made before
  accounts) and a visibility. ``public`` (the default): anyone reads it. ``private``: its
  owner only, which for an organisation means its members. ``gated``: its listing is public,
  but rows, downloads and SQL need a grant, asked for with a reason (and the licence
  accepted) and given by a maintainer, or at once when the dataset grants automatically.
- A dataset's maintainers are its owner user, or its owner organisation's owners and
  maintainers; they grant and refuse requests. Readers of an organisation read its private
  datasets.
- A model follows the visibility of the dataset it was trained on unless set otherwise.
- A token carries scopes (``read``, ``write``, ``train``); only a salted scrypt hash of it is
  stored, found by the token's short public prefix and compared in constant time.
- The local command line is the workspace's administrator (:data:`ADMIN`), and a workspace
  with no users is a single-user workspace where every caller on loopback is that too.

The tables are small and read often, so :class:`Accounts` keeps them in memory and reads
them again only when something was committed to the catalog (:mod:`catalog.commits`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import duckdb

from catalog.commits import watch_commits
from catalog.engine import LAKE, retry
from catalog.records import DatasetRef
from catalog.store import Catalog
from catalog.subscriptions import Subscriptions
from core.errors import HarvestError, InvalidInputError, NotFoundError

META = f"{LAKE}.harvest"
ROLES = ("reader", "maintainer", "owner")
SCOPES = ("read", "write", "train")
VISIBILITIES = ("public", "private", "gated")
Visibility = Literal["public", "private", "gated"]
TOKEN_PREFIX = "hvt_"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,38}$")
_TOKEN = re.compile(r"^hvt_([a-z0-9]{10})_([A-Za-z0-9_-]{20,100})$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # 16 MiB and about 40 ms per hash
_RELOAD_SECONDS = 1.0  # without a change detector (a remote catalog), how stale rows may be

_TABLES = {
    "users": "name VARCHAR, password VARCHAR, created_at TIMESTAMPTZ",
    "orgs": "name VARCHAR, created_at TIMESTAMPTZ",
    "members": "org VARCHAR, user_name VARCHAR, role VARCHAR, added_at TIMESTAMPTZ",
    "tokens": """id VARCHAR, user_name VARCHAR, salt VARCHAR, hash VARCHAR, scopes VARCHAR[],
        created_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ""",
    "dataset_access": """dataset VARCHAR, owner VARCHAR, visibility VARCHAR,
        auto_grant BOOLEAN, set_at TIMESTAMPTZ""",
    "model_access": "model VARCHAR, visibility VARCHAR, set_at TIMESTAMPTZ",
    "access_requests": """id VARCHAR, dataset VARCHAR, user_name VARCHAR, reason VARCHAR,
        license_accepted BOOLEAN, status VARCHAR, decided_by VARCHAR, created_at TIMESTAMPTZ,
        decided_at TIMESTAMPTZ""",
}


class AuthenticationError(HarvestError):
    """No valid credentials: an unknown, malformed, revoked or expired token or password."""


class PermissionDeniedError(HarvestError):
    """Credentials that are valid but do not allow this (a missing scope, not a maintainer)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user with their organisations' roles and their token's scopes."""

    user: str | None = None  # None: anonymous
    roles: tuple[tuple[str, str], ...] = ()  # (organisation, role)
    scopes: frozenset[str] = frozenset({"read"})
    admin: bool = False
    token: str | None = None  # the token's public id, when a token was used

    @property
    def name(self) -> str:
        return "admin" if self.admin else self.user or "anonymous"

    def can(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def role_in(self, org: str) -> str | None:
        return dict(self.roles).get(org)

    def require(self, scope: str) -> None:
        if not self.can(scope):
            raise PermissionDeniedError(
                f"This needs the '{scope}' scope; create a token with --scopes {scope}."
            )


ADMIN = Principal(user=None, scopes=frozenset(SCOPES), admin=True)
ANONYMOUS = Principal()


@dataclass(frozen=True)
class User:
    name: str
    created_at: datetime
    has_password: bool
    roles: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Member:
    org: str
    user: str
    role: str


@dataclass(frozen=True)
class Token:
    """A token as listed: never the secret, which is shown once when it is created."""

    id: str
    user: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class DatasetAccess:
    """A dataset's owner (None when it has none), visibility and whether requests are
    granted at once."""

    dataset: str
    owner: str | None = None
    visibility: Visibility = "public"
    auto_grant: bool = False


@dataclass(frozen=True)
class AccessRequest:
    id: str
    dataset: str
    user: str
    reason: str
    license_accepted: bool
    status: str  # pending, granted, refused, revoked
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class _State:
    """Every access row, as read at one catalog snapshot."""

    users: dict[str, tuple[str | None, datetime]] = field(default_factory=dict)
    orgs: dict[str, datetime] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # user -> org -> role
    tokens: dict[str, tuple[Token, str, str]] = field(default_factory=dict)  # id -> salt, hash
    datasets: dict[str, DatasetAccess] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    requests: tuple[AccessRequest, ...] = ()

    def granted(self, user: str, dataset: str) -> bool:
        return any(
            r.user == user and r.dataset == dataset and r.status == "granted" for r in self.requests
        )


def check_account_name(name: str, what: str = "a user or organisation") -> str:
    if not _NAME.match(name or ""):
        raise InvalidInputError(
            f"'{name}' cannot name {what}: use lower-case letters, digits, '-' and '_', "
            "starting with a letter (at most 39 characters)."
        )
    return name


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """``read,write`` as scopes; an unknown scope is refused with the ones there are."""
    words = text.split(",") if isinstance(text, str) else list(text)
    scopes = tuple(dict.fromkeys(w.strip() for w in words if w.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInputError(
            f"'{','.join(unknown) or text}' is not a scope: use one or more of {', '.join(SCOPES)}."
        )
    return scopes


def parse_lifetime(text: str) -> timedelta:
    """``30d``, ``12h``, ``15m`` or ``90s`` as a time span."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhms])\s*", text or "")
    if not match or int(match[1]) == 0:
        raise InvalidInputError(
            f"'{text}' is not a lifetime: write a number and a unit, such as 30d, 12h or 15m."
        )
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()  # type: ignore[arg-type]


def _password_record(password: str) -> str:
    if len(password) < 8:
        raise InvalidInputError("A password needs at least 8 characters.")
    salt = secrets.token_bytes(16)
    return f"scrypt${salt.hex()}${hash_secret(password, salt)}"


def _password_matches(record: str | None, password: str) -> bool:
    if not record or record.count("$") != 2:
        hash_secret(password, b"0" * 16)  # as slow as a real check, so timing tells nothing
        return False
    _, salt, expected = record.split("$")
    return hmac.compare_digest(hash_secret(password, bytes.fromhex(salt)), expected)


def dataset_of_model(dataset_ref: str) -> str:
    """The dataset a model was trained on, without its version (``clean.products@3``)."""
    return dataset_ref.split("@", 1)[0]


class Accounts:
    """The access rules of one catalog. Safe to share between threads."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._commits = watch_commits(catalog.workspace, catalog.cursor)
        self._mark: object = None
        self._state = _State()
        self._verified: dict[str, bytes] = {}  # token id -> sha256 of a token that matched
        present = catalog.cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
            [LAKE, "harvest"],
        )
        if set(_TABLES) - {row[0] for row in present.fetchall()}:  # the first time only
            catalog.transaction(self._create_tables, what="prepare the access tables")

    @staticmethod
    def _create_tables(cur: duckdb.DuckDBPyConnection) -> None:
        for name, columns in _TABLES.items():
            cur.execute(f"CREATE TABLE IF NOT EXISTS {META}.{name} ({columns})")

    # -- reading the rows ----------------------------------------------------------------

    def state(self) -> _State:
        """The access rows as committed now (read again only after a commit)."""
        if self._commits is not None:
            mark: object = self._commits.mark()
        else:
            mark = int(time.monotonic() / _RELOAD_SECONDS)
        with self._lock:
            if mark != self._mark:
                self._state = retry(self._read, what="read who may read what")
                self._mark = mark
            return self._state

    def _read(self) -> _State:
        cur = self.catalog.cursor()

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return cur.execute(sql).fetchall()

        members: dict[str, dict[str, str]] = {}
        for org, user, role in rows(f"SELECT org, user_name, role FROM {META}.members"):
            members.setdefault(user, {})[org] = role
        tokens = {}
        for row in rows(
            f"SELECT id, user_name, scopes, created_at, expires_at, revoked_at, salt, hash "
            f"FROM {META}.tokens"
        ):
            token = Token(row[0], row[1], tuple(row[2] or ()), row[3], row[4], row[5])
            tokens[row[0]] = (token, row[6], row[7])
        return _State(
            users={r[0]: (r[1], r[2]) for r in rows(f"SELECT * FROM {META}.users")},
            orgs={r[0]: r[1] for r in rows(f"SELECT name, created_at FROM {META}.orgs")},
            members=members,
            tokens=tokens,
            datasets={
                r[0]: DatasetAccess(r[0], r[1], r[2], bool(r[3]))
                for r in rows(
                    f"SELECT dataset, owner, visibility, auto_grant FROM {META}.dataset_access"
                )
            },
            models=dict(rows(f"SELECT model, visibility FROM {META}.model_access")),
            requests=tuple(
                AccessRequest(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8])
                for r in rows(
                    "SELECT id, dataset, user_name, reason, license_accepted, status, "
                    f"decided_by, created_at, decided_at FROM {META}.access_requests "
                    "ORDER BY created_at, id"
                )
            ),
        )

    def has_users(self) -> bool:
        """Whether anyone has an account (without, the workspace is single-user)."""
        return bool(self.state().users)

    # -- users, organisations and tokens ---------------------------------------------------

    def users(self) -> list[User]:
        state = self.state()
        return [
            User(
                name,
                created,
                password is not None,
                tuple(sorted(state.members.get(name, {}).items())),
            )
            for name, (password, created) in sorted(state.users.items())
        ]

    def _check_free(self, name: str) -> None:
        state = self.state()
        if name in state.users or name in state.orgs:
            raise InvalidInputError(f"'{name}' is taken: a user or organisation has that name.")

    def add_user(self, name: str, password: str | None = None) -> User:
        check_account_name(name, "a user")
        self._check_free(name)
        record = _password_record(password) if password is not None else None
        now = datetime.now(UTC)
        self._write(f"INSERT INTO {META}.users VALUES (?, ?, ?)", [name, record, now])
        return User(name, now, record is not None)

    def set_password(self, name: str, password: str) -> None:
        self._user(name)
        record = _password_record(password)
        self._write(f"UPDATE {META}.users SET password = ? WHERE name = ?", [record, name])

    def remove_user(self, name: str) -> None:
        """Remove a user with their tokens, memberships and grants (datasets they own stay,
        reachable by the administrator)."""
        self._user(name)

        def remove(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(f"DELETE FROM {META}.users WHERE name = ?", [name])
            cur.execute(f"DELETE FROM {META}.tokens WHERE user_name = ?", [name])
            cur.execute(f"DELETE FROM {META}.members WHERE user_name = ?", [name])
            cur.execute(f"DELETE FROM {META}.access_requests WHERE user_name = ?", [name])

        self._write(remove)

    def _user(self, name: str) -> tuple[str | None, datetime]:
        found = self.state().users.get(name)
        if found is None:
            raise NotFoundError(f"There is no user '{name}'; `harvest users list` shows them.")
        return found

    def add_org(self, name: str, owner: str | None = None) -> None:
        check_account_name(name, "an organisation")
        self._check_free(name)
        if owner is not None:
            self._user(owner)
        now = datetime.now(UTC)

        def add(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(f"INSERT INTO {META}.orgs VALUES (?, ?)", [name, now])
            if owner is not None:
                cur.execute(
                    f"INSERT INTO {META}.members VALUES (?, ?, 'owner', ?)", [name, owner, now]
                )

        self._write(add)

    def orgs(self) -> list[str]:
        return sorted(self.state().orgs)

    def _org(self, name: str) -> None:
        if name not in self.state().orgs:
            raise NotFoundError(
                f"There is no organisation '{name}'; `harvest orgs list` shows them."
            )

    def members(self, org: str) -> list[Member]:
        self._org(org)
        state = self.state()
        return [
            Member(org, user, roles[org])
            for user, roles in sorted(state.members.items())
            if org in roles
        ]

    def set_member(self, org: str, user: str, role: str | None) -> None:
        """Give ``user`` a role in ``org`` (None removes them)."""
        self._org(org)
        self._user(user)
        if role is not None and role not in ROLES:
            raise InvalidInputError(f"'{role}' is not a role: use one of {', '.join(ROLES)}.")

        def write(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(f"DELETE FROM {META}.members WHERE org = ? AND user_name = ?", [org, user])
            if role is not None:
                cur.execute(
                    f"INSERT INTO {META}.members VALUES (?, ?, ?, ?)",
                    [org, user, role, datetime.now(UTC)],
                )

        self._write(write)

    def create_token(
        self, user: str, scopes: Sequence[str] = ("read",), lifetime: timedelta | None = None
    ) -> tuple[str, Token]:
        """A new token for ``user``: the secret (shown once, never stored) and its record."""
        self._user(user)
        scopes = parse_scopes(scopes)
        token_id = "".join(secrets.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(10))
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_bytes(16)
        now = datetime.now(UTC)
        expires = now + lifetime if lifetime is not None else None
        self._write(
            f"INSERT INTO {META}.tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            [token_id, user, salt.hex(), hash_secret(secret, salt), list(scopes), now, expires],
        )
        return secret, Token(token_id, user, scopes, now, expires, None)

    def tokens(self, user: str | None = None) -> list[Token]:
        found = [t for t, _, _ in self.state().tokens.values() if user in (None, t.user)]
        return sorted(found, key=lambda t: (t.user, t.created_at))

    def revoke_token(self, token_id: str) -> Token:
        found = self.state().tokens.get(token_id.removeprefix(TOKEN_PREFIX).split("_")[0])
        if found is None:
            raise NotFoundError(
                f"There is no token '{token_id}'; `harvest tokens list` shows them."
            )
        token = found[0]
        if token.revoked_at is None:
            now = datetime.now(UTC)
            self._write(f"UPDATE {META}.tokens SET revoked_at = ? WHERE id = ?", [now, token.id])
            token = replace(token, revoked_at=now)
        return token

    def authenticate(self, secret: str) -> Principal:
        """The principal a bearer token stands for; AuthenticationError when it is not valid."""
        match = _TOKEN.match(secret or "")
        state = self.state()
        found = state.tokens.get(match[1]) if match else None
        if found is None:
            raise AuthenticationError(
                "The token is not valid; create one with `harvest tokens create`."
            )
        token, salt, expected = found
        state_now = token.state(datetime.now(UTC))
        if state_now != "active" or token.user not in state.users:
            raise AuthenticationError(
                f"The token was {state_now if state_now != 'active' else 'revoked'}; "
                "create a new one with `harvest tokens create`."
            )
        digest = hashlib.sha256(secret.encode()).digest()
        seen = self._verified.get(token.id)
        if seen is None or not hmac.compare_digest(seen, digest):
            if not hmac.compare_digest(hash_secret(secret, bytes.fromhex(salt)), expected):
                raise AuthenticationError(
                    "The token is not valid; create one with `harvest tokens create`."
                )
            self._verified[token.id] = digest
        return self.principal(token.user, frozenset(token.scopes), token.id)

    def login(self, user: str, password: str) -> Principal:
        """The principal for a username and password (the dashboard's session)."""
        found = self.state().users.get(user)
        if not _password_matches(found[0] if found else None, password):
            raise AuthenticationError("The username or password is wrong.")
        return self.principal(user)

    def principal(
        self, user: str, scopes: frozenset[str] = frozenset(SCOPES), token: str | None = None
    ) -> Principal:
        roles = tuple(sorted(self.state().members.get(user, {}).items()))
        return Principal(user=user, roles=roles, scopes=scopes, token=token)

    # -- datasets ----------------------------------------------------------------------------

    def access(self, dataset: str) -> DatasetAccess:
        return self.state().datasets.get(dataset) or DatasetAccess(dataset)

    def set_access(
        self,
        dataset: str,
        *,
        owner: str | Literal[False] | None = False,
        visibility: str | None = None,
        auto_grant: bool | None = None,
    ) -> DatasetAccess:
        """Change a dataset's owner (None clears it; False keeps it), visibility or auto-grant."""
        name = DatasetRef.parse(dataset).qualified
        self.catalog.dataset(name)  # it exists
        current = self.access(name)
        if owner not in (None, False):
            state = self.state()
            if owner not in state.users and owner not in state.orgs:
                raise NotFoundError(
                    f"There is no user or organisation '{owner}'; `harvest users list` and "
                    "`harvest orgs list` show them."
                )
        if visibility is not None and visibility not in VISIBILITIES:
            raise InvalidInputError(
                f"'{visibility}' is not a visibility: use one of {', '.join(VISIBILITIES)}."
            )
        changed = DatasetAccess(
            name,
            current.owner if owner is False else owner,
            visibility or current.visibility,  # type: ignore[arg-type]
            current.auto_grant if auto_grant is None else auto_grant,
        )
        if changed.visibility == "private" and changed.owner is None:
            raise InvalidInputError(
                f"{name} has no owner, so no one could read it if it were private: "
                f"give it one first with `harvest catalog owner {name} USER|ORG`."
            )

        def write(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(f"DELETE FROM {META}.dataset_access WHERE dataset = ?", [name])
            cur.execute(
                f"INSERT INTO {META}.dataset_access VALUES (?, ?, ?, ?, ?)",
                [name, changed.owner, changed.visibility, changed.auto_grant, datetime.now(UTC)],
            )

        self._write(write)
        return changed

    def _owns(self, principal: Principal, access: DatasetAccess, roles: Sequence[str]) -> bool:
        if access.owner is None or principal.user is None:
            return False
        if access.owner == principal.user:
            return True
        return principal.role_in(access.owner) in roles

    def may_read(self, principal: Principal, dataset: str) -> bool:
        """Whether ``principal`` may read the rows of ``dataset`` (``stage.name``)."""
        if principal.admin:
            return True
        if not principal.can("read"):
            return False
        access = self.access(dataset)
        if access.visibility == "public" or self._owns(principal, access, ROLES):
            return True
        return principal.user is not None and self.state().granted(principal.user, dataset)

    def may_see(self, principal: Principal, dataset: str) -> bool:
        """Whether ``dataset`` exists for ``principal``: readable, or gated (listed publicly)."""
        if self.may_read(principal, dataset):
            return True
        return principal.can("read") and self.access(dataset).visibility == "gated"

    def may_maintain(self, principal: Principal, dataset: str) -> bool:
        """Whether ``principal`` may change ``dataset``'s access and answer its requests."""
        if principal.admin:
            return True
        return self._owns(principal, self.access(dataset), ("owner", "maintainer"))

    def readable(self, principal: Principal, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.may_read(principal, n)]

    def visible(self, principal: Principal, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.may_see(principal, n)]

    def require_read(self, principal: Principal, dataset: str) -> None:
        """NotFoundError unless ``principal`` may read ``dataset``: a dataset they may not see
        reads exactly as one that never existed; a gated one says how to ask."""
        if self.may_read(principal, dataset):
            return
        if self.may_see(principal, dataset):
            raise PermissionDeniedError(
                f"{dataset} is gated: ask for access with `harvest access request {dataset}` "
                "or the request-access button."
            )
        raise NotFoundError(f"There is no dataset '{dataset}'.")

    def require_see(self, principal: Principal, dataset: str) -> None:
        if not self.may_see(principal, dataset):
            raise NotFoundError(f"There is no dataset '{dataset}'.")

    # -- models ------------------------------------------------------------------------------

    def set_model_visibility(self, model: str, visibility: str | None) -> None:
        """Set a model's own visibility (None: follow its dataset again)."""
        if visibility is not None and visibility not in VISIBILITIES:
            raise InvalidInputError(
                f"'{visibility}' is not a visibility: use one of {', '.join(VISIBILITIES)}."
            )

        def write(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(f"DELETE FROM {META}.model_access WHERE model = ?", [model])
            if visibility is not None:
                cur.execute(
                    f"INSERT INTO {META}.model_access VALUES (?, ?, ?)",
                    [model, visibility, datetime.now(UTC)],
                )

        self._write(write)

    def may_use_model(self, principal: Principal, model: str, dataset: str) -> bool:
        """Whether ``principal`` may see and call ``model``, trained on ``dataset``."""
        own = self.state().models.get(model)
        if own is None or principal.admin:
            return self.may_read(principal, dataset_of_model(dataset))
        if not principal.can("read"):
            return False
        return own == "public" or self.may_read(principal, dataset_of_model(dataset))

    # -- access requests ---------------------------------------------------------------------

    def requests(
        self, principal: Principal, dataset: str | None = None, status: str | None = None
    ) -> list[AccessRequest]:
        """Requests ``principal`` may see: their own, and those for datasets they maintain."""
        return [
            r
            for r in self.state().requests
            if (dataset is None or r.dataset == dataset)
            and (status is None or r.status == status)
            and (r.user == principal.user or self.may_maintain(principal, r.dataset))
        ]

    def request(
        self, principal: Principal, dataset: str, reason: str, license_accepted: bool = False
    ) -> AccessRequest:
        """Ask for access to a gated dataset; granted at once if the dataset says so."""
        if principal.user is None:
            raise AuthenticationError("Sign in to ask for access.")
        self.require_see(principal, dataset)
        if self.may_read(principal, dataset):
            raise InvalidInputError(f"{principal.user} can already read {dataset}.")
        if not reason.strip():
            raise InvalidInputError("Say why you need access: give a reason.")
        license = self.catalog.dataset(dataset).listing.license
        if license and not license_accepted:
            raise InvalidInputError(
                f"{dataset} is under the licence '{license}': accept it to ask for access."
            )
        pending = [
            r for r in self.requests(principal, dataset, "pending") if r.user == principal.user
        ]
        if pending:
            return pending[0]
        automatic = self.access(dataset).auto_grant
        now = datetime.now(UTC)
        made = AccessRequest(
            id=secrets.token_hex(6),
            dataset=dataset,
            user=principal.user,
            reason=reason.strip()[:2000],
            license_accepted=license_accepted,
            status="granted" if automatic else "pending",
            decided_by="automatic" if automatic else None,
            created_at=now,
            decided_at=now if automatic else None,
        )
        self._insert_request(made)
        return made

    def decide(self, principal: Principal, request_id: str, grant: bool) -> AccessRequest:
        """Grant or refuse a pending request (a maintainer of its dataset only)."""
        found = [r for r in self.state().requests if r.id == request_id]
        if not found or not (
            found[0].user == principal.user or self.may_maintain(principal, found[0].dataset)
        ):
            raise NotFoundError(f"There is no access request '{request_id}'.")
        request = found[0]
        if not self.may_maintain(principal, request.dataset):
            raise PermissionDeniedError(
                f"Only a maintainer of {request.dataset} can answer its access requests."
            )
        if request.status != "pending":
            raise InvalidInputError(f"Request {request_id} was already {request.status}.")
        return self._set_status(request, "granted" if grant else "refused", principal.name)

    def grant(self, principal: Principal, dataset: str, user: str) -> AccessRequest:
        """Give ``user`` access to ``dataset`` directly (a maintainer only)."""
        self._may_change(principal, dataset)
        self._user(user)
        now = datetime.now(UTC)
        for request in self.state().requests:
            if request.dataset == dataset and request.user == user and request.status == "pending":
                return self._set_status(request, "granted", principal.name)
        if self.state().granted(user, dataset):
            return next(
                r for r in self.state().requests
                if r.dataset == dataset and r.user == user and r.status == "granted"
            )  # fmt: skip
        made = AccessRequest(
            secrets.token_hex(6), dataset, user, "granted by a maintainer", False, "granted",
            principal.name, now, now,
        )  # fmt: skip
        self._insert_request(made)
        return made

    def revoke(self, principal: Principal, dataset: str, user: str) -> int:
        """Take back ``user``'s grant on ``dataset``; the number of grants revoked."""
        self._may_change(principal, dataset)
        held = [
            r for r in self.state().requests
            if r.dataset == dataset and r.user == user and r.status == "granted"
        ]  # fmt: skip
        for request in held:
            self._set_status(request, "revoked", principal.name)
        if held:  # what they subscribed to is no longer theirs to receive
            Subscriptions(self.catalog).pause_subscriber(
                user, dataset, f"{user}'s access to {dataset} was revoked"
            )
        return len(held)

    def _may_change(self, principal: Principal, dataset: str) -> None:
        self.require_see(principal, dataset)
        if not self.may_maintain(principal, dataset):
            raise PermissionDeniedError(f"Only a maintainer of {dataset} can change who reads it.")

    def _insert_request(self, made: AccessRequest) -> None:
        self._write(
            f"INSERT INTO {META}.access_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [getattr(made, f.name) for f in fields(AccessRequest)],
        )

    def _set_status(self, request: AccessRequest, status: str, by: str) -> AccessRequest:
        now = datetime.now(UTC)
        self._write(
            f"UPDATE {META}.access_requests SET status = ?, decided_by = ?, decided_at = ? "
            "WHERE id = ?",
            [status, by, now, request.id],
        )
        return replace(request, status=status, decided_by=by, decided_at=now)

    # -- writing -----------------------------------------------------------------------------

    def _write(
        self,
        change: str | Callable[[duckdb.DuckDBPyConnection], object],
        params: list[object] | None = None,
    ) -> None:
        """Commit ``change`` (a statement with ``params``, or a function of a cursor)."""
        if isinstance(change, str):
            sql = change
            change = lambda cur: cur.execute(sql, params or [])  # noqa: E731
        self.catalog.transaction(change, what="change who may read what")
        with self._lock:
            self._mark = None  # read again next time, whatever the change detector says
