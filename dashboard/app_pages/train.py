"""Train: pick data, a target (its task shown), families (or a model to fine-tune) and a budget; launch; watch it live."""

from __future__ import annotations

import streamlit as st

from core.errors import NotFoundError
from dashboard import actions, data, state, ui
from training.families import FAMILIES
from training.spec import default_model_name
from training.task import Task
from training.tasks import suggested_target

state.init()
st.title("Train")
with ui.guard("load the catalog"):
    datasets = [d for d in data.readable_datasets() if d.latest is not None]
if not datasets:
    st.info("The catalog is empty: add a dataset (import, scrape or `harvest demo`) to train on.")
    st.stop()

left, right = st.columns(2)
names = [d.name for d in datasets]
asked = st.query_params.get("dataset") or st.session_state.dataset
wanted = asked if asked in names else names[0]
name = left.selectbox("Dataset", names, index=names.index(wanted), key="train_dataset")
with ui.guard(f"load {name}"):
    versions = data.versions(name)
ref = right.selectbox("Version", [v.ref for v in reversed(versions)], key="train_version")
version = next(v for v in versions if v.ref == ref)
columns = [c for c, _ in version.columns if not c.startswith("_")]
asked_target = st.query_params.get("target")
if asked_target not in columns:  # a column that can be trained on, not merely the last one
    asked_target = suggested_target(version.stats, version.rows) or columns[-1]
target = left.selectbox("Target", columns, index=columns.index(asked_target), key="train_target")
with st.spinner("Reading the data the way training will…"):
    check = data.check_target(ref, target)
if check.problem:
    right.error(check.problem)
else:
    right.markdown(
        f"**Task:** {check.task.replace('_', ' ')} · judged by **{check.metric}**  \n"
        f"{check.features} feature columns · split {check.split}"
    )

parent = ""  # a registered version to fine-tune, when chosen
with ui.guard("list the registered models"):
    parents = [v.ref for v in reversed(data.model_versions()) if v.target == target]
if check.task and parents:
    start = st.radio(
        "Start from",
        ["scratch", "fine-tune"],
        format_func=lambda s: (
            "nothing (train from scratch)" if s == "scratch" else "a model (fine-tune)"
        ),
        horizontal=True,
        key="train_start",
    )
    if start == "fine-tune":
        parent = st.selectbox("Fine-tune from", parents, key="train_parent")
        st.caption(
            f"Continues {parent}'s weights on {ref} at a smaller learning rate, and trains the "
            "same model from scratch in the same budget to compare."
        )

families = []
if check.task and not parent:
    task = Task(check.task)
    usable = [f for f in FAMILIES if task in f.tasks and f.name != "dummy"]
    defaults = [f.name for f in usable if task in f.default_for]
    families = st.multiselect(
        "Model families",
        [f.name for f in usable],
        default=defaults,
        format_func=lambda n: f"{n} ({next(f.description for f in usable if f.name == n)})",
        key="train_families",
    )
budget = st.slider("Time budget (seconds)", 5, 600, 30, step=5, key="train_budget")
suggested = parent.partition("@")[0] if parent else default_model_name(name, target)
model_name = st.text_input("Model name", value=suggested if target else "", key="train_name")

may_train = data.principal().can("train")
if st.button(
    "Launch training",
    type="primary",
    disabled=bool(check.problem) or not may_train,
    help=None if may_train else "Your token has no 'train' scope.",
    icon=":material/rocket_launch:",
):
    with ui.guard("launch the training"):
        handle = actions.launch_training(
            data.catalog(),
            dataset=ref,
            target=target,
            families=families,
            time_budget=float(budget),
            name=model_name,
            from_model=parent,
        )
    st.session_state.train_run = handle.id
    st.session_state.train_watch = handle.id
    st.toast(
        f"Training {handle.id} queued as Dagster run {handle.dagster_run_id}."
        if handle.dagster_run_id
        else f"Training {handle.id} started in process {handle.pid}."
    )

st.divider()
with ui.guard("list the training runs"):
    runs = data.runs()
if not runs and not st.session_state.train_run:
    st.caption("No training runs yet.")
    st.stop()
run_ids = [r.run_id for r in runs]
if st.session_state.train_run and st.session_state.train_run not in run_ids:
    run_ids.insert(0, st.session_state.train_run)  # just launched: its process is starting
current = st.session_state.train_run if st.session_state.train_run in run_ids else run_ids[0]
if st.session_state.get("train_watch") not in run_ids:
    st.session_state.train_watch = current
watched = st.selectbox("Watch run", run_ids, key="train_watch")
st.session_state.train_run = watched


def watch(run_id: str, polling: bool) -> None:
    """The run's progress file; re-read every two seconds (as a fragment) while it runs."""
    try:
        run = data.progress(run_id)
    except NotFoundError:
        st.info("Starting the training process…")
        return
    if polling and run.finished:
        st.rerun(scope="app")  # stop polling: the whole page redraws once with the result
    status_col, stage_col, trials_col, best_col = st.columns(4)
    status_col.metric("Status", run.status)
    stage_col.metric("Stage", run.stage)
    trials_col.metric("Trials", len(run.trials))
    best = (run.best or {}).get("score")
    best_col.metric("Best so far", f"{best:.4f}" if isinstance(best, int | float) else "—")
    if run.status == "queued":
        st.info(run.message or "Waiting to start.")
    if run.status == "running":
        st.progress(
            min(1.0, len(run.trials) / max(1, len(run.trials) + 3)), text=run.message or run.stage
        )
    if run.trials:
        st.dataframe(
            [{k: v for k, v in t.items() if not isinstance(v, dict | list)} for t in run.trials],
            hide_index=True,
            width="stretch",
        )
    if run.status in ("failed", "killed"):
        st.error(run.message or "The run stopped without a model.")
    elif run.status == "done" and run.result:
        ref = str(run.result.get("ref", ""))
        promoted = run.result.get("promoted")
        st.success(
            f"Registered {ref}: {run.result.get('metric')} {float(run.result.get('score') or 0):.4f} "
            f"on the test split; " + (f"promoted to {promoted}." if promoted else "not promoted.")
        )
        with ui.guard(f"read the card of {ref}"):
            gates = data.card(ref).get("gates", [])
        st.dataframe(gates, hide_index=True, width="stretch")
        st.page_link(
            "app_pages/models.py",
            label="Open the model",
            icon=":material/leaderboard:",
            query_params={"model": run.model},
        )


try:
    running = not data.progress(watched).finished
except NotFoundError:
    running = True  # launched, not started yet
if running:
    st.fragment(run_every=2)(watch)(watched, polling=True)
else:
    watch(watched, polling=False)
