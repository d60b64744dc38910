"""Playbook benchmark: reps, goals and cadence figures on generated data.

Prints the time of each figure the Reps, Goals and Visit cadence pages draw,
and of applying a cadence (rebuilding the context and replaying the plan
history over it).

Run: ``.venv/bin/python benchmarks/bench_playbook.py [--accounts 100000] [--territories 40]``
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from terrmap.core.plan import History
from terrmap.demo import generate
from terrmap.geo.workspace import build_workspace, rebase_history, with_visits
from terrmap.playbook import cadence, goals, reps


def _timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<34} {1000 * (time.perf_counter() - start):8.0f} ms")
    return result


def main() -> None:
    """Print the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--territories", type=int, default=40)
    parser.add_argument("--moves", type=int, default=50)
    args = parser.parse_args()
    data = generate(args.accounts, args.territories, seed=3)
    ws = build_workspace(data.accounts, data.territories, data.reps)
    ctx = ws.context
    plan = ws.initial_plan
    history = History.start(plan)
    for i in range(args.moves):
        ids = ctx.account_ids[i * 100 : (i + 1) * 100]
        plan = plan.reassign(ids, ctx.territory_ids[i % ctx.n_territories])
        history = history.push(plan)
    print(f"{args.accounts:,} accounts, {ctx.n_territories} territories, {args.moves} moves")
    net_profit = pd.Series(ctx.revenue - ctx.cost, index=ctx.account_ids)
    tiers = _timed("tier_accounts", lambda: cadence.tier_accounts(net_profit))
    visits = _timed(
        "visits_per_year", lambda: cadence.visits_per_year(tiers, {"A": 12, "B": 4, "C": 2})
    )
    changed = _timed("with_visits", lambda: with_visits(ws, visits))
    rebased = _timed("rebase_history", lambda: rebase_history(history, changed.context))
    _timed("metrics after the cadence", lambda: rebased.current.metrics())
    _timed("rep_kpis", lambda: reps.rep_kpis(ws.reps, plan))
    _timed("capacity_check", lambda: reps.capacity_check(ws.reps, plan))
    _timed("junior_on_key_accounts", lambda: reps.junior_on_key_accounts(ws.reps, plan))
    _timed("relationship_moves", lambda: reps.relationship_moves(plan))
    scores = _timed("fit_scores", lambda: reps.fit_scores(ws.reps, plan))
    _timed("suggest_matching", lambda: reps.suggest_matching(scores["score"], plan))
    _timed("territory_kpis", lambda: goals.territory_kpis(ws.accounts, plan, ws.reps))
    _timed("revenue_by_product", lambda: goals.revenue_by_product(ws.accounts, plan))
    _timed(
        "territory_rotation (one quarter)",
        lambda: cadence.territory_rotation(plan, ctx.territory_ids[0], 1),
    )


if __name__ == "__main__":
    main()
