"""Per-territory figures of a plan: money, pipeline, travel and workload.

The raw material is a table of sums per territory (accounts, revenue, cost,
visits, ...), one row per territory plus a last row for unassigned accounts.
Everything shown to users is derived from those sums and the area each
territory's accounts cover.

Incremental updates cost in proportion to the accounts moved, not to the
data set: sums are kept in integer units (cents, thousandths of a visit,
metre-visits), for which ``old - out + in`` is exact, so a plan that has seen
a thousand moves shows bit for bit the figures a fresh load of the same
assignment shows. Convex hulls are extended from the receiving territory's
hull corners plus the arrivals; a losing territory is recomputed from its
members only when it lost a hull corner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError

from terrmap.core.context import Context
from terrmap.core.schema import STAGES
from terrmap.core.travel import EARTH_RADIUS_KM, haversine_km, tour_km

__all__ = [
    "MEASURES",
    "SUM_FIELDS",
    "Totals",
    "full_totals",
    "measure_label",
    "metrics_frame",
    "moved_totals",
    "selection_summary",
    "tally",
    "utilisation",
]

#: Columns of the raw sums table, in order.
SUM_FIELDS: tuple[str, ...] = (
    "accounts",
    "revenue",
    "cost",
    "visits",
    "leads",
    "opportunities",
    "customers",
    "new_accounts",
    "revenue_last_year",
    "accounts_with_last_year",
    "visit_distance_km",
    "pipeline",
)

#: Measures that balance can be judged on, with their labels.
MEASURES: dict[str, str] = {
    "revenue": "Revenue",
    "net_profit": "Net profit",
    "cost": "Cost to serve",
    "workload_hours": "Workload (h)",
    "travel_hours": "Travel (h)",
    "travel_km": "Travel (km)",
    "accounts": "Accounts",
    "visits": "Visits",
    "pipeline": "Potential (leads + opportunities, revenue)",
}


def measure_label(measure: str | Mapping[str, float]) -> str:
    """Human label of a measure or a weighted mix (the one label used everywhere).

    Examples
    --------
    >>> measure_label("net_profit")
    'Net profit'
    >>> measure_label({"revenue": 2, "accounts": 1})
    'Weighted mix: Revenue ×2, Accounts ×1'
    """
    if isinstance(measure, str):
        return MEASURES.get(measure, measure)
    parts = [f"{MEASURES.get(k, k)} ×{float(w):g}" for k, w in measure.items() if float(w) != 0]
    return "Weighted mix: " + ", ".join(parts)


#: The measures that are amounts of money (formatted with the data set's currency).
MONEY_MEASURES: frozenset[str] = frozenset({"revenue", "net_profit", "cost", "pipeline"})

_FIELD = {name: i for i, name in enumerate(SUM_FIELDS)}
_LEAD, _OPPORTUNITY, _CUSTOMER = (
    STAGES.index(stage) for stage in ("lead", "opportunity", "customer")
)


#: Each sum is kept in integer units (stored in float64, exact below 2**53):
#: cents for money, thousandths of a visit, metre-visits for distance. Sums of
#: integers do not depend on the order of addition, so ``old - out + in`` after a
#: move gives bit for bit what a full recompute gives.
_SCALE = np.array(
    [
        {
            "revenue": 100.0,
            "cost": 100.0,
            "revenue_last_year": 100.0,
            "pipeline": 100.0,
            "visits": 1000.0,
            "visit_distance_km": 1000.0,
        }.get(name, 1.0)
        for name in SUM_FIELDS
    ]
)
_DISTANCE = SUM_FIELDS.index("visit_distance_km")
_STATIC = np.array([i for i in range(len(SUM_FIELDS)) if i != _DISTANCE])


@dataclass(frozen=True, eq=False)
class Totals:
    """Per-row sums in integer units and the convex hull of each row's accounts.

    Rows are the territories in code order plus a last row for white space.
    Build with :func:`full_totals`; update after a move with :func:`moved_totals`.

    Attributes
    ----------
    units : numpy.ndarray
        ``(k + 1, len(SUM_FIELDS))`` sums in integer units (see ``_SCALE``).
    area_km2 : numpy.ndarray
        Convex-hull area of each row's accounts (0 for white space).
    hulls : tuple of numpy.ndarray
        Account positions on each row's hull (extreme points), enough to
        extend the hull when accounts arrive.
    """

    units: np.ndarray
    area_km2: np.ndarray
    hulls: tuple[np.ndarray, ...]

    @property
    def sums(self) -> np.ndarray:
        """Sums in natural units (dollars, visits, km), rows as in ``units``."""
        return self.units / _SCALE


def _unit_matrix(context: Context) -> np.ndarray:
    """Per-account contributions in integer units, except the distance column."""
    cached = context._cache.get("unit_matrix")
    if cached is not None:
        return cached
    stage = context.stage
    last_year = context.revenue_last_year
    known_last_year = ~np.isnan(last_year)
    open_stage = (stage == _LEAD) | (stage == _OPPORTUNITY)
    columns = {
        "accounts": np.ones(context.n_accounts),
        "revenue": context.revenue,
        "cost": context.cost,
        "visits": context.visits,
        "leads": stage == _LEAD,
        "opportunities": stage == _OPPORTUNITY,
        "customers": stage == _CUSTOMER,
        "new_accounts": context.is_new,
        "revenue_last_year": np.where(known_last_year, last_year, 0.0),
        "accounts_with_last_year": known_last_year,
        "pipeline": np.where(open_stage, context.revenue, 0.0),
    }
    matrix = np.column_stack(
        [np.round(np.asarray(columns[SUM_FIELDS[i]], dtype=float) * _SCALE[i]) for i in _STATIC]
    )
    matrix.setflags(write=False)
    context._cache["unit_matrix"] = matrix
    return matrix


def _distance_units(context: Context, positions: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Visit-weighted distance from each account to its row's home, in metre-visits."""
    home_lon = np.append(context.home_lon, np.nan)
    home_lat = np.append(context.home_lat, np.nan)
    distance = haversine_km(
        context.lon[positions], context.lat[positions], home_lon[slots], home_lat[slots]
    )
    distance = np.nan_to_num(distance, nan=0.0)
    return np.round(context.visits[positions] * distance * _SCALE[_DISTANCE])


def _add_rows(units: np.ndarray, context, positions, slots, sign: float) -> None:
    m, f = units.shape
    contributions = np.empty((len(positions), f))
    contributions[:, _STATIC] = _unit_matrix(context)[positions]
    contributions[:, _DISTANCE] = _distance_units(context, positions, slots)
    slots = np.asarray(slots, dtype=np.int64)
    if len(positions) > 50_000:
        for i in range(f):
            units[:, i] += sign * np.bincount(slots, weights=contributions[:, i], minlength=m)
        return
    # Few accounts (a move): one bincount over (row, field) cells beats one per field.
    cells = (slots[:, None] * f + np.arange(f)).ravel()
    units += sign * np.bincount(cells, weights=contributions.ravel(), minlength=m * f).reshape(m, f)


def full_totals(context: Context, codes: np.ndarray) -> Totals:
    """Compute every row's totals from scratch.

    Parameters
    ----------
    context : Context
        The accounts and territories.
    codes : numpy.ndarray
        Territory code per account (-1 for unassigned).

    Returns
    -------
    Totals
    """
    k = context.n_territories
    slots = np.where(codes < 0, k, codes).astype(np.int64)
    units = np.zeros((k + 1, len(SUM_FIELDS)))
    _add_rows(units, context, np.arange(context.n_accounts), slots, 1.0)
    order = np.argsort(slots, kind="stable")
    bounds = np.searchsorted(slots[order], np.arange(k + 2))
    hulls, area = [], np.zeros(k + 1)
    for row in range(k):
        members = order[bounds[row] : bounds[row + 1]]
        hull, area[row] = _hull(context, members, row)
        hulls.append(hull)
    hulls.append(np.empty(0, dtype=np.int64))
    return _frozen_totals(units, area, hulls)


def moved_totals(
    context: Context,
    parent: Totals,
    codes: np.ndarray,
    moved: np.ndarray,
    moved_from: np.ndarray,
) -> Totals:
    """Update a parent plan's totals after accounts moved.

    Parameters
    ----------
    context : Context
        The accounts and territories.
    parent : Totals
        Totals of the plan before the move.
    codes : numpy.ndarray
        Territory code per account after the move.
    moved : numpy.ndarray
        Positions of the moved accounts (to one territory or to several).
    moved_from : numpy.ndarray
        Their codes before the move.

    Returns
    -------
    Totals
        Equal, bit for bit, to ``full_totals(context, codes)``.
    """
    k = context.n_territories
    f = len(SUM_FIELDS)
    units = parent.units.copy()
    old = np.where(moved_from < 0, k, moved_from).astype(np.int64)
    new = np.where(codes[moved] < 0, k, codes[moved]).astype(np.int64)
    # Subtract the moved accounts from their rows and add them to their new
    # rows (the distance to the home base differs between the two).
    contributions = np.empty((len(moved), f))
    contributions[:, _STATIC] = _unit_matrix(context)[moved]
    contributions[:, _DISTANCE] = _distance_units(context, moved, old)
    cells = (old[:, None] * f + np.arange(f)).ravel()
    units -= np.bincount(cells, weights=contributions.ravel(), minlength=(k + 1) * f).reshape(
        k + 1, f
    )
    contributions[:, _DISTANCE] = _distance_units(context, moved, new)
    cells = (new[:, None] * f + np.arange(f)).ravel()
    units += np.bincount(cells, weights=contributions.ravel(), minlength=(k + 1) * f).reshape(
        k + 1, f
    )
    hulls = list(parent.hulls)
    area = parent.area_km2.copy()
    for target in np.unique(new[new != k]).tolist():
        candidates = np.concatenate([hulls[target], moved[new == target]])
        if np.isnan(context.home_lat[target]):
            candidates = np.flatnonzero(codes == target)
        hulls[target], area[target] = _hull(context, candidates, target)
    departed = np.sort(moved)
    for row in np.flatnonzero(np.bincount(old, minlength=k + 1)[:k]):
        corners = hulls[row]
        at = np.minimum(np.searchsorted(departed, corners), len(departed) - 1)
        # A corner among the moved accounts may have left (or, for a row that
        # also received, arrived): either way rebuild from the members.
        lost_vertex = bool((departed[at] == corners).any()) if len(corners) else False
        if lost_vertex or np.isnan(context.home_lat[row]):
            hulls[row], area[row] = _hull(context, np.flatnonzero(codes == row), row)
    return _frozen_totals(units, area, hulls)


def _frozen_totals(units, area, hulls) -> Totals:
    units.setflags(write=False)
    area.setflags(write=False)
    for hull in hulls:
        hull.setflags(write=False)
    return Totals(units=units, area_km2=area, hulls=tuple(hulls))


def _hull(context: Context, members: np.ndarray, row: int) -> tuple[np.ndarray, float]:
    """Extreme points (positions) of some accounts of a row, and their hull's area.

    Accounts are projected around the row's home latitude (their mean latitude
    without a home) so a multi-state plan keeps areas honest. The area is
    computed from the hull's corners in a canonical order, so the same corners
    give the same area to the last bit however they were found.
    """
    members = np.asarray(members, dtype=np.int64)
    if len(members) == 0:
        return members, 0.0
    lat = context.lat[members]
    ref_lat = context.home_lat[row]
    if np.isnan(ref_lat):
        ref_lat = float(np.mean(lat))
    km_per_deg = np.pi * EARTH_RADIUS_KM / 180.0
    xy = np.column_stack(
        [context.lon[members] * km_per_deg * np.cos(np.radians(ref_lat)), lat * km_per_deg]
    )
    if len(members) >= 3:
        try:
            # Qhull on the raw array: one GEOS point per account cost 0.6 s at 100k.
            corners = ConvexHull(xy).vertices  # counter-clockwise in 2-D
        except QhullError:  # all on a line or on one spot
            corners = None
        if corners is not None:
            start = np.lexsort((xy[corners, 1], xy[corners, 0]))[0]
            corners = np.roll(corners, -start)
            x, y = xy[corners, 0], xy[corners, 1]
            area = 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
            return members[corners], abs(area)
    # Degenerate: the lexicographic extremes span the segment the points lie on.
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    return np.unique(members[[order[0], order[-1]]]), 0.0


def tally(context: Context, codes: np.ndarray, bins: np.ndarray | None = None):
    """Raw sums and covered area for some or all territory rows.

    Parameters
    ----------
    context : Context
        The accounts and territories.
    codes : numpy.ndarray
        Territory code per account (-1 for unassigned).
    bins : numpy.ndarray, optional
        Rows to return: territory codes, with ``context.n_territories`` for
        the unassigned row. All rows when omitted.

    Returns
    -------
    sums : numpy.ndarray
        Shape ``(len(bins), len(SUM_FIELDS))``, natural units.
    area_km2 : numpy.ndarray
        Convex-hull area of each row's accounts (0 for the unassigned row).
    """
    totals = full_totals(context, codes)
    if bins is None:
        return totals.sums, totals.area_km2.copy()
    bins = np.asarray(bins, dtype=np.int64)
    return totals.sums[bins], totals.area_km2[bins]


def utilisation(workload: Any, capacity: Any) -> Any:
    """Workload ÷ capacity; NaN where the capacity is missing, zero or negative.

    The one definition every table uses: a rep without capacity has no
    utilisation (shown as missing), not an infinite one.

    Parameters
    ----------
    workload, capacity : array-like or pandas.Series
        Hours, aligned (same length and order).

    Returns
    -------
    numpy.ndarray or pandas.Series
        Float ratios; a Series (with ``workload``'s index, else
        ``capacity``'s) when either input is one.

    Examples
    --------
    >>> utilisation(np.array([800.0, 50.0, 10.0]), np.array([1600.0, 0.0, np.nan])).tolist()
    [0.5, nan, nan]
    """
    w = np.asarray(workload, dtype=float)
    c = np.asarray(capacity, dtype=float)
    if w.shape != c.shape:
        raise ValueError(f"workload and capacity differ in shape: {w.shape} != {c.shape}")
    ratio = np.full(w.shape, np.nan)
    np.divide(w, c, out=ratio, where=c > 0)
    for series in (workload, capacity):
        if isinstance(series, pd.Series):
            return pd.Series(ratio, index=series.index)
    return ratio


def metrics_frame(context: Context, sums: np.ndarray, area_km2: np.ndarray) -> pd.DataFrame:
    """Per-territory figures from raw sums, plus the unassigned row.

    Parameters
    ----------
    context : Context
        The accounts and territories.
    sums : numpy.ndarray
        All rows of :func:`tally`, territories first, unassigned last.
    area_km2 : numpy.ndarray
        Covered area per row.

    Returns
    -------
    pandas.DataFrame
        Indexed by territory id, with the unassigned row under ``<NA>``
        removed: use ``frame.attrs["unassigned"]`` (a Series) for it. Columns:
        ``name, rep_id, accounts, revenue, cost, net_profit, margin, visits,
        visit_hours, travel_km, travel_hours, direct_km, mean_distance_km,
        area_km2, workload_hours, capacity_hours, utilisation, leads,
        opportunities, customers, new_accounts, conversion_rate, pipeline,
        revenue_last_year, growth``.
    """
    params = context.params
    s = {name: sums[:, i] for name, i in _FIELD.items()}
    visits = s["visits"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_distance = np.where(visits > 0, s["visit_distance_km"] / visits, np.nan)
        travel_km = tour_km(visits, mean_distance, area_km2, params)
        travel_km[-1] = 0.0  # nobody drives to white space
        visit_hours = visits * params.visit_hours
        travel_hours = travel_km / params.speed_kmh
        workload = visit_hours + travel_hours
        capacity = np.append(context.capacity_hours, np.nan)
        revenue, cost = s["revenue"], s["cost"]
        net_profit = revenue - cost
        frame = pd.DataFrame(
            {
                "name": np.append(context.territory_names, "(unassigned)"),
                "rep_id": np.append(context.territory_reps, None),
                "accounts": s["accounts"].astype(np.int64),
                "revenue": revenue,
                "cost": cost,
                "net_profit": net_profit,
                "margin": np.where(revenue != 0, net_profit / revenue, np.nan),
                "visits": visits,
                "visit_hours": visit_hours,
                "travel_km": travel_km,
                "travel_hours": travel_hours,
                "direct_km": 2.0 * s["visit_distance_km"] * params.circuity,
                "mean_distance_km": mean_distance,
                "area_km2": area_km2,
                "workload_hours": workload,
                "capacity_hours": capacity,
                "utilisation": utilisation(workload, capacity),
                "leads": s["leads"].astype(np.int64),
                "opportunities": s["opportunities"].astype(np.int64),
                "customers": s["customers"].astype(np.int64),
                "new_accounts": s["new_accounts"].astype(np.int64),
                "conversion_rate": np.where(s["leads"] > 0, s["new_accounts"] / s["leads"], np.nan),
                "pipeline": s["pipeline"],
                "revenue_last_year": np.where(
                    s["accounts_with_last_year"] > 0, s["revenue_last_year"], np.nan
                ),
            },
            index=pd.Index(list(context.territory_ids) + ["__unassigned__"], name="territory_id"),
        )
    unassigned = frame.iloc[-1].copy()
    frame = frame.iloc[:-1].copy()
    frame.attrs["unassigned"] = unassigned
    return frame


def selection_summary(context: Context, codes: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    """Summarise a selection by the territory its accounts come from.

    Parameters
    ----------
    context : Context
        The accounts and territories.
    codes : numpy.ndarray
        Territory code per account in the current plan.
    positions : numpy.ndarray
        Positions of the selected accounts.

    Returns
    -------
    pandas.DataFrame
        One row per source territory (``"(unassigned)"`` for white space)
        with ``accounts, revenue, cost, net_profit``, largest first.
    """
    k = context.n_territories
    slot = np.where(codes[positions] < 0, k, codes[positions])
    names = np.append(context.territory_ids.to_numpy(dtype=object), "(unassigned)")
    frame = pd.DataFrame(
        {
            "territory": names[slot],
            "accounts": 1,
            "revenue": context.revenue[positions],
            "cost": context.cost[positions],
        }
    )
    frame["net_profit"] = frame["revenue"] - frame["cost"]
    summary = frame.groupby("territory", sort=False).sum()
    return summary.sort_values("accounts", ascending=False)
