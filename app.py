"""terrmap: Streamlit entry point (navigation, shared sidebar, session setup)."""

import streamlit as st

from pages._state import init_session, sidebar

st.set_page_config(page_title="terrmap", page_icon="🗺️", layout="wide")
init_session()

navigation = st.navigation(
    [
        st.Page("pages/map_editor.py", title="Map editor", icon="🗺️", default=True),
        st.Page("pages/territories.py", title="Territories", icon="📊"),
        st.Page("pages/import_data.py", title="Import", icon="📥"),
    ]
)
sidebar()
navigation.run()
