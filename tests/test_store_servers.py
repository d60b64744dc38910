"""Two app servers on one PostgreSQL: the same scenario saved by both at once, one wins, nothing lost.

Each server is a separate Python process with its own store (its own
connection pool), as two Streamlit servers behind a load balancer are. They
open the same version, wait for a common signal, then save.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from terrmap.demo import demo_workspace
from terrmap.store.scenarios import ScenarioStore

ROOT = Path(__file__).resolve().parents[1]

_SERVER = """
import json, sys
from terrmap.store.scenarios import ScenarioConflictError, ScenarioStore

url, scenario_id, who, first = sys.argv[1:5]
store = ScenarioStore(url)
opened = store.open(scenario_id)
ids = list(opened.plan.context.account_ids)
territories = [str(t) for t in opened.plan.context.territory_ids]
start = int(first)
plan = opened.plan.reassign(ids[start:start + 5], territories[start % len(territories)], author=who)
print("READY", flush=True)
sys.stdin.readline()  # the signal: both save now
try:
    info = store.save(plan, dataset_id=opened.info.dataset_id, scenario_id=scenario_id,
                      expected_version=opened.info.version, author=who, note=f"{who}'s moves")
    print(json.dumps({"won": True, "version": info.version}), flush=True)
except ScenarioConflictError as error:
    # What the Scenarios page offers: keep the work under a new name.
    kept = store.save(plan, dataset_id=opened.info.dataset_id, name=f"{who}'s version", author=who)
    print(json.dumps({"won": False, "saved_by": error.saved_by, "current": error.current_version,
                      "message": str(error), "kept": kept.scenario_id}), flush=True)
"""


def test_two_servers_save_the_same_scenario(pg_url):
    store = ScenarioStore(pg_url)
    workspace = demo_workspace()
    dataset = store.save_dataset(workspace)
    base = store.save(workspace.initial_plan, dataset_id=dataset, name="Q3", author="Lead")
    servers = {
        who: subprocess.Popen(
            [sys.executable, "-c", _SERVER, pg_url, base.scenario_id, who, str(first)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for who, first in (("Ann", 0), ("Bob", 100))
    }
    try:
        for server in servers.values():
            assert server.stdout.readline().strip() == "READY"
        for server in servers.values():
            server.stdin.write("go\n")
            server.stdin.flush()
        results = {who: json.loads(server.stdout.readline()) for who, server in servers.items()}
    finally:
        for server in servers.values():
            server.stdin.close()
            server.wait(timeout=60)
    winners = [who for who, result in results.items() if result["won"]]
    assert len(winners) == 1, results
    (winner,) = winners
    (loser,) = set(results) - {winner}
    told = results[loser]
    assert told["saved_by"] == winner and told["current"] == 2
    assert f"{winner} saved version 2 at " in told["message"]
    # Nothing lost: the winner's plan is version 2, the loser's is kept under its own name.
    assert store.info(base.scenario_id).updated_by == winner
    assert list(store.versions(base.scenario_id)["saved_by"]) == ["Lead", winner]
    kept = store.open(told["kept"], workspace)
    assert kept.info.name == f"{loser}'s version"
    assert {m.author for m in kept.plan.moves} == {loser}
    actions = store.audit_log(action="save")
    assert sorted(actions["actor"]) == sorted(["Lead", winner, loser])
    store.close()
