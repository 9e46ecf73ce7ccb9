"""Sources: each source's last crawls (pages, items, errors), its next scheduled run, and scrape-now."""

from __future__ import annotations

import streamlit as st

import jobs
from catalog import market
from core.workspace import Workspace
from dashboard import data, state, ui

state.init()
st.title("Sources")
with ui.guard("read the source specs"):
    sources = data.sources()
    runs = data.crawls(limit=200)
if not sources:
    st.info(f"No source specs yet: put one in {Workspace.at(data.home()).sources}.")
    st.stop()

launched: dict[str, str] = st.session_state.scrapes
for source in sources:
    mine = [r for r in runs if r.source == source.name]
    with st.container(border=True):
        head, button = st.columns([4, 1])
        head.subheader(ui.plain(source.title))
        head.caption(
            f"`{source.name}` · {source.origin} spec · dataset `{source.dataset}` · "
            + (
                f"schedule `{source.schedule}`, next run {source.next_run:%Y-%m-%d %H:%M} UTC"
                if source.next_run
                else "no schedule"
            )
        )
        if source.problem:
            st.error(source.problem)
            continue
        if button.button(
            "Scrape now",
            key=f"scrape_{source.name}",
            icon=":material/play_arrow:",
            disabled=not data.may_maintain(source.dataset),
            help=None if data.may_maintain(source.dataset) else "Only its maintainers can.",
        ):
            with ui.guard(f"start a crawl of {source.name}"):
                launched[source.name] = jobs.scrape(Workspace.at(data.home()), source.name).id
        started = data.scrape_job(source.name, launched.get(source.name))
        if started is not None:
            status = started.status()
            if not status.finished:
                counts = started.crawl_progress()
                so_far = f": {counts.pages} pages, {counts.items} records so far" if counts else ""
                st.info(
                    f"Crawling in the background (process {started.pid}){so_far}; "
                    "refresh to see it finish."
                )
            elif status.state == "succeeded":
                st.success("The crawl finished; its run is listed below.")
            else:
                st.error(f"The crawl failed: {ui.plain(started.logs(1)) or status.message}")
        if not mine:
            st.caption("Never crawled.")
            continue
        last = mine[0]
        cells = st.columns(5)
        cells[0].metric("Last crawl", market.ago(last.started_at))
        cells[1].metric("Status", last.status)
        cells[2].metric("Pages", f"{last.pages:,}")
        cells[3].metric("Items", f"{last.items:,}")
        cells[4].metric("Errors", f"{last.errors:,}")
        st.dataframe(
            [
                {
                    "started": r.started_at,
                    "status": r.status,
                    "seconds": round(r.duration_s, 1),
                    "pages": r.pages,
                    "items": r.items,
                    "errors": r.errors,
                    "version": f"{r.dataset}@{r.version}" if r.version else "",
                    "message": r.message,
                }
                for r in mine[:10]
            ],
            hide_index=True,
            width="stretch",
        )
        samples = [e for r in mine[:1] for e in r.error_samples]
        if samples:
            with st.expander(f"Errors of the last crawl ({len(samples)} samples)"):
                st.dataframe(
                    [{"url": e.url, "status": e.status, "reason": e.reason} for e in samples],
                    hide_index=True,
                    width="stretch",
                )
