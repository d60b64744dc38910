"""Goals: quotas adding up to the company target, KPIs, qualitative notes."""

import pandas as pd
import streamlit as st

from pages import _state
from pages._tables import money, with_missing_text
from terrmap.core.formatting import (
    MISSING,
    currency_symbol,
    number,
    percent,
    signed_number,
    signed_percent,
)
from terrmap.playbook.goals import (
    QUOTA_METHODS,
    adjust_quotas,
    allocate,
    quota_basis,
    revenue_by_product,
    suggested_target,
    territory_kpis,
)

_state.page_setup()


def growth(value: object) -> str:
    """A growth rate (fraction) with its sign and one decimal: ``+3.4%``."""
    return signed_percent(None if pd.isna(value) else float(value) * 100)


ws = _state.workspace()
plan = _state.plan()
metrics = plan.metrics()
names = pd.Series(metrics["name"].to_numpy(), index=metrics.index)

st.title("Goals")
symbol = currency_symbol(_state.currency())

# ---------------------------------------------------------------- quotas
st.subheader("Quotas per territory")
left, middle, right = st.columns(3)
method = left.selectbox(
    "Method", list(QUOTA_METHODS), format_func=QUOTA_METHODS.get, key="goals_method"
)
growth_pct = 0.0
if method == "last_year_growth":
    growth_pct = middle.number_input(
        "Growth on last year %", -99.0, 500.0, 5.0, 0.5, key="goals_growth"
    )
try:
    basis = quota_basis(metrics, method, growth_pct / 100)
    default_target = suggested_target(metrics, method, growth_pct / 100)
except ValueError as error:
    st.error(f"{error}. Choose another method.")
    st.stop()
target = right.number_input(
    f"Company target ({symbol})",
    min_value=0.0,
    value=default_target,
    step=100_000.0,
    format="%.0f",
    key=f"goals_target_{method}_{growth_pct:g}",
)
target = float(round(target))
right.caption(f"{money(target)}")
proposed = allocate(basis, target)
st.caption(
    "Quotas are rounded to whole units by the largest-remainder method, so they add up to the "
    "target exactly. Type over a quota to fix it: the territories you did not change are "
    "re-scaled so that the total stays the target (the KPI table below shows the result)."
)
editor = st.data_editor(
    pd.DataFrame({"Territory": names, "Proposed quota": proposed, "Your quota": proposed}),
    disabled=["Territory", "Proposed quota"],
    hide_index=True,
    column_config={
        "Proposed quota": st.column_config.NumberColumn(
            f"Proposed quota ({symbol})", format="localized"
        ),
        "Your quota": st.column_config.NumberColumn(
            f"Your quota ({symbol})", min_value=0.0, format="localized"
        ),
    },
    width="stretch",
    key=f"goals_editor_{method}_{target:.0f}_{growth_pct}",
)
typed = editor["Your quota"]
# A quota counts as typed where it differs from the proposal (an emptied cell: not typed).
edits = typed[typed.notna() & ((typed - proposed).abs() > 0.5)].to_dict()
try:
    quotas = adjust_quotas(proposed, edits, target)
except ValueError as error:
    st.error(str(error))
    quotas = proposed
total = quotas.sum()
if abs(total - target) > 0.5:
    st.warning(f"Every quota is typed: they add up to {money(total)}, target {money(target)}.")
else:
    st.success(f"Quotas add up to the company target: {money(total)}.")
_state.quotas().clear()
_state.quotas().update({str(t): float(q) for t, q in quotas.items()})

# ---------------------------------------------------------------- KPIs
st.subheader("KPIs per territory")
kpis = territory_kpis(ws.accounts, plan, ws.reps, quotas)
total_row = kpis.loc["total"]
cols = st.columns(4)
cols[0].metric("Revenue", money(total_row["revenue"]))
cols[1].metric("Net profit", money(total_row["net_profit"]))
cols[2].metric("YoY growth (like for like)", growth(total_row["yoy_growth"]))
cols[3].metric("Reps at quota", percent(total_row["rep_at_quota"]))
st.caption(
    f"{MISSING} means the data lacks the input (no lifetime value, acquisition cost or NPS "
    "answers, no last year's revenue), never zero. Year-over-year growth compares like for like: "
    "the accounts with last year's revenue. NPS: % promoters (9–10) − % detractors (0–6)."
)
kpi_formats = {
    "Revenue": money,
    "Revenue, new customers": money,
    "Revenue, existing customers": money,
    "Net profit": money,
    "YoY growth": growth,
    "CLV / CAC": lambda v: number(v, 2),
    "NPS": signed_number,
    "Reps at quota": percent,
    "Quota": money,
    "Revenue / quota": percent,
}
kpi_table, as_text = with_missing_text(
    kpis.set_axis(pd.Index([*kpis["name"].iloc[:-1].astype(str), "Total"], name="Territory"))
    .drop(columns=["name"])
    .rename(
        columns={
            "revenue": "Revenue",
            "revenue_new": "Revenue, new customers",
            "revenue_existing": "Revenue, existing customers",
            "net_profit": "Net profit",
            "yoy_growth": "YoY growth",
            "clv_to_cac": "CLV / CAC",
            "nps": "NPS",
            "rep_at_quota": "Reps at quota",
            "quota": "Quota",
            "revenue_to_quota": "Revenue / quota",
        }
    ),
    kpi_formats,
)
st.dataframe(
    kpi_table.style.format(
        {c: f for c, f in kpi_formats.items() if c not in as_text}, na_rep=MISSING
    ),
    column_config={c: st.column_config.Column(alignment="right") for c in as_text},
    width="stretch",
    height=min((len(kpis) + 1) * 35 + 3, 800),
    key="goals_kpis",
)
products = revenue_by_product(ws.accounts, plan)
with st.expander("Revenue per product"):
    if products.empty or products.shape[1] == 0:
        st.info("The data lists no products.")
    else:
        st.caption(
            "Revenue of the accounts buying each product: an account with several products "
            "counts in each, so a row does not add up to the territory's revenue."
        )
        st.dataframe(
            products.set_axis(names.reindex(products.index)).style.format(money),
            width="stretch",
        )

# ---------------------------------------------------------------- notes
st.subheader("Qualitative goals")
st.caption("Notes per territory (brand loyalty, satisfaction, expansion); saved with the scenario.")
notes = _state.goal_notes()
edited_notes = st.data_editor(
    pd.DataFrame(
        {"Territory": names, "Note": [notes.get(str(t), "") for t in metrics.index]},
        index=metrics.index,
    ),
    disabled=["Territory"],
    hide_index=True,
    column_config={"Note": st.column_config.TextColumn(width="large")},
    width="stretch",
    key="goals_notes_editor",
)
for territory, text in edited_notes["Note"].items():
    text = "" if pd.isna(text) else str(text).strip()
    if text:
        notes[str(territory)] = text
    else:
        notes.pop(str(territory), None)
