"""terrmap: Streamlit entry point (navigation, shared sidebar, session setup)."""

import streamlit as st

from pages._state import init_session, mark_shell_run, sidebar

st.set_page_config(page_title="terrmap", layout="wide")
init_session()
mark_shell_run()

navigation = st.navigation(
    {
        "Territories": [
            st.Page("pages/map_editor.py", title="Map editor", default=True),
            st.Page("pages/territories.py", title="Territories"),
            st.Page("pages/balance.py", title="Balance"),
            st.Page("pages/auto_balance.py", title="Auto-balance"),
        ],
        "Team": [
            st.Page("pages/reps.py", title="Reps"),
            st.Page("pages/goals.py", title="Goals"),
            st.Page("pages/cadence.py", title="Visit cadence"),
            st.Page("pages/rep_view.py", title="Rep view"),
        ],
        "Data": [
            st.Page("pages/scenarios.py", title="Scenarios"),
            st.Page("pages/compare.py", title="Compare"),
            st.Page("pages/import_data.py", title="Import"),
            st.Page("pages/export.py", title="Export"),
        ],
    }
)
sidebar()
navigation.run()
