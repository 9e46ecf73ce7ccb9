"""Session state the pages share, initialised once at the top of every page run."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

DEFAULTS: dict[str, Callable[[], object]] = {
    "dataset": lambda: None,  # the dataset the Dataset page shows (str)
    "sql": str,  # the SQL editor's text
    "sql_result": lambda: None,  # the last query: (sql, pyarrow Table, seconds)
    "scrapes": dict,  # source name -> the job id of a crawl started from this session
    "train_run": lambda: None,  # the training run id the Train page watches
    "credentials": lambda: None,  # ("token", secret) or ("user", name) once signed in
}


def init() -> None:
    """Set every key the pages read, once per session (each with a fresh value)."""
    for key, make in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = make()
