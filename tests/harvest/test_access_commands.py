"""``harvest users|orgs|tokens|access``, ``catalog owner|visibility`` and ``--owner`` on the
commands that make datasets: rows, JSON fields, exit codes, one-sentence errors, and a token's
secret shown once."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog import Catalog
from catalog.access import Accounts
from core.workspace import Workspace
from demo_site import DemoSite
from harvest.cli import app, main
from tests.catalog.cleaning.fixtures import shop_rows
from tests.harvest.commands.test_quality import SPEC


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    """The CLI in this process; returns exit code, stdout, stderr."""
    try:
        main(["--home", str(home), *args])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(
    capsys: pytest.CaptureFixture[str], home: Path, *args: str
) -> str:  # the error sentence
    code, _, err = run(capsys, home, *args)
    assert code == 1, (args, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def accounts(home: Path) -> Accounts:
    return Accounts(Catalog.open(Workspace.at(home)))


@pytest.fixture
def home(workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A workspace with imports.shop (licensed), users alice, bob and carol, and acme owned by
    alice."""
    csv = tmp_path / "shop.csv"
    csv.write_text("sku,price\na,1.5\nb,2.0\n")
    code, _, err = run(
        capsys, workspace.home, "import", str(csv), "--name", "shop", "--license", "cc-by-4.0"
    )
    assert code == 0, err
    for user in ("alice", "bob", "carol"):
        assert run(capsys, workspace.home, "users", "add", user)[0] == 0
    assert run(capsys, workspace.home, "orgs", "add", "acme", "--owner", "alice")[0] == 0
    return workspace.home


def test_users_add_list_password_and_remove(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("dave's secret\n"))
    code, out, _ = run(capsys, home, "users", "add", "dave", "--password-stdin")
    assert code == 0 and out.strip() == "Added user dave with a password."
    assert accounts(home).login("dave", "dave's secret").user == "dave"

    prompted = CliRunner().invoke(
        app, ["--home", str(home), "users", "password", "bob"], input="correct horse\n" * 2
    )
    assert prompted.exit_code == 0, prompted.output
    assert "correct horse" not in prompted.output  # typed hidden
    assert accounts(home).login("bob", "correct horse").user == "bob"

    code, out, _ = run(capsys, home, "users", "list", "--json")
    listed = {u["name"]: u for u in json.loads(out)}
    assert sorted(listed) == ["alice", "bob", "carol", "dave"]
    assert [listed[u]["has_password"] for u in sorted(listed)] == [False, True, False, True]
    assert listed["alice"]["roles"] == [{"org": "acme", "role": "owner"}]
    code, out, _ = run(capsys, home, "users", "list")
    assert code == 0 and "acme (owner)" in out

    code, out, _ = run(capsys, home, "users", "remove", "dave")
    assert code == 0 and "Removed user dave" in out
    code, out, _ = run(capsys, home, "users", "list", "--json")
    assert [u["name"] for u in json.loads(out)] == ["alice", "bob", "carol"]

    assert "'Bad' cannot name a user" in refused(capsys, home, "users", "add", "Bad")
    assert "'alice' is taken" in refused(capsys, home, "users", "add", "alice")
    assert "There is no user 'zed'" in refused(capsys, home, "users", "remove", "zed")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert "at least 8 characters" in refused(capsys, home, "users", "password", "bob", "--password-stdin")  # fmt: skip
    assert "There is no user 'zed'" in refused(capsys, home, "users", "password", "zed")


def test_orgs_and_their_members(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, home, "orgs", "members", "acme", "--add", "bob", "--role", "maintainer", "--json"
    )
    assert code == 0
    assert json.loads(out) == [
        {"org": "acme", "user": "alice", "role": "owner"},
        {"org": "acme", "user": "bob", "role": "maintainer"},
    ]
    assert run(capsys, home, "orgs", "add", "other")[0] == 0
    code, out, _ = run(capsys, home, "orgs", "list", "--json")
    assert json.loads(out) == [
        {
            "name": "acme",
            "members": [{"user": "alice", "role": "owner"}, {"user": "bob", "role": "maintainer"}],
        },
        {"name": "other", "members": []},
    ]
    code, out, _ = run(capsys, home, "orgs", "members", "acme", "--remove", "bob")
    assert code == 0 and "alice" in out and "bob" not in out
    code, out, _ = run(capsys, home, "orgs", "list")
    assert code == 0 and "alice (owner)" in out and "other" in out

    assert "'boss' is not a role" in refused(
        capsys, home, "orgs", "members", "acme", "--add", "bob", "--role", "boss"
    )
    assert "There is no organisation 'nope'" in refused(capsys, home, "orgs", "members", "nope")
    assert "There is no user 'zed'" in refused(
        capsys, home, "orgs", "members", "acme", "--add", "zed"
    )
    assert "There is no user 'zed'" in refused(
        capsys, home, "orgs", "add", "zorg", "--owner", "zed"
    )
    assert "carol is not a member of acme" in refused(
        capsys, home, "orgs", "members", "acme", "--remove", "carol"
    )
    assert "--role goes with --add" in refused(
        capsys, home, "orgs", "members", "acme", "--role", "owner"
    )
    code, out, _ = run(capsys, home, "orgs", "members", "acme", "--add", "carol", "--json")
    assert {"org": "acme", "user": "carol", "role": "reader"} in json.loads(out)
    assert "not both" in refused(
        capsys, home, "orgs", "members", "acme", "--add", "bob", "--remove", "alice"
    )


def test_a_token_is_shown_once_and_never_again(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, home, "tokens", "create", "--user", "bob", "--scopes", "read,write", "--expires", "30d", "--json"
    )  # fmt: skip
    assert code == 0
    made = json.loads(out)
    assert sorted(made) == ["expires_at", "id", "scopes", "token", "user"]
    assert (made["user"], made["scopes"]) == ("bob", ["read", "write"])
    assert made["token"].startswith(f"hvt_{made['id']}_") and made["expires_at"]
    who = accounts(home).authenticate(made["token"])
    assert who.user == "bob" and who.scopes == {"read", "write"}

    # plain: the token alone on stdout (for $(...)), the warning on stderr, in a real process
    plain = subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), "tokens", "create", "--user", "alice"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    secret = plain.stdout.strip()
    assert plain.stdout.count("\n") == 1 and secret.startswith("hvt_")
    assert "will not be shown again" in plain.stderr and secret not in plain.stderr
    assert accounts(home).authenticate(secret).user == "alice"

    code, listed, _ = run(capsys, home, "tokens", "list")
    code_json, listed_json, _ = run(capsys, home, "tokens", "list", "--json")
    assert code == code_json == 0
    rows = json.loads(listed_json)
    assert [(t["user"], t["scopes"], t["state"]) for t in rows] == [
        ("alice", ["read"], "active"),
        ("bob", ["read", "write"], "active"),
    ]
    assert rows[0]["expires_at"] is None and rows[1]["id"] == made["id"]
    for text in (listed, listed_json):
        for token in (made["token"], secret):
            assert token not in text and token.split("_", 2)[2] not in text  # the secret part
    for path in home.rglob("*"):  # nor in any file of the workspace: the catalog, logs, data
        if path.is_file():
            content = path.read_bytes()
            assert made["token"].encode() not in content and secret.encode() not in content


def test_expired_and_revoked_tokens_are_listed_with_their_state(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {}
    for user, lifetime in (("alice", "30d"), ("bob", "1s"), ("carol", "30d")):
        code, out, _ = run(
            capsys, home, "tokens", "create", "--user", user, "--expires", lifetime, "--json"
        )
        assert code == 0
        ids[user] = json.loads(out)
    code, out, _ = run(capsys, home, "tokens", "revoke", ids["carol"]["id"])
    assert code == 0 and out.strip() == f"Revoked token {ids['carol']['id']} of carol."
    time.sleep(1.2)
    code, out, _ = run(capsys, home, "tokens", "list", "--json")
    states = {t["id"]: (t["user"], t["state"]) for t in json.loads(out)}
    assert states == {
        ids["alice"]["id"]: ("alice", "active"),
        ids["bob"]["id"]: ("bob", "expired"),
        ids["carol"]["id"]: ("carol", "revoked"),
    }
    code, out, _ = run(capsys, home, "tokens", "list", "--user", "carol")
    assert code == 0 and "revoked" in out and "alice" not in out
    code, out, _ = run(capsys, home, "tokens", "list", "--user", "bob", "--json")
    assert [t["state"] for t in json.loads(out)] == ["expired"]

    # revoking by the whole secret works and never echoes it
    code, out, err = run(capsys, home, "tokens", "revoke", ids["alice"]["token"])
    assert code == 0 and ids["alice"]["token"] not in out + err
    assert "There is no token 'nope'" in refused(capsys, home, "tokens", "revoke", "nope")
    missing = refused(capsys, home, "tokens", "revoke", "hvt_abcdefghij_" + "x" * 40)
    assert "There is no token 'abcdefghij'" in missing and "x" * 40 not in missing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--user", "zed"), "There is no user 'zed'"),
        (("--user", "bob", "--scopes", "read,fly"), "'fly' is not a scope"),
        (("--user", "bob", "--expires", "3 weeks"), "'3 weeks' is not a lifetime"),
        (("--user", "bob", "--expires", "0d"), "'0d' is not a lifetime"),
    ],
)
def test_token_mistakes_are_one_sentence(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert message in refused(capsys, home, "tokens", "create", *args)
    assert run(capsys, home, "tokens", "list", "--json")[1].strip() == "[]"


def test_catalog_owner_and_visibility_show_in_catalog_show(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, home, "catalog", "show", "shop", "--json")
    assert json.loads(out)["access"] == {"owner": None, "visibility": "public", "auto_grant": False}
    err = refused(capsys, home, "catalog", "visibility", "shop", "private")
    assert "imports.shop has no owner" in err

    code, out, _ = run(capsys, home, "catalog", "owner", "shop", "acme")
    assert code == 0 and out.strip() == "imports.shop: owner acme, public"
    code, out, _ = run(
        capsys, home, "catalog", "visibility", "imports.shop", "gated", "--auto-grant"
    )
    assert code == 0
    assert out.strip() == "imports.shop: owner acme, gated, requests granted automatically"
    code, out, _ = run(capsys, home, "catalog", "show", "imports.shop", "--json")
    assert json.loads(out)["access"] == {"owner": "acme", "visibility": "gated", "auto_grant": True}
    code, out, _ = run(capsys, home, "catalog", "visibility", "shop", "private", "--no-auto-grant")
    assert code == 0 and out.strip() == "imports.shop: owner acme, private"
    code, out, _ = run(capsys, home, "catalog", "show", "shop")
    assert "access: owner acme, private" in out
    assert not accounts(home).may_read(accounts(home).principal("carol"), "imports.shop")

    assert "There is no dataset 'nothing'" in refused(
        capsys, home, "catalog", "owner", "nothing", "acme"
    )
    assert "There is no user or organisation 'zed'" in refused(capsys, home, "catalog", "owner", "shop", "zed")  # fmt: skip
    assert "'secret' is not a visibility" in refused(capsys, home, "catalog", "visibility", "shop", "secret")  # fmt: skip


def test_access_requests_grants_refusals_and_revocations(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, home, "catalog", "owner", "shop", "acme")[0] == 0
    assert run(capsys, home, "catalog", "visibility", "shop", "gated")[0] == 0
    book = accounts(home)
    assert "under the licence 'cc-by-4.0'" in refused(
        capsys, home, "access", "request", "shop", "--user", "bob", "--reason", "research"
    )
    code, out, _ = run(
        capsys, home, "access", "request", "shop", "--user", "bob", "--reason", "research", "--accept-license", "--json"
    )  # fmt: skip
    assert code == 0
    asked = json.loads(out)
    assert (asked["dataset"], asked["user"], asked["status"]) == ("imports.shop", "bob", "pending")
    assert asked["reason"] == "research" and asked["license_accepted"] is True
    code, out, _ = run(
        capsys, home, "access", "request", "imports.shop", "--user", "carol", "--reason", "curious", "--accept-license"
    )  # fmt: skip
    assert code == 0 and "for imports.shop: pending" in out
    carol_id = out.split()[1]

    code, out, _ = run(capsys, home, "access", "list", "--status", "pending", "--json")
    assert [(r["user"], r["status"]) for r in json.loads(out)] == [
        ("bob", "pending"),
        ("carol", "pending"),
    ]
    code, out, _ = run(capsys, home, "access", "grant", "--request", asked["id"])
    assert (
        code == 0 and out.strip() == f"Granted bob access to imports.shop (request {asked['id']})."
    )
    code, out, _ = run(capsys, home, "access", "refuse", carol_id)
    assert code == 0 and out.strip() == f"Refused request {carol_id} by carol for imports.shop."
    assert book.may_read(book.principal("bob"), "imports.shop")
    assert not book.may_read(book.principal("carol"), "imports.shop")
    assert "already refused" in refused(capsys, home, "access", "grant", "--request", carol_id)

    code, out, _ = run(capsys, home, "access", "grant", "shop", "carol")
    assert code == 0 and "Granted carol access to imports.shop" in out
    code, out, _ = run(capsys, home, "access", "revoke", "shop", "bob")
    assert code == 0 and out.strip() == "Revoked bob's access to imports.shop."
    assert not book.may_read(book.principal("bob"), "imports.shop")
    code, out, _ = run(capsys, home, "access", "list", "--dataset", "shop", "--json")
    assert [(r["user"], r["status"], r["decided_by"]) for r in json.loads(out)] == [
        ("bob", "revoked", "admin"),
        ("carol", "refused", "admin"),
        ("carol", "granted", "admin"),
    ]
    code, out, _ = run(capsys, home, "access", "list", "--status", "granted")
    assert code == 0 and "carol" in out and "bob" not in out

    assert "bob holds no grant on imports.shop" in refused(
        capsys, home, "access", "revoke", "shop", "bob"
    )
    assert "There is no user 'zed'" in refused(capsys, home, "access", "request", "shop", "--user", "zed", "--reason", "x")  # fmt: skip
    assert "There is no user 'zed'" in refused(capsys, home, "access", "grant", "shop", "zed")
    assert "There is no dataset 'nothing'" in refused(capsys, home, "access", "grant", "nothing", "bob")  # fmt: skip
    assert "There is no dataset 'nothing'" in refused(capsys, home, "access", "list", "--dataset", "nothing")  # fmt: skip
    assert "'lost' is not a request status" in refused(capsys, home, "access", "list", "--status", "lost")  # fmt: skip
    assert "Give DATASET and USER, or --request ID" in refused(capsys, home, "access", "grant", "shop")  # fmt: skip
    assert "There is no access request 'nope'" in refused(capsys, home, "access", "refuse", "nope")


def test_import_with_an_owner(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "team.csv"
    csv.write_text("id,v\n1,a\n")
    for args, message in (
        (("--owner", "zed"), "There is no user or organisation 'zed'"),
        (("--visibility", "private"), "A private dataset needs an owner"),
        (("--owner", "acme", "--visibility", "hidden"), "'hidden' is not a visibility"),
    ):
        assert message in refused(capsys, home, "import", str(csv), "--name", "team", *args)
    code, out, _ = run(capsys, home, "catalog", "list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["imports.shop"]  # nothing was imported

    code, out, _ = run(
        capsys, home, "import", str(csv), "--name", "team", "--owner", "acme", "--visibility", "private"
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[-1] == "imports.team: owner acme, private"
    book = accounts(home)
    assert book.access("imports.team").owner == "acme"
    assert not book.may_read(book.principal("carol"), "imports.team")
    assert book.may_read(book.principal("alice"), "imports.team")

    code, out, _ = run(
        capsys, home, "import", str(csv), "--name", "team", "--owner", "bob", "--json"
    )
    assert code == 0
    answer = json.loads(out)
    assert answer["created"] is False
    assert answer["access"] == {"owner": "bob", "visibility": "private", "auto_grant": False}


def test_clean_with_an_owner(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.shop", shop_rows(), producer="scrape:test", key=("sku",))
    (workspace.sources / "shop.clean.yaml").write_text(SPEC)
    home = workspace.home
    assert run(capsys, home, "users", "add", "alice")[0] == 0
    assert "There is no user or organisation 'acme'" in refused(capsys, home, "clean", "shop", "--owner", "acme")  # fmt: skip
    code, out, _ = run(capsys, home, "catalog", "list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["raw.shop"]  # nothing was cleaned

    code, out, err = run(capsys, home, "clean", "shop", "--owner", "alice", "--visibility", "gated", "--json")  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["committed"] == "clean.shop@1"
    assert answer["access"] == {"owner": "alice", "visibility": "gated", "auto_grant": False}
    assert accounts(home).access("clean.shop").visibility == "gated"
    assert accounts(home).access("raw.shop").owner is None


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite() as running:
        yield running


def test_scrape_with_an_owner(
    workspace: Workspace, site: DemoSite, capsys: pytest.CaptureFixture[str]
) -> None:
    home = workspace.home
    assert run(capsys, home, "users", "add", "alice")[0] == 0
    scrape = ("scrape", "tables", "--base-url", site.url)
    assert "There is no user or organisation 'zed'" in refused(capsys, home, *scrape, "--owner", "zed")  # fmt: skip
    code, out, _ = run(capsys, home, "sources", "show", "tables", "--json")
    assert json.loads(out)["crawls"] == []  # refused before crawling

    code, out, err = run(capsys, home, *scrape, "--owner", "alice", "--visibility", "private")
    assert code == 0, err
    assert "new version raw.tables@1" in out and "raw.tables: owner alice, private" in out
    code, out, _ = run(capsys, home, *scrape, "--visibility", "gated", "--json")
    answer = json.loads(out)
    assert answer["status"] == "unchanged"
    assert answer["access"] == {"owner": "alice", "visibility": "gated", "auto_grant": False}
