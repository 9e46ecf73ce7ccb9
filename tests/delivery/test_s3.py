"""S3 deliveries against a real S3 server on loopback: files by multipart upload, manifest
last, idempotent, wrong keys refused in one sentence with nothing written, and a deliverer
killed mid-upload leaving nothing visible, the next run delivering the version whole."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa

from catalog import Catalog
from catalog.subscriptions import Subscription, Subscriptions
from core.services import ObjectStore
from delivery.run import deliver_pending, first_version
from tests.delivery.conftest import bucket_keys, settings


def _subscribe(catalog: Catalog, prefix: str, **fields: object) -> Subscription:
    sub = Subscription(
        str(fields.pop("name", "bucket")), "raw.shop", f"s3://harvest/{prefix}", secret="drop",
        first_version=first_version(catalog, "raw.shop"), **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    return Subscriptions(catalog).add(sub)


def test_a_version_is_uploaded_with_its_manifest_last(
    shop: Catalog, s3_server: ObjectStore, s3_secret: dict[str, str]
) -> None:
    _subscribe(shop, "drops/a", split_rows=3)
    [done] = deliver_pending(shop, settings=settings())
    assert done.status == "delivered", done.last_error
    found = bucket_keys(s3_server, "drops/a")
    assert sorted(found) == [
        "drops/a/raw.shop/v1/_manifest.json",
        "drops/a/raw.shop/v1/part-00000.parquet",
        "drops/a/raw.shop/v1/part-00001.parquet",
    ]
    manifest = json.loads(found["drops/a/raw.shop/v1/_manifest.json"])
    for entry in manifest["files"]:
        data = found[f"drops/a/raw.shop/v1/{entry['name']}"]
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert manifest["rows"] == {"total": 5}
    # delivered again by hand: the manifest is there, so nothing is uploaded again
    shop.transaction(lambda c: c.execute("DELETE FROM lake.harvest.deliveries"))
    stamp = os.stat(Path(s3_server.folder) / "root/harvest/drops/a/raw.shop/v1/_manifest.json")
    [again] = deliver_pending(shop, settings=settings())
    assert again.status == "delivered" and again.files == done.files
    after = os.stat(Path(s3_server.folder) / "root/harvest/drops/a/raw.shop/v1/_manifest.json")
    assert after.st_mtime_ns == stamp.st_mtime_ns


def test_wrong_keys_are_one_sentence_and_nothing_is_written(
    shop: Catalog, s3_server: ObjectStore, s3_secret: dict[str, str]
) -> None:
    _subscribe(shop, "drops/wrong")
    environ = {**s3_secret, "HARVEST_SECRET_DROP_SECRET": "not-the-secret"}
    [done] = deliver_pending(shop, settings=settings(environ=environ))
    assert done.status == "failed"
    assert done.last_error.startswith(
        f"The S3 server at http://{s3_server.endpoint} refused the keys of secret 'drop'"
    )
    assert "not-the-secret" not in done.last_error and "\n" not in done.last_error
    assert bucket_keys(s3_server, "drops/wrong") == {}
    # with the right keys, the next run delivers it
    [fixed] = deliver_pending(shop, settings=settings())
    assert fixed.status == "delivered" and fixed.attempts == 2


def test_a_missing_secret_is_named(shop: Catalog, s3_server: ObjectStore) -> None:
    _subscribe(shop, "drops/none")
    [done] = deliver_pending(shop, settings=settings(environ={}))
    assert done.status == "failed"
    assert "The secret 'drop' is not set: set HARVEST_SECRET_DROP_ENDPOINT" in done.last_error


_STALLED = textwrap.dedent(
    """
    import sys, time, pathlib
    import delivery.targets as targets

    pieces = targets._parts

    def stalled(chunks, size):
        for piece in pieces(chunks, size):
            yield piece
            pathlib.Path(sys.argv[1]).touch()  # a part is uploaded: now kill me
            time.sleep(600)

    targets._parts = stalled
    from harvest.cli import main
    main(["--home", sys.argv[2], "deliver"])
    """
)


def test_a_deliverer_killed_mid_upload_leaves_nothing_and_the_next_run_delivers_whole(
    shop: Catalog, s3_server: ObjectStore, s3_secret: dict[str, str], tmp_path: Path
) -> None:
    rows = 400_000
    shop.commit("raw.shop", pa.table({"id": range(rows), "price": [float(i) for i in range(rows)],
                "text": [f"row {i} " * 8 for i in range(rows)]}), producer="test")  # fmt: skip
    _subscribe(shop, "drops/killed", format="csv")
    marker = tmp_path / "uploading"
    child = subprocess.Popen(
        [sys.executable, "-c", _STALLED, str(marker), str(shop.workspace.home)],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the deliverer never uploaded a part"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert bucket_keys(s3_server, "drops/killed") == {}  # a part is not a file; no manifest
    [done] = deliver_pending(shop, settings=settings())
    assert done.status == "delivered" and done.rows == rows
    found = bucket_keys(s3_server, "drops/killed")
    assert sorted(found) == [
        "drops/killed/raw.shop/v2/_manifest.json",
        "drops/killed/raw.shop/v2/part-00000.csv",
    ]
    assert found["drops/killed/raw.shop/v2/part-00000.csv"].count(b"\n") == rows + 1
    assert len(found["drops/killed/raw.shop/v2/part-00000.csv"]) > 16 << 20  # several parts
