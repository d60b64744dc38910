import streamlit as st

from pages import _state
from pages._tables import changelog_table, money, territory_table
from terrmap.core.balance import balance
from terrmap.core.formatting import count
from terrmap.core.metrics import MEASURES

_state.page_setup()

plan = _state.plan()
metrics = plan.metrics()
measure = _state.measure()
stats = balance(metrics[measure].astype(float), _state.tolerance())

st.title("Territories")
st.caption(
    f"Balance on **{MEASURES[measure]}**, band ± {stats.tolerance_pct:.0f}% around the mean. "
    "Travel is the tour-based estimate (see README: travel model)."
)
cols = st.columns(5)
cols[0].metric("Territories outside the band", f"{len(stats.outside)} of {len(metrics)}")
cols[1].metric("Max / mean", f"{stats.max_over_mean:.2f}")
cols[2].metric("Min / mean", f"{stats.min_over_mean:.2f}")
cols[3].metric(
    "Variation (CV)",
    f"{stats.cv:.2f}",
    help="Coefficient of variation: the standard deviation over the mean (0 is perfectly even).",
)
cols[4].metric("Gini", f"{stats.gini:.2f}")
previous = plan.parent.metrics() if plan.parent is not None else None
st.dataframe(territory_table(metrics, stats, previous, plan=plan), width="stretch")

unassigned = metrics.attrs["unassigned"]
if unassigned["accounts"]:
    st.warning(
        f"White space: {count(unassigned['accounts'], 'account')} in no territory, "
        f"revenue {money(unassigned['revenue'])}."
    )
for note in _state.workspace().notes:
    st.info(note)

log = changelog_table(plan, _state.workspace_map().names)
with st.expander(f"Change log ({count(len(log), 'account move')})"):
    st.dataframe(log, width="stretch", hide_index=True)
