"""The scenario store: save, open, versions, conflicts, branches, autosave, crash safety."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.core.plan import Plan
from terrmap.geo.workspace import build_workspace
from terrmap.store.scenarios import (
    DB_ENV,
    ScenarioConflictError,
    ScenarioError,
    ScenarioNotFoundError,
    ScenarioStore,
    default_db_path,
    history_of,
)

ROOT = Path(__file__).resolve().parents[1]
TERRITORIES = ["SW", "SE", "NW", "NE", None]


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    return build_workspace(grid_accounts, grid_territories, grid_reps, name="Grid")


@pytest.fixture
def dataset(store, workspace):
    return store.save_dataset(workspace)


def _moved(workspace, *moves) -> Plan:
    """Apply (account letters, target) moves to the workspace's first plan."""
    plan = workspace.initial_plan
    for letters, target in moves:
        plan = plan.reassign([f"ACC-{c}" for c in letters], target, author="Ann", note="test")
    return plan


def _same_plan(opened: Plan, saved: Plan) -> None:
    pd.testing.assert_series_equal(opened.assignment, saved.assignment)
    pd.testing.assert_frame_equal(opened.changelog(), saved.changelog())
    assert len(opened.lineage) == len(saved.lineage)


class TestConfiguration:
    def test_env_var_names_the_file(self, monkeypatch, tmp_path):
        monkeypatch.setenv(DB_ENV, str(tmp_path / "x.sqlite"))
        assert default_db_path() == tmp_path / "x.sqlite"
        assert ScenarioStore().path == tmp_path / "x.sqlite"

    def test_default_is_in_the_home_folder(self, monkeypatch):
        monkeypatch.delenv(DB_ENV, raising=False)
        assert default_db_path() == Path.home() / ".terrmap" / "terrmap.sqlite"

    def test_creates_the_folder(self, tmp_path):
        store = ScenarioStore(tmp_path / "a" / "b" / "s.sqlite")
        assert store.path.exists()


class TestFoldedHistory:
    def test_a_bounded_history_saves_and_reopens_every_move(self, store, workspace, dataset):
        from terrmap.core.plan import History
        from terrmap.store.scenarios import history_of

        history = History.start(workspace.initial_plan, limit=2)
        letters = "abcdefg"
        for i in range(12):
            target = TERRITORIES[i % 4]
            moved = history.current.reassign([f"ACC-{letters[i % 7]}"], target, note=f"m{i}")
            history = history.push(moved)
        plan = history.current
        assert history.plans[0].merged is not None
        info = store.save(plan, dataset_id=dataset, name="long session")
        opened = store.open(info.scenario_id, workspace).plan
        pd.testing.assert_series_equal(opened.assignment, plan.assignment)
        pd.testing.assert_frame_equal(opened.changelog(), plan.changelog())
        reopened = history_of(opened)
        assert len(reopened.plans) <= reopened.steps + 1
        assert reopened.current.moves == opened.moves


class TestDataset:
    def test_same_data_same_id(self, store, workspace):
        assert store.save_dataset(workspace) == store.save_dataset(workspace)

    def test_other_data_other_id(self, store, workspace, grid_accounts, grid_territories):
        other = build_workspace(grid_accounts.assign(revenue=1.0), grid_territories)
        assert store.save_dataset(other) != store.save_dataset(workspace)

    def test_round_trip(self, store, workspace, dataset):
        loaded = store.load_workspace(dataset)
        pd.testing.assert_frame_equal(loaded.accounts, workspace.accounts)
        pd.testing.assert_frame_equal(loaded.territories, workspace.territories)
        pd.testing.assert_frame_equal(loaded.reps, workspace.reps)
        pd.testing.assert_series_equal(
            loaded.initial_plan.assignment, workspace.initial_plan.assignment
        )
        pd.testing.assert_frame_equal(
            loaded.initial_plan.metrics(), workspace.initial_plan.metrics()
        )
        assert loaded.name == workspace.name

    def test_a_baseline_other_than_point_in_polygon_is_kept(self, store, workspace):
        owners = workspace.initial_plan.assignment.copy()
        owners["ACC-a"] = "NE"
        owners["ACC-h"] = pd.NA
        custom = dataclasses.replace(
            workspace, initial_plan=Plan.from_assignment(workspace.context, owners)
        )
        loaded = store.load_workspace(store.save_dataset(custom))
        pd.testing.assert_series_equal(loaded.initial_plan.assignment, owners)
        assert list(loaded.assignment.unassigned) == ["ACC-h"]

    def test_unknown_dataset(self, store):
        with pytest.raises(ScenarioNotFoundError, match="nope"):
            store.load_workspace("nope")


class TestSaveAndOpen:
    def test_open_gives_the_saved_plan_with_its_lineage(self, store, workspace, dataset):
        plan = _moved(workspace, ("ab", "NE"), ("b", None), ("h", "SW"))
        info = store.save(plan, dataset_id=dataset, name="Q3", author="Ann", note="first go")
        assert (info.name, info.author, info.note, info.version) == ("Q3", "Ann", "first go", 1)
        assert (info.n_moves, info.n_changed) == (3, 3)
        opened = store.open(info.scenario_id, workspace)
        _same_plan(opened.plan, plan)
        pd.testing.assert_frame_equal(opened.plan.metrics(), plan.metrics())
        # Undo walks back through the replayed moves.
        history = history_of(opened.plan)
        assert history.can_undo and not history.can_redo
        assert history.undo().current.assignment.equals(plan.parent.assignment)
        assert history.plans[0] is workspace.initial_plan

    def test_open_without_a_workspace_loads_the_data_set(self, store, workspace, dataset):
        plan = _moved(workspace, ("c", "NW"))
        info = store.save(plan, dataset_id=dataset, name="x")
        opened = store.open(info.scenario_id)
        _same_plan(opened.plan, plan)
        assert opened.workspace is not workspace

    def test_change_log_keeps_who_when_why(self, store, workspace, dataset):
        plan = workspace.initial_plan.reassign(["ACC-a"], "SE", author="Bo", note="closer")
        info = store.save(plan, dataset_id=dataset, name="x")
        log = store.open(info.scenario_id, workspace).plan.changelog()
        row = log.iloc[0]
        assert (row["author"], row["note"], row["account_id"]) == ("Bo", "closer", "ACC-a")
        assert (row["from_territory"], row["to_territory"]) == ("SW", "SE")
        assert row["at"] == plan.move.at

    def test_update_makes_a_new_version_and_keeps_the_old(self, store, workspace, dataset):
        first = _moved(workspace, ("a", "NE"))
        info = store.save(first, dataset_id=dataset, name="x", author="Ann")
        second = first.reassign(["ACC-g"], "SW")
        updated = store.save(
            second,
            dataset_id=dataset,
            author="Bo",
            note="more",
            scenario_id=info.scenario_id,
            expected_version=1,
        )
        assert (updated.version, updated.updated_by, updated.author) == (2, "Bo", "Ann")
        assert updated.created_at == info.created_at
        _same_plan(store.open(info.scenario_id, workspace).plan, second)
        _same_plan(store.open(info.scenario_id, workspace, version=1).plan, first)
        versions = store.versions(info.scenario_id)
        assert list(versions["version"]) == [1, 2]
        assert list(versions["saved_by"]) == ["Ann", "Bo"]

    def test_list_latest_first_and_by_data_set(
        self, store, workspace, dataset, grid_accounts, grid_territories
    ):
        store.save(workspace.initial_plan, dataset_id=dataset, name="old")
        store.save(workspace.initial_plan, dataset_id=dataset, name="new")
        other = build_workspace(grid_accounts.assign(revenue=2.0), grid_territories)
        other_id = store.save_dataset(other)
        store.save(other.initial_plan, dataset_id=other_id, name="elsewhere")
        assert [s.name for s in store.list()] == ["elsewhere", "new", "old"]
        assert [s.name for s in store.list(dataset)] == ["new", "old"]
        assert store.list(dataset)[0].dataset_name == "Grid"

    @pytest.mark.parametrize("name", ["", "   ", None])
    def test_a_name_is_required(self, store, workspace, dataset, name):
        with pytest.raises(ValueError, match="non-empty name"):
            store.save(workspace.initial_plan, dataset_id=dataset, name=name)

    def test_names_are_unique(self, store, workspace, dataset):
        store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")
        with pytest.raises(ValueError, match="'Q3' exists already"):
            store.save(workspace.initial_plan, dataset_id=dataset, name=" Q3 ")

    def test_plan_of_other_data_is_refused(self, store, dataset, grid_accounts, grid_territories):
        smaller = build_workspace(grid_accounts.iloc[:4], grid_territories)
        with pytest.raises(ValueError, match="4 accounts"):
            store.save(smaller.initial_plan, dataset_id=dataset, name="x")

    def test_unknown_dataset_is_refused(self, store, workspace):
        with pytest.raises(ScenarioNotFoundError, match="save_dataset first"):
            store.save(workspace.initial_plan, dataset_id="missing", name="x")

    def test_replay_on_other_accounts_fails_loudly(
        self, store, workspace, dataset, grid_accounts, grid_territories
    ):
        info = store.save(_moved(workspace, ("a", "NE")), dataset_id=dataset, name="x")
        renamed = grid_accounts.rename(index=lambda i: i.replace("ACC", "X"))
        with pytest.raises(ScenarioError, match="other accounts"):
            store.open(info.scenario_id, build_workspace(renamed, grid_territories))

    def test_unknown_scenario(self, store):
        with pytest.raises(ScenarioNotFoundError, match="no scenario 'zzz'"):
            store.open("zzz")


@given(
    moves=st.lists(
        st.tuples(
            st.sets(st.sampled_from("abcdefgh"), min_size=1, max_size=8),
            st.sampled_from(TERRITORIES),
            st.none() | st.text(max_size=12),
        ),
        max_size=12,
    )
)
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_nothing_lost_on_save_and_open(workspace, store, dataset, moves):
    # Workspace and store are shared between examples: the workspace is
    # immutable, and each example saves under names of its own.
    plan = workspace.initial_plan
    for letters, target, note in moves:
        plan = plan.reassign([f"ACC-{c}" for c in sorted(letters)], target, note=note)
    key = uuid.uuid4().hex
    info = store.save(plan, dataset_id=dataset, name=key)
    store.autosave(key, plan, dataset_id=dataset)
    opened = store.open(info.scenario_id, workspace)
    _, _, restored = store.restore_autosave(key, workspace)
    for again in (opened.plan, restored):
        _same_plan(again, plan)
        assert again.moves == plan.moves
    assert (info.n_moves, info.n_changed) == (
        len(plan.moves),
        int((plan.codes != workspace.initial_plan.codes).sum()),
    )


class TestConflicts:
    def test_second_session_is_told_and_writes_nothing(self, store, workspace, dataset):
        info = store.save(_moved(workspace, ("a", "NE")), dataset_id=dataset, name="Q3")
        # Two sessions (two store objects, two connections) open version 1.
        ann, bo = ScenarioStore(store.target), ScenarioStore(store.target)
        ann_plan = ann.open(info.scenario_id, workspace).plan.reassign(["ACC-b"], "NW")
        bo_plan = bo.open(info.scenario_id, workspace).plan.reassign(["ACC-c"], None)
        ann.save(
            ann_plan,
            dataset_id=dataset,
            author="Ann",
            scenario_id=info.scenario_id,
            expected_version=1,
        )
        with pytest.raises(ScenarioConflictError, match=r"Ann saved version 2 at .* UTC") as err:
            bo.save(
                bo_plan,
                dataset_id=dataset,
                author="Bo",
                scenario_id=info.scenario_id,
                expected_version=1,
            )
        assert (err.value.saved_by, err.value.current_version) == ("Ann", 2)
        assert "'Q3'" in str(err.value)
        assert store.info(info.scenario_id).version == 2
        _same_plan(store.open(info.scenario_id, workspace).plan, ann_plan)

    def test_simultaneous_saves_one_wins(self, store, workspace, dataset):
        info = store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")
        barrier = threading.Barrier(2)
        outcomes = []

        def save(author, letters):
            plan = _moved(workspace, (letters, "NE"))
            session = ScenarioStore(store.target)
            barrier.wait()
            try:
                session.save(
                    plan,
                    dataset_id=dataset,
                    author=author,
                    scenario_id=info.scenario_id,
                    expected_version=1,
                )
                outcomes.append(("saved", author))
            except ScenarioConflictError:
                outcomes.append(("conflict", author))

        threads = [threading.Thread(target=save, args=a) for a in (("Ann", "a"), ("Bo", "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(kind for kind, _ in outcomes) == ["conflict", "saved"]
        assert store.info(info.scenario_id).version == 2

    def test_without_expected_version_it_overwrites_knowingly(self, store, workspace, dataset):
        info = store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")
        store.save(workspace.initial_plan, dataset_id=dataset, scenario_id=info.scenario_id)
        assert store.info(info.scenario_id).version == 2


class TestBranchRenameDelete:
    def test_duplicate_is_an_independent_branch(self, store, workspace, dataset):
        plan = _moved(workspace, ("ab", "NE"))
        info = store.save(plan, dataset_id=dataset, name="Q3", author="Ann")
        copy = store.duplicate(info.scenario_id, "Q3 bold", author="Bo")
        assert (copy.parent_id, copy.version, copy.author) == (info.scenario_id, 1, "Bo")
        assert copy.scenario_id != info.scenario_id
        _same_plan(store.open(copy.scenario_id, workspace).plan, plan)
        store.save(
            plan.reassign(["ACC-h"], None),
            dataset_id=dataset,
            scenario_id=copy.scenario_id,
            expected_version=1,
        )
        _same_plan(store.open(info.scenario_id, workspace).plan, plan)
        assert store.info(info.scenario_id).version == 1

    def test_duplicate_needs_a_free_name(self, store, workspace, dataset):
        info = store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")
        with pytest.raises(ValueError, match="exists already"):
            store.duplicate(info.scenario_id, "Q3")

    def test_rename_keeps_content_and_version(self, store, workspace, dataset):
        plan = _moved(workspace, ("a", "NE"))
        info = store.save(plan, dataset_id=dataset, name="Q3")
        store.save(workspace.initial_plan, dataset_id=dataset, name="Q4")
        renamed = store.rename(info.scenario_id, "Q3 final")
        assert (renamed.name, renamed.version) == ("Q3 final", 1)
        _same_plan(store.open(info.scenario_id, workspace).plan, plan)
        with pytest.raises(ValueError, match="'Q4' exists already"):
            store.rename(info.scenario_id, "Q4")
        with pytest.raises(ScenarioNotFoundError):
            store.rename("missing", "x")

    def test_delete(self, store, workspace, dataset):
        info = store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")
        keep = store.save(workspace.initial_plan, dataset_id=dataset, name="Q4")
        store.delete(info.scenario_id, expected_version=1)
        assert [s.scenario_id for s in store.list()] == [keep.scenario_id]
        with pytest.raises(ScenarioNotFoundError):
            store.open(info.scenario_id)
        # The name is free again.
        store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")

    def test_delete_of_a_scenario_saved_since_is_refused(self, store, workspace, dataset):
        info = store.save(workspace.initial_plan, dataset_id=dataset, name="Q3")
        store.save(workspace.initial_plan, dataset_id=dataset, scenario_id=info.scenario_id)
        with pytest.raises(ScenarioConflictError):
            store.delete(info.scenario_id, expected_version=1)
        assert store.info(info.scenario_id).version == 2


class TestAutosave:
    def test_latest_autosave_wins_and_restores(self, store, workspace, dataset):
        store.autosave("tab-1", _moved(workspace, ("a", "NE")), dataset_id=dataset)
        latest = _moved(workspace, ("a", "NE"), ("b", "SE"))
        store.autosave("tab-1", latest, dataset_id=dataset, scenario_id="s1", scenario_version=3)
        store.autosave("tab-2", workspace.initial_plan, dataset_id=dataset)
        copies = store.autosaves()
        assert [c.session_key for c in copies] == ["tab-2", "tab-1"]
        info, restored_ws, restored = store.restore_autosave("tab-1", workspace)
        assert (info.scenario_id, info.scenario_version, info.n_moves) == ("s1", 3, 2)
        assert restored_ws is workspace
        _same_plan(restored, latest)

    def test_discard(self, store, workspace, dataset):
        store.autosave("tab-1", workspace.initial_plan, dataset_id=dataset)
        store.discard_autosave("tab-1")
        store.discard_autosave("tab-1")
        assert store.autosaves() == []
        with pytest.raises(ScenarioNotFoundError):
            store.restore_autosave("tab-1")

    def test_key_required(self, store, workspace, dataset):
        with pytest.raises(ValueError, match="session_key"):
            store.autosave("", workspace.initial_plan, dataset_id=dataset)


_KILLED_SAVE = """
import sys, time
from terrmap.store.scenarios import ScenarioStore

path, scenario_id, dataset, step = sys.argv[1:5]

def pause(name):
    if name == step:
        print("PAUSED", flush=True)
        time.sleep(120)

store = ScenarioStore(path, on_write=pause)
workspace = store.load_workspace(dataset)
plan = workspace.initial_plan.reassign(list(workspace.context.account_ids), None)
if scenario_id == "new":
    store.save(plan, dataset_id=dataset, name="half-made")
else:
    store.save(plan, dataset_id=dataset, scenario_id=scenario_id, expected_version=1)
print("SAVED", flush=True)
"""


class TestKilledMidSave:
    def _kill_during(self, store, scenario_id, dataset, step):
        child = subprocess.Popen(
            [sys.executable, "-c", _KILLED_SAVE, store.target, scenario_id, dataset, step],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert child.stdout.readline().strip() == "PAUSED"
            time.sleep(0.1)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

    @pytest.mark.parametrize("step", ["scenario", "version"])
    def test_previous_version_intact(self, store, workspace, dataset, step):
        plan = _moved(workspace, ("ab", "NE"))
        info = store.save(plan, dataset_id=dataset, name="Q3", author="Ann")
        self._kill_during(store, info.scenario_id, dataset, step)
        after = ScenarioStore(store.target)
        assert after.info(info.scenario_id) == info
        assert list(after.versions(info.scenario_id)["version"]) == [1]
        _same_plan(after.open(info.scenario_id, workspace).plan, plan)
        # The database is usable: the next save goes through.
        saved = after.save(
            plan.reassign(["ACC-c"], "NW"),
            dataset_id=dataset,
            scenario_id=info.scenario_id,
            expected_version=1,
        )
        assert saved.version == 2

    def test_half_made_new_scenario_leaves_no_trace(self, store, workspace, dataset):
        self._kill_during(store, "new", dataset, "scenario")
        assert ScenarioStore(store.target).list() == []
        with store.engine.connect() as raw:
            assert raw.exec_driver_sql("SELECT count(*) FROM scenarios").scalar() == 0


def test_simultaneous_new_scenarios_with_one_name(store, workspace, dataset):
    """The database's unique name decides between two sessions creating the same name."""
    barrier = threading.Barrier(2)
    outcomes = []

    def create(author):
        session = ScenarioStore(store.target)
        barrier.wait()
        try:
            session.save(workspace.initial_plan, dataset_id=dataset, name="Same", author=author)
            outcomes.append("saved")
        except ValueError as error:
            outcomes.append(str(error))
        finally:
            session.close()

    threads = [threading.Thread(target=create, args=(who,)) for who in ("Ann", "Bo")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["a scenario named 'Same' exists already", "saved"]
    assert [info.name for info in store.list()] == ["Same"]
