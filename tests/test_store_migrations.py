"""Schema versions: a database written by the first release opens, upgrades in place, reads the same."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

from terrmap.store.database import MIGRATIONS, SCHEMA_VERSION
from terrmap.store.scenarios import ScenarioStore

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "store_v1.json").read_text())


@pytest.fixture
def v1_copy(tmp_path):
    path = tmp_path / "store_v1.sqlite"
    shutil.copyfile(FIXTURES / "store_v1.sqlite", path)
    return path


def _tables(path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _load_maker():
    # The summary tests/fixtures/make_store_v1.py took with the first release.
    spec = importlib.util.spec_from_file_location("make_store_v1", FIXTURES / "make_store_v1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.plan_record


_record = _load_maker()


class TestFirstRelease:
    def test_the_fixture_is_a_first_release_database(self):
        assert "schema_version" not in _tables(FIXTURES / "store_v1.sqlite")
        assert {"datasets", "scenarios", "scenario_versions", "autosaves"} <= _tables(
            FIXTURES / "store_v1.sqlite"
        )

    def test_opens_and_upgrades_in_place(self, v1_copy):
        store = ScenarioStore(v1_copy)
        assert store.schema_upgrade == (1, SCHEMA_VERSION)
        with contextlib.closing(sqlite3.connect(v1_copy)) as raw:
            versions = [r[0] for r in raw.execute("SELECT version FROM schema_version")]
            columns = {r[1] for r in raw.execute("PRAGMA table_info(scenarios)")}
        assert versions == [m.version for m in MIGRATIONS]
        assert "status" in columns
        assert {"audit_log", "publications", "comments", "workflow_events"} <= _tables(v1_copy)
        # A second open finds nothing to do.
        assert ScenarioStore(v1_copy).schema_upgrade == (SCHEMA_VERSION, SCHEMA_VERSION)

    def test_every_scenario_version_reopens_with_the_same_plan(self, v1_copy):
        store = ScenarioStore(v1_copy)
        scenarios = {info.scenario_id: info for info in store.list()}
        assert set(scenarios) == set(EXPECTED["scenarios"])
        workspace = None
        for scenario_id, expected in EXPECTED["scenarios"].items():
            info = scenarios[scenario_id]
            assert (info.name, info.author, info.version) == (
                expected["name"],
                expected["author"],
                expected["version"],
            )
            assert info.status == "draft"
            assert list(store.versions(scenario_id)["version"]) == [
                int(v) for v in expected["versions"]
            ]
            for version, plan_record in expected["versions"].items():
                opened = store.open(scenario_id, workspace, version=int(version))
                workspace = opened.workspace
                base = workspace.initial_plan.assignment
                assert _record(opened.plan, base) == plan_record

    def test_the_autosave_restores(self, v1_copy):
        store = ScenarioStore(v1_copy)
        for key, expected in EXPECTED["autosaves"].items():
            info, workspace, plan = store.restore_autosave(key)
            assert (info.scenario_id, info.scenario_version) == (
                expected["scenario_id"],
                expected["scenario_version"],
            )
            assert info.author is None  # the first release did not record it
            record = _record(plan, workspace.initial_plan.assignment)
            assert record == {k: expected[k] for k in ("changed", "moves")}

    def test_the_upgraded_database_takes_new_saves_and_workflow(self, v1_copy):
        store = ScenarioStore(v1_copy)
        scenario_id = next(iter(EXPECTED["scenarios"]))
        opened = store.open(scenario_id)
        moved = opened.plan.reassign(opened.plan.context.account_ids[30:32], None, author="Eve")
        info = store.save(
            moved,
            dataset_id=opened.info.dataset_id,
            scenario_id=scenario_id,
            expected_version=opened.info.version,
            author="Eve",
        )
        assert info.version == opened.info.version + 1
        assert store.propose(scenario_id, "Eve", "ready") == "proposed"
        assert list(store.audit_log()["action"]) == ["save", "propose"]


class TestFreshDatabase:
    def test_a_new_database_gets_every_step(self, tmp_path):
        store = ScenarioStore(tmp_path / "new.sqlite")
        assert store.schema_upgrade == (0, SCHEMA_VERSION)
        assert store.list() == []

    def test_a_newer_database_is_refused(self, tmp_path):
        path = tmp_path / "future.sqlite"
        ScenarioStore(path)
        with contextlib.closing(sqlite3.connect(path)) as raw, raw:
            raw.execute(
                "INSERT INTO schema_version VALUES (?, 'from the future', '2030-01-01')",
                (SCHEMA_VERSION + 1,),
            )
        with pytest.raises(RuntimeError, match="newer than this terrmap"):
            ScenarioStore(path)

    def test_migrations_are_numbered_in_order(self):
        assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


class TestSeveralServersUpgradeOnce:
    """Servers started together on an old database: each opens it, the steps run once."""

    def _open_together(self, target, n=4):
        stores, errors = [], []
        barrier = threading.Barrier(n)

        def open_store():
            barrier.wait()
            try:
                stores.append(ScenarioStore(target))
            except Exception as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

        threads = [threading.Thread(target=open_store) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for store in stores:
            store.close()
        return stores

    def _applied(self, store) -> list[int]:
        with store.engine.connect() as connection:
            return [
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT version FROM schema_version ORDER BY version"
                )
            ]

    def test_sqlite_first_release(self, v1_copy):
        stores = self._open_together(v1_copy)
        assert self._applied(stores[0]) == [m.version for m in MIGRATIONS]
        assert len(stores[0].list()) == len(EXPECTED["scenarios"])

    def test_postgresql_empty(self, pg_url):
        stores = self._open_together(pg_url)
        assert sorted(s.schema_upgrade[0] for s in stores)[0] == 0
        assert self._applied(stores[0]) == [m.version for m in MIGRATIONS]


class TestWorkflowRelease:
    """A database written by the release before unit layers and sign-in sessions (schema 3)."""

    EXPECTED = json.loads((FIXTURES / "store_v3.json").read_text())

    @pytest.fixture
    def v3_copy(self, tmp_path):
        path = tmp_path / "store_v3.sqlite"
        shutil.copyfile(FIXTURES / "store_v3.sqlite", path)
        return path

    def test_the_fixture_is_a_schema_3_database(self):
        with contextlib.closing(sqlite3.connect(FIXTURES / "store_v3.sqlite")) as raw:
            versions = [r[0] for r in raw.execute("SELECT version FROM schema_version")]
        assert versions == [1, 2, 3]

    def test_opens_upgrades_and_reads_the_same(self, v3_copy):
        store = ScenarioStore(v3_copy)
        assert store.schema_upgrade == (3, SCHEMA_VERSION)
        expected = self.EXPECTED
        scenarios = {info.scenario_id: info for info in store.list()}
        assert set(scenarios) == set(expected["scenarios"])
        for scenario_id, want in expected["scenarios"].items():
            info = scenarios[scenario_id]
            assert (info.name, info.author, info.version) == (
                want["name"],
                want["author"],
                want["version"],
            )
            assert store.status(scenario_id) == want["status"]
            comments = store.comments(scenario_id)
            assert [
                [r.author, r.text, None if pd.isna(r.move_index) else int(r.move_index)]
                for r in comments.itertuples()
            ] == want["comments"]
            for version, record in want["versions"].items():
                opened = store.open(scenario_id, version=int(version))
                assert _record(opened.plan, opened.workspace.initial_plan.assignment) == record
        publications = store.publications()
        assert [
            [r.scenario_id, int(r.version), str(r.effective_date), r.published_by]
            for r in publications.itertuples()
        ] == expected["publications"]
        assert store.published("2027-01-02").scenario_id == expected["publications"][0][0]
        log = store.audit_log()
        assert [[r.actor, r.action, r.target] for r in log.itertuples()][
            : len(expected["audit"])
        ] == (expected["audit"])
        for key, want in expected["autosaves"].items():
            info, workspace, plan = store.restore_autosave(key)
            assert (info.scenario_id, info.scenario_version) == (
                want["scenario_id"],
                want["scenario_version"],
            )
            record = _record(plan, workspace.initial_plan.assignment)
            assert record == {k: want[k] for k in ("changed", "moves")}

    def test_the_upgraded_database_takes_units_and_sign_in(self, v3_copy):
        store = ScenarioStore(v3_copy)
        with contextlib.closing(sqlite3.connect(v3_copy)) as raw:
            dataset_columns = {r[1] for r in raw.execute("PRAGMA table_info(datasets)")}
        assert {"units", "unit_layer", "definition"} <= dataset_columns
        assert "sign_in_sessions" in _tables(v3_copy)
        assert ScenarioStore(v3_copy).schema_upgrade == (SCHEMA_VERSION, SCHEMA_VERSION)
        store.close()


def test_a_database_from_another_build_is_refused_by_name_and_left_alone(tmp_path):
    from terrmap.store.database import StoreUnavailableError

    path = tmp_path / "other.sqlite"
    ScenarioStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        # a development build that numbered its steps differently
        raw.execute("UPDATE schema_version SET summary = 'sign-in sessions' WHERE version = 4")
    before = path.read_bytes()
    with pytest.raises(StoreUnavailableError, match="another build of terrmap: its schema step 4"):
        ScenarioStore(path)
    assert path.read_bytes() == before
