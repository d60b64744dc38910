"""Capacitated assignment over sparse candidates: prices, then local repair.

Phase 1 is the Lagrangian relaxation of the transportation problem of Hess &
Samuels (1971): the balance band becomes a price per unit of measure in each
territory and every account takes its cheapest candidate (compactness +
disruption + price x value). Prices move by a sign-based adaptive step
(Rprop, Riedmiller & Braun 1993), damped by how far each territory is
outside the band, until every territory is inside it or the prices stop
paying off; the best assignment seen (by the full objective) is kept. Prices
only matter relative to each other, so they are centred on their median and
bounded by ``10 x balance_weight``.

Phase 2 resolves the split units and what remains outside the band with
single-account boundary moves, best gain first (the "repair" step of the
districting heuristics reviewed by Kalcsics & Ríos-Mercado 2019). Phase 3
sends moved accounts back to their territory wherever that no longer breaks
the band, which removes disruption the price phase caused in passing.

All of it works on the arrays of a :class:`~terrmap.playbook.optimise.problem.Problem`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terrmap.playbook.optimise.problem import Problem

__all__ = ["Solution", "Weights", "solve"]

_EPS = 1e-9
_PATIENCE = 60
_PRICE_CAP = 10.0
_GROWTH = 1.1
_SHRINK = 0.5


@dataclass(frozen=True)
class Weights:
    """Weights of the objective.

    Attributes
    ----------
    balance : float
        Cost of one average account's worth of measure outside the band, and
        again of each territory outside it.
    disruption : float
        Cost of moving an account of average revenue.
    compactness : float
        Cost of one typical distance (mean distance to the nearest home base).
    """

    balance: float = 100.0
    disruption: float = 1.0
    compactness: float = 1.0

    def __post_init__(self) -> None:
        for name in ("balance", "disruption", "compactness"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} weight must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Solution:
    """The solver's answer: a column per movable account and how it got there."""

    column: np.ndarray
    price_iterations: int
    repair_moves: int
    returned: int


def _violation(load: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    # Measure outside the band plus one unit per territory outside it, so that
    # closing the last sliver of a gap is worth a move like any other.
    excess = np.maximum(load - upper, 0.0) + np.maximum(lower - load, 0.0)
    return excess + (excess > _EPS)


def _band(load: np.ndarray, k: int, tolerance: float, active: np.ndarray):
    target = float(load.sum()) / k
    half = abs(target) * tolerance
    lower = np.full(k, target - half)
    upper = np.full(k, target + half)
    # Locked territories are judged but cannot be helped: never chase them.
    lower[~active] = -np.inf
    upper[~active] = np.inf
    return target, lower, upper


def _costs(problem: Problem, weights: Weights) -> np.ndarray:
    cost = weights.compactness * problem.distance_km / problem.distance_scale_km
    away = np.ones(cost.shape, dtype=bool)
    rows = np.flatnonzero(problem.start_column >= 0)
    away[rows, problem.start_column[rows]] = False
    cost = cost + np.where(away, weights.disruption * problem.disruption[:, None], 0.0)
    return np.where(problem.candidates >= 0, cost, np.inf)


def solve(
    problem: Problem,
    tolerance: float,
    weights: Weights,
    rng: np.random.Generator,
    *,
    max_price_iterations: int = 250,
    max_repair_moves: int | None = None,
) -> Solution:
    """Choose a candidate column for every movable account.

    Parameters
    ----------
    problem : Problem
        Candidates, distances, values.
    tolerance : float
        Half-width of the band as a fraction of the mean (0.05 for ±5 %).
    weights : Weights
        Objective weights.
    rng : numpy.random.Generator
        Breaks ties (a jitter far below any real cost difference).
    max_price_iterations : int
        Cap on phase 1.
    max_repair_moves : int, optional
        Cap on phase 2 (default ``20 k + m / 10``).

    Returns
    -------
    Solution
    """
    m, k = len(problem.movable), problem.k
    if m == 0 or problem.candidates.shape[1] == 0:
        return Solution(problem.start_column.clip(min=0), 0, 0, 0)
    active = ~problem.locked_territories
    cost = _costs(problem, weights)
    cost = cost + rng.uniform(0.0, 1e-7, cost.shape)
    value = problem.value / problem.value_unit
    fixed = problem.fixed_load / problem.value_unit
    candidates = problem.candidates
    safe = np.maximum(candidates, 0)
    rows = np.arange(m)
    penalty = weights.balance

    column, iterations = _price_phase(
        cost, value, fixed, safe, rows, k, tolerance, penalty, active, max_price_iterations
    )
    limit = max_repair_moves if max_repair_moves is not None else 20 * k + m // 10
    column, repaired = _repair(
        column, cost, value, fixed, candidates, safe, rows, k, tolerance, penalty, active, limit
    )
    returned = 0
    if (problem.start_column >= 0).all():
        column, returned = _return_home(
            column,
            problem.start_column,
            cost,
            value,
            fixed,
            safe,
            rows,
            k,
            tolerance,
            penalty,
            active,
        )
    return Solution(column, iterations, repaired, returned)


def _loads(column, value, fixed, safe, rows, k):
    return fixed + np.bincount(safe[rows, column], weights=value[rows, column], minlength=k)


def _objective(column, cost, value, fixed, safe, rows, k, tolerance, penalty, active):
    load = _loads(column, value, fixed, safe, rows, k)
    _, lower, upper = _band(load, k, tolerance, active)
    violation = _violation(load, lower, upper)
    return penalty * violation.sum() + cost[rows, column].sum(), violation


def _price_phase(cost, value, fixed, safe, rows, k, tolerance, penalty, active, max_iterations):
    price = np.zeros(k)
    step = np.full(k, 0.05)
    previous = np.zeros(k)
    best_column, best_score, best_at = None, np.inf, 0
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported
        column = np.argmin(cost + price[safe] * value, axis=1)
        load = _loads(column, value, fixed, safe, rows, k)
        target, lower, upper = _band(load, k, tolerance, active)
        violation = _violation(load, lower, upper)
        score = penalty * violation.sum() + cost[rows, column].sum()
        if score < best_score * (1 - 1e-4):
            best_at = iterations
        if score < best_score:
            best_column, best_score = column, score
        # Stop when inside the band, or when prices stopped paying off:
        # the repair phase finishes faster than more iterations would.
        if violation.sum() <= _EPS or iterations - best_at >= _PATIENCE:
            break
        # Aim inside the band (60 % of it) so that rounding stays within it.
        inner = abs(target) * tolerance * 0.6
        direction = np.where(load > target + inner, 1.0, np.where(load < target - inner, -1.0, 0.0))
        direction[~active] = 0.0
        flipped = direction * previous < 0
        kept = (direction * previous > 0) & ~flipped
        step = np.where(flipped, step * _SHRINK, np.where(kept, step * _GROWTH, step))
        step = np.clip(step, 1e-4, max(penalty, 1e-3) / 4)
        # Scale by how far outside the inner band: a territory just outside
        # creeps, one far outside moves at full step (damps the oscillation).
        half = max(abs(target) * tolerance, _EPS)
        outside = np.maximum(np.abs(load - target) - inner, 0.0) / half
        price = price + direction * step * np.minimum(outside, 1.0)
        price = np.clip(
            price - np.median(price[active]), -_PRICE_CAP * penalty, _PRICE_CAP * penalty
        )
        previous = np.where(direction != 0, direction, previous)
    return best_column, iterations


def _repair(
    column, cost, value, fixed, candidates, safe, rows, k, tolerance, penalty, active, limit
):
    column = column.copy()
    territory = safe[rows, column]
    load = _loads(column, value, fixed, safe, rows, k)
    # Accounts that may enter each territory: (row, column) pairs grouped by territory.
    pair_rows, pair_cols = np.nonzero(candidates >= 0)
    pair_terr = candidates[pair_rows, pair_cols]
    order = np.argsort(pair_terr, kind="stable")
    pair_rows, pair_cols = pair_rows[order], pair_cols[order]
    bounds = np.searchsorted(pair_terr[order], np.arange(k + 1))
    stuck = np.zeros(k, dtype=bool)
    moves = 0
    while moves < limit:
        _, lower, upper = _band(load, k, tolerance, active)
        violation = _violation(load, lower, upper)
        open_violation = np.where(stuck | ~active, 0.0, violation)
        worst = int(np.argmax(open_violation))
        if open_violation[worst] <= _EPS:
            break
        if load[worst] > upper[worst]:
            members = np.flatnonzero(territory == worst)
            r = np.repeat(members, candidates.shape[1])
            c = np.tile(np.arange(candidates.shape[1]), len(members))
        else:
            r = pair_rows[bounds[worst] : bounds[worst + 1]]
            c = pair_cols[bounds[worst] : bounds[worst + 1]]
        keep = (c != column[r]) & (candidates[r, c] >= 0)
        r, c = r[keep], c[keep]
        if r.size == 0:
            stuck[worst] = True
            continue
        source = territory[r]
        target = safe[r, c]
        out_value = value[r, column[r]]
        in_value = value[r, c]
        new_source = load[source] - out_value
        new_target = load[target] + in_value
        delta_violation = (
            _violation(new_source, lower[source], upper[source])
            - violation[source]
            + _violation(new_target, lower[target], upper[target])
            - violation[target]
        )
        delta = penalty * delta_violation + cost[r, c] - cost[r, column[r]]
        best = int(np.argmin(delta))
        if not delta[best] < -_EPS:
            stuck[worst] = True
            continue
        row, new_column = r[best], c[best]
        load[source[best]] -= out_value[best]
        load[target[best]] += in_value[best]
        column[row] = new_column
        territory[row] = target[best]
        stuck[:] = False
        moves += 1
    return column, moves


def _return_home(column, start, cost, value, fixed, safe, rows, k, tolerance, penalty, active):
    column = column.copy()
    load = _loads(column, value, fixed, safe, rows, k)
    moved = np.flatnonzero(column != start)
    if moved.size == 0:
        return column, 0
    saving = cost[moved, column[moved]] - cost[moved, start[moved]]
    order = moved[np.argsort(-saving, kind="stable")]
    returned = 0
    for row in order.tolist():
        here, home = int(column[row]), int(start[row])
        source, target = int(safe[row, here]), int(safe[row, home])
        delta_cost = cost[row, home] - cost[row, here]
        if not np.isfinite(delta_cost):
            continue
        _, lower, upper = _band(load, k, tolerance, active)
        before = _violation(
            load[[source, target]], lower[[source, target]], upper[[source, target]]
        )
        after_load = load[[source, target]] + [-value[row, here], value[row, home]]
        after = _violation(after_load, lower[[source, target]], upper[[source, target]])
        if penalty * (after.sum() - before.sum()) + delta_cost < -_EPS:
            load[source] = after_load[0]
            load[target] = after_load[1]
            column[row] = home
            returned += 1
    return column, returned
