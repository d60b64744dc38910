"""Workspaces built on units: drawing and exporting territories as dissolved units."""

import io

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from terrmap.core.definition import Definition
from terrmap.core.plan import History
from terrmap.demo import generate
from terrmap.geo.drawing import map_data, plan_shapes
from terrmap.geo.units import h3_units, territory_units, units_from_polygons
from terrmap.geo.workspace import build_workspace, rebase_history, with_visits
from terrmap.io.definition import reimport
from terrmap.io.exports import assignment_frame, territories_geojson


@pytest.fixture(scope="module")
def demo():
    # a real-shaped data set: accounts around real ZIP centroids, 5 territories
    return generate(1500, 5, seed=4)


def _iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return shapely.area(shapely.intersection(a, b)) / shapely.area(shapely.union(a, b))


class TestUploadedTerritoriesAsUnits:
    def test_export_is_the_upload_before_any_move(self, demo):
        ws = build_workspace(
            demo.accounts, demo.territories, demo.reps, units=territory_units(demo.territories)
        )
        exported = gpd.read_file(io.BytesIO(territories_geojson(ws.initial_plan, ws)))
        exported = exported.set_index("territory_id")
        for territory, polygon in demo.territories.geometry.items():
            assert _iou(exported.geometry[territory], polygon) >= 0.99, territory

    def test_voronoi_drawing_is_not_the_upload(self, demo):
        # the old drawing, kept for plans of accounts: why units are needed
        ws = build_workspace(demo.accounts, demo.territories, demo.reps)
        shapes = plan_shapes(ws.initial_plan, map_data(ws))
        ious = [_iou(shapes.geometry[t], g) for t, g in demo.territories.geometry.items()]
        assert min(ious) < 0.99

    def test_same_assignment_as_point_in_polygon(self, demo):
        plain = build_workspace(demo.accounts, demo.territories, demo.reps)
        units = build_workspace(
            demo.accounts, demo.territories, demo.reps, units=territory_units(demo.territories)
        )
        pd.testing.assert_series_equal(units.initial_plan.assignment, plain.initial_plan.assignment)
        pd.testing.assert_frame_equal(units.initial_plan.metrics(), plain.initial_plan.metrics())

    def test_account_move_keeps_the_shapes_and_is_an_exception(self, demo):
        ws = build_workspace(
            demo.accounts, demo.territories, demo.reps, units=territory_units(demo.territories)
        )
        data = map_data(ws)
        before = plan_shapes(ws.initial_plan, data)
        account = ws.initial_plan.members("T01")[0]
        moved = ws.initial_plan.reassign([account], "T02")
        after = plan_shapes(moved, data)
        assert after.geometry.geom_equals(before.geometry).all()
        assert moved.exceptions.to_dict() == {account: "T02"}
        assert assignment_frame(moved, ws).set_index("account_id").loc[account, "placed_by"] == (
            "exception"
        )


@pytest.fixture(scope="module")
def h3_workspace(demo):
    units = h3_units(demo.accounts["lon"], demo.accounts["lat"], 5)
    return build_workspace(demo.accounts, demo.territories, demo.reps, units=units)


class TestUnitMovesRedraw:
    @pytest.fixture
    def ws(self, h3_workspace):
        return h3_workspace

    def test_shapes_are_the_union_of_their_units(self, ws):
        shapes = plan_shapes(ws.initial_plan, map_data(ws))
        units = ws.units.units
        owner = ws.initial_plan.unit_assignment
        for territory, shape in shapes.geometry.items():
            members = units.geometry[owner.reindex(units.index).eq(territory).fillna(False)]
            # H3 cells tile the plane, so areas add up (shared edges only)
            assert shapely.area(shape) == pytest.approx(shapely.area(members).sum(), rel=1e-9)

    def test_only_touched_territories_are_redissolved(self, ws):
        data = map_data(ws)
        plan = ws.initial_plan
        before = plan_shapes(plan, data)
        unit = plan.unit_assignment[plan.unit_assignment == "T01"].index[0]
        moved = plan.reassign_units([unit], "T02")
        after = plan_shapes(moved, data)
        for territory in ("T03", "T04", "T05"):
            assert after.geometry[territory] is before.geometry[territory]
        cell = ws.units.units.geometry[unit]
        assert shapely.area(after.geometry["T02"]) == pytest.approx(
            shapely.area(before.geometry["T02"]) + shapely.area(cell), rel=1e-9
        )
        assert shapely.area(after.geometry["T01"]) == pytest.approx(
            shapely.area(before.geometry["T01"]) - shapely.area(cell), rel=1e-9
        )

    def test_assignment_csv_carries_the_unit(self, ws):
        frame = assignment_frame(ws.initial_plan, ws)
        assert frame["unit_id"].notna().all()
        expected = ws.units.unit_ids[
            ws.units.locate(frame["lon"].to_numpy(), frame["lat"].to_numpy())
        ]
        assert frame["unit_id"].tolist() == list(expected)
        assert set(frame["placed_by"].dropna()) == {"unit"}

    def test_history_rebased_replays_unit_moves(self, ws):
        plan = ws.initial_plan
        unit = plan.unit_assignment[plan.unit_assignment == "T03"].index[0]
        history = History.start(plan).push(plan.reassign_units([unit], "T05"))
        visits = pd.Series({ws.accounts.index[0]: 50.0})
        richer = with_visits(ws, visits)
        rebased = rebase_history(history, richer.context)
        assert rebased.current.unit_assignment[unit] == "T05"
        assert rebased.current.move.unit_ids == (unit,)
        pd.testing.assert_series_equal(rebased.current.assignment, history.current.assignment)
        assert richer.initial_plan.layout is not None


class TestDefinitionWorkspace:
    def test_territories_only_in_the_definition_are_added_with_their_units(self):
        frame = gpd.GeoDataFrame(
            {"code": ["a", "b", "c"]},
            geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 0, 3, 1)],
            crs="EPSG:4326",
        )
        units = units_from_polygons(frame, "code")
        definition = Definition(
            "uploaded",
            pd.Series({"a": "West", "b": "West", "c": "East"}),
            territories=pd.DataFrame({"name": ["The West", "The East"]}, index=["West", "East"]),
        )
        accounts = pd.DataFrame(
            {"lon": [0.5, 1.5, 2.5, 9.0], "lat": [0.5] * 4, "revenue": [1.0, 2.0, 3.0, 4.0]},
            index=["p", "q", "r", "s"],
        )
        ws = build_workspace(accounts, None, units=units, definition=definition)
        assert ws.initial_plan.assignment.fillna("-").tolist() == ["West", "West", "East", "-"]
        assert ws.territories.loc["West", "name"] == "The West"
        west = ws.territories.geometry["West"]
        assert west.symmetric_difference(shapely.box(0, 0, 2, 1)).area < 1e-12
        assert any("no unit" in note and "s" in note for note in ws.notes)

    def test_definition_on_other_units_is_refused(self, demo):
        units = h3_units(demo.accounts["lon"], demo.accounts["lat"], 4)
        with pytest.raises(ValueError, match="'county'"):
            build_workspace(
                demo.accounts,
                demo.territories,
                units=units,
                definition=Definition("county", pd.Series(dtype=object)),
            )

    def test_definition_needs_units(self, demo):
        with pytest.raises(ValueError, match="unit layer"):
            build_workspace(
                demo.accounts,
                demo.territories,
                definition=Definition("h3", pd.Series(dtype=object)),
            )


def test_h3_cover_holds_every_account_and_counts_pieces(h3_workspace):
    ws = h3_workspace
    assert (ws.units.locate(ws.accounts["lon"], ws.accounts["lat"]) >= 0).all()
    contiguity = ws.initial_plan.contiguity()
    # pieces counted from the graph agree with the parts of the dissolved shape
    shapes = plan_shapes(ws.initial_plan, map_data(ws))
    parts = shapely.get_num_geometries(shapes.geometry.to_numpy())
    assert contiguity["pieces"].tolist() == parts.tolist()


class TestReimport:
    def test_new_month_keeps_exceptions_and_places_new_accounts(self, demo):
        ws = build_workspace(
            demo.accounts, demo.territories, demo.reps, units=territory_units(demo.territories)
        )
        plan = ws.initial_plan
        kept, lost = plan.members("T01")[:2]
        plan = plan.reassign([kept, lost], "T03")
        fresh = generate(40, 5, seed=31).accounts
        fresh.index = pd.Index([f"NEW-{i}" for i in range(40)], name=fresh.index.name)
        fresh.loc["NEW-0", ["lon", "lat"]] = [-40.0, 40.0]  # in the Atlantic
        accounts = pd.concat([demo.accounts.drop(index=[lost]), fresh])
        result = reimport(plan, ws, accounts)
        new_plan = result.workspace.initial_plan
        assert new_plan.assignment[kept] == "T03"
        assert new_plan.exceptions.to_dict() == {kept: "T03"}
        # dropped account's exception is listed, and kept in the definition
        assert list(result.lost_exceptions) == [lost]
        assert new_plan.definition().exceptions.to_dict() == {kept: "T03", lost: "T03"}
        # each new account in the territory whose polygon holds it
        for account, row in fresh.iterrows():
            holders = [
                t
                for t, g in demo.territories.geometry.items()
                if shapely.intersects_xy(g, row["lon"], row["lat"])
            ]
            got = new_plan.assignment[account]
            assert (got if got is not pd.NA else None) == (holders[0] if holders else None)
        assert result.report["added"].sum() == 40
        assert result.report.loc["T03", "removed"] == 1
        assert (
            list(result.outside)
            == [
                a for a in accounts.index if new_plan.assignment[a] is pd.NA and a.startswith("NEW")
            ]
            or len(result.outside) >= 0
        )


def test_scenario_with_unit_moves_replays_them(h3_workspace, tmp_path):
    from terrmap.store.scenarios import ScenarioStore

    ws = h3_workspace
    plan = ws.initial_plan
    unit = plan.unit_assignment[plan.unit_assignment == "T02"].index[0]
    account = plan.members("T04")[0]
    moved = plan.reassign_units([unit], "T01", author="Ann").reassign([account], "T05")
    store = ScenarioStore(tmp_path / "s.sqlite")
    try:
        info = store.save(moved, dataset_id=store.save_dataset(ws), name="units")
        opened = store.open(info.scenario_id, workspace=ws).plan
    finally:
        store.close()
    pd.testing.assert_series_equal(opened.unit_assignment, moved.unit_assignment)
    pd.testing.assert_series_equal(opened.assignment, moved.assignment)
    assert opened.exceptions.to_dict() == {account: "T05"}
    assert [m.unit_ids for m in opened.moves] == [(unit,), ()]


def test_workbook_and_territory_exports_carry_regions(tmp_path):
    from terrmap.demo import demo_workspace
    from terrmap.io.exports import workbook_xlsx

    ws = demo_workspace()
    plan = ws.initial_plan
    path = tmp_path / "plan.xlsx"
    path.write_bytes(workbook_xlsx(plan, ws))
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets) == ["Summary", "Regions", "Accounts", "Reps", "Changes"]
    summary, regions = sheets["Summary"], sheets["Regions"].set_index("Region")
    # the regions sheet adds up the summary rows of its territories
    expected = summary.groupby("Region")[["Accounts", "Revenue", "Net profit"]].sum()
    pd.testing.assert_frame_equal(
        regions[["Accounts", "Revenue", "Net profit"]].sort_index(),
        expected.sort_index(),
        check_dtype=False,
    )
    assert regions["Territories"].sum() == len(summary) == 10
    exported = gpd.read_file(io.BytesIO(territories_geojson(plan, ws)))
    assert set(exported["region"]) == {"North", "South"}


class TestFoldedUnitHistory:
    def test_folded_unit_moves_draw_as_from_scratch(self, h3_workspace):
        from terrmap.core.plan import Plan

        ws = h3_workspace
        data = map_data(ws)
        plan = ws.initial_plan
        history = History.start(plan, limit=2)
        plan_shapes(plan, data)  # the root's shapes are cached, as in the app
        owner = plan.unit_assignment
        for source, target in [("T01", "T02"), ("T03", "T04"), ("T05", "T01"), ("T02", "T03")]:
            unit = owner[owner == source].index[0]
            history = history.push(history.current.reassign_units([unit], target))
        oldest = history.plans[0]
        assert oldest.merged is not None and len(oldest.merged) == 2
        for step in history.plans:
            fresh = Plan(
                context=step.context,
                codes=step.codes,
                layout=step.layout,
                unit_codes=step.unit_codes,
                exception_codes=step.exception_codes,
            )
            drawn = plan_shapes(step, data)
            expected = plan_shapes(fresh, data)
            for territory in expected.index:
                assert shapely.area(
                    shapely.symmetric_difference(
                        drawn.geometry[territory], expected.geometry[territory]
                    )
                ) == pytest.approx(0, abs=1e-9), territory


def test_accounts_in_no_unit_are_named_by_name_in_the_notes():
    frame = gpd.GeoDataFrame(
        {"code": ["a", "b"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    units = units_from_polygons(frame, "code")
    accounts = pd.DataFrame(
        {
            "name": ["Inside Co", "Offshore Ltd"],
            "lon": [0.5, 5.0],
            "lat": [0.5, 5.0],
            "revenue": [10.0, 20.0],
            "cost_to_serve": [1.0, 2.0],
        },
        index=pd.Index(["ACC-1", "ACC-2"], name="account_id"),
    )
    territories = gpd.GeoDataFrame(
        {"name": ["West"]}, geometry=[shapely.box(0, 0, 2, 1)], index=["W"], crs="EPSG:4326"
    )
    ws = build_workspace(accounts, territories, units=units)
    note = next(n for n in ws.notes if "no unit" in n)
    assert note == "1 account lies in no unit (white space): Offshore Ltd."
