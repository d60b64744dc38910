"""Rep view: one rep's territory, accounts by net profit, figures against the team."""

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from pages import _auth, _state
from pages._tables import measure_value, money, readable, styled_money
from terrmap.core.formatting import count, number, percent, signed_percent
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import plan_shapes
from terrmap.io.importing import escape_markdown
from terrmap.playbook.quality import account_quality
from terrmap.playbook.repview import (
    rep_changes,
    rep_comparison,
    rep_figures,
    rep_territories,
    visit_load,
)
from terrmap.web.mapview import build_base_map, build_update_layer

REP = "rep_view_rep"
PRESENT = "rep_view_present"
PEERS = "rep_view_peers"
AGAINST = "rep_view_against"
BASELINE = "__baseline__"
# Presentation: no sidebar or app toolbar, larger type, less padding, so the
# map is above the fold on a 1280x720 projector.
PRESENTATION_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 0.8rem !important; max-width: 100% !important;
  font-size: 1.12rem; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.05rem !important; }
</style>"""

_state.page_setup()


def _state_scenario_plan(scenario_id: str):
    return _state.scenario_store().open(scenario_id, _state.workspace()).plan


ws = _state.workspace()
plan = _state.plan()
data = _state.workspace_map()
ctx = plan.context
figures = rep_figures(plan)

present = bool(st.session_state.get(PRESENT))
if present:
    st.html(PRESENTATION_CSS)
else:
    st.title("Rep view")
if figures.empty:
    st.info("No territory has a rep: load a reps file or territories with a rep field.")
    st.stop()

rep_names = _state.rep_names()
# A rep signed in sees only themself, whatever the URL or the session says.
reps = _auth.visible_reps(list(figures.index))
if not reps:
    st.info("The plan gives you no territory.")
    st.stop()
if st.session_state.get(REP) not in reps:
    st.session_state.pop(REP, None)
shown_names = [rep_names.get(r, r) for r in reps]


def _rep_label(rep_id: str) -> str:
    # The id only tells two reps of one name apart ("Ana Ortiz", never
    # "Ana Ortiz (Ana Ortiz)").
    name = rep_names.get(rep_id, rep_id)
    return f"{name} ({rep_id})" if shown_names.count(name) > 1 and name != rep_id else name


store = _state.scenario_store()
scenarios = {info.scenario_id: info for info in store.list(_state.dataset_id())}
against_labels = {
    BASELINE: "the data set's starting plan",
    **{i: f"scenario “{info.name}”" for i, info in scenarios.items()},
}
if st.session_state.get(AGAINST) not in against_labels:
    st.session_state[AGAINST] = BASELINE
controls = st.columns(3, vertical_alignment="bottom")
rep = controls[0].selectbox("Rep", reps, format_func=_rep_label, key=REP)
against = controls[1].selectbox(
    "What changed since", list(against_labels), format_func=against_labels.get, key=AGAINST
)
with controls[2]:  # one under the other: side by side at 1280 px their labels were cut
    peers = st.toggle("Compare with the team", key=PEERS)
    st.toggle("Presentation mode", key=PRESENT, help="No sidebar or editing controls, larger type.")
held = rep_territories(plan, rep)
territory_names = dict(zip(ctx.territory_ids, ctx.territory_names, strict=True))
home = ""
if ws.reps is not None and "home_town" in ws.reps.columns and rep in ws.reps.index:
    town = ws.reps.loc[rep, "home_town"]
    home = f" · based in {escape_markdown(town)}" if pd.notna(town) else ""
st.header(escape_markdown(rep_names.get(rep, rep)))
st.caption(
    "Territory: "
    + ", ".join(escape_markdown(territory_names[t]) for t in held)
    + home
    + f" · team of {count(len(figures), 'rep')}"
)

comparison = rep_comparison(plan, rep)


def _delta(measure):
    # Peer comparison only when asked: not in front of colleagues by default.
    pct = comparison.loc[measure, "vs_mean_pct"]
    return None if not peers or not np.isfinite(pct) else f"{signed_percent(pct, 0)} vs team mean"


load = visit_load(plan, rep)
if np.isfinite(load["capacity_hours"]) and load["utilisation"] > 1:
    st.error(
        f"Over capacity: the workload is {percent(load['utilisation'])} of the rep's "
        f"{number(load['capacity_hours'])} h a year "
        f"({number(load['workload_hours'] - load['capacity_hours'])} h too many)."
    )
cards = st.columns(4)
cards[0].metric("Accounts", number(comparison.loc["accounts", "rep"]), _delta("accounts"))
cards[1].metric("Revenue", money(comparison.loc["revenue", "rep"]), _delta("revenue"))
cards[2].metric("Net profit", money(comparison.loc["net_profit", "rep"]), _delta("net_profit"))
cards[3].metric(
    "Workload h/yr",
    number(comparison.loc["workload_hours", "rep"]),
    _delta("workload_hours"),
    delta_color="off",
)

map_col, side_col = st.columns([3, 2], gap="medium")
codes = plan.codes
positions = np.flatnonzero(np.isin(codes, ctx.territory_ids.get_indexer(held)))
with map_col:
    shapes = plan_shapes(plan, data)
    rows = ctx.territory_ids.get_indexer(held)
    mine = shapes.iloc[rows]
    colors = [data.colors[i] for i in rows]
    local_codes = pd.Index(rows).get_indexer(codes[positions]).astype(np.int32)
    homes = None
    if data.home_bases is not None and rep in data.home_bases.index:
        homes = data.home_bases.loc[[rep]]
    bounds = None
    geoms = mine.geometry[~mine.geometry.is_empty]
    if len(geoms):
        bounds = list(geoms.total_bounds)
    st_folium(
        build_base_map(
            data.lon[positions], data.lat[positions], home_bases=homes, tools=False, bounds=bounds
        ),
        key=f"rep_map_{rep}",
        feature_group_to_add=build_update_layer(local_codes, mine, colors=colors),
        returned_objects=[],
        height=400 if present else 520,
        use_container_width=True,
    )

with side_col:
    st.subheader("Visit load")
    a, b = st.columns(2)
    a.metric("Visits a year", number(load["visits"]))
    b.metric("Visits a week", number(load["visits_per_week"], 1))
    a.metric("Visit hours", number(load["visit_hours"]))
    b.metric("Travel hours", number(load["travel_hours"]))
    if np.isfinite(load["utilisation"]):
        st.progress(
            min(load["utilisation"], 1.0),
            text=f"Workload {number(load['workload_hours'])} h of "
            f"{number(load['capacity_hours'])} h capacity ({percent(load['utilisation'])})"
            + (" — over capacity" if load["utilisation"] > 1 else ""),
        )
    else:
        st.caption(f"Workload {number(load['workload_hours'])} h; capacity unknown or zero.")
    before = ws.initial_plan if against == BASELINE else _state_scenario_plan(against)
    changes = rep_changes(before, plan, rep)
    st.subheader("What changed for you")
    if changes.empty:
        st.caption(f"No account gained or lost since {against_labels[against]}.")
    else:
        gained = changes[changes["change"] == "gained"]
        lost = changes[changes["change"] == "lost"]
        g, l_ = st.columns(2)
        g.metric("Gained", count(len(gained), "account"), money(gained["revenue"].sum()))
        l_.metric(
            "Lost",
            count(len(lost), "account"),
            money(-lost["revenue"].sum()) if len(lost) else None,
        )
        st.caption(f"Against {against_labels[against]}; revenue of the accounts under each.")
        listed = changes.assign(
            name=data.names[ctx.positions(changes.index)],
            From=[territory_names.get(t, UNASSIGNED_LABEL) for t in changes["from_territory"]],
            To=[territory_names.get(t, UNASSIGNED_LABEL) for t in changes["to_territory"]],
            change=changes["change"].str.capitalize(),
        )[["name", "change", "From", "To", "revenue", "net_profit"]]
        st.dataframe(
            styled_money(readable(listed).rename(columns={"change": "Change"})),
            width="stretch",
            height=200,
        )

if peers:
    st.subheader("Against the team mean")

    def _shown(measure, value):
        return percent(value) if measure == "utilisation" else measure_value(measure, value)

    table = pd.DataFrame(
        {
            "This rep": [_shown(m, v) for m, v in comparison["rep"].items()],
            "Team mean": [_shown(m, v) for m, v in comparison["team_mean"].items()],
            "Δ %": [signed_percent(v, 0) for v in comparison["vs_mean_pct"]],
        },
        index=comparison["label"].to_numpy(),
    )
    st.dataframe(table, width="stretch")

st.subheader("Accounts by net profit")
names = ws.accounts["name"] if "name" in ws.accounts.columns else None
accounts = account_quality(plan, names)
accounts = accounts[accounts["territory_id"].isin(held)].copy()
accounts.insert(0, "rank", np.arange(1, len(accounts) + 1))
visits = pd.Series(np.asarray(ctx.visits), index=ctx.account_ids)
accounts["visits"] = visits.reindex(accounts.index).to_numpy()
st.dataframe(
    accounts[["rank", "name", "revenue", "cost", "net_profit", "margin", "visits"]]
    .rename(
        columns={
            "rank": "#",
            "name": "Account",
            "revenue": "Revenue",
            "cost": "Cost to serve",
            "net_profit": "Net profit",
            "margin": "Margin",
            "visits": "Visits/yr",
        }
    )
    .style.format(
        {
            "Revenue": money,
            "Cost to serve": money,
            "Net profit": money,
            "Margin": percent,
            "Visits/yr": number,
        },
        na_rep="—",
    ),
    width="stretch",
    height=420,
    hide_index=True,
)
