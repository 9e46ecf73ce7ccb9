"""Example queries, copy-paste snippets and lineage graphs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from catalog import Catalog
from catalog.sandbox import run_sql
from dashboard import snippets


def test_every_example_query_runs_in_the_sandbox(populated_home: Path) -> None:
    with Catalog.open(populated_home) as cat:
        datasets = cat.datasets()
    queries = [sql for d in datasets for _, sql in snippets.example_queries(d)]
    assert len(queries) >= 3 * len(datasets)
    for sql in queries:
        assert run_sql(populated_home, sql).num_rows >= 1


def test_python_and_sql_snippets_read_the_version(populated_home: Path) -> None:
    namespace: dict[str, object] = {}
    code = snippets.python_snippet("raw.products@1").replace(
        "Catalog.open()", f"Catalog.open({str(populated_home)!r})"
    )
    exec(code, namespace)
    assert namespace["df"].shape == (45, 5)  # type: ignore[attr-defined]
    sql = snippets.sql_snippet("raw.products@1").split(";")[0]
    assert run_sql(populated_home, sql).num_rows == 10


def test_lineage_runs_from_the_scrape_to_the_models(populated_home: Path) -> None:
    with Catalog.open(populated_home) as cat:
        versions = [v for d in cat.datasets() for v in cat.versions(d.name)]
    clean = next(v for v in versions if v.dataset == "clean.products")
    versions.append(replace(clean, number=2, parents=(clean.ref,)))
    dot = snippets.lineage_dot("raw.products@2", versions, [("price_model@1", "clean.products@2")])
    assert '"scrape:run2" -> "raw.products@2"' in dot
    assert '"raw.products@2" -> "clean.products@1"' in dot
    assert '"clean.products@1" -> "clean.products@2"' in dot
    assert '"clean.products@2" -> "price_model@1"' in dot
    assert "imports.iris" not in dot and "raw.products@1" not in dot
