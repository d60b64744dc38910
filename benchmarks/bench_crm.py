"""CRM write-back benchmark: Salesforce and HubSpot files, full and delta, and the round trip.

Instance: ``terrmap.demo.generate`` with N accounts and K territories; the new
plan moves 5 % of the accounts to another territory, the previous publication
is the starting plan. Prints, per size: seconds to write the Salesforce files
and the HubSpot files, their sizes, the delta rows, and seconds to read the
Salesforce files back into an assignment (checked equal to the plan).

Run: ``python benchmarks/bench_crm.py [--sizes 10000:50 100000:200] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from terrmap.core.plan import Plan
from terrmap.demo import generate
from terrmap.geo.workspace import build_workspace
from terrmap.io.crm import hubspot_files, owners_of, read_salesforce, salesforce_files


def _best(repeat: int, run, *args, **kwargs) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10000:50", "100000:200"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    print("accounts territories  salesforce_s hubspot_s  sf_MB hs_MB  delta_rows  read_back_s")
    for size in args.sizes:
        n, k = (int(x) for x in size.split(":"))
        data = generate(n, k, seed=7)
        ws = build_workspace(data.accounts, data.territories, data.reps, name="bench")
        before = ws.initial_plan
        ids = ws.context.account_ids
        moved = rng.choice(len(ids), size=n // 20, replace=False)
        targets = ws.context.territory_ids
        after = before
        for chunk in np.array_split(moved, 10):
            after = after.reassign(ids[chunk], targets[int(rng.integers(len(targets)))])
        previous = owners_of(before, ws)
        sf_s, sf = _best(args.repeat, salesforce_files, after, ws, previous=previous)
        hs_s, hs = _best(args.repeat, hubspot_files, after, ws, previous=previous)
        read_s, assignment = _best(
            args.repeat,
            read_salesforce,
            sf["Territory2.csv"].data,
            sf["ObjectTerritory2Association.csv"].data,
            before,
        )
        assert np.array_equal(Plan.from_assignment(ws.context, assignment).codes, after.codes)
        sf_mb = sum(len(f.data) for f in sf.values()) / 1e6
        hs_mb = sum(len(f.data) for f in hs.values()) / 1e6
        delta = sf["ObjectTerritory2Association_delta.csv"].rows
        print(
            f"{n:8d} {k:11d}  {sf_s:12.2f} {hs_s:9.2f}  {sf_mb:5.1f} {hs_mb:5.1f}"
            f"  {delta:10d}  {read_s:11.2f}"
        )


if __name__ == "__main__":
    main()
