"""Every page through the real app (AppTest), on an empty workspace, a populated one, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MakeApp = Callable[[Path, str], AppTest]
CATALOG_PAGES = ["marketplace", "dataset", "sql"]


def ran(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    parts += [*at.title, *at.header, *at.subheader]
    return "\n".join(str(p.value) for p in parts)


@pytest.mark.parametrize("page", CATALOG_PAGES)
def test_pages_explain_an_empty_workspace(app: MakeApp, empty_home: Path, page: str) -> None:
    at = ran(app(empty_home, page))
    assert not at.error
    assert "empty" in " ".join(i.value for i in at.info)


def test_marketplace_lists_every_dataset_as_a_card(app: MakeApp, populated_home: Path) -> None:
    at = ran(app(populated_home, "marketplace"))
    shown = texts(at)
    assert "3 of 3 datasets" in shown
    for title in ("Iris flowers", "Clean products", "Demo shop products"):
        assert f"**{title}**" in shown
    assert "quality 92/100" in shown
    assert "50 rows · 1 version" in shown  # clean.products
    assert "2 versions" in shown  # raw.products
    # scraped text is escaped, never rendered: no live link, no HTML tag
    assert "\\[not a link\\]\\(http\\://x\\)" in shown
    assert "\\<b\\>names\\</b\\>" in shown


def test_marketplace_search_filters_and_sorts(app: MakeApp, populated_home: Path) -> None:
    at = ran(app(populated_home, "marketplace"))
    at.text_input(key="market_text").input("flowers fisher")
    ran(at)
    assert "1 of 3 datasets" in texts(at)
    assert "**Iris flowers**" in texts(at)
    at.text_input(key="market_text").input("")
    at.multiselect(key="market_stage").select("raw")
    ran(at)
    assert "1 of 3 datasets" in texts(at)
    at.multiselect(key="market_stage").unselect("raw")
    at.selectbox(key="market_sort").select("Most rows")
    ran(at)
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles[0] == "**Iris flowers**"  # 150 rows before 50 and 50
    at.multiselect(key="market_tag").select("shop")
    at.multiselect(key="market_licence").select("CC-BY-4.0")
    ran(at)
    assert "2 of 3 datasets" in texts(at)
    at.selectbox(key="market_sort").select("Name")
    ran(at)
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles == ["**Clean products**", "**Demo shop products**"]
    at.slider(key="market_quality").set_value(90)
    ran(at)
    assert "1 of 3 datasets" in texts(at) and "**Clean products**" in texts(at)
    at.slider(key="market_quality").set_value(95)
    ran(at)
    assert "No dataset matches" in texts(at)


def test_dataset_page_shows_card_versions_diff_and_snippets(
    app: MakeApp, populated_home: Path
) -> None:
    at = app(populated_home, "dataset")
    at.query_params["name"] = "raw.products"
    ran(at)
    shown = texts(at)
    assert "Demo shop products" in shown
    assert at.metric[0].value == "50"  # rows of raw.products@2
    assert at.metric[1].value == "2"  # versions
    versions = at.dataframe[0].value
    assert list(versions["version"]) == [2, 1]
    assert list(versions["producer"]) == ["scrape:run2", "scrape:run1"]
    assert list(versions["message"]) == ["crawl 2", "crawl 1"]
    assert list(versions["rows"]) == [50, 45]
    preview = at.dataframe[1].value
    assert len(preview) == 50 and "sku" in preview.columns
    # diff of @1 -> @2: 5 rows added, every price changed by one
    assert [m.value for m in at.metric[5:8]] == ["5", "0", "45"]
    code = "\n".join(c.value for c in at.code)
    assert 'catalog.read("raw.products@2")' in code
    assert "SELECT * FROM raw.products@2" in code
    assert [b.label for b in at.get("download_button")] == [
        "Download parquet",
        "Download csv",
        "Download jsonl",
    ]


def test_dataset_page_shows_the_quality_report_and_lineage(
    app: MakeApp, populated_home: Path
) -> None:
    at = app(populated_home, "dataset")
    at.query_params["name"] = "clean.products"
    ran(at)
    assert any(m.label == "Quality score" and m.value == "92/100" for m in at.metric)
    rules = next(d.value for d in at.dataframe if "rule" in d.value.columns)
    assert rules.iloc[0]["rule"] == "price > 0"
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"raw.products@2" -> "clean.products@1"' in dot
    assert '"scrape:run1" -> "raw.products@1"' not in dot  # only the chain of @2
    assert '"scrape:run2" -> "raw.products@2"' in dot


def test_dataset_page_says_when_a_dataset_does_not_exist(
    app: MakeApp, populated_home: Path
) -> None:
    at = app(populated_home, "dataset")
    at.query_params["name"] = "raw.nothing"
    ran(at)
    assert "There is no dataset 'raw.nothing'" in texts(at)


def test_sql_page_runs_a_query_and_offers_chart_and_download(
    app: MakeApp, populated_home: Path
) -> None:
    at = ran(app(populated_home, "sql"))
    at.text_area[0].input(
        "SELECT species, count(*) AS flowers FROM imports.iris GROUP BY species ORDER BY species"
    )
    at.button[0].click()
    ran(at)
    assert not at.error
    result = at.dataframe[0].value
    assert list(result["species"]) == ["setosa", "versicolor", "virginica"]
    assert list(result["flowers"]) == [50, 50, 50]
    assert "3 rows · 2 columns" in texts(at)
    assert at.get("download_button")[0].label == "Download result (CSV)"
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_sql_page_loads_example_queries_per_dataset(app: MakeApp, populated_home: Path) -> None:
    at = ran(app(populated_home, "sql"))
    examples = at.selectbox(key="sql_example")
    assert "raw.products: version 1 against the latest" in examples.options
    examples.select("imports.iris: row count")
    ran(at)
    assert at.text_area[0].value == "SELECT count(*) AS rows FROM imports.iris"
    at.button[0].click()
    ran(at)
    assert at.dataframe[0].value.iloc[0, 0] == 150


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE raw.products", "not allowed here"),
        ("SELECT * FROM read_csv('/etc/passwd')", "outside the catalog"),
        ("SELEC nonsense", "not valid SQL"),
        ("SELECT * FROM raw.products@9", "raw.products@9 does not exist"),
        ("EXPLAIN ANALYZE CREATE MACRO lower(x) AS 'evil'", "EXPLAIN ANALYZE"),
        ("SELECT json_structure(repeat('[', 100000) || '1' || repeat(']', 100000))", "SQL engine"),
    ],
)
def test_sql_page_shows_refused_queries_as_one_sentence(
    app: MakeApp, populated_home: Path, sql: str, message: str
) -> None:
    at = ran(app(populated_home, "sql"))
    at.text_area[0].input(sql)
    at.button[0].click()
    ran(at)
    assert len(at.error) == 1
    assert message in at.error[0].value
    assert "\n" not in at.error[0].value.strip()
    assert not at.dataframe
    at.text_area[0].input("SELECT lower('ABC') AS s")  # the page's sandbox is still whole
    at.button[0].click()
    ran(at)
    assert not at.error and at.dataframe[0].value.iloc[0, 0] == "abc"


def test_dataset_page_charts_the_drift_from_the_previous_version(
    app: MakeApp, populated_home: Path
) -> None:
    at = app(populated_home, "dataset")
    at.query_params["name"] = "raw.products"
    ran(at)
    drift = next(d.value for d in at.dataframe if "score" in d.value.columns)
    rows = drift.set_index("column")
    assert rows.loc["price", "kind"] == "number" and rows.loc["category", "kind"] == "category"
    assert rows.loc["price", "ks"] > 0 and rows.loc["category", "js"] < 0.05
    assert any("from raw.products@1" in c.value and "raw.products@2" in c.value for c in at.caption)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
