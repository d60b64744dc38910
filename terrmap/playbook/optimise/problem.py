"""The arrays an alignment is optimised over: sparse candidates, costs, measures.

Each account may only go to a few *candidate* territories (its current one and
the ``n_candidates`` territories whose home bases are nearest), the sparse
assignment of Zoltners & Sinha (1983). Everything the solver needs is an
``(n, C)`` array over those candidates: the territory code, the distance from
that territory's home base, the account's contribution to the balanced
measure there (workload depends on the distance), and the cost of putting it
there (compactness plus, away from its current territory, disruption).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from terrmap.core.context import Context
from terrmap.core.metrics import measure_label, metrics_frame, tally
from terrmap.core.travel import haversine_km
from terrmap.core.travel import unit_vectors as _unit_vectors

__all__ = ["ADDITIVE_MEASURES", "Problem", "build_problem", "measure_label"]

#: Measures that are a plain sum over accounts (everything else is travel-based).
ADDITIVE_MEASURES: tuple[str, ...] = (
    "revenue",
    "net_profit",
    "cost",
    "accounts",
    "visits",
    "pipeline",
)
_TRAVEL_MEASURES = ("workload_hours", "travel_hours", "travel_km")


@dataclass(frozen=True, eq=False)
class Problem:
    """Arrays of one optimisation problem (no costs that depend on weights).

    Attributes
    ----------
    k : int
        Number of territories.
    movable : numpy.ndarray of int
        Positions (in the context) of the accounts the solver may move.
    candidates : numpy.ndarray of int, shape (m, C)
        Candidate territory codes of each movable account; column 0 is the
        current territory in rebalancing mode. ``-1`` marks an unusable slot.
    distance_km : numpy.ndarray, shape (m, C)
        Great-circle distance from each candidate's home base.
    value : numpy.ndarray, shape (m, C)
        The account's contribution to the measure in each candidate.
    fixed_load : numpy.ndarray, shape (k,)
        Measure held by accounts that cannot move.
    disruption : numpy.ndarray, shape (m,)
        Disruption of moving each account (half per account, half by revenue).
    start_column : numpy.ndarray of int, shape (m,)
        Column of the current territory (``-1`` in greenfield mode).
    distance_scale_km : float
        Typical distance to the nearest home base; distances are divided by it.
    value_unit : float
        Mean absolute measure per movable account.
    locked_territories : numpy.ndarray of bool, shape (k,)
        Territories that neither give nor receive accounts.
    """

    k: int
    movable: np.ndarray
    candidates: np.ndarray
    distance_km: np.ndarray
    value: np.ndarray
    fixed_load: np.ndarray
    disruption: np.ndarray
    start_column: np.ndarray
    distance_scale_km: float
    value_unit: float
    locked_territories: np.ndarray


def check_measure(measure: str | Mapping[str, float]) -> dict[str, float]:
    """Validate a measure name or mix and return it as weights summing to 1.

    Raises
    ------
    ValueError
        For an unknown measure or negative / all-zero weights.
    """
    weights = {measure: 1.0} if isinstance(measure, str) else dict(measure)
    known = set(ADDITIVE_MEASURES) | set(_TRAVEL_MEASURES)
    unknown = [name for name in weights if name not in known]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; choose from {sorted(known)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"measure weights must be non-negative and not all zero, got {weights}")
    total = float(sum(weights.values()))
    return {name: float(w) / total for name, w in weights.items() if w > 0}


def _candidates(lon, lat, current, home_lon, home_lat, usable, n_candidates) -> np.ndarray:
    """Candidate territory codes per account, current first, padded with -1.

    Two sparse neighbourhoods are joined: each account's ``n_candidates``
    nearest home bases, and each territory's nearest accounts (twice an
    average territory's count), so that a remote territory with too few
    accounts of its own can still reach enough of them to fill its share.
    """
    m = len(lon)
    if m == 0 or len(usable) == 0:
        base = np.empty((m, 0), dtype=np.int64) if current is None else current[:, None]
        return base.astype(np.int64)
    c = int(min(n_candidates, len(usable)))
    points = _unit_vectors(lon, lat)
    homes = _unit_vectors(home_lon[usable], home_lat[usable])
    _, nearest = cKDTree(homes).query(points, k=c)
    nearest = usable[np.asarray(nearest, dtype=np.int64).reshape(m, c)]
    reach = int(min(m, max(2 * m // len(usable), c)))
    _, reverse = cKDTree(points).query(homes, k=reach)
    reverse = np.asarray(reverse, dtype=np.int64).reshape(len(usable), reach)
    rows = [np.repeat(np.arange(m), c), reverse.ravel()]
    territory = [nearest.ravel(), np.repeat(usable, reach)]
    if current is not None:
        rows.insert(0, np.arange(m))
        territory.insert(0, current.astype(np.int64))
    rows, territory = np.concatenate(rows), np.concatenate(territory)
    is_current = np.zeros(len(rows), dtype=bool)
    if current is not None:
        is_current[:m] = True
    distance = ((points[rows] - _unit_vectors(home_lon[territory], home_lat[territory])) ** 2).sum(
        1
    )
    order = np.lexsort((distance, ~is_current, rows))
    rows, territory = rows[order], territory[order]
    keep = np.ones(len(rows), dtype=bool)
    # Drop repeats of a (row, territory) pair; the current one sorts first.
    pair_order = np.lexsort((np.arange(len(rows)), territory, rows))
    same = (np.diff(rows[pair_order]) == 0) & (np.diff(territory[pair_order]) == 0)
    keep[pair_order[1:][same]] = False
    rows, territory = rows[keep], territory[keep]
    start = np.searchsorted(rows, np.arange(m))
    rank = np.arange(len(rows)) - start[rows]
    width = int(min(rank.max() + 1, c + 1 + 2 * c))
    inside = rank < width
    candidates = np.full((m, width), -1, dtype=np.int64)
    candidates[rows[inside], rank[inside]] = territory[inside]
    return candidates


def open_territories(
    territory_locks: np.ndarray, home_lon: np.ndarray, home_lat: np.ndarray
) -> np.ndarray:
    """Return which territories may give and receive: unlocked, with a known home base.

    Parameters
    ----------
    territory_locks : numpy.ndarray of bool
        Locked territories.
    home_lon, home_lat : numpy.ndarray
        Home base per territory (NaN where unknown).

    Returns
    -------
    numpy.ndarray of bool
        One flag per territory.
    """
    return ~territory_locks & np.isfinite(home_lon) & np.isfinite(home_lat)


def disruption_cost(revenue: np.ndarray, reference: np.ndarray) -> np.ndarray | float:
    """Return the cost of moving each account: 0.5 plus half its revenue over the mean.

    Parameters
    ----------
    revenue : numpy.ndarray
        Revenue of the accounts to price (its sign is ignored).
    reference : numpy.ndarray
        Revenue of the accounts whose mean absolute revenue costs 1.

    Returns
    -------
    numpy.ndarray or float
        One cost per account; the scalar 1.0 (every account alike) when the
        reference mean is 0 or there is no reference account.

    Examples
    --------
    >>> disruption_cost(np.array([100.0, -300.0, 200.0]), np.array([100.0, 300.0])).tolist()
    [0.75, 1.25, 1.0]
    """
    mean_revenue = float(np.abs(reference).mean()) if len(reference) else 0.0
    return 0.5 + (0.5 * np.abs(revenue) / mean_revenue if mean_revenue else 0.5)


def home_bases(context: Context, codes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Home base per territory; the members' centroid where a territory has none.

    Returns
    -------
    lon, lat : numpy.ndarray
        NaN for a territory with neither a home base nor members.
    """
    lon = context.home_lon.astype(float).copy()
    lat = context.home_lat.astype(float).copy()
    missing = np.isnan(lon) | np.isnan(lat)
    if missing.any() and codes is not None:
        ok = (codes >= 0) & ~np.isnan(context.lon) & ~np.isnan(context.lat)
        k = context.n_territories
        counts = np.bincount(codes[ok], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_lon = np.bincount(codes[ok], weights=context.lon[ok], minlength=k) / counts
            mean_lat = np.bincount(codes[ok], weights=context.lat[ok], minlength=k) / counts
        lon[missing], lat[missing] = mean_lon[missing], mean_lat[missing]
    return lon, lat


def _additive(context: Context, positions: np.ndarray, name: str) -> np.ndarray:
    revenue = context.revenue[positions]
    if name == "revenue":
        return revenue
    if name == "net_profit":
        return revenue - context.cost[positions]
    if name == "cost":
        return context.cost[positions]
    if name == "accounts":
        return np.ones(len(positions))
    if name == "visits":
        return context.visits[positions]
    # pipeline: revenue of leads and opportunities (stage codes 0 and 1)
    return np.where(np.isin(context.stage[positions], (0, 1)), revenue, 0.0)


def _account_values(
    context: Context,
    positions: np.ndarray,
    distance_km: np.ndarray,
    weights: Mapping[str, float],
    reference_codes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-candidate measure values of some accounts, and the per-territory means used.

    Travel-based measures use an additive proxy: visits x (time on site +
    the reference plan's local-tour time per visit) plus the line haul
    ``2 d circuity visits / stops_per_day`` of the tour model; the exact,
    non-additive figure is computed from the final plan.
    """
    params = context.params
    visits = context.visits[positions][:, None]
    needs_reference = len(weights) > 1 or any(name in _TRAVEL_MEASURES for name in weights)
    if not needs_reference:
        name = next(iter(weights))
        return _additive(context, positions, name)[:, None] * np.ones((1, distance_km.shape[1])), {}
    reference = metrics_frame(context, *tally(context, reference_codes))
    line_haul_km = 2.0 * params.circuity * distance_km * visits / params.stops_per_day
    with np.errstate(invalid="ignore", divide="ignore"):
        local_km = reference["travel_km"] - (
            2.0
            * params.circuity
            * reference["mean_distance_km"].fillna(0.0)
            * reference["visits"]
            / params.stops_per_day
        )
        total_visits = float(reference["visits"].sum())
        local_per_visit_km = (
            float(local_km.clip(lower=0).sum()) / total_visits if total_visits else 0.0
        )
    travel_km = line_haul_km + local_per_visit_km * params.circuity * visits
    value = np.zeros(distance_km.shape)
    means = {}
    for name, weight in weights.items():
        if name in ADDITIVE_MEASURES:
            column = np.broadcast_to(
                _additive(context, positions, name)[:, None], distance_km.shape
            )
        elif name == "travel_km":
            column = travel_km
        elif name == "travel_hours":
            column = travel_km / params.speed_kmh
        else:  # workload_hours
            column = visits * params.visit_hours + travel_km / params.speed_kmh
        mean = float(reference[name].mean()) if len(weights) > 1 else 1.0
        means[name] = mean
        value += weight * column / (mean if mean else 1.0)
    return value, means


def build_problem(
    context: Context,
    start_codes: np.ndarray | None,
    weights: Mapping[str, float],
    *,
    n_candidates: int,
    locked_accounts: np.ndarray,
    locked_territories: np.ndarray,
    home_lon: np.ndarray,
    home_lat: np.ndarray,
) -> Problem:
    """Assemble the arrays for :mod:`terrmap.playbook.optimise.solver`.

    Parameters
    ----------
    context : Context
        Accounts and territories.
    start_codes : numpy.ndarray or None
        Current territory code per account (``-1`` white space); ``None`` for
        greenfield mode, where every located account is placed afresh.
    weights : mapping of str to float
        Measure weights from :func:`check_measure`.
    n_candidates : int
        Nearest home bases considered per account.
    locked_accounts : numpy.ndarray of bool
        Accounts that keep their territory.
    locked_territories : numpy.ndarray of bool
        Territories that keep their accounts and receive none.
    home_lon, home_lat : numpy.ndarray
        Home base per territory (NaN: no candidate for anyone).

    Returns
    -------
    Problem
    """
    k = context.n_territories
    n = context.n_accounts
    located = ~(np.isnan(context.lon) | np.isnan(context.lat))
    has_home = ~(np.isnan(home_lon) | np.isnan(home_lat))
    greenfield = start_codes is None
    codes = np.full(n, -1, dtype=np.int64) if greenfield else start_codes.astype(np.int64)
    in_locked_territory = (codes >= 0) & locked_territories[np.maximum(codes, 0)]
    if greenfield:
        movable_mask = located
    else:
        # White space stays white space: the optimiser balances what is owned.
        movable_mask = located & (codes >= 0) & ~locked_accounts & ~in_locked_territory
    movable = np.flatnonzero(movable_mask)

    usable = np.flatnonzero(has_home & ~locked_territories)
    m = len(movable)
    current = None if greenfield else codes[movable]
    candidates = _candidates(
        context.lon[movable],
        context.lat[movable],
        current,
        home_lon,
        home_lat,
        usable,
        n_candidates,
    )
    start_column = np.full(m, -1 if greenfield else 0, dtype=np.int64)
    c = candidates.shape[1]

    safe = np.maximum(candidates, 0)
    lon, lat = context.lon[movable][:, None], context.lat[movable][:, None]
    distance = haversine_km(lon, lat, home_lon[safe], home_lat[safe])
    distance = np.where((candidates >= 0) & ~np.isnan(distance), distance, np.inf)
    if greenfield:
        reference_codes = np.full(n, -1, dtype=np.int32)
        if m and c:
            reference_codes[movable] = candidates[:, 0]
    else:
        reference_codes = codes.astype(np.int32)
    value, _ = _account_values(
        context, movable, np.where(np.isfinite(distance), distance, 0.0), weights, reference_codes
    )

    fixed_mask = np.ones(n, dtype=bool)
    fixed_mask[movable] = False
    fixed_mask &= codes >= 0
    fixed_positions = np.flatnonzero(fixed_mask)
    fixed_load = np.zeros(k)
    if len(fixed_positions):
        fixed_codes = codes[fixed_positions]
        fixed_distance = haversine_km(
            context.lon[fixed_positions],
            context.lat[fixed_positions],
            home_lon[fixed_codes],
            home_lat[fixed_codes],
        )
        fixed_value, _ = _account_values(
            context,
            fixed_positions,
            np.nan_to_num(fixed_distance, nan=0.0)[:, None],
            weights,
            reference_codes,
        )
        fixed_load = np.bincount(fixed_codes, weights=fixed_value[:, 0], minlength=k)

    revenue = context.revenue[movable]
    disruption = disruption_cost(revenue, revenue)
    nearest_distance = distance.min(axis=1) if m and distance.shape[1] else np.zeros(0)
    finite = nearest_distance[np.isfinite(nearest_distance)]
    scale = float(np.mean(finite)) if finite.size and np.mean(finite) > 0 else 1.0
    own = value[np.arange(m), 0] if m and value.shape[1] else np.zeros(0)
    unit = float(np.mean(np.abs(own))) if m else 1.0
    return Problem(
        k=k,
        movable=movable,
        candidates=candidates,
        distance_km=distance,
        value=value,
        fixed_load=fixed_load,
        disruption=disruption,
        start_column=start_column,
        distance_scale_km=scale,
        value_unit=unit if unit > 0 else 1.0,
        locked_territories=locked_territories.copy(),
    )
