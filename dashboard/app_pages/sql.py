"""SQL: a read-only editor over the sandbox, results as a table and a chart, and a download."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.csv as pacsv
import streamlit as st

from catalog.sandbox import QueryError
from dashboard import data, snippets, state, ui

state.init()
st.title("SQL")
st.caption(
    "Every dataset is a view (`raw.products`); a version is `raw.products@2`. "
    "The console is read-only and limited in time and memory."
)
with ui.guard("load the catalog"):
    datasets = data.datasets()
    data.sandbox()  # opened (and its worker started) before the first Run

examples = {label: sql for d in datasets for label, sql in snippets.example_queries(d)}


def _use_example() -> None:
    choice = st.session_state.sql_example
    if choice in examples:
        st.session_state.sql = examples[choice]


if examples:
    st.selectbox(
        "Example queries",
        list(examples),
        index=None,
        placeholder="Pick an example to load it into the editor…",
        key="sql_example",
        on_change=_use_example,
    )
else:
    st.info("The catalog is empty; import or scrape a dataset to have something to query.")

with st.form("sql_form", border=False):
    st.text_area("Query", key="sql", height=160, placeholder="SELECT * FROM imports.iris LIMIT 10")
    run = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if run:
    sql = st.session_state.sql
    start = time.perf_counter()
    try:
        table = data.query(sql)
    except QueryError as error:
        st.session_state.sql_result = None
        st.error(str(error))
        st.stop()
    st.session_state.sql_result = (sql, table, time.perf_counter() - start)

result = st.session_state.sql_result
if result is None:
    st.stop()
sql, table, seconds = result
st.caption(f"{table.num_rows:,} rows · {table.num_columns} columns · {seconds * 1000:.0f} ms")
frame = table.to_pandas()
st.dataframe(frame, hide_index=True, width="stretch")

numeric = [
    f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
]
if numeric and table.num_rows:
    with st.expander("Chart", expanded=True):
        columns = st.columns(3)
        x = columns[0].selectbox("X", table.column_names, key="chart_x")
        y = columns[1].multiselect(
            "Y",
            [c for c in numeric if c != x],
            default=[c for c in numeric if c != x][:1],
            key="chart_y",
        )
        kind = columns[2].segmented_control(
            "Kind", ["Bar", "Line", "Scatter"], default="Bar", key="chart_kind"
        )
        if y:
            chart = {"Line": st.line_chart, "Scatter": st.scatter_chart}.get(
                kind or "Bar", st.bar_chart
            )
            chart(frame, x=x, y=y, height=320)

sink = pa.BufferOutputStream()
pacsv.write_csv(table, sink)
st.download_button(
    "Download result (CSV)",
    data=sink.getvalue().to_pybytes(),
    file_name="query.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)
