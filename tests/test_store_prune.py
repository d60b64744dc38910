"""Housekeeping: expired working copies, unreferenced data sets and unused position files go."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from terrmap.geo.workspace import build_workspace
from terrmap.store.scenarios import ScenarioStore
from terrmap.web.static_assets import prune_points, publish_points


@pytest.fixture
def store(tmp_path):
    store = ScenarioStore(tmp_path / "prune.sqlite")
    yield store
    store.close()


def _workspaces(grid_accounts, grid_territories, grid_reps):
    one = build_workspace(grid_accounts, grid_territories, grid_reps, name="One")
    other = build_workspace(
        grid_accounts.assign(revenue=grid_accounts["revenue"] * 2),
        grid_territories,
        grid_reps,
        name="Other",
    )
    unused = build_workspace(grid_accounts.iloc[:6], grid_territories, grid_reps, name="Unused")
    return one, other, unused


class TestStorePrune:
    def test_old_autosaves_then_unreferenced_data_sets(
        self, store, grid_accounts, grid_territories, grid_reps
    ):
        one, other, unused = _workspaces(grid_accounts, grid_territories, grid_reps)
        kept_by_scenario = store.save_dataset(one)
        kept_by_autosave = store.save_dataset(other)
        orphan = store.save_dataset(unused)
        store.save(one.initial_plan, dataset_id=kept_by_scenario, name="Q3")
        store.autosave("fresh", other.initial_plan, dataset_id=kept_by_autosave)
        store.autosave("stale", one.initial_plan, dataset_id=kept_by_scenario)
        later = datetime.now(UTC) + timedelta(days=10)
        # "fresh" is autosaved again 9 days from now: only "stale" is older than a week then.
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE autosaves SET saved_at = ? WHERE session_key = 'fresh'",
                ((later - timedelta(days=1)).isoformat(),),
            )
        report = store.prune(timedelta(days=7), now=later)
        assert report.autosaves == ("stale",)
        assert report.datasets == (orphan,)
        assert [a.session_key for a in store.autosaves()] == ["fresh"]
        assert store.has_dataset(kept_by_scenario) and store.has_dataset(kept_by_autosave)
        assert not store.has_dataset(orphan)
        # Nothing is left to prune.
        assert store.prune(timedelta(days=7), now=later) == type(report)((), ())

    def test_a_data_set_only_an_expired_autosave_used_goes_too(
        self, store, grid_accounts, grid_territories, grid_reps
    ):
        one, _, _ = _workspaces(grid_accounts, grid_territories, grid_reps)
        dataset = store.save_dataset(one)
        store.autosave("old", one.initial_plan, dataset_id=dataset)
        report = store.prune(timedelta(hours=1), now=datetime.now(UTC) + timedelta(hours=2))
        assert (report.autosaves, report.datasets) == (("old",), (dataset,))

    def test_negative_age(self, store):
        with pytest.raises(ValueError, match="must not be negative"):
            store.prune(timedelta(days=-1))


class TestPointsPrune:
    def test_unused_files_go_used_ones_stay(self, tmp_path):
        old_url = publish_points(np.zeros(3), np.ones(3), tmp_path)
        new_url = publish_points(np.ones(4), np.zeros(4), tmp_path)
        stray = tmp_path / "keep-me.txt"
        stray.write_text("not a position file")
        old_file = tmp_path / old_url.rsplit("/", 1)[1]
        new_file = tmp_path / new_url.rsplit("/", 1)[1]
        day = 86_400
        os.utime(old_file, (time.time() - 3 * day, time.time() - 3 * day))
        os.utime(new_file, (time.time() - 3 * day, time.time() - 3 * day))
        publish_points(np.ones(4), np.zeros(4), tmp_path)  # published again: in use
        removed = prune_points(timedelta(days=1), tmp_path)
        assert removed == [old_file]
        assert not old_file.exists() and new_file.exists() and stray.exists()

    def test_nothing_to_prune(self, tmp_path):
        assert prune_points(timedelta(days=1), tmp_path) == []
