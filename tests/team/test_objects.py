"""The workspace's file store on a real S3 server (rclone, as `harvest services up` starts it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import Catalog
from core.errors import NotFoundError
from core.objects import MEDIA, FileStoreError, file_store, get_files, get_folder, put_folder
from core.workspace import Workspace
from demo_site import DemoSite
from scrapers.crawl import scrape
from tests.scrapers.test_crawl import garden_spec

pytestmark = pytest.mark.team


def test_a_folder_round_trips_through_s3_by_content_and_a_wrong_key_is_one_sentence(
    team_settings: dict[str, str], tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path, "ducklake:sqlite:x", "s3://harvest/objects-test/")
    store = file_store(workspace, team_settings)
    folder = tmp_path / "written"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "a.png").write_bytes(b"png")
    (folder / "card.json").write_bytes(b"png")  # the same content: stored once
    put_folder(store, folder, "models/m/1")
    assert len(store.keys("blobs/")) == 1
    fetched = get_folder(store, "models/m/1", tmp_path / "other" / "m" / "1")
    assert sorted(p.relative_to(fetched).as_posix() for p in fetched.rglob("*")) == [
        "card.json", "plots", "plots/a.png",
    ]  # fmt: skip
    with pytest.raises(NotFoundError, match="is not in the file store"):
        get_folder(store, "models/m/2", tmp_path / "other" / "m" / "2")
    wrong = file_store(workspace, {**team_settings, "HARVEST_S3_SECRET": "not-the-secret"})
    with pytest.raises(FileStoreError) as raised:
        wrong.write("x", b"1")
    message = str(raised.value)
    assert message.startswith("Could not write s3://harvest/objects-test-files/x: ")
    assert "\n" not in message and "not-the-secret" not in message


def test_crawled_images_go_to_s3_and_another_host_fetches_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    with DemoSite() as site:
        result = scrape(garden_spec(tmp_path, site.url), workspace)
    assert result.run.status == "committed", result.run.error
    with Catalog.open(workspace) as catalog:
        images = sorted({row["image"] for row in catalog.read("raw.garden").to_pylist()})
    store = file_store(workspace)
    assert len(images) == result.run.items > 0
    assert store.keys(f"{MEDIA}/images/") == [f"{MEDIA}/{image}" for image in images]
    assert not workspace.media.exists() or not any(workspace.media.rglob("*.jpg"))

    host_b = tmp_path / "host-b"  # as training on another machine reads them
    get_files(store, [f"{MEDIA}/{image}" for image in images], host_b)
    for image in images:
        assert (host_b / MEDIA / image).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
