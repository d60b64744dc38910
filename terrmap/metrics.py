"""Per-territory figures of a plan: money, pipeline, travel and workload.

The raw material is a table of sums per territory (accounts, revenue, cost,
visits, ...), one row per territory plus a last row for unassigned accounts.
Everything shown to users is derived from those sums and the area each
territory's accounts cover.

Incremental updates recompute only the rows of territories a move touched.
They recompute those rows from their members rather than applying
``old - out + in`` because floating-point addition is not associative: the
subtraction route drifts from a full recompute in the last bits, and a plan
that has seen a thousand moves must show exactly the figures a fresh load of
the same assignment shows. ``numpy.bincount`` adds each bin's members in
index order, so a row computed alone equals the same row of a full tally.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError

from terrmap.context import Context
from terrmap.schema import STAGES
from terrmap.travel import EARTH_RADIUS_KM, haversine_km, tour_km

__all__ = [
    "MEASURES",
    "SUM_FIELDS",
    "metrics_frame",
    "selection_summary",
    "tally",
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

_FIELD = {name: i for i, name in enumerate(SUM_FIELDS)}
_LEAD, _OPPORTUNITY, _CUSTOMER = (
    STAGES.index(stage) for stage in ("lead", "opportunity", "customer")
)


def tally(context: Context, codes: np.ndarray, bins: np.ndarray | None = None):
    """Raw sums and covered area for some or all territory rows.

    Parameters
    ----------
    context : Context
        The accounts and territories.
    codes : numpy.ndarray
        Territory code per account (-1 for unassigned).
    bins : numpy.ndarray, optional
        Rows to compute: territory codes, with ``context.n_territories``
        for the unassigned row. All rows when omitted.

    Returns
    -------
    sums : numpy.ndarray
        Shape ``(len(bins), len(SUM_FIELDS))``.
    area_km2 : numpy.ndarray
        Convex-hull area of each row's accounts (0 for the unassigned row).
    """
    k = context.n_territories
    # Code -1 (white space) indexes the last row of every (k + 1)-row table.
    if bins is None:
        bins = np.arange(k + 1)
        members = np.arange(len(codes))
        local = np.where(codes < 0, k, codes)
    else:
        bins = np.asarray(bins, dtype=np.int64)
        lookup = np.full(k + 1, -1, dtype=np.int32)
        lookup[bins] = np.arange(len(bins))
        local_all = lookup[codes]
        members = np.flatnonzero(local_all >= 0)
        local = local_all[members]
    m = len(bins)
    home_lon = np.append(context.home_lon, np.nan)
    home_lat = np.append(context.home_lat, np.nan)
    lon, lat = context.lon[members], context.lat[members]
    member_slot = codes[members]
    distance = haversine_km(lon, lat, home_lon[member_slot], home_lat[member_slot])
    distance = np.nan_to_num(distance, nan=0.0)
    visits = context.visits[members]
    stage = context.stage[members]
    last_year = context.revenue_last_year[members]
    known_last_year = ~np.isnan(last_year)
    columns = {
        "accounts": None,
        "revenue": context.revenue[members],
        "cost": context.cost[members],
        "visits": visits,
        "leads": stage == _LEAD,
        "opportunities": stage == _OPPORTUNITY,
        "customers": stage == _CUSTOMER,
        "new_accounts": context.is_new[members],
        "revenue_last_year": np.where(known_last_year, last_year, 0.0),
        "accounts_with_last_year": known_last_year,
        "visit_distance_km": distance * visits,
        "pipeline": np.where(
            (stage == _LEAD) | (stage == _OPPORTUNITY), context.revenue[members], 0.0
        ),
    }
    sums = np.empty((m, len(SUM_FIELDS)))
    for i, name in enumerate(SUM_FIELDS):
        weights = columns[name]
        sums[:, i] = np.bincount(
            local,
            weights=None if weights is None else np.asarray(weights, dtype=float),
            minlength=m,
        )
    area = _hull_areas(lon, lat, local, bins, home_lat, k)
    return sums, area


def _hull_areas(lon, lat, local, bins, home_lat, k) -> np.ndarray:
    m = len(bins)
    area = np.zeros(m)
    if len(local) == 0:
        return area
    order = np.argsort(local, kind="stable")
    local_sorted = local[order]
    counts = np.bincount(local_sorted, minlength=m)
    # Each territory is projected around its home latitude (or its accounts'
    # mean latitude without one) so a multi-state plan keeps areas honest.
    mean_lat = np.bincount(local_sorted, weights=lat[order], minlength=m) / np.maximum(counts, 1)
    ref_lat = np.where(np.isnan(home_lat[bins]), mean_lat, home_lat[bins])
    km_per_deg = np.pi * EARTH_RADIUS_KM / 180.0
    x = lon[order] * km_per_deg * np.cos(np.radians(ref_lat[local_sorted]))
    y = lat[order] * km_per_deg
    xy = np.column_stack([x, y])
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for row in np.flatnonzero(counts >= 3):
        if bins[row] != k:
            area[row] = _hull_area(xy[bounds[row] : bounds[row + 1]])
    area[(bins == k) | (counts < 3)] = 0.0
    return area


def _hull_area(xy: np.ndarray) -> float:
    # Qhull on the raw array: building one GEOS point per account cost 0.6 s
    # at 100k accounts, qhull takes milliseconds.
    try:
        return float(ConvexHull(xy).volume)  # in 2-D, "volume" is the area
    except QhullError:  # all points on a line or on one spot
        return 0.0


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
                "utilisation": workload / capacity,
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
