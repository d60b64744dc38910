"""Tables shared by pages: formatting only, the figures come from terrmap.

Every figure a page shows goes through :mod:`terrmap.core.formatting` with the
working data set's currency; tables lead with names, never ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from pages import _state
from terrmap.core import formatting as fmt
from terrmap.core.balance import Balance
from terrmap.core.definition import region_rollup
from terrmap.core.metrics import MONEY_MEASURES
from terrmap.core.plan import Plan
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.io.exports import REGION_SUMS

#: Start of the name of a region roll-up row in the territory table.
REGION_ROW = "Region total: "

#: Metric column -> header, in the order the territory table shows them: what
#: a manager looks for first (rep, deviation, the last move) before the detail.
COLUMNS = {
    "rep": "Rep",
    "deviation": "Δ mean %",
    "quota_deviation": "Δ quota %",
    "moved_accounts": "Δ accounts (last move)",
    "moved_net_profit": "Δ net profit (last move)",
    "accounts": "Accounts",
    "revenue": "Revenue",
    "net_profit": "Net profit",
    "region": "Region",
    "pieces": "Pieces",
    "cost": "Cost to serve",
    "margin": "Margin",
    "workload_hours": "Workload h/yr",
    "utilisation": "Utilisation",
    "travel_hours": "Travel h/yr",
    "travel_km": "Travel km/yr",
    "conversion_rate": "Conversion",
}
MONEY_COLUMNS = ("Revenue", "Cost to serve", "Net profit")
#: Column names of library frames -> headers people read.
HEADERS = {
    "name": "Account",
    "territory": "Territory",
    "owner": "Owner",
    "revenue": "Revenue",
    "cost": "Cost to serve",
    "net_profit": "Net profit",
    "from_name": "From",
    "to_name": "To",
    "rep_before": "Rep before",
    "rep_after": "Rep after",
    "crm_owner": "CRM owner",
    "relationship_broken": "Relationship broken",
}


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Index the rows by account name and give the columns readable headers."""
    return frame.set_index("name").rename_axis(HEADERS["name"]).rename(columns=HEADERS)


def money(value: object) -> str:
    """An amount in the working data set's currency (``—`` when missing)."""
    return fmt.money(value, _state.currency())


def measure_value(measure: str, value: object) -> str:
    """A figure of a balance measure: money for money measures, else a number."""
    return money(value) if measure in MONEY_MEASURES else fmt.number(value)


def rep_label(rep_id: object, names: Mapping[str, str]) -> str:
    """A rep's name (their id when the data has no name, ``—`` for none)."""
    if rep_id is None or (not isinstance(rep_id, str) and pd.isna(rep_id)):
        return fmt.MISSING
    return names.get(str(rep_id), str(rep_id))


def territory_names(plan: Plan) -> dict[str | None, str]:
    """Territory id -> name, with ``None`` (white space) as the unassigned label."""
    ctx = plan.context
    names: dict[str | None, str] = {
        str(t): str(n) for t, n in zip(ctx.territory_ids, ctx.territory_names, strict=True)
    }
    names[None] = UNASSIGNED_LABEL
    return names


def changelog_table(plan: Plan, account_names: np.ndarray | None = None) -> pd.DataFrame:
    """The plan's change log as people read it: names, human times, readable headers.

    ``account_names`` is aligned with the plan's accounts (``MapData.names``);
    without it the account column shows ids.
    """
    log = plan.changelog()
    names = territory_names(plan)

    def territory(value: object) -> str:
        return names.get(None if value is None or pd.isna(value) else str(value), str(value))

    accounts = log["account_id"].astype(str).to_numpy(dtype=object)
    if account_names is not None and len(log):
        accounts = np.asarray(account_names, dtype=object)[plan.context.positions(accounts)]
    return pd.DataFrame(
        {
            "When": [fmt.timestamp(at) for at in log["at"]],
            "Who": [fmt.MISSING if not a else str(a) for a in log["author"]],
            "Account": [str(a) for a in accounts],
            "From": [territory(t) for t in log["from_territory"]],
            "To": [territory(t) for t in log["to_territory"]],
            "Note": [str(n) if n else "" for n in log["note"]],
        }
    )


def with_missing_text(
    frame: pd.DataFrame, formats: Mapping[str, Callable[[object], str]]
) -> tuple[pd.DataFrame, list[str]]:
    """The frame with each formatted column that has a missing value written as text.

    ``st.dataframe`` shows a missing cell as "None" whatever a Styler's
    ``na_rep`` says: such columns become their formatted text, ``—`` for the
    missing (the caller aligns them right). Returns the new frame and the
    columns turned to text; the input is not changed.
    """
    texts = [c for c in formats if c in frame.columns and frame[c].isna().any()]
    shown = frame.copy()
    for column in texts:
        shown[column] = [
            fmt.MISSING if pd.isna(value) else formats[column](value) for value in frame[column]
        ]
    return shown, texts


def styled_money(frame: pd.DataFrame, columns: Iterable[str] = MONEY_COLUMNS):
    """A Styler writing the given columns (those present) as money, ``—`` for missing."""
    present = [c for c in columns if c in frame.columns]
    return frame.style.format({c: money for c in present}, na_rep=fmt.MISSING)


def territory_table(
    metrics: pd.DataFrame,
    stats: Balance,
    previous: pd.DataFrame | None = None,
    *,
    quota_deviation: pd.Series | None = None,
    plan: Plan | None = None,
    rollup: bool = False,
):
    """A styled table of every territory, named, deviation coloured outside the band.

    The territory name is the index, which Streamlit pins at the left while
    the rest scrolls. ``previous`` (the figures before the last move) adds what
    the last move changed; ``quota_deviation`` (percent per territory id) adds
    the deviation from each territory's quota. A ``plan`` built on units adds
    its territories' pieces (more than one: an exclave, flagged) and, when
    its definition has regions, each territory's region; with ``rollup``, one
    roll-up row per region (named :data:`REGION_ROW` + region) follows the
    territories.
    """
    table = pd.DataFrame(index=metrics.index)
    rep_names = _state.rep_names()
    table["rep"] = [rep_label(r, rep_names) for r in metrics["rep_id"]]
    regions = None
    if plan is not None and plan.layout is not None:
        regions = plan.layout.regions.dropna()
        regions = regions if len(regions) else None
        if regions is not None:
            table["region"] = regions.reindex(metrics.index.astype(str)).to_numpy(
                dtype=object, na_value=None
            )
        if plan.layout.pairs is not None:
            table["pieces"] = plan.contiguity()["pieces"].reindex(metrics.index)
    table["deviation"] = stats.deviation_pct.reindex(metrics.index)
    if quota_deviation is not None:
        table["quota_deviation"] = quota_deviation.reindex(metrics.index)
    if previous is not None:
        table["moved_accounts"] = metrics["accounts"] - previous["accounts"].reindex(metrics.index)
        table["moved_net_profit"] = metrics["net_profit"] - previous["net_profit"].reindex(
            metrics.index
        )
    for column in COLUMNS:
        if column in metrics.columns and column not in table.columns:
            table[column] = metrics[column]
    table = table[[c for c in COLUMNS if c in table.columns]].rename(columns=COLUMNS)
    table.index = pd.Index(
        [str(n) if pd.notna(n) else str(t) for t, n in metrics["name"].items()], name="Territory"
    )
    if regions is not None and rollup:
        rolled = region_rollup(metrics, regions, [c for c in REGION_SUMS if c in metrics])
        rows = rolled.drop(columns="territories").rename(columns=COLUMNS)
        rows["Region"] = [fmt.count(int(n), "territory") for n in rolled["territories"]]
        rows.index = pd.Index([f"{REGION_ROW}{r}" for r in rolled.index], name="Territory")
        table = pd.concat([table, rows[[c for c in table.columns if c in rows.columns]]])
    band = stats.tolerance_pct

    def exclaves(value):
        return (
            "background-color: #fff3cd; color: #664d03; font-weight: bold"
            if (pd.notna(value) and value > 1)
            else ""
        )

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

    currency = _state.currency()
    formats = {
        "Revenue": money,
        "Cost to serve": money,
        "Net profit": money,
        "Accounts": fmt.number,
        "Pieces": lambda v: (
            fmt.MISSING if pd.isna(v) else (f"⚠ {int(v)} pieces" if v > 1 else fmt.number(v))
        ),
        "Margin": lambda v: fmt.percent(v, 1),
        "Travel km/yr": fmt.number,
        "Travel h/yr": fmt.number,
        "Workload h/yr": fmt.number,
        "Utilisation": fmt.percent,
        "Conversion": fmt.percent,
        "Δ mean %": fmt.signed_percent,
        "Δ quota %": fmt.signed_percent,
        "Δ accounts (last move)": fmt.signed_number,
        "Δ net profit (last move)": lambda v: fmt.signed_money(v, currency),
    }
    styler = table.style.format(
        {k: f for k, f in formats.items() if k in table.columns}, na_rep=fmt.MISSING
    )
    styler = styler.map(colour, subset=[c for c in ("Δ mean %", "Δ quota %") if c in table])
    if previous is not None:
        styler = styler.map(changed, subset=["Δ accounts (last move)", "Δ net profit (last move)"])
    if "Pieces" in table.columns:
        styler = styler.map(exclaves, subset=["Pieces"])
    return styler
