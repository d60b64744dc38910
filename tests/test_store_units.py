"""Data sets built on units survive the store: the layer, the definition and unit moves.

A plan on units is its unit layer plus its definition (units -> territory,
exceptions, rules, regions). Saved with a scenario and reopened by another
server (no workspace in memory), nothing of it may be lost.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.core.definition import Definition, Rule
from terrmap.geo.units import h3_units, units_from_polygons
from terrmap.geo.workspace import build_workspace
from terrmap.store.scenarios import ScenarioStore, dataset_key

FIXTURES = Path(__file__).parent / "fixtures"

#: Unit ids a shapefile or a spreadsheet may well hold.
_ID = st.text(alphabet=st.sampled_from("AZaz09 -_'<>&é"), min_size=1, max_size=6).filter(
    lambda text: text.strip() == text
)


def _grid_layer(ids: list[str], *, approximate: bool = False):
    """Units in a row of unit squares, ``ids[i]`` at ``[i, i+1] x [0, 1]``."""
    frame = gpd.GeoDataFrame(
        {"code": ids, "label": [f"Unit {i}" for i in ids]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(ids))],
        crs="EPSG:4326",
    )
    return units_from_polygons(
        frame, "code", name_field="label", approximate=approximate, params={"note": "row"}
    )


def _accounts(n: int, width: int, rng: np.random.Generator) -> pd.DataFrame:
    lon = rng.uniform(-0.5, width + 0.5, n)  # a few outside every unit
    lat = rng.uniform(0.05, 0.95, n)
    return pd.DataFrame(
        {
            "name": [f"Account {i}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "revenue": rng.uniform(1_000, 50_000, n).round(2),
            "cost_to_serve": rng.uniform(100, 5_000, n).round(2),
            "visits_per_year": rng.integers(1, 12, n).astype(float),
            "industry": rng.choice(["Retail", "Healthcare"], n),
        },
        index=pd.Index([f"A{i:03d}" for i in range(n)], name="account_id"),
    )


def _territories(k: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": [f"Territory {t}" for t in range(k)]},
        geometry=[shapely.Polygon()] * k,
        index=pd.Index([f"T{t}" for t in range(k)], name="territory_id"),
        crs="EPSG:4326",
    )


def _save_and_reopen(ws, plan):
    """Save on one server, reopen on another that has nothing in memory."""
    folder = tempfile.mkdtemp()
    try:
        path = Path(folder) / "store.sqlite"
        store = ScenarioStore(path)
        dataset = store.save_dataset(ws)
        info = store.save(plan, dataset_id=dataset, name="on units", author="Ann")
        store.close()
        other = ScenarioStore(path)
        try:
            reloaded = other.load_workspace(dataset)
            opened = other.open(info.scenario_id)
        finally:
            other.close()
        return dataset, reloaded, opened
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _assert_same_layer(found, expected):
    assert (found.kind, found.approximate, found.params, found.warnings) == (
        expected.kind,
        expected.approximate,
        expected.params,
        expected.warnings,
    )
    assert list(found.unit_ids) == list(expected.unit_ids)
    np.testing.assert_array_equal(found.adjacency().pairs, expected.adjacency().pairs)
    assert found.units["name"].tolist() == expected.units["name"].tolist()
    assert shapely.equals(found.units.geometry.to_numpy(), expected.units.geometry.to_numpy()).all()


@st.composite
def _plans(draw):
    ids = draw(st.lists(_ID, min_size=2, max_size=8, unique=True))
    k = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    accounts = _accounts(draw(st.integers(1, 40)), len(ids), rng)
    territory_ids = [f"T{t}" for t in range(k)]
    owners = draw(st.lists(st.sampled_from([*territory_ids, None]), min_size=len(ids)))
    excepted = draw(st.lists(st.sampled_from(list(accounts.index)), max_size=4, unique=True))
    exceptions = {a: draw(st.sampled_from([*territory_ids, None])) for a in excepted}
    if draw(st.booleans()):
        exceptions["gone-since"] = territory_ids[0]  # an exception whose account left
    rules = (
        (Rule(territory_ids[-1], "industry", "in", ["Healthcare"]),) if draw(st.booleans()) else ()
    )
    regions = {t: draw(st.sampled_from(["North", "South"])) for t in territory_ids[:2]}
    layer = _grid_layer(ids, approximate=draw(st.booleans()))
    definition = Definition(
        unit_kind=layer.kind,
        unit_territory=pd.Series(owners[: len(ids)], index=ids, dtype="string"),
        exceptions=pd.Series(exceptions, dtype="string"),
        rules=rules,
        regions=pd.Series(regions, dtype="string"),
        unit_params=layer.params,
    )
    ws = build_workspace(accounts, _territories(k), units=layer, definition=definition)
    plan = ws.initial_plan
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from([*territory_ids, None]))
        if draw(st.booleans()):
            plan = plan.reassign_units(
                draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3)), target, author="Ann"
            )
        else:
            free = plan.context.account_ids[plan.placed_by.fillna("").to_numpy() != "rule"]
            if len(free):
                plan = plan.reassign([draw(st.sampled_from(list(free)))], target, author="Bo")
    return ws, plan


class TestNothingLost:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_plans())
    def test_layer_definition_and_moves_round_trip(self, ws_plan):
        ws, plan = ws_plan
        dataset, reloaded, opened = _save_and_reopen(ws, plan)
        _assert_same_layer(reloaded.units, ws.units)
        assert (
            reloaded.initial_plan.definition().to_dict() == ws.initial_plan.definition().to_dict()
        )
        # the same data set hashes to the same id after the round trip
        assert dataset_key(reloaded) == dataset
        got = opened.plan
        pd.testing.assert_series_equal(got.unit_assignment, plan.unit_assignment)
        pd.testing.assert_series_equal(got.assignment, plan.assignment)
        pd.testing.assert_series_equal(got.exceptions, plan.exceptions)
        assert got.definition().to_dict() == plan.definition().to_dict()
        assert [(m.unit_ids, m.account_ids, m.target) for m in got.moves] == [
            (m.unit_ids, m.account_ids, m.target) for m in plan.moves
        ]
        pd.testing.assert_frame_equal(got.metrics(), plan.metrics())

    def test_h3_cells_round_trip(self):
        rng = np.random.default_rng(3)
        accounts = _accounts(60, 1, rng)
        accounts["lon"] = rng.uniform(-71.2, -70.9, 60)
        accounts["lat"] = rng.uniform(42.2, 42.45, 60)
        layer = h3_units(accounts["lon"], accounts["lat"], 7)
        ws = build_workspace(accounts, _territories(2), units=layer, definition=_split(layer))
        unit = ws.initial_plan.unit_assignment.index[0]
        plan = ws.initial_plan.reassign_units([unit], "T1")
        _, reloaded, opened = _save_and_reopen(ws, plan)
        _assert_same_layer(reloaded.units, layer)
        pd.testing.assert_series_equal(opened.plan.unit_assignment, plan.unit_assignment)
        # the reloaded layer still finds the cells of new accounts
        np.testing.assert_array_equal(
            reloaded.units.locate(accounts["lon"], accounts["lat"]),
            layer.locate(accounts["lon"], accounts["lat"]),
        )


def _split(layer) -> Definition:
    """First half of the units in T0, the rest in T1."""
    ids = list(layer.unit_ids)
    half = len(ids) // 2
    return Definition(
        unit_kind=layer.kind,
        unit_territory=pd.Series(["T0"] * half + ["T1"] * (len(ids) - half), index=ids),
        unit_params=layer.params,
    )


class TestOlderDatabases:
    @pytest.fixture
    def v1_copy(self, tmp_path):
        path = tmp_path / "store_v1.sqlite"
        shutil.copyfile(FIXTURES / "store_v1.sqlite", path)
        return path

    def test_first_release_data_sets_open_without_units(self, v1_copy):
        store = ScenarioStore(v1_copy)
        with contextlib.closing(sqlite3.connect(v1_copy)) as raw:
            datasets = [r[0] for r in raw.execute("SELECT dataset_id FROM datasets")]
            columns = {r[1] for r in raw.execute("PRAGMA table_info(datasets)")}
        assert {"units", "unit_layer", "definition"} <= columns
        for dataset in datasets:
            ws = store.load_workspace(dataset)
            assert ws.units is None and ws.initial_plan.layout is None
            # ids of data sets without units are what they were before units
            assert dataset_key(ws) == dataset

    def test_an_upgraded_database_stores_units(self, v1_copy, monkeypatch):
        store = ScenarioStore(v1_copy)
        layer = _grid_layer(["a", "b", "c"])
        ws = build_workspace(
            _accounts(12, 3, np.random.default_rng(1)),
            _territories(2),
            units=layer,
            definition=Definition(
                unit_kind=layer.kind,
                unit_territory=pd.Series({"a": "T0", "b": "T1", "c": "T1"}),
                unit_params=layer.params,
            ),
        )
        plan = ws.initial_plan.reassign_units(["b"], "T0")
        info = store.save(plan, dataset_id=store.save_dataset(ws), name="units after upgrade")
        expected_pairs = layer.adjacency().pairs

        def not_again(*args, **kwargs):
            raise AssertionError("the stored neighbours were found again")

        # the neighbours come from the store, not from the geometry again
        monkeypatch.setattr("terrmap.geo.units._polygon_pairs", not_again)
        reopened = ScenarioStore(v1_copy).open(info.scenario_id)
        np.testing.assert_array_equal(reopened.workspace.units.adjacency().pairs, expected_pairs)
        assert reopened.plan.unit_assignment.to_dict() == {"a": "T0", "b": "T0", "c": "T1"}
        _assert_same_layer(reopened.workspace.units, layer)
