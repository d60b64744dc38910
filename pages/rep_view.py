"""Rep view: one rep's territory, accounts by net profit, figures against the team."""

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from pages import _auth, _review, _state
from terrmap.geo.drawing import plan_shapes
from terrmap.io.importing import escape_markdown
from terrmap.playbook.quality import account_quality
from terrmap.playbook.repview import rep_comparison, rep_figures, rep_territories, visit_load
from terrmap.web.mapview import build_base_map, build_update_layer

REP = "rep_view_rep"

_state.page_setup()

ws = _state.workspace()
plan = _state.plan()
data = _state.workspace_map()
ctx = plan.context
figures = rep_figures(plan)

st.title("Rep view")
if figures.empty:
    st.info("No territory has a rep: load a reps file or territories with a rep field.")
    st.stop()

rep_names = {}
if ws.reps is not None and "name" in ws.reps.columns:
    rep_names = {str(k): str(v) for k, v in ws.reps["name"].items() if pd.notna(v)}
# A rep signed in sees only themself, whatever the URL or the session says.
reps = _auth.visible_reps(list(figures.index))
if not reps:
    st.info("The plan gives you no territory.")
    st.stop()
if st.session_state.get(REP) not in reps:
    st.session_state.pop(REP, None)
rep = st.selectbox("Rep", reps, format_func=lambda r: f"{rep_names.get(r, r)} ({r})", key=REP)
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
    + f" · team of {len(figures)} reps"
)

comparison = rep_comparison(plan, rep)


def _delta(measure):
    pct = comparison.loc[measure, "vs_mean_pct"]
    return None if not np.isfinite(pct) else f"{pct:+.0f}% vs team mean"


cards = st.columns(4)
cards[0].metric("Accounts", f"{comparison.loc['accounts', 'rep']:,.0f}", _delta("accounts"))
cards[1].metric("Revenue", _review.money(comparison.loc["revenue", "rep"]), _delta("revenue"))
cards[2].metric(
    "Net profit", _review.money(comparison.loc["net_profit", "rep"]), _delta("net_profit")
)
cards[3].metric(
    "Workload h/yr",
    f"{comparison.loc['workload_hours', 'rep']:,.0f}",
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
        height=520,
        use_container_width=True,
    )

with side_col:
    load = visit_load(plan, rep)
    st.subheader("Visit load")
    a, b = st.columns(2)
    a.metric("Visits a year", f"{load['visits']:,.0f}")
    b.metric("Visits a week", f"{load['visits_per_week']:.1f}")
    a.metric("Visit hours", f"{load['visit_hours']:,.0f}")
    b.metric("Travel hours", f"{load['travel_hours']:,.0f}")
    if np.isfinite(load["utilisation"]):
        st.progress(
            min(load["utilisation"], 1.0),
            text=f"Workload {load['workload_hours']:,.0f} h of {load['capacity_hours']:,.0f} h "
            f"capacity ({load['utilisation']:.0%})",
        )
    else:
        st.caption(f"Workload {load['workload_hours']:,.0f} h; capacity unknown or zero.")
    st.subheader("Against the team mean")
    money = {"revenue", "net_profit", "pipeline"}

    def _shown(measure, value):
        if not np.isfinite(value):
            return "–"
        if measure == "utilisation":
            return f"{value:.0%}"
        return _review.money(value) if measure in money else f"{value:,.0f}"

    table = pd.DataFrame(
        {
            "This rep": [_shown(m, v) for m, v in comparison["rep"].items()],
            "Team mean": [_shown(m, v) for m, v in comparison["team_mean"].items()],
            "Δ %": [f"{v:+.0f}%" if np.isfinite(v) else "–" for v in comparison["vs_mean_pct"]],
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
            "Revenue": _review.money,
            "Cost to serve": _review.money,
            "Net profit": _review.money,
            "Margin": "{:.0%}",
            "Visits/yr": "{:,.0f}",
        },
        na_rep="–",
    ),
    width="stretch",
    height=420,
    hide_index=True,
)
