"""Visit cadence: tiers and visits a year, seasonality, weekly rotation."""

import altair as alt
import pandas as pd
import streamlit as st

from pages import _state
from pages._tables import money
from terrmap.core.formatting import count, number
from terrmap.core.schema import TIER_VISITS
from terrmap.playbook.cadence import (
    MONTHS,
    TIERS,
    monthly_profile_from_data,
    monthly_workload,
    normalise_profile,
    territory_rotation,
    tier_accounts,
    tier_summary,
    visits_per_year,
)

_state.page_setup()

ws = _state.workspace()
plan = _state.plan()
ctx = plan.context
in_force = _state.cadence()
settings = in_force or {
    "a_share": 0.2,
    "b_share": 0.3,
    "tier_visits": dict(TIER_VISITS),
    "overrides": {},
}
net_profit = pd.Series(ctx.revenue - ctx.cost, index=ctx.account_ids)


names = ws.accounts["name"].astype(str).set_axis(ws.accounts.index.astype(str))

st.title("Visit cadence")
st.caption(
    "Tiers rank accounts by net profit (revenue − cost to serve): the top share is A, the next "
    "share B, the rest C. Visits a year follow the tier unless overridden for an account; "
    "applying the cadence changes visits, visit hours, travel and workload on every page."
)
if in_force is None:
    st.info("In force: the visits a year from the data.")
else:
    visits_text = " · ".join(f"{t} {v:g}/yr" for t, v in in_force["tier_visits"].items())
    st.success(
        f"In force: tier cadence {visits_text}, {count(len(in_force['overrides']), 'account override')}."
    )

st.subheader("Tiers and visits a year")
left, right = st.columns(2)
a_share = left.number_input(
    "Tier A: top % of accounts", 0, 100, int(round(settings["a_share"] * 100)), key="cad_a_share"
)
b_share = right.number_input(
    "Tier B: next % of accounts",
    0,
    100 - int(a_share),
    min(int(round(settings["b_share"] * 100)), 100 - int(a_share)),
    key="cad_b_share",
)
columns = st.columns(len(TIERS))
tier_visits = {
    tier: column.number_input(
        f"Tier {tier} visits a year",
        min_value=0.0,
        max_value=365.0,
        value=float(settings["tier_visits"][tier]),
        step=1.0,
        key=f"cad_visits_{tier}",
    )
    for tier, column in zip(TIERS, columns, strict=True)
}
override_frame = pd.DataFrame(
    {
        "account_id": pd.Series(list(settings["overrides"]), dtype=object),
        "visits_per_year": pd.Series(list(settings["overrides"].values()), dtype=float),
    }
)
st.caption("Overrides for single accounts (add rows; an override wins over the tier).")
edited = st.data_editor(
    override_frame,
    num_rows="dynamic",
    hide_index=True,
    key="cad_overrides",
    column_config={
        "account_id": st.column_config.SelectboxColumn(
            "Account", options=list(ctx.account_ids), required=True
        ),
        "visits_per_year": st.column_config.NumberColumn(
            "Visits a year", min_value=0.0, max_value=365.0, required=True
        ),
    },
)
overrides = {
    str(row.account_id): float(row.visits_per_year)
    for row in edited.dropna().itertuples(index=False)
}

tiers = tier_accounts(net_profit, a_share / 100, b_share / 100)
try:
    visits = visits_per_year(tiers, tier_visits, overrides)
except ValueError as error:
    st.error(str(error))
    st.stop()
summary = tier_summary(tiers, net_profit, visits).rename_axis("Tier")
summary["visit_hours"] = summary["visits"] * ctx.params.visit_hours
summary["current_visits"] = (
    pd.Series(ctx.visits, index=ctx.account_ids).groupby(tiers).sum().reindex(summary.index)
)
st.dataframe(
    summary.rename(
        columns={
            "accounts": "Accounts",
            "net_profit": "Net profit",
            "min_net_profit": "Smallest net profit in tier",
            "visits": "Visits a year (this cadence)",
            "visit_hours": "Visit hours (this cadence)",
            "current_visits": "Visits a year (in force)",
        }
    ).style.format(
        {
            "Accounts": "{:,.0f}",
            "Net profit": money,
            "Smallest net profit in tier": money,
            "Visits a year (this cadence)": "{:,.0f}",
            "Visit hours (this cadence)": "{:,.0f}",
            "Visits a year (in force)": "{:,.0f}",
        },
        na_rep="–",
    ),
    width="stretch",
)
# Side by side at the left, not one at each half of the page.
with st.container(horizontal=True):
    st.button(
        "Apply cadence to the plan",
        type="primary",
        key="cad_apply",
        on_click=_state.apply_playbook,
        kwargs={
            "cadence": {
                "a_share": a_share / 100,
                "b_share": b_share / 100,
                "tier_visits": tier_visits,
                "overrides": overrides,
                "visits": visits,
            }
        },
    )
    st.button(
        "Use the data's visits",
        disabled=in_force is None,
        key="cad_reset",
        on_click=_state.apply_playbook,
        kwargs={"cadence": None},
    )

st.subheader("Seasonality: monthly workload against capacity")
metrics = plan.metrics()
profile = monthly_profile_from_data(ws.accounts)
if profile is not None:
    st.caption("Monthly profile from the monthly revenue in the data.")
else:
    st.caption(
        "The data has no monthly revenue: set the weight of each month (1 = an average month)."
    )
    weights = st.data_editor(
        pd.DataFrame([[1.0] * 12], columns=list(MONTHS), index=["Weight"]),
        key="cad_season",
        column_config={
            month: st.column_config.NumberColumn(min_value=0.0, required=True) for month in MONTHS
        },
    )
    try:
        profile = normalise_profile(weights.loc["Weight"].fillna(0.0))
    except ValueError as error:
        st.error(str(error))
        st.stop()
monthly = monthly_workload(metrics, profile)
heat = monthly.pivot(index="name", columns="month", values="workload_hours")[list(MONTHS)]
heat.index.name = "Territory"
over = monthly.pivot(index="name", columns="month", values="over_capacity")[list(MONTHS)]
peaks = int(over.to_numpy().sum())
st.caption(
    f"Workload hours per month (visit + travel hours apportioned by the profile); "
    f"{count(peaks, 'territory-month')} over the rep's monthly capacity (yearly capacity ÷ 12) in red."
)
st.dataframe(
    heat.style.format(number).apply(
        lambda _: over.map(lambda o: "background-color: #f8d7da; color: #842029" if o else ""),
        axis=None,
    ),
    width="stretch",
)
territory_names = pd.Series(metrics["name"].to_numpy(), index=metrics.index)
chosen = st.selectbox(
    "Territory", list(territory_names.index), format_func=territory_names.get, key="cad_territory"
)
one = monthly[monthly["territory_id"] == chosen].assign(
    status=lambda f: f["over_capacity"].map({True: "over capacity", False: "within capacity"})
)
bars = (
    alt.Chart(one)
    .mark_bar()
    .encode(
        x=alt.X("month:N", sort=list(MONTHS), title=None),
        y=alt.Y("workload_hours:Q", title="Workload (h)"),
        color=alt.Color(
            "status:N",
            scale=alt.Scale(
                domain=["within capacity", "over capacity"], range=["#6c9bd2", "#d9534f"]
            ),
            title=None,
        ),
        tooltip=["month", alt.Tooltip("workload_hours:Q", format=",.0f")],
    )
)
capacity_rule = (
    alt.Chart(one.head(1)).mark_rule(color="#333", strokeDash=[4, 3]).encode(y="capacity_hours:Q")
)
st.altair_chart(bars + capacity_rule, width="stretch")

st.subheader("Visit rotation")
left, right = st.columns(2)
rotation_territory = left.selectbox(
    "Territory", list(territory_names.index), format_func=territory_names.get, key="cad_rot_terr"
)
quarter = right.selectbox("Quarter", [1, 2, 3, 4], format_func=lambda q: f"Q{q}", key="cad_q")
schedule = territory_rotation(plan, rotation_territory, quarter)
if schedule.empty:
    st.info("No visits due in this territory this quarter.")
else:
    schedule["name"] = schedule["account_id"].map(names)
    weekly = schedule.groupby("week").agg(
        visits=("account_id", "size"), accounts=("name", lambda n: "; ".join(n))
    )
    weekly["hours_on_site"] = weekly["visits"] * ctx.params.visit_hours
    weekly = weekly.reindex(range(1, 14))
    weekly["visits"] = weekly["visits"].fillna(0).astype(int)
    weekly["hours_on_site"] = weekly["hours_on_site"].fillna(0.0)
    weekly["accounts"] = weekly["accounts"].fillna("")
    st.caption(
        f"{len(schedule):,} visits due in Q{quarter}: {weekly['visits'].min()}–"
        f"{weekly['visits'].max()} a week (travel time is not included)."
    )
    st.dataframe(
        weekly[["visits", "hours_on_site", "accounts"]]
        .rename_axis("Week")
        .rename(
            columns={"visits": "Visits", "hours_on_site": "Hours on site", "accounts": "Accounts"}
        )
        .style.format({"Visits": number, "Hours on site": lambda v: number(v, 1)}),
        width="stretch",
        height=(len(weekly) + 1) * 35 + 3,  # every week of the quarter in view
    )
