"""Units benchmark: applying a territory definition, unit moves, re-dissolving.

Targets (issue 9, on a 2-core machine): applying a definition to 1M accounts
<= 2 s; only the territories a move touched are re-dissolved (a figure for
that step at 33,000 ZIP-sized units).

The units are approximate ZIP areas of the continental US (Voronoi cells of
the ~30,000 standard ZIP centroids), the accounts a generated CRM export.

Run: ``.venv/bin/python benchmarks/bench_units.py [--accounts 1000000] [--territories 200]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np
import pandas as pd

from terrmap.core.context import Context
from terrmap.core.definition import Definition, Rule
from terrmap.core.plan import Plan
from terrmap.demo import generate, study_area
from terrmap.geo.drawing import map_data, plan_shapes
from terrmap.geo.units import approximate_zip_units, definition_from_polygons, h3_units
from terrmap.geo.workspace import build_workspace


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - start) * 1000


def _median_ms(fn, repeat: int) -> float:
    return statistics.median(_timed(fn)[1] for _ in range(repeat))


def run(n: int, k: int, seed: int, moves: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    units, build_ms = _timed(lambda: approximate_zip_units(study_area("conus")))
    _, adjacency_ms = _timed(units.adjacency)
    data = generate(n, k, seed=seed, region="conus")
    accounts = data.accounts

    account_units, locate_ms = _timed(lambda: units.locate(accounts["lon"], accounts["lat"]))
    geography = definition_from_polygons(units, data.territories)
    excepted = accounts.index[rng.choice(n, min(1000, n), replace=False)]
    definition = Definition(
        unit_kind=units.kind,
        unit_territory=geography.unit_territory,
        exceptions=pd.Series(rng.choice(data.territories.index, len(excepted)), index=excepted),
        rules=(
            Rule(
                data.territories.index[0],
                "revenue",
                ">=",
                float(accounts["revenue"].quantile(0.999)),
            ),
            Rule(data.territories.index[1], "industry", "in", ["Healthcare"]),
        ),
    )
    context = Context.build(accounts, data.territories, data.reps)
    pairs = units.adjacency().pairs

    def apply():
        return Plan.from_definition(
            context, definition, units.unit_ids, account_units, accounts=accounts, pairs=pairs
        )

    apply_ms = _median_ms(apply, 3)

    def locate_and_apply():
        # What a new accounts file costs on a built layer: each account's
        # unit, then the definition.
        codes = units.locate(accounts["lon"], accounts["lat"])
        return Plan.from_definition(
            context, definition, units.unit_ids, codes, accounts=accounts, pairs=pairs
        )

    total_ms = _median_ms(locate_and_apply, 3)
    # CPU time too: on a shared machine the wall clock counts other processes' turns.
    cpu_start = time.process_time()
    locate_and_apply()
    total_cpu_ms = (time.process_time() - cpu_start) * 1000
    cells = h3_units(accounts["lon"], accounts["lat"], 5)
    h3_locate_ms = _median_ms(lambda: cells.locate(accounts["lon"], accounts["lat"]), 3)
    plan = apply()
    plan.metrics()

    workspace = build_workspace(
        accounts, data.territories, data.reps, units=units, definition=definition
    )
    drawing = map_data(workspace)
    plan = workspace.initial_plan
    plan.metrics()
    _, dissolve_all_ms = _timed(lambda: plan_shapes(plan, drawing))

    owner = plan.unit_codes
    move_ms, redraw_ms, touched_units = [], [], []
    for _ in range(moves):
        # a neighbouring unit across a territory line changes hands, with its
        # accounts, as a click on the map would do
        border = pairs[owner[pairs[:, 0]] != owner[pairs[:, 1]]]
        border = border[(owner[border] >= 0).all(axis=1)]
        a, b = border[rng.integers(len(border))]
        target = str(context.territory_ids[owner[a]])
        unit = str(units.unit_ids[b])
        child, took = _timed(partial(plan.reassign_units, [unit], target))
        _, metrics_took = _timed(child.metrics)
        _, drew = _timed(partial(plan_shapes, child, drawing))
        move_ms.append(took + metrics_took)
        redraw_ms.append(drew)
        touched_units.append(int(np.isin(child.unit_codes, [owner[a], owner[b]]).sum()))
        plan, owner = child, child.unit_codes
    return {
        "accounts": n,
        "units": units.n_units,
        "territories": k,
        "build_units_ms": build_ms,
        "adjacency_ms": adjacency_ms,
        "locate_ms": locate_ms,
        "apply_ms": apply_ms,
        "total_ms": total_ms,
        "total_cpu_ms": total_cpu_ms,
        "h3_units": cells.n_units,
        "h3_locate_ms": h3_locate_ms,
        "dissolve_all_ms": dissolve_all_ms,
        "unit_move_ms": statistics.median(move_ms),
        "redissolve_ms": statistics.median(redraw_ms),
        "touched_units": statistics.median(touched_units),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--territories", type=int, default=200)
    parser.add_argument("--moves", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{'accounts':>9} {'units':>6} {'terr':>5} {'build units ms':>15} {'adjacency ms':>13} "
        f"{'locate ms':>10} {'apply ms':>9} {'locate+apply ms':>16} {'(cpu ms)':>9} {'h3 cells':>9} "
        f"{'h3 locate ms':>13} {'dissolve all ms':>16} {'unit move ms':>13} "
        f"{'re-dissolve ms':>15} {'units in 2 terr':>16}"
    )
    for n in args.accounts:
        r = run(n, args.territories, args.seed, args.moves)
        print(
            f"{r['accounts']:>9,} {r['units']:>6,} {r['territories']:>5} {r['build_units_ms']:>15.0f} "
            f"{r['adjacency_ms']:>13.0f} {r['locate_ms']:>10.0f} {r['apply_ms']:>9.0f} "
            f"{r['total_ms']:>16.0f} {r['total_cpu_ms']:>9.0f} {r['h3_units']:>9,} "
            f"{r['h3_locate_ms']:>13.0f} "
            f"{r['dissolve_all_ms']:>16.0f} {r['unit_move_ms']:>13.1f} {r['redissolve_ms']:>15.1f} "
            f"{r['touched_units']:>16,.0f}",
            flush=True,
        )
    print(
        "targets: apply a definition to 1M accounts <= 2000 ms (locate+apply; apply: rules, "
        "exceptions and units given each account's unit; locate: finding that unit, the first "
        "time on a layer included; h3 locate: the same on H3 cells of resolution 5)"
    )
    print("re-dissolve: the two territories a unit move touched, medians over the moves")


if __name__ == "__main__":
    main()
