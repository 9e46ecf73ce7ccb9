"""The drift chart: each column's drift score (PSI) between two versions, and its statistics."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from catalog.drift import DEFAULT_THRESHOLD, DriftReport


def drift_frame(report: DriftReport, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per column (of ``columns`` if given): kind, score and each statistic."""
    return pd.DataFrame(
        [
            {"column": c.column, "kind": c.kind, "score": round(c.score, 4)}
            | {name: round(value, 4) for name, value in c.statistics().items()}
            for c in report.columns
            if columns is None or c.column in columns
        ]
    )


def show(
    report: DriftReport, columns: Sequence[str] | None = None, threshold: float = DEFAULT_THRESHOLD
) -> None:
    """The chart of scores against ``threshold``, the sentence that sums it up, the table."""
    frame = drift_frame(report, columns)
    if frame.empty:
        st.info(f"{report.before} and {report.after} have no column in common to compare.")
        return
    st.caption(report.summary(threshold))
    chart = frame.assign(drift=frame["score"] > threshold)
    st.bar_chart(chart, x="column", y="score", color="drift", height=240)
    st.dataframe(frame, hide_index=True, width="stretch")
