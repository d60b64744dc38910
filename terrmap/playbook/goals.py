"""Goals per territory: quotas that add up to the company target, and KPIs.

Quotas
    A basis per territory (its revenue, its net profit, last year's revenue
    grown by a rate, or one each) is scaled to the company target and
    rounded to whole units by the largest-remainder method, so the quotas
    add up to the target exactly. Negative net profit counts as zero
    potential. A territory without last year's revenue makes that method
    unusable (an error names it) rather than counting as zero.
Edits
    :func:`adjust_quotas` keeps the quotas the user typed and re-scales the
    *other* territories so that the total is still the target. With every
    territory typed there is nothing left to re-scale: the typed figures
    stand and the difference from the target is reported by the caller.
KPIs
    Per territory and in total (see :func:`territory_kpis`). A figure whose
    input the data lacks is NaN, never zero.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from terrmap.core.plan import Plan
from terrmap.core.schema import STAGES
from terrmap.playbook.reps import territory_rep_ids

__all__ = [
    "quota_deviation",
    "QUOTA_METHODS",
    "adjust_quotas",
    "allocate",
    "quota_basis",
    "revenue_by_product",
    "suggested_target",
    "territory_kpis",
]

logger = logging.getLogger(__name__)

#: Quota methods and their labels.
QUOTA_METHODS: dict[str, str] = {
    "revenue": "Proportional to revenue (potential)",
    "net_profit": "Proportional to net profit (potential)",
    "last_year_growth": "Last year's revenue plus growth",
    "equal": "Equal",
}


def allocate(basis: pd.Series, total: float, unit: float = 1.0) -> pd.Series:
    """Share a total in proportion to a basis, in whole units, summing exactly.

    Largest-remainder (Hamilton) rounding: every share is first rounded down
    to a whole number of units, then the units left over go one each to the
    largest remainders (ties to the earlier row).

    Parameters
    ----------
    basis : pandas.Series
        Non-negative weights; all zero shares equally.
    total : float
        The amount to share; must be a whole number of ``unit``.
    unit : float
        Rounding unit (1 = whole currency units).

    Returns
    -------
    pandas.Series
        Shares with the basis' index, summing to ``total``.

    Raises
    ------
    ValueError
        If the basis is empty, has a negative or missing value, ``unit`` is
        not positive, or ``total`` is negative or not a whole number of units.

    Examples
    --------
    >>> allocate(pd.Series([1.0, 1.0, 1.0], index=list("abc")), 100).tolist()
    [34.0, 33.0, 33.0]
    """
    if not unit > 0:
        raise ValueError(f"unit must be positive, got {unit!r}")
    if basis.empty:
        raise ValueError("nothing to allocate to: the basis is empty")
    values = basis.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(values) | (values < 0) | ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"basis must be finite and >= 0, got {basis[bad].head().to_dict()} (missing or negative)"
        )
    units = total / unit
    whole = round(units)
    if total < 0 or not np.isclose(units, whole, rtol=0, atol=1e-6):
        raise ValueError(f"total must be a whole number >= 0 of {unit!r}, got {total!r}")
    if values.sum() <= 0:
        values = np.ones_like(values)
    exact = values / values.sum() * whole
    floor = np.floor(exact).astype(np.int64)
    left = int(whole - floor.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - floor)))
    floor[order[:left]] += 1
    return pd.Series(floor * unit, index=basis.index, name="quota", dtype=float)


def quota_basis(metrics: pd.DataFrame, method: str, growth_rate: float = 0.0) -> pd.Series:
    """Compute the basis each territory's quota is proportional to.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Plan.metrics()``.
    method : str
        A key of :data:`QUOTA_METHODS`.
    growth_rate : float
        For ``"last_year_growth"``: 0.1 is +10 %.

    Returns
    -------
    pandas.Series
        Non-negative basis per territory id.

    Raises
    ------
    ValueError
        For an unknown method, a growth rate at or below -100 %, or a
        territory without last year's revenue under ``"last_year_growth"``.
    """
    if method not in QUOTA_METHODS:
        raise ValueError(f"unknown quota method {method!r}; methods are {list(QUOTA_METHODS)}")
    if method == "revenue":
        return metrics["revenue"].astype(float).clip(lower=0)
    if method == "net_profit":
        profit = metrics["net_profit"].astype(float)
        if (profit < 0).any():
            logger.info(
                "negative net profit counts as zero potential: %s", list(profit.index[profit < 0])
            )
        return profit.clip(lower=0)
    if method == "equal":
        return pd.Series(1.0, index=metrics.index)
    if not growth_rate > -1:
        raise ValueError(f"growth rate must be above -100 %, got {growth_rate!r}")
    last_year = metrics["revenue_last_year"].astype(float)
    if last_year.isna().any():
        missing = list(metrics.loc[last_year.isna(), "name"])
        raise ValueError(f"no revenue last year for territory(ies) {missing[:5]}")
    return last_year * (1 + growth_rate)


def suggested_target(metrics: pd.DataFrame, method: str, growth_rate: float = 0.0) -> float:
    """Suggest a company target: the sum of the basis for growth, else revenue.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Plan.metrics()``.
    method : str
        A key of :data:`QUOTA_METHODS`.
    growth_rate : float
        Growth rate of ``"last_year_growth"``.

    Returns
    -------
    float
        Whole currency units.
    """
    if method == "last_year_growth":
        return float(round(quota_basis(metrics, method, growth_rate).sum()))
    return float(round(metrics["revenue"].astype(float).sum()))


def adjust_quotas(
    quotas: pd.Series, edits: Mapping[str, float], target: float, unit: float = 1.0
) -> pd.Series:
    """Keep the typed quotas and re-scale the others to keep the target.

    Parameters
    ----------
    quotas : pandas.Series
        Quotas per territory id before the edits.
    edits : mapping
        Typed quota per territory id; these are kept as they are.
    target : float
        The company target.
    unit : float
        Rounding unit.

    Returns
    -------
    pandas.Series
        The typed quotas plus the others re-scaled in proportion to their
        previous quotas, summing to ``target`` whenever some territory was
        not typed.

    Raises
    ------
    ValueError
        If an edit names an unknown territory or is negative, or the typed
        quotas already exceed the target.
    """
    fixed = pd.Series(dict(edits), dtype=float)
    unknown = fixed.index.difference(quotas.index)
    if len(unknown):
        raise ValueError(f"quota edit for unknown territory(ies) {list(unknown[:5])}")
    if fixed.isna().any() or (fixed < 0).any():
        raise ValueError(f"edited quotas must be >= 0, got {fixed.to_dict()}")
    result = quotas.astype(float).copy()
    result.loc[fixed.index] = fixed.to_numpy()
    rest = quotas.index.difference(fixed.index, sort=False)
    if len(rest) == 0:
        return result
    remaining = target - float(fixed.sum())
    if remaining < 0:
        raise ValueError(
            f"typed quotas add up to {fixed.sum():,.0f}, more than the target {target:,.0f}"
        )
    result.loc[rest] = allocate(quotas.loc[rest].astype(float).clip(lower=0), remaining, unit)
    return result


def quota_deviation(revenue: pd.Series, quotas: Mapping[str, float]) -> pd.Series:
    """Each territory's revenue against its own quota, in percent.

    Parameters
    ----------
    revenue : pandas.Series
        Revenue per territory id (e.g. ``plan.metrics()["revenue"]``).
    quotas : mapping of str to float
        Quota per territory id, as set on the Goals page.

    Returns
    -------
    pandas.Series
        ``(revenue - quota) / quota * 100`` per territory of ``revenue``;
        NaN where there is no quota or the quota is not positive.

    Examples
    --------
    >>> quota_deviation(pd.Series({"N": 120.0, "S": 80.0}), {"N": 100.0}).tolist()
    [20.0, nan]
    """
    quota = pd.Series({str(k): float(v) for k, v in quotas.items()}, dtype=float)
    quota = quota.reindex(revenue.index.astype(str))
    quota = quota.where(quota > 0)
    out = (revenue.to_numpy(dtype=float) - quota.to_numpy()) / quota.to_numpy() * 100.0
    return pd.Series(out, index=revenue.index, name="quota_deviation_pct")


def revenue_by_product(accounts: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Revenue of the accounts buying each product, per territory.

    An account buying several products counts in each of them (the data
    has no split of revenue by product), so a row does not add up to the
    territory's revenue.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Accounts with ``products`` (``";"``-separated) and ``revenue``.
    plan : Plan
        The plan in force.

    Returns
    -------
    pandas.DataFrame
        Territories (rows, every territory of the plan) by products
        (columns, sorted); empty columns when no account lists a product.
    """
    context = plan.context
    ids = context.territory_ids
    if "products" not in accounts.columns:
        return pd.DataFrame(index=ids)
    aligned = accounts.set_axis(accounts.index.astype(str)).reindex(context.account_ids)
    text = aligned["products"].astype(object).fillna("").astype(str).to_numpy(dtype=object)
    # Few distinct product lists however many accounts: sum revenue per
    # (territory, product list), then spread each list over its products.
    list_code, lists = pd.factorize(text)
    assigned = plan.codes >= 0
    k, m = context.n_territories, len(lists)
    sums = np.bincount(
        plan.codes[assigned] * m + list_code[assigned],
        weights=context.revenue[assigned],
        minlength=k * m,
    ).reshape(k, m)
    members = [{p.strip() for p in str(products).split(";") if p.strip()} for products in lists]
    names = sorted(set().union(*members)) if members else []
    membership = np.array([[name in member for name in names] for member in members], dtype=float)
    table = sums @ membership.reshape(m, len(names)) if names else np.zeros((k, 0))
    return pd.DataFrame(table, index=ids, columns=names)


def _account_column(accounts: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in accounts.columns:
        return None
    return pd.to_numeric(accounts[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def territory_kpis(
    accounts: pd.DataFrame,
    plan: Plan,
    reps: pd.DataFrame | None = None,
    quotas: pd.Series | None = None,
) -> pd.DataFrame:
    """Compute the quantitative goals' KPIs per territory and in total.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Accounts frame of the plan's context (same ids). Optional columns
        ``lifetime_value``, ``acquisition_cost`` and ``nps`` (a 0-10
        likelihood-to-recommend answer) are used when present.
    plan : Plan
        The plan in force.
    reps : pandas.DataFrame, optional
        Reps with ``annual_contract_value`` and ``quota``.
    quotas : pandas.Series, optional
        Quota per territory id.

    Returns
    -------
    pandas.DataFrame
        Indexed by territory id plus a last row ``"total"``: ``name,
        revenue, revenue_new, revenue_existing, net_profit, yoy_growth,
        clv_to_cac, nps, rep_at_quota, quota, revenue_to_quota``.

        * ``revenue_new``: customers won this period; ``revenue_existing``:
          other customers (leads and opportunities are neither).
        * ``yoy_growth``: like for like, over accounts with last year's
          revenue: sum(revenue) / sum(last year) - 1.
        * ``clv_to_cac``: sum of lifetime value / sum of acquisition cost
          over accounts with both.
        * ``nps``: % promoters (9-10) - % detractors (0-6) among answers.
        * ``rep_at_quota``: 1 or 0 per territory (its rep's annual contract
          value reached the rep's quota); in total, the share of reps at
          quota among the reps of the territories.

        Missing inputs give NaN.
    """
    context = plan.context
    k = context.n_territories
    ids = accounts.index.astype(str)
    if not pd.Index(ids).equals(context.account_ids):
        accounts = accounts.set_axis(ids).reindex(context.account_ids)
    codes = np.asarray(plan.codes)
    slot = np.where(codes < 0, k, codes)

    def per_territory(values: np.ndarray) -> np.ndarray:
        sums = np.bincount(slot, weights=values, minlength=k + 1)
        return np.append(sums[:k], sums[:k].sum())

    def counts(mask: np.ndarray) -> np.ndarray:
        return per_territory(mask.astype(float))

    revenue = context.revenue
    customer = context.stage == STAGES.index("customer")
    new = context.is_new & customer
    existing = customer & ~context.is_new
    last_year = context.revenue_last_year
    known = ~np.isnan(last_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        like_revenue = per_territory(np.where(known, revenue, 0.0))
        like_last = per_territory(np.where(known, last_year, 0.0))
        growth = np.where(
            (counts(known) > 0) & (like_last > 0), like_revenue / like_last - 1, np.nan
        )

        clv_values = _account_column(accounts, "lifetime_value")
        cac_values = _account_column(accounts, "acquisition_cost")
        if clv_values is None or cac_values is None:
            clv_to_cac = np.full(k + 1, np.nan)
        else:
            both = ~np.isnan(clv_values) & ~np.isnan(cac_values)
            clv = per_territory(np.where(both, clv_values, 0.0))
            cac = per_territory(np.where(both, cac_values, 0.0))
            clv_to_cac = np.where((counts(both) > 0) & (cac > 0), clv / cac, np.nan)

        answers = _account_column(accounts, "nps")
        if answers is None:
            nps = np.full(k + 1, np.nan)
        else:
            answered = ~np.isnan(answers)
            n = counts(answered)
            promoters = counts(answered & (answers >= 9))
            detractors = counts(answered & (answers <= 6))
            nps = np.where(n > 0, 100 * (promoters - detractors) / n, np.nan)

    at_quota = np.full(k, np.nan)
    if reps is not None and {"annual_contract_value", "quota"} <= set(reps.columns):
        rep_frame = reps.set_axis(reps.index.astype(str))
        acv = pd.to_numeric(rep_frame["annual_contract_value"], errors="coerce")
        quota_r = pd.to_numeric(rep_frame["quota"], errors="coerce")
        reached = (acv >= quota_r).where(acv.notna() & quota_r.notna() & (quota_r > 0))
        keys = territory_rep_ids(context)
        at_quota = keys.map(reached.astype(float).to_dict()).astype(float).to_numpy()
        rep_level = (
            pd.DataFrame({"rep": keys, "at": at_quota}).dropna().drop_duplicates("rep")["at"]
        )
        total_at_quota = float(rep_level.mean()) if len(rep_level) else np.nan
    else:
        total_at_quota = np.nan

    quota = np.full(k + 1, np.nan)
    if quotas is not None:
        aligned = quotas.reindex(context.territory_ids).to_numpy(dtype=float, na_value=np.nan)
        quota = np.append(aligned, aligned.sum() if not np.isnan(aligned).any() else np.nan)
    total_revenue = per_territory(revenue)
    with np.errstate(divide="ignore", invalid="ignore"):
        revenue_to_quota = np.where(quota > 0, total_revenue / quota, np.nan)
    return pd.DataFrame(
        {
            "name": np.append(context.territory_names, "Total"),
            "revenue": total_revenue,
            "revenue_new": per_territory(np.where(new, revenue, 0.0)),
            "revenue_existing": per_territory(np.where(existing, revenue, 0.0)),
            "net_profit": per_territory(revenue - context.cost),
            "yoy_growth": growth,
            "clv_to_cac": clv_to_cac,
            "nps": nps,
            "rep_at_quota": np.append(at_quota, total_at_quota),
            "quota": quota,
            "revenue_to_quota": revenue_to_quota,
        },
        index=pd.Index([*context.territory_ids, "total"], name="territory_id"),
    )
