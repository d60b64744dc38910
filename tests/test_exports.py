"""Exports read back: CSV -> loaders -> same plan; GeoJSON/GeoPackage; xlsx; HTML report."""

import io
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.core.balance import balance
from terrmap.core.plan import Plan
from terrmap.geo.workspace import build_workspace
from terrmap.io.exports import (
    ASSIGNMENT_COLUMNS,
    assignment_csv,
    read_assignment,
    territories_frame,
    territories_geojson,
    territories_gpkg,
    workbook_xlsx,
    write_export,
)
from terrmap.io.report import report_html
from terrmap.io.svg import balance_bars_svg, territory_map_svg

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    accounts = grid_accounts.copy()
    accounts.loc["ACC-h", "name"] = EVIL
    accounts.loc["ACC-g", "name"] = "=HYPERLINK(1)"
    territories = grid_territories.copy()
    territories.loc["NE", "name"] = f"North {EVIL}"
    return build_workspace(accounts, territories, grid_reps, name="Grid")


@pytest.fixture
def plan(workspace):
    """NE takes account c; account e is released to white space."""
    return workspace.initial_plan.reassign(["ACC-c"], "NE").reassign(["ACC-e"], None)


def _plan_from(workspace, data, name="assignment.csv"):
    return Plan.from_assignment(
        workspace.context, read_assignment(data, workspace.initial_plan, filename=name)
    )


class TestAssignmentCsv:
    def test_round_trip_gives_the_same_plan(self, workspace, plan):
        data = assignment_csv(plan, workspace)
        again = _plan_from(workspace, data)
        assert np.array_equal(again.codes, plan.codes)
        assert again.assignment.equals(plan.assignment)
        pd.testing.assert_frame_equal(again.metrics(), plan.metrics())

    def test_round_trip_through_a_file(self, workspace, plan, tmp_path):
        path = write_export(assignment_csv(plan, workspace), tmp_path / "plan.csv")
        assert np.array_equal(_plan_from(workspace, path).codes, plan.codes)

    def test_columns_a_crm_reimports(self, workspace, plan):
        frame = pd.read_csv(io.BytesIO(assignment_csv(plan, workspace)), dtype=str)
        assert tuple(frame.columns) == ASSIGNMENT_COLUMNS
        row = frame.set_index("account_id").loc["ACC-c"]
        assert row[["territory_id", "territory_name", "rep_id", "rep_name"]].tolist() == [
            "NE",
            f"North {EVIL}",
            "R4",
            "Di",
        ]
        white = frame.set_index("account_id").loc["ACC-e"]
        assert white[["territory_id", "rep_id", "rep_name"]].isna().all()
        assert frame.set_index("account_id").loc["ACC-h", "name"] == EVIL

    def test_unknown_ids_are_named(self, workspace):
        text = "account_id,name,lat,lon,territory_id\nACC-a,a,0.5,0.25,Atlantis\n"
        with pytest.raises(ValueError, match="Atlantis"):
            read_assignment(text.encode(), workspace.initial_plan, filename="a.csv")
        text = "account_id,name,lat,lon,territory_id\nACC-zz,z,0.5,0.25,SW\n"
        with pytest.raises(ValueError, match="ACC-zz"):
            read_assignment(text.encode(), workspace.initial_plan, filename="a.csv")

    def test_plan_of_another_workspace_is_refused(self, workspace, grid_accounts, grid_territories):
        other = build_workspace(grid_accounts, grid_territories)
        with pytest.raises(ValueError, match="workspace"):
            assignment_csv(other.initial_plan, workspace)

    def test_inputs_not_mutated(self, workspace, plan):
        accounts = workspace.accounts.copy()
        codes = plan.codes.copy()
        assignment_csv(plan, workspace)
        workbook_xlsx(plan, workspace)
        pd.testing.assert_frame_equal(workspace.accounts, accounts)
        assert np.array_equal(plan.codes, codes)


class TestTerritoryFiles:
    @pytest.mark.parametrize("kind", ["geojson", "gpkg"])
    def test_read_back(self, workspace, plan, tmp_path, kind):
        writer = territories_geojson if kind == "geojson" else territories_gpkg
        path = write_export(writer(plan, workspace), tmp_path / f"t.{kind}")
        frame = gpd.read_file(path, engine="pyogrio")
        assert frame.crs.to_epsg() == 4326
        assert frame["territory_id"].tolist() == ["SW", "SE", "NW", "NE"]
        assert frame.geometry.is_valid.all()
        assert not frame.geometry.is_empty.any()
        metrics = plan.metrics()
        for column in ("accounts", "revenue", "net_profit", "workload_hours", "travel_km"):
            assert frame[column].tolist() == pytest.approx(metrics[column].tolist()), column
        assert frame["name"].tolist()[3] == f"North {EVIL}"
        assert frame["rep_name"].tolist() == ["Ann", "Bob", "Cy", "Di"]
        assert np.isnan(frame.set_index("territory_id").loc["SE", "conversion_rate"])  # no leads

    def test_shapes_follow_the_assignment(self, workspace, plan):
        frame = territories_frame(plan, workspace).set_index("territory_id")
        ctx = workspace.context
        for account, territory in plan.assignment.dropna().items():
            i = ctx.positions([account])[0]
            point = shapely.Point(ctx.lon[i], ctx.lat[i])
            assert frame.loc[territory, "geometry"].contains(point), account

    def test_territory_without_accounts_has_empty_valid_geometry(self, workspace):
        emptied = workspace.initial_plan.reassign(["ACC-a", "ACC-b"], "SE")
        frame = territories_frame(emptied, workspace).set_index("territory_id")
        assert frame.loc["SW", "geometry"].is_empty
        assert frame.geometry.is_valid.all()
        assert frame.loc["SW", "accounts"] == 0


class TestWorkbook:
    def test_sheets_read_back(self, workspace, plan):
        sheets = pd.read_excel(io.BytesIO(workbook_xlsx(plan, workspace)), sheet_name=None)
        assert list(sheets) == ["Summary", "Accounts", "Reps"]
        summary = sheets["Summary"].set_index("territory_id")
        metrics = plan.metrics()
        assert summary.index.tolist() == metrics.index.tolist()
        assert summary["revenue"].tolist() == pytest.approx(metrics["revenue"].tolist())
        assert summary["accounts"].tolist() == metrics["accounts"].tolist()
        accounts = sheets["Accounts"].set_index("account_id")
        assert accounts.loc["ACC-c", "territory_id"] == "NE"
        assert pd.isna(accounts.loc["ACC-e", "territory_id"])
        assert accounts.loc["ACC-a", "net_profit"] == 20_000
        assert accounts.loc["ACC-g", "name"] == "=HYPERLINK(1)"  # text, not a formula
        reps = sheets["Reps"].set_index("rep_id")
        assert reps.loc["R4", "accounts"] == 3
        assert reps.loc["R4", "territory_ids"] == "NE"
        assert reps.loc["R1", "name"] == "Ann"

    def test_formula_text_is_stored_as_text(self, workspace, plan):
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(workbook_xlsx(plan, workspace)))
        cells = [c for row in book["Accounts"].iter_rows() for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]


class TestReport:
    @pytest.fixture
    def report(self, workspace, plan):
        return report_html(plan, workspace, measure="revenue", tolerance_pct=10).decode("utf-8")

    def test_self_contained(self, report):
        assert not re.search(r"https?:|//[a-z]", report, flags=re.I)
        assert "<script" not in report.lower()
        assert "<link" not in report.lower()
        assert "@media print" in report

    def test_data_is_escaped(self, report):
        assert EVIL not in report
        assert html_escaped(EVIL) in report

    def test_headline_figures(self, workspace, plan, report):
        stats = balance(plan.metrics()["revenue"], 10)
        assert f"{len(stats.outside)} of 4" in report
        assert f">{stats.cv:.2f}<" in report
        assert f">{stats.gini:.2f}<" in report
        assert f">{stats.max_over_min:.2f}<" in report
        assert "1 · $30" in report  # white space: account e, revenue 30

    def test_map_and_bars(self, report):
        assert report.count("<svg") == 1 + 3  # map, revenue, net profit, workload
        assert report.count("<path") == 4  # one shape per territory

    def test_weighted_mix_adds_a_chart(self, workspace, plan):
        text = report_html(plan, workspace, measure={"revenue": 1, "accounts": 1}).decode()
        assert "Weighted mix: Revenue ×1, Accounts ×1" in text
        assert text.count("<svg") == 1 + 4

    def test_bad_tolerance_is_named(self, workspace, plan):
        with pytest.raises(ValueError, match="-5"):
            report_html(plan, workspace, tolerance_pct=-5)


def html_escaped(text):
    import html

    return html.escape(text, quote=True)


class TestSvg:
    def test_bars_flag_outside_territories(self):
        values = pd.Series({"A": 100.0, "B": 105.0, "C": 60.0, "D": 135.0})
        svg = balance_bars_svg(values, pd.Series({"A": "A", "B": "B", "C": "C", "D": "D"}), 10)
        assert svg.count('class="outside"') == 2  # C -40%, D +35%
        assert svg.count('class="inside"') == 2
        assert "▼" in svg and "▲" in svg

    def test_map_draws_every_point_and_thins_many(self, grid_territories):
        lon = np.array([0.5, 1.5])
        lat = np.array([0.5, 1.5])
        svg, drawn = territory_map_svg(
            grid_territories, ["#1f77b4"] * 4, lon, lat, np.array([0, -1])
        )
        assert drawn == 2 and svg.count("<circle") == 2
        assert 'fill="none"' in svg  # white space is hollow
        many = np.linspace(0.1, 1.9, 100)
        _, drawn = territory_map_svg(
            grid_territories, ["#1f77b4"] * 4, many, many, np.zeros(100, int), max_points=10
        )
        assert drawn == 10

    def test_map_rejects_bad_colours(self, grid_territories):
        with pytest.raises(ValueError, match="red"):
            territory_map_svg(
                grid_territories, ["red"] * 4, np.array([0.5]), np.array([0.5]), np.array([0])
            )


class TestProperties:
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)
    @given(owners=st.lists(st.sampled_from(["SW", "SE", "NW", "NE", None]), min_size=8, max_size=8))
    def test_any_plan_survives_the_csv_round_trip(self, workspace, owners):
        ids = workspace.context.account_ids
        plan = Plan.from_assignment(workspace.context, pd.Series(owners, index=ids))
        again = _plan_from(workspace, assignment_csv(plan, workspace))
        assert np.array_equal(again.codes, plan.codes)
        frame = territories_frame(plan, workspace)
        assert frame["accounts"].sum() == sum(o is not None for o in owners)
        assert frame.geometry.is_valid.all()

    def test_report_does_not_mutate_its_inputs(self, workspace, plan):
        accounts = workspace.accounts.copy()
        territories = workspace.territories.copy()
        codes = plan.codes.copy()
        report_html(plan, workspace, measure={"revenue": 1, "visits": 2})
        pd.testing.assert_frame_equal(workspace.accounts, accounts)
        pd.testing.assert_frame_equal(workspace.territories, territories)
        assert np.array_equal(plan.codes, codes)


class TestFormulaInjection:
    """Issue 11 class 11: names and ids starting with =, +, -, @ are not live formulas."""

    @pytest.fixture
    def hostile(self, grid_accounts, grid_territories, grid_reps):
        accounts = grid_accounts.copy()
        accounts.index = ["=cmd|' /C calc'!A0", "+A2", "-A3", "@A4", *accounts.index[4:]]
        accounts.index.name = grid_accounts.index.name
        accounts["name"] = ["@SUM(1)", "-2+3", "+x", "=1", *accounts["name"].iloc[4:]]
        territories = grid_territories.copy()
        territories.loc[territories.index[0], "name"] = '=HYPERLINK("http://x")'
        return build_workspace(accounts, territories, grid_reps, name="Hostile")

    def test_assignment_csv_cells_are_inert(self, hostile):
        data = assignment_csv(hostile.initial_plan, hostile)
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        for column in ("account_id", "name", "territory_name"):
            assert not frame[column].str.match(r"[=+\-@\t\r]").any(), column
        assert "'=cmd|' /C calc'!A0" in frame["account_id"].tolist()
        assert "'@SUM(1)" in frame["name"].tolist()
        # Numbers in numeric columns stay numbers.
        assert pd.to_numeric(frame["lat"]).notna().all()

    def test_neutralised_assignment_reads_back(self, hostile):
        moved = hostile.initial_plan.reassign(["-A3"], hostile.context.territory_ids[-1])
        again = _plan_from(hostile, assignment_csv(moved, hostile))
        assert np.array_equal(again.codes, moved.codes)

    def test_negative_numbers_stay_numbers(self, grid_accounts, grid_territories, grid_reps):
        accounts = grid_accounts.copy()
        accounts["lon"] = accounts["lon"] - 100.0
        workspace = build_workspace(
            accounts,
            grid_territories.assign(geometry=grid_territories.geometry.translate(-100.0)),
            grid_reps,
        )
        text = assignment_csv(workspace.initial_plan, workspace).decode()
        assert ",-99.2500000," in text and "'-99" not in text
