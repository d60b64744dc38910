"""Session state and the shared sidebar, written once for every page.

One History (immutable plans with undo/redo) per browser session lives in
``st.session_state``; pages read the current plan and replace the history,
never mutate it.
"""

from __future__ import annotations

import streamlit as st

from terrmap.metrics import MEASURES
from terrmap.plan import History, Plan
from terrmap.workspace import Workspace, demo_workspace

WORKSPACE = "workspace"
HISTORY = "history"
TOLERANCE = "tolerance_pct"
MEASURE = "balance_measure"


@st.cache_resource(show_spinner="Loading the demo data…")
def _demo() -> Workspace:
    # Immutable and the same for everybody: safe to share between sessions.
    return demo_workspace()


def init_session() -> None:
    """Load the demo data on first visit and set defaults."""
    if WORKSPACE not in st.session_state:
        set_workspace(_demo())
    st.session_state.setdefault(TOLERANCE, 10)
    st.session_state.setdefault(MEASURE, "revenue")


def set_workspace(workspace: Workspace) -> None:
    """Make a workspace the working data set, starting a fresh history."""
    st.session_state[WORKSPACE] = workspace
    st.session_state[HISTORY] = History.start(workspace.initial_plan)


def workspace() -> Workspace:
    """The working data set."""
    return st.session_state[WORKSPACE]


def history() -> History:
    """Undo/redo history of plans."""
    return st.session_state[HISTORY]


def plan() -> Plan:
    """The plan in force."""
    return history().current


def push(new_plan: Plan) -> None:
    """Make ``new_plan`` current (undoable)."""
    st.session_state[HISTORY] = history().push(new_plan)


def tolerance() -> float:
    """Balance tolerance band in percent."""
    return float(st.session_state[TOLERANCE])


def measure() -> str:
    """Measure balance is judged on."""
    return st.session_state[MEASURE]


def sidebar() -> None:
    """Data set, undo/redo and the balance settings, on every page."""
    with st.sidebar:
        ws = workspace()
        st.caption(f"Data: **{ws.name}** · {ws.context.n_accounts:,} accounts · {ws.context.n_territories} territories")
        h = history()
        left, right = st.columns(2)
        if left.button("↶ Undo", disabled=not h.can_undo, use_container_width=True, key="undo"):
            st.session_state[HISTORY] = h.undo()
            st.rerun()
        if right.button("↷ Redo", disabled=not h.can_redo, use_container_width=True, key="redo"):
            st.session_state[HISTORY] = h.redo()
            st.rerun()
        st.caption(f"{len(plan().moves)} move(s) in this plan")
        st.selectbox("Balance measure", list(MEASURES), format_func=MEASURES.get, key=MEASURE)
        st.slider("Balanced within ± %", min_value=1, max_value=50, key=TOLERANCE)
