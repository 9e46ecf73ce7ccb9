"""The workspace's file store: its home folder by default, S3 beside an S3 data path."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import NotFoundError
from core.objects import FileStoreError, LocalFolder, S3Bucket, file_store, get_folder, put_folder
from core.workspace import Workspace


def test_a_local_workspace_keeps_its_files_in_its_home(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, "ducklake:sqlite:x", f"{tmp_path / 'data'}/")
    store = file_store(workspace, {})
    assert store == LocalFolder(tmp_path)
    folder = tmp_path / "models" / "m" / "1"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text("{}")
    put_folder(store, folder, "models/m/1")  # the folder is the store: nothing copied
    assert get_folder(store, "models/m/1", folder) == folder
    assert store.keys("models/") == ["models/m/1/card.json"] and not store.exists("models/m/1.json")
    store.write("media/images/a.jpg", b"jpeg")
    assert (tmp_path / "media" / "images" / "a.jpg").read_bytes() == b"jpeg"
    with pytest.raises(NotFoundError, match="There is no file"):
        store.read("media/images/b.jpg")


def test_files_go_beside_an_s3_data_path_never_inside_it() -> None:
    workspace = Workspace(Path("/tmp/h"), "ducklake:sqlite:x", "s3://lake/team/data/")
    store = file_store(
        workspace, {"HARVEST_S3_ENDPOINT": "127.0.0.1:9", "HARVEST_S3_USE_SSL": "false"}
    )
    assert isinstance(store, S3Bucket)
    assert store.where("models/m/1.json") == "s3://lake/team/data-files/models/m/1.json"
    chosen = file_store(workspace, {"HARVEST_FILES_PATH": "s3://other/files"})
    assert chosen.where("x") == "s3://other/files/x"


def test_a_whole_bucket_data_path_or_another_scheme_is_one_sentence() -> None:
    whole = Workspace(Path("/tmp/h"), "ducklake:sqlite:x", "s3://lake/")
    with pytest.raises(FileStoreError, match="set HARVEST_FILES_PATH"):
        file_store(whole, {})
    with pytest.raises(FileStoreError, match="only S3"):
        file_store(whole, {"HARVEST_FILES_PATH": "gs://bucket/files/"})
