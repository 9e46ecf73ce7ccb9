"""Signing in, asking for access to a gated dataset, and answering such requests."""

from __future__ import annotations

import streamlit as st

from catalog import Dataset
from core.errors import HarvestError
from dashboard import data, ui


def sidebar() -> None:
    """Who is signed in, with a sign-in form (a token, or a username and password) or a
    sign-out button; nothing to sign in to in a workspace without accounts."""
    if not data.accounts().has_users():
        st.sidebar.caption("Single-user workspace: you are its administrator.")
        return
    who = data.principal()
    if who.user is not None:
        st.sidebar.caption(f"Signed in as **{ui.plain(who.user)}**")
        if st.sidebar.button("Sign out", key="sign_out"):
            st.session_state.credentials = None
            st.rerun()
        return
    with st.sidebar.form("sign_in"):
        st.caption("Sign in to see the datasets shared with you.")
        user = st.text_input("Username", key="sign_in_user")
        password = st.text_input("Password", type="password", key="sign_in_password")
        token = st.text_input("Or an API token", type="password", key="sign_in_token")
        if st.form_submit_button("Sign in"):
            try:
                data.sign_in(user, password, token)
            except HarvestError as error:
                st.error(str(error))
            else:
                st.rerun()


def request_access(dataset: Dataset) -> None:
    """The request-access form of a gated dataset this session may not read yet."""
    who = data.principal()
    st.warning(
        "This dataset is gated: its rows, downloads and SQL need access granted by its maintainers."
    )
    if who.user is None:
        st.info("Sign in (in the sidebar) to ask for access.")
        return
    mine = [r for r in data.accounts().requests(who, dataset.name) if r.user == who.user]
    if mine and mine[-1].status == "pending":
        st.info(f"Your request of {mine[-1].created_at:%Y-%m-%d} is waiting for a maintainer.")
        return
    if mine and mine[-1].status in ("refused", "revoked"):
        st.caption(f"Your last request was {mine[-1].status}; you may ask again.")
    with st.form("request_access"):
        reason = st.text_area("Why do you need it?", key="access_reason")
        license = dataset.listing.license
        accepted = (
            st.checkbox(f"I accept the licence: {ui.plain(license)}", key="access_license")
            if license
            else False
        )
        if st.form_submit_button("Request access", type="primary"):
            with ui.guard("ask for access"):
                made = data.accounts().request(who, dataset.name, reason, accepted)
            if made.status == "granted":
                st.success("Access granted.")
                st.rerun()
            st.success("Asked: a maintainer will answer your request.")


def answer_requests(name: str) -> None:
    """A maintainer's list of the dataset's pending requests, each with Grant and Refuse."""
    rules, who = data.accounts(), data.principal()
    if not rules.has_users() or not rules.may_maintain(who, name):
        return
    pending = rules.requests(who, name, "pending")
    with st.expander(f"Access requests ({len(pending)} pending)", expanded=bool(pending)):
        if not pending:
            st.caption("No request is waiting.")
        for request in pending:
            text, grant, refuse = st.columns([6, 1, 1])
            text.markdown(
                f"**{ui.plain(request.user)}**, {request.created_at:%Y-%m-%d}: "
                f"{ui.plain(request.reason)}"
            )
            for column, label, verdict in ((grant, "Grant", True), (refuse, "Refuse", False)):
                if column.button(label, key=f"{label.lower()}_{request.id}"):
                    with ui.guard(f"{label.lower()} the request"):
                        rules.decide(who, request.id, grant=verdict)
                    st.rerun()
