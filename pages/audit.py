"""Audit: the append-only record of who did what and when; filter, read, export.

The log is written by the store (saves, proposals, reviews, publications,
restores) and by the app (sign-ins, exports); this page only reads it. There
is no way to edit it from the app, and the database refuses it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from pages import _state
from terrmap.core.formatting import MISSING, timestamp
from terrmap.io.audit_export import audit_csv

#: Action in the log -> what the page says.
ACTIONS = {
    "sign_in": "Signed in",
    "sign_in_failed": "Wrong password",
    "sign_out": "Signed out",
    "save": "Saved",
    "duplicate": "Copied",
    "rename": "Renamed",
    "delete": "Deleted",
    "propose": "Proposed",
    "comment": "Commented",
    "approve": "Approved",
    "reject": "Rejected",
    "publish": "Published",
    "restore_publication": "Restored a publication",
    "export": "Exported",
}


def action_label(action: str) -> str:
    """What an action of the log says to people (``sign_in`` -> ``Signed in``)."""
    return ACTIONS.get(action, str(action).replace("_", " ").capitalize())


def readable_log(rows: pd.DataFrame) -> pd.DataFrame:
    """The log as people read it: human times, actions in words, the scenario by name."""

    def subject(target: object, detail: dict) -> str:
        name = detail.get("name")
        if name:
            version = detail.get("version")
            return f"“{name}”" + (f" version {version}" if version is not None else "")
        return MISSING if target is None or pd.isna(target) else str(target)

    def details(detail: dict) -> str:
        shown = {k: v for k, v in detail.items() if k not in ("name", "version") and v is not None}
        return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(shown.items()))

    return pd.DataFrame(
        {
            "When": [timestamp(at) for at in rows["at"]],
            "Who": rows["actor"].astype(str).to_numpy(),
            "What": [action_label(a) for a in rows["action"]],
            "Of": [
                subject(t, d or {}) for t, d in zip(rows["target"], rows["detail"], strict=True)
            ],
            "Details": [details(d or {}) for d in rows["detail"]],
        }
    )


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
    format_func=lambda v: "Everything" if v is None else action_label(v),
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
st.caption(f"{len(rows):,} of {len(everything):,} entries, latest first (times in UTC).")
st.dataframe(readable_log(rows.iloc[::-1]), hide_index=True, width="stretch")
st.download_button(
    "Download CSV",
    data=audit_csv(rows),
    file_name="terrmap-audit.csv",
    mime="text/csv",
    key="audit_download",
    on_click="ignore",
)
