"""terrmap: Streamlit entry point (sign-in, navigation by role, shared sidebar, session setup)."""

import streamlit as st

from pages import _auth
from pages._state import init_session, mark_shell_run, sidebar

st.set_page_config(page_title="terrmap", layout="wide")
user = _auth.gate()
init_session()
mark_shell_run()

# Page key (terrmap.playbook.roles.PAGES) -> section, file, title.
PAGES = {
    "map_editor": ("Territories", "pages/map_editor.py", "Map editor"),
    "territories": ("Territories", "pages/territories.py", "Territories"),
    "balance": ("Territories", "pages/balance.py", "Balance"),
    "auto_balance": ("Territories", "pages/auto_balance.py", "Auto-balance"),
    "reps": ("Team", "pages/reps.py", "Reps"),
    "goals": ("Team", "pages/goals.py", "Goals"),
    "cadence": ("Team", "pages/cadence.py", "Visit cadence"),
    "rep_view": ("Team", "pages/rep_view.py", "Rep view"),
    "scenarios": ("Data", "pages/scenarios.py", "Scenarios"),
    "compare": ("Data", "pages/compare.py", "Compare"),
    "import_data": ("Data", "pages/import_data.py", "Import"),
    "export": ("Data", "pages/export.py", "Export"),
    "workflow": ("Plan in force", "pages/workflow.py", "Review"),
    "audit": ("Plan in force", "pages/audit.py", "Audit"),
}
sections: dict[str, list] = {}
allowed = [key for key in _auth.allowed_page_keys() if key in PAGES]
for key in allowed:
    section, path, title = PAGES[key]
    sections.setdefault(section, []).append(st.Page(path, title=title, default=key == allowed[0]))
navigation = st.navigation(sections, expanded=True)
sidebar()
navigation.run()
