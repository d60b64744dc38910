"""Public entry points: rebalance a plan, build territories from scratch, sweep."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from terrmap.core.balance import Balance, balance, composite_measure
from terrmap.core.context import Context
from terrmap.core.metrics import metrics_frame, tally
from terrmap.core.plan import Plan
from terrmap.core.travel import haversine_km
from terrmap.playbook.optimise.explain import move_reasons, pair_note
from terrmap.playbook.optimise.problem import (
    ADDITIVE_MEASURES,
    Problem,
    _unit_vectors,
    build_problem,
    check_measure,
    home_bases,
    measure_label,
)
from terrmap.playbook.optimise.solver import Weights, solve

__all__ = [
    "DEFAULT_SWEEP",
    "Proposal",
    "greenfield",
    "propose",
    "sweep",
]

logger = logging.getLogger(__name__)

_EXACT_ATTEMPTS = 3

#: Disruption weights of the default trade-off sweep (log-spaced, 0 first).
DEFAULT_SWEEP: tuple[float, ...] = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 200.0, 400.0)


@dataclass(frozen=True, eq=False)
class Proposal:
    """A proposed plan and the figures that judge it.

    Attributes
    ----------
    plan : Plan
        The proposal: ``start`` followed by one move per (from, to) pair of
        territories, each with a note saying why (see ``plan.changelog()``).
    start : Plan
        The plan the proposal starts from.
    measure : str or dict
        The balanced measure, or the weights of a mix.
    tolerance_pct : float
        Half-width of the band around the mean.
    weights : Weights
        Objective weights used.
    before, after : Balance
        Exact balance (from ``Plan.metrics()``) of the start and the proposal.
    moves : pandas.DataFrame
        One row per moved account: ``from_territory``, ``to_territory``,
        ``value`` (its measure), ``revenue``, ``distance_before_km``,
        ``distance_after_km`` and ``reason``; indexed by account id.
    feasible : bool
        False when the band provably cannot be reached (see ``reasons``).
    reasons : tuple of str
        Why the band cannot be reached, when it cannot.
    runtime_s : float
        Wall time of the optimisation (without the exact figures).
    seed : int
        Seed of the tie-breaking jitter (and of greenfield seeding).
    stats : dict
        Solver counters (price iterations, repair moves, accounts returned).
    centres : pandas.DataFrame or None
        Greenfield mode: the home base used per territory (``lon``, ``lat``).
    """

    plan: Plan
    start: Plan
    measure: str | dict
    tolerance_pct: float
    weights: Weights
    before: Balance
    after: Balance
    moves: pd.DataFrame
    feasible: bool
    reasons: tuple[str, ...]
    runtime_s: float
    seed: int
    stats: dict = field(default_factory=dict)
    centres: pd.DataFrame | None = None

    @property
    def within_tolerance(self) -> bool:
        """Whether every territory ends inside the band (exact figures)."""
        return len(self.after.outside) == 0

    @property
    def accounts_moved(self) -> int:
        """Number of accounts that change territory."""
        return len(self.moves)

    @property
    def share_accounts_moved(self) -> float:
        """Accounts moved over accounts assigned at the start."""
        assigned = int((self.start.codes >= 0).sum())
        return self.accounts_moved / assigned if assigned else 0.0

    @property
    def share_revenue_moved(self) -> float:
        """Revenue of moved accounts over assigned revenue at the start."""
        revenue = self.start.context.revenue[self.start.codes >= 0]
        total = float(np.abs(revenue).sum())
        return float(self.moves["revenue"].abs().sum()) / total if total else 0.0

    def summary(self) -> dict:
        """Headline figures as plain values (for tables and JSON)."""
        distance = _mean_distance(self.plan)
        return {
            "measure": measure_label(self.measure),
            "tolerance_pct": self.tolerance_pct,
            "disruption_weight": self.weights.disruption,
            "within_tolerance": self.within_tolerance,
            "feasible": self.feasible,
            "territories_outside": len(self.after.outside),
            "max_over_mean_before": self.before.max_over_mean,
            "max_over_mean": self.after.max_over_mean,
            "min_over_mean": self.after.min_over_mean,
            "max_abs_deviation_pct": float(self.after.deviation_pct.abs().max()),
            "accounts_moved": self.accounts_moved,
            "share_accounts_moved": self.share_accounts_moved,
            "share_revenue_moved": self.share_revenue_moved,
            "mean_distance_before_km": _mean_distance(self.start),
            "mean_distance_km": distance,
            "runtime_s": self.runtime_s,
        }

    def message(self) -> str:
        """One honest sentence on what the proposal reaches."""
        k = len(self.after.deviation_pct)
        label = measure_label(self.measure)
        if self.within_tolerance:
            return (
                f"All {k} territories within ±{self.tolerance_pct:g}% of the mean {label}, "
                f"moving {self.accounts_moved:,} accounts ({self.share_accounts_moved:.1%})."
            )
        outside = ", ".join(str(t) for t in self.after.outside[:8])
        if not self.feasible:
            return (
                f"±{self.tolerance_pct:g}% on {label} cannot be reached: "
                + " ".join(self.reasons)
                + f" Best found leaves {len(self.after.outside)} of {k} outside ({outside})."
            )
        return (
            f"Not reached: {len(self.after.outside)} of {k} territories remain outside "
            f"±{self.tolerance_pct:g}% ({outside}). Lower the disruption weight, unlock "
            "territories or widen the tolerance."
        )

    def comparison(self) -> pd.DataFrame:
        """Before and after per territory: measure, deviation, accounts in and out."""
        context = self.plan.context
        before_values = _measure_values(self.start.metrics(), self.measure)
        after_values = _measure_values(self.plan.metrics(), self.measure)
        moved_in = self.moves["to_territory"].value_counts()
        moved_out = self.moves["from_territory"].value_counts()
        ids = context.territory_ids
        frame = pd.DataFrame(
            {
                "name": context.territory_names,
                "before": before_values.to_numpy(),
                "after": after_values.to_numpy(),
                "deviation_before_pct": self.before.deviation_pct.to_numpy(),
                "deviation_after_pct": self.after.deviation_pct.to_numpy(),
                "accounts_in": moved_in.reindex(ids, fill_value=0).to_numpy(),
                "accounts_out": moved_out.reindex(ids, fill_value=0).to_numpy(),
            },
            index=ids,
        )
        frame["within_band"] = frame["deviation_after_pct"].abs() <= self.tolerance_pct + 1e-9
        return frame


def _measure_values(metrics: pd.DataFrame, measure: str | Mapping[str, float]) -> pd.Series:
    if isinstance(measure, str):
        return metrics[measure].astype(float)
    return composite_measure(metrics, measure)


def _mean_distance(plan: Plan) -> float:
    context = plan.context
    assigned = np.flatnonzero(plan.codes >= 0)
    if assigned.size == 0:
        return float("nan")
    codes = plan.codes[assigned]
    distance = haversine_km(
        context.lon[assigned],
        context.lat[assigned],
        context.home_lon[codes],
        context.home_lat[codes],
    )
    return float(np.nanmean(distance)) if np.isfinite(distance).any() else float("nan")


def _exact_balance(context: Context, codes: np.ndarray, measure, tolerance_pct: float) -> Balance:
    metrics = metrics_frame(context, *tally(context, codes))
    return balance(_measure_values(metrics, measure), tolerance_pct)


def _mask(context: Context, ids: Iterable[str] | None, kind: str) -> np.ndarray:
    if kind == "account":
        mask = np.zeros(context.n_accounts, dtype=bool)
        ids = [] if ids is None else list(ids)
        if ids:
            try:
                mask[context.positions(ids)] = True
            except KeyError as error:
                raise ValueError(f"locked_accounts: {error.args[0]}") from None
        return mask
    mask = np.zeros(context.n_territories, dtype=bool)
    ids = [] if ids is None else [str(t) for t in ids]
    found = context.territory_ids.get_indexer(ids)
    if (found < 0).any():
        unknown = [t for t, f in zip(ids, found, strict=True) if f < 0][:5]
        raise ValueError(f"locked_territories: unknown territory id(s) {unknown}")
    mask[found] = True
    return mask


def _check_numbers(tolerance_pct: float, n_candidates: int) -> None:
    if not np.isfinite(tolerance_pct) or tolerance_pct < 0:
        raise ValueError(f"tolerance_pct must be a number >= 0, got {tolerance_pct!r}")
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, int | np.integer):
        raise ValueError(f"n_candidates must be an int, got {n_candidates!r}")
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates!r}")


def _feasibility(
    context: Context, problem: Problem, tolerance: float, start_codes: np.ndarray | None
) -> tuple[str, ...]:
    """Reasons the band is out of reach, in terms a manager can check."""
    reasons: list[str] = []
    k = problem.k
    if k == 0:
        return ("there are no territories.",)
    finite = np.where(np.isfinite(problem.distance_km), problem.value, np.inf)
    smallest = finite.min(axis=1) if finite.size else np.zeros(0)
    own = problem.value[:, 0] if problem.value.size else np.zeros(0)
    if start_codes is None:
        own = np.where(np.isfinite(smallest), smallest, 0.0)
    total = float(problem.fixed_load.sum() + own.sum())
    target = total / k
    half = abs(target) * tolerance
    upper, lower = target + half, target - half
    too_big = np.flatnonzero(smallest > upper + 1e-9)
    if too_big.size:
        ids = context.id_array[problem.movable[too_big[:3]]].tolist()
        reasons.append(
            f"{too_big.size} account(s) ({', '.join(map(str, ids))}) are each worth more than "
            f"a territory may hold ({upper:,.4g}); whichever territory takes one is over the band."
        )
    names = context.territory_names
    locked = problem.locked_territories
    if start_codes is not None:
        for code in np.flatnonzero(locked):
            load = problem.fixed_load[code]
            if not lower - 1e-9 <= load <= upper + 1e-9:
                deviation = (load - target) / abs(target) * 100 if target else np.nan
                reasons.append(
                    f"locked territory {names[code]} is at {deviation:+.1f}% and cannot change."
                )
    over = np.flatnonzero(~locked & (problem.fixed_load > upper + 1e-9))
    for code in over[:3]:
        reasons.append(
            f"locked accounts alone put {names[code]} above the band "
            f"({problem.fixed_load[code]:,.4g} > {upper:,.4g})."
        )
    active = ~locked
    deficit = float(np.maximum(lower - problem.fixed_load[active], 0.0).sum())
    movable_total = float(np.clip(own, 0.0, None).sum())
    if deficit > movable_total * (1 + 1e-9) + 1e-9:
        reasons.append(
            "the accounts that may move cannot lift every open territory to the band's lower end."
        )
    return tuple(reasons)


@dataclass(frozen=True, eq=False)
class _Prepared:
    context: Context
    start: Plan
    start_codes: np.ndarray | None
    problem: Problem
    weights: dict
    tolerance: float
    reasons: tuple[str, ...]
    home_lon: np.ndarray
    home_lat: np.ndarray


def _prepare(
    start: Plan,
    measure,
    tolerance_pct: float,
    locked_accounts,
    locked_territories,
    n_candidates: int,
    greenfield_mode: bool,
    home_lon: np.ndarray | None = None,
    home_lat: np.ndarray | None = None,
) -> _Prepared:
    _check_numbers(tolerance_pct, n_candidates)
    context = start.context
    weights = check_measure(measure)
    account_locks = _mask(context, locked_accounts, "account")
    territory_locks = _mask(context, locked_territories, "territory")
    start_codes = None if greenfield_mode else start.codes
    if home_lon is None or home_lat is None:
        home_lon, home_lat = home_bases(context, start.codes)
    problem = build_problem(
        context,
        start_codes,
        weights,
        n_candidates=n_candidates,
        locked_accounts=account_locks,
        locked_territories=territory_locks,
        home_lon=home_lon,
        home_lat=home_lat,
    )
    tolerance = tolerance_pct / 100.0
    return _Prepared(
        context=context,
        start=start,
        start_codes=start_codes,
        problem=problem,
        weights=weights,
        tolerance=tolerance,
        reasons=_feasibility(context, problem, tolerance, start_codes),
        home_lon=home_lon,
        home_lat=home_lat,
    )


def _solve_codes(prepared: _Prepared, weights: Weights, seed: int) -> tuple[np.ndarray, dict]:
    """Solve; for travel-based measures, tighten the proxy's band until the exact one holds.

    The additive proxy of workload and travel is a few percent off the exact
    tour-based figure, so a proxy inside ±5 % can be exact +5.3 %. Up to two
    re-solves with the band narrowed to 60 % each time absorb that.
    """
    additive = all(name in ADDITIVE_MEASURES for name in prepared.weights)
    tolerance = prepared.tolerance
    measure = next(iter(prepared.weights)) if len(prepared.weights) == 1 else prepared.weights
    for attempt in range(1 if additive else _EXACT_ATTEMPTS):
        codes, stats = _solve_once(prepared, weights, seed, tolerance)
        if additive or attempt == _EXACT_ATTEMPTS - 1:
            break
        exact = _exact_balance(prepared.context, codes, measure, prepared.tolerance * 100.0)
        if len(exact.outside) == 0:
            break
        tolerance *= 0.6
    stats["proxy_tolerance_pct"] = tolerance * 100.0
    return codes, stats


def _solve_once(prepared: _Prepared, weights: Weights, seed: int, tolerance: float):
    rng = np.random.default_rng(seed)
    solution = solve(prepared.problem, tolerance, weights, rng)
    problem = prepared.problem
    codes = prepared.start.codes.copy()
    if len(problem.movable) and problem.candidates.shape[1]:
        chosen = problem.candidates[np.arange(len(problem.movable)), solution.column]
        codes[problem.movable] = np.where(chosen >= 0, chosen, codes[problem.movable])
    stats = {
        "price_iterations": solution.price_iterations,
        "repair_moves": solution.repair_moves,
        "returned_home": solution.returned,
        "movable_accounts": len(problem.movable),
    }
    return codes, stats


def _assemble(
    prepared: _Prepared,
    codes: np.ndarray,
    weights: Weights,
    measure,
    tolerance_pct: float,
    seed: int,
    runtime: float,
    stats: dict,
    author: str,
    centres: pd.DataFrame | None = None,
) -> Proposal:
    context, start = prepared.context, prepared.start
    before = balance(_measure_values(start.metrics(), measure), tolerance_pct)
    after = _exact_balance(context, codes, measure, tolerance_pct)
    changed = np.flatnonzero(codes != start.codes)
    labels = np.append(context.territory_ids.to_numpy(dtype=object), None)
    old, new = start.codes[changed], codes[changed]
    k = context.n_territories

    def distance(which: np.ndarray) -> np.ndarray:
        safe = np.maximum(which, 0)
        d = haversine_km(
            context.lon[changed],
            context.lat[changed],
            prepared.home_lon[safe],
            prepared.home_lat[safe],
        )
        return np.where(which >= 0, d, np.nan)

    value_column = _account_measure(context, changed, new, prepared, measure)
    moves = pd.DataFrame(
        {
            "from_territory": pd.array(labels[np.where(old < 0, k, old)], dtype="string"),
            "to_territory": pd.array(labels[new], dtype="string"),
            "value": value_column,
            "revenue": context.revenue[changed],
            "distance_before_km": distance(old),
            "distance_after_km": distance(new),
        },
        index=pd.Index(context.id_array[changed], name="account_id", dtype="string"),
    )
    names = pd.Series(context.territory_names, index=context.territory_ids)
    moves["reason"] = pd.array(move_reasons(moves, before, after, names), dtype="string")

    label = measure_label(measure)
    plan = start
    at = datetime.now(UTC)
    grouped = moves.groupby(
        [moves["from_territory"].fillna("(white space)"), "to_territory"], sort=True
    )
    for (source, target), group in grouped:
        note = pair_note(
            source,
            target,
            len(group),
            float(group["value"].sum()),
            label,
            tolerance_pct,
            before,
            after,
            names,
        )
        plan = plan.reassign(group.index.tolist(), target, author=author, note=note, at=at)
    return Proposal(
        plan=plan,
        start=start,
        measure=measure if isinstance(measure, str) else dict(measure),
        tolerance_pct=float(tolerance_pct),
        weights=weights,
        before=before,
        after=after,
        moves=moves,
        feasible=not prepared.reasons,
        reasons=prepared.reasons,
        runtime_s=runtime,
        seed=seed,
        stats=stats,
        centres=centres,
    )


def _account_measure(context, positions, codes, prepared: _Prepared, measure) -> np.ndarray:
    # The account's own contribution (exact for additive measures, the proxy
    # for travel-based ones), read from the problem's arrays where possible.
    problem = prepared.problem
    lookup = np.full(context.n_accounts, -1, dtype=np.int64)
    lookup[problem.movable] = np.arange(len(problem.movable))
    rows = lookup[positions]
    out = np.full(len(positions), np.nan)
    ok = rows >= 0
    if ok.any() and problem.candidates.shape[1]:
        match = problem.candidates[rows[ok]] == codes[ok][:, None]
        column = match.argmax(axis=1)
        out[ok] = np.where(match.any(axis=1), problem.value[rows[ok], column], np.nan)
    return out


def propose(
    plan: Plan,
    measure: str | Mapping[str, float] = "revenue",
    tolerance_pct: float = 5.0,
    *,
    disruption_weight: float = 1.0,
    compactness_weight: float = 1.0,
    balance_weight: float = 100.0,
    locked_accounts: Iterable[str] | None = None,
    locked_territories: Iterable[str] | None = None,
    n_candidates: int = 8,
    seed: int = 0,
    author: str = "auto-balance",
) -> Proposal:
    """Propose a reassignment that brings every territory within the band.

    Minimises ``balance_weight`` x (measure outside the band, in average
    accounts) + ``disruption_weight`` x (accounts moved, each counted half as
    one account and half by its revenue over the average revenue) +
    ``compactness_weight`` x (distance to the home base over the typical
    distance). See :mod:`terrmap.playbook.optimise` for the method.

    Parameters
    ----------
    plan : Plan
        The plan to rebalance; it is not changed.
    measure : str or mapping of str to float, default "revenue"
        One of ``revenue``, ``net_profit``, ``cost``, ``accounts``, ``visits``,
        ``pipeline``, ``workload_hours``, ``travel_hours``, ``travel_km``, or a
        weighted mix of them (each scaled to its mean, as
        :func:`terrmap.core.balance.composite_measure`). Travel-based measures are
        optimised through an additive proxy; the figures reported are exact.
    tolerance_pct : float, default 5
        Half-width of the band around the mean, in percent.
    disruption_weight : float, default 1
        Weight of moving accounts. Around ``2 x balance_weight`` and above,
        balance no longer pays for any move.
    compactness_weight : float, default 1
        Weight of the distance to the home base.
    balance_weight : float, default 100
        Weight of the measure outside the band.
    locked_accounts : iterable of str, optional
        Accounts that keep their territory.
    locked_territories : iterable of str, optional
        Territories that keep all their accounts and receive none.
    n_candidates : int, default 8
        Nearest home bases an account may move to.
    seed : int, default 0
        Seed of the tie-breaking jitter: the same seed gives the same proposal.
    author : str, default "auto-balance"
        Author of the moves in the change log.

    Returns
    -------
    Proposal
        ``proposal.plan`` is a child of ``plan``; accounts in white space
        stay there.

    Raises
    ------
    ValueError
        For an unknown measure, lock id, or an out-of-range number.

    Examples
    --------
    >>> from terrmap.demo import generate
    >>> from terrmap.geo.workspace import build_workspace
    >>> data = generate(400, 4, seed=3)
    >>> ws = build_workspace(data.accounts, data.territories, data.reps)
    >>> result = propose(ws.initial_plan, "accounts", 10)
    >>> result.within_tolerance
    True
    """
    weights = Weights(balance_weight, disruption_weight, compactness_weight)
    began = time.perf_counter()
    prepared = _prepare(
        plan, measure, tolerance_pct, locked_accounts, locked_territories, n_candidates, False
    )
    codes, stats = _solve_codes(prepared, weights, seed)
    runtime = time.perf_counter() - began
    logger.debug("propose: %s in %.3f s", stats, runtime)
    return _assemble(prepared, codes, weights, measure, tolerance_pct, seed, runtime, stats, author)


def _sweep_weights(disruption_weights: Iterable[float]) -> list[float]:
    """Return the disruption weights of a sweep, ascending, each once.

    Raises a ValueError for none, a negative or a non-finite weight.
    """
    chosen = sorted({float(w) for w in disruption_weights})
    if not chosen or chosen[0] < 0 or not np.isfinite(chosen).all():
        raise ValueError(f"disruption_weights must be non-empty and >= 0, got {chosen!r}")
    return chosen


def sweep(
    plan: Plan,
    measure: str | Mapping[str, float] = "revenue",
    tolerance_pct: float = 5.0,
    disruption_weights: Sequence[float] = DEFAULT_SWEEP,
    *,
    compactness_weight: float = 1.0,
    balance_weight: float = 100.0,
    locked_accounts: Iterable[str] | None = None,
    locked_territories: Iterable[str] | None = None,
    n_candidates: int = 8,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Trace the trade-off curve: balance reached against accounts moved.

    Parameters
    ----------
    plan, measure, tolerance_pct, compactness_weight, balance_weight,
    locked_accounts, locked_territories, n_candidates, seed
        As for :func:`propose`.
    disruption_weights : sequence of float
        Weights to try.
    progress : callable, optional
        Called as ``progress(done, total)`` after each weight.

    Returns
    -------
    pandas.DataFrame
        One row per weight (ascending): ``disruption_weight``,
        ``accounts_moved``, ``share_accounts_moved``, ``share_revenue_moved``,
        ``max_abs_deviation_pct``, ``max_over_mean``, ``min_over_mean``,
        ``territories_outside``, ``within_tolerance``, ``mean_distance_km``,
        ``runtime_s``. Balance figures are exact.

    Raises
    ------
    ValueError
        For an empty or negative weight list, or as :func:`propose`.
    """
    chosen = _sweep_weights(disruption_weights)
    prepared = _prepare(
        plan, measure, tolerance_pct, locked_accounts, locked_territories, n_candidates, False
    )
    context = plan.context
    assigned = plan.codes >= 0
    total_revenue = float(np.abs(context.revenue[assigned]).sum())
    rows = []
    for weight in chosen:
        began = time.perf_counter()
        codes, _ = _solve_codes(prepared, Weights(balance_weight, weight, compactness_weight), seed)
        runtime = time.perf_counter() - began
        after = _exact_balance(context, codes, measure, tolerance_pct)
        moved = codes != plan.codes
        rows.append(
            {
                "disruption_weight": weight,
                "accounts_moved": int(moved.sum()),
                "share_accounts_moved": float(moved.sum() / max(int(assigned.sum()), 1)),
                "share_revenue_moved": float(np.abs(context.revenue[moved]).sum() / total_revenue)
                if total_revenue
                else 0.0,
                "max_abs_deviation_pct": float(after.deviation_pct.abs().max()),
                "max_over_mean": after.max_over_mean,
                "min_over_mean": after.min_over_mean,
                "territories_outside": len(after.outside),
                "within_tolerance": len(after.outside) == 0,
                "mean_distance_km": _mean_distance(
                    dataclasses.replace(plan, codes=codes, _cache={})
                ),
                "runtime_s": runtime,
            }
        )
        if progress is not None:
            progress(len(rows), len(chosen))
    return pd.DataFrame(rows)


def greenfield(
    context: Context,
    measure: str | Mapping[str, float] = "revenue",
    tolerance_pct: float = 5.0,
    *,
    n_territories: int | None = None,
    use_home_bases: bool = True,
    compactness_weight: float = 1.0,
    balance_weight: float = 100.0,
    n_candidates: int = 8,
    rounds: int = 3,
    seed: int = 0,
    author: str = "greenfield",
) -> Proposal:
    """Build territories from scratch: every located account placed afresh.

    With home bases, each territory is grown around its rep's home base.
    Without, ``n_territories`` centres are seeded by weighted k-means++ and
    then alternate with the balanced assignment (the location-allocation
    loop of Hess & Samuels 1971) for ``rounds`` rounds.

    Parameters
    ----------
    context : Context
        Accounts and territories (its territories are reused when their
        number is ``n_territories``; otherwise new ones ``G01``... are made).
    measure, tolerance_pct, compactness_weight, balance_weight, n_candidates, seed
        As for :func:`propose` (there is no disruption in greenfield mode).
    n_territories : int, optional
        Number of territories; the context's by default. Must equal it when
        ``use_home_bases`` is true.
    use_home_bases : bool, default True
        Grow territories around the reps' home bases.
    rounds : int, default 3
        Location-allocation rounds without home bases.
    author : str
        Author of the moves in the change log.

    Returns
    -------
    Proposal
        ``start`` is the plan with every account unassigned; ``centres`` the
        home base per territory.

    Raises
    ------
    ValueError
        For a bad territory count, or as :func:`propose`.
    """
    k = context.n_territories if n_territories is None else n_territories
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"n_territories must be a positive int, got {n_territories!r}")
    if use_home_bases and k != context.n_territories:
        raise ValueError(
            f"with home bases the territories are the context's {context.n_territories}; "
            f"got n_territories={k}"
        )
    if use_home_bases and np.isnan(context.home_lon).all():
        raise ValueError("the territories have no home bases: use use_home_bases=False")
    if k != context.n_territories:
        ids = [f"G{i + 1:0{max(2, len(str(k)))}d}" for i in range(k)]
        nan = np.full(k, np.nan)
        context = dataclasses.replace(
            context,
            territory_ids=pd.Index(ids, name="territory_id"),
            territory_names=np.array(ids, dtype=object),
            territory_reps=np.full(k, None, dtype=object),
            home_lon=nan,
            home_lat=nan.copy(),
            capacity_hours=nan.copy(),
            _cache={},
        )
    weights = Weights(balance_weight, 0.0, compactness_weight)
    empty = Plan.from_assignment(context, pd.Series([], dtype="string"))
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    if use_home_bases:
        home_lon, home_lat = context.home_lon.astype(float), context.home_lat.astype(float)
        home_lon, home_lat = _fill_missing_homes(context, home_lon, home_lat, rng)
        rounds = 1
    else:
        home_lon, home_lat = _kmeans_pp(context, k, rng)
    for round_ in range(rounds):
        prepared = _prepare(
            empty, measure, tolerance_pct, None, None, n_candidates, True, home_lon, home_lat
        )
        codes, stats = _solve_codes(prepared, weights, seed)
        if round_ < rounds - 1:
            home_lon, home_lat = _centroids(context, codes, home_lon, home_lat)
    runtime = time.perf_counter() - began
    centres = pd.DataFrame({"lon": home_lon, "lat": home_lat}, index=context.territory_ids)
    if use_home_bases:
        start = empty
    else:
        # Distances in the result are to the centres, which become the homes.
        context = dataclasses.replace(context, home_lon=home_lon, home_lat=home_lat, _cache={})
        start = Plan.from_assignment(context, pd.Series([], dtype="string"))
        prepared = dataclasses.replace(prepared, context=context, start=start)
    return _assemble(
        prepared, codes, weights, measure, tolerance_pct, seed, runtime, stats, author, centres
    )


def _fill_missing_homes(context, home_lon, home_lat, rng):
    missing = np.isnan(home_lon) | np.isnan(home_lat)
    if missing.any():
        seeds_lon, seeds_lat = _kmeans_pp(context, int(missing.sum()), rng)
        home_lon, home_lat = home_lon.copy(), home_lat.copy()
        home_lon[missing], home_lat[missing] = seeds_lon, seeds_lat
    return home_lon, home_lat


def _kmeans_pp(context: Context, k: int, rng: np.random.Generator):
    """Weighted k-means++ seeds (Arthur & Vassilvitskii 2007) on the sphere."""
    located = np.flatnonzero(~(np.isnan(context.lon) | np.isnan(context.lat)))
    if located.size < k:
        raise ValueError(
            f"need at least {k} located accounts for {k} territories, got {located.size}"
        )
    xyz = _unit_vectors(context.lon[located], context.lat[located])
    weight = 1.0 + np.abs(context.revenue[located]) / max(
        float(np.abs(context.revenue).mean()), 1e-12
    )
    chosen = [int(rng.choice(located.size, p=weight / weight.sum()))]
    nearest = ((xyz - xyz[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        p = weight * nearest
        pick = (
            int(rng.choice(located.size, p=p / p.sum()))
            if p.sum() > 0
            else int(rng.integers(located.size))
        )
        chosen.append(pick)
        nearest = np.minimum(nearest, ((xyz - xyz[pick]) ** 2).sum(axis=1))
    points = located[chosen]
    return context.lon[points].astype(float).copy(), context.lat[points].astype(float).copy()


def _centroids(context: Context, codes: np.ndarray, home_lon, home_lat):
    k = len(home_lon)
    ok = codes >= 0
    xyz = _unit_vectors(context.lon[ok], context.lat[ok])
    sums = np.column_stack(
        [np.bincount(codes[ok], weights=xyz[:, i], minlength=k) for i in range(3)]
    )
    norm = np.linalg.norm(sums, axis=1)
    lon, lat = home_lon.copy(), home_lat.copy()
    has = norm > 0
    unit = sums[has] / norm[has][:, None]
    lat[has] = np.degrees(np.arcsin(np.clip(unit[:, 2], -1, 1)))
    lon[has] = np.degrees(np.arctan2(unit[:, 1], unit[:, 0]))
    return lon, lat
