"""Quality of territories and accounts, and the white space, for leadership review.

* **Territory quality** (:func:`territory_quality`) looks at the funnel a
  territory holds: leads, opportunities, new accounts and conversion rate
  (new accounts ÷ leads). The four are mixed with equal weights, each scaled to
  its mean over territories (:func:`terrmap.core.balance.composite_measure`), so a
  score of 1.0 is a territory at the team mean on every count. Tiers are cut
  around the mean with the same band as balance: *high* when the score is at
  least ``1 + band``, *low* when at most ``1 - band``, *medium* in between. A
  territory without leads has no conversion rate (shown as missing) and scores
  0 on that part.
* **Account quality** (:func:`account_quality`) ranks accounts by net profit
  (revenue − cost to serve) and by revenue. An account *flips* when its two
  ranks differ by at least ``min_shift`` places: ``"down"`` for the seeds'
  Account A (big revenue, expensive to serve, worth less than its revenue
  says), ``"up"`` for Account B (worth more than its revenue says).
* **White space** (:func:`white_space`): accounts in no territory and what they
  are worth.
* **Measure values** (:func:`measure_values`): one measure or a weighted mix,
  the series the balance chart is drawn from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from terrmap.core.balance import composite_measure
from terrmap.core.metrics import MEASURES, measure_label
from terrmap.core.plan import Plan
from terrmap.core.schema import ACCOUNT_ID, UNASSIGNED_LABEL

__all__ = [
    "QUALITY_MEASURES",
    "NO_DATA",
    "QUALITY_TIERS",
    "account_quality",
    "default_min_shift",
    "measure_label",
    "measure_values",
    "territory_quality",
    "white_space",
]

#: Funnel counts mixed into the territory quality score (equal weights).
QUALITY_MEASURES: tuple[str, ...] = ("leads", "opportunities", "new_accounts", "conversion_rate")

#: Tiers, best first.
QUALITY_TIERS: tuple[str, ...] = ("high", "medium", "low")

#: The tier of every territory when the data has no funnel figures at all
#: (no leads, opportunities or new accounts): nothing to rank, not "low".
NO_DATA = "no data"


def territory_quality(metrics: pd.DataFrame, band_pct: float = 10.0) -> pd.DataFrame:
    """Rank territories by the quality of their funnel.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Per-territory figures (:meth:`terrmap.core.plan.Plan.metrics`) with
        ``leads``, ``opportunities``, ``new_accounts`` and ``conversion_rate``.
    band_pct : float, default 10
        Half-width of the *medium* band around the mean score, in percent.

    Returns
    -------
    pandas.DataFrame
        Same index, best first: ``name`` (when given), the four measures,
        ``score`` (1.0 = team mean), ``rank`` (1 = best) and ``tier``
        (``"high"``, ``"medium"`` or ``"low"``). A measure that is zero in
        every territory (the data has none of it) is left out of the score;
        when all are, every territory has score NaN, rank ``<NA>`` and tier
        :data:`NO_DATA`.

    Raises
    ------
    ValueError
        If ``band_pct`` is negative or a measure column is missing.

    Examples
    --------
    >>> m = pd.DataFrame(
    ...     {"leads": [10, 10], "opportunities": [4, 4], "new_accounts": [1, 3],
    ...      "conversion_rate": [0.1, 0.3]}, index=["N", "S"])
    >>> territory_quality(m)["tier"].to_dict()
    {'S': 'high', 'N': 'low'}
    """
    if band_pct < 0:
        raise ValueError(f"band_pct must be >= 0, got {band_pct!r}")
    missing = [c for c in QUALITY_MEASURES if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics lack the quality column(s) {missing}")
    measures = metrics[list(QUALITY_MEASURES)].astype(float)
    scored = measures.fillna({"conversion_rate": 0.0})
    present = [c for c in QUALITY_MEASURES if scored[c].abs().sum() > 0]
    band = band_pct / 100.0
    if present:
        score = composite_measure(scored[present], dict.fromkeys(present, 1.0))
        tier = np.select(
            [score >= 1.0 + band - 1e-12, score <= 1.0 - band + 1e-12],
            ["high", "low"],
            default="medium",
        )
        rank = score.rank(ascending=False, method="min").astype("Int64")
    else:
        score = pd.Series(np.nan, index=metrics.index)
        tier = np.full(len(metrics), NO_DATA, dtype=object)
        rank = pd.Series(pd.NA, index=metrics.index, dtype="Int64")
    frame = (
        metrics[["name"]].copy() if "name" in metrics.columns else pd.DataFrame(index=metrics.index)
    )
    frame.attrs = {}
    for column in QUALITY_MEASURES:
        frame[column] = metrics[column]
    frame["score"] = score
    frame["rank"] = rank
    frame["tier"] = pd.Categorical(tier, categories=[*QUALITY_TIERS, NO_DATA])
    return frame.sort_values(["rank"], kind="stable")


def default_min_shift(n_accounts: int) -> int:
    """Rank places that make a flip: 10% of the accounts, at least 1.

    Examples
    --------
    >>> default_min_shift(8), default_min_shift(3000)
    (1, 300)
    """
    return max(1, math.ceil(0.1 * n_accounts))


def account_quality(
    plan: Plan,
    names: pd.Series | None = None,
    *,
    min_shift: int | None = None,
) -> pd.DataFrame:
    """Rank accounts by net profit and by revenue and flag the flips.

    Parameters
    ----------
    plan : Plan
        The plan (for each account's territory).
    names : pandas.Series, optional
        Account name by account id.
    min_shift : int, optional
        Rank places by which the two rankings must differ for a flip;
        :func:`default_min_shift` of the number of accounts when omitted.

    Returns
    -------
    pandas.DataFrame
        Index ``account_id``, ordered by ``profit_rank``: ``name``,
        ``territory_id``, ``territory``, ``revenue``, ``cost``,
        ``net_profit``, ``margin``, ``profit_rank``, ``revenue_rank`` (1 =
        best, ties share the better rank), ``rank_change``
        (``revenue_rank - profit_rank``: positive when the account is worth
        more than its revenue says) and ``flip`` (``"up"``, ``"down"`` or
        ``""``).

    Raises
    ------
    ValueError
        If ``min_shift`` is below 1.
    """
    if min_shift is not None and min_shift < 1:
        raise ValueError(f"min_shift must be at least 1, got {min_shift!r}")
    context = plan.context
    shift = default_min_shift(context.n_accounts) if min_shift is None else int(min_shift)
    revenue = np.asarray(context.revenue, dtype=float)
    cost = np.asarray(context.cost, dtype=float)
    net = revenue - cost
    frame = pd.DataFrame(
        {
            "name": _names(context.account_ids, names),
            "territory_id": plan.assignment.to_numpy(dtype=object, na_value=None),
            "territory": _territory_labels(plan),
            "revenue": revenue,
            "cost": cost,
            "net_profit": net,
        },
        index=pd.Index(context.account_ids, name=ACCOUNT_ID),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["margin"] = np.where(revenue != 0, net / revenue, np.nan)
    frame["profit_rank"] = frame["net_profit"].rank(ascending=False, method="min").astype(np.int64)
    frame["revenue_rank"] = frame["revenue"].rank(ascending=False, method="min").astype(np.int64)
    frame["rank_change"] = frame["revenue_rank"] - frame["profit_rank"]
    frame["flip"] = np.select(
        [frame["rank_change"] >= shift, frame["rank_change"] <= -shift], ["up", "down"], default=""
    )
    return frame.sort_values(["profit_rank", "revenue_rank"], kind="stable")


def white_space(plan: Plan, names: pd.Series | None = None) -> pd.DataFrame:
    """Accounts in no territory, largest revenue first.

    Parameters
    ----------
    plan : Plan
        The plan.
    names : pandas.Series, optional
        Account name by account id.

    Returns
    -------
    pandas.DataFrame
        Index ``account_id``: ``name``, ``lat``, ``lon``, ``revenue``,
        ``cost``, ``net_profit``. Empty when every account is assigned.
    """
    context = plan.context
    positions = np.flatnonzero(plan.codes < 0)
    ids = context.account_ids[positions]
    revenue = np.asarray(context.revenue, dtype=float)[positions]
    cost = np.asarray(context.cost, dtype=float)[positions]
    frame = pd.DataFrame(
        {
            "name": _names(ids, names),
            "lat": np.asarray(context.lat, dtype=float)[positions],
            "lon": np.asarray(context.lon, dtype=float)[positions],
            "revenue": revenue,
            "cost": cost,
            "net_profit": revenue - cost,
        },
        index=pd.Index(ids, name=ACCOUNT_ID),
    )
    return frame.sort_values("revenue", ascending=False, kind="stable")


def measure_values(metrics: pd.DataFrame, measure: str | Mapping[str, float]) -> pd.Series:
    """Get the values a balance chart is drawn from: one measure or a weighted mix.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Per-territory figures.
    measure : str or mapping of str to float
        A column of ``metrics`` (see :data:`terrmap.core.metrics.MEASURES`), or
        measure → weight for a mix (:func:`terrmap.core.balance.composite_measure`:
        each measure scaled to its mean, so the mix is 1.0 at the mean).

    Returns
    -------
    pandas.Series
        Float values indexed like ``metrics``.

    Raises
    ------
    ValueError
        For an unknown measure or invalid weights.

    Examples
    --------
    >>> m = pd.DataFrame({"revenue": [1.0, 3.0], "accounts": [2, 2]}, index=["A", "B"])
    >>> measure_values(m, "revenue").tolist(), measure_values(m, {"revenue": 1}).tolist()
    ([1.0, 3.0], [0.5, 1.5])
    """
    if isinstance(measure, str):
        if measure not in metrics.columns:
            raise ValueError(f"unknown measure {measure!r}; choose from {list(MEASURES)}")
        return metrics[measure].astype(float)
    weights = {name: float(weight) for name, weight in measure.items() if float(weight) != 0.0}
    if not weights:
        raise ValueError(f"a weighted mix needs at least one positive weight, got {dict(measure)}")
    return composite_measure(metrics, weights).astype(float)


def _names(ids: pd.Index, names: pd.Series | None) -> np.ndarray:
    ids_array = np.asarray(ids, dtype=object)
    if names is None:
        return ids_array
    lookup = names.copy()
    lookup.index = lookup.index.astype(str)
    found = lookup.reindex(pd.Index(ids_array)).astype(object).to_numpy()
    return np.where(pd.isna(found), ids_array, found).astype(object)


def _territory_labels(plan: Plan) -> np.ndarray:
    context = plan.context
    labels = np.append(np.asarray(context.territory_names, dtype=object), UNASSIGNED_LABEL)
    return labels[np.where(plan.codes < 0, context.n_territories, plan.codes)]
