import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from pages import _state
from terrmap.core.metrics import MEASURES
from terrmap.core.schema import STAGES
from terrmap.geo.palette import territory_colors
from terrmap.playbook.optimise import DEFAULT_SWEEP, propose, sweep
from terrmap.web.mapview import build_base_map, build_update_layer

_state.page_setup()

PROPOSAL = "auto_balance_proposal"
NOTICE = "auto_balance_notice"
DISRUPTION_STEPS = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0]

ws = _state.workspace()
plan = _state.plan()
context = ws.context
names = pd.Series(context.territory_names, index=context.territory_ids)

st.title("Auto-balance")
st.caption(
    "Proposes a reassignment that brings every territory within the band around the mean, "
    "moving as few accounts as the disruption weight asks and keeping accounts near their "
    "rep's home base. Nothing changes until you accept; an accepted proposal can be undone."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(notice)

left, middle, right = st.columns(3)
chosen = left.multiselect(
    "Balance on (several = equal-weighted mix)",
    list(MEASURES),
    default=[_state.measure()],
    format_func=MEASURES.get,
    key="ab_measures",
)
tolerance = middle.slider("Within ± % of the mean", 1, 50, 5, key="ab_tolerance")
disruption = right.select_slider(
    "Disruption weight (higher moves fewer accounts)",
    options=DISRUPTION_STEPS,
    value=1.0,
    key="ab_disruption",
)
lock_left, lock_right = st.columns(2)
locked_territories = lock_left.multiselect(
    "Locked territories (keep all accounts, receive none)",
    list(context.territory_ids),
    format_func=lambda t: f"{names[t]} ({t})",
    key="ab_locked_territories",
)
locked_stages = lock_right.multiselect(
    "Lock accounts in pipeline stage", list(STAGES), key="ab_locked_stages"
)
listed = st.text_input(
    "Lock these account ids (comma separated)", key="ab_locked_ids", placeholder="ACC-000001, …"
)

locked_ids = [part.strip() for part in listed.replace("\n", ",").split(",") if part.strip()]
if locked_stages and "stage" in ws.accounts.columns:
    stage = ws.accounts["stage"].astype("string").str.strip().str.lower()
    locked_ids += ws.accounts.index[stage.isin(locked_stages).fillna(False)].astype(str).tolist()
measure = chosen[0] if len(chosen) == 1 else {name: 1.0 for name in chosen}

REQUESTED = "auto_balance_requested"


def _request() -> None:
    # A callback, not the button's return value: it survives a rerun of the script.
    st.session_state[REQUESTED] = True


st.button("Propose", type="primary", disabled=not chosen, key="ab_propose", on_click=_request)
if st.session_state.pop(REQUESTED, False) and chosen:
    bar = st.progress(0.0, text="Balancing…")
    try:
        with st.spinner("Optimising the alignment…"):
            proposal = propose(
                plan,
                measure,
                float(tolerance),
                disruption_weight=float(disruption),
                locked_accounts=locked_ids,
                locked_territories=locked_territories,
            )
            bar.progress(0.3, text="Tracing the trade-off curve…")
            curve = sweep(
                plan,
                measure,
                float(tolerance),
                sorted(set(DEFAULT_SWEEP) | {float(disruption)}),
                locked_accounts=locked_ids,
                locked_territories=locked_territories,
                progress=lambda done, total: bar.progress(
                    0.3 + 0.7 * done / total, text=f"Trade-off curve: {done} of {total}"
                ),
            )
    except ValueError as error:
        bar.empty()
        st.error(str(error))
    else:
        bar.empty()
        st.session_state[PROPOSAL] = {"base": plan, "proposal": proposal, "curve": curve}

stored = st.session_state.get(PROPOSAL)
if stored is not None and stored["base"] is not plan:
    # The plan changed since (undo, another page): the proposal no longer applies.
    st.session_state.pop(PROPOSAL, None)
    stored = None

if stored is None:
    st.info("Choose the measure, band and locks, then press Propose.")
    st.stop()

proposal = stored["proposal"]
curve = stored["curve"]
summary = proposal.summary()
(st.success if proposal.within_tolerance else st.warning)(proposal.message())

cols = st.columns(5)
cols[0].metric(
    "Max / mean",
    f"{summary['max_over_mean']:.2f}",
    f"{summary['max_over_mean'] - summary['max_over_mean_before']:+.2f}",
    delta_color="inverse",
)
cols[1].metric("Min / mean", f"{summary['min_over_mean']:.2f}")
cols[2].metric(
    "Accounts moved",
    f"{summary['accounts_moved']:,}",
    f"{summary['share_accounts_moved']:.1%}",
    delta_color="off",
)
cols[3].metric("Revenue moved", f"{summary['share_revenue_moved']:.1%}")
cols[4].metric(
    "Mean km to home base",
    f"{summary['mean_distance_km']:.1f}",
    f"{summary['mean_distance_km'] - summary['mean_distance_before_km']:+.1f}",
    delta_color="inverse",
)

accept_col, discard_col, _ = st.columns([1, 1, 4])


def _accept() -> None:
    _state.push(proposal.plan)
    st.session_state.pop(PROPOSAL, None)
    st.session_state[NOTICE] = (
        f"Accepted: {proposal.accounts_moved:,} accounts moved. Undo in the sidebar reverts it."
    )


def _discard() -> None:
    st.session_state.pop(PROPOSAL, None)


accept_col.button("Accept", type="primary", on_click=_accept, key="ab_accept", width="stretch")
discard_col.button("Discard", on_click=_discard, key="ab_discard", width="stretch")

st.subheader("Before and after, per territory")
table = proposal.comparison()
table["name"] = table["name"].astype(str)
band = proposal.tolerance_pct


def _colour(value):
    if pd.isna(value):
        return ""
    return "background-color: #f8d7da" if abs(value) > band + 1e-9 else "background-color: #d1e7dd"


st.dataframe(
    table.rename(
        columns={
            "name": "Territory",
            "before": "Before",
            "after": "After",
            "deviation_before_pct": "Δ mean before %",
            "deviation_after_pct": "Δ mean after %",
            "accounts_in": "Accounts in",
            "accounts_out": "Accounts out",
            "within_band": "Within band",
        }
    )
    .style.format(
        {
            "Before": "{:,.2f}",
            "After": "{:,.2f}",
            "Δ mean before %": "{:+.1f}",
            "Δ mean after %": "{:+.1f}",
        }
    )
    .map(_colour, subset=["Δ mean before %", "Δ mean after %"]),
    width="stretch",
    key="ab_table",
)

map_col, curve_col = st.columns([3, 2])
with map_col:
    st.subheader("Moved accounts")
    located = np.isfinite(context.lon) & np.isfinite(context.lat)
    moved = np.zeros(context.n_accounts, dtype=bool)
    if proposal.accounts_moved:
        moved[context.positions(proposal.moves.index)] = True
    st.caption(f"{int(moved.sum()):,} moved accounts are ringed; colours show the proposal.")
    codes = np.asarray(proposal.plan.codes, dtype=np.int32)[located]
    st_folium(
        build_base_map(context.lon[located], context.lat[located], home_bases=ws.reps, tools=False),
        key="ab_map",
        feature_group_to_add=build_update_layer(
            codes,
            ws.territories,
            colors=territory_colors(ws.territories),
            selected=moved[located],
        ),
        returned_objects=[],
        height=480,
        use_container_width=True,
    )
with curve_col:
    st.subheader("Trade-off: balance vs accounts moved")
    points = curve.assign(
        pct_moved=100 * curve["share_accounts_moved"],
        proposal=curve["disruption_weight"] == float(proposal.weights.disruption),
    )
    base = alt.Chart(points).encode(
        x=alt.X("pct_moved:Q", title="Accounts moved (%)"),
        y=alt.Y("max_abs_deviation_pct:Q", title="Worst territory, |Δ mean| %"),
        tooltip=[
            alt.Tooltip("disruption_weight:Q", title="Disruption weight"),
            alt.Tooltip("accounts_moved:Q", title="Accounts moved"),
            alt.Tooltip("max_abs_deviation_pct:Q", title="Worst |Δ| %", format=".1f"),
            alt.Tooltip("territories_outside:Q", title="Territories outside"),
        ],
    )
    rule = (
        alt.Chart(pd.DataFrame({"band": [band]}))
        .mark_rule(strokeDash=[4, 4], color="#888")
        .encode(y="band:Q")
    )
    chart = (
        base.mark_line(color="#1f77b4", point=True)
        + base.transform_filter(alt.datum.proposal).mark_point(
            size=220, color="#d62728", filled=True
        )
        + rule
    )
    st.altair_chart(chart, width="stretch")
    st.caption(
        "Each point is one disruption weight; the red point is this proposal, the dashed line "
        f"the ±{band:g}% band."
    )

with st.expander(f"Why each account moves ({proposal.accounts_moved:,})"):
    moves = proposal.moves.copy()
    if "name" in ws.accounts.columns:
        moves.insert(0, "account", ws.accounts["name"].reindex(moves.index).astype("string"))
    st.dataframe(moves, width="stretch", key="ab_moves")
