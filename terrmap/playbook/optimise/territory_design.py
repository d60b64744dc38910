"""Territories a manager would sign: balanced on several measures, in one piece, in range.

:func:`design` solves the commercial territory design problem of Ríos-Mercado
& Fernández (2009) on the current plan: every balanced measure within its own
band (revenue ±5 % *and* workload ±10 %, say), every territory connected on
the adjacency graph, compact around the rep's home base (the dispersion of
Hess & Samuels 1971), no account beyond a driving limit from its rep's home,
team travel capped, locks held, and as little disruption as the weight asks
(accounts and revenue moved). The method is the boundary local search of
:mod:`terrmap.playbook.optimise.local_search`, the improvement phase of the
districting heuristics reviewed by Kalcsics & Ríos-Mercado (2019).

A design never makes something worse without saying so: the exact figures
(:meth:`terrmap.core.plan.Plan.metrics`) of the start and the proposal are
compared per measure and per constraint, and anything worse is listed in
``Design.worsened``. When a band cannot be reached, ``Design.reasons`` says
why in plain words (who holds too much, what the driving limit rules out)
and ``Design.options`` what would make it reachable: more territories in a
crowded area, or rebuilding a set of territories from scratch
(:func:`greenfield_territories`).

The adjacency defaults to Delaunay neighbours of the accounts
(:func:`terrmap.geo.adjacency.account_adjacency`); any adjacency given as
index pairs over the accounts can be passed instead.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from terrmap.core.context import Context
from terrmap.core.metrics import MEASURES
from terrmap.core.plan import Plan
from terrmap.core.travel import haversine_km
from terrmap.geo.adjacency import account_adjacency, check_edges, pieces
from terrmap.playbook.optimise.explain import Option, design_note, design_reasons, infeasibility
from terrmap.playbook.optimise.local_search import SearchInput, SearchResult, prepare_graph, search
from terrmap.playbook.optimise.problem import ADDITIVE_MEASURES, _additive, home_bases
from terrmap.playbook.optimise.rebalance import _mask as _id_mask

__all__ = [
    "BAND_MEASURES",
    "Design",
    "Option",
    "design",
    "design_sweep",
    "greenfield_territories",
    "parse_bands",
    "plan_report",
]

logger = logging.getLogger(__name__)

_TRAVEL_ATTEMPTS = 4
#: Prices on travel of the chained searches (per typical distance, on top of
#: the compactness weight): alternating, each search starting where the last
#: stopped.
_TRAVEL_PRICES = (1.0, 0.0, 1.0, 0.0, 3.0, 1.0)

#: Measures a band can be set on.
BAND_MEASURES: tuple[str, ...] = (*ADDITIVE_MEASURES, "workload_hours", "travel_hours", "travel_km")


@dataclass(frozen=True, eq=False)
class Design:
    """A proposed plan, the figures that judge it, and what it could not do.

    Attributes
    ----------
    plan : Plan
        The proposal: ``start`` plus one move (one undo step, one change-log
        entry), or ``start`` itself when nothing moves.
    start : Plan
        The plan the design starts from.
    bands : dict of str to float
        Measure → tolerance in percent.
    before, after : dict
        :func:`plan_report` of the start and of the proposal.
    moves : pandas.DataFrame
        One row per moved account (``from_territory``, ``to_territory``,
        ``revenue``, ``distance_before_km``, ``distance_after_km``,
        ``reason``), indexed by account id.
    reasons : tuple of str
        Why a band is not met, one sentence each.
    options : tuple of Option
        What would make the unmet bands reachable.
    worsened : tuple of str
        Measures or constraints the proposal makes worse, one sentence each.
    max_km : float or None
        Driving limit used.
    runtime_s : float
        Wall time of the search.
    stats : dict
        Search counters.
    """

    plan: Plan
    start: Plan
    bands: dict
    before: dict
    after: dict
    moves: pd.DataFrame
    reasons: tuple[str, ...]
    options: tuple[Option, ...]
    worsened: tuple[str, ...]
    max_km: float | None
    runtime_s: float
    stats: dict = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """Whether every band and the driving limit are met by the proposal (exact figures)."""
        in_range = self.max_km is None or self.after["max_km_to_home"] <= self.max_km + 1e-6
        return in_range and all(not band["outside"] for band in self.after["bands"].values())

    @property
    def moved_accounts(self) -> int:
        """Accounts that change territory."""
        return len(self.moves)

    @property
    def moved_revenue(self) -> float:
        """Revenue of the accounts that change territory."""
        return float(self.moves["revenue"].sum()) if len(self.moves) else 0.0

    def summary(self) -> dict:
        """Headline figures as plain values (the CLI's JSON, the benchmark's row)."""
        return {
            "feasible": self.feasible,
            "bands": {
                name: {
                    "tolerance_pct": self.bands[name],
                    "reached_pct": band["max_abs_deviation_pct"],
                    "reached_before_pct": self.before["bands"][name]["max_abs_deviation_pct"],
                    "outside": list(band["outside"]),
                }
                for name, band in self.after["bands"].items()
            },
            "moved_accounts": self.moved_accounts,
            "moved_revenue": self.moved_revenue,
            "share_accounts_moved": self.moved_accounts / max(self.before["assigned"], 1),
            "travel_km_before": self.before["travel_km"],
            "travel_km_after": self.after["travel_km"],
            "max_km_to_home_before": self.before["max_km_to_home"],
            "max_km_to_home": self.after["max_km_to_home"],
            "pieces_before": self.before["pieces"],
            "pieces": self.after["pieces"],
            "reasons": list(self.reasons),
            "options": [dataclasses.asdict(option) for option in self.options],
            "worsened": list(self.worsened),
            "runtime_s": self.runtime_s,
        }

    def message(self) -> str:
        """Say what the proposal reaches, in a sentence or three."""
        reached = ", ".join(
            f"{MEASURES.get(name, name)} ±{band['max_abs_deviation_pct']:.1f}% "
            f"(asked ±{self.bands[name]:g}%)"
            for name, band in self.after["bands"].items()
        )
        moved = f"{self.moved_accounts:,} accounts moved"
        if self.feasible:
            text = f"Every band met: {reached}; {moved}."
        else:
            text = f"Not every band can be met. Best reached: {reached}; {moved}. " + " ".join(
                self.reasons
            )
        if self.worsened:
            text += " Worse than today: " + " ".join(self.worsened)
        return text


def parse_bands(bands: Mapping[str, float] | Iterable[str] | str) -> dict[str, float]:
    """Validate bands given as ``{measure: pct}`` or strings ``"revenue:5"``.

    Examples
    --------
    >>> parse_bands(["revenue:5", "workload_hours:10"])
    {'revenue': 5.0, 'workload_hours': 10.0}
    >>> parse_bands("accounts")
    {'accounts': 5.0}

    Raises
    ------
    ValueError
        For an unknown measure or a tolerance that is not a number >= 0.
    """
    if isinstance(bands, str):
        bands = [bands]
    if not isinstance(bands, Mapping):
        parsed: dict[str, float] = {}
        for text in bands:
            name, _, pct = str(text).partition(":")
            try:
                parsed[name.strip()] = float(pct) if pct.strip() else 5.0
            except ValueError:
                raise ValueError(f"band {text!r}: tolerance {pct!r} is not a number") from None
        bands = parsed
    out = {}
    for name, pct in bands.items():
        if name not in BAND_MEASURES:
            raise ValueError(f"unknown measure {name!r}; choose from {list(BAND_MEASURES)}")
        pct = float(pct)
        if not math.isfinite(pct) or pct < 0:
            raise ValueError(f"band {name}: tolerance must be a number >= 0, got {pct!r}")
        out[name] = pct
    if not out:
        raise ValueError("give at least one measure to balance")
    return out


def _measure_parts(context: Context, plan: Plan, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split a measure per account into ``fixed + slope * km to home`` (exact or proxy).

    Workload and travel follow the tour model of :mod:`terrmap.core.travel`:
    the line haul ``2 d circuity visits / stops_per_day`` is linear in the
    distance ``d`` to the home base; the local tour is charged per visit at
    the start plan's average, which makes them additive over accounts.
    """
    n = context.n_accounts
    if name in ADDITIVE_MEASURES:
        return _additive(context, np.arange(n), name).astype(float), np.zeros(n)
    params = context.params
    visits = context.visits.astype(float)
    metrics = plan.metrics()
    with np.errstate(invalid="ignore"):
        line_haul = (
            2.0
            * params.circuity
            * metrics["mean_distance_km"].fillna(0.0)
            * metrics["visits"]
            / params.stops_per_day
        )
    local = float((metrics["travel_km"] - line_haul).clip(lower=0).sum())
    total_visits = float(metrics["visits"].sum())
    local_per_visit = local / total_visits if total_visits else 0.0
    fixed = local_per_visit * visits
    slope = 2.0 * params.circuity * visits / params.stops_per_day
    if name == "travel_km":
        return fixed, slope
    fixed, slope = fixed / params.speed_kmh, slope / params.speed_kmh
    if name == "workload_hours":
        fixed = fixed + visits * params.visit_hours
    return fixed, slope


def _distance_to_home(context: Context, codes: np.ndarray, home_lon, home_lat) -> np.ndarray:
    safe = np.maximum(codes, 0)
    d = haversine_km(context.lon, context.lat, home_lon[safe], home_lat[safe])
    return np.where(codes >= 0, d, np.nan)


def plan_report(
    plan: Plan,
    bands: Mapping[str, float],
    edges: np.ndarray,
    *,
    home_lon: np.ndarray | None = None,
    home_lat: np.ndarray | None = None,
) -> dict:
    """Exact figures that judge a plan: bands reached, team travel, range, pieces.

    Parameters
    ----------
    plan : Plan
        The plan.
    bands : mapping of str to float
        Measure → tolerance in percent.
    edges : numpy.ndarray, shape (E, 2)
        Account adjacency (pieces are counted on it).
    home_lon, home_lat : numpy.ndarray, optional
        Home base per territory (default: the reps', members' centre where
        missing).

    Returns
    -------
    dict
        ``bands`` (measure → ``max_abs_deviation_pct``, ``deviation_pct``
        per territory name, ``outside`` names), ``travel_km`` (team, a year),
        ``max_km_to_home``, ``pieces`` (name → count), ``assigned``.
    """
    context = plan.context
    metrics = plan.metrics()
    names = [str(name) for name in context.territory_names]
    report_bands = {}
    for name, pct in bands.items():
        values = metrics[name].to_numpy(dtype=float)
        mean = float(values.mean()) if len(values) else float("nan")
        deviation = (values - mean) / abs(mean) * 100.0 if mean else np.full(len(values), np.nan)
        outside = [names[t] for t in np.flatnonzero(np.abs(deviation) > pct + 1e-9)]
        report_bands[name] = {
            "tolerance_pct": float(pct),
            "max_abs_deviation_pct": float(np.nanmax(np.abs(deviation))) if len(values) else 0.0,
            "deviation_pct": dict(zip(names, deviation.tolist(), strict=True)),
            "outside": outside,
        }
    if home_lon is None or home_lat is None:
        home_lon, home_lat = home_bases(context, plan.codes)
    distance = _distance_to_home(context, plan.codes, home_lon, home_lat)
    finite = distance[np.isfinite(distance)]
    return {
        "bands": report_bands,
        "travel_km": float(metrics["travel_km"].sum()),
        "max_km_to_home": float(finite.max()) if finite.size else 0.0,
        "pieces": dict(
            zip(names, pieces(plan.codes, edges, context.n_territories).tolist(), strict=True)
        ),
        "assigned": int((plan.codes >= 0).sum()),
    }


def _mask(context: Context, ids, kind: str) -> np.ndarray:
    if kind == "account":
        return _id_mask(context, ids, "account")
    # Territories by id or by the name a manager knows them by.
    mask = np.zeros(context.n_territories, dtype=bool)
    ids = [] if ids is None else [str(t) for t in ids]
    by_name = {str(n): i for i, n in enumerate(context.territory_names)}
    for t in ids:
        code = context.territory_ids.get_indexer([t])[0]
        code = by_name.get(t, -1) if code < 0 else code
        if code < 0:
            raise ValueError(f"unknown territory {t!r} (neither an id nor a name)")
        mask[code] = True
    return mask


def _search_within_cap(
    context, plan, data, bands, exact_cap, travel_now, disruption_weight, compactness_weight
):
    """Chained searches under alternating prices on travel; keep the best within the exact cap.

    The travel cap is a budget: spent greedily on the first moves that pay
    for balance, it runs out before the band is reached. Pricing travel
    (the Lagrangian of the cap) makes the search buy balance with the moves
    that cost least distance; a search stops at a local optimum of its
    prices, so each next search starts where the last stopped, under another
    price: with travel dear it trades distance back, with travel free it
    spends it on balance again. This alternation is the strategic
    oscillation of the alternating tabu search of Gliesch, Ritt & Moreira
    (2018, "A multistart alternating tabu search for commercial
    districting", *EvoCOP*), which alternates between balance and
    compactness. On the 10k x 50 benchmark it takes the worst territory from
    28 % to 23 % off the mean. The exact cap is on the tour-based team
    travel, which the search's proxy (line haul only) underestimates: every
    result is judged on the exact figure, and when none stays within it the
    proxy's allowance is halved until one does.
    """
    best, best_key = None, None
    graph = prepare_graph(data) if len(data.edges) else None
    current = data
    batches = moves = 0
    for price in _TRAVEL_PRICES:
        result = search(
            current,
            w_disruption=disruption_weight,
            w_compact=compactness_weight + price,
            graph=graph,
        )
        batches += result.batches
        moves += result.moves
        current = dataclasses.replace(data, codes=result.codes)
        trial = _frozen_plan(context, result.codes)
        metrics = trial.metrics()
        if float(metrics["travel_km"].sum()) > exact_cap:
            continue
        excess = 0.0
        for name, pct in bands.items():
            values = metrics[name].to_numpy(dtype=float)
            mean = abs(float(values.mean())) or 1.0
            excess += float(np.maximum(np.abs(values / mean - 1.0) - pct / 100.0, 0.0).sum())
        key = (excess, int((result.codes != data.start_codes).sum()))
        if best_key is None or key < best_key:
            best = SearchResult(result.codes, batches, moves, result.blocked)
            best_key = key
        if excess <= 1e-9:
            break
    if best is not None:
        return best
    slack = data.travel_cap - travel_now
    for _ in range(_TRAVEL_ATTEMPTS):
        slack *= 0.5
        data = dataclasses.replace(data, travel_cap=travel_now + slack)
        best = search(
            data, w_disruption=disruption_weight, w_compact=compactness_weight, graph=graph
        )
        trial = _frozen_plan(context, best.codes)
        if float(trial.metrics()["travel_km"].sum()) <= exact_cap or slack <= 0:
            break
    return best


def _frozen_plan(context: Context, codes: np.ndarray) -> Plan:
    codes = codes.astype(np.int32)
    codes.setflags(write=False)
    return Plan(context=context, codes=codes)


def _adjacency(context: Context, adjacency) -> np.ndarray:
    if adjacency is None:
        if "account_adjacency" not in context._cache:
            context._cache["account_adjacency"] = account_adjacency(context.lon, context.lat)
        return context._cache["account_adjacency"]
    return check_edges(adjacency, context.n_accounts)


def design(
    plan: Plan,
    bands: Mapping[str, float] | Iterable[str] | str = "revenue:5",
    *,
    max_km: float | None = None,
    travel_slack_pct: float = 10.0,
    disruption_weight: float = 1.0,
    compactness_weight: float = 0.2,
    locked_accounts: Iterable[str] | None = None,
    locked_territories: Iterable[str] | None = None,
    adjacency: np.ndarray | None = None,
    author: str = "auto-balance",
    _initial_codes: np.ndarray | None = None,
    _open: np.ndarray | None = None,
) -> Design:
    """Propose a plan balanced on every band, in one piece per territory, within range.

    Parameters
    ----------
    plan : Plan
        The plan to improve; it is not changed.
    bands : mapping or iterable of str, default ``"revenue:5"``
        Measure → tolerance in percent (``{"revenue": 5, "workload_hours": 10}``
        or ``["revenue:5", "workload_hours:10"]``); see :data:`BAND_MEASURES`.
    max_km : float, optional
        Driving limit: no account moves to a rep whose home base is farther
        (great-circle km). Without it, the largest distance today is the limit.
    travel_slack_pct : float, default 10
        Team travel (visits x distance to home) may grow by this much at most.
    disruption_weight : float, default 1
        Cost of moving an account of average revenue, in the units where an
        average account's worth outside a band costs 10.
    compactness_weight : float, default 0.2
        Cost of moving an account one typical distance farther from home.
    locked_accounts : iterable of str, optional
        Accounts that keep their territory.
    locked_territories : iterable of str, optional
        Territory ids or names that neither give nor receive.
    adjacency : numpy.ndarray, optional
        ``(E, 2)`` index pairs over the accounts; Delaunay neighbours by default.
    author : str
        Author of the move in the change log.

    Returns
    -------
    Design

    Raises
    ------
    ValueError
        For an unknown measure, lock or territory, or a bad number.

    Examples
    --------
    >>> from terrmap.demo import generate
    >>> from terrmap.geo.workspace import build_workspace
    >>> data = generate(400, 4, seed=3)
    >>> ws = build_workspace(data.accounts, data.territories, data.reps)
    >>> result = design(ws.initial_plan, ["accounts:10"])
    >>> result.plan is result.start or len(result.plan.moves) == 1
    True
    """
    began = time.perf_counter()
    bands = parse_bands(bands)
    for label, value in (
        ("travel_slack_pct", travel_slack_pct),
        ("disruption_weight", disruption_weight),
        ("compactness_weight", compactness_weight),
    ):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a number >= 0, got {value!r}")
    if max_km is not None and (not math.isfinite(max_km) or max_km <= 0):
        raise ValueError(f"max_km must be a positive number of km, got {max_km!r}")
    context = plan.context
    edges = _adjacency(context, adjacency)
    account_locks = _mask(context, locked_accounts, "account")
    territory_locks = _mask(context, locked_territories, "territory")
    home_lon, home_lat = home_bases(context, plan.codes)
    codes0 = plan.codes.astype(np.int64) if _initial_codes is None else _initial_codes
    start_distance = _distance_to_home(context, plan.codes, home_lon, home_lat)
    finite = start_distance[np.isfinite(start_distance)]
    limit = (
        float(max_km) if max_km is not None else (float(finite.max()) if finite.size else np.inf)
    )
    located = np.isfinite(context.lon) & np.isfinite(context.lat)
    open_t = ~territory_locks & np.isfinite(home_lon) & np.isfinite(home_lat)
    if _open is not None:
        open_t &= _open
    movable = located & (codes0 >= 0) & ~account_locks & open_t[np.maximum(codes0, 0)]
    names = list(bands)
    parts = [_measure_parts(context, plan, name) for name in names]
    fixed = np.stack([p[0] for p in parts])
    slope = np.stack([p[1] for p in parts])
    visits = context.visits.astype(float)
    now_distance = np.nan_to_num(_distance_to_home(context, codes0, home_lon, home_lat))
    travel_now = float((visits * now_distance)[codes0 >= 0].sum())
    revenue = np.abs(context.revenue)
    mean_revenue = float(revenue[codes0 >= 0].mean()) if (codes0 >= 0).any() else 0.0
    disruption = 0.5 + (0.5 * revenue / mean_revenue if mean_revenue else 0.5)
    data = SearchInput(
        codes=codes0,
        start_codes=plan.codes.astype(np.int64),
        movable=movable,
        open_territories=open_t,
        fixed=fixed,
        slope=slope,
        tolerance=np.array([bands[name] / 100.0 for name in names]),
        lon=context.lon,
        lat=context.lat,
        home_lon=home_lon,
        home_lat=home_lat,
        visits=visits,
        disruption=disruption,
        limit_km=limit,
        travel_cap=travel_now * (1.0 + travel_slack_pct / 100.0),
        edges=edges,
    )
    # The cap holds on the exact, tour-based team travel: the proxy (line haul
    # only) misses the local tours, which grow as territories stretch, so the
    # proxy's allowance is halved until the exact figure is within the cap.
    exact_cap = float(plan.metrics()["travel_km"].sum()) * (1.0 + travel_slack_pct / 100.0)
    result = _search_within_cap(
        context, plan, data, bands, exact_cap, travel_now, disruption_weight, compactness_weight
    )
    runtime = time.perf_counter() - began
    codes = result.codes.astype(np.int32)
    return _assemble(
        plan,
        codes,
        bands,
        edges,
        home_lon,
        home_lat,
        max_km,
        territory_locks,
        account_locks,
        fixed,
        slope,
        runtime,
        {
            "batches": result.batches,
            "moves": result.moves,
            "edges": len(edges),
            "blocked": result.blocked or {},
        },
        author,
        travel_slack_pct,
    )


def _assemble(
    start: Plan,
    codes: np.ndarray,
    bands: dict,
    edges: np.ndarray,
    home_lon,
    home_lat,
    max_km,
    territory_locks,
    account_locks,
    fixed,
    slope,
    runtime,
    stats,
    author,
    travel_slack_pct,
) -> Design:
    context = start.context
    changed = np.flatnonzero(codes != start.codes)
    before = plan_report(start, bands, edges, home_lon=home_lon, home_lat=home_lat)
    names = np.asarray([str(n) for n in context.territory_names], dtype=object)
    labels = np.append(context.territory_ids.to_numpy(dtype=object), None)
    old, new = start.codes[changed], codes[changed]
    k = context.n_territories
    moves = pd.DataFrame(
        {
            "from_territory": pd.array(labels[np.where(old < 0, k, old)], dtype="string"),
            "to_territory": pd.array(labels[np.where(new < 0, k, new)], dtype="string"),
            "revenue": context.revenue[changed],
            "distance_before_km": _distance_to_home(context, start.codes, home_lon, home_lat)[
                changed
            ],
            "distance_after_km": _distance_to_home(context, codes, home_lon, home_lat)[changed],
        },
        index=pd.Index(context.id_array[changed], name="account_id", dtype="string"),
    )
    moves["reason"] = pd.array(
        design_reasons(moves, names, old, new, codes, edges, changed), dtype="string"
    )
    plan = start
    if len(changed):
        plan = start.reassign_many(changed, codes[changed], author=author)
    after = plan_report(plan, bands, edges, home_lon=home_lon, home_lat=home_lat)
    if len(changed):
        # The note quotes the figures reached, known only once the plan exists:
        # the same step with its note, the exact figures already computed kept.
        note = design_note(bands, before, after, moves, names, old, new)
        plan = dataclasses.replace(
            plan, move=dataclasses.replace(plan.move, note=note), _cache=dict(plan._cache)
        )
    reasons, options = infeasibility(
        plan,
        bands,
        after,
        edges,
        home_lon,
        home_lat,
        max_km,
        territory_locks,
        account_locks,
        fixed,
        slope,
        stats.get("blocked", {}),
    )
    worsened = _worsened(before, after, bands, max_km, travel_slack_pct)
    if max_km is not None and after["max_km_to_home"] > max_km + 1e-6:
        reasons.append(_beyond_limit(start.context, plan.codes, home_lon, home_lat, max_km))
    return Design(
        plan=plan,
        start=start,
        bands=dict(bands),
        before=before,
        after=after,
        moves=moves,
        reasons=tuple(reasons),
        options=tuple(options),
        worsened=tuple(worsened),
        max_km=max_km,
        runtime_s=runtime,
        stats=stats,
    )


def _beyond_limit(context: Context, codes, home_lon, home_lat, max_km: float) -> str:
    """Say which accounts stay beyond the driving limit, and why.

    Those farther than the limit from *every* home base cannot be brought in
    range by any assignment (only a home base nearer them can); the others
    could, but not without breaking a territory into pieces or the travel
    cap.
    """
    distance = _distance_to_home(context, codes, home_lon, home_lat)
    far = np.flatnonzero(distance > max_km + 1e-6)
    known = np.isfinite(home_lon) & np.isfinite(home_lat)
    nearest = (
        haversine_km(
            context.lon[far][:, None],
            context.lat[far][:, None],
            home_lon[known][None, :],
            home_lat[known][None, :],
        ).min(axis=1)
        if far.size and known.any()
        else np.full(far.size, np.inf)
    )
    unreachable = int((nearest > max_km + 1e-6).sum())
    rest = far.size - unreachable
    parts = [
        f"{far.size:,} account(s) remain beyond {max_km:g} km of their rep's home base "
        f"(the farthest {float(np.nanmax(distance[far])):.0f} km)"
    ]
    if unreachable:
        parts.append(
            f"{unreachable:,} of them are farther than {max_km:g} km from every home base: "
            "only a home base nearer them (a new territory there) would bring them in range"
        )
    if rest:
        parts.append(
            f"{rest:,} could join a nearer rep, but not without breaking a territory into "
            "pieces or raising team travel beyond its cap"
        )
    return "; ".join(parts) + "."


def _worsened(before: dict, after: dict, bands: dict, max_km, travel_slack_pct) -> list[str]:
    """Sentences for every measure or constraint the proposal makes worse."""
    out = []
    for name, pct in bands.items():
        was = before["bands"][name]["max_abs_deviation_pct"]
        now = after["bands"][name]["max_abs_deviation_pct"]
        if now > max(was, pct) + 0.05:
            out.append(
                f"{MEASURES.get(name, name)}: the worst territory is {now:.1f}% from the mean, "
                f"{was:.1f}% today."
            )
    grown = [
        f"{name} ({after['pieces'][name]} pieces, {before['pieces'][name]} today)"
        for name in after["pieces"]
        if after["pieces"][name] > max(before["pieces"][name], 1)
    ]
    if grown:
        out.append("In more pieces: " + ", ".join(grown) + ".")
    allowed = before["max_km_to_home"] if max_km is None else max(max_km, before["max_km_to_home"])
    if after["max_km_to_home"] > allowed + 0.5:
        out.append(
            f"An account is {after['max_km_to_home']:.0f} km from its rep's home base "
            f"(today at most {before['max_km_to_home']:.0f} km)."
        )
    cap = before["travel_km"] * (1 + travel_slack_pct / 100.0)
    if after["travel_km"] > cap + 1e-6:
        out.append(
            f"Team travel rises to {after['travel_km']:,.0f} km a year from "
            f"{before['travel_km']:,.0f} km (more than {travel_slack_pct:g}% up)."
        )
    return out


#: Disruption weights of the design's trade-off curve (0 first: balance at any disruption).
DESIGN_SWEEP: tuple[float, ...] = (0.0, 0.3, 1.0, 3.0, 10.0)


def design_sweep(
    plan: Plan,
    bands: Mapping[str, float] | Iterable[str] | str = "revenue:5",
    disruption_weights: Iterable[float] = DESIGN_SWEEP,
    **kwargs,
) -> pd.DataFrame:
    """Trace the trade-off of a design: bands reached against accounts moved.

    Parameters
    ----------
    plan, bands, **kwargs
        As for :func:`design` (``disruption_weight`` comes from the sweep).
    disruption_weights : iterable of float
        Weights to try (sorted, each once).

    Returns
    -------
    pandas.DataFrame
        One row per weight: ``disruption_weight``, ``accounts_moved``,
        ``share_accounts_moved``, ``feasible``, ``travel_km_after``, one
        ``worst_pct_<measure>`` per band (the worst territory's distance
        from the mean, exact), ``runtime_s``.

    Raises
    ------
    ValueError
        For an empty or negative weight list, or as :func:`design`.
    """
    chosen = sorted({float(w) for w in disruption_weights})
    if not chosen or chosen[0] < 0 or not np.isfinite(chosen).all():
        raise ValueError(f"disruption_weights must be non-empty and >= 0, got {chosen!r}")
    kwargs.pop("disruption_weight", None)
    rows = []
    for weight in chosen:
        result = design(plan, bands, disruption_weight=weight, **kwargs)
        summary = result.summary()
        row = {
            "disruption_weight": weight,
            "accounts_moved": summary["moved_accounts"],
            "share_accounts_moved": summary["share_accounts_moved"],
            "feasible": summary["feasible"],
            "travel_km_after": summary["travel_km_after"],
        }
        for name, band in summary["bands"].items():
            row[f"worst_pct_{name}"] = band["reached_pct"]
        row["runtime_s"] = summary["runtime_s"]
        rows.append(row)
    return pd.DataFrame(rows)


def greenfield_territories(
    plan: Plan,
    territories: Iterable[str],
    bands: Mapping[str, float] | Iterable[str] | str = "revenue:5",
    **kwargs,
) -> Design:
    """Rebuild a chosen set of territories from scratch around their home bases.

    The accounts of the chosen territories are dealt to the nearest of their
    home bases (each territory starts as the accounts closest to its rep),
    then balanced by :func:`design` with no disruption cost; the other
    territories do not change.

    Parameters
    ----------
    plan : Plan
        The plan; it is not changed.
    territories : iterable of str
        Territory ids or names to rebuild (at least one).
    bands, **kwargs
        As for :func:`design` (``disruption_weight`` is forced to 0).

    Returns
    -------
    Design
    """
    context = plan.context
    chosen = _mask(context, territories, "territory")
    if not chosen.any():
        raise ValueError("choose at least one territory to rebuild")
    home_lon, home_lat = home_bases(context, plan.codes)
    usable = np.flatnonzero(chosen & np.isfinite(home_lon) & np.isfinite(home_lat))
    if usable.size == 0:
        raise ValueError("the chosen territories have no home bases")
    codes = plan.codes.astype(np.int64).copy()
    locked = _mask(context, kwargs.get("locked_accounts"), "account")
    inside = np.flatnonzero(
        (codes >= 0)
        & chosen[np.maximum(codes, 0)]
        & ~locked
        & np.isfinite(context.lon)
        & np.isfinite(context.lat)
    )
    if inside.size:
        d = haversine_km(
            context.lon[inside][:, None],
            context.lat[inside][:, None],
            home_lon[usable][None, :],
            home_lat[usable][None, :],
        )
        codes[inside] = usable[np.argmin(d, axis=1)]
    kwargs["disruption_weight"] = 0.0
    kwargs.setdefault("author", "greenfield")
    return design(plan, bands, _initial_codes=codes, _open=chosen, **kwargs)
