"""terrmap: Streamlit entry point (navigation, shared sidebar, session setup)."""

import streamlit as st

from pages._state import init_session, mark_shell_run, sidebar

st.set_page_config(page_title="terrmap", layout="wide")
init_session()
mark_shell_run()

navigation = st.navigation(
    [
        st.Page("pages/map_editor.py", title="Map editor", default=True),
        st.Page("pages/territories.py", title="Territories"),
        st.Page("pages/import_data.py", title="Import"),
        st.Page("pages/scenarios.py", title="Scenarios"),
        st.Page("pages/compare.py", title="Compare"),
    ]
)
sidebar()
navigation.run()
