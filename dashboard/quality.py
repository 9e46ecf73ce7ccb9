"""The Quality tab: a version's quality score, its report's rule results, and column-profile charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from catalog import Version


def profile_frame(version: Version) -> pd.DataFrame:
    """One row per column: type, missing share, distinct values, range (from the version's statistics)."""
    rows = max(version.rows, 1)
    return pd.DataFrame(
        [
            {
                "column": s.name,
                "type": s.type.lower(),
                "missing %": round(100 * s.nulls / rows, 1),
                "distinct": s.distinct,
                "min": s.min,
                "max": s.max,
                "mean": s.mean,
            }
            for s in version.stats
        ]
    )


def rule_frame(report: object) -> pd.DataFrame | None:
    """The report's rule or check results as a table, when it has any."""
    if not isinstance(report, Mapping):
        return None
    for key in ("rules", "checks", "results"):
        rules = report.get(key)
        if isinstance(rules, Sequence) and rules and all(isinstance(r, Mapping) for r in rules):
            return pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in rules])
    return None


def _cell(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def show(report: object, version: Version) -> None:
    """Render the Quality tab for ``version`` (``report`` is what the cleaning step stored, or None)."""
    score = version.quality_score
    if score is not None:
        st.metric("Quality score", f"{score:.0f}/100")
        st.progress(min(max(score / 100, 0.0), 1.0))
    else:
        st.info(
            "This version has no quality score: scores come with clean versions "
            "(`harvest clean`). Its column profile is below."
        )
    rules = rule_frame(report)
    if rules is not None:
        st.subheader("Rules")
        st.dataframe(rules, hide_index=True, width="stretch")
    profile = profile_frame(version)
    if not profile.empty:
        st.subheader("Column profile")
        left, right = st.columns(2)
        left.caption("Missing values (% of rows)")
        left.bar_chart(profile, x="column", y="missing %", horizontal=True, height=260)
        right.caption("Distinct values")
        right.bar_chart(profile, x="column", y="distinct", horizontal=True, height=260)
        st.dataframe(profile, hide_index=True, width="stretch")
    if report is not None:
        with st.expander("Full report (JSON)"):
            st.json(report)
