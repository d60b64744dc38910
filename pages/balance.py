"""Balance: which territories are out of balance and by how much; quality; white space."""

import pandas as pd
import streamlit as st

from pages import _review, _state
from pages._tables import money, territory_table
from terrmap.core.balance import balance
from terrmap.core.formatting import number, percent, signed_number, signed_percent
from terrmap.io.importing import escape_markdown
from terrmap.playbook.goals import quota_deviation
from terrmap.playbook.quality import (
    NO_DATA,
    account_quality,
    default_min_shift,
    measure_label,
    measure_values,
    territory_quality,
    white_space,
)

_state.page_setup()

ws = _state.workspace()
plan = _state.plan()
metrics = plan.metrics()
names = ws.accounts["name"] if "name" in ws.accounts.columns else None

st.title("Balance")
measure, tolerance = _review.measure_chooser()
values = measure_values(metrics, measure)
stats = balance(values, tolerance)
label = measure_label(measure)
n = len(metrics)

cols = st.columns(6)
cols[0].metric("Outside the band", f"{len(stats.outside)} of {n}")
cols[1].metric("Max / min", f"{stats.max_over_min:.2f}")
cols[2].metric("Max / mean", f"{stats.max_over_mean:.2f}")
cols[3].metric("Min / mean", f"{stats.min_over_mean:.2f}")
cols[4].metric(
    "Variation (CV)",
    f"{stats.cv:.2f}",
    help="Coefficient of variation: the standard deviation over the mean (0 is perfectly even).",
)
cols[5].metric("Gini", f"{stats.gini:.2f}")

st.subheader(label)
st.caption(
    f"One bar per territory. The shaded band is the mean ± {stats.tolerance_pct:.0f}%, "
    "the dark line the mean."
    + (
        " A mix scales each measure to its mean, so 1.00 is a territory at the mean."
        if not isinstance(measure, str)
        else ""
    )
)
st.altair_chart(
    _review.balance_chart(values, metrics["name"], stats, label),
    width="stretch",
    height=_review.chart_height(n),
)
if len(stats.outside):
    flagged = ", ".join(
        f"{escape_markdown(metrics.loc[t, 'name'])} ({signed_percent(stats.deviation_pct[t], 0)})"
        for t in stats.outside
    )
    st.error(f"Outside ± {stats.tolerance_pct:.0f}%: {flagged}", icon=None)
else:
    st.success(f"Every territory is within ± {stats.tolerance_pct:.0f}% of the mean.")

st.caption(f"Δ mean % is each territory's {label.lower()} against the mean.")
quotas = _state.quotas()
if quotas:
    st.caption(
        "Δ quota % is each territory's revenue against its own quota (set on the Goals page)."
    )
st.dataframe(
    territory_table(
        metrics,
        stats,
        quota_deviation=quota_deviation(metrics["revenue"], quotas) if quotas else None,
    ),
    width="stretch",
)

st.header("Territory quality")
quality = territory_quality(metrics, tolerance)
no_funnel = bool((quality["tier"] == NO_DATA).all())
st.caption(
    "Leads, opportunities, new accounts and conversion rate (new accounts ÷ leads), each divided "
    "by its mean over territories and averaged: 1.00 is the team mean. "
    f"High ≥ {1 + tolerance / 100:.2f}, low ≤ {1 - tolerance / 100:.2f}, medium between "
    "(the same band as balance). No leads: conversion shown as –, counted as 0."
)


if no_funnel:
    st.info(
        "No data: the accounts have no leads, opportunities or new customers, so territory "
        "quality cannot be ranked. Import accounts with a stage (lead, opportunity, customer) "
        "to see it."
    )


#: Quality tier -> what the table says.
TIERS = {"high": "High", "medium": "Medium", "low": "Low", NO_DATA: "No data"}


def _tier_colour(value):
    return {
        TIERS["high"]: "background-color: #d1e7dd; color: #0f5132",
        TIERS["low"]: "background-color: #f8d7da; color: #842029",
    }.get(str(value), "")


st.dataframe(
    quality.assign(tier=quality["tier"].map(lambda t: TIERS.get(str(t), str(t))))
    .set_index("name")
    .rename_axis("Territory")
    .rename(
        columns={
            "leads": "Leads",
            "opportunities": "Opportunities",
            "new_accounts": "New accounts",
            "conversion_rate": "Conversion",
            "score": "Score",
            "rank": "Rank",
            "tier": "Tier",
        }
    )
    .style.format(
        {"Conversion": percent, "Score": lambda v: number(v, 2), "Rank": number}, na_rep="—"
    )
    .map(_tier_colour, subset=["Tier"]),
    width="stretch",
)

st.header("Account quality: net profit, not revenue")
accounts = account_quality(plan, names)
shift = default_min_shift(len(accounts))
flips = accounts[accounts["flip"] != ""]
down = int((accounts["flip"] == "down").sum())
up = len(flips) - down
st.caption(
    f"Accounts ranked by net profit (revenue − cost to serve). Highlighted: the {len(flips):,} "
    f"accounts whose rank moves by at least {shift} places (10% of the accounts) between the "
    f"revenue and the net-profit ranking — {down:,} fall (big revenue, expensive to serve), "
    f"{up:,} rise."
)
shown_columns = {
    "name": "Account",
    "territory": "Territory",
    "revenue": "Revenue",
    "cost": "Cost to serve",
    "net_profit": "Net profit",
    "margin": "Margin",
    "revenue_rank": "Rank by revenue",
    "profit_rank": "Rank by net profit",
    "rank_change": "Rank change",
    "flip": "Flip",
}


def _flip_rows(row):
    colour = {
        "down": "background-color: #f8d7da",
        "up": "background-color: #d1e7dd",
    }.get(row["Flip"], "")
    return [colour] * len(row)


def _account_table(frame: pd.DataFrame):
    renamed = frame[list(shown_columns)].rename(columns=shown_columns)
    return renamed.style.format(
        {
            "Revenue": money,
            "Cost to serve": money,
            "Net profit": money,
            "Margin": percent,
            "Rank change": signed_number,
            "Flip": lambda v: {"down": "Falls", "up": "Rises"}.get(v, ""),
        },
        na_rep="—",
    ).apply(_flip_rows, axis=1)


only_flips = st.toggle("Only the accounts whose rank flips", value=True, key="balance_only_flips")
listed = flips.sort_values("rank_change", key=abs, ascending=False) if only_flips else accounts
if listed.empty:
    st.info("No account's rank moves that far between revenue and net profit.")
else:
    # As tall as its rows (no empty grid lines), at most 420 px.
    rows = min(len(listed), 1000)
    st.dataframe(
        _account_table(listed.head(1000)),
        width="stretch",
        hide_index=True,
        height=min(420, 38 + 35 * rows),
    )
if len(listed) > 1000:
    st.caption(f"First 1,000 of {len(listed):,} accounts shown; the Excel export has them all.")

st.header("White space")
space = white_space(plan, names)
if space.empty:
    st.success("Every account is in a territory.")
else:
    a, b, c = st.columns(3)
    a.metric("Accounts in no territory", number(len(space)))
    b.metric("Their revenue", money(space["revenue"].sum()))
    c.metric("Their net profit", money(space["net_profit"].sum()))
    st.dataframe(
        space.rename(
            columns={
                "name": "Account",
                "revenue": "Revenue",
                "cost": "Cost to serve",
                "net_profit": "Net profit",
                "lat": "Latitude",
                "lon": "Longitude",
            }
        ).style.format(
            {
                "Revenue": money,
                "Cost to serve": money,
                "Net profit": money,
                "Latitude": lambda v: number(v, 4),
                "Longitude": lambda v: number(v, 4),
            },
            na_rep="—",
        ),
        width="stretch",
        hide_index=True,
    )

st.divider()
st.subheader("Report")
st.caption(
    f"The leadership report on {label}, band ± {stats.tolerance_pct:.0f}%: one HTML file with "
    "the map, the balance charts and the tables; open it and print to PDF. All exports are on "
    "the Export page."
)
left, _ = st.columns([1, 2])
with left:
    _review.download_button("html", key_prefix="balance_download", primary=True)
