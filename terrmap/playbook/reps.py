"""Reps against the plan: KPIs, rep-territory fit, a better matching, capacity.

KPIs
    The reps file's own figures (accounts held, new contacts, conversion
    rates, conversations, annual contract value, quota, experience) next to
    what the plan gives each rep: territories, accounts, revenue, workload.
    Attainment is annual contract value over quota (missing without a quota).
Fit flags
    *Key accounts with a junior rep*: the top ``key_share`` of accounts by net
    profit are key accounts; a territory holding key accounts whose rep has
    less experience than the median rep is flagged. *Relationship moved*: an
    account whose owner (the rep holding the relationship) is not the rep of
    the territory the plan puts it in.
Matching
    A fit score in [0, 1] for every rep and territory, the weighted mean of
    three parts: *relationship* (share of the territory's revenue in accounts
    the rep owns), *seniority* (1 minus the gap between the rep's experience
    percentile and the territory's net-profit percentile, so senior reps go
    to the largest territories) and *proximity* (1 minus the distance from
    the rep's home to the territory's revenue-weighted centre, over the
    largest such distance). :func:`suggest_matching` maximises the total
    score with the Hungarian method (``scipy.optimize.linear_sum_assignment``).
Capacity
    A rep's workload is the visit hours plus travel hours of the territories
    they hold (``Plan.metrics()``). Over capacity: workload above capacity;
    under-loaded: below ``under_share`` of capacity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.typing import DataFrameGroupBy
from scipy.optimize import linear_sum_assignment

from terrmap.core.context import Context
from terrmap.core.metrics import utilisation
from terrmap.core.plan import Plan
from terrmap.core.schema import REP_FIGURES
from terrmap.core.travel import haversine_km

__all__ = [
    "FIT_WEIGHTS",
    "KPI_COLUMNS",
    "capacity_check",
    "fit_scores",
    "junior_on_key_accounts",
    "relationship_moves",
    "rep_kpis",
    "suggest_matching",
    "territory_rep_ids",
]

#: KPI columns read from the reps frame (missing columns show as missing):
#: the schema's rep figures, capacity last.
KPI_COLUMNS: tuple[str, ...] = (
    *(column for column in REP_FIGURES if column != "capacity_hours"),
    "capacity_hours",
)

#: Default weights of the fit score's parts.
FIT_WEIGHTS: dict[str, float] = {"relationship": 1.0, "seniority": 1.0, "proximity": 1.0}


def _reps_column(reps: pd.DataFrame, column: str) -> pd.Series:
    if column in reps.columns:
        return pd.to_numeric(reps[column], errors="coerce").astype(float)
    return pd.Series(np.nan, index=reps.index, dtype=float)


def _rep_index(reps: pd.DataFrame) -> pd.DataFrame:
    frame = reps.copy()
    frame.index = pd.Index(frame.index.astype(str), name="rep_id")
    if frame.index.has_duplicates:
        raise ValueError(f"duplicate rep ids: {list(frame.index[frame.index.duplicated()][:5])}")
    return frame


def territory_rep_ids(context: Context) -> pd.Series:
    """Rep id of each territory, as a string.

    Every page and table that matches territories to reps reads them here, so
    a missing rep (``None`` or NaN in the data) is ``None`` everywhere.

    Parameters
    ----------
    context : Context
        The accounts and territories.

    Returns
    -------
    pandas.Series of str or None
        Indexed by territory id.
    """
    reps = pd.Series(context.territory_reps, index=context.territory_ids, dtype=object)
    return reps.map(lambda r: None if r is None or pd.isna(r) else str(r))


def _reps_and_holdings(
    reps: pd.DataFrame, plan: Plan
) -> tuple[pd.DataFrame, DataFrameGroupBy, pd.DataFrame]:
    """Reps by rep id, the plan's territory metrics grouped by rep, and the reps' names.

    The names frame (indexed by rep id, one ``name`` column) is what a per-rep
    table is built on.
    """
    frame = _rep_index(reps)
    metrics = plan.metrics()
    metrics["rep_id"] = territory_rep_ids(plan.context)
    held = metrics.dropna(subset=["rep_id"]).groupby("rep_id", sort=False)
    out = pd.DataFrame(index=frame.index)
    out["name"] = frame["name"].astype(object) if "name" in frame.columns else frame.index
    return frame, held, out


def _territory_names(held: DataFrameGroupBy, rep_ids: pd.Index) -> pd.Series:
    """Names of the territories each rep holds, comma separated (empty for none)."""
    return held["name"].agg(", ".join).reindex(rep_ids).fillna("")


def rep_kpis(reps: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Each rep's KPIs from the reps frame and what the plan gives them.

    Parameters
    ----------
    reps : pandas.DataFrame
        Reps indexed by rep id (see :mod:`terrmap.core.schema`).
    plan : Plan
        The plan in force.

    Returns
    -------
    pandas.DataFrame
        Indexed by rep id: ``name``, the :data:`KPI_COLUMNS`, ``attainment``
        (annual contract value / quota), ``territories`` (names, comma
        separated, empty for none), ``plan_accounts``, ``plan_revenue``,
        ``plan_net_profit``, ``workload_hours`` (NaN for a rep without a
        territory), ``utilisation``. Missing inputs stay NaN.
    """
    frame, held, out = _reps_and_holdings(reps, plan)
    for column in KPI_COLUMNS:
        out[column] = _reps_column(frame, column)
    quota = out["quota"].where(out["quota"] > 0)
    out["attainment"] = out["annual_contract_value"] / quota
    out["territories"] = _territory_names(held, out.index)
    out["plan_accounts"] = held["accounts"].sum().reindex(out.index).fillna(0).astype(np.int64)
    out["plan_revenue"] = held["revenue"].sum().reindex(out.index).fillna(0.0)
    out["plan_net_profit"] = held["net_profit"].sum().reindex(out.index).fillna(0.0)
    out["workload_hours"] = held["workload_hours"].sum().reindex(out.index)
    out["utilisation"] = utilisation(out["workload_hours"], out["capacity_hours"])
    return out


def capacity_check(reps: pd.DataFrame, plan: Plan, under_share: float = 0.7) -> pd.DataFrame:
    """Workload against capacity per rep, with a status and the reason.

    Parameters
    ----------
    reps : pandas.DataFrame
        Reps indexed by rep id with ``capacity_hours``.
    plan : Plan
        The plan in force.
    under_share : float
        A rep below this share of capacity is under-loaded.

    Returns
    -------
    pandas.DataFrame
        Indexed by rep id: ``name, territories, accounts, visits,
        visit_hours, travel_hours, workload_hours, capacity_hours,
        utilisation, status, reason``. ``status`` is ``"over"``,
        ``"under"``, ``"ok"``, ``"no territory"`` or ``"no capacity"``;
        sorted by utilisation, highest first.

    Raises
    ------
    ValueError
        If ``under_share`` is not in (0, 1].
    """
    if not 0 < under_share <= 1:
        raise ValueError(f"under_share must lie in (0, 1], got {under_share!r}")
    frame, held, out = _reps_and_holdings(reps, plan)
    out["territories"] = _territory_names(held, out.index)
    for column in ("accounts", "visits", "visit_hours", "travel_hours", "workload_hours"):
        out[column] = held[column].sum().reindex(out.index)
    out["capacity_hours"] = _reps_column(frame, "capacity_hours")
    capacity = out["capacity_hours"].where(out["capacity_hours"] > 0)
    out["utilisation"] = utilisation(out["workload_hours"], out["capacity_hours"])
    has_territory = out["territories"] != ""
    status = np.select(
        [
            ~has_territory,
            capacity.isna(),
            out["utilisation"] > 1,
            out["utilisation"] < under_share,
        ],
        ["no territory", "no capacity", "over", "under"],
        default="ok",
    )
    out["status"] = status
    out["reason"] = [_reason(row) for row in out.itertuples()]
    return out.sort_values("utilisation", ascending=False, na_position="last")


def _reason(row) -> str:
    if row.status in ("no territory", "no capacity"):
        return ""
    excess = row.workload_hours - row.capacity_hours
    main = "visits" if row.visit_hours >= row.travel_hours else "travel"
    parts = (
        f"{row.visits:,.0f} visits = {row.visit_hours:,.0f} h on site, "
        f"{row.travel_hours:,.0f} h driving; mostly {main}"
    )
    if row.status == "over":
        return f"{excess:,.0f} h over capacity: {parts}"
    if row.status == "under":
        return f"{-excess:,.0f} h spare: {parts}"
    return parts


def junior_on_key_accounts(reps: pd.DataFrame, plan: Plan, key_share: float = 0.1) -> pd.DataFrame:
    """Territories that put key accounts with a less experienced rep.

    Parameters
    ----------
    reps : pandas.DataFrame
        Reps indexed by rep id with ``experience_years``.
    plan : Plan
        The plan in force.
    key_share : float
        Share of accounts, by net profit, counted as key accounts.

    Returns
    -------
    pandas.DataFrame
        One row per flagged territory: ``territory_id, name, rep_id,
        experience_years, median_experience, key_accounts,
        key_net_profit``, largest key net profit first. Empty when the reps
        frame has no experience.

    Raises
    ------
    ValueError
        If ``key_share`` is not in (0, 1].
    """
    if not 0 < key_share <= 1:
        raise ValueError(f"key_share must lie in (0, 1], got {key_share!r}")
    columns = [
        "territory_id",
        "name",
        "rep_id",
        "experience_years",
        "median_experience",
        "key_accounts",
        "key_net_profit",
    ]
    context = plan.context
    experience = _reps_column(_rep_index(reps), "experience_years")
    territory_reps = territory_rep_ids(plan.context)
    rep_experience = territory_reps.map(experience.to_dict()).astype(float)
    known = rep_experience.dropna()
    if known.empty or context.n_accounts == 0:
        return pd.DataFrame(columns=columns)
    median = float(known.groupby(territory_reps[known.index]).first().median())
    net_profit = context.revenue - context.cost
    n_key = max(int(np.ceil(key_share * context.n_accounts)), 1)
    key = np.argsort(-net_profit, kind="stable")[:n_key]
    key = key[plan.codes[key] >= 0]
    counts = np.bincount(plan.codes[key], minlength=context.n_territories)
    profit = np.bincount(plan.codes[key], weights=net_profit[key], minlength=context.n_territories)
    frame = pd.DataFrame(
        {
            "territory_id": context.territory_ids.to_numpy(dtype=object),
            "name": context.territory_names,
            "rep_id": territory_reps.to_numpy(dtype=object),
            "experience_years": rep_experience.to_numpy(),
            "median_experience": median,
            "key_accounts": counts.astype(np.int64),
            "key_net_profit": profit,
        }
    )
    flagged = frame[(frame["key_accounts"] > 0) & (frame["experience_years"] < median)]
    return flagged.sort_values("key_net_profit", ascending=False).reset_index(drop=True)


def relationship_moves(plan: Plan) -> pd.DataFrame:
    """Accounts the plan puts with another rep than the one who owns them.

    Parameters
    ----------
    plan : Plan
        The plan in force.

    Returns
    -------
    pandas.DataFrame
        One row per account whose ``owner`` is known and differs from its
        territory's rep: ``account_id, territory_id, territory_rep, owner,
        revenue, net_profit``, largest net profit first. Accounts in white
        space or in a territory without a rep are not listed.
    """
    context = plan.context
    territory_reps = territory_rep_ids(plan.context).to_numpy(dtype=object)
    assigned = plan.codes >= 0
    rep = np.full(context.n_accounts, None, dtype=object)
    rep[assigned] = territory_reps[plan.codes[assigned]]
    owner = np.array(
        [None if o is None or pd.isna(o) else str(o) for o in context.owner], dtype=object
    )
    moved = assigned & (rep != None) & (owner != None) & (rep != owner)  # noqa: E711
    positions = np.flatnonzero(moved)
    frame = pd.DataFrame(
        {
            "account_id": context.id_array[positions],
            "territory_id": context.territory_ids.to_numpy(dtype=object)[plan.codes[positions]],
            "territory_rep": rep[positions],
            "owner": owner[positions],
            "revenue": context.revenue[positions],
            "net_profit": context.revenue[positions] - context.cost[positions],
        }
    )
    return frame.sort_values("net_profit", ascending=False, kind="stable").reset_index(drop=True)


def _percentile(values: np.ndarray) -> np.ndarray:
    # Average rank scaled to [0, 1]; all equal -> 0.5 each.
    if len(values) <= 1:
        return np.full(len(values), 0.5)
    ranks = pd.Series(values).rank(method="average").to_numpy()
    return (ranks - 1) / (len(values) - 1)


def fit_scores(
    reps: pd.DataFrame, plan: Plan, weights: dict[str, float] | None = None
) -> dict[str, pd.DataFrame]:
    """Fit of every rep to every territory, and its parts.

    Parameters
    ----------
    reps : pandas.DataFrame
        Reps indexed by rep id with ``experience_years``, ``home_lat``,
        ``home_lon``.
    plan : Plan
        The plan in force.
    weights : dict, optional
        Weight of ``relationship``, ``seniority`` and ``proximity``
        (:data:`FIT_WEIGHTS` by default); a part that cannot be computed
        (no owners, no experience, no homes) weighs nothing.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``"score"`` and each part, territories (rows) by reps (columns),
        values in [0, 1].

    Raises
    ------
    ValueError
        If a weight is negative or all weights are zero.
    """
    weights = dict(FIT_WEIGHTS if weights is None else weights)
    unknown = set(weights) - set(FIT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown fit part(s) {sorted(unknown)}; parts are {list(FIT_WEIGHTS)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"fit weights must be >= 0 and not all zero, got {weights}")
    frame = _rep_index(reps)
    context = plan.context
    rep_ids = frame.index.to_numpy(dtype=object)
    k, r = context.n_territories, len(rep_ids)
    assigned = plan.codes >= 0
    codes = plan.codes[assigned]
    revenue = context.revenue[assigned]
    owner = pd.Index(rep_ids).get_indexer(
        pd.Series(context.owner[assigned], dtype=object).astype(str)
    )
    owned = owner >= 0
    relationship = np.zeros((k, r))
    np.add.at(relationship, (codes[owned], owner[owned]), revenue[owned])
    territory_revenue = np.bincount(codes, weights=revenue, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        relationship = np.where(
            territory_revenue[:, None] > 0, relationship / territory_revenue[:, None], 0.0
        )
    parts = {"relationship": (relationship, bool(owned.any()))}

    experience = _reps_column(frame, "experience_years").to_numpy()
    net_profit = np.bincount(codes, weights=revenue - context.cost[assigned], minlength=k)
    has_experience = np.isfinite(experience).any()
    exp_pct = np.full(r, np.nan)
    exp_pct[np.isfinite(experience)] = _percentile(experience[np.isfinite(experience)])
    seniority = 1 - np.abs(exp_pct[None, :] - _percentile(net_profit)[:, None])
    parts["seniority"] = (np.nan_to_num(seniority, nan=0.0), bool(has_experience))

    home_lon = _reps_column(frame, "home_lon").to_numpy()
    home_lat = _reps_column(frame, "home_lat").to_numpy()
    weight = np.bincount(codes, weights=revenue, minlength=k)
    count = np.bincount(codes, minlength=k).astype(float)
    # Revenue-weighted centre; plain centre for a territory without revenue.
    use = np.where(weight > 0, weight, count)
    w_acc = np.where(weight[codes] > 0, revenue, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre_lon = np.bincount(codes, weights=context.lon[assigned] * w_acc, minlength=k) / use
        centre_lat = np.bincount(codes, weights=context.lat[assigned] * w_acc, minlength=k) / use
    distance = haversine_km(
        centre_lon[:, None], centre_lat[:, None], home_lon[None, :], home_lat[None, :]
    )
    finite = np.isfinite(distance)
    longest = distance[finite].max() if finite.any() else 0.0
    proximity = np.where(finite, 1 - distance / longest, 0.0) if longest > 0 else np.ones((k, r))
    parts["proximity"] = (proximity, bool(finite.any()))

    total_weight = sum(weights.get(name, 0.0) for name, (_, ok) in parts.items() if ok)
    score = np.zeros((k, r))
    if total_weight > 0:
        for name, (values, ok) in parts.items():
            if ok:
                score += weights.get(name, 0.0) * values
        score /= total_weight
    index = pd.Index(context.territory_ids, name="territory_id")
    columns = pd.Index(rep_ids, name="rep_id")
    out = {"score": pd.DataFrame(score, index=index, columns=columns)}
    for name, (values, _) in parts.items():
        out[name] = pd.DataFrame(values, index=index, columns=columns)
    return out


def suggest_matching(scores: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Suggest the rep for each territory that maximises the total fit.

    Only territories whose rep is in ``scores`` take part; the candidates
    are their reps (a rep holding two territories fills two slots) and the
    reps holding no territory, so the result is a reassignment of
    territories between reps.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``fit_scores(...)["score"]``: territories by reps.
    plan : Plan
        The plan in force (its territories' current reps).

    Returns
    -------
    pandas.DataFrame
        One row per taking-part territory: ``territory_id, name,
        current_rep, suggested_rep, current_score, suggested_score,
        changed``. ``frame.attrs`` holds ``current_total`` and
        ``suggested_total``.
    """
    current = territory_rep_ids(plan.context)
    reps = [str(r) for r in scores.columns]
    taking_part = [t for t in scores.index if current[t] in reps]
    held = [current[t] for t in taking_part]
    bench = [r for r in reps if r not in set(current.dropna())]
    slots = held + bench
    columns = [reps.index(r) for r in slots]
    rows = [scores.index.get_loc(t) for t in taking_part]
    matrix = scores.to_numpy(float)[np.ix_(rows, columns)] if rows else np.zeros((0, 0))
    # On a tie the current rep stays: a swap must gain something to be suggested.
    matrix = matrix + np.eye(*matrix.shape) * 1e-9
    row_ind, col_ind = linear_sum_assignment(matrix, maximize=True)
    suggested = np.array(slots, dtype=object)[col_ind[np.argsort(row_ind)]] if rows else []
    names = pd.Series(plan.context.territory_names, index=plan.context.territory_ids)
    frame = pd.DataFrame(
        {
            "territory_id": taking_part,
            "name": names.reindex(taking_part).to_numpy(dtype=object),
            "current_rep": held,
            "suggested_rep": list(suggested),
            "current_score": [scores.at[t, r] for t, r in zip(taking_part, held, strict=True)],
            "suggested_score": [
                scores.at[t, r] for t, r in zip(taking_part, suggested, strict=True)
            ],
        }
    )
    frame["changed"] = frame["current_rep"] != frame["suggested_rep"]
    frame.attrs["current_total"] = float(frame["current_score"].sum())
    frame.attrs["suggested_total"] = float(frame["suggested_score"].sum())
    return frame
