"""Who may read what: accounts, tokens, visibility, grants, and the sandbox built per reader."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from catalog import Catalog
from catalog.access import (
    ADMIN,
    ANONYMOUS,
    Accounts,
    AuthenticationError,
    PermissionDeniedError,
    parse_lifetime,
    parse_scopes,
)
from catalog.sandbox import Limits, QueryError, Sandbox
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace


@pytest.fixture
def accounts(catalog: Catalog) -> Accounts:
    for name in ("raw.open", "raw.secret", "raw.gate"):
        catalog.commit(
            name, pa.table({"id": [1, 2], "v": [f"{name}-a", f"{name}-b"]}), producer="t"
        )
    accounts = Accounts(catalog)
    accounts.add_user("alice", password="correct horse")
    accounts.add_user("bob")
    accounts.add_user("carol")
    accounts.add_org("acme", owner="alice")
    accounts.add_org("other", owner="carol")
    accounts.set_member("acme", "bob", "reader")
    accounts.set_access("raw.secret", owner="acme", visibility="private")
    accounts.set_access("raw.gate", owner="acme", visibility="gated")
    return accounts


def test_visibility_decides_who_sees_and_reads(accounts: Accounts) -> None:
    alice, bob, carol = (accounts.principal(u) for u in ("alice", "bob", "carol"))
    names = ["raw.gate", "raw.open", "raw.secret"]
    assert accounts.readable(alice, names) == names
    assert accounts.readable(bob, names) == names  # a reader of the owning organisation
    assert accounts.readable(carol, names) == ["raw.open"]
    assert accounts.visible(carol, names) == ["raw.gate", "raw.open"]
    assert accounts.visible(ANONYMOUS, names) == ["raw.gate", "raw.open"]
    assert accounts.readable(ADMIN, names) == names
    assert accounts.may_maintain(alice, "raw.secret") and not accounts.may_maintain(
        bob, "raw.secret"
    )
    with pytest.raises(NotFoundError, match=r"There is no dataset 'raw\.secret'"):
        accounts.require_read(carol, "raw.secret")
    with pytest.raises(PermissionDeniedError, match="gated"):
        accounts.require_read(carol, "raw.gate")


def test_a_gated_dataset_is_read_after_a_grant_and_not_after_a_revoke(accounts: Accounts) -> None:
    carol, alice, bob = (accounts.principal(u) for u in ("carol", "alice", "bob"))
    with pytest.raises(NotFoundError):  # a private dataset cannot even be asked for
        accounts.request(carol, "raw.secret", "please")
    with pytest.raises(InvalidInputError, match="reason"):
        accounts.request(carol, "raw.gate", "  ")
    asked = accounts.request(carol, "raw.gate", "research")
    assert asked.status == "pending" and not accounts.may_read(carol, "raw.gate")
    assert [r.id for r in accounts.requests(alice, status="pending")] == [asked.id]
    assert accounts.requests(accounts.principal("carol")) == [asked]
    with pytest.raises(PermissionDeniedError, match="maintainer"):
        accounts.decide(carol, asked.id, grant=True)  # one's own request
    with pytest.raises(NotFoundError):  # a request a reader of the organisation cannot see
        accounts.decide(bob, asked.id, grant=True)
    assert accounts.decide(alice, asked.id, grant=True).status == "granted"
    assert accounts.may_read(carol, "raw.gate")
    with pytest.raises(InvalidInputError, match="already"):
        accounts.decide(alice, asked.id, grant=False)
    assert accounts.revoke(alice, "raw.gate", "carol") == 1
    assert not accounts.may_read(carol, "raw.gate")


def test_automatic_grants_and_licences(accounts: Accounts, catalog: Catalog) -> None:
    from catalog.records import Listing

    catalog.set_listing("raw.gate", Listing(license="CC-BY-4.0"))
    accounts.set_access("raw.gate", auto_grant=True)
    carol = accounts.principal("carol")
    with pytest.raises(InvalidInputError, match=r"licence 'CC-BY-4\.0'"):
        accounts.request(carol, "raw.gate", "study")
    assert accounts.request(carol, "raw.gate", "study", license_accepted=True).status == "granted"
    assert accounts.may_read(carol, "raw.gate")


def test_tokens_are_hashed_scoped_expire_and_revoke(accounts: Accounts, catalog: Catalog) -> None:
    secret, token = accounts.create_token("bob", ["read"])
    assert secret.startswith("hvt_") and token.id in secret
    stored = catalog.cursor().execute("SELECT * FROM lake.harvest.tokens").fetchall()
    assert all(secret not in str(row) and secret.split("_")[-1] not in str(row) for row in stored)
    bob = accounts.authenticate(secret)
    assert bob.user == "bob" and bob.roles == (("acme", "reader"),) and bob.token == token.id
    assert not bob.can("write") and accounts.may_read(bob, "raw.secret")
    with pytest.raises(PermissionDeniedError, match="'train' scope"):
        bob.require("train")
    with pytest.raises(AuthenticationError):
        accounts.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with pytest.raises(AuthenticationError):
        accounts.authenticate("not a token")
    accounts.revoke_token(token.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        accounts.authenticate(secret)
    short, made = accounts.create_token("bob", ["read"], timedelta(seconds=2))
    assert accounts.authenticate(short).user == "bob"
    time.sleep(max(0.0, (made.expires_at - datetime.now(UTC)).total_seconds()) + 0.1)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.authenticate(short)


def test_passwords_and_names(accounts: Accounts) -> None:
    assert accounts.login("alice", "correct horse").user == "alice"
    for user, password in (("alice", "wrong password"), ("bob", "anything1"), ("nobody", "x" * 9)):
        with pytest.raises(AuthenticationError, match="username or password"):
            accounts.login(user, password)
    with pytest.raises(InvalidInputError, match="taken"):
        accounts.add_user("acme")
    with pytest.raises(InvalidInputError, match="cannot name a user"):
        accounts.add_user("Bad Name")
    with pytest.raises(InvalidInputError, match="8 characters"):
        accounts.add_user("dave", password="short")
    with pytest.raises(InvalidInputError, match="has no owner"):
        accounts.set_access("raw.open", visibility="private")
    accounts.remove_user("bob")
    assert [u.name for u in accounts.users()] == ["alice", "carol"]
    assert accounts.members("acme")[0].user == "alice" and len(accounts.members("acme")) == 1


def test_parsing_scopes_and_lifetimes() -> None:
    assert parse_scopes("read, train") == ("read", "train")
    assert parse_lifetime("30d") == timedelta(days=30)
    with pytest.raises(InvalidInputError, match="not a scope"):
        parse_scopes("read,admin")
    with pytest.raises(InvalidInputError, match="not a lifetime"):
        parse_lifetime("forever")


def test_a_second_process_sees_changes(accounts: Accounts, workspace: Workspace) -> None:
    with Catalog.open(workspace) as other:
        seen = Accounts(other)
        carol = seen.principal("carol")
        assert not seen.may_read(carol, "raw.secret")
        accounts.set_member("acme", "carol", "reader")
        assert seen.may_read(seen.principal("carol"), "raw.secret")


def test_the_sandbox_has_views_only_for_what_the_reader_may_read(
    accounts: Accounts, workspace: Workspace
) -> None:
    sandbox = Sandbox(workspace, Limits(seconds=60, memory="64MB"))
    try:
        carol = accounts.principal("carol")
        readable = accounts.readable(carol, ["raw.open", "raw.secret", "raw.gate"])
        assert sandbox.query("SELECT count(*) AS n FROM raw.open", readable).to_pylist() == [
            {"n": 2}
        ]
        errors = []
        for sql in (
            "SELECT * FROM raw.secret",
            "SELECT * FROM raw.secret@1",
            "SELECT * FROM raw.never_was",
        ):
            with pytest.raises(QueryError) as caught:
                sandbox.query(sql, readable)
            errors.append(str(caught.value).replace("never_was", "secret"))
        assert errors[0] == errors[2]  # a dataset you may not read reads as one that never was
        assert "raw.secret" in errors[1] or "secret" in errors[1]
        listed = sandbox.query("SHOW ALL TABLES", readable).column("name").to_pylist()
        assert listed == ["open"]
        # the same sandbox, for the administrator, still reads everything
        assert sandbox.query("SELECT count(*) AS n FROM raw.secret").to_pylist() == [{"n": 2}]
        assert sandbox.query("SELECT count(*) AS n FROM raw.open", readable).num_rows == 1
    finally:
        sandbox.close()
