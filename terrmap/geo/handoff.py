"""Where a selection of accounts should go, and whether that is far from home.

A manager selects accounts on the map and hands them to a territory. Two
questions come before the click:

* :func:`suggest_target`: which territory the selection naturally belongs
  to. The territory whose accounts border the selection most (the most of the
  selected accounts' nearest neighbours outside the selection), else the one
  whose home base is nearest; never blindly the first in the list.
* :func:`distance_check`: how far the accounts would be from the target's
  home base, and whether that is farther than the territory serves today, so
  the page can ask for confirmation before a careless click sends accounts
  400 km away.

Both take account positions (what the map reports) and return plain data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from terrmap.core.formatting import count, number
from terrmap.core.plan import Plan
from terrmap.core.travel import EARTH_RADIUS_KM, haversine_km, unit_vectors

__all__ = ["DistanceCheck", "TargetSuggestion", "distance_check", "suggest_target"]

#: Neighbours looked at per selected account.
NEIGHBOURS = 8
#: A move is never called far when every account stays within this of home.
MIN_FAR_KM = 150.0
#: The share of a territory's accounts that set how far it reaches today.
REACH_QUANTILE = 0.95
#: How far beyond today's reach a move may go before it is called far.
REACH_MARGIN = 1.25


@dataclass(frozen=True)
class TargetSuggestion:
    """The territory a selection should go to, and why.

    Attributes
    ----------
    territory_id : str or None
        The suggestion; ``None`` when no territory can take the accounts (no
        territory at all).
    reason : str
        One sentence for the page, with names.
    basis : {"border", "home", "none"}
        How it was chosen: bordering accounts, nearest home base, nothing.
    """

    territory_id: str | None
    reason: str
    basis: str


@dataclass(frozen=True)
class DistanceCheck:
    """How far a move would send accounts from the target territory's home base.

    Attributes
    ----------
    far_accounts : int
        Selected accounts farther than ``threshold_km`` from the home base.
    max_km : float
        Farthest selected account from the home base (NaN when the
        territory has no home base).
    threshold_km : float
        How far the territory may reach: a quarter beyond the 95th percentile
        of its own accounts' distances today, at least :data:`MIN_FAR_KM`.
    """

    far_accounts: int
    max_km: float
    threshold_km: float

    @property
    def is_far(self) -> bool:
        """Whether the move needs a confirmation."""
        return self.far_accounts > 0


def _positions(plan: Plan, positions) -> np.ndarray:
    pos = np.unique(np.asarray(positions, dtype=np.int64))
    n = plan.context.n_accounts
    if pos.size and (pos[0] < 0 or pos[-1] >= n):
        bad = pos[(pos < 0) | (pos >= n)][0]
        raise ValueError(f"account position {int(bad)} out of range for {n} accounts")
    return pos


def suggest_target(plan: Plan, positions, *, neighbours: int = NEIGHBOURS) -> TargetSuggestion:
    """Suggest the territory a selection of accounts should be handed to.

    Candidates are every territory except one that already holds the whole
    selection (a move there changes nothing). For each selected account its
    ``neighbours`` nearest accounts of candidate territories outside the
    selection vote for their territory; the most votes wins (ties: the
    nearer neighbours, then the list order). Without such accounts the
    territory whose home base is nearest to the selection's centre wins.

    Parameters
    ----------
    plan : Plan
        The plan in force.
    positions : array-like of int
        Positions of the selected accounts in the plan's context.
    neighbours : int, default 8
        Neighbours per selected account.

    Returns
    -------
    TargetSuggestion
        ``basis="none"`` for an empty selection or a plan without territories.

    Raises
    ------
    ValueError
        When a position is out of range or ``neighbours`` < 1.
    """
    if neighbours < 1:
        raise ValueError(f"neighbours must be at least 1, got {neighbours}")
    ctx = plan.context
    pos = _positions(plan, positions)
    names = np.asarray(ctx.territory_names, dtype=object)
    if pos.size == 0 or ctx.n_territories == 0:
        return TargetSuggestion(None, "Nothing selected.", "none")
    codes = plan.codes
    held = np.unique(codes[pos])
    candidate = np.ones(ctx.n_territories, dtype=bool)
    if held.size == 1 and held[0] >= 0:
        candidate[held[0]] = False
    if not candidate.any():
        return TargetSuggestion(None, "There is no other territory.", "none")
    others = np.ones(ctx.n_accounts, dtype=bool)
    others[pos] = False
    others &= codes >= 0
    others[others] = candidate[codes[others]]
    others &= np.isfinite(ctx.lon) & np.isfinite(ctx.lat)
    located = pos[np.isfinite(ctx.lon[pos]) & np.isfinite(ctx.lat[pos])]
    if others.any() and located.size:
        pool = np.flatnonzero(others)
        k = min(neighbours, pool.size)
        tree = cKDTree(unit_vectors(ctx.lon[pool], ctx.lat[pool]))
        chord, found = tree.query(unit_vectors(ctx.lon[located], ctx.lat[located]), k=k)
        found = np.asarray(found).reshape(len(located), k)
        chord = np.asarray(chord).reshape(len(located), k)
        voters = codes[pool[found.ravel()]]
        votes = np.bincount(voters, minlength=ctx.n_territories)
        closeness = np.bincount(
            voters,
            weights=1.0 / (1.0 + chord.ravel() * EARTH_RADIUS_KM),
            minlength=ctx.n_territories,
        )
        order = np.lexsort((np.arange(ctx.n_territories), -closeness, -votes))
        best = int(order[0])
        share = f"{number(votes[best])} of the {count(voters.size, 'nearest neighbour')}"
        return TargetSuggestion(
            str(ctx.territory_ids[best]),
            f"{names[best]} borders the selection most ({share} of the selected accounts "
            "belong to it).",
            "border",
        )
    home = candidate & np.isfinite(ctx.home_lon) & np.isfinite(ctx.home_lat)
    if not home.any() or located.size == 0:
        first = int(np.flatnonzero(candidate)[0])
        return TargetSuggestion(
            str(ctx.territory_ids[first]),
            f"No territory borders the selection and none has a home base; {names[first]} "
            "is the first in the list.",
            "none",
        )
    centre = unit_vectors(ctx.lon[located], ctx.lat[located]).mean(axis=0)
    lon_c = float(np.degrees(np.arctan2(centre[1], centre[0])))
    lat_c = float(np.degrees(np.arctan2(centre[2], np.hypot(centre[0], centre[1]))))
    distance = np.full(ctx.n_territories, np.inf)
    distance[home] = haversine_km(lon_c, lat_c, ctx.home_lon[home], ctx.home_lat[home])
    best = int(np.argmin(distance))
    return TargetSuggestion(
        str(ctx.territory_ids[best]),
        f"{names[best]} has the nearest home base ({number(distance[best])} km from the "
        "selection's centre).",
        "home",
    )


def distance_check(plan: Plan, positions, territory_id: str | None) -> DistanceCheck:
    """Measure how far a move of the selection to ``territory_id`` sends accounts from home.

    Parameters
    ----------
    plan : Plan
        The plan in force.
    positions : array-like of int
        Positions of the selected accounts.
    territory_id : str or None
        The target; ``None`` (white space) is never far.

    Returns
    -------
    DistanceCheck
        No far accounts when the territory has no home base.

    Raises
    ------
    ValueError
        When a position is out of range or the territory is unknown.
    """
    ctx = plan.context
    pos = _positions(plan, positions)
    if territory_id is None:
        return DistanceCheck(0, float("nan"), float("nan"))
    code = ctx.territory_code(territory_id)
    home_lon, home_lat = float(ctx.home_lon[code]), float(ctx.home_lat[code])
    if not (np.isfinite(home_lon) and np.isfinite(home_lat)) or pos.size == 0:
        return DistanceCheck(0, float("nan"), float("nan"))
    members = np.flatnonzero(plan.codes == code)
    members = members[np.isfinite(ctx.lon[members]) & np.isfinite(ctx.lat[members])]
    reach = MIN_FAR_KM
    if members.size:
        today = haversine_km(home_lon, home_lat, ctx.lon[members], ctx.lat[members])
        reach = max(MIN_FAR_KM, REACH_MARGIN * float(np.quantile(today, REACH_QUANTILE)))
    km = haversine_km(home_lon, home_lat, ctx.lon[pos], ctx.lat[pos])
    km = km[np.isfinite(km)]
    if km.size == 0:
        return DistanceCheck(0, float("nan"), reach)
    return DistanceCheck(int((km > reach).sum()), float(km.max()), reach)
