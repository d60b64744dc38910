"""Core benchmark: assignment, lasso + metric update, plan memory.

Targets (issue 2, on a 2-core machine): assigning 1M accounts to 200
territories <= 2 s; a lasso selection plus the metric update at 1M accounts
<= 30 ms; memory of a 1M-account plan <= 2 GiB.

Run: ``.venv/bin/python benchmarks/bench_core.py [--sizes 10000 100000 1000000]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

import numpy as np
import shapely

from terrmap.core.context import Context
from terrmap.core.plan import Plan
from terrmap.demo import generate
from terrmap.geo.assign import assign_accounts
from terrmap.geo.selection import PointIndex


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _lasso_polygons(accounts, rng, count: int, share: float):
    """Freehand-like polygons around random accounts, each holding about ``share`` of them."""
    lon, lat = accounts["lon"].to_numpy(), accounts["lat"].to_numpy()
    polygons = []
    for _ in range(count):
        centre = rng.integers(len(lon))
        d = np.hypot(lon - lon[centre], lat - lat[centre])
        radius = np.quantile(d, share)
        angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        wobble = 1 + 0.15 * np.sin(5 * angles + rng.uniform(0, 6))
        ring = np.column_stack(
            [
                lon[centre] + radius * wobble * np.cos(angles),
                lat[centre] + radius * wobble * np.sin(angles),
            ]
        )
        polygons.append(shapely.Polygon(ring))
    return polygons


def run(n: int, k: int, seed: int) -> dict[str, float]:
    data = generate(n, k, seed=seed, region="conus" if k > 20 else "northeast")
    accounts, territories = data.accounts, data.territories
    assign_ms = _median_ms(lambda: assign_accounts(accounts, territories), 3)
    result = assign_accounts(accounts, territories)

    gc.collect()
    tracemalloc.start()
    context = Context.build(accounts, territories, data.reps)
    plan = Plan.from_assignment(context, result.assignment)
    start = time.perf_counter()
    plan.metrics()
    full_ms = (time.perf_counter() - start) * 1000
    plan_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    rng = np.random.default_rng(seed)
    # Built once per data set, as the map editor does.
    points = PointIndex.build(context.lon, context.lat, context.account_ids)
    polygons = _lasso_polygons(accounts, rng, 15, 0.01)
    targets = rng.choice(context.territory_ids, len(polygons))
    select_times, update_times, cpu_times, selected = [], [], [], []
    for polygon, target in zip(polygons, targets, strict=True):
        cpu = time.process_time()
        start = time.perf_counter()
        rows = points.rows_in_polygon(polygon)
        mid = time.perf_counter()
        child = plan.reassign_positions(rows, target)
        child.metrics()
        end = time.perf_counter()
        cpu_times.append((time.process_time() - cpu) * 1000)
        select_times.append((mid - start) * 1000)
        update_times.append((end - mid) * 1000)
        selected.append(len(rows))
    total = [a + b for a, b in zip(select_times, update_times, strict=True)]
    return {
        "accounts": n,
        "territories": k,
        "assign_ms": assign_ms,
        "full_metrics_ms": full_ms,
        "lasso_select_ms": statistics.median(select_times),
        "reassign_metrics_ms": statistics.median(update_times),
        "lasso_total_ms": statistics.median(total),
        "lasso_cpu_ms": statistics.median(cpu_times),
        "lasso_accounts": statistics.median(selected),
        "plan_mib": plan_bytes / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--territories", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    header = (
        f"{'accounts':>9} {'terr':>5} {'assign ms':>10} {'full metrics ms':>16} {'lasso select ms':>16} "
        f"{'reassign+metrics ms':>20} {'lasso total ms':>15} {'(cpu ms)':>9} {'lasso accts':>12} {'plan MiB':>9}"
    )
    print(header)
    for n in args.sizes:
        r = run(n, args.territories, args.seed)
        print(
            f"{r['accounts']:>9,} {r['territories']:>5} {r['assign_ms']:>10.1f} {r['full_metrics_ms']:>16.1f} "
            f"{r['lasso_select_ms']:>16.2f} {r['reassign_metrics_ms']:>20.2f} {r['lasso_total_ms']:>15.2f} {r['lasso_cpu_ms']:>9.2f} "
            f"{r['lasso_accounts']:>12,.0f} {r['plan_mib']:>9.0f}",
            flush=True,
        )
    print("targets: assign 1M x 200 <= 2000 ms; lasso total at 1M <= 30 ms; plan at 1M <= 2048 MiB")
    print("(cpu ms: process CPU time of the lasso, the figure to trust on a busy machine)")


if __name__ == "__main__":
    main()
