"""Audit: the append-only record of who did what and when; filter, read, export.

The log is written by the store (saves, proposals, reviews, publications,
restores) and by the app (sign-ins, exports); this page only reads it. There
is no way to edit it from the app, and the database refuses it.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from pages import _state
from terrmap.io.audit_export import audit_csv, audit_table

_state.page_setup()
store = _state.store_or_stop()

st.title("Audit")
st.caption(
    "Every sign-in, save, proposal, review, publication, restore and export: who, when, what."
)

everything = store.audit_log()
actors = sorted(everything["actor"].dropna().unique())
actions = sorted(everything["action"].dropna().unique())
a, b, c, d = st.columns(4)
actor = a.selectbox(
    "Who", [None, *actors], format_func=lambda v: "Everyone" if v is None else v, key="audit_actor"
)
action = b.selectbox(
    "What",
    [None, *actions],
    format_func=lambda v: "Everything" if v is None else v,
    key="audit_action",
)
since = c.date_input("From", value=None, key="audit_since")
until = d.date_input("To (inclusive)", value=None, key="audit_until")
rows = store.audit_log(
    actor=actor,
    action=action,
    since=since,
    until=None if until is None else until + dt.timedelta(days=1),
)
st.caption(f"{len(rows):,} of {len(everything):,} entries")
st.dataframe(audit_table(rows), hide_index=True, width="stretch")
st.download_button(
    "Download CSV",
    data=audit_csv(rows),
    file_name="terrmap-audit.csv",
    mime="text/csv",
    key="audit_download",
    on_click="ignore",
)
