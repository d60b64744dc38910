"""terrmap.io.importing: uploads to a workspace, territories from owners, escaping."""

from __future__ import annotations

import io
import itertools
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from terrmap.geo.shapes import study_area
from terrmap.io.importing import (
    FIELD_LABELS,
    FIELDS,
    IMPORT_KINDS,
    NO_TERRITORIES,
    STEPS,
    UPLOAD_TYPES,
    prepare_import,
    rejected_csv,
    territories_from_owners,
)

ACCOUNTS = "accounts.csv"
TERRITORIES = "territories.geojson"
REPS = "reps.csv"


def accounts_csv(accounts: pd.DataFrame) -> bytes:
    """The accounts frame as a CRM would export it (index as a column)."""
    return accounts.reset_index().to_csv(index=False).encode()


def territories_geojson(territories: gpd.GeoDataFrame) -> bytes:
    return territories.reset_index().to_json().encode()


def names(**kinds: str) -> dict[str, str]:
    return {kind: name for kind, name in kinds.items()}


def inside(shape, lon: float, lat: float) -> bool:
    return bool(shapely.contains_xy(shape, lon, lat))


@pytest.fixture
def csv_grid(grid_accounts) -> bytes:
    """The eight grid accounts (owners R1..R4, one per square) plus ``z`` outside the grid.

    ::

        +------+------+
        | e  f | g  h |
        +------+------+
        | a  b | c  d |      z (lon 5, no owner)
        +------+------+
    """
    outside = pd.DataFrame(
        {"name": ["z"], "lon": [5.0], "lat": [0.5], "revenue": [1.0], "owner": [None]},
        index=pd.Index(["ACC-z"], name="account_id"),
    )
    return accounts_csv(pd.concat([grid_accounts, outside]))


@pytest.fixture
def geojson_grid(grid_territories) -> bytes:
    return territories_geojson(grid_territories)


class TestConstants:
    def test_every_field_has_a_label(self):
        for kind in IMPORT_KINDS:
            assert set(FIELDS[kind]) == set(FIELD_LABELS[kind]), kind

    def test_a_shapefile_must_come_zipped(self):
        assert "zip" in UPLOAD_TYPES["territories"]
        assert "shp" not in UPLOAD_TYPES["territories"]

    def test_a_bare_shapefile_is_refused_with_the_way_out(self, csv_grid):
        result = prepare_import(
            csv_grid, b"\x00\x00\x27\x0a", filenames=names(accounts=ACCOUNTS, territories="t.shp")
        )
        assert not result.usable
        assert ".zip" in result.problems[0]


class TestTerritoriesFromOwners:
    def test_one_territory_per_owner_holding_its_accounts(self, grid_accounts):
        shapes = territories_from_owners(grid_accounts)
        assert shapes.index.tolist() == ["R1", "R2", "R3", "R4"]
        assert shapes.index.name == "territory_id"
        assert list(shapes.columns) == ["name", "rep_id", "region", "geometry"]
        assert shapes.crs == "EPSG:4326"
        for _, account in grid_accounts.iterrows():
            holders = [t for t, g in shapes.geometry.items() if inside(g, account.lon, account.lat)]
            assert holders == [account.owner], account["name"]

    def test_named_after_the_owner_without_reps(self, grid_accounts):
        shapes = territories_from_owners(grid_accounts)
        assert shapes["name"].tolist() == ["R1", "R2", "R3", "R4"]
        assert shapes["rep_id"].tolist() == ["R1", "R2", "R3", "R4"]
        assert shapes["region"].isna().all()

    def test_territories_tile_the_study_area(self, grid_accounts):
        shapes = territories_from_owners(grid_accounts)
        geoms = shapes.geometry.to_numpy()
        for a, b in itertools.combinations(range(len(geoms)), 2):
            assert shapely.intersection(geoms[a], geoms[b]).area == pytest.approx(0, abs=1e-9)
        area = study_area(grid_accounts[["lon", "lat"]].to_numpy())
        assert shapely.union_all(geoms).area == pytest.approx(area.area, rel=1e-6)

    def test_rep_ids_give_the_reps_names(self, grid_accounts, grid_reps):
        shapes = territories_from_owners(grid_accounts, reps=grid_reps)
        assert shapes["name"].tolist() == ["Ann", "Bob", "Cy", "Di"]
        assert shapes["rep_id"].tolist() == ["R1", "R2", "R3", "R4"]

    def test_owner_names_match_rep_names_ignoring_case_and_spacing(self, grid_accounts, grid_reps):
        owners = [" ann ", "ann", "BOB", "bob", "Cy", "Cy", "Di  ", "Di"]
        shapes = territories_from_owners(grid_accounts.assign(owner=owners), reps=grid_reps)
        rep_of = dict(zip(shapes.index, shapes["rep_id"], strict=True))
        assert rep_of == {"ann": "R1", "BOB": "R2", "bob": "R2", "Cy": "R3", "Di": "R4"}
        assert shapes.loc["BOB", "name"] == "Bob"

    def test_a_name_two_reps_share_matches_neither(self, grid_accounts, grid_reps):
        reps = grid_reps.assign(name=["Ann", "Ann", "Cy", "Di"])
        owners = ["Ann"] * 4 + ["Cy"] * 4
        shapes = territories_from_owners(grid_accounts.assign(owner=owners), reps=reps)
        assert shapes.loc["Ann", "rep_id"] == "Ann"
        assert shapes.loc["Cy", "rep_id"] == "R3"

    def test_accounts_without_owner_lie_in_no_territory(self, grid_accounts):
        accounts = grid_accounts.assign(owner=[None, "R1", "R2", "R2", "R3", "R3", "  ", "R4"])
        shapes = territories_from_owners(accounts)
        for lon, lat in [(0.25, 0.5), (1.25, 1.5)]:  # a and g
            assert not any(inside(g, lon, lat) for g in shapes.geometry), (lon, lat)

    def test_column_other_than_owner(self, grid_accounts):
        accounts = grid_accounts.assign(territory=["West"] * 2 + ["East"] * 2 + ["West"] * 4)
        shapes = territories_from_owners(accounts, "territory")
        assert shapes.index.tolist() == ["East", "West"]

    def test_inputs_are_not_modified(self, grid_accounts, grid_reps):
        accounts, reps = grid_accounts.copy(), grid_reps.copy()
        territories_from_owners(grid_accounts, reps=grid_reps)
        pd.testing.assert_frame_equal(grid_accounts, accounts)
        pd.testing.assert_frame_equal(grid_reps, reps)

    def test_missing_column_is_named(self, grid_accounts):
        with pytest.raises(ValueError, match="'territory'"):
            territories_from_owners(grid_accounts, "territory")

    def test_no_owner_at_all(self, grid_accounts):
        with pytest.raises(ValueError, match="no account has a value in column 'owner'"):
            territories_from_owners(grid_accounts.assign(owner=None))

    def test_no_coordinates(self, grid_accounts):
        with pytest.raises(ValueError, match="no account has coordinates"):
            territories_from_owners(grid_accounts.assign(lon=np.nan))

    @settings(max_examples=20)
    @given(
        points=st.lists(
            st.tuples(st.integers(0, 40), st.integers(0, 40)),
            min_size=3,
            max_size=30,
            unique=True,
        ),
        owners=st.lists(st.sampled_from(["A", "B", "C"]), min_size=30, max_size=30),
    )
    def test_each_account_lies_in_its_owners_territory_only(self, points, owners):
        # A 0.05-degree lattice: distinct sites, many of them cocircular.
        lon = np.array([p[0] for p in points]) * 0.05
        lat = np.array([p[1] for p in points]) * 0.05
        accounts = pd.DataFrame(
            {"lon": lon, "lat": lat, "owner": owners[: len(points)]},
            index=pd.Index([f"a{i}" for i in range(len(points))], name="account_id"),
        )
        shapes = territories_from_owners(accounts)
        geoms = shapes.geometry.to_numpy()
        for territory, geom in zip(shapes.index, geoms, strict=True):
            mine = (accounts["owner"] == territory).to_numpy()
            assert shapely.contains_xy(geom, lon[mine], lat[mine]).all()
            assert not shapely.contains_xy(geom, lon[~mine], lat[~mine]).any()
        for a, b in itertools.combinations(geoms, 2):
            assert shapely.intersection(a, b).area == pytest.approx(0, abs=1e-9)


class TestPrepareImportWithTerritories:
    def test_accounts_are_assigned_to_the_polygons(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid, geojson_grid, filenames=names(accounts=ACCOUNTS, territories=TERRITORIES)
        )
        assert result.usable and result.problems == ()
        assert result.territory_source == "file"
        assignment = result.workspace.initial_plan.assignment
        expected = dict(
            zip("abcdefgh", ["SW", "SW", "SE", "SE", "NW", "NW", "NE", "NE"], strict=True)
        )
        for letter, territory in expected.items():
            assert assignment[f"ACC-{letter}"] == territory
        assert pd.isna(assignment["ACC-z"])

    def test_summary_figures(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid, geojson_grid, filenames=names(accounts=ACCOUNTS, territories=TERRITORIES)
        )
        assert (result.n_accounts, result.n_rejected, result.n_territories) == (9, 0, 4)
        assert (result.n_white_space, result.n_overlaps) == (1, 0)
        preview = result.territory_preview()
        assert preview["Accounts"].to_dict() == {"SW": 2, "SE": 2, "NW": 2, "NE": 2}
        assert preview.loc["SW", "Revenue"] == pytest.approx(160_000)
        assert preview.loc["SW", "Territory"] == "South-West"

    def test_workspace_is_named_after_the_files(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid, geojson_grid, filenames=names(accounts=ACCOUNTS, territories=TERRITORIES)
        )
        assert result.workspace.name == f"{ACCOUNTS} + {TERRITORIES}"

    def test_overlaps_are_counted(self, csv_grid, grid_territories):
        overlapping = grid_territories.copy()
        overlapping.loc["SW", "geometry"] = shapely.box(0, 0, 1.5, 1)
        result = prepare_import(
            csv_grid,
            territories_geojson(overlapping),
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
        )
        assert result.n_overlaps == 1

    def test_rejected_rows_of_every_file_with_file_and_line(self, grid_territories):
        accounts = b"id,name,lat,lon\nA1,Acme,0.5,0.5\nA2,Bad,95,0.5\n"
        territories = json.loads(territories_geojson(grid_territories))
        territories["features"][1]["geometry"] = None
        result = prepare_import(
            accounts,
            json.dumps(territories).encode(),
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
        )
        assert result.rejected.columns.tolist() == ["file", "line", "id", "reason"]
        assert result.rejected["file"].tolist() == [ACCOUNTS, TERRITORIES]
        assert result.rejected["line"].tolist() == [3, 3]
        assert result.rejected["id"].tolist() == ["A2", "SE"]
        assert "latitude out of range" in result.rejected["reason"].iloc[0]
        assert result.workspace.notes[0] == "2 rows rejected on import."

    def test_no_rejected_rows_is_an_empty_typed_table(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid, geojson_grid, filenames=names(accounts=ACCOUNTS, territories=TERRITORIES)
        )
        assert result.rejected.empty
        assert result.rejected.columns.tolist() == ["file", "line", "id", "reason"]
        assert result.rejected["line"].dtype == "int64"

    def test_mapping_override_reloads(self, grid_accounts, geojson_grid):
        data = accounts_csv(grid_accounts.assign(arr=[1.0] * 8))
        files = names(accounts=ACCOUNTS, territories=TERRITORIES)
        guessed = prepare_import(data, geojson_grid, filenames=files)
        chosen = prepare_import(
            data, geojson_grid, filenames=files, mappings={"accounts": {"revenue": "arr"}}
        )
        assert guessed.files["accounts"].mapping["revenue"] == "revenue"
        assert chosen.files["accounts"].mapping["revenue"] == "arr"
        assert chosen.territory_preview()["Revenue"].tolist() == [2.0] * 4

    def test_dropping_a_column_warns(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid,
            geojson_grid,
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
            mappings={"accounts": {"revenue": None}},
        )
        assert "revenue" not in result.files["accounts"].mapping
        assert f"{ACCOUNTS}: no revenue column: revenue set to 0" in result.warnings

    def test_territory_rep_and_region_can_be_refused(self, csv_grid, grid_territories):
        data = territories_geojson(grid_territories.assign(region="North"))
        files = names(accounts=ACCOUNTS, territories=TERRITORIES)
        guessed = prepare_import(csv_grid, data, filenames=files)
        assert guessed.files["territories"].mapping["rep_id"] == "rep_id"
        refused = prepare_import(
            csv_grid,
            data,
            filenames=files,
            mappings={"territories": {"rep_id": None, "region": None}},
        )
        territories = refused.workspace.territories
        assert territories["rep_id"].isna().all() and territories["region"].isna().all()
        assert set(refused.files["territories"].mapping) == {"territory_id", "name"}

    def test_territory_id_none_uses_the_names(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid,
            geojson_grid,
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
            mappings={"territories": {"territory_id": None}},
        )
        assert result.workspace.territories.index.tolist() == [
            "South-West",
            "South-East",
            "North-West",
            "North-East",
        ]
        assert "territory_id" not in result.files["territories"].mapping

    def test_territory_name_none_uses_the_ids(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid,
            geojson_grid,
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
            mappings={"territories": {"name": None}},
        )
        territories = result.workspace.territories
        assert territories["name"].tolist() == territories.index.tolist()

    def test_territory_needs_an_id_or_a_name(self, csv_grid, geojson_grid):
        result = prepare_import(
            csv_grid,
            geojson_grid,
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
            mappings={"territories": {"territory_id": None, "name": None}},
        )
        assert not result.usable
        assert result.problems == (
            f"{TERRITORIES}: choose a territory id or a territory name field",
        )

    def test_dissolve_merges_features_sharing_an_id(self, csv_grid, grid_territories):
        halves = grid_territories.reset_index()
        halves.loc[1, "territory_id"] = "SW"  # SE becomes a second part of SW
        data = halves.to_json().encode()
        files = names(accounts=ACCOUNTS, territories=TERRITORIES)
        apart = prepare_import(csv_grid, data, filenames=files)
        merged = prepare_import(csv_grid, data, filenames=files, dissolve=True)
        assert apart.n_territories == 3
        assert "duplicate id 'SW'" in apart.rejected["reason"].iloc[0]
        assert merged.n_territories == 3 and merged.n_rejected == 0
        assert merged.territory_preview().loc["SW", "Accounts"] == 4

    def test_territory_reps_matched_to_the_reps_file_by_name(self, csv_grid, grid_territories):
        territories = grid_territories.assign(rep_id=["Ann", "bob", "R3", "Nobody"])
        reps = b"Rep ID,Rep Name\nR1,Ann\nR2,Bob\nR3,Cy\n"
        result = prepare_import(
            csv_grid,
            territories_geojson(territories),
            reps,
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES, reps=REPS),
        )
        assert result.workspace.territories["rep_id"].tolist() == ["R1", "R2", "R3", "Nobody"]
        assert "2 territory rep(s) matched to the reps file by name" in result.warnings
        assert "1 territory rep(s) not in the reps file: Nobody" in result.warnings


class TestPrepareImportWithoutTerritories:
    def test_one_territory_per_owner(self, csv_grid):
        result = prepare_import(csv_grid, filenames=names(accounts=ACCOUNTS))
        assert result.territory_source == "owners"
        assert result.workspace.territories.index.tolist() == ["R1", "R2", "R3", "R4"]
        assignment = result.workspace.initial_plan.assignment
        owners = pd.read_csv(io.BytesIO(csv_grid), index_col="account_id")["owner"]
        assert assignment.drop("ACC-z").to_dict() == owners.drop("ACC-z").to_dict()
        assert result.n_white_space == 1  # z has no owner

    def test_owners_matched_to_reps(self, csv_grid):
        reps = b"rep_id,name,home_lat,home_lon\nR1,Ann,0.5,0.5\nR2,Bob,0.5,1.5\n"
        result = prepare_import(csv_grid, reps=reps, filenames=names(accounts=ACCOUNTS, reps=REPS))
        territories = result.workspace.territories
        assert territories.loc["R1", "name"] == "Ann"
        assert "2 owner(s) not in the reps file: R3, R4" in result.warnings

    def test_a_territory_column_stands_in_for_the_owner(self, grid_accounts):
        data = accounts_csv(
            grid_accounts.drop(columns="owner").assign(**{"Sales Territory": ["W"] * 4 + ["E"] * 4})
        )
        result = prepare_import(data, filenames=names(accounts=ACCOUNTS))
        assert result.files["accounts"].mapping["owner"] == "Sales Territory"
        assert result.workspace.territories.index.tolist() == ["E", "W"]
        assert any("'Sales Territory' column" in w for w in result.warnings)

    def test_the_user_can_refuse_the_territory_column(self, grid_accounts):
        data = accounts_csv(grid_accounts.drop(columns="owner").assign(Territory="W"))
        result = prepare_import(
            data, filenames=names(accounts=ACCOUNTS), mappings={"accounts": {"owner": None}}
        )
        assert result.problems == (NO_TERRITORIES,)

    def test_no_owner_and_no_territories_is_a_problem(self, grid_accounts):
        data = accounts_csv(grid_accounts.drop(columns="owner"))
        result = prepare_import(data, filenames=names(accounts=ACCOUNTS))
        assert not result.usable and result.workspace is None
        assert result.problems == (NO_TERRITORIES,)
        assert result.n_accounts == 8 and result.n_territories is None

    def test_co_located_accounts_keep_their_owners(self, grid_accounts):
        # b sits exactly on a: one Voronoi cell, drawn in a's territory.
        accounts = grid_accounts.copy()
        accounts.loc["ACC-b", ["lon", "lat"]] = accounts.loc["ACC-a", ["lon", "lat"]].to_numpy()
        accounts.loc["ACC-b", "owner"] = "R2"
        result = prepare_import(accounts_csv(accounts), filenames=names(accounts=ACCOUNTS))
        assignment = result.workspace.initial_plan.assignment
        assert assignment["ACC-a"] == "R1" and assignment["ACC-b"] == "R2"
        assert result.workspace.assignment.assignment["ACC-b"] == "R2"


class TestUnusableFiles:
    def test_reported_not_raised_with_the_columns(self):
        result = prepare_import(b"Company,Sales\nAcme,10\n", filenames=names(accounts=ACCOUNTS))
        assert not result.usable
        (problem,) = result.problems
        assert problem.startswith(f"{ACCOUNTS}: no column gives a location")
        outcome = result.files["accounts"]
        assert outcome.error == problem and outcome.load is None
        assert outcome.columns == ("Company", "Sales")
        assert outcome.mapping == {"name": "Company", "revenue": "Sales"}

    def test_fixing_the_mapping_makes_it_usable(self):
        data = b"Company,Northing,Easting,Rep\nAcme,0.5,0.5,Ann\nBeta,0.6,0.6,Bob\n"
        files = names(accounts=ACCOUNTS)
        partial = prepare_import(data, filenames=files, mappings={"accounts": {"lat": "Northing"}})
        assert not partial.usable
        assert partial.files["accounts"].mapping["lat"] == "Northing"
        fixed = prepare_import(
            data, filenames=files, mappings={"accounts": {"lat": "Northing", "lon": "Easting"}}
        )
        assert fixed.usable and fixed.n_accounts == 2

    def test_an_empty_file_has_no_columns(self):
        result = prepare_import(b"", filenames=names(accounts=ACCOUNTS))
        assert result.problems == (f"{ACCOUNTS}: the file is empty",)
        assert result.files["accounts"].columns == ()

    def test_every_unusable_file_is_reported(self, csv_grid):
        result = prepare_import(
            csv_grid,
            b"{}",
            b"",
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES, reps=REPS),
        )
        assert [p.split(":")[0] for p in result.problems] == [TERRITORIES, REPS]
        assert result.n_accounts == 9

    def test_unknown_kind_is_a_programming_error(self, csv_grid):
        with pytest.raises(ValueError, match=r"unknown kind\(s\) \['account'\]"):
            prepare_import(csv_grid, mappings={"account": {}})


class TestPrepareImportMechanics:
    def test_progress_reports_every_step_in_order(self, csv_grid, geojson_grid):
        steps = []
        prepare_import(
            csv_grid,
            geojson_grid,
            filenames=names(accounts=ACCOUNTS, territories=TERRITORIES),
            progress=lambda step, label, done: steps.append((step, label, done)),
        )
        starts = [(step, label, done) for step, label, done in steps if label in STEPS]
        assert starts == [(step, label, 0.0) for step, label in enumerate(STEPS)]
        reading = [call for call in steps if call not in starts]
        assert reading == [(1, f"{STEPS[1]}: 9 of about 9 rows read", 1.0)]
        assert steps.index(reading[0]) == 2  # between the start of step 1 and step 2

    def test_progress_stops_at_an_unusable_file(self):
        steps = []
        prepare_import(
            b"a,b\n1,2\n",
            filenames=names(accounts=ACCOUNTS),
            progress=lambda step, label, done: steps.append(step),
        )
        assert steps == [0, 1, 1]  # the second: its one row read

    def test_file_like_uploads_can_be_read_again(self, csv_grid):
        upload = io.BytesIO(csv_grid)
        upload.name = "crm.csv"
        upload.read()  # a page that peeked at the file leaves it at the end
        first = prepare_import(upload)
        second = prepare_import(upload)
        assert first.n_accounts == second.n_accounts == 9
        assert first.files["accounts"].name == "crm.csv"

    def test_warnings_name_their_file(self):
        data = b"id,name,lat,lon,owner\nA1,Acme,0.5,0.5,Ann\n"
        reps = b"name\nAnn\n"
        result = prepare_import(data, reps=reps, filenames=names(accounts=ACCOUNTS, reps=REPS))
        assert f"{ACCOUNTS}: no revenue column: revenue set to 0" in result.warnings
        assert all(w.startswith((f"{ACCOUNTS}: ", f"{REPS}: ")) for w in result.warnings)


class TestRejectedCsv:
    def test_round_trip_with_awkward_text(self):
        rejected = pd.DataFrame(
            {
                "file": ["crm.csv", "crm.csv"],
                "line": [3, 14],
                "id": ["001A", None],
                "reason": ['unknown ZIP "00000", twice', "Café; naïve\nreason"],
            }
        )
        back = pd.read_csv(io.BytesIO(rejected_csv(rejected)), encoding="utf-8-sig", dtype=str)
        assert back.columns.tolist() == ["file", "line", "id", "reason"]
        assert back["line"].tolist() == ["3", "14"]
        assert back["reason"].tolist() == rejected["reason"].tolist()
        assert rejected_csv(rejected).startswith(b"\xef\xbb\xbf")

    def test_formulas_from_the_file_are_inert(self):
        # Issue 11 class 11: an id or reason quoting the file is not a live formula.
        rejected = pd.DataFrame(
            {"file": ["=x.csv"], "line": [2], "id": ["=1+1"], "reason": ["@evil is not a number"]}
        )
        back = pd.read_csv(io.BytesIO(rejected_csv(rejected)), encoding="utf-8-sig", dtype=str)
        assert back.iloc[0].tolist() == ["'=x.csv", "2", "'=1+1", "'@evil is not a number"]
