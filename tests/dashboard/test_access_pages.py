"""The dashboard with accounts: sign-in, what each person sees, asking for and granting access."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from catalog import Catalog
from catalog.access import Accounts
from tests.dashboard.conftest import populate
from tests.dashboard.test_pages import ran, texts

MakeApp = Callable[[Path, str], AppTest]


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """raw.products private to acme, clean.products gated by acme, iris public."""
    home = tmp_path_factory.mktemp("accounts")
    populate(home)
    with Catalog.open(home) as cat:
        accounts = Accounts(cat)
        accounts.add_user("alice", password="alice-password")
        accounts.add_user("carol", password="carol-password")
        accounts.add_org("acme", owner="alice")
        accounts.set_access("raw.products", owner="acme", visibility="private")
        accounts.set_access("clean.products", owner="acme", visibility="gated")
    return home


def as_user(at: AppTest, user: str | None) -> AppTest:
    at.session_state["credentials"] = ("user", user) if user else None
    return at


def test_anonymous_sees_public_and_gated_listings_only(app: MakeApp, shared_home: Path) -> None:
    at = ran(app(shared_home, "marketplace"))
    shown = texts(at)
    assert "2 of 2 datasets" in shown
    assert "**Clean products**" in shown and "**Iris flowers**" in shown
    assert "Demo shop products" not in shown and "raw.products" not in shown
    assert [b.label for b in at.button] == ["Sign in"]


def test_signing_in_with_a_password_shows_the_organisations_datasets(
    app: MakeApp, shared_home: Path
) -> None:
    at = ran(app(shared_home, "marketplace"))
    at.text_input(key="sign_in_user").input("alice")
    at.text_input(key="sign_in_password").input("wrong password")
    next(b for b in at.button if b.label == "Sign in").click()
    ran(at)
    assert [e.value for e in at.error] == ["The username or password is wrong."]
    at.text_input(key="sign_in_password").input("alice-password")
    next(b for b in at.button if b.label == "Sign in").click()
    ran(at)
    shown = texts(at)
    assert "3 of 3 datasets" in shown and "**Demo shop products**" in shown
    assert "Signed in as **alice**" in shown


def test_a_private_dataset_reads_as_missing_and_sql_cannot_reach_it(
    app: MakeApp, shared_home: Path
) -> None:
    at = ran(as_user(app(shared_home, "dataset"), "carol"))
    assert "raw.products" not in at.selectbox[0].options
    said = []
    for name in ("raw.products", "raw.never_was"):
        at = app(shared_home, "dataset")
        at.query_params["name"] = name
        said.append([w.value.replace(name, "X") for w in ran(as_user(at, "carol")).warning])
    assert said[0] == said[1] and "There is no dataset 'X'" in said[0][0]
    sql = ran(as_user(app(shared_home, "sql"), "carol"))
    sql.text_area[0].input("SELECT count(*) FROM raw.products")
    sql.button[0].click()
    ran(sql)
    refused = " ".join(e.value for e in sql.error)
    assert "products" in refused and "does not exist" in refused.lower()


def test_a_gated_dataset_is_asked_for_granted_and_then_read(
    app: MakeApp, shared_home: Path
) -> None:
    at = app(shared_home, "dataset")
    at.query_params["name"] = "clean.products"
    at = ran(as_user(at, "carol"))
    assert "gated" in texts(at) and not at.tabs
    at.text_area(key="access_reason").input("pricing research")
    at.checkbox(key="access_license").check()
    next(b for b in at.button if b.label == "Request access").click()
    ran(at)
    assert "Asked: a maintainer will answer your request." in texts(at)

    owner = app(shared_home, "dataset")
    owner.query_params["name"] = "clean.products"
    owner = ran(as_user(owner, "alice"))
    assert "Access requests (1 pending)" in [e.label for e in owner.expander]
    assert "pricing research" in texts(owner)
    next(b for b in owner.button if b.label == "Grant").click()
    ran(owner)

    again = app(shared_home, "dataset")
    again.query_params["name"] = "clean.products"
    again = ran(as_user(again, "carol"))
    assert "gated" not in " ".join(w.value for w in again.warning)
    assert [t.label for t in again.tabs][:2] == ["Versions", "Preview"]
