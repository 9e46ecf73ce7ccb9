"""``harvest subscriptions``, ``deliveries`` and ``deliver``: what they print, their exit codes
and one-sentence errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog import Catalog
from core.workspace import Workspace
from tests.delivery.conftest import Receiver, products
from tests.delivery.conftest import receiver as receiver  # the fixture
from tests.harvest.test_access_commands import run


@pytest.fixture
def home(workspace: Workspace) -> Path:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.shop", products(1), producer="test", key=["id"])
    return workspace.home


def test_subscribe_deliver_and_list(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, said, _ = run(
        capsys, home, "subscriptions", "add", "shop", "--to", str(out), "--format", "jsonl"
    )
    assert code == 0 and "Subscribed raw-shop-folder: raw.shop from version 1" in said
    code, said, _ = run(capsys, home, "deliver")
    assert code == 0 and "delivered: raw.shop@1 to raw-shop-folder (5 rows, 1 files" in said
    assert (out / "raw.shop/v1/_manifest.json").is_file()
    code, said, _ = run(capsys, home, "deliver")
    assert code == 0 and "Nothing to deliver." in said
    code, said, _ = run(capsys, home, "deliveries", "list", "--json")
    [row] = json.loads(said)
    assert (row["status"], row["rows"], row["files"]) == (
        "delivered",
        5,
        ["raw.shop/v1/part-00000.jsonl"],
    )
    code, said, _ = run(capsys, home, "subscriptions", "list", "--json")
    [listed] = json.loads(said)
    assert listed["status"] == "active" and "signing_key" not in listed


def test_pause_resume_remove(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    run(capsys, home, "subscriptions", "add", "raw.shop", "--to", str(tmp_path), "--name", "mine")
    assert run(capsys, home, "subscriptions", "pause", "mine")[0] == 0
    assert "Nothing to deliver." in run(capsys, home, "deliver")[1]
    code, said, _ = run(capsys, home, "subscriptions", "show", "mine")
    assert "status: paused (paused by hand)" in said
    run(capsys, home, "subscriptions", "resume", "mine")
    assert "delivered: raw.shop@1 to mine" in run(capsys, home, "deliver")[1]
    assert run(capsys, home, "subscriptions", "remove", "mine")[0] == 0
    code, _, err = run(capsys, home, "subscriptions", "show", "mine")
    assert code == 1 and "There is no subscription 'mine'" in err


def test_a_dead_webhook_fails_the_run_and_shows_in_failed(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    receiver: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got = receiver(script=[404])
    code, said, _ = run(
        capsys, home, "subscriptions", "add", "raw.shop", "--to", got.url, "--name", "hook"
    )
    assert "signed with whsec_" in said
    code, said, err = run(capsys, home, "deliver")
    assert code == 1 and "dead: raw.shop@1 to hook" in said
    assert "1 of 1 deliveries failed; the first:" in err and "answered 404" in err
    code, said, _ = run(capsys, home, "deliveries", "list", "--failed", "--json")
    [dead] = json.loads(said)
    code, said, _ = run(capsys, home, "deliveries", "retry", dead["id"])
    assert code == 0 and "delivered: raw.shop@1 to hook" in said
    assert len(got.events()) == 1
    code, said, _ = run(capsys, home, "subscriptions", "test", "hook")
    assert code == 0 and "accepted a signed ping event" in said


def test_bad_input_is_one_sentence(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    code, _, err = run(capsys, home, "subscriptions", "add", "raw.shop", "--to", "s3://bucket/x")
    assert code == 1 and "needs --secret NAME" in err and "Traceback" not in err
    code, _, err = run(capsys, home, "subscriptions", "add", "raw.nope", "--to", "/tmp/x")
    assert code == 1 and "There is no dataset 'raw.nope'" in err
    code, _, err = run(
        capsys,
        home,
        "subscriptions",
        "add",
        "raw.shop",
        "--to",
        "/tmp/x",
        "--mode",
        "delta",
        "--query",
        "SELECT 1",
    )
    assert code == 1 and "cannot be narrowed by a query" in err
