"""Visit cadence: account tiers, visits a year, seasonality and a weekly rotation.

Tiers
    Accounts are ranked by net profit (revenue minus cost to serve), largest
    first; ties are broken by account id so the cut is reproducible. The
    first ``round(a_share * n)`` accounts are tier A, the next
    ``round((a_share + b_share) * n) - round(a_share * n)`` tier B, the rest
    tier C (rounding half up). The cut counts accounts, not profit, so a
    handful of loss-making accounts can never empty a tier; the defaults (20 %
    A, 30 % B, 50 % C) follow the usual ABC split of key accounts.
Visits a year
    One frequency per tier set by the user, then a per-account override.
Seasonality
    A 12-month profile (shares summing to one), from monthly revenue columns
    of the data where it has them, else set by the user. A territory's yearly
    workload is apportioned to the months by the profile; the monthly capacity
    is the rep's yearly capacity over twelve.
Rotation
    Visit ``j`` of an account with ``v`` visits a year falls at year fraction
    ``(j + phase) / v``; the phase spreads accounts with the same cadence
    evenly over the year. The visits of one quarter are sorted by that time
    and cut into weeks of equal size (loads differ by at most one visit).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from terrmap.core.plan import Plan

__all__ = [
    "MONTHS",
    "TIERS",
    "monthly_profile_from_data",
    "monthly_workload",
    "normalise_profile",
    "quarter_visits",
    "rotation",
    "territory_rotation",
    "tier_accounts",
    "tier_summary",
    "visits_per_year",
]

logger = logging.getLogger(__name__)

TIERS: tuple[str, ...] = ("A", "B", "C")
MONTHS: tuple[str, ...] = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def tier_accounts(net_profit: pd.Series, a_share: float = 0.2, b_share: float = 0.3) -> pd.Series:
    """Tier A, B or C per account from its rank by net profit.

    Parameters
    ----------
    net_profit : pandas.Series
        Net profit per account id.
    a_share, b_share : float
        Shares of accounts in tiers A and B (C takes the rest).

    Returns
    -------
    pandas.Series
        ``"A"``, ``"B"`` or ``"C"`` per account id, in the input's order.

    Raises
    ------
    ValueError
        If a share is outside [0, 1], they sum above 1, or a net profit is
        missing.

    Examples
    --------
    >>> tier_accounts(pd.Series([5.0, 1.0, 3.0, 2.0, 4.0], index=list("abcde"))).tolist()
    ['A', 'C', 'B', 'C', 'C']
    """
    for label, share in (("a_share", a_share), ("b_share", b_share)):
        if not 0 <= share <= 1:
            raise ValueError(f"{label} must lie in [0, 1], got {share!r}")
    if a_share + b_share > 1 + 1e-12:
        raise ValueError(f"a_share + b_share must not exceed 1, got {a_share + b_share!r}")
    if net_profit.isna().any():
        missing = list(net_profit.index[net_profit.isna()][:5])
        raise ValueError(f"net profit missing for account(s) {missing}")
    n = len(net_profit)
    n_a = int(np.floor(a_share * n + 0.5))
    n_ab = min(int(np.floor((a_share + b_share) * n + 0.5)), n)
    order = np.lexsort((net_profit.index.astype(str).to_numpy(), -net_profit.to_numpy(float)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    tiers = np.where(rank < n_a, "A", np.where(rank < n_ab, "B", "C"))
    return pd.Series(tiers, index=net_profit.index, name="tier", dtype=object)


def visits_per_year(
    tiers: pd.Series,
    tier_visits: Mapping[str, float],
    overrides: Mapping[str, float] | pd.Series | None = None,
) -> pd.Series:
    """Visits a year per account: its tier's frequency unless overridden.

    Parameters
    ----------
    tiers : pandas.Series
        Tier per account id (see :func:`tier_accounts`).
    tier_visits : mapping
        Visits a year for each tier present in ``tiers``.
    overrides : mapping or pandas.Series, optional
        Visits a year for single accounts, winning over the tier.

    Returns
    -------
    pandas.Series
        Float visits a year per account id, named ``visits_per_year``.

    Raises
    ------
    ValueError
        If a tier has no frequency, a frequency is negative or not finite, or
        an override names an unknown account.
    """
    for tier, visits in tier_visits.items():
        if not np.isfinite(visits) or visits < 0:
            raise ValueError(f"visits a year for tier {tier!r} must be >= 0, got {visits!r}")
    unknown_tiers = sorted(set(tiers.dropna()) - set(tier_visits))
    if unknown_tiers or tiers.isna().any():
        raise ValueError(f"no visit frequency for tier(s) {unknown_tiers or [None]}")
    override = pd.Series(dict(overrides or {}), dtype=float)
    if len(override):
        unknown = override.index.difference(tiers.index)
        if len(unknown):
            raise ValueError(f"override for unknown account(s) {list(unknown[:5])}")
        bad = override[~np.isfinite(override) | (override < 0)]
        if len(bad):
            raise ValueError(f"override visits must be >= 0, got {bad.to_dict()}")
    labels = tiers.to_numpy(dtype=object)
    values = np.full(len(labels), np.nan)
    for tier, frequency in tier_visits.items():
        values[labels == tier] = frequency
    visits = pd.Series(values, index=tiers.index, name="visits_per_year")
    if len(override):
        visits.loc[override.index] = override.to_numpy()
    return visits


def normalise_profile(weights) -> pd.Series:
    """Twelve non-negative monthly weights scaled to shares summing to one.

    Parameters
    ----------
    weights : sequence of float
        One weight per month, January first.

    Returns
    -------
    pandas.Series
        Shares indexed by :data:`MONTHS`.

    Raises
    ------
    ValueError
        If there are not twelve weights, one is negative or missing, or all
        are zero.
    """
    values = np.asarray(list(weights), dtype=float)
    if values.shape != (12,):
        raise ValueError(f"a monthly profile needs 12 weights, got {values.size}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"monthly weights must be finite and >= 0, got {values.tolist()}")
    if values.sum() <= 0:
        raise ValueError("monthly weights are all zero")
    return pd.Series(values / values.sum(), index=list(MONTHS), name="share")


def _month_of(column: str) -> int | None:
    text = column.strip().lower()
    match = re.fullmatch(r"revenue[_ ]?(?:m)?(\d{1,2})", text)
    if match and 1 <= int(match.group(1)) <= 12:
        return int(match.group(1))
    match = re.fullmatch(r"revenue[_ ]([a-z]+)", text)
    if match:
        word = match.group(1)
        for i, name in enumerate(_MONTH_NAMES, start=1):
            if len(word) >= 3 and name.startswith(word):
                return i
    return None


def monthly_profile_from_data(accounts: pd.DataFrame) -> pd.Series | None:
    """Seasonality from monthly revenue columns, when the data has all twelve.

    Columns named ``revenue_01`` ... ``revenue_12``, ``revenue_m1`` ... or
    ``revenue_jan`` ... ``revenue_dec`` (any case) are recognised.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Accounts frame.

    Returns
    -------
    pandas.Series or None
        Shares per month (see :func:`normalise_profile`), or ``None`` when
        some month is absent or all monthly revenue is zero.
    """
    found: dict[int, str] = {}
    for column in accounts.columns:
        month = _month_of(str(column))
        if month is not None:
            found.setdefault(month, column)
    if len(found) < 12:
        if found:
            logger.warning("monthly revenue columns for %d of 12 months only: ignored", len(found))
        return None
    totals = [accounts[found[m]].to_numpy(dtype=float, na_value=0.0).sum() for m in range(1, 13)]
    try:
        return normalise_profile(totals)
    except ValueError:
        logger.warning("monthly revenue columns do not give a usable profile: %s", totals)
        return None


def monthly_workload(metrics: pd.DataFrame, profile: pd.Series) -> pd.DataFrame:
    """Monthly workload per territory against the rep's monthly capacity.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Plan.metrics()``: ``name``, ``workload_hours``, ``capacity_hours``.
    profile : pandas.Series
        Monthly shares from :func:`normalise_profile`.

    Returns
    -------
    pandas.DataFrame
        One row per territory and month: ``territory_id, name, month,
        workload_hours, capacity_hours, over_capacity``. Capacity is NaN (and
        ``over_capacity`` False) for a territory without a known capacity.
    """
    shares = normalise_profile(profile.to_numpy(dtype=float))
    k = len(metrics)
    workload = metrics["workload_hours"].to_numpy(float)[:, None] * shares.to_numpy()[None, :]
    capacity = np.repeat(metrics["capacity_hours"].to_numpy(float)[:, None] / 12.0, 12, axis=1)
    frame = pd.DataFrame(
        {
            "territory_id": np.repeat(metrics.index.to_numpy(dtype=object), 12),
            "name": np.repeat(metrics["name"].to_numpy(dtype=object), 12),
            "month": np.tile(np.array(MONTHS, dtype=object), k),
            "workload_hours": workload.ravel(),
            "capacity_hours": capacity.ravel(),
        }
    )
    # A month exactly at capacity is not over it (float noise aside).
    over = frame["workload_hours"] > frame["capacity_hours"] * (1 + 1e-9)
    frame["over_capacity"] = over.fillna(False)
    return frame


def _phases(n: int) -> np.ndarray:
    return np.arange(n, dtype=float) / max(n, 1)


def quarter_visits(visits: pd.Series, quarter: int) -> pd.Series:
    """Visits due in one quarter per account.

    Account ``i`` (in the input's order, of ``n``) makes its visits at year
    fractions ``(j + i / n) / v``; the visits due in quarter ``q`` are those
    falling in ``[(q - 1) / 4, q / 4)``. Over four quarters an account with
    a whole number of visits makes exactly that many.

    Parameters
    ----------
    visits : pandas.Series
        Visits a year per account id.
    quarter : int
        1 to 4.

    Returns
    -------
    pandas.Series
        Integer visits due per account id.

    Raises
    ------
    ValueError
        If the quarter is not 1-4 or a visit count is negative or missing.
    """
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1, 2, 3 or 4, got {quarter!r}")
    v = visits.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(v).any() or (v < 0).any():
        bad = list(visits.index[np.isnan(v) | (v < 0)][:5])
        raise ValueError(f"visits a year must be >= 0 for account(s) {bad}")
    phase = _phases(len(v))
    # Number of j >= 0 with (j + phase) / v < t is ceil(v t - phase) for t > 0.
    upper = np.ceil(np.round(v * quarter / 4 - phase, 9))
    lower = np.ceil(np.round(v * (quarter - 1) / 4 - phase, 9))
    due = np.maximum(upper, 0) - np.maximum(lower, 0)
    return pd.Series(due.astype(np.int64), index=visits.index, name="visits_due")


def rotation(due: pd.Series, weeks: int = 13) -> pd.DataFrame:
    """Which accounts to visit in each week of a quarter, balanced across weeks.

    Parameters
    ----------
    due : pandas.Series
        Whole visits due per account id this quarter (:func:`quarter_visits`).
    weeks : int
        Weeks in the period (13 for a quarter).

    Returns
    -------
    pandas.DataFrame
        One row per visit: ``week`` (1-based), ``account_id``, ``visit`` (the
        account's ``visit``-th visit of the period), sorted by week. Every due
        visit appears exactly once; weekly loads differ by at most one.

    Raises
    ------
    ValueError
        If ``weeks`` is not positive or a due count is negative or fractional.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be a positive integer, got {weeks!r}")
    counts = due.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(counts).any() or (counts < 0).any() or (counts != np.round(counts)).any():
        bad = list(due.index[np.isnan(counts) | (counts < 0) | (counts != np.round(counts))][:5])
        raise ValueError(f"visits due must be whole numbers >= 0 for account(s) {bad}")
    counts = counts.astype(np.int64)
    n_visits = int(counts.sum())
    owner = np.repeat(np.arange(len(counts)), counts)
    # j-th visit of its account, 0-based.
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    visit = np.arange(n_visits) - starts
    phase = _phases(len(counts))[owner]
    when = (visit + phase) / np.maximum(counts[owner], 1)
    order = np.lexsort((owner, when))
    week = np.empty(n_visits, dtype=np.int64)
    # Cutting the time-ordered list into equal slices keeps loads within one.
    week[order] = np.arange(n_visits) * weeks // max(n_visits, 1)
    frame = pd.DataFrame(
        {
            "week": week + 1,
            "account_id": due.index.to_numpy(dtype=object)[owner],
            "visit": visit + 1,
        }
    )
    return frame.sort_values(["week", "account_id"], kind="stable").reset_index(drop=True)


def tier_summary(tiers: pd.Series, net_profit: pd.Series, visits: pd.Series) -> pd.DataFrame:
    """Accounts, net profit and visits a year per tier.

    Parameters
    ----------
    tiers : pandas.Series
        Tier per account id.
    net_profit : pandas.Series
        Net profit per account id.
    visits : pandas.Series
        Visits a year per account id.

    Returns
    -------
    pandas.DataFrame
        Indexed by tier (:data:`TIERS` order): ``accounts, net_profit,
        min_net_profit, visits``.
    """
    frame = pd.DataFrame(
        {
            "tier": tiers,
            "net_profit": net_profit.reindex(tiers.index),
            "visits": visits.reindex(tiers.index),
        }
    )
    grouped = frame.groupby("tier")
    out = pd.DataFrame(
        {
            "accounts": grouped.size(),
            "net_profit": grouped["net_profit"].sum(),
            "min_net_profit": grouped["net_profit"].min(),
            "visits": grouped["visits"].sum(),
        }
    )
    out = out.reindex(list(TIERS))
    out["accounts"] = out["accounts"].fillna(0).astype(np.int64)
    out["visits"] = out["visits"].fillna(0.0)
    out.index.name = "tier"
    return out


def territory_rotation(
    plan: Plan, territory_id: str, quarter: int, weeks: int = 13
) -> pd.DataFrame:
    """Plan the visit rotation of one territory for one quarter.

    Accounts are ordered by net profit, largest first, before the phases of
    :func:`quarter_visits` are given out, so the result does not depend on
    the order of the data.

    Parameters
    ----------
    plan : Plan
        The plan in force (its context holds the visits a year).
    territory_id : str
        The territory.
    quarter : int
        1 to 4.
    weeks : int
        Weeks in the quarter.

    Returns
    -------
    pandas.DataFrame
        :func:`rotation`'s rows for the territory's accounts.

    Raises
    ------
    KeyError
        For an unknown territory.
    """
    context = plan.context
    positions = np.flatnonzero(plan.codes == context.territory_code(territory_id))
    net_profit = context.revenue[positions] - context.cost[positions]
    ids = context.id_array[positions]
    order = np.lexsort((ids.astype(str), -net_profit))
    visits = pd.Series(context.visits[positions][order], index=ids[order])
    return rotation(quarter_visits(visits, quarter), weeks)
