"""Spatial-core benchmark: assignment, territory shapes, map selection.

Targets (2-core machine): assign 1M accounts x 200 territories <= 2 s;
update_shapes of 2 territories at 100k accounts x 10 territories <= 150 ms;
a lasso selection covering ~1% of the accounts at 1M <= 15 ms (``lasso_ms``:
the plain function scanning all accounts; ``lasso_idx_ms``: a prebuilt
``PointIndex``).

Data: ``--data demo`` (default) uses ``terrmap.demo.generate`` (northeast for
10 territories, CONUS for more); ``--data synthetic`` uses clustered random
accounts in a US-east-sized box and Voronoi territories of K random seeds.

Run: ``/work/venv/bin/python benchmarks/bench_spatial.py [--sizes 10000 100000 1000000]
[--territories 10 200] [--data demo|synthetic]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from terrmap.geo.assign import assign_accounts
from terrmap.geo.selection import PointIndex, select_in_polygon, select_nearest
from terrmap.geo.shapes import build_cells, study_area, territory_shapes, update_shapes

BBOX = (-90.0, 25.0, -67.0, 47.0)


def synthetic(n: int, k: int, seed: int) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Clustered accounts and Voronoi territories of ``k`` random seeds."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BBOX
    centres = np.c_[rng.uniform(minx, maxx, 60), rng.uniform(miny, maxy, 60)]
    weight = rng.pareto(1.5, len(centres)) + 0.2
    which = rng.choice(len(centres), n, p=weight / weight.sum())
    spread = rng.uniform(0.1, 1.0, len(centres))[which]
    lon = np.clip(centres[which, 0] + rng.normal(0, 1, n) * spread, minx, maxx)
    lat = np.clip(centres[which, 1] + rng.normal(0, 1, n) * spread * 0.8, miny, maxy)
    ids = pd.Index([f"A{i:07d}" for i in range(n)], name="account_id")
    accounts = pd.DataFrame({"lon": lon, "lat": lat}, index=ids)
    seeds = shapely.multipoints(np.c_[rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)])
    box = shapely.box(*BBOX)
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box, ordered=True))
    territories = gpd.GeoDataFrame(
        geometry=shapely.intersection(cells, box),
        index=pd.Index([f"T{i:03d}" for i in range(k)], name="territory_id"),
        crs="EPSG:4326",
    )
    return accounts, territories


def lassos(lon: np.ndarray, lat: np.ndarray, rng: np.random.Generator, count: int, share: float):
    """Wobbly freehand-like polygons, each around ~``share`` of the accounts."""
    out = []
    for _ in range(count):
        centre = rng.integers(len(lon))
        d = np.hypot(lon - lon[centre], lat - lat[centre])
        radius = np.quantile(d, share)
        angle = np.linspace(0, 2 * np.pi, 80, endpoint=False)
        wobble = 1 + 0.15 * np.sin(5 * angle + rng.uniform(0, 6))
        out.append(
            shapely.Polygon(
                np.c_[
                    lon[centre] + radius * wobble * np.cos(angle),
                    lat[centre] + radius * wobble * np.sin(angle),
                ]
            )
        )
    return out


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def demo(n: int, k: int, seed: int) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    from terrmap.demo import generate

    data = generate(n, k, seed=seed, region="conus" if k > 20 else "northeast")
    return data.accounts, data.territories


def run(n: int, k: int, seed: int, data: str) -> dict[str, float]:
    accounts, territories = (demo if data == "demo" else synthetic)(n, k, seed)
    repeat = 5 if n <= 100_000 else 3
    lon, lat = accounts["lon"].to_numpy(), accounts["lat"].to_numpy()
    ids = accounts.index

    out: dict[str, float] = {"accounts": n, "territories": k}
    out["assign_ms"] = median_ms(lambda: assign_accounts(accounts, territories), repeat)
    assignment = assign_accounts(accounts, territories).assignment

    area = study_area(territories)
    out["build_cells_ms"] = median_ms(
        lambda: build_cells(lon, lat, ids, area), 1 if n > 100_000 else 3
    )
    cells = build_cells(lon, lat, ids, area)
    out["shapes_all_ms"] = median_ms(lambda: territory_shapes(cells, assignment), repeat)
    shapes = territory_shapes(cells, assignment)

    # Move a lasso's worth (~0.5%) of one territory's accounts to a neighbour.
    rng = np.random.default_rng(seed)
    moves = []
    for polygon in lassos(lon, lat, rng, repeat, 0.005):
        chosen = select_in_polygon(lon, lat, ids, polygon)
        owners = assignment.loc[chosen].dropna()
        if owners.empty:
            continue
        source = owners.mode().iloc[0]
        moved = owners.index[(owners == source).to_numpy()]
        target = shapes.index[(shapes.index != source)][rng.integers(len(shapes) - 1)]
        new = assignment.copy()
        new.loc[moved] = target
        moves.append((new, [source, target]))
    times = []
    for new, changed in moves:
        start = time.perf_counter()
        update_shapes(cells, shapes, new, changed)
        times.append((time.perf_counter() - start) * 1000)
    out["update_2_ms"] = statistics.median(times)

    polygons = lassos(lon, lat, rng, 15, 0.01)
    out["lasso_ms"] = statistics.median(
        median_ms(lambda p=p: select_in_polygon(lon, lat, ids, p), 3) for p in polygons
    )
    out["lasso_accounts"] = statistics.median(
        len(select_in_polygon(lon, lat, ids, p)) for p in polygons
    )
    out["point_index_ms"] = median_ms(lambda: PointIndex.build(lon, lat, ids), repeat)
    index = PointIndex.build(lon, lat, ids)
    out["lasso_idx_ms"] = statistics.median(
        median_ms(lambda p=p: index.select_in_polygon(p), 3) for p in polygons
    )
    clicks = rng.integers(n, size=15)
    out["click_idx_ms"] = statistics.median(
        median_ms(lambda c=c: index.select_nearest(lon[c], lat[c], 1.0), 3) for c in clicks
    )
    out["click_ms"] = statistics.median(
        median_ms(lambda c=c: select_nearest(lon, lat, ids, lon[c], lat[c], 1.0), 3) for c in clicks
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--territories", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", choices=["demo", "synthetic"], default="demo")
    args = parser.parse_args()
    columns = [
        ("accounts", "{:>9,.0f}"),
        ("territories", "{:>11.0f}"),
        ("assign_ms", "{:>9.1f}"),
        ("build_cells_ms", "{:>14.0f}"),
        ("shapes_all_ms", "{:>13.1f}"),
        ("update_2_ms", "{:>11.1f}"),
        ("lasso_ms", "{:>8.2f}"),
        ("lasso_accounts", "{:>14,.0f}"),
        ("click_ms", "{:>8.2f}"),
        ("point_index_ms", "{:>14.1f}"),
        ("lasso_idx_ms", "{:>12.2f}"),
        ("click_idx_ms", "{:>12.2f}"),
    ]
    print(" ".join(f"{name:>{len(fmt.format(0))}}" for name, fmt in columns))
    for n in args.sizes:
        for k in args.territories:
            result = run(n, k, args.seed, args.data)
            print(" ".join(fmt.format(result[name]) for name, fmt in columns), flush=True)
    print(
        "medians over repeats (time.perf_counter). targets: assign 1M x 200 <= 2000 ms; "
        "update_2 at 100k x 10 <= 150 ms; lasso at 1M <= 15 ms"
    )


if __name__ == "__main__":
    main()
