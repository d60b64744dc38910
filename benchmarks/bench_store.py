"""Scenario store under load: 20 concurrent sessions on two "servers" and one PostgreSQL.

Two processes (two app servers, each with its own connection pool) run 10
session threads each. Every session repeatedly opens one of a few shared
scenarios, moves a few accounts and saves with the version it opened (the
conflict check); on a conflict it reopens and tries again, as a user told
"Bob saved version 7" would. After a share of its saves (``--publish-share``)
a session takes the scenario through the workflow: it proposes it, a
reviewer of its own approves it and publishes it (the plan in force), while
the other sessions keep saving the same scenarios; a step refused because
someone saved meanwhile (the scenario went back to draft) is counted as a
refusal, told why, like a conflict.

Reported: saves and publications per second, p50/p95 latency of a save and
of a publication, conflicts, refusals, errors, and lost updates: every save a
session was told succeeded must be in the database as that version, by that
session, with its moves; every publication it was told succeeded must be in
the database as that scenario and version, by that publisher, and that version
must have been approved before (checked after the run); the database must
hold no save and no publication that nobody was told about.

PostgreSQL is a throw-away server from ``tests/pgserver.py`` with durable
writes (fsync on). Demo data (3,000 accounts).

Run: ``python benchmarks/bench_store.py [--seconds 20] [--sessions 20] [--scenarios 4]
[--publish-share 0.2]``
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pgserver import PostgresServer  # noqa: E402

from terrmap.demo import demo_workspace  # noqa: E402
from terrmap.store.errors import WorkflowError  # noqa: E402
from terrmap.store.scenarios import ScenarioConflictError, ScenarioStore  # noqa: E402

logger = logging.getLogger("bench_store")


def _publish(store, scenario_id, name, out) -> None:
    """Propose, approve (another person) and publish the scenario; time the publication."""
    reviewer = f"lead-{name}"
    try:
        store.propose(scenario_id, name, f"{name}: please approve")
        store.review(scenario_id, reviewer, "approve")
        start = time.perf_counter()
        publication = store.publish(scenario_id, reviewer, datetime.now(UTC).date())
        out["publish_latency"].append(time.perf_counter() - start)
        out["publications"].append(
            (publication.publication_id, scenario_id, publication.version, reviewer)
        )
    except WorkflowError:
        out["refusals"] += 1  # someone saved (back to draft) or proposed meanwhile


def _session(store, workspace, scenario_ids, name, seconds, rng, out, publish_share) -> None:
    deadline = time.perf_counter() + seconds
    ids = np.asarray(workspace.context.account_ids)
    territories = [str(t) for t in workspace.context.territory_ids]
    while time.perf_counter() < deadline:
        scenario_id = scenario_ids[int(rng.integers(len(scenario_ids)))]
        try:
            opened = store.open(scenario_id, workspace)
            target = territories[int(rng.integers(len(territories)))]
            elsewhere = ids[opened.plan.assignment.reindex(ids).ne(target).fillna(True).to_numpy()]
            moved = rng.choice(elsewhere, size=3, replace=False).tolist()  # a real move
            plan = opened.plan.reassign(moved, target, author=name)
            note = f"{name}#{len(out['saves'])}"
            start = time.perf_counter()
            info = store.save(
                plan,
                dataset_id=opened.info.dataset_id,
                scenario_id=scenario_id,
                expected_version=opened.info.version,
                author=name,
                note=note,
            )
            out["latency"].append(time.perf_counter() - start)
            out["saves"].append((scenario_id, info.version, note, sorted(moved), target))
            if rng.random() < publish_share:
                _publish(store, scenario_id, name, out)
        except ScenarioConflictError:
            out["conflicts"] += 1
        except Exception as error:  # noqa: BLE001 - counted and reported
            out["errors"].append(repr(error))


def _server(url, scenario_ids, first, sessions, seconds, publish_share, queue) -> None:
    store = ScenarioStore(url)
    workspace = store.open(scenario_ids[0]).workspace
    results = [
        {
            "saves": [],
            "latency": [],
            "conflicts": 0,
            "errors": [],
            "publications": [],
            "publish_latency": [],
            "refusals": 0,
        }
        for _ in range(sessions)
    ]
    threads = [
        threading.Thread(
            target=_session,
            args=(
                store,
                workspace,
                scenario_ids,
                f"user{first + i}",
                seconds,
                np.random.default_rng(first + i),
                results[i],
                publish_share,
            ),
        )
        for i in range(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    queue.put(json.dumps(results))


def _lost_updates(store, saves) -> int:
    lost = 0
    for scenario_id, version, note, moved, target in saves:
        try:
            scenario = store.load(scenario_id, version)
        except KeyError:
            lost += 1
            continue
        last = scenario.moves[-1]
        if (
            scenario.info.note != note
            or last.author != note.split("#")[0]
            or sorted(last.account_ids) != moved
            or not scenario.assignment.loc[moved].eq(target).all()
        ):
            logger.warning("lost: %s version %d (%s)", scenario_id, version, note)
            lost += 1
    return lost


def _lost_publications(store, publications, scenario_ids) -> tuple[int, int, int]:
    """Told publications missing or different; publications nobody was told of; unapproved ones."""
    stored = store.publications()
    stored = {
        int(row.publication_id): (row.scenario_id, int(row.version), row.published_by)
        for row in stored.itertuples()
    }
    told = {int(p[0]): (p[1], int(p[2]), p[3]) for p in publications}
    lost = sum(1 for pid, what in told.items() if stored.get(pid) != what)
    unaccounted = len(set(stored) - set(told))
    approved = set()
    for scenario_id in scenario_ids:
        events = store.reviews(scenario_id)
        approvals = events[events["kind"] == "approve"]
        approved |= {(scenario_id, int(v)) for v in approvals["version"]}
    unapproved = sum(1 for sid, version, _ in stored.values() if (sid, version) not in approved)
    return lost, unaccounted, unapproved


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--scenarios", type=int, default=4)
    parser.add_argument(
        "--publish-share",
        type=float,
        default=0.2,
        help="share of saves after which the session proposes, approves and publishes",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    server = PostgresServer(fsync=True).start()
    try:
        url = server.url()
        store = ScenarioStore(url)
        workspace = demo_workspace()
        dataset = store.save_dataset(workspace)
        scenario_ids = [
            store.save(workspace.initial_plan, dataset_id=dataset, name=f"S{i}").scenario_id
            for i in range(args.scenarios)
        ]
        half = args.sessions // 2
        queue = mp.get_context("spawn").Queue()
        processes = [
            mp.get_context("spawn").Process(
                target=_server,
                args=(url, scenario_ids, first, count, args.seconds, args.publish_share, queue),
            )
            for first, count in ((0, half), (half, args.sessions - half))
        ]
        started = time.perf_counter()
        for process in processes:
            process.start()
        results = [r for _ in processes for r in json.loads(queue.get())]
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - started
        saves = [tuple(s) for r in results for s in r["saves"]]
        latency = np.array([x for r in results for x in r["latency"]])
        errors = [e for r in results for e in r["errors"]]
        conflicts = sum(r["conflicts"] for r in results)
        publications = [tuple(p) for r in results for p in r["publications"]]
        publish_latency = np.array([x for r in results for x in r["publish_latency"]])
        refusals = sum(r["refusals"] for r in results)
        lost = _lost_updates(store, saves)
        lost_pub, unaccounted_pub, unapproved = _lost_publications(
            store, publications, scenario_ids
        )
        versions = {sid: store.info(sid).version for sid in scenario_ids}
        # Every version after the first is a save some session was told succeeded.
        unaccounted = sum(versions.values()) - len(scenario_ids) - len(saves)
        store.close()
    finally:
        server.stop()
    logger.info(
        "sessions %d on 2 servers, %d shared scenarios, %.0f s (wall %.1f s incl. start-up)",
        args.sessions,
        args.scenarios,
        args.seconds,
        elapsed,
    )
    logger.info("saves: %d (%.1f per second)", len(saves), len(saves) / args.seconds)
    logger.info(
        "save latency: p50 %.1f ms, p95 %.1f ms, max %.1f ms",
        *(np.percentile(latency, [50, 95, 100]) * 1000 if len(latency) else [np.nan] * 3),
    )
    logger.info(
        "publications: %d (%.1f per second)", len(publications), len(publications) / args.seconds
    )
    logger.info(
        "publish latency: p50 %.1f ms, p95 %.1f ms, max %.1f ms",
        *(
            np.percentile(publish_latency, [50, 95, 100]) * 1000
            if len(publish_latency)
            else [np.nan] * 3
        ),
    )
    logger.info("conflicts (told who and when, retried): %d", conflicts)
    logger.info("workflow steps refused (saved meanwhile, told why): %d", refusals)
    logger.info("lost updates: %d; versions not accounted for: %d", lost, unaccounted)
    logger.info(
        "lost publications: %d; publications not accounted for: %d; of unapproved versions: %d",
        lost_pub,
        unaccounted_pub,
        unapproved,
    )
    logger.info("errors: %d %s", len(errors), errors[:3])


if __name__ == "__main__":
    main()
