"""Territory tables shared by pages: formatting only, the figures come from terrmap."""

from __future__ import annotations

import pandas as pd

from terrmap.core.balance import Balance

COLUMNS = {
    "name": "Territory",
    "rep_id": "Rep",
    "accounts": "Accounts",
    "revenue": "Revenue",
    "cost": "Cost to serve",
    "net_profit": "Net profit",
    "margin": "Margin",
    "travel_km": "Travel km/yr",
    "travel_hours": "Travel h/yr",
    "workload_hours": "Workload h/yr",
    "utilisation": "Utilisation",
    "conversion_rate": "Conversion",
    "deviation": "Δ mean %",
}


def territory_table(metrics: pd.DataFrame, stats: Balance, previous: pd.DataFrame | None = None):
    """A styled table of every territory, deviation coloured outside the band.

    ``previous`` (the figures before the last move) adds the change of the
    balance measure so the effect of a move is visible.
    """
    table = metrics[[c for c in COLUMNS if c in metrics.columns and c != "deviation"]].copy()
    table.attrs = {}  # the unassigned row rides in attrs; pandas compares attrs on copy
    table["deviation"] = stats.deviation_pct
    if previous is not None:
        delta = metrics["net_profit"] - previous["net_profit"].reindex(metrics.index)
        accounts_delta = metrics["accounts"] - previous["accounts"].reindex(metrics.index)
        table["Δ accounts (last move)"] = accounts_delta.astype("Int64")
        table["Δ net profit (last move)"] = delta
    table = table.rename(columns=COLUMNS)
    band = stats.tolerance_pct

    def colour(value):
        if pd.isna(value):
            return ""
        return (
            "background-color: #f8d7da; color: #842029"
            if abs(value) > band + 1e-9
            else "background-color: #d1e7dd"
        )

    def changed(value):
        return (
            "font-weight: bold; color: #0b5394" if pd.notna(value) and value != 0 else "color: #999"
        )

    money = "${:,.0f}"
    styler = table.style.format(
        {
            "Revenue": money,
            "Cost to serve": money,
            "Net profit": money,
            "Margin": "{:.1%}",
            "Travel km/yr": "{:,.0f}",
            "Travel h/yr": "{:,.0f}",
            "Workload h/yr": "{:,.0f}",
            "Utilisation": "{:.0%}",
            "Conversion": "{:.0%}",
            "Δ mean %": "{:+.1f}%",
            "Δ net profit (last move)": "{:+,.0f}",
        },
        na_rep="–",
    ).map(colour, subset=["Δ mean %"])
    if previous is not None:
        styler = styler.map(changed, subset=["Δ accounts (last move)", "Δ net profit (last move)"])
    return styler
