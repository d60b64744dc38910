"""Compare page: two plans of the working data set side by side.

The figures are :func:`terrmap.playbook.compare.compare_plans`; the plans are the data
set's baseline, the working plan and the saved scenarios of the same data set
(replayed by :class:`terrmap.store.scenarios.ScenarioStore`). This page renders
them: disruption headline figures, per-territory deltas, the moved accounts
and a map of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from pages import _state
from pages._tables import measure_value, money, readable, styled_money
from terrmap.core.formatting import count, number, percent, signed_number, signed_percent
from terrmap.core.metrics import MEASURES
from terrmap.core.plan import Plan
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import plan_shapes
from terrmap.io.importing import escape_markdown
from terrmap.playbook.compare import compare_plans
from terrmap.web.mapview import build_base_map, build_update_layer

BASELINE = "__baseline__"
WORKING = "__working__"
BEFORE = "compare_before"
AFTER = "compare_after"
MEASURE = "compare_measure"
PLANS = "compare_plans_cache"  # {(workspace id, scenario id, version): Plan}

_state.page_setup()
store = _state.store_or_stop()
ws = _state.workspace()
ss = st.session_state
dataset = _state.dataset_id()
scenarios = {info.scenario_id: info for info in store.list(dataset)}
labels = {
    BASELINE: "Baseline (the data set's starting plan)",
    WORKING: "Working plan (as it is now)",
    **{i: f"Scenario: {info.name} (v{info.version})" for i, info in scenarios.items()},
}


def _plan(choice: str) -> Plan:
    if choice == BASELINE:
        return ws.initial_plan
    if choice == WORKING:
        return _state.plan()
    info = scenarios[choice]
    cache = ss.setdefault(PLANS, {})
    key = (id(ws), info.scenario_id, info.version)
    if key not in cache:
        cache.clear()  # keep at most the pair on screen
        cache[key] = store.open(info.scenario_id, ws).plan
    return cache[key]


st.title("Compare plans")
st.caption(
    f"Plans of the data set {escape_markdown(ws.name)}: its baseline, the working plan and "
    f"{count(len(scenarios), 'saved scenario')}. Scenarios of other data sets: open one on the "
    "Scenarios page first."
)

for key, default in ((BEFORE, BASELINE), (AFTER, WORKING)):
    if ss.get(key) not in labels:
        ss[key] = default
if ss[AFTER] == WORKING and ss[BEFORE] == BASELINE and scenarios and not _state.plan().moves:
    ss[AFTER] = next(iter(scenarios))
left, right = st.columns(2)
before_choice = left.selectbox("Before", list(labels), format_func=labels.get, key=BEFORE)
after_choice = right.selectbox("After", list(labels), format_func=labels.get, key=AFTER)

try:
    before, after = _plan(before_choice), _plan(after_choice)
except Exception as error:  # a damaged or foreign record must not take the page down
    st.error(f"Cannot open that scenario: {escape_markdown(error)}")
    st.stop()

result = compare_plans(before, after, account_names=ws.accounts["name"])
d = result.disruption

cols = st.columns(4)
cols[0].metric("Accounts moved", number(d.accounts_moved))
cols[1].metric(
    "Revenue moved",
    money(d.revenue_moved),
    help=f"{percent(d.share_of_revenue_moved, 1)} of all revenue" if d.revenue_moved else None,
)
cols[2].metric(
    "Customer relationships broken",
    number(d.relationships_broken),
    help="Accounts whose rep changes (a rep before, another or none after). "
    "A move between two territories of the same rep breaks none.",
)
cols[3].metric("Territories changed", number(d.territories_changed))
st.caption(
    f"Net profit moved {money(d.net_profit_moved)} · revenue of broken relationships "
    f"{money(d.revenue_relationships_broken)}"
)

# -- per-territory deltas ----------------------------------------------------------
st.subheader("Per territory")
if ss.get(MEASURE) not in MEASURES:
    ss[MEASURE] = _state.measure()
measure = st.selectbox("Measure", list(MEASURES), format_func=MEASURES.get, key=MEASURE)
white = UNASSIGNED_LABEL
before_values = pd.concat(
    [result.before[measure], pd.Series({white: result.before.attrs["unassigned"][measure]})]
)
after_values = pd.concat(
    [result.after[measure], pd.Series({white: result.after.attrs["unassigned"][measure]})]
)
names = pd.concat([result.after["name"], pd.Series({white: white})])
focus = pd.DataFrame(
    {
        "Territory": names.astype(str).to_numpy(),
        "Before": before_values.astype(float).to_numpy(),
        "After": after_values.astype(float).to_numpy(),
    }
)
focus["Change"] = focus["After"] - focus["Before"]
focus["Change %"] = (focus["Change"] / focus["Before"].where(focus["Before"] != 0)) * 100


def _value(value: object) -> str:
    return measure_value(measure, value)


def signed(column: str, value: object) -> str:
    """A change of a measure with its sign, in the measure's unit (money or number)."""
    text = measure_value(column, value)
    return text if text.startswith("-") or text == "—" or value == 0 else f"+{text}"


def _change(value: object) -> str:
    return signed(measure, value)


st.dataframe(
    focus.set_index("Territory").style.format(
        {"Before": _value, "After": _value, "Change": _change, "Change %": signed_percent},
        na_rep="—",
    ),
    width="stretch",
    height=(len(focus) + 1) * 35 + 3,  # every row in view, white space included
    key="compare_focus",
)
with st.expander("Change of every measure, per territory (after − before)"):
    every = result.deltas.copy()
    every.attrs = {}
    every.loc[white] = result.deltas.attrs["unassigned"]
    every.loc[white, "name"] = white
    every = (
        every.set_index("name").rename_axis("Territory").drop(columns=["rep_id"], errors="ignore")
    )
    formats = {
        MEASURES.get(c, c.replace("_", " ").capitalize()): (
            (lambda v, c=c: signed(c, v)) if c in MEASURES else signed_number
        )
        for c in every.columns
    }
    every.columns = list(formats)
    st.dataframe(
        every.style.format(formats, na_rep="—"),
        width="stretch",
        height=(len(every) + 1) * 35 + 3,
    )

# -- moved accounts ------------------------------------------------------------------
st.subheader(f"Moved accounts ({number(d.accounts_moved)})")
if d.accounts_moved == 0:
    st.info("The two plans assign every account to the same territory.")
else:
    moved = result.moved
    table = moved.assign(
        from_name=moved["from_name"].fillna(UNASSIGNED_LABEL),
        to_name=moved["to_name"].fillna(UNASSIGNED_LABEL),
    )[
        [
            "name",
            "from_name",
            "to_name",
            "revenue",
            "net_profit",
            "rep_before",
            "rep_after",
            "crm_owner",
            "relationship_broken",
        ]
    ]
    table = readable(table)
    st.dataframe(
        styled_money(table),
        width="stretch",
        column_config={
            "Relationship broken": st.column_config.CheckboxColumn("Relationship broken"),
        },
        key="compare_moved",
    )
    positions = ws.context.positions(moved.index)
    ringed = np.zeros(ws.context.n_accounts, dtype=bool)
    ringed[positions] = True
    st.caption(
        "The two plans side by side: every account in its territory's colour, the moved "
        "accounts ringed on both."
    )
    data = _state.workspace_map()
    left_map, right_map = st.columns(2)
    for column, plan_, label, key in (
        (left_map, before, labels[before_choice], "compare_map_before"),
        (right_map, after, labels[after_choice], "compare_map_after"),
    ):
        with column:
            st.markdown(f"**{escape_markdown(label)}**")
            st_folium(
                build_base_map(data.lon, data.lat, tools=False, points_url=_state.points_url()),
                key=key,
                feature_group_to_add=build_update_layer(
                    plan_.codes, plan_shapes(plan_, data), colors=data.colors, selected=ringed
                ),
                returned_objects=[],
                height=460,
                use_container_width=True,
            )
