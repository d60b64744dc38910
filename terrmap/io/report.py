"""The leadership report: one self-contained HTML file, printable to PDF.

:func:`report_html` puts on one page what leadership reviews: headline
fairness figures, a map of the territory shapes and accounts, balance bars
with the tolerance band for the chosen measure (or weighted mix) and for
revenue, net profit and workload, the territory table, territory quality,
the accounts whose ranking flips between revenue and net profit, and the
white space.

The file makes no request when opened: CSS is inline, the map and charts are
inline SVG, there are no scripts, fonts or links. Every text taken from data
is escaped. Print CSS (A4 landscape, no section split across pages, table
headers repeated) makes the browser's "Print to PDF" give clean pages.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from terrmap.core.balance import Balance, balance
from terrmap.core.formatting import (
    MISSING,
    count,
    money,
    number,
    percent,
    signed_percent,
    timestamp,
)
from terrmap.core.metrics import MONEY_MEASURES
from terrmap.core.plan import Plan
from terrmap.geo.drawing import map_data, plan_shapes
from terrmap.geo.workspace import Workspace
from terrmap.io.svg import balance_bars_svg, territory_map_svg
from terrmap.playbook.quality import (
    account_quality,
    default_min_shift,
    measure_label,
    measure_values,
    territory_quality,
    white_space,
)

__all__ = ["REPORT_MEASURES", "report_html"]

#: Measures charted in every report besides the one chosen.
REPORT_MEASURES: tuple[str, ...] = ("revenue", "net_profit", "workload_hours")

_CSS = """
:root { --ink: #1d1d1d; --muted: #5f6368; --line: #d0d4d9; --bad: #c0392b; --ok: #1b7a43; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 2px solid var(--ink); padding-bottom: 3px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
.meta, .note { color: var(--muted); font-size: 12.5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px;
  margin: 14px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 22px; font-weight: 650; }
.card.bad .value { color: var(--bad); }
.card.good .value { color: var(--ok); }
svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 6px; text-align: right; }
th { background: #f1f3f4; font-weight: 600; }
td.text, th.text { text-align: left; }
tr.outside td { background: #fbe3e1; }
td.bad { color: var(--bad); font-weight: 600; }
td.tier-high { color: var(--ok); font-weight: 600; }
td.tier-low { color: var(--bad); font-weight: 600; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; }
  section, .card, svg, tr { break-inside: avoid; }
  section.page { break-before: page; }
  thead { display: table-header-group; }
  .cards { grid-template-columns: repeat(6, 1fr); }
  h1 { font-size: 18px; }
  h2 { font-size: 14px; margin: 10px 0 4px; }
  .cards { margin: 6px 0; gap: 6px; }
  .card { padding: 4px 8px; }
  .card .value { font-size: 16px; }
  svg.map { max-height: 110mm; width: auto; margin: 0 auto; }
  svg.bars { max-height: 85mm; width: auto; }
}
"""


def report_html(
    plan: Plan,
    workspace: Workspace,
    *,
    measure: str | Mapping[str, float] = "revenue",
    tolerance_pct: float = 10.0,
    shapes: gpd.GeoDataFrame | None = None,
    colors: list[str] | None = None,
    title: str = "Territory balance review",
    generated_at: datetime | None = None,
    top_accounts: int = 15,
    currency: str | None = None,
) -> bytes:
    """Write the leadership report for a plan.

    Parameters
    ----------
    plan : Plan
        The plan to report on.
    workspace : Workspace
        The data the plan was made from.
    measure : str or mapping of str to float, default "revenue"
        The measure balance is judged on, or measure → weight for a mix.
    tolerance_pct : float, default 10
        Half-width of the balanced band around the mean, in percent.
    shapes : geopandas.GeoDataFrame, optional
        The plan's territory shapes (computed when omitted).
    colors : list of str, optional
        Colour per territory (the map's; computed when omitted).
    title : str
        Heading of the report (escaped).
    generated_at : datetime, optional
        Time stamp printed in the report; now (UTC) when omitted.
    top_accounts : int, default 15
        Rows in each list of flipped accounts and in the white-space list.
    currency : str, optional
        ISO code of the money figures; the workspace's when it has one, else USD.

    Returns
    -------
    bytes
        A UTF-8 HTML document.

    Raises
    ------
    ValueError
        For a plan of another workspace, an unknown measure or a negative
        tolerance.
    """
    if plan.context is not workspace.context:
        raise ValueError("the plan was not made from this workspace (its context differs)")
    if tolerance_pct < 0:
        raise ValueError(f"tolerance_pct must be >= 0, got {tolerance_pct!r}")
    metrics = plan.metrics()
    chosen = measure_values(metrics, measure)
    stats = balance(chosen, tolerance_pct)
    if shapes is None or colors is None:
        data = map_data(workspace)
        shapes = plan_shapes(plan, data) if shapes is None else shapes
        colors = data.colors if colors is None else colors
    names = _account_names(workspace)
    labels = metrics["name"].astype(str)
    stamp = timestamp(generated_at or datetime.now(UTC))
    if currency is None:
        currency = getattr(workspace, "currency", None)
    unassigned = metrics.attrs["unassigned"]

    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{_e(workspace.name)} · {count(plan.context.n_accounts, "account")} · '
        f"{count(plan.context.n_territories, 'territory')} · "
        f"{count(len(plan.moves), 'move')} from the starting plan · generated {_e(stamp)}</p>",
        _headline(stats, measure, len(metrics), unassigned, currency),
        _map_section(plan, shapes, colors, labels),
        _balance_section(metrics, measure, chosen, stats, labels, currency),
        _territory_section(metrics, stats, _rep_names(workspace), currency),
        _quality_section(metrics, tolerance_pct),
        _accounts_section(plan, names, top_accounts, currency),
        _white_space_section(plan, names, top_accounts, currency),
    ]
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    return document.encode("utf-8")


# ---------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ratio(value: float) -> str:
    return number(value, 2)


def _formatter(measure: str | Mapping[str, float], currency: str | None):
    if not isinstance(measure, str):
        return _ratio
    if measure in MONEY_MEASURES:
        return lambda value: money(value, currency)
    return number


def _rep_names(workspace: Workspace) -> dict[str, str]:
    reps = workspace.reps
    if reps is None or "name" not in reps.columns:
        return {}
    return {str(rep): str(name) for rep, name in reps["name"].dropna().items()}


def _account_names(workspace: Workspace) -> pd.Series | None:
    if "name" not in workspace.accounts.columns:
        return None
    names = workspace.accounts["name"].astype(object)
    names.index = names.index.astype(str)
    return names


def _card(label: str, value: str, state: str = "") -> str:
    return (
        f'<div class="card {state}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div></div>'
    )


def _headline(stats: Balance, measure, n: int, unassigned: pd.Series, currency) -> str:
    outside = len(stats.outside)
    cards = [
        _card(
            f"Outside ±{stats.tolerance_pct:g}%",
            f"{outside} of {n}",
            "bad" if outside else "good",
        ),
        _card("Max / min", _ratio(stats.max_over_min)),
        _card("Max / mean", _ratio(stats.max_over_mean)),
        _card("Coefficient of variation", _ratio(stats.cv)),
        _card("Gini", _ratio(stats.gini)),
        _card(
            "White space",
            f"{number(unassigned['accounts'])} · {money(float(unassigned['revenue']), currency)}",
            "bad" if unassigned["accounts"] else "good",
        ),
    ]
    return (
        f"<section><h2>Headline: balance on {_e(measure_label(measure))}</h2>"
        f'<div class="cards">{"".join(cards)}</div></section>'
    )


def _map_section(plan: Plan, shapes: gpd.GeoDataFrame, colors, labels: pd.Series) -> str:
    context = plan.context
    ordered = shapes.reindex(context.territory_ids)
    if "name" not in ordered.columns:
        ordered = ordered.assign(name=labels.reindex(context.territory_ids).to_numpy())
    svg, drawn = territory_map_svg(
        ordered, list(colors), np.asarray(context.lon), np.asarray(context.lat), plan.codes
    )
    legend = "".join(
        f'<span><i class="swatch" style="background:{colour}"></i>{_e(name)}</span>'
        for name, colour in zip(labels.reindex(context.territory_ids), colors, strict=True)
    )
    thinned = (
        f" Every account is drawn ({drawn:,})."
        if drawn == context.n_accounts
        else f" {drawn:,} of {context.n_accounts:,} accounts drawn (evenly thinned)."
    )
    return (
        "<section><h2>Map</h2>"
        f'{svg}<p class="legend note">{legend}</p>'
        '<p class="note">Territory shapes follow the assignment: each is the area closer to '
        "its own accounts than to anyone else's. Hollow grey dots are accounts in no territory."
        f"{thinned}</p></section>"
    )


def _balance_section(metrics, measure, chosen: pd.Series, stats: Balance, labels, currency) -> str:
    charts = [(measure, chosen, stats)]
    for other in REPORT_MEASURES:
        if other != measure:
            values = metrics[other].astype(float)
            charts.append((other, values, balance(values, stats.tolerance_pct)))
    rows = []
    blocks = []
    for name, values, result in charts:
        blocks.append(
            f"<h3>{_e(measure_label(name))}</h3>"
            + balance_bars_svg(
                values, labels, result.tolerance_pct, value_format=_formatter(name, currency)
            )
        )
        rows.append(
            f'<tr><td class="text">{_e(measure_label(name))}</td>'
            f"<td>{_formatter(name, currency)(result.mean)}</td>"
            f"<td>{_ratio(result.max_over_mean)}</td><td>{_ratio(result.min_over_mean)}</td>"
            f"<td>{_ratio(result.max_over_min)}</td><td>{_ratio(result.cv)}</td>"
            f"<td>{_ratio(result.gini)}</td>"
            f'<td class="{"bad" if len(result.outside) else ""}">{len(result.outside)}</td></tr>'
        )
    table = (
        '<table><thead><tr><th class="text">Measure</th><th>Mean</th><th>Max/mean</th>'
        "<th>Min/mean</th><th>Max/min</th><th>CV</th><th>Gini</th><th>Outside band</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return (
        '<section class="page"><h2>Balance</h2>'
        f'<p class="note">One bar per territory; the green band is the mean ±'
        f"{stats.tolerance_pct:g}%, the dark line the mean. Red bars (▲ above, ▼ below) are "
        f"outside the band.</p>{table}{''.join(blocks)}</section>"
    )


def _territory_section(metrics: pd.DataFrame, stats: Balance, reps: dict, currency) -> str:
    head = (
        '<thead><tr><th class="text">Territory</th><th class="text">Rep</th><th>Accounts</th>'
        "<th>Revenue</th><th>Cost to serve</th><th>Net profit</th><th>Margin</th>"
        "<th>Travel km/yr</th><th>Workload h/yr</th><th>Utilisation</th><th>Δ mean %</th>"
        "</tr></thead>"
    )
    rows = []
    for territory, row in metrics.iterrows():
        dev = float(stats.deviation_pct.loc[territory])
        outside = territory in stats.outside
        rep = reps.get(str(row["rep_id"]), row["rep_id"]) if pd.notna(row["rep_id"]) else MISSING
        rows.append(
            f'<tr class="{"outside" if outside else ""}">'
            f'<td class="text">{_e(row["name"])}</td><td class="text">{_e(rep)}</td>'
            f"<td>{number(row['accounts'])}</td><td>{money(row['revenue'], currency)}</td>"
            f"<td>{money(row['cost'], currency)}</td><td>{money(row['net_profit'], currency)}</td>"
            f"<td>{percent(row['margin'], 1)}</td><td>{number(row['travel_km'])}</td>"
            f"<td>{number(row['workload_hours'])}</td><td>{percent(row['utilisation'])}</td>"
            f'<td class="{"bad" if outside else ""}">'
            f"{signed_percent(dev)}</td></tr>"
        )
    return (
        f"<section><h2>Territories</h2><table>{head}<tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Travel is the tour-based estimate; workload = visit hours + travel '
        "hours; utilisation = workload ÷ the rep's capacity hours.</p></section>"
    )


def _quality_section(metrics: pd.DataFrame, band_pct: float) -> str:
    quality = territory_quality(metrics, band_pct)
    rows = "".join(
        f'<tr><td>{number(row["rank"])}</td><td class="text">{_e(row["name"])}</td>'
        f"<td>{int(row['leads']):,}</td><td>{int(row['opportunities']):,}</td>"
        f"<td>{int(row['new_accounts']):,}</td><td>{percent(row['conversion_rate'])}</td>"
        f"<td>{number(row['score'], 2)}</td>"
        f'<td class="text tier-{_e(row["tier"])}">{_e(row["tier"])}</td></tr>'
        for _, row in quality.iterrows()
    )
    return (
        "<section><h2>Territory quality</h2><table><thead><tr><th>Rank</th>"
        '<th class="text">Territory</th><th>Leads</th><th>Opportunities</th>'
        '<th>New accounts</th><th>Conversion</th><th>Score</th><th class="text">Tier</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
        '<p class="note">Score: leads, opportunities, new accounts and conversion rate (new '
        "accounts ÷ leads), each divided by its mean over territories, averaged; 1.00 is the "
        f"team mean. High ≥ {1 + band_pct / 100:.2f}, low ≤ {1 - band_pct / 100:.2f}, medium "
        "between.</p></section>"
    )


def _account_rows(frame: pd.DataFrame, currency) -> str:
    return "".join(
        f'<tr><td class="text">{_e(row["name"])}</td><td class="text">{_e(row["territory"])}</td>'
        f"<td>{money(row['revenue'], currency)}</td><td>{money(row['cost'], currency)}</td>"
        f"<td>{money(row['net_profit'], currency)}</td><td>{int(row['revenue_rank']):,}</td>"
        f"<td>{int(row['profit_rank']):,}</td><td>{int(row['rank_change']):+,}</td></tr>"
        for _, row in frame.iterrows()
    )


def _accounts_section(plan: Plan, names: pd.Series | None, top: int, currency) -> str:
    quality = account_quality(plan, names)
    down = quality[quality["flip"] == "down"].sort_values("rank_change", kind="stable").head(top)
    up = quality[quality["flip"] == "up"].sort_values("rank_change", ascending=False, kind="stable")
    up = up.head(top)
    head = (
        '<thead><tr><th class="text">Account</th><th class="text">Territory</th>'
        "<th>Revenue</th><th>Cost to serve</th><th>Net profit</th><th>Rank by revenue</th>"
        "<th>Rank by net profit</th><th>Change</th></tr></thead>"
    )
    n_down = int((quality["flip"] == "down").sum())
    n_up = int((quality["flip"] == "up").sum())
    return (
        '<section class="page"><h2>Account quality: net profit, not revenue</h2>'
        f'<p class="note">Accounts ranked by net profit (revenue − cost to serve). {n_down:,} '
        f"accounts fall and {n_up:,} rise by at least {default_min_shift(plan.context.n_accounts)} places against their "
        "revenue rank.</p>"
        f"<h3>Big revenue, expensive to serve (worth less than their revenue says)</h3>"
        f"<table>{head}<tbody>{_account_rows(down, currency)}</tbody></table>"
        f"<h3>Worth more than their revenue says</h3>"
        f"<table>{head}<tbody>{_account_rows(up, currency)}</tbody></table></section>"
    )


def _white_space_section(plan: Plan, names: pd.Series | None, top: int, currency) -> str:
    space = white_space(plan, names)
    if space.empty:
        return "<section><h2>White space</h2><p>Every account is in a territory.</p></section>"
    rows = "".join(
        f'<tr><td class="text">{_e(account)}</td><td class="text">{_e(row["name"])}</td>'
        f"<td>{money(row['revenue'], currency)}</td><td>{money(row['net_profit'], currency)}</td></tr>"
        for account, row in space.head(top).iterrows()
    )
    return (
        f"<section><h2>White space</h2><p>{count(len(space), 'account')} in no territory, revenue "
        f"{money(float(space['revenue'].sum()), currency)}, net profit "
        f"{money(float(space['net_profit'].sum()), currency)}. Largest by revenue:</p>"
        '<table><thead><tr><th class="text">Account id</th><th class="text">Name</th>'
        f"<th>Revenue</th><th>Net profit</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
