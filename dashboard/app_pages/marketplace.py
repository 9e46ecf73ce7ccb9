"""Marketplace: every dataset as a listing card, with search, filters, sorts and pages."""

from __future__ import annotations

import streamlit as st

from catalog import market
from catalog.records import STAGES
from dashboard import data, state, ui

state.init()
st.title("Marketplace")
with ui.guard("load the catalog"):
    datasets = data.datasets()
if not datasets:
    st.info(
        "The catalog is empty. Run `harvest demo`, import a file with `harvest import`, "
        "or scrape a source from the Sources page."
    )
    st.stop()

tags, licenses = market.facets(datasets)
text = st.text_input(
    "Search", key="market_text", placeholder="Search titles, descriptions, tags, publishers…"
)
stage_col, tag_col, licence_col, fresh_col, quality_col, sort_col = st.columns(
    [1, 1.3, 1.2, 1, 1, 1]
)
filters = market.Filters(
    text=text,
    stages=tuple(stage_col.multiselect("Stage", STAGES, key="market_stage")),
    tags=tuple(tag_col.multiselect("Tag", tags, key="market_tag")),
    licenses=tuple(licence_col.multiselect("Licence", licenses, key="market_licence")),
    freshness=fresh_col.selectbox("Updated", list(market.FRESHNESS), key="market_fresh"),
    min_quality=float(quality_col.slider("Min. quality", 0, 100, 0, step=5, key="market_quality")),
    sort=sort_col.selectbox("Sort by", list(market.SORTS), key="market_sort"),
)
found = market.search(datasets, filters)
st.caption(f"{len(found):,} of {len(datasets):,} datasets")
if not found:
    st.info("No dataset matches; loosen the filters or search for something else.")
    st.stop()

pages = market.page_count(len(found))
number = 1
if pages > 1:
    number = st.pagination(pages, key="market_page")
shown = market.page(found, number)
for start in range(0, len(shown), 3):
    for column, dataset in zip(st.columns(3), shown[start : start + 3], strict=False):
        with column:
            ui.card(dataset, page="app_pages/dataset.py")
