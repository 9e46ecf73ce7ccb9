"""Pruning what a machine keeps of files that live in the shared store: least recently used
first, only what can be fetched again, never what was just used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from catalog import Catalog
from catalog.sandbox import Sandbox
from core.copies import KEEP, after_fetch, copies, prune
from core.errors import InvalidInputError
from core.objects import LocalFolder, get_files, get_folder, put_folder
from core.sizes import parse_size
from core.workspace import Workspace

HOUR = 3600.0


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Workspace, LocalFolder]:
    """A second machine's home, and the team's store (a folder of its own, as S3 would be)
    holding two model versions and two media files this machine has fetched, one model
    version it has not, and a sandbox copy written here; each copy last used some hours ago
    (:func:`used_in_turn`)."""
    workspace = Workspace.at(tmp_path / "home").ensure()
    store = LocalFolder(tmp_path / "store")
    for version, size in ((1, 3000), (2, 2000), (3, 5000)):
        made = tmp_path / "trained" / str(version)
        made.mkdir(parents=True)
        (made / "model.skops").write_bytes(b"m" * size)
        put_folder(store, made, f"models/price/{version}")
    for name in ("a.jpg", "b.jpg"):
        store.write(f"media/images/{name}", b"j" * 100)
    for version in (1, 2):
        get_folder(store, f"models/price/{version}", workspace.models / "price" / str(version))
    get_files(store, ["media/images/a.jpg", "media/images/b.jpg"], workspace.home)
    sandbox = workspace.cache / "sandbox" / "raw"
    sandbox.mkdir(parents=True)
    (sandbox / "products-1a2b@s9.parquet").write_bytes(b"p" * 400)
    unshared = workspace.models / "local" / "1"  # trained here, never put in the store
    unshared.mkdir(parents=True)
    (unshared / "model.skops").write_bytes(b"u" * 9000)
    used_in_turn(workspace.home)
    return workspace, store


def used(path: Path, hours_ago: float) -> None:
    stamp = time.time() - hours_ago * HOUR
    os.utime(path, (stamp, stamp))


def used_in_turn(home: Path) -> None:
    """The machine's copies, last used this many hours ago."""
    for path, hours_ago in (
        ("models/price/1", 5),
        ("media/images/a.jpg", 4),
        ("media/images/b.jpg", 3),
        ("cache/sandbox/raw/products-1a2b@s9.parquet", 2),
        ("models/price/2", 1),
    ):
        used(home / path, hours_ago)


def test_copies_are_listed_least_recently_used_first_and_only_if_fetchable_again(
    machine: tuple[Workspace, LocalFolder],
) -> None:
    workspace, store = machine
    home = workspace.home
    listed = [
        (c.path.relative_to(home).as_posix(), c.kind, c.size) for c in copies(workspace, store)
    ]
    assert listed == [
        ("models/price/1", "model", 3000),
        ("media/images/a.jpg", "media", 100),
        ("media/images/b.jpg", "media", 100),
        ("cache/sandbox/raw/products-1a2b@s9.parquet", "sandbox", 400),
        ("models/price/2", "model", 2000),
    ]  # models/local/1 was never shared: it is no copy


def test_prune_removes_the_oldest_until_the_rest_fit_and_a_pruned_copy_comes_back(
    machine: tuple[Workspace, LocalFolder],
) -> None:
    workspace, store = machine
    home = workspace.home
    pruned = prune(workspace, keep=2400, store=store)
    assert [c.path.relative_to(home).as_posix() for c in pruned.removed] == [
        "models/price/1",
        "media/images/a.jpg",
        "media/images/b.jpg",
    ]
    assert (pruned.freed, pruned.left) == (3200, 2400)
    assert not (home / "models/price/1").exists() and (home / "models/price/2").is_dir()
    assert (home / "models/local/1/model.skops").exists()
    assert not list((home / "models/price").glob(".*"))  # nothing half-removed left behind
    again = get_folder(store, "models/price/1", home / "models/price/1")
    assert (again / "model.skops").read_bytes() == b"m" * 3000
    get_files(store, ["media/images/a.jpg"], home)
    assert (home / "media/images/a.jpg").read_bytes() == b"j" * 100


def test_a_copy_used_just_now_is_kept_whatever_the_size(
    machine: tuple[Workspace, LocalFolder],
) -> None:
    workspace, store = machine
    home = workspace.home
    for copy in copies(workspace, store):
        used(copy.path, 2)
    get_folder(store, "models/price/1", home / "models/price/1")  # found here: marked used
    pruned = prune(workspace, keep=0, store=store)
    assert [c.path.relative_to(home).as_posix() for c in pruned.kept] == ["models/price/1"]
    assert len(pruned.removed) == 4


def test_a_home_that_is_the_store_prunes_only_the_sandbox_copies(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "home").ensure()
    store = LocalFolder(workspace.home)
    folder = workspace.models / "m" / "1"
    folder.mkdir(parents=True)
    (folder / "model.skops").write_bytes(b"m")
    put_folder(store, folder, "models/m/1")
    store.write("media/images/a.jpg", b"j")
    (workspace.cache / "sandbox").mkdir(parents=True)
    (workspace.cache / "sandbox" / "t@s1.parquet").write_bytes(b"p")
    used(workspace.cache / "sandbox" / "t@s1.parquet", 1)
    assert [c.kind for c in prune(workspace, keep=0, store=store).removed] == ["sandbox"]
    assert (folder / "model.skops").exists() and (workspace.media / "images/a.jpg").exists()


def test_sizes_are_read_as_people_write_them() -> None:
    assert [parse_size(t) for t in ("0", "512", "500MB", "2gb", "1.5 GiB", "3 kB")] == [
        0,
        512,
        500 * 10**6,
        2 * 10**9,
        int(1.5 * 2**30),
        3000,
    ]
    assert [parse_size(t) for t in ("", "2x", "-1GB", "GB", "1e3")] == [None] * 5
    assert parse_size("512", unit=True) is None and parse_size("2GB", unit=True) == 2 * 10**9


def test_harvest_cache_prune_and_list(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "harvest", "--home", str(tmp_path / "home"), "cache"]
    sandbox = tmp_path / "home" / "cache" / "sandbox"
    sandbox.mkdir(parents=True)
    (sandbox / "t@s1.parquet").write_bytes(b"p" * 10)
    used(sandbox / "t@s1.parquet", 1)
    listed = subprocess.run([*command, "list", "--json"], capture_output=True, text=True)
    assert json.loads(listed.stdout) == [
        {"path": "cache/sandbox/t@s1.parquet", "kind": "sandbox", "bytes": 10}
    ]
    bad = subprocess.run([*command, "prune", "--keep", "lots"], capture_output=True, text=True)
    assert bad.returncode == 1 and "'lots' is not a size" in bad.stderr
    assert "Traceback" not in bad.stderr and (sandbox / "t@s1.parquet").exists()
    done = subprocess.run([*command, "prune", "--keep", "5B"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("Removed 1 copies (10 B); 0 left")
    assert not (sandbox / "t@s1.parquet").exists()


def test_with_a_keep_size_set_each_fetch_prunes_the_oldest_copies(
    machine: tuple[Workspace, LocalFolder], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, store = machine
    home = workspace.home
    monkeypatch.delenv(KEEP, raising=False)
    assert after_fetch(workspace, store) is None  # not set: copies stay until pruned by hand
    monkeypatch.setenv(KEEP, "7.5 kB")
    get_folder(store, "models/price/3", home / "models/price/3")  # 5,000 bytes more
    pruned = after_fetch(workspace, store)
    assert pruned is not None
    assert [c.path.relative_to(home).as_posix() for c in pruned.removed] == [
        "models/price/1",
        "media/images/a.jpg",
    ]
    assert pruned.left == 7500 and (home / "models/price/3").is_dir()


def test_a_keep_size_that_is_no_size_is_one_sentence(
    machine: tuple[Workspace, LocalFolder], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, store = machine
    monkeypatch.setenv(KEEP, "lots")
    with pytest.raises(InvalidInputError, match=r"HARVEST_CACHE_KEEP='lots' is not a size"):
        after_fetch(workspace, store)
    assert len(copies(workspace, store)) == 5  # nothing removed


def test_the_sandbox_prunes_its_old_copies_when_it_writes_a_new_one(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = workspace.cache / "sandbox" / "raw" / "gone-0a0b@s1.parquet"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"p" * 100)
    used(old, 2)
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.pruned", pa.table({"x": [1, 2, 3]}), producer="t")
        catalog.cursor().execute("DELETE FROM lake.raw.pruned WHERE x = 2")  # read from a copy
    monkeypatch.setenv(KEEP, "0")
    sandbox = Sandbox(workspace)
    try:
        assert sandbox.query("SELECT sum(x) AS s FROM raw.pruned").to_pylist() == [{"s": 4}]
    finally:
        sandbox.close()
    left = [p.name for p in (workspace.cache / "sandbox" / "raw").glob("*.parquet")]
    assert not old.exists() and len(left) == 1 and left[0].startswith("pruned-")
