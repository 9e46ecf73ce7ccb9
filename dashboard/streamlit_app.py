"""The Harvest dashboard: routes to one short script per page (``streamlit run`` this file).

``harvest dashboard`` starts it on the workspace in ``HARVEST_HOME``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
if str(HERE.parent) not in sys.path:  # streamlit puts only this folder on the path
    sys.path.insert(0, str(HERE.parent))

from dashboard import account, data, state  # noqa: E402

st.set_page_config(page_title="Harvest", page_icon=":material/agriculture:", layout="wide")
state.init()

PAGES = HERE / "app_pages"  # not pages/: Streamlit would draw a navigation of its own from it
navigation = st.navigation(
    {
        "Data": [
            st.Page(
                PAGES / "marketplace.py",
                title="Marketplace",
                icon=":material/storefront:",
                default=True,
            ),
            st.Page(PAGES / "dataset.py", title="Dataset", icon=":material/table_chart:"),
            st.Page(PAGES / "sql.py", title="SQL", icon=":material/terminal:"),
            st.Page(PAGES / "sources.py", title="Sources", icon=":material/travel_explore:"),
        ],
        "Models": [
            st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
            st.Page(PAGES / "models.py", title="Models", icon=":material/leaderboard:"),
            st.Page(PAGES / "predict.py", title="Predict", icon=":material/batch_prediction:"),
        ],
    }
)
st.sidebar.caption(f"Workspace: `{data.home()}`")
account.sidebar()
navigation.run()
