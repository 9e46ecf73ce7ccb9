"""The catalog store: versions, time travel, no-op commits, diffs, listings, concurrency, crashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from catalog import Catalog, Listing, Staged
from catalog.engine import CatalogError
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace


def products(prices: dict[str, float], fetched: str = "2026-01-01") -> pa.Table:
    return pa.table(
        {
            "sku": list(prices),
            "price": list(prices.values()),
            "_fetched_at": [fetched] * len(prices),
        }
    )


def test_each_version_reads_back_its_exact_rows(catalog: Catalog) -> None:
    tables = [
        products({"a": 1.0, "b": 2.0}),
        products({"a": 1.5, "b": 2.0, "c": 3.0}),
        products({"c": 3.0}),
    ]
    for table in tables:
        catalog.commit("raw.shop", table, producer="test", key=("sku",))
    for number, table in enumerate(tables, start=1):
        assert (
            catalog.read(f"raw.shop@{number}").sort_by("sku").to_pylist()
            == table.sort_by("sku").to_pylist()
        )
    assert catalog.read("raw.shop").to_pylist() == tables[-1].to_pylist()
    assert [v.number for v in catalog.versions("raw.shop")] == [1, 2, 3]
    assert len({v.snapshot_id for v in catalog.versions("raw.shop")}) == 3


def test_a_version_already_looked_up_reads_its_rows_without_a_second_lookup(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.commit("raw.shop", products({"a": 1.0}), producer="test", key=("sku",))
    catalog.commit("raw.shop", products({"a": 2.0, "b": 3.0}), producer="test", key=("sku",))
    first = catalog.version("raw.shop@1")
    monkeypatch.setattr(catalog, "version", lambda ref: pytest.fail(f"looked up {ref} again"))
    assert catalog.read(first).to_pylist() == products({"a": 1.0}).to_pylist()
    assert catalog.read(first, limit=1).num_rows == 1


def test_version_records_rows_schema_stats_producer_parents(catalog: Catalog) -> None:
    catalog.commit(
        "raw.shop", products({"a": 1.0, "b": 3.0}), producer="scrape:r1", message="first"
    )
    result = catalog.commit(
        "clean.shop",
        pd.DataFrame({"sku": ["a", None], "price": [1.0, 3.0]}),
        producer="clean:abc",
        parents=("raw.shop@1",),
        message="cleaned",
        quality_score=87.5,
        report={"rules": []},
    )
    version = result.version
    assert (version.ref, version.rows, version.producer, version.parents) == (
        "clean.shop@1",
        2,
        "clean:abc",
        ("raw.shop@1",),
    )
    assert version.columns == (("sku", "VARCHAR"), ("price", "DOUBLE"))
    stats = {s.name: s for s in version.stats}
    assert (stats["sku"].nulls, stats["price"].min, stats["price"].max, stats["price"].mean) == (
        1,
        "1.0",
        "3.0",
        2.0,
    )
    assert version.quality_score == 87.5
    assert catalog.report("clean.shop@1") == {"rules": []}
    assert len(version.content_hash) == 64


def test_unchanged_content_makes_no_new_version(catalog: Catalog) -> None:
    first = catalog.commit(
        "raw.shop", products({"a": 1.0, "b": 2.0}), producer="t", volatile=("_fetched_at",)
    )
    again = catalog.commit(
        "raw.shop", products({"b": 2.0, "a": 1.0}, fetched="2026-02-02"), producer="t"
    )
    assert first.created and not again.created
    assert again.version.number == 1
    assert len(catalog.versions("raw.shop")) == 1
    changed = catalog.commit("raw.shop", products({"a": 1.0, "b": 2.5}), producer="t")
    assert changed.created and changed.version.number == 2


def test_arrow_sql_and_staged_rows_hash_alike(catalog: Catalog) -> None:
    table = products({"a": 1.0, "b": 2.0})
    first = catalog.commit("raw.shop", table, producer="t")
    assert not catalog.commit("raw.shop", sql="SELECT * FROM range(0)", producer="t").version.rows
    cursor = catalog.cursor()
    cursor.register("rows", table)
    cursor.execute("CREATE TEMP TABLE staged AS SELECT * FROM rows ORDER BY sku DESC")
    again = catalog.commit("raw.shop", Staged(cursor, "temp.staged"), producer="t")
    assert again.created and again.version.content_hash == first.version.content_hash
    assert cursor.execute("SELECT count(*) FROM temp.staged").fetchone() == (
        2,
    )  # left to its owner
    assert catalog.find("raw.shop") is not None and catalog.find("raw.nothing") is None


def test_vacuum_merges_small_files_and_time_travel_still_reads_every_version(
    catalog: Catalog,
) -> None:
    tables = [products({"a": float(i), "b": 2.0}) for i in range(4)]
    for table in tables:
        catalog.commit("raw.shop", table, producer="t", key=("sku",))

    def files(table: str) -> int:
        sql = f"SELECT count(*) FROM ducklake_list_files('lake', '{table}', schema => 'harvest')"
        return catalog.cursor().execute(sql).fetchone()[0]  # type: ignore[index]

    assert files("versions") == 4
    assert catalog.vacuum(older_than_hours=0) >= 3  # the merged-away files are deleted
    assert files("versions") == 1
    for number, table in enumerate(tables, start=1):
        assert catalog.read(f"raw.shop@{number}").to_pylist() == table.to_pylist()
        assert catalog.version(f"raw.shop@{number}").rows == 2
    assert catalog.diff("raw.shop@1", "raw.shop@4").changed.num_rows == 1
    assert catalog.commit("raw.shop", products({"c": 1.0}), producer="t").version.number == 5


def data_files(catalog: Catalog) -> set[Path]:
    return set(Path(catalog.workspace.data_path).rglob("*.parquet"))


def test_vacuum_keeps_merged_away_files_younger_than_its_cutoff(catalog: Catalog) -> None:
    for i in range(4):
        catalog.commit("raw.shop", products({"a": float(i)}), producer="t")
    before = data_files(catalog)
    assert catalog.vacuum() == 0  # the default hour: files merged seconds ago stay
    assert before <= data_files(catalog)
    assert catalog.vacuum(older_than_hours=0) == 4  # the four replaced registry files
    assert len(before - data_files(catalog)) == 4


def test_vacuum_deletes_the_replaced_files_past_its_cutoff_and_keeps_younger_ones(
    catalog: Catalog,
) -> None:
    for i in range(4):
        catalog.commit("raw.shop", products({"a": float(i)}), producer="t")
    catalog.vacuum()  # merges: four registry files now wait for deletion
    waiting = "__ducklake_metadata_lake.ducklake_files_scheduled_for_deletion"
    cur = catalog.cursor()
    paths = sorted(row[0] for row in cur.execute(f"SELECT path FROM {waiting}").fetchall())
    assert len(paths) == 4
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    for path in paths[:2]:  # as if merged two days ago
        cur.execute(
            f"UPDATE {waiting} SET schedule_start = ? WHERE path = ?",
            [two_days_ago.strftime("%Y-%m-%d %H:%M:%S.%f+00"), path],
        )
    data = Path(catalog.workspace.data_path)
    assert catalog.vacuum() == 2
    assert [(data / p).exists() for p in paths] == [False, False, True, True]
    assert (
        sorted(row[0] for row in cur.execute(f"SELECT path FROM {waiting}").fetchall()) == paths[2:]
    )


def test_vacuum_with_no_cutoff_keeps_every_file_a_version_or_the_registry_needs(
    catalog: Catalog,
) -> None:
    from training.registry import Registry

    registry = Registry(catalog)
    tables = [products({"a": float(i), "b": 2.0}) for i in range(3)]
    for number, table in enumerate(tables, start=1):
        catalog.commit("raw.shop", table, producer="t", key=("sku",))
        catalog.commit("clean.shop", table, producer="t", parents=(f"raw.shop@{number}",))
        registry.set_alias("m", "champion", number, {"why": number})
        registry.record("m", number, "gate", {"passed": True})
    catalog.set_listing("raw.shop", Listing(title="Shop"))
    registry.clear_alias("m", "champion")
    registry.set_alias("m", "challenger", 2, {})

    def state() -> tuple[object, ...]:
        cur = catalog.cursor()
        rows = [
            cur.execute(
                f"SELECT * EXCLUDE (happened_at) FROM lake.harvest.{t} ORDER BY ALL"
            ).fetchall()
            for t in ("model_events",)
        ]
        aliases = cur.execute("SELECT model, alias, version FROM lake.harvest.model_aliases")
        return (
            [
                catalog.read(v).to_pylist()
                for d in ("raw.shop", "clean.shop")
                for v in catalog.versions(d)
            ],
            catalog.versions("raw.shop") + catalog.versions("clean.shop"),
            catalog.dataset("raw.shop").listing,
            rows,
            aliases.fetchall(),
        )

    before = state()
    assert catalog.vacuum(older_than_hours=0) > 0
    assert state() == before
    assert [c.status for c in catalog.verify()] == ["intact"] * 6
    assert catalog.vacuum(older_than_hours=0) == 0  # nothing left to delete
    assert state() == before


def test_vacuum_waits_for_an_open_transaction_instead_of_taking_its_files_for_orphans(
    catalog: Catalog,
) -> None:
    import threading

    written, release = threading.Event(), threading.Event()

    def slow_write(cur: duckdb.DuckDBPyConnection) -> None:
        cur.execute("CREATE TABLE lake.raw.slow AS SELECT range AS x FROM range(3)")
        written.set()
        release.wait(30)

    writer = threading.Thread(target=lambda: catalog.transaction(slow_write))
    writer.start()
    assert written.wait(30)
    vacuum = threading.Thread(target=lambda: catalog.vacuum(older_than_hours=0))
    vacuum.start()
    vacuum.join(1.0)
    assert vacuum.is_alive()  # waiting for the writer, not deleting its file
    release.set()
    writer.join(30)
    vacuum.join(30)
    assert catalog.cursor().execute("SELECT sum(x) FROM lake.raw.slow").fetchone() == (3,)


def test_duplicate_rows_change_the_content_hash(catalog: Catalog) -> None:
    one = catalog.commit("raw.t", pa.table({"x": [1, 2]}), producer="t").version
    two = catalog.commit("raw.t", pa.table({"x": [1, 2, 2]}), producer="t").version
    assert one.content_hash != two.content_hash and two.number == 2


def test_diff_by_key_shows_added_removed_and_changed(catalog: Catalog) -> None:
    catalog.commit(
        "raw.shop",
        products({"a": 1.0, "b": 2.0, "c": 3.0}),
        producer="t",
        key=("sku",),
        volatile=("_fetched_at",),
    )
    catalog.commit(
        "raw.shop", products({"a": 1.0, "b": 2.5, "d": 4.0}, fetched="later"), producer="t"
    )
    diff = catalog.diff("raw.shop@1", "raw.shop@2")
    assert diff.key == ("sku",)
    assert [r["sku"] for r in diff.added.to_pylist()] == ["d"]
    assert [r["sku"] for r in diff.removed.to_pylist()] == ["c"]
    assert diff.changed.to_pylist() == [
        {"sku": "b", "column": "price", "before": "2.0", "after": "2.5"}
    ]


def test_listing_is_saved_and_updated_without_a_new_version(catalog: Catalog) -> None:
    listing = Listing(
        title="Shop",
        description="Products",
        license="CC-BY-4.0",
        tags=("retail",),
        publisher="Demo",
        source_url="http://x",
        cadence="daily",
    )
    catalog.commit("raw.shop", products({"a": 1.0}), producer="t", listing=listing, key=("sku",))
    dataset = catalog.dataset("raw.shop")
    assert dataset.listing == listing and dataset.key == ("sku",) and dataset.version_count == 1
    catalog.commit("raw.shop", products({"a": 1.0}), producer="t", listing=Listing(title="Renamed"))
    assert catalog.dataset("shop").listing.title == "Renamed"
    assert catalog.dataset("shop").version_count == 1


def test_bad_names_and_missing_things_are_clear_errors(catalog: Catalog) -> None:
    catalog.commit("raw.shop", products({"a": 1.0}), producer="t")
    with pytest.raises(InvalidInputError, match="stage"):
        catalog.commit("bronze.shop", products({"a": 1.0}), producer="t")
    with pytest.raises(InvalidInputError, match="immutable"):
        catalog.commit("raw.shop@1", products({"a": 1.0}), producer="t")
    with pytest.raises(InvalidInputError, match="not a column"):
        catalog.commit("raw.shop", products({"a": 2.0}), producer="t", key=("nope",))
    with pytest.raises(NotFoundError, match="no version 5"):
        catalog.read("raw.shop@5")
    with pytest.raises(NotFoundError, match="no dataset"):
        catalog.versions("raw.nothing")
    with pytest.raises(InvalidInputError, match="not a dataset name"):
        catalog.read("raw.Shop!")


def test_datasets_lists_latest_versions_by_stage(catalog: Catalog) -> None:
    catalog.commit("raw.a", pa.table({"x": [1]}), producer="t")
    catalog.commit("raw.a", pa.table({"x": [2]}), producer="t")
    catalog.commit("clean.a", pa.table({"x": [2]}), producer="t", quality_score=90.0)
    listed = {d.name: d for d in catalog.datasets()}
    assert listed["raw.a"].latest is not None and listed["raw.a"].latest.number == 2
    assert listed["clean.a"].latest is not None and listed["clean.a"].latest.quality_score == 90.0
    assert [d.name for d in catalog.datasets("clean")] == ["clean.a"]
    with pytest.raises(InvalidInputError, match="ambiguous"):
        catalog.read("a")


WRITER = textwrap.dedent(
    """
    import sys, pyarrow as pa
    from catalog import Catalog
    home, who = sys.argv[1], int(sys.argv[2])
    catalog = Catalog.open(home)
    for i in range(4):
        catalog.commit("raw.shared", pa.table({"writer": [who], "i": [i]}), producer=f"writer{who}")
        catalog.commit(f"raw.own{who}", pa.table({"i": [i]}), producer=f"writer{who}")
    """
)


def test_three_processes_commit_to_one_workspace_at_once(tmp_path: Path) -> None:
    home = tmp_path / "shared-home"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), str(w)], stderr=subprocess.PIPE, text=True
        )
        for w in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    with Catalog.open(home) as catalog:
        assert [v.number for v in catalog.versions("raw.shared")] == list(range(1, 13))
        for w in range(3):
            assert [v.number for v in catalog.versions(f"raw.own{w}")] == [1, 2, 3, 4]
            assert catalog.read(f"raw.own{w}").to_pylist() == [{"i": 3}]


SLOW_WRITER = textwrap.dedent(
    """
    import sys, pyarrow as pa, numpy as np
    from catalog import Catalog
    catalog = Catalog.open(sys.argv[1])
    big = pa.table({"x": np.arange(3_000_000), "y": np.random.default_rng(0).random(3_000_000)})
    print("committing", flush=True)
    while True:
        big = big.set_column(1, "y", pa.array(np.random.default_rng().random(3_000_000)))
        catalog.commit("raw.big", big, producer="slow")
    """
)


def test_a_writer_killed_mid_commit_leaves_the_catalog_consistent(workspace: Workspace) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.big", pa.table({"x": [1, 2, 3]}), producer="before")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(workspace.home)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "committing"
        time.sleep(1.5)  # inside the first or second multi-second commit
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with Catalog.open(workspace) as catalog:
        versions = catalog.versions("raw.big")
        latest = versions[-1]
        assert catalog.read(latest.ref).num_rows == latest.rows  # no partial version
        assert catalog.read("raw.big@1").to_pylist() == [{"x": 1}, {"x": 2}, {"x": 3}]
        after = catalog.commit("raw.big", pa.table({"x": [9]}), producer="after")
        assert after.created and after.version.number == latest.number + 1
        catalog.vacuum(older_than_hours=0)
        orphans = (
            catalog.cursor()
            .execute(
                "CALL ducklake_delete_orphaned_files('lake', dry_run => true, older_than => now())"
            )
            .fetchall()
        )
        assert orphans == []


def test_a_catalog_that_cannot_be_opened_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "HARVEST_CATALOG", f"ducklake:sqlite:{tmp_path}/missing-dir/x/catalog.sqlite"
    )
    with pytest.raises(CatalogError, match="Could not open the catalog"):
        Catalog.open(tmp_path / "home")
