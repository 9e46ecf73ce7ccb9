"""The ``tables`` extractor on the tables corpus (every table right, pandas behind it) and on
each quirk of real table markup by itself."""

from __future__ import annotations

import lxml.html
import pyarrow as pa
import pytest
from lxml.html import HtmlElement

from bench.extraction_tables import (
    CorpusPage,
    ExpectedTable,
    ReadTable,
    harvest_tables,
    is_right,
    load_corpus,
    pandas_tables,
    table_figures,
)
from catalog.cleaning.infer import infer_type
from scrapers.html_tables import HtmlTable, cell_text, read_tables, table_rows

CORPUS = load_corpus()


def page(body: str) -> str:
    return f"<html><body>{body}</body></html>"


def only(body: str) -> HtmlTable:
    tables = read_tables(page(body))
    assert len(tables) == 1, [t.name for t in tables]
    return tables[0]


# -- the corpus ----------------------------------------------------------------------


def test_the_corpus_holds_at_least_twenty_tables_of_many_kinds() -> None:
    assert len(CORPUS) >= 10 and sum(len(p.tables) for p in CORPUS) >= 20


@pytest.mark.parametrize("corpus_page", CORPUS, ids=lambda p: p.name)
def test_every_corpus_table_is_read_as_its_author_meant(corpus_page: CorpusPage) -> None:
    found = read_tables(corpus_page.html)
    assert [t.name for t in found] == [t.name for t in corpus_page.tables]  # no extra tables
    for want, got in zip(corpus_page.tables, found, strict=True):
        assert got.columns == want.columns, want.name
        assert got.rows == want.rows, want.name
        assert got.totals == want.totals, want.name
        if want.sections:
            assert got.sections == want.sections, want.name


def test_harvest_gets_every_corpus_table_right_and_pandas_far_fewer() -> None:
    figures = table_figures()
    assert figures["tables"] == sum(len(p.tables) for p in CORPUS)
    assert figures["harvest_right"] == figures["tables"], figures["harvest_missed"]
    assert figures["pandas_right"] < figures["tables"] // 2


def test_the_scorer_wants_the_same_header_and_rows_and_95_percent_of_cells() -> None:
    rows = tuple((str(i), f"{i * 1000:,}") for i in range(1, 21))
    want = ExpectedTable("p", "t", ("n", "x"), rows)
    assert is_right(want, ReadTable(("n", "x"), rows))
    one_off = ReadTable(("n", "x"), (("1", "999"), *rows[1:]))  # 39 of 40 cells: 97.5%
    assert is_right(want, one_off)
    two_off = ReadTable(("n", "x"), (("1", "9"), ("2", "9"), *rows[2:]))  # 95% exactly
    assert is_right(want, two_off)
    three_off = ReadTable(("n", "x"), (("1", "9"), ("2", "9"), ("3", "9"), *rows[3:]))
    assert not is_right(want, three_off)
    assert not is_right(want, ReadTable(("n", "y"), rows))
    assert not is_right(want, ReadTable(("n", "x"), rows[:-1]))
    numbers = ReadTable(("n", "x"), tuple((n, x.replace(",", "")) for n, x in rows))
    assert is_right(want, numbers)  # pandas reads 1,000 as 1000: not an error


def test_pandas_baseline_reads_the_corpus_pages() -> None:
    population = next(p for p in CORPUS if p.name == "wiki_population")
    [table] = pandas_tables(population.html)
    assert table.columns[0] == "Location" and len(table.rows) == 6  # World counted as a row
    assert harvest_tables(population.html)[0].rows[0][0] == "India"


# -- each quirk ----------------------------------------------------------------------


def test_three_header_rows_with_spans_are_joined_per_column() -> None:
    table = only(
        "<table><tr><th rowspan=3>Year</th><th colspan=3>Population</th></tr>"
        "<tr><th rowspan=2>Total</th><th colspan=2>By sex</th></tr>"
        "<tr><th>Male</th><th>Female</th></tr>"
        "<tr><td>2021</td><td>10</td><td>4</td><td>6</td></tr></table>"
    )
    assert table.columns == (
        "Year",
        "Population / Total",
        "Population / By sex / Male",
        "Population / By sex / Female",
    )
    assert table.rows == (("2021", "10", "4", "6"),)


def test_rowspans_and_colspans_fill_the_body() -> None:
    table = only(
        "<table><tr><th>Line</th><th>Station</th><th>Note</th></tr>"
        "<tr><td rowspan=2>Red</td><td>Quay</td><td rowspan=2>open</td></tr>"
        "<tr><td>Market</td></tr>"
        "<tr><td>Blue</td><td colspan=2>Closed</td></tr>"
        "<tr><td>Short</td></tr>"
        "<tr><td rowspan=0>Green</td><td>Park</td><td rowspan=9>new</td></tr>"  # 0: to the end
        "<tr><td>Hill</td></tr></table>"  # and 9 runs past the end
    )
    assert table.rows == (
        ("Red", "Quay", "open"),
        ("Red", "Market", "open"),
        ("Blue", "Closed", "Closed"),
        ("Short", None, None),  # a short row is padded
        ("Green", "Park", "new"),
        ("Green", "Hill", "new"),
    )


def test_a_header_spanning_past_the_last_column_is_cut_there() -> None:
    table = only(
        "<table><tr><th></th><th colspan=2>Land</th><th colspan=3>Water</th></tr>"
        "<tr><th>State</th><th>sq mi</th><th>km²</th><th>sq mi</th><th>km²</th></tr>"
        "<tr><td>Alaska</td><td>570,640</td><td>1,477,953</td><td>94,743</td><td>245,384</td></tr>"
        "<tr><td colspan=5>Source: census</td></tr></table>"
    )
    assert table.columns == ("State", "Land / sq mi", "Land / km²", "Water / sq mi", "Water / km²")
    assert table.rows == (("Alaska", "570,640", "1,477,953", "94,743", "245,384"),)


def test_footnote_and_reference_markers_are_removed_from_cells_headers_and_captions() -> None:
    table = only(
        "<table><caption>Cities<sup class=reference><a href='#n1'>[1]</a></sup></caption>"
        "<tr><th>City</th><th>Area<sup><a href='#n2'>a</a></sup></th><th>Note</th></tr>"
        "<tr><td>Oslo[2][3]</td><td>454 km<sup>2</sup></td><td>1<sup>st</sup> capital[note 2]</td></tr>"
        "<tr><td>Bergen†</td><td>465 km<sup>2</sup>[a]</td><td>Port<sup>[citation needed]</sup></td></tr>"
        "<tr><td>‡Tromsø</td><td>2,521*</td><td>Arctic, north *</td></tr></table>"
    )
    assert table.name == "Cities" and table.columns == ("City", "Area", "Note")
    assert table.rows == (
        ("Oslo", "454 km2", "1st capital"),
        ("Bergen", "465 km2", "Port"),
        ("Tromsø", "2,521", "Arctic, north"),
    )


def test_a_lone_marker_cell_and_bracketed_words_stay() -> None:
    assert cell_text(_cell("<td>*</td>")) == "*"
    assert cell_text(_cell("<td>[unknown] origin</td>")) == "[unknown] origin"
    assert cell_text(_cell("<td>x<sup>n</sup>+1</td>")) == "x+1"  # a lone letter is a note


def test_hidden_sort_keys_styles_and_rows_are_dropped() -> None:
    table = only(
        "<table><tr><th>Name</th><th>Height</th></tr>"
        "<tr><td><span class=sortkey>Tower, Big</span>Big Tower</td>"
        "<td><span style='display: none'>0828</span>828&nbsp;m</td></tr>"
        "<tr style='display:none'><td>Gone</td><td>1 m</td></tr>"
        "<tr><td><style>.x{color:red}</style>Spire<span hidden>spire</span></td>"
        "<td><span data-sort-value='300'></span>300 m<span style='visibility:hidden'>!</span></td></tr>"
        "</table>"
    )
    assert table.rows == (("Big Tower", "828 m"), ("Spire", "300 m"))


def test_a_title_row_names_the_table_and_section_rows_label_the_rows_under_them() -> None:
    html = page(
        "<table><tr><th colspan=3>Vote by group</th></tr>"
        "<tr><td></td><th>Lab</th><th>Con</th></tr>"
        "<tr><th colspan=3>Age</th></tr>"
        "<tr><th>18–24</th><td>41</td><td>8</td></tr>"
        "<tr><th colspan=3>Sex</th></tr>"
        "<tr><th>Men</th><td>35</td><td>24</td></tr>"
        "<tr class=expand-child><td colspan=3>A summary attached to the row above it.</td></tr>"
        "<tr><th>Women</th><td>34</td><td>24</td></tr></table>"
    )
    [table] = read_tables(html)
    assert table.name == "Vote by group" and table.columns == ("column_1", "Lab", "Con")
    assert table.rows == (("18–24", "41", "8"), ("Men", "35", "24"), ("Women", "34", "24"))
    assert table.sections == ("Age", "Sex", "Sex")
    assert [r["_section"] for r in table_rows(html)] == ["Age", "Sex", "Sex"]


def test_totals_rows_are_separated_into_a_table_of_their_own() -> None:
    html = page(
        "<table><caption>Seats</caption><tr><th>Party</th><th>Seats</th></tr>"
        "<tr><td>Total Recall</td><td>1</td></tr>"  # a name, not a total
        "<tr><td>Labour</td><td>411</td></tr>"
        "<tr><th>Subtotal</th><th>412</th></tr>"
        "<tr><td>Others</td><td>238</td></tr>"
        "<tr class=sortbottom><td>All parties</td><td>650</td></tr>"
        "<tfoot><tr><td colspan=2>Source: the Library.</td></tr></tfoot></table>"
    )
    [table] = read_tables(html)
    assert table.rows == (("Total Recall", "1"), ("Labour", "411"), ("Others", "238"))
    assert table.totals == (("Subtotal", "412"), ("All parties", "650"))
    records = table_rows(html)
    assert [(r["_table"], r["_row"], r["Party"]) for r in records] == [
        ("Seats", 1, "Total Recall"),
        ("Seats", 2, "Labour"),
        ("Seats", 3, "Others"),
        ("Seats (totals)", 1, "Subtotal"),
        ("Seats (totals)", 2, "All parties"),
    ]


def test_a_world_row_pinned_to_the_top_of_a_sortable_table_is_a_total() -> None:
    table = only(
        "<table class='wikitable sortable'><tr><th>Country</th><th>Population</th></tr>"
        "<tr class=sorttop><td>World</td><td>8,232,000,000</td></tr>"
        "<tr><td>India</td><td>1,463,865,525</td></tr></table>"
    )
    assert table.rows == (("India", "1,463,865,525"),)
    assert table.totals == (("World", "8,232,000,000"),)


def test_cell_text_is_normalised_and_lists_are_joined() -> None:
    td = _cell(
        "<td>14\u00a0Mar\u2009\u200b2026<br>(launch)<ul><li>Faster sync</li><li></li>"
        "<li>Dark\u00admode</li></ul><p>–</p> — 1\u202f204</td>"
    )
    assert cell_text(td) == "14 Mar 2026 (launch) Faster sync; Darkmode – — 1 204"


def test_layout_tables_are_skipped_and_the_data_tables_inside_them_read() -> None:
    html = page(
        "<table><tr><td><h1>Shop</h1></td><td><table><tr><th>A</th><th>B</th></tr>"
        "<tr><td>1</td><td>2</td></tr></table></td></tr></table>"
        "<table role=presentation><tr><th>X</th><th>Y</th></tr><tr><td>1</td><td>2</td></tr></table>"
        "<table><tr><td><form><input name=q></form></td><th>Search</th></tr>"
        "<tr><th>Go</th><td>now</td></tr></table>"
        "<div class=navbox><table><tr><th>Ports</th><td>Oslo</td></tr>"
        "<tr><th>Capitals</th><td>Bergen</td></tr></table></div>"
    )
    assert [(t.name, t.columns, t.rows) for t in read_tables(html)] == [
        ("table 2", ("A", "B"), (("1", "2"),))
    ]


def test_an_infobox_is_one_record_with_bulleted_labels_under_their_section() -> None:
    table = only(
        "<table class=infobox><tr><th colspan=2>Northvale</th></tr>"
        "<tr><td colspan=2><img src=a.jpg>Harbour</td></tr>"
        "<tr><th>Country</th><td>Freedonia<sup class=reference>[1]</sup></td></tr>"
        "<tr><th colspan=2>Area</th></tr>"
        "<tr><th>\u00a0•\u00a0City</th><td>241 km<sup>2</sup></td></tr>"
        "<tr><th>\u00a0•\u00a0Metro</th><td>1,802 km<sup>2</sup></td></tr>"
        "<tr><th>Time zone</th><td>UTC+1</td></tr></table>"
    )
    assert table.name == "Northvale"
    assert table.columns == ("Country", "Area / City", "Area / Metro", "Time zone")
    assert table.rows == (("Freedonia", "241 km2", "1,802 km2", "UTC+1"),)


def test_a_table_labelled_down_its_first_column_gives_a_record_per_value_column() -> None:
    table = only(
        "<table><tr><th>Year</th><td>2019</td><td>2020</td></tr>"
        "<tr><th>Visitors</th><td>1,200</td><td>310</td></tr>"
        "<tr><th>Note</th><td colspan=2>Closed in spring 2020</td></tr></table>"
    )
    assert table.columns == ("Year", "Visitors", "Note")
    assert table.rows == (
        ("2019", "1,200", "Closed in spring 2020"),
        ("2020", "310", "Closed in spring 2020"),
    )
    spread = only(
        "<table><tr><th>Weight</th><td colspan=2>0.34 kg</td></tr>"
        "<tr><th>Colour</th><td>Moss</td><td>Slate</td></tr></table>"
    )
    assert spread.rows == (("0.34 kg", "Moss"), ("0.34 kg", "Slate"))
    record = only(
        "<table><tr><th>Weight</th><td colspan=2>0.34 kg</td></tr>"
        "<tr><th>Size</th><td colspan=2>S, M, L</td></tr></table>"
    )
    assert record.columns == ("Weight", "Size") and record.rows == (("0.34 kg", "S, M, L"),)


def test_a_bold_first_row_heads_a_table_without_th_and_a_headless_grid_is_skipped() -> None:
    html = page(
        "<table><tr><td><b>Pos</b></td><td><strong>Crew</strong></td></tr>"
        "<tr><td>1</td><td>Riverside</td></tr></table>"
        "<table><tr><td>1</td><td><b>x</b></td></tr><tr><td>2</td><td>y</td></tr></table>"
    )
    [table] = read_tables(html)
    assert table.columns == ("Pos", "Crew") and table.rows == (("1", "Riverside"),)


def test_repeated_headers_and_empty_swatch_columns_are_dropped() -> None:
    table = only(
        "<table><tr><th colspan=2>Party</th><th>Votes</th><th></th></tr>"
        "<tr><td style='background:red'></td><td>Labour</td><td>9</td><td></td></tr>"
        "<tr><th colspan=2>Party</th><th>Votes</th><th></th></tr>"
        "<tr><td colspan=2>Others</td><td>1</td><td></td></tr></table>"
    )
    assert table.columns == ("Party", "Votes")
    assert table.rows == (("Labour", "9"), ("Others", "1"))


def test_records_are_placed_by_table_row_and_section_with_unique_names() -> None:
    html = page(
        "<table><caption>T</caption><tr><th>A</th><th>A</th></tr><tr><td>1</td><td>2</td></tr></table>"
        "<table><caption>T</caption><tr><th>B</th><th>_c</th></tr><tr><td>3</td><td>4</td></tr></table>"
    )
    assert table_rows(html) == [
        {"_table": "T", "_row": 1, "_section": None, "A": "1", "A (2)": "2"},
        {"_table": "T (2)", "_row": 1, "_section": None, "B": "3", "c": "4"},
    ]


def test_numbers_and_dates_in_extracted_columns_are_typed_by_cleaning() -> None:
    population = next(p for p in CORPUS if p.name == "wiki_population")
    [table] = read_tables(population.html)
    columns = {name: [row[i] for row in table.rows] for i, name in enumerate(table.columns)}
    assert infer_type("Population / Numbers", pa.array(columns["Population / Numbers"])) == "number"
    assert infer_type("Date", pa.array(columns["Date"])) == "date"
    assert infer_type("Location", pa.array(columns["Location"])) == "text"


def _cell(html: str) -> HtmlElement:
    return lxml.html.fromstring(f"<table><tr>{html}</tr></table>").find(".//td")
