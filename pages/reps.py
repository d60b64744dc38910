"""Reps: KPIs, capacity against workload, rep-territory fit and better matches."""

import pandas as pd
import streamlit as st

from pages import _state
from pages._tables import money, rep_label
from terrmap.core.formatting import MISSING, count, number, percent
from terrmap.core.plan import Plan
from terrmap.geo.workspace import with_territory_reps
from terrmap.playbook.reps import (
    FIT_WEIGHTS,
    capacity_check,
    fit_scores,
    junior_on_key_accounts,
    relationship_moves,
    rep_kpis,
    suggest_matching,
)

_state.page_setup()

ws = _state.workspace()
plan = _state.plan()
reps = ws.reps

st.title("Reps")
if reps is None or reps.empty:
    st.info("No reps file is loaded: load one on the Import page to see rep KPIs and fit.")
    st.stop()

rep_names = _state.rep_names()
#: Capacity status -> what the table says.
STATUS = {"over": "Over capacity", "under": "Under-loaded", "ok": "OK"}


def rep_name(rep_id) -> str:
    """A rep's name (the id when the reps file gives none, ``—`` for no rep)."""
    return rep_label(rep_id, rep_names)


def by_rep_name(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows indexed by rep name (pinned at the left by Streamlit), the id column dropped."""
    names = [rep_name(r) for r in frame.index]
    return frame.drop(columns=["name"], errors="ignore").set_axis(
        pd.Index(names, name="Rep"), axis=0
    )


# ---------------------------------------------------------------- capacity
st.subheader("Capacity against workload")
under_pct = st.slider("Under-loaded below % of capacity", 10, 100, 70, key="reps_under")
capacity = capacity_check(reps, plan, under_pct / 100)
over = capacity[capacity["status"] == "over"]
under = capacity[capacity["status"] == "under"]
cols = st.columns(3)
cols[0].metric("Reps over capacity", f"{len(over)} of {len(capacity)}")
cols[1].metric("Reps under-loaded", f"{len(under)} of {len(capacity)}")
cols[2].metric(
    "Hours over capacity", number((over["workload_hours"] - over["capacity_hours"]).sum())
)
st.caption(
    "Workload = visit hours (visits × time on site) + travel hours (tour model) of the rep's "
    "territories. Change visits a year on the Visit cadence page."
)


def status_colour(value):
    return {
        STATUS["over"]: "background-color: #f8d7da; color: #842029",
        STATUS["under"]: "background-color: #fff3cd; color: #664d03",
        STATUS["ok"]: "background-color: #d1e7dd",
    }.get(value, "")


st.dataframe(
    by_rep_name(capacity.drop(columns=["reason"]))
    .assign(status=lambda f: f["status"].map(STATUS).fillna(MISSING))
    .rename(
        columns={
            "territories": "Territories",
            "accounts": "Accounts",
            "visits": "Visits/yr",
            "visit_hours": "Visit h",
            "travel_hours": "Travel h",
            "workload_hours": "Workload h",
            "capacity_hours": "Capacity h",
            "utilisation": "Utilisation",
            "status": "Status",
        }
    )
    .style.format(
        {
            "Accounts": number,
            "Visits/yr": number,
            "Visit h": number,
            "Travel h": number,
            "Workload h": number,
            "Capacity h": number,
            "Utilisation": percent,
        },
        na_rep=MISSING,
    )
    .map(status_colour, subset=["Status"]),
    width="stretch",
    key="reps_capacity",
)
flagged = capacity[capacity["status"].isin(["over", "under"])]
if not flagged.empty:
    st.caption("Why: where the hours of the flagged reps go.")
    st.dataframe(
        pd.DataFrame(
            {
                "Rep": [rep_name(r) for r in flagged.index],
                "Status": flagged["status"].map(STATUS),
                "Why": flagged["reason"],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config={"Why": st.column_config.TextColumn(width="large")},
        key="reps_why",
    )

# ---------------------------------------------------------------- KPIs
st.subheader("Rep KPIs")
kpis = rep_kpis(reps, plan)
st.dataframe(
    by_rep_name(kpis)[
        [
            "experience_years",
            "territories",
            "accounts_held",
            "plan_accounts",
            "new_contacts",
            "lead_to_opportunity",
            "opportunity_to_deal",
            "conversations",
            "annual_contract_value",
            "quota",
            "attainment",
            "plan_revenue",
        ]
    ]
    .rename(
        columns={
            "experience_years": "Experience (yr)",
            "territories": "Territories",
            "accounts_held": "Accounts held (reps file)",
            "plan_accounts": "Accounts in plan",
            "new_contacts": "New contacts",
            "lead_to_opportunity": "Lead → opportunity",
            "opportunity_to_deal": "Opportunity → deal",
            "conversations": "Conversations",
            "annual_contract_value": "Annual contract value",
            "quota": "Quota",
            "attainment": "Attainment",
            "plan_revenue": "Revenue in plan",
        }
    )
    .style.format(
        {
            "Experience (yr)": number,
            "Accounts held (reps file)": number,
            "Accounts in plan": number,
            "New contacts": number,
            "Lead → opportunity": percent,
            "Opportunity → deal": percent,
            "Conversations": number,
            "Annual contract value": money,
            "Quota": money,
            "Attainment": percent,
            "Revenue in plan": money,
        },
        na_rep=MISSING,
    ),
    width="stretch",
    key="reps_kpis",
)

# ---------------------------------------------------------------- fit flags
st.subheader("Rep–territory fit")
key_pct = st.slider("Key accounts: top % by net profit", 1, 50, 10, key="reps_key_share")
junior = junior_on_key_accounts(reps, plan, key_pct / 100)
if junior.empty:
    st.success("No territory puts key accounts with a rep less experienced than the median rep.")
else:
    st.warning(
        f"{count(len(junior), 'territory')} put key accounts with a rep less experienced than the "
        f"median rep ({count(junior['median_experience'].iloc[0], 'year')})."
    )
    st.dataframe(
        junior.assign(rep=junior["rep_id"].map(rep_name))[
            ["name", "rep", "experience_years", "key_accounts", "key_net_profit"]
        ]
        .rename(
            columns={
                "name": "Territory",
                "rep": "Rep",
                "experience_years": "Experience (yr)",
                "key_accounts": "Key accounts",
                "key_net_profit": "Key accounts' net profit",
            }
        )
        .style.format(
            {"Key accounts' net profit": money, "Experience (yr)": number, "Key accounts": number}
        ),
        width="stretch",
        hide_index=True,
        key="reps_junior",
    )

moved = relationship_moves(plan)
account_names = ws.accounts["name"].astype(str).set_axis(ws.accounts.index.astype(str))
if moved.empty:
    st.success("Every account with an owner sits with the rep who holds the relationship.")
else:
    st.warning(
        f"{count(len(moved), 'account')} sit with another rep than their owner "
        f"(net profit {money(moved['net_profit'].sum())})."
    )
    with st.expander("Accounts away from the rep who holds the relationship"):
        territory_names = pd.Series(plan.context.territory_names, index=plan.context.territory_ids)
        st.dataframe(
            pd.DataFrame(
                {
                    "Account": moved["account_id"].map(account_names),
                    "Territory": moved["territory_id"].map(territory_names),
                    "Territory's rep": moved["territory_rep"].map(rep_name),
                    "Owner": moved["owner"].map(rep_name),
                    "Net profit": moved["net_profit"],
                }
            ).style.format({"Net profit": money}),
            width="stretch",
            hide_index=True,
            key="reps_moved",
        )

# ---------------------------------------------------------------- matching
st.subheader("A better match of reps to territories")
st.caption(
    "Fit score 0–1 per rep and territory: relationship (share of the territory's revenue the "
    "rep owns), seniority (experienced reps on the most profitable territories) and proximity "
    "(rep's home to the territory's centre). The match maximises the total score."
)
weight_cols = st.columns(len(FIT_WEIGHTS))
weights = {
    part: column.slider(f"Weight: {part}", 0.0, 1.0, default, 0.1, key=f"reps_w_{part}")
    for (part, default), column in zip(FIT_WEIGHTS.items(), weight_cols, strict=True)
}
if sum(weights.values()) <= 0:
    st.error("Give at least one part of the fit score a weight above zero.")
    st.stop()
scores = fit_scores(reps, plan, weights)
matching = suggest_matching(scores["score"], plan)
changes = matching[matching["changed"]]
gain = matching.attrs["suggested_total"] - matching.attrs["current_total"]
if changes.empty:
    st.success("The current reps are already the best match for these weights.")
else:
    st.write(
        f"Swapping {count(len(changes), 'territory')} raises the total fit from "
        f"{number(matching.attrs['current_total'], 2)} to "
        f"{number(matching.attrs['suggested_total'], 2)} (+{number(gain, 2)})."
    )
    mapping = dict(zip(changes["territory_id"], changes["suggested_rep"], strict=True))
    preview = with_territory_reps(ws, mapping)
    now = plan.metrics().loc[changes["territory_id"]]
    after = Plan.from_assignment(preview.context, plan.assignment).metrics()
    after = after.loc[changes["territory_id"]]
    st.dataframe(
        pd.DataFrame(
            {
                "Territory": changes["name"].to_numpy(),
                "Current rep": changes["current_rep"].map(rep_name).to_numpy(),
                "Suggested rep": changes["suggested_rep"].map(rep_name).to_numpy(),
                "Current fit": changes["current_score"].to_numpy(),
                "Suggested fit": changes["suggested_score"].to_numpy(),
                "Travel h now": now["travel_hours"].to_numpy(),
                "Travel h after": after["travel_hours"].to_numpy(),
                "Utilisation now": now["utilisation"].to_numpy(),
                "Utilisation after": after["utilisation"].to_numpy(),
            }
        ).style.format(
            {
                "Current fit": lambda v: number(v, 2),
                "Suggested fit": lambda v: number(v, 2),
                "Travel h now": number,
                "Travel h after": number,
                "Utilisation now": percent,
                "Utilisation after": percent,
            },
            na_rep=MISSING,
        ),
        width="stretch",
        hide_index=True,
        key="reps_matching",
    )
    st.button(
        "Accept the suggested rep swaps",
        type="primary",
        key="reps_accept",
        on_click=_state.apply_playbook,
        kwargs={"territory_reps": mapping},
    )
swapped = _state.territory_reps_changed()
if swapped:
    st.info(f"Rep swaps in force on {count(len(swapped), 'territory')} (against the data loaded).")
    st.button(
        "Return to the reps in the data",
        key="reps_reset",
        on_click=_state.apply_playbook,
        kwargs={"territory_reps": {}},
    )
