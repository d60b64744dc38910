"""Export: the working plan as files for the CRM, QGIS, Excel and leadership."""

import streamlit as st

from pages import _crm, _review, _state
from terrmap.core.formatting import count
from terrmap.playbook.quality import measure_label

_state.page_setup()

plan = _state.plan()
ws = _state.workspace()

st.title("Export")
st.caption(
    f"The working plan: {plan.context.n_accounts:,} accounts in {plan.context.n_territories} "
    f"territories, {count(len(plan.moves), 'move')} from the starting plan. Each file is made when "
    "its button is clicked."
)
for kind, (_label, _, description) in _review.DOWNLOADS.items():
    button, text = st.columns([1, 2], vertical_alignment="center")
    with button:
        _review.download_button(kind, primary=kind == "html")
    if kind == "html":
        description += (
            f" Balance on {measure_label(_review.report_measure())}, "
            f"band ± {_state.tolerance():.0f}% (set on the Balance page or in the sidebar)."
        )
    text.write(description)
st.caption(
    "The same files from the command line: `terrmap export all --out FOLDER` "
    "(demo data) or with `--accounts`, `--territories`, `--reps` and `--assignment`."
)

st.subheader("Write-back to the CRM")
st.caption(
    "Files that load this plan into the CRM: Salesforce Territory Management (Data Loader "
    "CSVs) or HubSpot (company owner import). Each comes as a full file and a delta of the "
    "accounts whose territory or owner changed since the previous publication."
)
target = st.radio(
    "CRM",
    ["salesforce", "hubspot"],
    format_func=_crm.TARGET_LABELS.get,
    horizontal=True,
    key="crm_target",
)
options = _crm.options_form(target)
previous, since = _crm.previous_publication(plan)
st.caption(since)
_crm.download_button(target, plan, ws, previous, options)
