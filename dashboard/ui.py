"""Widgets the pages share: one-sentence errors, plain text from scraped data, the listing card."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import streamlit as st

from catalog import Dataset, market
from core.errors import HarvestError

log = logging.getLogger("harvest.dashboard")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """``text`` escaped so Markdown shows it as typed: no links, images, HTML or maths from data."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


@contextlib.contextmanager
def guard(what: str = "") -> Iterator[None]:
    """Show a failure as one sentence with ``st.error`` and stop the page, never a traceback."""
    try:
        yield
    except HarvestError as error:
        st.error(str(error))
        st.stop()
    except Exception as error:  # a bug, not bad input: one sentence on the page, details in the log
        log.exception("dashboard failure")
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        st.error(f"Could not {what or 'show this'}: {first}")
        st.stop()


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def card(d: Dataset, page: str | None = None) -> None:
    """One marketplace listing card."""
    listing, latest = d.listing, d.latest
    with st.container(border=True):
        st.markdown(f"**{plain(listing.title or d.name)}**")
        st.caption(f"`{d.name}` · {plain(listing.license or 'no licence')}")
        st.markdown(plain(shorten(listing.description or "No description.", 160)))
        if listing.tags:
            st.markdown(" ".join(f":gray-badge[{plain(t)}]" for t in listing.tags[:6]))
        score = latest.quality_score if latest else None
        facts = [
            f"{latest.rows:,} rows" if latest else "no versions",
            f"{d.version_count} version{'s' if d.version_count != 1 else ''}",
            f"updated {market.ago(latest.created_at if latest else None)}",
            f"quality {score:.0f}/100" if score is not None else "quality —",
        ]
        st.caption(" · ".join(facts))
        by = [plain(x) for x in (listing.publisher, listing.source_url) if x]
        if by:
            st.caption("by " + " · ".join(by))
        rows = market.preview(d, columns=4)
        if rows:
            st.caption("  \n".join(f"{plain(c)} ({plain(t)}): {plain(s)}" for c, t, s in rows))
        if page is not None:
            st.page_link(
                page,
                label="Open dataset",
                icon=":material/open_in_new:",
                query_params={"name": d.name},
            )
