"""Session state the pages share, initialised once at the top of every run."""

from __future__ import annotations

import streamlit as st

from dashboard import data

DEFAULTS: dict[str, object] = {
    "dataset": None,  # the dataset the Dataset page shows (str)
    "sql": "",  # the SQL editor's text
    "sql_result": None,  # the last query's (sql, pyarrow Table, seconds)
    "train_run": None,  # the run the Train page is watching (run id)
}


def init() -> None:
    """Set every key the pages read, once per session."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def workspace_home() -> str:
    return data.home()
