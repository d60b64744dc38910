import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from pages import _state
from terrmap.core.metrics import MEASURES
from terrmap.core.schema import STAGES
from terrmap.geo.palette import territory_colors
from terrmap.io.importing import escape_markdown
from terrmap.playbook.optimise import BAND_MEASURES, design, design_sweep, greenfield_territories
from terrmap.playbook.optimise.split import greenfield_k, split_territory
from terrmap.playbook.optimise.territory_design import DESIGN_SWEEP
from terrmap.web.mapview import build_base_map, build_update_layer

_state.page_setup()

PROPOSAL = "auto_balance_proposal"
NOTICE = "auto_balance_notice"
REQUESTED = "auto_balance_requested"
DISRUPTION_STEPS = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0]
DEFAULT_BAND = {"revenue": 5, "workload_hours": 10}

ws = _state.workspace()
plan = _state.plan()
context = ws.context
names = pd.Series(context.territory_names, index=context.territory_ids).astype(str)

st.title("Auto-balance")
st.caption(
    "Proposes territories balanced on every measure you pick, each within its own band, with "
    "every territory in one piece, no account beyond the driving limit from its rep's home base "
    "and team travel within its cap. When a band cannot be reached it says why and what would "
    "reach it. Nothing changes until you accept; one Undo reverts an accepted proposal."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(notice)

chosen = st.multiselect(
    "Balance on (each within its own band)",
    [m for m in BAND_MEASURES if m in MEASURES],
    default=["revenue"],
    format_func=MEASURES.get,
    key="ab_measures",
)
band_cols = st.columns(max(len(chosen), 1))
bands = {
    name: float(
        column.number_input(
            f"{MEASURES[name]}: within ± %",
            min_value=0.0,
            max_value=200.0,
            value=float(DEFAULT_BAND.get(name, 10)),
            step=1.0,
            format="%g",
            key=f"ab_band_{name}",
        )
    )
    for name, column in zip(chosen, band_cols, strict=False)
}
left, middle, right = st.columns(3)
max_km = left.number_input(
    "Driving limit from the home base (km, 0 = none)",
    min_value=0.0,
    value=250.0,
    step=25.0,
    format="%g",
    key="ab_max_km",
)
slack = middle.number_input(
    "Team travel may grow by (%)",
    min_value=0.0,
    value=10.0,
    step=5.0,
    format="%g",
    key="ab_travel_slack",
)
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
    format_func=lambda t: names[t],
    key="ab_locked_territories",
)
locked_stages = lock_right.multiselect(
    "Lock accounts in pipeline stage", list(STAGES), key="ab_locked_stages"
)
listed = st.text_input(
    "Lock these account ids (comma separated)", key="ab_locked_ids", placeholder="ACC-000001, …"
)
rebuild = st.multiselect(
    "Greenfield: rebuild these territories from scratch (leave empty to rebalance today's plan)",
    list(context.territory_ids),
    format_func=lambda t: names[t],
    key="ab_greenfield",
)
k_col, k_button_col = st.columns([2, 1])
wanted_k = int(
    k_col.number_input(
        "Greenfield the whole map with this many territories (new ones get open seats "
        "where revenue per rep is highest)",
        min_value=int(context.n_territories),
        value=int(context.n_territories),
        step=1,
        key="ab_greenfield_k",
    )
)

locked_ids = [part.strip() for part in listed.replace("\n", ",").split(",") if part.strip()]
if locked_stages and "stage" in ws.accounts.columns:
    stage = ws.accounts["stage"].astype("string").str.strip().str.lower()
    locked_ids += ws.accounts.index[stage.isin(locked_stages).fillna(False)].astype(str).tolist()
options = {
    "max_km": float(max_km) if max_km > 0 else None,
    "travel_slack_pct": float(slack),
    "locked_accounts": locked_ids,
    "locked_territories": locked_territories,
}


def _request(rebuild_ids=None, split=None, k=None) -> None:
    # A callback, not the button's return value: it survives a rerun of the script.
    st.session_state[REQUESTED] = {"rebuild": rebuild_ids, "split": split, "k": k}


st.button("Propose", type="primary", disabled=not chosen, key="ab_propose", on_click=_request)
k_button_col.button(
    f"Greenfield with {wanted_k} territories",
    disabled=not chosen,
    key="ab_greenfield_k_go",
    on_click=_request,
    kwargs={"k": wanted_k},
)
request = st.session_state.pop(REQUESTED, None)
if request is not None and chosen:
    targets = request["rebuild"] if request["rebuild"] is not None else rebuild
    grown = None
    try:
        with st.spinner("Designing territories…"):
            rng = np.random.default_rng(0)
            if request["split"] is not None:
                territory, count = request["split"]
                grown = split_territory(
                    ws, _state.history(), territory, count, bands, rng=rng, **options
                )
                proposal = grown[2]
            elif request["k"] is not None:
                grown = greenfield_k(ws, _state.history(), request["k"], bands, rng=rng, **options)
                proposal = grown[2]
            elif targets:
                proposal = greenfield_territories(plan, targets, bands, **options)
            else:
                proposal = design(plan, bands, disruption_weight=float(disruption), **options)
    except ValueError as error:
        st.error(escape_markdown(str(error)))
    else:
        st.session_state[PROPOSAL] = {
            "base": plan,
            "proposal": proposal,
            # A split or a larger greenfield adds territories: the data set and
            # its history change with the proposal, on Accept only.
            "workspace": None if grown is None else grown[0],
            "history": None if grown is None else grown[1],
        }

stored = st.session_state.get(PROPOSAL)
if stored is not None and stored["base"] is not plan:
    # The plan changed since (undo, another page): the proposal no longer applies.
    st.session_state.pop(PROPOSAL, None)
    stored = None

if stored is None:
    st.info("Choose the measures, bands, limits and locks, then press Propose.")
    st.stop()

proposal = stored["proposal"]
summary = proposal.summary()
shown = stored["workspace"] or ws
names = pd.Series(shown.context.territory_names, index=shown.context.territory_ids).astype(str)
if stored["workspace"] is not None:
    added = stored["workspace"].context.territory_names[context.n_territories :]
    st.info(
        escape_markdown(
            f"This proposal adds {len(added)} territor{'y' if len(added) == 1 else 'ies'} "
            f"with open seats ({', '.join(map(str, added))}); Accept adds them to the data set."
        )
    )
(st.success if proposal.feasible and not proposal.worsened else st.warning)(
    escape_markdown(proposal.message())
)
if proposal.worsened:
    st.error(
        "This proposal makes something worse than today: "
        + escape_markdown(" ".join(proposal.worsened))
        + " Accept only if you trade that away."
    )
if proposal.options:
    st.markdown("**What would reach the band**")
    for number, option in enumerate(proposal.options):
        if stored["workspace"] is not None:
            # Options of a proposal that adds territories apply once it is accepted.
            st.markdown(f"- {escape_markdown(option.text)}")
        elif option.kind == "greenfield":
            st.button(
                escape_markdown(option.text),
                key=f"ab_option_{number}",
                on_click=_request,
                args=(list(option.territories),),
            )
        elif option.kind == "add_territories":
            st.button(
                escape_markdown(option.text),
                key=f"ab_option_{number}",
                on_click=_request,
                kwargs={"split": (option.territories[0], int(option.count))},
            )
        else:
            st.markdown(f"- {escape_markdown(option.text)}")

cols = st.columns(5)
cols[0].metric(
    "Team travel (km/yr)",
    f"{summary['travel_km_after']:,.0f}",
    f"{summary['travel_km_after'] - summary['travel_km_before']:+,.0f}",
    delta_color="inverse",
)
cols[1].metric(
    "Farthest account from home (km)",
    f"{summary['max_km_to_home']:,.0f}",
    (
        f"{summary['max_km_to_home'] - summary['max_km_to_home_before']:+,.0f}"
        if abs(summary["max_km_to_home"] - summary["max_km_to_home_before"]) >= 0.5
        else None
    ),
    delta_color="inverse",
)
cols[2].metric(
    "Territories in one piece",
    f"{sum(v == 1 for v in summary['pieces'].values())} of {len(summary['pieces'])}",
)
cols[3].metric(
    "Accounts moved",
    f"{summary['moved_accounts']:,}",
    f"{summary['share_accounts_moved']:.1%}",
    delta_color="off",
)
cols[4].metric("Revenue moved", f"{summary['moved_revenue']:,.0f}")
st.caption(
    "Bands reached: "
    + "; ".join(
        f"{MEASURES[name]} worst ±{band['reached_pct']:.1f}% (asked ±{band['tolerance_pct']:g}%, "
        f"today ±{band['reached_before_pct']:.1f}%)"
        for name, band in summary["bands"].items()
    )
)


def _trace() -> None:
    stored["curve"] = design_sweep(plan, bands, DESIGN_SWEEP, **options)


if stored["workspace"] is None:
    with st.expander("Trade-off: bands reached against accounts moved", expanded="curve" in stored):
        if "curve" not in stored:
            st.button(
                f"Trace it ({len(DESIGN_SWEEP)} proposals at disruption weights "
                f"{', '.join(f'{w:g}' for w in DESIGN_SWEEP)})",
                key="ab_sweep",
                on_click=_trace,
            )
        else:
            first = next(iter(bands))
            curve = stored["curve"].assign(
                pct_moved=100 * stored["curve"]["share_accounts_moved"],
                proposal=stored["curve"]["disruption_weight"] == float(disruption),
                worst=stored["curve"][f"worst_pct_{first}"],
            )
            points = alt.Chart(curve).encode(
                x=alt.X("pct_moved:Q", title="Accounts moved (%)"),
                y=alt.Y("worst:Q", title=f"Worst territory, {MEASURES[first]} |Δ mean| %"),
                tooltip=[
                    alt.Tooltip("disruption_weight:Q", title="Disruption weight"),
                    alt.Tooltip("accounts_moved:Q", title="Accounts moved"),
                    alt.Tooltip("worst:Q", title="Worst |Δ| %", format=".1f"),
                    alt.Tooltip("travel_km_after:Q", title="Team travel km", format=",.0f"),
                ],
            )
            band_rule = (
                alt.Chart(pd.DataFrame({"band": [bands[first]]}))
                .mark_rule(strokeDash=[4, 4], color="#888")
                .encode(y="band:Q")
            )
            st.altair_chart(
                points.mark_line(point=True)
                + points.transform_filter(alt.datum.proposal).mark_point(
                    size=200, color="#d62728", filled=True
                )
                + band_rule,
                width="stretch",
            )
            st.caption(
                "Each point is one proposal at a disruption weight (the slider above); the red "
                f"point is this proposal's weight, the dashed line the ±{bands[first]:g}% band."
            )

accept_col, discard_col, _ = st.columns([1, 1, 4])


def _accept() -> None:
    if stored["workspace"] is not None:
        _state.adopt_grown(stored["workspace"], stored["history"].push(proposal.plan))
    else:
        _state.push(proposal.plan)
    st.session_state.pop(PROPOSAL, None)
    st.session_state[NOTICE] = (
        f"Accepted: {proposal.moved_accounts:,} accounts moved in one step. "
        "Undo in the sidebar reverts it."
    )


def _discard() -> None:
    st.session_state.pop(PROPOSAL, None)


accept_col.button(
    "Accept",
    type="secondary" if proposal.worsened or not proposal.moved_accounts else "primary",
    on_click=_accept,
    key="ab_accept",
    width="stretch",
    disabled=not proposal.moved_accounts,
)
discard_col.button("Discard", on_click=_discard, key="ab_discard", width="stretch")

st.subheader("Before and after, per territory")
rows = {"Territory": names.to_numpy()}
for name in proposal.bands:
    before = proposal.before["bands"][name]["deviation_pct"]
    after = proposal.after["bands"][name]["deviation_pct"]
    rows[f"{MEASURES[name]} Δ mean before %"] = [before[n] for n in names]
    rows[f"{MEASURES[name]} Δ mean after %"] = [after[n] for n in names]
rows["Pieces before"] = [proposal.before["pieces"][n] for n in names]
rows["Pieces after"] = [proposal.after["pieces"][n] for n in names]
moved_in = proposal.moves["to_territory"].value_counts()
moved_out = proposal.moves["from_territory"].value_counts()
rows["Accounts in"] = moved_in.reindex(names.index, fill_value=0).to_numpy()
rows["Accounts out"] = moved_out.reindex(names.index, fill_value=0).to_numpy()
table = pd.DataFrame(rows, index=names.index)
deviation_columns = [c for c in table.columns if "Δ mean" in c]
limits = {
    c: proposal.bands[name]
    for name in proposal.bands
    for c in deviation_columns
    if c.startswith(MEASURES[name] + " ")
}


def _colour(column: pd.Series) -> list[str]:
    band = limits[column.name]
    return [
        "" if pd.isna(v) else ("background-color: #f8d7da" if abs(v) > band + 1e-9 else "")
        for v in column
    ]


st.dataframe(
    table.style.format({c: "{:+.1f}" for c in deviation_columns}).apply(
        _colour, subset=deviation_columns
    ),
    width="stretch",
    hide_index=True,
    key="ab_table",
)

st.subheader("Moved accounts")
located = np.isfinite(context.lon) & np.isfinite(context.lat)
moved = np.zeros(context.n_accounts, dtype=bool)
if proposal.moved_accounts:
    moved[context.positions(proposal.moves.index)] = True
st.caption(f"{int(moved.sum()):,} moved accounts are ringed; colours show the proposal.")
codes = np.asarray(proposal.plan.codes, dtype=np.int32)[located]
st_folium(
    build_base_map(context.lon[located], context.lat[located], home_bases=shown.reps, tools=False),
    key="ab_map",
    feature_group_to_add=build_update_layer(
        codes,
        shown.territories,
        colors=territory_colors(shown.territories),
        selected=moved[located],
    ),
    returned_objects=[],
    height=480,
    use_container_width=True,
)

with st.expander(f"Why each account moves ({proposal.moved_accounts:,})"):
    moves = proposal.moves.copy()
    moves["from_territory"] = moves["from_territory"].map(names).fillna("white space")
    moves["to_territory"] = moves["to_territory"].map(names).fillna("white space")
    if "name" in ws.accounts.columns:
        moves.insert(0, "account", ws.accounts["name"].reindex(moves.index).astype("string"))
    st.dataframe(moves, width="stretch", key="ab_moves")
