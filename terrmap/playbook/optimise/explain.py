"""Words for an optimiser's proposal: why each account moves, and what it fixes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from terrmap.core import formatting as fmt
from terrmap.core.balance import Balance
from terrmap.core.metrics import MEASURES
from terrmap.core.travel import haversine_km
from terrmap.geo.adjacency import neighbour_lists, territory_contacts
from terrmap.playbook.optimise.problem import open_territories

__all__ = [
    "Option",
    "design_note",
    "design_reasons",
    "infeasibility",
    "move_reasons",
    "pair_note",
]


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.1f}%"


def move_reasons(
    moves: pd.DataFrame, before: Balance, after: Balance, names: pd.Series
) -> list[str]:
    """One sentence per moved account.

    Parameters
    ----------
    moves : pandas.DataFrame
        Columns ``from_territory``, ``to_territory``, ``distance_before_km``,
        ``distance_after_km``.
    before, after : Balance
        Exact balance of the starting and the proposed plan.
    names : pandas.Series
        Territory name per territory id.

    Returns
    -------
    list of str
    """
    # Plain dicts: Series.get costs ~20 us a call, too slow for 10k moves.
    name = {str(t): str(v) for t, v in names.items()}
    was = {str(t): v for t, v in before.deviation_pct.items()}
    now = {str(t): v for t, v in after.deviation_pct.items()}
    reasons = []
    for source, target, d_before, d_after in zip(
        moves["from_territory"].astype(object).fillna("").tolist(),
        moves["to_territory"].astype(object).fillna("").tolist(),
        moves["distance_before_km"].tolist(),
        moves["distance_after_km"].tolist(),
        strict=True,
    ):
        src, dst = name.get(source, source or "white space"), name.get(target, target)
        if np.isfinite(d_before) and np.isfinite(d_after) and d_after < d_before:
            where = (
                f"{d_after:.0f} km from {dst}'s home base, closer than {src}'s ({d_before:.0f} km)"
            )
        elif np.isfinite(d_after):
            where = f"on the {src}/{dst} boundary: {d_after:.0f} km from {dst}'s home base (was {d_before:.0f} km)"
        else:
            where = f"no home base distance known for {dst}"
        reasons.append(
            f"{src} {_fmt(was.get(source, np.nan))} → {_fmt(now.get(source, np.nan))} vs the mean, "
            f"{dst} {_fmt(was.get(target, np.nan))} → {_fmt(now.get(target, np.nan))}; {where}."
        )
    return reasons


def pair_note(
    source: str,
    target: str,
    count: int,
    value: float,
    label: str,
    tolerance_pct: float,
    before: Balance,
    after: Balance,
    names: pd.Series,
) -> str:
    """Write the change-log note of the accounts handed from one territory to another.

    Examples
    --------
    >>> from terrmap.core.balance import balance
    >>> b = balance(pd.Series({"A": 150.0, "B": 50.0}), 5)
    >>> a = balance(pd.Series({"A": 100.0, "B": 100.0}), 5)
    >>> pair_note("A", "B", 2, 50.0, "Revenue", 5, b, a, pd.Series({"A": "North", "B": "South"}))[:40]
    'Auto-balance on Revenue (±5%): 2 account'
    """
    src, dst = str(names.get(source, source)), str(names.get(target, target))
    src_before = before.deviation_pct.get(source, np.nan)
    dst_before = before.deviation_pct.get(target, np.nan)
    if np.isfinite(src_before) and abs(src_before) > tolerance_pct:
        why = f"{src} was {_fmt(src_before)} vs the mean, outside the band"
    elif np.isfinite(dst_before) and abs(dst_before) > tolerance_pct:
        why = f"{dst} was {_fmt(dst_before)} vs the mean, outside the band"
    else:
        why = "these accounts lie nearer the new rep or make room along a chain of moves"
    return (
        f"Auto-balance on {label} (±{tolerance_pct:g}%): {fmt.count(count, 'account')} worth "
        f"{fmt.number(value, 0 if abs(value) >= 100 else 2)} from {src} to {dst}; {why}. After the proposal {src} is "
        f"{_fmt(after.deviation_pct.get(source, np.nan))}, {dst} "
        f"{_fmt(after.deviation_pct.get(target, np.nan))}."
    )


# -- design (multi-band, contiguous) proposals --------------------------------


@dataclass(frozen=True)
class Option:
    """Something the user can do to reach a band the design could not.

    Attributes
    ----------
    kind : str
        ``"add_territories"`` (more territories in a crowded area) or
        ``"greenfield"`` (rebuild ``territories`` from scratch).
    territories : tuple of str
        Territory ids concerned.
    count : int
        Territories to add (``add_territories``).
    text : str
        The option in words.
    """

    kind: str
    territories: tuple[str, ...]
    count: int
    text: str


def _share(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 else f"{value:.1%}"


def design_reasons(
    moves: pd.DataFrame,
    names: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
    codes: np.ndarray,
    edges: np.ndarray,
    changed: np.ndarray,
) -> list[str]:
    """One sentence per moved account, true to the adjacency.

    The account is said to join its new territory's accounts next to it only
    when one of its adjacency neighbours belongs to that territory in the
    proposal.

    Parameters
    ----------
    moves : pandas.DataFrame
        ``distance_before_km``, ``distance_after_km`` per moved account.
    names : numpy.ndarray
        Territory name per code.
    old, new : numpy.ndarray
        Codes before and after of the moved accounts.
    codes : numpy.ndarray
        Codes of every account in the proposal.
    edges : numpy.ndarray
        Adjacency as index pairs.
    changed : numpy.ndarray
        Positions of the moved accounts.

    Returns
    -------
    list of str
    """
    start, nbr = neighbour_lists(edges, len(codes))
    out = []
    for position, source, target, d_before, d_after in zip(
        changed.tolist(),
        old.tolist(),
        new.tolist(),
        moves["distance_before_km"].tolist(),
        moves["distance_after_km"].tolist(),
        strict=True,
    ):
        src = "white space" if source < 0 else str(names[source])
        dst = "white space" if target < 0 else str(names[target])
        around = nbr[start[position] : start[position + 1]]
        touching = bool((codes[around] == target).any())
        where = f"next to {dst}'s accounts" if touching else f"not next to other {dst} accounts"
        if np.isfinite(d_before) and np.isfinite(d_after):
            distance = (
                f"{d_after:.0f} km from {dst}'s home base (was {d_before:.0f} km from {src}'s)"
            )
        else:
            distance = "no home base distance known"
        out.append(f"{src} → {dst}: {where}; {distance}.")
    return out


def design_note(
    bands: dict,
    before: dict,
    after: dict,
    moves: pd.DataFrame,
    names: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
) -> str:
    """Write the change-log note of a whole proposal: what moved, between whom, what it reached."""
    asked = ", ".join(f"{MEASURES.get(n, n)} ±{p:g}%" for n, p in bands.items())
    pairs = pd.Series(1, index=pd.MultiIndex.from_arrays([old, new])).groupby(level=[0, 1]).sum()
    pairs = pairs.sort_values(ascending=False, kind="stable")
    listed = "; ".join(
        f"{'white space' if s < 0 else names[s]} → {names[t]} {count}"
        for (s, t), count in pairs.head(6).items()
    )
    more = f"; {len(pairs) - 6} more pairs" if len(pairs) > 6 else ""
    reached = ", ".join(
        f"{MEASURES.get(n, n)} worst {before['bands'][n]['max_abs_deviation_pct']:.1f}% → "
        f"{after['bands'][n]['max_abs_deviation_pct']:.1f}%"
        for n in bands
    )
    return (
        f"Auto-balance ({asked}): {len(moves):,} accounts worth {moves['revenue'].sum():,.0f} "
        f"revenue moved ({listed}{more}). {reached}; team travel "
        f"{before['travel_km']:,.0f} → {after['travel_km']:,.0f} km a year."
    )


def _more_territories(stuck: float, total: float, k: int, tolerance: float) -> int:
    """Fewest extra territories ``n`` with ``stuck <= (n + 1) * total / (k + n) * (1 + tol)``."""
    for n in range(0, 1000):
        if stuck <= (n + 1) * total / (k + n) * (1 + tolerance) + 1e-9:
            return n
    return 1000


def infeasibility(
    plan,
    bands: dict,
    after: dict,
    edges: np.ndarray,
    home_lon: np.ndarray,
    home_lat: np.ndarray,
    max_km: float | None,
    territory_locks: np.ndarray,
    account_locks: np.ndarray,
    fixed: np.ndarray,
    slope: np.ndarray,
    blocked: dict | None = None,
):
    """Why each unmet band is out of reach, and what would bring it within reach.

    For a territory above the band, the accounts it could hand over are those
    within the driving limit of another open territory's home base; what
    must stay is compared with a territory's share, which gives the number
    of extra territories the area needs. For one below the band, the
    accounts within the limit of its own home base bound what it can reach.
    Otherwise the search stopped at a local optimum: no further move keeps
    every territory in one piece, in range and team travel within its cap;
    rebuilding the territory with its neighbours is offered.

    Returns
    -------
    reasons : list of str
    options : list of Option
    """
    context = plan.context
    codes = plan.codes
    k = context.n_territories
    names = [str(n) for n in context.territory_names]
    ids = [str(t) for t in context.territory_ids]
    metrics = plan.metrics()
    contacts = territory_contacts(codes, edges, k)
    reasons: list[str] = []
    options: list = []
    offered: set = set()
    open_t = open_territories(territory_locks, home_lon, home_lat)
    limit = f"{max_km:g} km" if max_km is not None else "today's longest drive"
    what = {
        "driving_limit": f"take an account beyond {limit} of its rep's home base",
        "travel_cap": "raise team travel beyond its cap",
        "pieces": "break a territory into pieces",
    }
    stops = [
        what[key] for key, count in sorted((blocked or {}).items(), key=lambda kv: -kv[1]) if count
    ]
    stopped = (
        "every further move that would help would " + " or ".join(stops)
        if stops
        else "no move between neighbouring territories helps any more"
    )
    located = np.isfinite(context.lon) & np.isfinite(context.lat)
    for m, (name, pct) in enumerate(bands.items()):
        band = after["bands"][name]
        if not band["outside"]:
            continue
        label = MEASURES.get(name, name).lower()
        values = metrics[name].to_numpy(dtype=float)
        total = float(values.sum())
        mean = total / k if k else 0.0
        tol = pct / 100.0
        upper, lower = mean * (1 + tol), mean * (1 - tol)
        deviation = band["deviation_pct"]
        worst = sorted(band["outside"], key=lambda n: -abs(deviation[n]))[:3]
        for territory in worst:
            s = names.index(territory)
            dev = deviation[territory]
            neighbours = [int(t) for t in contacts[(contacts == s).any(axis=1)].ravel() if t != s]
            if territory_locks[s]:
                reasons.append(
                    f"{territory} is locked at {dev:+.0f}% on {label}: it neither gives nor takes accounts."
                )
                continue
            members = np.flatnonzero((codes == s) & located)
            d_home = haversine_km(
                context.lon[members], context.lat[members], home_lon[s], home_lat[s]
            )
            value = fixed[m, members] + slope[m, members] * np.nan_to_num(d_home)
            if value.sum() > 0:
                scale = values[s] / value.sum()  # proxy → exact
            else:
                scale = 1.0
            if dev > 0:
                others = np.flatnonzero(open_t & (np.arange(k) != s))
                if others.size and members.size:
                    d = haversine_km(
                        context.lon[members][:, None],
                        context.lat[members][:, None],
                        home_lon[others][None, :],
                        home_lat[others][None, :],
                    )
                    reach = np.nanmin(d, axis=1) <= (max_km if max_km is not None else np.inf)
                else:
                    reach = np.zeros(members.size, dtype=bool)
                reach &= ~account_locks[members]
                stuck = float(value[~reach].sum()) * scale
                share = values[s] / total if total else 0.0
                extra = _more_territories(values[s], total, k, tol)
                if stuck > upper:
                    extra = _more_territories(stuck, total, k, tol)
                    reasons.append(
                        f"{territory} holds {_share(share)} of {label} "
                        f"({_share(stuck / total)} beyond {limit} of every other rep's home base): "
                        f"±{pct:g}% needs {extra} more territor{'y' if extra == 1 else 'ies'} there."
                    )
                else:
                    reasons.append(
                        f"{territory} holds {_share(share)} of {label} ({dev:+.0f}% vs the mean) and "
                        f"{stopped}: ±{pct:g}% needs about {extra} "
                        f"more territor{'y' if extra == 1 else 'ies'} there or rebuilding it with its neighbours."
                    )
                if extra and ("add", s) not in offered:
                    offered.add(("add", s))
                    options.append(
                        Option(
                            "add_territories",
                            (ids[s],),
                            extra,
                            f"Add {extra} territor{'y' if extra == 1 else 'ies'} in {territory}'s area "
                            f"(split {territory}).",
                        )
                    )
            else:
                outside = np.flatnonzero(located & (codes != s) & (codes >= 0))
                outside = outside[~account_locks[outside] & open_t[codes[outside]]]
                d = haversine_km(
                    context.lon[outside], context.lat[outside], home_lon[s], home_lat[s]
                )
                near = outside[d <= (max_km if max_km is not None else np.inf)]
                reachable = float(values[s] + (fixed[m, near].sum()) * scale)
                if reachable < lower:
                    reasons.append(
                        f"{territory} can reach at most {_share(reachable / total)} of {label} "
                        f"within {limit} of its home base ({dev:+.0f}% today vs the mean): "
                        f"±{pct:g}% needs its home base moved nearer the customers, or one territory fewer."
                    )
                else:
                    reasons.append(f"{territory} is {dev:+.0f}% on {label}: {stopped}.")
            group = tuple(ids[t] for t in sorted({s, *neighbours}) if open_t[t])
            if group and ("greenfield", group) not in offered:
                offered.add(("greenfield", group))
                listed = ", ".join(names[ids.index(t)] for t in group)
                options.append(
                    Option(
                        "greenfield",
                        group,
                        0,
                        f"Rebuild {listed} from scratch around their home bases.",
                    )
                )
    return reasons, options
