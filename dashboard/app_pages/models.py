"""Models: a leaderboard per model, versions side by side, plots, the card, promote and roll back."""

from __future__ import annotations

import streamlit as st

from dashboard import actions, data, drift, state, ui
from training.card import model_lineage
from training.metrics import METRICS

state.init()
st.title("Models")
with ui.guard("load the model registry"):
    everything = data.model_versions()
if not everything:
    st.info("No models yet: train one on the Train page (or with `harvest train`).")
    st.stop()

models = sorted({v.model for v in everything})
wanted = st.query_params.get("model")
model = st.selectbox("Model", models, index=models.index(wanted) if wanted in models else 0)
st.query_params["model"] = model
versions = data.model_versions(model)
champion = next((v for v in versions if "champion" in v.aliases), None)
latest = versions[-1]

top = st.columns(4)
top[0].metric("Versions", len(versions))
top[1].metric("Champion", f"v{champion.version}" if champion else "none")
top[2].metric(f"Champion {latest.metric}", f"{champion.score:.4f}" if champion else "—")
top[3].metric("Task", latest.task.replace("_", " "))

st.subheader("Leaderboard")
better_first = -1 if METRICS.get(latest.metric, METRICS["accuracy"]).greater_is_better else 1
st.dataframe(
    [
        {
            "version": v.version,
            "aliases": ", ".join(v.aliases),
            "family": v.family,
            v.metric: round(v.score, 4),
            "baseline": round(v.baseline, 4),
            "gates passed": v.gates_passed,
            "trained on": v.dataset,
            "created": v.created_at,
        }
        for v in sorted(versions, key=lambda v: better_first * v.score)
    ],
    hide_index=True,
    width="stretch",
)

refs = [v.ref for v in reversed(versions)]
compare_tab, plots_tab, card_tab, champion_tab, drift_tab = st.tabs(
    ["Compare", "Plots", "Card", "Champion", "Drift"]
)

with compare_tab:
    chosen = st.multiselect("Versions", refs, default=refs[:2], key="compare")
    if chosen:
        with ui.guard("read the model cards"):
            cards = {ref: data.card(ref) for ref in chosen}
        rows: dict[str, dict[str, object]] = {}
        for ref, card in cards.items():
            facts: dict[str, object] = {
                "family": card["family"],
                "trained on": card["data"]["ref"],
                "data hash": (card["data"]["content_hash"] or "")[:12],
                "rows": card["data"]["rows"],
                "trials": card["search"]["trials"],
                "fine-tuned from": (card.get("parent") or {}).get("ref", ""),
                "promoted": card.get("promoted") or "",
                "protocol": card.get("evaluation", {}).get("protocol", "test_split"),
            }
            intervals = card["metrics"].get("intervals", {})
            for k, v in card["metrics"]["test"].items():
                facts[f"test {k}"] = round(v, 4)
                if intervals.get(k) and intervals[k].get("low") is not None:
                    low, high = intervals[k]["low"], intervals[k]["high"]
                    facts[f"test {k} 95% interval"] = f"{low:.4f} to {high:.4f}"
            facts.update(
                {f"baseline {k}": round(v, 4) for k, v in card["baseline"]["test"].items()}
            )
            facts.update({f"param {k}": str(v) for k, v in card["params"].items()})
            rows[ref] = facts
        names = list(dict.fromkeys(k for facts in rows.values() for k in facts))
        st.dataframe(
            {"": names, **{ref: [str(rows[ref].get(n, "")) for n in names] for ref in rows}},
            hide_index=True,
            width="stretch",
        )

with plots_tab:
    ref = st.selectbox("Version", refs, key="plots_ref")
    version = next(v for v in versions if v.ref == ref)
    with ui.guard(f"read the card of {ref}"):
        plots = data.card(ref).get("plots", [])
    if not plots:
        st.info("This version has no plots.")
    for row in range(0, len(plots), 2):
        for column, plot in zip(st.columns(2), plots[row : row + 2], strict=False):
            title = plot.rsplit("/", 1)[-1].removesuffix(".png").replace("_", " ")
            column.image(str(version.path / plot), caption=title)

with card_tab:
    ref = st.selectbox("Version", refs, key="card_ref")
    version = next(v for v in versions if v.ref == ref)
    with ui.guard(f"read the card of {ref}"):
        card = data.card(ref)
    st.markdown(f"**Intended use:** {ui.plain(card.get('intended_use', ''))}")
    for limit in card.get("limits", []):
        st.markdown(f"- {ui.plain(limit)}")
    policy = card.get("reinforcement")
    if policy:  # reinforcement learning: the environment, the reward curve, the gates
        st.caption(
            f"Environment {ui.plain(policy['environment'])} · trained on {card['data']['ref']} · "
            f"{policy['timesteps']:,} timesteps · judged on {len(policy['evaluation_seeds'])} "
            "evaluation seeds"
        )
        st.image(str(version.path / card["plots"][0]), caption="reward curve")
    else:
        st.caption(
            f"Features: {ui.plain(', '.join(c['name'] for c in card['features']['columns']))} · "
            f"trained on {card['data']['ref']} ({card['data']['rows']:,} rows) · "
            f"scrape run {card['data'].get('scrape_run') or 'none'}"
        )
    st.dataframe(card["gates"], hide_index=True, width="stretch")
    ancestors = model_lineage(card)
    if ancestors:
        st.markdown("**Model lineage** (fine-tuned from, parent first)")
        st.dataframe(
            [
                {
                    "model": a["ref"],
                    "family": a["family"],
                    "trained on": a["data"]["ref"],
                    "data hash": str(a["data"]["content_hash"])[:12],
                    "crawl": a["data"].get("scrape_run") or "",
                }
                for a in ancestors
            ],
            hide_index=True,
            width="stretch",
        )
    markdown = (version.path / "MODEL_CARD.md").read_text(encoding="utf-8")
    st.download_button(
        "Download MODEL_CARD.md",
        markdown,
        file_name=f"{ref.replace('@', '-v')}.md",
        on_click="ignore",
    )
    with st.expander("MODEL_CARD.md"):
        st.code(markdown, language="markdown")

with champion_tab:
    st.caption(
        "A version becomes champion only if it beats the baseline and the current champion "
        "on the same test split."
    )
    ref = st.selectbox("Version", refs, key="promote_ref")
    trained_on = next(v.dataset for v in versions if v.ref == ref).split("@")[0]
    if not data.may_maintain(trained_on):
        st.info(f"Only the maintainers of {trained_on} can promote or roll back its models.")
        st.stop()
    if st.button("Promote to champion", type="primary", key="promote"):
        with ui.guard(f"promote {ref}"), st.spinner("Scoring against the champion…"):
            verdict = actions.promote_version(data.catalog(), ref)
        (st.success if verdict.promoted else st.error)(verdict.message)
        if verdict.gates:
            st.dataframe([g.to_json() for g in verdict.gates], hide_index=True, width="stretch")
        st.cache_data.clear()
    with ui.guard("read the champion history"):
        previous = data.registry().previous_champion(model)
    if previous is not None and st.button(f"Roll back to v{previous}", key="rollback"):
        with ui.guard(f"roll {model} back"):
            back = data.registry().roll_back(model, by="dashboard")
        st.success(f"{model}@{back} is the champion again.")
        st.cache_data.clear()

with drift_tab:
    ref = st.selectbox("Version", refs, key="drift_ref")
    with ui.guard(f"measure the drift of {ref}'s data"):
        card = data.card(ref)
        trained = card["data"]
        newest = data.versions(trained["dataset"])[-1].ref
        features = [c["name"] for c in card["features"]["columns"]]
        st.markdown(f"The newest **{newest}** against **{trained['ref']}**, {ref}'s training data:")
        drift.show(data.drift(trained["ref"], newest), features)
