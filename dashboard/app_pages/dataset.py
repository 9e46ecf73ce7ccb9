"""Dataset: the card, versions, diff, preview, quality report, lineage, downloads and snippets."""

from __future__ import annotations

import functools

import streamlit as st

from catalog import market
from dashboard import account, data, drift, quality, snippets, state, ui

state.init()
st.title("Dataset")
with ui.guard("load the catalog"):
    names = [d.name for d in data.datasets()]
if not names:
    st.info("The catalog is empty, so there is no dataset to show yet.")
    st.stop()

wanted = st.query_params.get("name") or st.session_state.dataset
index = names.index(wanted) if wanted in names else 0
if wanted and wanted not in names:
    st.warning(f"There is no dataset '{wanted}'; showing {names[0]} instead.")
name = st.selectbox("Dataset", names, index=index)
st.session_state.dataset = name
st.query_params["name"] = name

with ui.guard(f"load {name}"):
    dataset = data.dataset(name)
    versions = data.versions(name)
listing = dataset.listing
refs = [v.ref for v in versions]

st.header(ui.plain(listing.title or name))
st.markdown(ui.plain(listing.description or "No description."))
if listing.tags:
    st.markdown(" ".join(f":gray-badge[{ui.plain(t)}]" for t in listing.tags))
facts = st.columns(5)
latest = dataset.latest
facts[0].metric("Rows", f"{latest.rows:,}" if latest else "—")
facts[1].metric("Versions", dataset.version_count)
facts[2].metric("Columns", len(latest.columns) if latest else "—")
score = latest.quality_score if latest else None
facts[3].metric("Quality", f"{score:.0f}/100" if score is not None else "—")
facts[4].metric(
    "Updated",
    f"{latest.created_at:%Y-%m-%d}" if latest else "—",
    help=market.ago(latest.created_at) if latest else None,
)
st.caption(
    " · ".join(
        ui.plain(x)
        for x in (
            f"licence {listing.license or 'not stated'}",
            f"publisher {listing.publisher or 'not stated'}",
            f"source {listing.source_url or 'not stated'}",
            f"updates {listing.cadence or 'not stated'}",
            f"key {', '.join(dataset.key) or 'whole row'}",
        )
    )
)
account.answer_requests(name)
if not data.may_read(name):
    account.request_access(dataset)
    st.stop()
if not versions:
    st.info("This dataset has no versions yet.")
    st.stop()

tab_versions, tab_preview, tab_diff, tab_quality, tab_lineage, tab_use, tab_deliveries = st.tabs(
    ["Versions", "Preview", "Diff", "Quality", "Lineage", "Download & use", "Deliveries"]
)

with tab_versions:
    st.dataframe(
        [
            {
                "version": v.number,
                "created": v.created_at,
                "rows": v.rows,
                "columns": len(v.columns),
                "producer": v.producer,
                "message": v.message,
                "quality": v.quality_score,
                "parents": ", ".join(v.parents),
            }
            for v in reversed(versions)
        ],
        hide_index=True,
        width="stretch",
    )

with tab_preview:
    ref = st.selectbox("Version", list(reversed(refs)), key="preview_ref")
    with ui.guard(f"read {ref}"):
        table = data.read(ref, limit=200)
    total = {v.ref: v.rows for v in versions}[ref]
    st.caption(f"First {table.num_rows:,} of {total:,} rows of {ref}")
    st.dataframe(table.to_pandas(), hide_index=True, width="stretch")

with tab_diff:
    if len(refs) < 2:
        st.info("A diff needs two versions; this dataset has one.")
    else:
        left, right = st.columns(2)
        before = left.selectbox("Before", refs, index=len(refs) - 2, key="diff_before")
        after = right.selectbox("After", refs, index=len(refs) - 1, key="diff_after")
        with ui.guard(f"compare {before} with {after}"):
            diff = data.diff(before, after)
        counts = st.columns(3)
        counts[0].metric("Rows added", f"{diff.added.num_rows:,}")
        counts[1].metric("Rows removed", f"{diff.removed.num_rows:,}")
        counts[2].metric("Values changed", f"{diff.changed.num_rows:,}")
        st.caption(f"Rows matched by {', '.join(diff.key)}.")
        for label, part in (
            ("Added", diff.added),
            ("Removed", diff.removed),
            ("Changed", diff.changed),
        ):
            if part.num_rows:
                st.subheader(label)
                st.dataframe(part.slice(0, 500).to_pandas(), hide_index=True, width="stretch")
        st.subheader("Drift")
        with ui.guard(f"measure the drift from {before} to {after}"):
            drift.show(data.drift(before, after))

with tab_quality:
    scored = [v for v in versions if v.quality_score is not None] or versions
    ref = st.selectbox("Version", [v.ref for v in reversed(scored)], key="quality_ref")
    with ui.guard(f"load the quality report of {ref}"):
        quality.show(data.report(ref), next(v for v in versions if v.ref == ref))

with tab_lineage:
    ref = st.selectbox("Version", list(reversed(refs)), key="lineage_ref")
    with ui.guard("trace the lineage"):
        graph = snippets.lineage_dot(ref, data.all_versions(), data.model_inputs())
    st.graphviz_chart(graph)
    st.caption(
        "From the runs that produced it, through every version made from it, to the models trained on them."
    )

with tab_use:
    ref = st.selectbox("Version", list(reversed(refs)), key="download_ref")
    file_stem = ref.replace(".", "_").replace("@", "_v")
    buttons = st.columns(3)
    for column, (fmt, mime) in zip(
        buttons,
        (
            ("parquet", "application/vnd.apache.parquet"),
            ("csv", "text/csv"),
            ("jsonl", "application/jsonl"),
        ),
        strict=True,
    ):
        column.download_button(
            f"Download {fmt}",
            data=functools.partial(data.export_bytes, ref, fmt),
            file_name=f"{file_stem}.{fmt}",
            mime=mime,
            icon=":material/download:",
            on_click="ignore",
        )
    st.page_link(
        "app_pages/train.py",
        label="Train a model on this dataset",
        icon=":material/model_training:",
        query_params={"dataset": name},
    )
    st.markdown("**Python**")
    st.code(snippets.python_snippet(ref), language="python")
    st.markdown("**SQL** (on the SQL page or with `harvest sql`)")
    st.code(snippets.sql_snippet(ref), language="sql")

with tab_deliveries:
    st.markdown("**Subscribe**: each new version of this dataset, pushed to you.")
    with st.form("subscribe"):
        target = st.text_input(
            "Deliver to", placeholder="https://example.com/hook (or a folder, s3://bucket/prefix)"
        )
        fmt_col, mode_col = st.columns(2)
        fmt = fmt_col.selectbox("Format", ["parquet", "csv", "jsonl"])
        mode = mode_col.selectbox("Mode", ["full", "delta"], help="delta: rows added, changed "
                                  "and removed since the last delivery, with an _op column")  # fmt: skip
        if st.form_submit_button("Subscribe", icon=":material/notifications:"):
            with ui.guard("subscribe"):
                made = data.subscribe(name, target, fmt, mode)
                st.success(f"Subscribed {made.name}: from version {made.first_version} on.")
                if made.signing_key:
                    st.code(made.signing_key, language=None)
                    st.caption("Events are signed with this key; see docs/delivery.md.")
    with ui.guard("load the deliveries"):
        subscribed = data.subscriptions_of(name)
        delivered = data.deliveries_of(name)
    if subscribed:
        st.dataframe(
            [{"subscription": s.name, "target": s.target, "format": s.format, "mode": s.mode,
              "status": s.status + (f" ({s.reason})" if s.reason else "")} for s in subscribed],
            hide_index=True,
        )  # fmt: skip
    if delivered:
        st.dataframe(
            [{"version": d.ref, "subscription": d.subscription, "status": d.status,
              "attempts": d.attempts, "rows": d.rows, "bytes": d.bytes,
              "when": d.updated_at, "error": d.last_error} for d in delivered],
            hide_index=True,
        )  # fmt: skip
    else:
        st.caption("No deliveries yet: `harvest deliver` or the Dagster sensor makes them.")
