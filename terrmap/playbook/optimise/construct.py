"""Construction phase of the territory design: load flows across territory borders.

The boundary local search (:mod:`terrmap.playbook.optimise.local_search`)
moves one account at a time; from a plan 18x off balance it needs tens of
thousands of moves and stops at the first wall of connectivity or travel.
The districting heuristics reviewed by Kalcsics & Ríos-Mercado (2019,
"Districting problems", in *Location Science*, Springer) construct first and
improve after. Construction here works on two levels, in a few rounds:

1. **Territories**: how much of the measure should cross each border is a
   minimum-cost flow on the graph of touching territories (a linear program
   of ``k`` nodes, solved by HiGHS through :func:`scipy.optimize.linprog`):
   every territory's load lands within the inner part of its band, or as
   near as the flows allow (slack at a high price), and each border's flow
   is priced by the team travel its cheapest accounts would add, in
   segments of rising cost (the cost of handing over more is convex), under
   a travel budget.
2. **Accounts**: a border's flow is carried by the donor's accounts that
   lie nearest the receiver relative to their own home base (smallest
   ``d(receiver) - d(donor)``, the additively weighted Voronoi order of the
   two home bases), so that what crosses is a strip along the border and
   the travel added is the least; none goes beyond the driving limit.

A round whose moves leave a territory in more pieces than allowed takes back
the moves of the pieces cut off (:func:`_mend_pieces`). Each round is a
handful of numpy operations over the accounts plus one small LP; the
balance measure of a round is the one furthest outside its band.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, eye, hstack, vstack
from scipy.sparse.csgraph import connected_components

from terrmap.core.travel import haversine_km
from terrmap.geo.adjacency import pieces, territory_contacts

__all__ = ["flows"]

_EPS = 1e-12
#: Cumulative share of a mean territory's load at which a border's flow
#: segments end; each later segment costs the travel of the accounts in it.
_SEGMENTS = (0.1, 0.25, 0.5)
_SLACK_PRICE = 1e3


def _loads(data, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Load per measure and territory, and each account's distance to its home base."""
    owned = codes >= 0
    safe = np.maximum(codes, 0)
    dist = np.nan_to_num(haversine_km(data.lon, data.lat, data.home_lon[safe], data.home_lat[safe]))
    dist = np.where(owned, dist, 0.0)
    value = data.fixed + data.slope * dist[None, :]
    load = np.stack(
        [np.bincount(codes[owned], weights=value[m, owned], minlength=k) for m in range(len(value))]
    )
    return load, dist


def _border_accounts(data, codes, pairs, dist, k):
    """Every movable account of each donor, once per neighbour it may give to, in range."""
    owned = np.flatnonzero((codes >= 0) & data.movable)
    members = owned[np.argsort(codes[owned], kind="stable")]
    first = np.searchsorted(codes[members], np.arange(k + 1))
    size = first[pairs[:, 0] + 1] - first[pairs[:, 0]]
    pair_of = np.repeat(np.arange(len(pairs)), size)
    offset = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    account = members[first[pairs[pair_of, 0]] + offset]
    target = pairs[pair_of, 1]
    d_to = haversine_km(
        data.lon[account], data.lat[account], data.home_lon[target], data.home_lat[target]
    )
    fine = np.isfinite(d_to) & (d_to <= data.limit_km)
    account, pair_of, d_to = account[fine], pair_of[fine], d_to[fine]
    # Nearest the receiver relative to the own home base first, per border.
    order = np.lexsort((d_to - dist[account], pair_of))
    return account[order], pair_of[order], d_to[order]


def _flow_lp(load_m, mean_m, tol_m, open_t, pairs, seg_cost, seg_cap, budget):
    """Border flows (per pair and segment) that bring loads into the band; ``None`` if none."""
    e, s = seg_cost.shape
    t_open = np.flatnonzero(open_t)
    slot = np.full(len(open_t), -1)
    slot[t_open] = np.arange(len(t_open))
    variables = e * s
    pair_of = np.repeat(np.arange(e), s)
    rows = np.concatenate([slot[pairs[pair_of, 1]], slot[pairs[pair_of, 0]]])
    cols = np.concatenate([np.arange(variables), np.arange(variables)])
    vals = np.concatenate([np.ones(variables), -np.ones(variables)])
    net = coo_matrix((vals, (rows, cols)), shape=(len(t_open), variables)).tocsr()
    ident = eye(len(t_open), format="csr")
    zero = coo_matrix((len(t_open), len(t_open))).tocsr()
    half = abs(mean_m) * tol_m
    upper = mean_m + half - load_m[t_open]
    lower = mean_m - half - load_m[t_open]
    cost = seg_cost.ravel()
    a_ub = vstack(
        [
            hstack([net, -ident, zero]),
            hstack([-net, zero, -ident]),
            hstack([coo_matrix(cost[None, :]), coo_matrix((1, 2 * len(t_open)))]),
        ]
    )
    b_ub = np.concatenate([upper, -lower, [max(budget, 0.0)]])
    slack_price = _SLACK_PRICE * max(float(cost.max(initial=0.0)), 1.0)
    objective = np.concatenate([cost, np.full(2 * len(t_open), slack_price)])
    upper_bounds = np.concatenate([seg_cap.ravel(), np.full(2 * len(t_open), np.inf)])
    result = linprog(
        objective,
        A_ub=a_ub,
        b_ub=b_ub,
        bounds=np.column_stack([np.zeros(len(objective)), upper_bounds]),
        method="highs",
    )
    if result.x is None:
        return None
    return result.x[:variables].reshape(e, s).sum(axis=1)


def _mend_pieces(codes, before, edges, k, allowed, rounds: int = 6) -> np.ndarray:
    """Take back this round's moves around pieces cut off, until no territory has too many."""
    codes = codes.copy()
    n = len(codes)
    a, b = edges[:, 0], edges[:, 1]
    for _ in range(rounds):
        count = pieces(codes, edges, k)
        over = count > allowed
        if not over.any():
            break
        same = (codes[a] == codes[b]) & (codes[a] >= 0)
        graph = coo_matrix((np.ones(int(same.sum())), (a[same], b[same])), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        owned = codes >= 0
        size = np.bincount(label, weights=owned, minlength=n)
        members = np.flatnonzero(owned)
        order = np.lexsort((-size[label[members]], codes[members]))
        lead = np.unique(codes[members][order], return_index=True)
        main = np.full(k, -1, dtype=np.int64)
        main[lead[0]] = label[members[order[lead[1]]]]
        stray = owned & over[np.maximum(codes, 0)] & (label != main[np.maximum(codes, 0)])
        moved = codes != before
        # Moves inside a stray piece, or next to one (the move that cut it off).
        touching = np.zeros(n, dtype=bool)
        touching[np.concatenate([a[stray[b]], b[stray[a]]])] = True
        back = moved & (stray | touching)
        if not back.any():
            break
        codes[back] = before[back]
    return codes


def flows(data, *, rounds: int = 6, inner: float = 0.6, budget_share: float = 0.8) -> np.ndarray:
    """Balance by flows of accounts across territory borders (see the module docstring).

    Parameters
    ----------
    data : SearchInput
        The instance (:class:`terrmap.playbook.optimise.local_search.SearchInput`).
    rounds : int
        Rounds of flows.
    inner : float
        Aim within this share of each band (the rest absorbs rounding).
    budget_share : float
        Share of the remaining team-travel allowance one round may spend
        (the proxy misses the local tours, which grow too).

    Returns
    -------
    numpy.ndarray of int64
        Territory per account; the input codes are not changed.
    """
    codes = data.codes.astype(np.int64).copy()
    k = len(data.home_lon)
    open_t = data.open_territories
    if k < 2 or len(data.edges) == 0 or not data.movable.any() or open_t.sum() < 2:
        return codes
    allowed = np.maximum(pieces(data.start_codes, data.edges, k), 1)
    allowed = np.maximum(allowed, pieces(codes, data.edges, k))
    for _ in range(rounds):
        load, dist = _loads(data, codes, k)
        mean = load.mean(axis=1)
        magnitude = np.where(np.abs(mean) > _EPS, np.abs(mean), 1.0)
        deviation = (load - mean[:, None]) / magnitude[:, None]
        excess = np.maximum(np.abs(deviation) - data.tolerance[:, None], 0.0)[:, open_t]
        if excess.max(initial=0.0) <= _EPS:
            break
        m = int(np.argmax(excess.sum(axis=1)))
        pairs = territory_contacts(codes, data.edges, k)
        pairs = np.concatenate([pairs, pairs[:, ::-1]])
        pairs = pairs[open_t[pairs[:, 0]] & open_t[pairs[:, 1]]]
        if len(pairs) == 0:
            break
        account, pair_of, d_to = _border_accounts(data, codes, pairs, dist, k)
        if account.size == 0:
            break
        give = np.maximum(data.fixed[m, account] + data.slope[m, account] * dist[account], 0.0)
        travel_added = data.visits[account] * (d_to - dist[account])
        e = len(pairs)
        cumulative = np.cumsum(give)
        group_start = np.searchsorted(pair_of, np.arange(e))
        before_in_group = (
            cumulative - give - np.concatenate([[0.0], cumulative])[group_start[pair_of]]
        )
        thresholds = np.asarray(_SEGMENTS) * magnitude[m]
        segment = np.searchsorted(thresholds, before_in_group, side="right")
        inside = segment < len(_SEGMENTS)
        slots = pair_of[inside] * len(_SEGMENTS) + segment[inside]
        size = len(_SEGMENTS) * e
        seg_cap = np.bincount(slots, weights=give[inside], minlength=size).reshape(e, -1)
        seg_travel = np.bincount(slots, weights=travel_added[inside], minlength=size).reshape(e, -1)
        seg_cost = np.where(seg_cap > _EPS, seg_travel / np.maximum(seg_cap, _EPS), 0.0)
        # A later segment never costs less than an earlier one (convex flow cost).
        seg_cost = np.maximum.accumulate(np.maximum(seg_cost, 0.0), axis=1) + _EPS
        travel_now = float((data.visits * dist)[codes >= 0].sum())
        budget = budget_share * (data.travel_cap - travel_now)
        flow = _flow_lp(
            load[m],
            mean[m],
            data.tolerance[m] * inner,
            open_t,
            pairs,
            seg_cost,
            seg_cap,
            budget if np.isfinite(budget) else 1e300,
        )
        if flow is None:
            break
        wanted = flow[pair_of]
        take = (wanted > _EPS) & (before_in_group + 0.5 * give < wanted)
        chosen, at = np.unique(account[take], return_index=True)
        if chosen.size == 0:
            break
        before = codes.copy()
        codes[chosen] = pairs[pair_of[take][at], 1]
        codes = _mend_pieces(codes, before, data.edges, k, allowed)
        if (codes == before).all():
            break
    return codes
