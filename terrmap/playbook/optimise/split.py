"""More territories where the load is: split a territory, or greenfield with a larger K.

When a band cannot be reached because one area holds too much
(``Option(kind="add_territories")`` of :func:`terrmap.playbook.optimise.design`),
the remedy is more reps there. :func:`new_home_bases` places them: a
revenue-weighted k-means (Lloyd) over the accounts of the area, the existing
home bases held fixed as centres, each new centre then put on the account
nearest it (a real address). :func:`split_territory` adds the territories
(:func:`terrmap.geo.workspace.with_added_territories`), carries the history
over to the new data set and rebuilds the split territory with its new
neighbours from scratch (:func:`greenfield_territories`), so the proposal is
one step to accept or undo. :func:`greenfield_k` does the same for the whole
map with ``K`` territories (``K`` at least today's number).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from terrmap.core.plan import History
from terrmap.core.travel import haversine_km
from terrmap.geo.workspace import Workspace, rebase_history, with_added_territories
from terrmap.playbook.optimise.problem import home_bases
from terrmap.playbook.optimise.territory_design import Design, _mask, greenfield_territories

__all__ = ["greenfield_k", "new_home_bases", "split_territory"]

_LLOYD_ITERATIONS = 20


def new_home_bases(
    lon: np.ndarray,
    lat: np.ndarray,
    weight: np.ndarray,
    fixed_lon: np.ndarray,
    fixed_lat: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Place ``count`` new home bases among points, the existing ones held fixed.

    Parameters
    ----------
    lon, lat, weight : numpy.ndarray
        The accounts of the area (degrees) and their weight (revenue).
    fixed_lon, fixed_lat : numpy.ndarray
        Home bases already there; they stay where they are.
    count : int
        New home bases wanted (at least 1, fewer than the accounts).
    rng : numpy.random.Generator
        Seeds the k-means++ choice of the first centres.

    Returns
    -------
    numpy.ndarray of int
        Positions (into ``lon``) of the accounts the new home bases are put on.

    Raises
    ------
    ValueError
        If ``count`` is below 1 or not below the number of distinct places.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    places = len(np.unique(np.column_stack([lon, lat]), axis=0)) if len(lon) else 0
    if count < 1:
        raise ValueError(f"add at least one territory, got {count}")
    if count >= places:
        raise ValueError(f"{count} new home bases need more than {places} distinct account places")
    weight = np.maximum(np.nan_to_num(np.asarray(weight, float)), 0.0)
    weight = weight + (weight.mean() if weight.any() else 1.0) * 1e-3
    centre_lon = list(np.asarray(fixed_lon, float))
    centre_lat = list(np.asarray(fixed_lat, float))
    fixed = len(centre_lon)
    # k-means++: each new centre drawn with probability ~ weight x distance^2.
    for _ in range(count):
        if centre_lon:
            d = haversine_km(lon[:, None], lat[:, None], np.array(centre_lon), np.array(centre_lat))
            nearest = d.min(axis=1)
        else:
            nearest = np.ones(len(lon))
        p = weight * nearest**2
        pick = (
            int(rng.choice(len(lon), p=p / p.sum())) if p.sum() > 0 else int(rng.integers(len(lon)))
        )
        centre_lon.append(lon[pick])
        centre_lat.append(lat[pick])
    centre_lon, centre_lat = np.array(centre_lon), np.array(centre_lat)
    for _ in range(_LLOYD_ITERATIONS):
        d = haversine_km(lon[:, None], lat[:, None], centre_lon[None, :], centre_lat[None, :])
        owner = np.argmin(d, axis=1)
        total = np.bincount(owner, weights=weight, minlength=len(centre_lon))
        moved_lon = np.bincount(owner, weights=weight * lon, minlength=len(centre_lon))
        moved_lat = np.bincount(owner, weights=weight * lat, minlength=len(centre_lon))
        free = np.arange(len(centre_lon)) >= fixed
        has = free & (total > 0)
        centre_lon[has] = moved_lon[has] / total[has]
        centre_lat[has] = moved_lat[has] / total[has]
    # On the nearest account, each a different place.
    chosen: list[int] = []
    for c in range(fixed, len(centre_lon)):
        d = haversine_km(lon, lat, centre_lon[c], centre_lat[c])
        for j in np.argsort(d, kind="stable").tolist():
            same_place = any(lon[j] == lon[i] and lat[j] == lat[i] for i in chosen)
            at_fixed = np.any((fixed_lon == lon[j]) & (fixed_lat == lat[j]))
            if not same_place and not at_fixed:
                chosen.append(j)
                break
    return np.asarray(chosen, dtype=np.int64)


def _new_ids(existing: Iterable[str], base: str, count: int) -> list[str]:
    taken = {str(t) for t in existing}
    out, number = [], 2
    while len(out) < count:
        candidate = f"{base}-{number}"
        if candidate not in taken:
            out.append(candidate)
            taken.add(candidate)
        number += 1
    return out


def _add(workspace: Workspace, history: History, positions, ids, names):
    context = workspace.context
    added = pd.DataFrame(
        {
            "name": names,
            "home_lon": context.lon[positions],
            "home_lat": context.lat[positions],
        },
        index=pd.Index(ids, name="territory_id"),
    )
    grown = with_added_territories(workspace, added)
    return grown, rebase_history(history, grown.context)


def split_territory(
    workspace: Workspace,
    history: History,
    territory: str,
    count: int = 1,
    bands: Mapping[str, float] | Iterable[str] | str = "revenue:5",
    *,
    rng: np.random.Generator,
    **kwargs,
) -> tuple[Workspace, History, Design]:
    """Add ``count`` territories inside one and rebuild it with them.

    Parameters
    ----------
    workspace : Workspace
        The data set; not modified.
    history : History
        Plans over ``workspace``; its current plan is split.
    territory : str
        Territory id or name to split.
    count : int, default 1
        Territories to add (each gets an open seat at a new home base).
    bands, **kwargs
        As for :func:`terrmap.playbook.optimise.design`.
    rng : numpy.random.Generator
        Seeds the placing of the new home bases.

    Returns
    -------
    workspace : Workspace
        With the new territories (named ``"<name> 2"``, ``"<name> 3"``...).
    history : History
        ``history`` over the new data set (the same plans, nothing moved yet).
    design : Design
        The proposal: the split territory and the new ones rebuilt around
        their home bases (one step on ``history.current``).

    Raises
    ------
    ValueError
        For an unknown territory or too few accounts to split.
    """
    plan = history.current
    context = workspace.context
    mask = _mask(context, [territory], "territory")
    code = int(np.flatnonzero(mask)[0])
    home_lon, home_lat = home_bases(context, plan.codes)
    members = np.flatnonzero(
        (plan.codes == code) & np.isfinite(context.lon) & np.isfinite(context.lat)
    )
    name = str(context.territory_names[code])
    if len(members) <= count:
        raise ValueError(
            f"{name} has {len(members)} located account(s): too few to split into {count + 1}"
        )
    fixed_lon = home_lon[[code]] if np.isfinite(home_lon[code]) else np.empty(0)
    fixed_lat = home_lat[[code]] if np.isfinite(home_lat[code]) else np.empty(0)
    chosen = new_home_bases(
        context.lon[members],
        context.lat[members],
        np.abs(context.revenue[members]),
        fixed_lon,
        fixed_lat,
        count,
        rng,
    )
    ids = _new_ids(context.territory_ids, str(context.territory_ids[code]), count)
    names = _new_ids(context.territory_names, name, count)
    names = [n.replace(f"{name}-", f"{name} ", 1) for n in names]
    grown, moved_history = _add(workspace, history, members[chosen], ids, names)
    kwargs.setdefault("author", f"split {name}")
    result = greenfield_territories(
        moved_history.current, [str(context.territory_ids[code]), *ids], bands, **kwargs
    )
    return grown, moved_history, result


def greenfield_k(
    workspace: Workspace,
    history: History,
    k: int,
    bands: Mapping[str, float] | Iterable[str] | str = "revenue:5",
    *,
    rng: np.random.Generator,
    **kwargs,
) -> tuple[Workspace, History, Design]:
    """Build ``k`` territories from scratch: today's home bases plus new ones where the load is.

    Parameters
    ----------
    workspace, history, bands, rng, **kwargs
        As for :func:`split_territory`.
    k : int
        Territories wanted, at least today's number (to have fewer, give
        the territories to keep to :func:`greenfield_territories` and merge
        the rest by hand: a rep cannot be dropped by the optimiser).

    Returns
    -------
    workspace, history, design
        As for :func:`split_territory`. The new territories go where revenue
        per rep is highest (one at a time, D'Hondt), each placed inside the
        territory it relieves and named after it (``"New York Metro 2"``).

    Raises
    ------
    ValueError
        If ``k`` is below today's number of territories.
    """
    context = workspace.context
    today = context.n_territories
    if k < today:
        raise ValueError(
            f"greenfield with {k} territories: there are {today} today and the optimiser does "
            f"not drop reps; give {today} or more, or rebuild a chosen set of territories"
        )
    plan = history.current
    grown, moved_history = workspace, history
    if k > today:
        home_lon, home_lat = home_bases(context, plan.codes)
        located = np.isfinite(context.lon) & np.isfinite(context.lat)
        owned = located & (plan.codes >= 0)
        load = np.bincount(
            plan.codes[owned], weights=np.abs(context.revenue[owned]), minlength=today
        )
        # Each new rep goes where revenue per rep is highest (D'Hondt).
        extra = np.zeros(today, dtype=np.int64)
        members = [np.flatnonzero(owned & (plan.codes == t)) for t in range(today)]
        for _ in range(k - today):
            room = np.array(
                [
                    len(np.unique(np.column_stack([context.lon[m], context.lat[m]]), axis=0))
                    for m in members
                ]
            )
            share = np.where(room > extra + 1, load / (1 + extra), -1.0)
            if share.max() < 0:
                raise ValueError(f"too few account places for {k} territories")
            extra[int(np.argmax(share))] += 1
        positions, names = [], []
        for t in np.flatnonzero(extra).tolist():
            fixed = np.isfinite(home_lon[t]) and np.isfinite(home_lat[t])
            chosen = new_home_bases(
                context.lon[members[t]],
                context.lat[members[t]],
                np.abs(context.revenue[members[t]]),
                home_lon[[t]] if fixed else np.empty(0),
                home_lat[[t]] if fixed else np.empty(0),
                int(extra[t]),
                rng,
            )
            positions.extend(members[t][chosen].tolist())
            base = str(context.territory_names[t])
            names.extend(f"{base} {j + 2}" for j in range(int(extra[t])))
        ids = _new_ids(context.territory_ids, "NEW", k - today)
        grown, moved_history = _add(workspace, history, np.asarray(positions), ids, names)
    kwargs.setdefault("author", f"greenfield {k}")
    result = greenfield_territories(
        moved_history.current,
        [str(t) for t in grown.context.territory_ids],
        bands,
        **kwargs,
    )
    return grown, moved_history, result
