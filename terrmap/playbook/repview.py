"""Figures for one rep: what they hold, against the team, and their visit load.

A rep may hold several territories; their figures are added up. The *team
mean* is the mean over reps that hold at least one territory. Territories
without a rep are left out of both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrmap.core.metrics import utilisation
from terrmap.core.plan import Plan
from terrmap.core.schema import REP_ID
from terrmap.playbook.reps import territory_rep_ids

__all__ = [
    "REP_MEASURES",
    "WORKING_WEEKS",
    "rep_changes",
    "rep_comparison",
    "rep_figures",
    "rep_territories",
    "visit_load",
]

#: Measures compared with the team mean, with their labels.
REP_MEASURES: dict[str, str] = {
    "accounts": "Accounts",
    "revenue": "Revenue",
    "net_profit": "Net profit",
    "pipeline": "Potential (pipeline)",
    "visits": "Visits a year",
    "travel_km": "Travel km a year",
    "workload_hours": "Workload h a year",
    "utilisation": "Utilisation",
}

#: Selling weeks in a year, for visits per week.
WORKING_WEEKS = 46

_ADDITIVE = (
    "accounts",
    "revenue",
    "cost",
    "net_profit",
    "pipeline",
    "visits",
    "visit_hours",
    "travel_km",
    "travel_hours",
    "workload_hours",
    "leads",
    "opportunities",
    "new_accounts",
)


def rep_territories(plan: Plan, rep_id: str) -> list[str]:
    """Territory ids a rep holds, in territory order.

    Raises
    ------
    ValueError
        If the rep holds no territory (the message lists the reps that do).
    """
    reps = pd.Series(plan.context.territory_reps, index=plan.context.territory_ids, dtype=object)
    held = reps.index[reps.astype(str) == str(rep_id)].tolist()
    if not held:
        known = sorted({str(r) for r in reps.dropna()})
        raise ValueError(f"rep {rep_id!r} holds no territory; reps with territories: {known}")
    return held


def rep_figures(plan: Plan) -> pd.DataFrame:
    """Figures per rep, summed over the territories each holds.

    Parameters
    ----------
    plan : Plan
        The plan.

    Returns
    -------
    pandas.DataFrame
        Index ``rep_id``: ``territories`` (count) and the additive figures
        (accounts, revenue, cost, net profit, pipeline, visits, visit, travel
        and workload hours, travel km, leads, opportunities, new accounts),
        ``capacity_hours`` (the rep's, counted once) and ``utilisation``
        (workload ÷ capacity).
    """
    metrics = plan.metrics()
    held = metrics[metrics["rep_id"].notna()].copy()
    held["rep_id"] = held["rep_id"].astype(str)
    grouped = held.groupby("rep_id", sort=True)
    frame = grouped[list(_ADDITIVE)].sum()
    frame.insert(0, "territories", grouped.size())
    frame["capacity_hours"] = grouped["capacity_hours"].first()
    frame["utilisation"] = utilisation(frame["workload_hours"], frame["capacity_hours"])
    frame.index.name = REP_ID
    frame.attrs = {}
    return frame


def rep_comparison(plan: Plan, rep_id: str) -> pd.DataFrame:
    """Compare a rep's figures with the team mean.

    Parameters
    ----------
    plan : Plan
        The plan.
    rep_id : str
        The rep.

    Returns
    -------
    pandas.DataFrame
        One row per :data:`REP_MEASURES` entry (index: measure name):
        ``label``, ``rep``, ``team_mean`` and ``vs_mean_pct`` (the rep's
        deviation from the mean in percent; NaN when the mean is 0).

    Raises
    ------
    ValueError
        If the rep holds no territory.
    """
    rep_territories(plan, rep_id)
    figures = rep_figures(plan)
    rep = figures.loc[str(rep_id), list(REP_MEASURES)].astype(float)
    mean = figures[list(REP_MEASURES)].astype(float).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = np.where(mean != 0, (rep - mean) / mean * 100.0, np.nan)
    return pd.DataFrame(
        {
            "label": list(REP_MEASURES.values()),
            "rep": rep.to_numpy(),
            "team_mean": mean.to_numpy(),
            "vs_mean_pct": deviation,
        },
        index=pd.Index(list(REP_MEASURES), name="measure"),
    )


def visit_load(plan: Plan, rep_id: str) -> dict[str, float]:
    """How much visiting a rep's accounts takes.

    Parameters
    ----------
    plan : Plan
        The plan.
    rep_id : str
        The rep.

    Returns
    -------
    dict of str to float
        ``visits`` a year, ``visits_per_week`` (over :data:`WORKING_WEEKS`),
        ``visit_hours``, ``travel_hours``, ``workload_hours``,
        ``capacity_hours`` (NaN when unknown) and ``utilisation``.

    Raises
    ------
    ValueError
        If the rep holds no territory.
    """
    rep_territories(plan, rep_id)
    row = rep_figures(plan).loc[str(rep_id)]
    return {
        "visits": float(row["visits"]),
        "visits_per_week": float(row["visits"]) / WORKING_WEEKS,
        "visit_hours": float(row["visit_hours"]),
        "travel_hours": float(row["travel_hours"]),
        "workload_hours": float(row["workload_hours"]),
        "capacity_hours": float(row["capacity_hours"]),
        "utilisation": float(row["utilisation"]),
    }


def rep_changes(before: Plan, after: Plan, rep_id: str) -> pd.DataFrame:
    """Accounts a rep gains and loses from one plan to another ("what changed for you").

    A rep holds an account when the account's territory has that rep. Both
    plans must be over one context (the same accounts and territories).

    Parameters
    ----------
    before, after : Plan
        The reference (the baseline or a scenario) and the plan in force.
    rep_id : str
        The rep.

    Returns
    -------
    pandas.DataFrame
        Indexed by account id: ``change`` (``"gained"`` or ``"lost"``),
        ``from_territory`` and ``to_territory`` (ids, ``None`` for white
        space), ``revenue`` and ``net_profit``; gains first, each by revenue,
        largest first. Empty when nothing changed for the rep.

    Raises
    ------
    ValueError
        When the plans are over different contexts.

    Examples
    --------
    >>> rep_changes(plan, plan, "R1").empty  # doctest: +SKIP
    True
    """
    if before.context is not after.context:
        raise ValueError("the two plans are over different data (their contexts differ)")
    ctx = after.context
    reps = np.append(territory_rep_ids(ctx).to_numpy(dtype=object), None)
    old, new = before.codes, after.codes
    rep_before = reps[np.where(old < 0, ctx.n_territories, old)]
    rep_after = reps[np.where(new < 0, ctx.n_territories, new)]
    rep = str(rep_id)
    gained = (rep_after == rep) & (rep_before != rep)
    lost = (rep_before == rep) & (rep_after != rep)
    rows = np.flatnonzero(gained | lost)
    ids = np.append(np.asarray(ctx.territory_ids, dtype=object), None).astype(object)
    frame = pd.DataFrame(
        {
            "change": np.where(gained[rows], "gained", "lost"),
            "from_territory": ids[np.where(old[rows] < 0, ctx.n_territories, old[rows])],
            "to_territory": ids[np.where(new[rows] < 0, ctx.n_territories, new[rows])],
            "revenue": np.asarray(ctx.revenue, dtype=float)[rows],
            "net_profit": (np.asarray(ctx.revenue, dtype=float) - np.asarray(ctx.cost))[rows],
        },
        index=pd.Index(ctx.account_ids[rows], name="account_id"),
    )
    frame["_gain_first"] = frame["change"] != "gained"
    frame = frame.sort_values(["_gain_first", "revenue"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_gain_first")
