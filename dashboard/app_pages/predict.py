"""Predict: a form built from a model's input schema for one record, or a file for a batch."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from core.errors import InvalidInputError
from dashboard import data, state, ui
from training.predict import READERS, predict_file, predict_record

state.init()
st.title("Predict")
with ui.guard("load the model registry"):
    versions = data.model_versions()
if not versions:
    st.info("No models yet: train one on the Train page, then predict with it here.")
    st.stop()

choices = []
for model in sorted({v.model for v in versions}):
    choices.append(model)  # its champion, else its latest
    choices += [v.ref for v in reversed(versions) if v.model == model]
ref = st.selectbox(
    "Model",
    choices,
    format_func=lambda r: f"{r} (champion, else latest)" if "@" not in r else r,
    key="predict_model",
)
with ui.guard(f"read the card of {ref}"):
    version = data.registry().get(ref)
    card = data.card(version.ref)
columns = card["features"]["columns"]
st.caption(
    f"{version.ref}: {card['task'].replace('_', ' ')} of `{card['target']}` by {card['family']} "
    f"({card['metric']} {version.score:.4f} on the test split)"
)

single, batch = st.tabs(["One record", "A file"])
with single, st.form("record"):
    record: dict[str, object] = {}
    cells = st.columns(2)
    for index, column in enumerate(columns):
        name, kind = column["name"], column["kind"]
        cell = cells[index % 2]
        if kind == "number":
            record[name] = cell.number_input(name, value=None, format="%g", key=f"in_{name}")
        elif kind == "boolean":
            record[name] = cell.checkbox(name, key=f"in_{name}")
        elif kind == "text":
            record[name] = cell.text_area(name, key=f"in_{name}") or None
        else:
            record[name] = cell.text_input(name, help=f"a {kind}", key=f"in_{name}") or None
    if st.form_submit_button("Predict", type="primary"):
        given = {k: v for k, v in record.items() if v is not None}
        with ui.guard("predict"):
            result = predict_record(data.catalog(), version.ref, given)
        headline = result.get("prediction", result.get("generated"))
        st.metric(f"Predicted {card['target']}", ui.plain(headline))
        if result.get("missing_fields"):
            st.caption(f"Left empty (treated as missing): {', '.join(result['missing_fields'])}")
        st.dataframe([{k: v for k, v in result.items() if k != "missing_fields"}], hide_index=True)

with batch:
    st.caption(
        f"Upload a {', '.join(sorted(set(READERS)))} file with the columns "
        f"{', '.join(c['name'] for c in columns)}."
    )
    upload = st.file_uploader("Rows to predict", type=sorted({s.lstrip(".") for s in READERS}))
    if upload is not None:
        with ui.guard(f"predict {upload.name}"):
            content = upload.getvalue()
            if not content.strip():
                raise InvalidInputError(
                    f"{upload.name} is empty: upload a file with a header row and rows."
                )
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / Path(upload.name).name
                path.write_bytes(content)
                frame = predict_file(data.catalog(), version.ref, path)
        st.caption(f"{len(frame):,} predictions from {upload.name}")
        if frame.attrs.get("ignored_columns"):
            st.caption(f"Not used by the model: {', '.join(frame.attrs['ignored_columns'])}")
        st.dataframe(frame, hide_index=True, width="stretch")
        st.download_button(
            "Download predictions (CSV)",
            frame.to_csv(index=False).encode(),
            file_name=f"predictions-{version.ref.replace('@', '-v')}.csv",
            mime="text/csv",
            on_click="ignore",
        )
