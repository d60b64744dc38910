"""Auto-balance benchmark: terrmap against peer tools on the same instances.

Instances (``terrmap.demo.generate``, clustered around real ZIP centroids):
10k accounts x 50 territories (New England & New York) and 100k x 200 (the
contiguous US). The generator's own plan (Voronoi cells of home towns picked
far apart) is 10-20x off balance, which no manager would live with; the
starting plan here is the realistic one: reps were hired where the accounts
are (home = the account nearest the centre of each of ``k`` equal-count runs
of accounts along a Morton curve) and each account belongs to the nearest
rep. Revenue drifts away from balance from there (max/mean 2-3x).

Rows: terrmap (``propose``, balancing revenue to ±5 %), ``k-means-constrained``
(balances account counts only), PySAL ``spopt`` ``WardSpatial`` on a
k-nearest-neighbour graph, plain k-means (scikit-learn). Peers run in a
subprocess with a time limit ("did not finish" when it runs out); their
clusters are matched to territories by largest overlap (Hungarian) so that
"moved" and "distance to home base" mean the same for every row. Columns:
max/mean and min/mean of revenue per territory, % accounts and % revenue
moved, mean distance from account to its territory's home base, runtime.

Targets for terrmap (issue 5): within ±5 % in <= 0.5 s at 10k x 50 and
<= 5 s at 100k x 200, moving <= 25 % of accounts.

Territory design rows (``design``, issue 10): revenue ±5 % with every
territory in one piece on the Delaunay account adjacency, the driving limit
(``--max-km``) and team travel within +10 %; columns: band reached, team
travel before/after (exact, tour-based), largest account-to-home distance,
territories in more than one piece, accounts and revenue moved, runtime.
Instances: the sizes above, and the embedded demo (18x off balance).
``--milp`` adds small instances (<= 500 accounts x <= 10 territories) solved
by HiGHS (``terrmap.playbook.optimise.exact``): without contiguity, a lower
bound, and, up to 150 accounts, with contiguity (flow constraints), the true
optimum; the heuristic's cost gap to each.

Run: ``python benchmarks/bench_balance.py [--sizes 10000:50 100000:200] [--timeout 120]``
``[--design-only] [--milp]`` (peers need ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from terrmap.core.context import Context
from terrmap.core.plan import Plan
from terrmap.core.travel import haversine_km
from terrmap.demo import generate
from terrmap.playbook.optimise import design, propose
from terrmap.playbook.optimise.exact import design_cost, exact_design

PEERS = ("k-means-constrained", "spopt WardSpatial", "k-means")
REGIONS = {50: "northeast", 200: "conus"}


def _morton(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    qx = ((x - x.min()) / (np.ptp(x) or 1.0) * (2**bits - 1)).astype(np.uint64)
    qy = ((y - y.min()) / (np.ptp(y) or 1.0) * (2**bits - 1)).astype(np.uint64)
    code = np.zeros(len(x), dtype=np.uint64)
    for b in range(bits):
        code |= ((qx >> np.uint64(b)) & np.uint64(1)) << np.uint64(2 * b)
        code |= ((qy >> np.uint64(b)) & np.uint64(1)) << np.uint64(2 * b + 1)
    return code


def instance(n: int, k: int, seed: int = 1):
    """Context and realistic starting plan (see the module docstring)."""
    data = generate(n, k, seed=seed, region=REGIONS.get(k, "conus"))
    accounts = data.accounts
    xy = accounts[["lon", "lat"]].to_numpy()
    order = np.argsort(_morton(xy[:, 0], xy[:, 1]), kind="stable")
    run = np.minimum(np.arange(n) * k // n, k - 1)
    centres = np.array([xy[order[run == j]].mean(axis=0) for j in range(k)])
    _, home = cKDTree(xy).query(centres)
    reps = data.reps.copy()
    reps["home_lon"], reps["home_lat"] = xy[home, 0], xy[home, 1]
    context = Context.build(accounts, data.territories, reps)
    _, nearest = cKDTree(xy[home]).query(xy)
    start = Plan.from_assignment(
        context, pd.Series(data.territories.index[nearest], index=accounts.index)
    )
    return context, start


def _figures(context: Context, start: Plan, codes: np.ndarray, runtime: float) -> dict:
    k = context.n_territories
    revenue = np.bincount(codes, weights=context.revenue, minlength=k)
    counts = np.bincount(codes, minlength=k)
    moved = codes != start.codes
    distance = haversine_km(
        context.lon, context.lat, context.home_lon[codes], context.home_lat[codes]
    )
    return {
        "max/mean": revenue.max() / revenue.mean(),
        "min/mean": revenue.min() / revenue.mean(),
        "count max/mean": counts.max() / counts.mean(),
        "% accounts moved": 100 * moved.mean(),
        "% revenue moved": 100 * context.revenue[moved].sum() / context.revenue.sum(),
        "mean km to home": float(distance.mean()),
        "runtime s": runtime,
    }


def _match(labels: np.ndarray, start_codes: np.ndarray, k: int) -> np.ndarray:
    """Relabel clusters to territories by largest overlap (Hungarian)."""
    overlap = np.zeros((k, k))
    np.add.at(overlap, (labels, start_codes), 1)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.empty(k, dtype=np.int64)
    mapping[rows] = cols
    return mapping[labels]


def run_peer(name: str, xy: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels of one peer tool (run inside the subprocess)."""
    n = len(xy)
    if name == "k-means":
        from sklearn.cluster import KMeans

        return KMeans(k, n_init=1, random_state=seed).fit(xy[:, :2]).labels_
    if name == "k-means-constrained":
        from k_means_constrained import KMeansConstrained

        size = n / k
        model = KMeansConstrained(
            n_clusters=k,
            size_min=int(np.floor(size * 0.95)),
            size_max=int(np.ceil(size * 1.05)),
            n_init=1,
            random_state=seed,
        )
        return model.fit_predict(xy[:, :2])
    if name == "spopt WardSpatial":
        import geopandas as gpd
        from libpysal.weights import KNN
        from spopt.region import WardSpatial

        # Ward on the coordinates, constrained to the kNN graph: compact regions.
        frame = gpd.GeoDataFrame(
            {"x": xy[:, 0], "y": xy[:, 1]}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1])
        )
        weights = KNN.from_dataframe(frame, k=8, use_index=False)
        model = WardSpatial(frame, weights, ["x", "y"], n_clusters=k)
        model.solve()
        return np.asarray(model.labels_)
    raise ValueError(f"unknown peer {name!r}")


def _peer(name: str, context: Context, start: Plan, k: int, timeout: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        # x scaled by cos(lat) so Euclidean clustering sees kilometres, not degrees.
        scale = np.cos(np.radians(np.nanmean(context.lat)))
        xy = np.column_stack([context.lon * scale, context.lat, context.revenue])
        np.save(path / "xy.npy", xy)
        command = [sys.executable, __file__, "--peer", name, "--k", str(k), "--dir", tmp]
        began = time.perf_counter()
        try:
            subprocess.run(command, check=True, timeout=timeout, capture_output=True)
        except subprocess.TimeoutExpired:
            return {"note": f"did not finish in {timeout:.0f} s"}
        except subprocess.CalledProcessError as error:
            tail = error.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return {"note": f"failed: {' '.join(tail)[:80]}"}
        result = json.loads((path / "out.json").read_text())
        wall = time.perf_counter() - began
    labels = np.asarray(result["labels"], dtype=np.int64)
    codes = _match(labels, start.codes.astype(np.int64), k)
    figures = _figures(context, start, codes, result["seconds"])
    figures["note"] = f"wall {wall:.1f} s incl. start-up"
    return figures


def design_row(label: str, start: Plan, max_km: float | None, tolerance: float = 5.0) -> dict:
    """One benchmark row of the territory design on a plan (exact figures)."""
    result = design(start, {"revenue": tolerance}, max_km=max_km)
    summary = result.summary()
    band = summary["bands"]["revenue"]
    return {
        "instance": label,
        "tool": "terrmap design",
        "bands met": summary["feasible"],
        "revenue ±% before": band["reached_before_pct"],
        "revenue ±% after": band["reached_pct"],
        "travel km before": summary["travel_km_before"],
        "travel km after": summary["travel_km_after"],
        "travel change %": 100 * (summary["travel_km_after"] / summary["travel_km_before"] - 1),
        "max km to home": summary["max_km_to_home"],
        "in pieces before": sum(v > 1 for v in summary["pieces_before"].values()),
        "in pieces after": sum(v > 1 for v in summary["pieces"].values()),
        "% accounts moved": 100 * summary["share_accounts_moved"],
        "revenue moved": summary["moved_revenue"],
        "runtime s": result.runtime_s,
    }


def milp_rows(
    cases=((80, 3, 20.0), (120, 4, 20.0), (300, 5, 10.0), (500, 10, 10.0), (500, 10, 20.0)),
    contiguous_up_to: int = 150,
) -> list[dict]:
    """Heuristic against the MILP: without contiguity (a lower bound), and with it (the optimum).

    The MILP with contiguity (flow constraints, ``exact_design(contiguity=True)``)
    solves only small instances within the time limit; it is run up to
    ``contiguous_up_to`` accounts. It asks every territory to be one piece,
    even one the start plan has in two, so it can cost more than the heuristic.
    """
    rows = []
    for n, k, tolerance in cases:
        _, start = instance(n, k, seed=2)
        began = time.perf_counter()
        result = design(start, {"revenue": tolerance})
        heuristic_s = time.perf_counter() - began
        cost = design_cost(start, result.plan.codes)
        bound = exact_design(start, {"revenue": tolerance}, time_limit_s=60)
        row = {
            "instance": f"{n} x {k} ±{tolerance:g}%",
            "heuristic bands met": result.feasible,
            "heuristic ±%": result.summary()["bands"]["revenue"]["reached_pct"],
            "heuristic cost": cost,
            "heuristic s": heuristic_s,
            "bound status": bound.status,
            "bound cost": bound.cost,
            "gap to bound %": _gap(cost, bound.cost),
            "bound s": bound.runtime_s,
        }
        if n <= contiguous_up_to:
            exact = exact_design(start, {"revenue": tolerance}, time_limit_s=60, contiguity=True)
            row.update(
                {
                    "optimum status": exact.status,
                    "optimum cost": exact.cost,
                    "gap to optimum %": _gap(cost, exact.cost),
                    "optimum s": exact.runtime_s,
                }
            )
        rows.append(row)
    return rows


def _gap(cost: float, reference: float) -> float:
    return 100 * (cost - reference) / reference if np.isfinite(reference) and reference else np.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10000:50", "100000:200"])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--design-only", action="store_true", help="skip propose and peers")
    parser.add_argument("--milp", action="store_true", help="add the MILP gap table")
    parser.add_argument("--max-km", type=float, default=None)
    parser.add_argument("--peer")
    parser.add_argument("--k", type=int)
    parser.add_argument("--dir")
    args = parser.parse_args(argv)
    if args.peer:  # inside the subprocess
        xy = np.load(Path(args.dir) / "xy.npy")
        began = time.perf_counter()
        labels = run_peer(args.peer, xy, args.k, args.seed)
        seconds = time.perf_counter() - began
        out = {"labels": np.asarray(labels).tolist(), "seconds": seconds}
        (Path(args.dir) / "out.json").write_text(json.dumps(out))
        return

    rows = []
    design_rows = []
    from terrmap.demo import demo_workspace

    design_rows.append(design_row("demo (18x off)", demo_workspace().initial_plan, 250.0))
    for size in args.sizes:
        n, k = (int(part) for part in size.split(":"))
        context, start = instance(n, k)
        label = f"{n // 1000}k x {k}"
        design_rows.append(design_row(label, start, args.max_km))
        if args.design_only:
            continue
        rows.append(
            {"instance": label, "tool": "start plan", **_figures(context, start, start.codes, 0.0)}
        )
        result = propose(start, "revenue", 5.0, seed=args.seed)
        terrmap_row = _figures(context, start, result.plan.codes, result.runtime_s)
        terrmap_row["note"] = (
            "within ±5%" if result.within_tolerance else f"{len(result.after.outside)} outside ±5%"
        )
        rows.append({"instance": label, "tool": "terrmap", **terrmap_row})
        for peer in PEERS:
            rows.append(
                {
                    "instance": label,
                    "tool": peer,
                    **_peer(peer, context, start, k, args.timeout, args.seed),
                }
            )
        print(f"done {label}", file=sys.stderr, flush=True)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        if rows:
            table = pd.DataFrame(rows).set_index(["instance", "tool"])
            print(table.to_string(float_format=lambda v: f"{v:,.2f}", na_rep="–"))
        print(
            pd.DataFrame(design_rows)
            .set_index(["instance", "tool"])
            .to_string(float_format=lambda v: f"{v:,.2f}", na_rep="–")
        )
        if args.milp:
            print(
                pd.DataFrame(milp_rows())
                .set_index("instance")
                .to_string(float_format=lambda v: f"{v:,.2f}", na_rep="–")
            )


if __name__ == "__main__":
    main()
