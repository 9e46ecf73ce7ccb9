"""Folder deliveries: files renamed into place, the manifest last, full and delta, formats,
split and gzip, idempotent re-delivery, and the subscriber's access."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from catalog import Catalog
from catalog.access import ADMIN, Accounts
from catalog.subscriptions import Subscription, Subscriptions
from core.errors import InvalidInputError
from delivery.run import deliver_pending, first_version
from tests.delivery.conftest import products, settings


def _subscribe(catalog: Catalog, **fields: object) -> Subscription:
    dataset = str(fields.pop("dataset", "raw.shop"))
    sub = Subscription(dataset=dataset, first_version=first_version(catalog, dataset), **fields)  # type: ignore[arg-type]
    return Subscriptions(catalog).add(sub)


def _manifest(folder: Path) -> dict[str, object]:
    return json.loads((folder / "_manifest.json").read_text())


def test_a_version_lands_in_the_folder_whole_with_its_manifest(
    shop: Catalog, tmp_path: Path
) -> None:
    _subscribe(shop, name="buyer", target=str(tmp_path / "out"))
    [done] = deliver_pending(shop, settings=settings())
    folder = tmp_path / "out" / "raw.shop" / "v1"
    assert done.status == "delivered" and done.rows == 5
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "part-00000.parquet"]
    manifest = _manifest(folder)
    data = (folder / "part-00000.parquet").read_bytes()
    assert manifest["files"] == [
        {"name": "part-00000.parquet", "rows": 5, "size": len(data),
         "sha256": hashlib.sha256(data).hexdigest()}
    ]  # fmt: skip
    assert manifest["content_hash"] == shop.version("raw.shop@1").content_hash
    assert pq.read_table(folder / "part-00000.parquet").to_pydict() == products(1).to_pydict()
    assert deliver_pending(shop, settings=settings()) == []  # nothing pending any more


def test_the_delta_carries_inserts_updates_and_deletes_by_key(
    shop: Catalog, tmp_path: Path
) -> None:
    _subscribe(shop, name="delta", target=str(tmp_path / "out"), mode="delta", format="csv")
    deliver_pending(shop, settings=settings())
    shop.commit("raw.shop", products(2), producer="test")
    [done] = deliver_pending(shop, settings=settings())
    folder = tmp_path / "out" / "raw.shop" / "v2"
    rows = pacsv.read_csv(folder / "part-00000.csv").to_pylist()
    assert sorted((r["id"], r["_op"]) for r in rows) == [
        (1, "delete"),
        (2, "update"),
        (6, "insert"),
    ]
    assert next(r for r in rows if r["id"] == 2)["price"] == 99.0
    assert _manifest(folder)["rows"] == {"total": 3, "insert": 1, "update": 1, "delete": 1}
    assert _manifest(folder)["since"] == "raw.shop@1"
    assert done.rows == 3


def test_split_and_gzip_make_several_compressed_files(shop: Catalog, tmp_path: Path) -> None:
    _subscribe(shop, name="split", target=str(tmp_path), format="jsonl", gzip=True, split_rows=2)
    deliver_pending(shop, settings=settings())
    folder = tmp_path / "raw.shop" / "v1"
    names = [f["name"] for f in _manifest(folder)["files"]]  # type: ignore[index]
    assert names == ["part-00000.jsonl.gz", "part-00001.jsonl.gz", "part-00002.jsonl.gz"]
    ids = [json.loads(line)["id"] for n in names
           for line in gzip.decompress((folder / n).read_bytes()).splitlines()]  # fmt: skip
    assert ids == [1, 2, 3, 4, 5]
    assert [f["rows"] for f in _manifest(folder)["files"]] == [2, 2, 1]  # type: ignore[index]


def test_a_saved_query_narrows_what_is_delivered(shop: Catalog, tmp_path: Path) -> None:
    _subscribe(shop, name="cheap", target=str(tmp_path),
               query="SELECT id FROM raw.shop WHERE price < 30 ORDER BY id")  # fmt: skip
    deliver_pending(shop, settings=settings())
    shop.commit("raw.shop", products(2), producer="test")
    deliver_pending(shop, settings=settings())
    assert pq.read_table(tmp_path / "raw.shop/v1/part-00000.parquet").to_pydict() == {"id": [1, 2]}
    # version 2 is read as it was committed (id 2 now costs 99)
    assert pq.read_table(tmp_path / "raw.shop/v2/part-00000.parquet").to_pydict() == {"id": []}


def test_delivering_a_version_again_rewrites_nothing(shop: Catalog, tmp_path: Path) -> None:
    _subscribe(shop, name="again", target=str(tmp_path))
    deliver_pending(shop, settings=settings())
    part = tmp_path / "raw.shop/v1/part-00000.parquet"
    stamp = part.stat().st_mtime_ns
    subs = Subscriptions(shop)
    [first] = subs.deliveries("again")
    # the row is lost (or the delivery retried by hand): the manifest says it is there already
    from delivery.run import retry

    shop.transaction(lambda c: c.execute("UPDATE lake.harvest.deliveries SET status = 'failed'"))
    again = retry(shop, first.id, settings())
    assert again.status == "delivered" and again.files == first.files
    assert part.stat().st_mtime_ns == stamp


def test_a_killed_delivery_leaves_no_manifest_and_is_redone_whole(
    shop: Catalog, tmp_path: Path
) -> None:
    _subscribe(shop, name="killed", target=str(tmp_path), split_rows=2)
    folder = tmp_path / "raw.shop" / "v1"
    folder.mkdir(parents=True)
    (folder / "part-00000.parquet").write_bytes(b"half of an earlier attempt")
    (folder / ".part-00001.parquet.partial").write_bytes(b"cut")
    deliver_pending(shop, settings=settings())
    assert sorted(p.name for p in folder.iterdir()) == [
        "_manifest.json", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"
    ]  # fmt: skip
    assert sum(pq.read_table(p).num_rows for p in folder.glob("*.parquet")) == 5


def test_bad_subscriptions_are_one_sentence(shop: Catalog, tmp_path: Path) -> None:
    subs = Subscriptions(shop)
    with pytest.raises(InvalidInputError, match="needs --secret"):
        subs.add(Subscription("s3", "raw.shop", "s3://bucket/prefix"))
    with pytest.raises(InvalidInputError, match="not a format"):
        subs.add(Subscription("x", "raw.shop", str(tmp_path), format="xlsx"))
    with pytest.raises(InvalidInputError, match="not a target"):
        subs.add(Subscription("x", "raw.shop", "ftp://host/x"))
    subs.add(Subscription("x", "raw.shop", str(tmp_path)))
    with pytest.raises(InvalidInputError, match="already a subscription"):
        subs.add(Subscription("x", "raw.shop", str(tmp_path)))


def test_revoking_access_pauses_the_subscription(shop: Catalog, tmp_path: Path) -> None:
    accounts = Accounts(shop)
    accounts.add_user("ann")
    accounts.set_access("raw.shop", visibility="gated")
    accounts.grant(ADMIN, "raw.shop", "ann")
    _subscribe(shop, name="anns", target=str(tmp_path), subscriber="ann")
    assert [d.status for d in deliver_pending(shop, settings=settings())] == ["delivered"]
    accounts.revoke(ADMIN, "raw.shop", "ann")
    assert Subscriptions(shop).get("anns").status == "paused"
    shop.transaction(lambda c: c.execute("UPDATE lake.harvest.subscriptions SET status = 'active'"))
    shop.commit("raw.shop", products(2), producer="test")
    assert deliver_pending(shop, settings=settings()) == []
    paused = Subscriptions(shop).get("anns")
    assert paused.status == "paused" and "ann" in paused.reason
    assert not (tmp_path / "raw.shop" / "v2").exists()
