"""Undo history memory: what a long editing session holds, bounded against unbounded.

A manager's session makes many small moves; each plan in the undo history
holds its own assignment array and cached figures. The history keeps at most
``terrmap.core.plan.undo_steps_for(plan)`` steps and folds older ones into a
single step (issue 12: "undo history bounded or kept as moves").

Prints, per data size, the Python memory the history holds after N moves
(tracemalloc, after a full garbage collection) with the default bound and with
no bound, and the median time of a push.

Run: ``.venv/bin/python benchmarks/bench_undo.py [--sizes 20000 200000] [--moves 500]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

import numpy as np

from terrmap.core.plan import History, Plan
from terrmap.demo import generate
from terrmap.geo.workspace import build_workspace


def _session(plan: Plan, moves: int, limit: int | None, seed: int) -> tuple[History, list[float]]:
    rng = np.random.default_rng(seed)
    history = History.start(plan, limit=limit)
    ids = plan.context.account_ids.to_numpy()
    territories = list(plan.context.territory_ids)
    pushes = []
    for _ in range(moves):
        chosen = rng.choice(ids, size=int(rng.integers(1, 40)), replace=False)
        target = territories[int(rng.integers(0, len(territories)))]
        moved = history.current.reassign(chosen, target)
        moved.metrics()  # the page reads the figures after every move
        start = time.perf_counter()
        history = history.push(moved)
        pushes.append((time.perf_counter() - start) * 1000)
    return history, pushes


def _held_mb(plan: Plan, moves: int, limit: int | None) -> tuple[float, float, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    history, pushes = _session(plan, moves, limit, seed=1)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    steps = len(history.plans) - 1
    del history
    return held / 2**20, statistics.median(pushes), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--moves", type=int, default=500)
    parser.add_argument("--territories", type=int, default=50)
    args = parser.parse_args()
    print(
        f"{'accounts':>9} {'moves':>6} {'history':>10} {'steps':>6} {'held MB':>9} {'push ms':>8}"
    )
    for size in args.sizes:
        data = generate(size, args.territories, seed=3)
        plan = build_workspace(data.accounts, data.territories, data.reps).initial_plan
        plan.metrics()
        for label, limit in (("bounded", None), ("unbounded", 10**9)):
            held, push_ms, steps = _held_mb(plan, args.moves, limit)
            print(f"{size:>9,} {args.moves:>6} {label:>10} {steps:>6} {held:>9.1f} {push_ms:>8.3f}")


if __name__ == "__main__":
    main()
