"""Exact optimum of small territory designs, to measure the heuristic against.

The design problem of :func:`terrmap.playbook.optimise.design` without
contiguity is a mixed-integer linear program (the assignment model of Hess &
Samuels 1971 with the multiple balance constraints of Ríos-Mercado &
Fernández 2009): binary ``x[i, t]`` for every account and every territory
within its driving limit,

* each movable account in exactly one territory;
* every measure's load of every open territory within its band around the
  mean, ``(1 - tol) * mean <= load_t <= (1 + tol) * mean`` with
  ``mean = sum(load) / k`` (linear in ``x``, also for the travel proxies);
* team travel (visits x distance to home) within its cap;

minimising the heuristic's own cost: ``disruption_weight`` x disruption of
accounts moved plus ``compactness_weight`` x distance to home over the
typical distance, both per average account. Without contiguity the optimum
is a *lower bound* for the contiguous problem and the gap reported against
it is an upper bound on the true gap; solved in seconds up to about 500
accounts x 10 territories. With ``contiguity=True`` each territory is kept
in one piece by flow constraints (:func:`_contiguity_rows`) and the optimum
is that of the problem the heuristic solves; the big-M flow formulation is
weak, so this solves within a minute only up to about 150 accounts x 4
territories. Solved with HiGHS through :func:`scipy.optimize.milp`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, hstack

from terrmap.core.plan import Plan
from terrmap.core.travel import haversine_km
from terrmap.playbook.optimise.problem import home_bases
from terrmap.playbook.optimise.territory_design import (
    _adjacency,
    _distance_to_home,
    _mask,
    _measure_parts,
    parse_bands,
)

__all__ = ["ExactDesign", "design_cost", "exact_design"]


def _contiguity_rows(
    plan, accounts, t_index, movable, open_t, home_lon, home_lat, edges, lower_bound
):
    """Flow constraints that make every open territory one piece (Shirabe 2005).

    Each open territory ``t`` gets a root, the account of ``t`` nearest its
    home base today, which is kept in ``t`` (``lower_bound`` is raised in
    place for its variable). The root sends one unit of flow ``t`` to every
    other member of ``t`` along the adjacency; flow runs only between
    members (``f <= n_t x_tail``, ``f <= n_t x_head``) and each member other
    than the root keeps one unit (``in - out = x``). A member that no path
    of members links to the root cannot receive its unit, so every feasible
    assignment is connected (Shirabe 2005, "A model of contiguity for
    spatial unit allocation", *Geographical Analysis* 37(1); the
    single-commodity form of Validi, Buchanan & Lykhovyd 2022,
    "Imposing contiguity constraints in political districting models",
    *Operations Research* 70(2)).

    Returns
    -------
    tuple or None
        ``(matrix, lower, upper, flow_upper_bounds)`` over the columns
        ``[x | flows]``; ``None`` when a territory has no possible root.
    """
    context = plan.context
    n, k = context.n_accounts, context.n_territories
    codes = plan.codes.astype(np.int64)
    v = len(accounts)
    var = np.full((n, k), -1, dtype=np.int64)
    var[accounts, t_index] = np.arange(v)
    fixed_in = np.zeros((n, k), dtype=bool)
    stay = np.flatnonzero((codes >= 0) & ~movable)
    fixed_in[stay, codes[stay]] = True
    tail = np.concatenate([edges[:, 0], edges[:, 1]])
    head = np.concatenate([edges[:, 1], edges[:, 0]])
    rows, cols, vals, lower, upper, bounds = [], [], [], [], [], []
    row = 0
    column = v
    distance = _distance_to_home(context, codes, home_lon, home_lat)
    for t in np.flatnonzero(open_t).tolist():
        possible = (var[:, t] >= 0) | fixed_in[:, t]
        if not possible.any():
            continue
        members = np.flatnonzero(codes == t)
        if members.size == 0:
            return None
        root = int(
            members[
                np.nanargmin(np.where(np.isfinite(distance[members]), distance[members], np.inf))
            ]
        )
        if var[root, t] >= 0:
            lower_bound[var[root, t]] = 1.0
        elif not fixed_in[root, t]:
            return None
        arcs = np.flatnonzero(possible[tail] & possible[head] & (head != root))
        size = float(possible.sum())
        flow_col = column + np.arange(len(arcs))
        column += len(arcs)
        bounds.append(np.full(len(arcs), size))
        # in - out - x = 0 for every possible member but the root (x constant: on the right)
        nodes = np.flatnonzero(possible)
        nodes = nodes[nodes != root]
        node_row = np.full(n, -1, dtype=np.int64)
        node_row[nodes] = row + np.arange(len(nodes))
        into = node_row[head[arcs]]
        out_of = node_row[tail[arcs]]
        rows += [into[into >= 0], out_of[out_of >= 0]]
        cols += [flow_col[into >= 0], flow_col[out_of >= 0]]
        vals += [np.ones(int((into >= 0).sum())), -np.ones(int((out_of >= 0).sum()))]
        has_var = var[nodes, t] >= 0
        rows.append(node_row[nodes[has_var]])
        cols.append(var[nodes[has_var], t])
        vals.append(-np.ones(int(has_var.sum())))
        constant = fixed_in[nodes, t].astype(float)
        lower.append(constant)
        upper.append(constant)
        row += len(nodes)
        # f <= size * x at both ends, where the end is a variable
        for end in (tail[arcs], head[arcs]):
            is_var = var[end, t] >= 0
            count = int(is_var.sum())
            cap_rows = row + np.arange(count)
            rows += [cap_rows, cap_rows]
            cols += [flow_col[is_var], var[end[is_var], t]]
            vals += [np.ones(count), -size * np.ones(count)]
            lower.append(np.full(count, -np.inf))
            upper.append(np.zeros(count))
            row += count
    matrix = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row, column)
    ).tocsr()
    return matrix, np.concatenate(lower), np.concatenate(upper), np.concatenate(bounds)


@dataclass(frozen=True)
class ExactDesign:
    """The MILP's answer.

    Attributes
    ----------
    codes : numpy.ndarray or None
        Territory per account at the optimum; ``None`` when none was found.
    cost : float
        Its cost (:func:`design_cost`); NaN without a solution.
    status : str
        ``"optimal"``, ``"infeasible"``, ``"time limit"`` or the solver's message.
    runtime_s : float
        Solver wall time.
    """

    codes: np.ndarray | None
    cost: float
    status: str
    runtime_s: float


def _cost_terms(plan: Plan):
    context = plan.context
    home_lon, home_lat = home_bases(context, plan.codes)
    start_km = _distance_to_home(context, plan.codes, home_lon, home_lat)
    owned = plan.codes >= 0
    scale = float(np.nanmean(start_km[owned])) if owned.any() else 1.0
    scale = scale if scale > 0 else 1.0
    revenue = np.abs(context.revenue)
    mean_revenue = float(revenue[owned].mean()) if owned.any() else 0.0
    disruption = 0.5 + (0.5 * revenue / mean_revenue if mean_revenue else 0.5)
    unit = context.n_territories / max(int(owned.sum()), 1)
    return home_lon, home_lat, scale, disruption, unit


def design_cost(
    plan: Plan,
    codes: np.ndarray,
    *,
    disruption_weight: float = 1.0,
    compactness_weight: float = 0.2,
) -> float:
    """Cost of an assignment: disruption of moved accounts plus distance to home.

    Both terms per average account, as in the local search: ``unit x
    (disruption_weight x sum of moved accounts' disruption + compactness_weight
    x sum of distance to home / typical distance)``.
    """
    context = plan.context
    home_lon, home_lat, scale, disruption, unit = _cost_terms(plan)
    km = np.nan_to_num(_distance_to_home(context, codes, home_lon, home_lat))
    moved = (codes != plan.codes) & (codes >= 0)
    return float(
        unit
        * (
            disruption_weight * disruption[moved].sum()
            + compactness_weight * km[codes >= 0].sum() / scale
        )
    )


def exact_design(
    plan: Plan,
    bands: Mapping[str, float] | Iterable[str] | str = "revenue:5",
    *,
    max_km: float | None = None,
    travel_slack_pct: float = 10.0,
    disruption_weight: float = 1.0,
    compactness_weight: float = 0.2,
    locked_accounts: Iterable[str] | None = None,
    locked_territories: Iterable[str] | None = None,
    time_limit_s: float = 60.0,
    contiguity: bool = False,
    adjacency: np.ndarray | None = None,
) -> ExactDesign:
    """Solve the design problem to optimality (see the module docstring).

    Parameters are those of :func:`terrmap.playbook.optimise.design`, and:

    contiguity : bool, default False
        Require every open territory to be one piece on the adjacency (the
        flow formulation in :func:`_contiguity_rows`); the optimum is then
        that of the problem the heuristic solves, not a bound. Much harder:
        meant for a few hundred accounts.
    adjacency : numpy.ndarray, optional
        ``(E, 2)`` index pairs over the accounts; Delaunay neighbours by default.

    Returns
    -------
    ExactDesign
    """
    import time

    bands = parse_bands(bands)
    context = plan.context
    k = context.n_territories
    home_lon, home_lat, scale, disruption, unit = _cost_terms(plan)
    start_km = _distance_to_home(context, plan.codes, home_lon, home_lat)
    finite = start_km[np.isfinite(start_km)]
    limit = max_km if max_km is not None else (float(finite.max()) if finite.size else math.inf)
    open_t = (
        ~_mask(context, locked_territories, "territory")
        & np.isfinite(home_lon)
        & np.isfinite(home_lat)
    )
    locked = _mask(context, locked_accounts, "account")
    located = np.isfinite(context.lon) & np.isfinite(context.lat)
    codes = plan.codes.astype(np.int64)
    movable = located & (codes >= 0) & ~locked & open_t[np.maximum(codes, 0)]
    rows = np.flatnonzero(movable)
    km = haversine_km(
        context.lon[rows][:, None], context.lat[rows][:, None], home_lon[None, :], home_lat[None, :]
    )
    allowed = open_t[None, :] & np.isfinite(km) & ((km <= limit) | (km <= start_km[rows][:, None]))
    r_index, t_index = np.nonzero(allowed)
    accounts = rows[r_index]
    distance = km[r_index, t_index]
    moved = t_index != codes[accounts]
    cost = unit * (
        disruption_weight * disruption[accounts] * moved + compactness_weight * distance / scale
    )
    v = len(accounts)
    if v == 0:
        # Nothing may move: today's plan is the only one, inside the bands or not.
        metrics = plan.metrics()
        inside = all(
            (np.abs(metrics[name] / metrics[name].mean() - 1) <= pct / 100 + 1e-9).all()
            for name, pct in bands.items()
        )
        cost = design_cost(
            plan, codes, disruption_weight=disruption_weight, compactness_weight=compactness_weight
        )
        return ExactDesign(
            plan.codes.copy() if inside else None,
            cost if inside else math.nan,
            "optimal" if inside else "infeasible",
            0.0,
        )
    constraints = []
    # one territory per movable account
    constraints.append(
        LinearConstraint(
            coo_matrix((np.ones(v), (r_index, np.arange(v))), shape=(len(rows), v)), 1, 1
        )
    )
    fixed_mask = (codes >= 0) & ~movable
    fixed_km = np.nan_to_num(start_km)
    for name, pct in bands.items():
        fixed_part, slope = _measure_parts(context, plan, name)
        value = fixed_part[accounts] + slope[accounts] * distance
        fixed_value = fixed_part + slope * fixed_km
        fixed_load = np.bincount(
            codes[fixed_mask], weights=fixed_value[fixed_mask], minlength=k
        ).astype(float)
        total_fixed = float(fixed_load.sum())
        tol = pct / 100.0
        for sign, factor in ((1.0, 1.0 + tol), (-1.0, 1.0 - tol)):
            # sign * (load_t - factor * mean) <= 0, mean = (sum of loads) / k
            coefficient = np.zeros((k, v))
            coefficient[t_index, np.arange(v)] += value
            coefficient -= factor / k * value[None, :]
            right = -(fixed_load - factor / k * total_fixed)
            keep = open_t
            constraints.append(
                LinearConstraint(sign * coefficient[keep], -np.inf, sign * right[keep])
            )
    visits = context.visits.astype(float)
    travel_now = float((visits * fixed_km)[codes >= 0].sum())
    travel_fixed = float((visits * fixed_km)[fixed_mask].sum())
    cap = travel_now * (1.0 + travel_slack_pct / 100.0) - travel_fixed
    constraints.append(LinearConstraint((visits[accounts] * distance)[None, :], -np.inf, cap))
    lower_bound = np.zeros(v)
    upper_bound = np.ones(v)
    integrality = np.ones(v)
    objective = cost
    if contiguity:
        edges = _adjacency(context, adjacency)
        flow = _contiguity_rows(
            plan, accounts, t_index, movable, open_t, home_lon, home_lat, edges, lower_bound
        )
        if flow is None:
            return ExactDesign(None, math.nan, "infeasible", 0.0)
        flow_matrix, flow_lower, flow_upper, flow_bounds = flow
        extra = flow_matrix.shape[1] - v
        constraints = [
            LinearConstraint(
                hstack([coo_matrix(c.A), coo_matrix((c.A.shape[0], extra))]).tocsr(), c.lb, c.ub
            )
            for c in constraints
        ]
        constraints.append(LinearConstraint(flow_matrix, flow_lower, flow_upper))
        lower_bound = np.concatenate([lower_bound, np.zeros(extra)])
        upper_bound = np.concatenate([upper_bound, flow_bounds])
        integrality = np.concatenate([integrality, np.zeros(extra)])
        objective = np.concatenate([cost, np.zeros(extra)])
    began = time.perf_counter()
    result = milp(
        objective,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(lower_bound, upper_bound),
        options={"time_limit": time_limit_s, "disp": False},
    )
    runtime = time.perf_counter() - began
    status = {0: "optimal", 1: "time limit", 2: "infeasible"}.get(result.status, result.message)
    if result.x is None:
        return ExactDesign(None, math.nan, status, runtime)
    chosen = result.x[:v] > 0.5
    out = codes.copy()
    out[accounts[chosen]] = t_index[chosen]
    return ExactDesign(
        out.astype(np.int32),
        design_cost(
            plan,
            out,
            disruption_weight=disruption_weight,
            compactness_weight=compactness_weight,
        ),
        status,
        runtime,
    )
